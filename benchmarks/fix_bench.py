#!/usr/bin/env python3
"""Fix benchmark, end to end: from a real job log alone to a validated fix (or none).

    python benchmarks/fix_bench.py [--only NAME] [--keep] [--skip-baseline]

For each case the benchmark builds a small repository in a temporary directory (projects in
the style of real ones, not the fixtures of the strategies' tests), with a workflow whose
step runs the check; runs that check with the real tool (ruff, black, isort, mypy, pytest,
reuse, a header script, cargo fmt, cargo clippy, cargo build, gofmt, go vet, prettier,
eslint) and wraps its output the way GitHub Actions prints a step (``##[group]Run <cmd>`` …
``##[error]Process completed with exit code N``); then runs

    hee-monitor fix apply --log job.log --no-push --format json

on a clean checkout, as a user would. A few failures cannot be produced on this machine
(registry push denials, vulnerability scanners: no registry write access, no advisory
service); their step output is the tool's printed format, and they are marked "recorded".

Each case is classified:

* fixed: a fix was kept on its branch, and on that branch the failing command passes (a
  permission fix: the job that failed is granted the denied permission);
* left alone correctly: a case that must not be changed (protected, security, no safe fix)
  ended with an approval request or a reason, the tree byte-identical, no fix branch;
* rolled back correctly: a case whose fix cannot validate ended rolled back, byte-identical;
* unvalidated kept: a kept fix the failing command does not prove (must be 0);
* wrong diagnosis: the log's findings did not lead to the expected strategy.

Every case runs twice: with risk threshold 10 (nothing waits for a person on risk alone:
the worst case for unvalidated changes) and with the default threshold. The hand-built
findings benchmark (``fix_bench_handbuilt.py``) runs in the same process as the baseline.

Targets: ≥ 95 % of the fixable fixed and validated by the failing command; 0 unvalidated
changes kept at any threshold; 100 % of failed validations rolled back byte for byte;
100 % of security and protected cases left untouched with an approval or a reason.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGET_FIXED = 0.95
NODE_TOOLS = ("prettier@3", "eslint@9")
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}
STAMP = "2026-12-07T10:00:0{}.0000000Z "


@dataclass
class Case:
    name: str
    ecosystem: str
    tool: str
    files: dict[str, str]
    #: the step's ``run:`` in the workflow (and what produces the log)
    command: str
    #: fixed | left-alone | rolled-back
    expect: str
    #: the strategy the diagnosis must lead to (None: none may run)
    strategy: str | None
    working_directory: str = ""
    #: the repository's fix settings (written outside the repository, passed by --config)
    settings: dict[str, Any] = field(default_factory=dict)
    #: the step's output when the tool cannot run here (its printed format), exit code 1
    recorded: str | None = None
    #: tools the case needs on PATH
    needs: tuple[str, ...] = ()
    #: the job the step runs in, and other jobs of the workflow
    job: str = "check"
    #: a permission fix is proven by the workflow, not by a re-run
    proof: str = "failing-command"


# ---- the projects ------------------------------------------------------------------------

INVOICE_PYPROJECT = """\
[project]
name = "invoice"
version = "0.3.1"
requires-python = ">=3.10"
dependencies = ["pydantic>=2"]

[tool.ruff]
line-length = 100
src = ["src"]

[tool.ruff.lint]
select = ["E", "F", "I", "UP"]
"""

INVOICE_MODELS = """\
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity
"""

INVOICE_TOTALS_UNUSED = """\
import json
import os
from decimal import Decimal

from invoice.models import Line


def invoice_total(lines: list[Line]) -> Decimal:
    return sum((line.total for line in lines), Decimal("0"))


def dump(lines: list[Line]) -> str:
    return json.dumps([line.sku for line in lines])
"""

INVOICE_TOTALS_UNDEFINED = INVOICE_TOTALS_UNUSED.replace(
    "return json.dumps([line.sku for line in lines])",
    "return json.dumps([line.sku for line in lines], default=encoder)",
)

INVOICE_UNFORMATTED = """\
from decimal import Decimal
def tax( amount:Decimal, rate:Decimal=Decimal('0.2') )->Decimal:
    return (amount*rate).quantize( Decimal('0.01') )
RATES = {'standard':Decimal('0.2'),'reduced':Decimal('0.05'),
  'zero':Decimal('0')}
"""

KINDS = "import os\n\n\ndef same(a, b):\n    return type(a) == type(b)\n"
INVOICE_SYNTAX_ERROR = "def broken(:\n    return 1\n"

INVOICE_UNSORTED = """\
import sys
import os
from decimal import Decimal
import json

print(os.sep, sys.argv, json.dumps({}), Decimal(1))
"""

INVOICE_TYPE_ERROR = """\
from decimal import Decimal


def discount(amount: Decimal) -> Decimal:
    return amount * 0.9
"""

INVOICE_TEST_FAILING = """\
from decimal import Decimal

from invoice.models import Line


def test_total() -> None:
    assert Line("A-1", 3, Decimal("2.50")).total == Decimal("7.00")
"""

BLACK_PYPROJECT = '[project]\nname = "meter"\nversion = "1.0.0"\n\n[tool.black]\nline-length = 88\n'

METER_READER = """\
import struct
class Reader :
    def __init__( self, raw:bytes ) :
        self.raw=raw
    def values( self ) :
        return [ struct.unpack_from('<H',self.raw,i)[0] for i in range(0,len(self.raw),2) ]
"""

ISORT_CFG = "[settings]\nprofile = black\nknown_first_party = meter\n"

CARGO_TOML = '[package]\nname = "{name}"\nversion = "0.4.0"\nedition = "2021"\n\n[dependencies]\n'

RUST_UNFORMATTED = """\
use std::collections::HashMap;
pub fn word_counts(text:&str)->HashMap<String,usize>{
    let mut counts=HashMap::new();
    for word in text.split_whitespace(){ *counts.entry(word.to_lowercase()).or_insert(0)+=1; }
    counts
}
fn main(){ let c=word_counts("a b a"); println!("{:?}",c.get("a")); }
"""

RUST_CLIPPY_FIXABLE = """\
pub fn is_blank(items: &[String]) -> bool {
    items.len() == 0
}

fn main() {
    let items = vec!["x".to_string()];
    println!("{}", is_blank(&items));
}
"""

RUST_CLIPPY_UNFIXABLE = """\
#[allow(clippy::ptr_arg)]
pub fn configure(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8) -> u32 {
    u32::from(a) + u32::from(b) + u32::from(c) + u32::from(d)
        + u32::from(e) + u32::from(f) + u32::from(g) + u32::from(h)
}

fn main() {
    println!("{}", configure(1, 2, 3, 4, 5, 6, 7, 8));
}
"""

RUST_TYPE_ERROR = 'fn main() {\n    let port: u16 = "8080";\n    println!("{port}");\n}\n'

GO_MOD = "module example.com/{name}\n\ngo 1.19\n"
GO_UNFORMATTED = """\
package main

import "fmt"

type Queue struct{ items []int }
func (q *Queue) Push(v int){q.items=append(q.items,v)}
func main(){
q:=&Queue{}
q.Push(1)
fmt.Println(len(q.items))
}
"""
GO_VET = """\
package main

import "fmt"

func main() {
\tname := "queue"
\tfmt.Printf("%d items in %s\\n", name)
}
"""
GO_BUILD_ERROR = 'package main\n\nfunc main() {\n\tvar n int = "three"\n\t_ = n\n}\n'

GOFMT_CHECK = 'test -z "$(gofmt -l .)" || { gofmt -d .; exit 1; }'

PACKAGE_JSON = (
    '{\n  "name": "%s",\n  "version": "1.2.0",\n  "private": true,\n  "type": "module"\n}\n'
)
ESLINT_CONFIG = """\
export default [
  {
    files: ["**/*.js"],
    languageOptions: { globals: { console: "readonly" } },
    rules: { "prefer-const": "error", "no-var": "error", "no-undef": "error" },
  },
];
"""
JS_UNFORMATTED = """\
export function slugify(title){return title.toLowerCase().replace(/[^a-z0-9]+/g,'-')}
export const routes={home:'/',about:'/about',  posts:'/posts'}
"""
JS_SYNTAX_ERROR = "export function broken( {\n  return 1\n}\n"
JS_LET = """\
export function total(items) {
  let sum = 0;
  for (const item of items) {
    sum += item.price;
  }
  let label = "total";
  return `${label}: ${sum}`;
}
"""
JS_UNDEF = """\
export function render(user) {
  const name = user.name;
  return template(name);
}
"""

REUSE_MIT = "MIT License\n\nCopyright (c) 2025 Tallyworks\n"
REUSE_TOML = """\
version = 1

[[annotations]]
path = [".gitignore", ".github/**", "REUSE.toml"]
SPDX-FileCopyrightText = "2025 Tallyworks"
SPDX-License-Identifier = "MIT"
"""
HEADER_SCRIPT = """\
#!/usr/bin/env bash
status=0
for f in $(git ls-files '*.go' '*.py'); do
  if ! head -n 5 "$f" | grep -q 'SPDX-License-Identifier'; then
    echo "missing SPDX-License-Identifier header: $f"
    status=1
  fi
done
exit $status
"""

PIP_AUDIT_OUT = """\
Found 2 known vulnerabilities in 2 packages
Name     Version ID                  Fix Versions
-------- ------- ------------------- ------------
jinja2   3.1.2   GHSA-h5c8-rqwp-cp95 3.1.3
urllib3  1.26.5  GHSA-v845-jxx5-vc9f 1.26.17
"""
TRIVY_OUT = """\
requirements.txt (pip)
======================
Total: 1 (UNKNOWN: 0, LOW: 0, MEDIUM: 0, HIGH: 1, CRITICAL: 0)

┌──────────┬────────────────┬──────────┬────────┬───────────────────┬───────────────┬──────────────────────────────┐
│ Library  │ Vulnerability  │ Severity │ Status │ Installed Version │ Fixed Version │            Title             │
├──────────┼────────────────┼──────────┼────────┼───────────────────┼───────────────┼──────────────────────────────┤
│ werkzeug │ CVE-2023-46136 │ HIGH     │ fixed  │ 2.3.6             │ 2.3.8, 3.0.1  │ python-werkzeug: high        │
│          │                │          │        │                   │               │ resource usage when parsing  │
└──────────┴────────────────┴──────────┴────────┴───────────────────┴───────────────┴──────────────────────────────┘
"""  # noqa: E501
CARGO_AUDIT_OUT = """\
    Fetching advisory database from `https://github.com/RustSec/advisory-db.git`
      Loaded 612 security advisories (from /home/runner/.cargo/advisory-db)
    Scanning Cargo.lock for vulnerabilities (57 crate dependencies)
Crate:     time
Version:   0.1.45
Title:     Potential segfault in the time crate
Date:      2020-11-18
ID:        RUSTSEC-2020-0071
URL:       https://rustsec.org/advisories/RUSTSEC-2020-0071
Severity:  6.2 (medium)
Solution:  Upgrade to >=0.2.23
Dependency tree:
time 0.1.45
└── wordcount 0.4.0

error: 1 vulnerability found!
"""
NPM_AUDIT_OUT = """\
# npm audit report

semver  <5.7.2 || >=6.0.0 <6.3.1 || >=7.0.0 <7.5.2
Severity: high
semver vulnerable to Regular Expression Denial of Service - https://github.com/advisories/GHSA-c2qf-rxjj-qqgw
fix available via `npm audit fix`
node_modules/semver

1 high severity vulnerability

To address all issues, run:
  npm audit fix
"""
GHCR_DENIED = """\
#9 exporting to image
#9 exporting layers 0.3s done
#9 naming to ghcr.io/tallyworks/invoice:latest done
#9 DONE 0.4s
The push refers to repository [ghcr.io/tallyworks/invoice]
5f70bf18a086: Preparing
c0d270ab7e0d: Preparing
denied: installation not allowed to Write organization package
"""
DOCKERHUB_DENIED = """\
The push refers to repository [docker.io/tallyworks/invoice]
5f70bf18a086: Preparing
denied: requested access to the resource is denied
"""
ECR_DENIED = """\
The push refers to repository [123456789012.dkr.ecr.eu-west-1.amazonaws.com/invoice]
denied: User: arn:aws:sts::123456789012:assumed-role/ci/GitHubActions is not authorized to perform: ecr:InitiateLayerUpload on resource: arn:aws:ecr:eu-west-1:123456789012:repository/invoice because no identity-based policy allows the ecr:InitiateLayerUpload action
"""  # noqa: E501


def _invoice(**extra: str) -> dict[str, str]:
    return {
        "pyproject.toml": INVOICE_PYPROJECT,
        "src/invoice/__init__.py": '"""Invoices and their totals."""\n',
        "src/invoice/models.py": INVOICE_MODELS,
        **extra,
    }


def _meter(**extra: str) -> dict[str, str]:
    return {
        "pyproject.toml": BLACK_PYPROJECT,
        "meter/__init__.py": "",
        "meter/units.py": 'WATT = "W"\nKILOWATT = "kW"\n',
        **extra,
    }


def _rust(name: str, main: str, prefix: str = "") -> dict[str, str]:
    return {
        f"{prefix}Cargo.toml": CARGO_TOML.format(name=name),
        f"{prefix}src/main.rs": main,
    }


def _go(name: str, main: str, prefix: str = "") -> dict[str, str]:
    return {
        f"{prefix}go.mod": GO_MOD.format(name=name),
        f"{prefix}main.go": main,
        f"{prefix}queue_test.go": 'package main\n\nimport "testing"\n\n'
        "func TestQueue(t *testing.T) {}\n",
    }


def _web(name: str, **files: str) -> dict[str, str]:
    return {
        "package.json": PACKAGE_JSON % name,
        "eslint.config.mjs": ESLINT_CONFIG,
        ".prettierignore": ".github\n",
        "src/index.js": 'export { main } from "./main.js";\n',
        "src/main.js": 'export function main() {\n  console.log("ok");\n}\n',
        **files,
    }


CASES: list[Case] = [
    # ---- Python ----
    Case("ruff: unused import", "python", "ruff",
         _invoice(**{"src/invoice/totals.py": INVOICE_TOTALS_UNUSED}),
         "ruff check src", "fixed", "ruff-fix", needs=("ruff",)),
    Case("ruff: unsorted imports in a service directory", "python", "ruff",
         {f"backend/{k}": v for k, v in
          _invoice(**{"src/invoice/cli.py": INVOICE_UNSORTED}).items()},
         "ruff check .", "fixed", "ruff-fix", working_directory="backend", needs=("ruff",)),
    Case("ruff: undefined name beside an unused import", "python", "ruff",
         _invoice(**{"src/invoice/totals.py": INVOICE_TOTALS_UNDEFINED}),
         "ruff check src", "rolled-back", "ruff-fix", needs=("ruff",)),
    Case("ruff format: unformatted module", "python", "ruff",
         _invoice(**{"src/invoice/tax.py": INVOICE_UNFORMATTED}),
         "ruff format --check .", "fixed", "ruff-format", needs=("ruff",)),
    Case("ruff format: syntax error (not a format problem)", "python", "ruff",
         _invoice(**{"src/invoice/broken.py": INVOICE_SYNTAX_ERROR}),
         "ruff format --check .", "left-alone", None, needs=("ruff",)),
    Case("ruff: type comparison beside an unused import", "python", "ruff",
         _invoice(**{"src/invoice/kinds.py": KINDS}),
         "ruff check src", "rolled-back", "ruff-fix", needs=("ruff",)),
    Case("black: unformatted class", "python", "black",
         _meter(**{"meter/reader.py": METER_READER}),
         "black --check .", "fixed", "black", needs=("black",)),
    Case("black: two files, one directory", "python", "black",
         _meter(**{"meter/reader.py": METER_READER,
                   "meter/tax.py": INVOICE_UNFORMATTED}),
         "black --check meter", "fixed", "black", needs=("black",)),
    Case("isort: unsorted imports", "python", "isort",
         _meter(**{".isort.cfg": ISORT_CFG, "meter/cli.py": INVOICE_UNSORTED}),
         "isort --check-only --diff .", "fixed", "isort", needs=("isort",)),
    Case("mypy: a type error (no safe fix)", "python", "mypy",
         _invoice(**{"src/invoice/discount.py": INVOICE_TYPE_ERROR}),
         "mypy --strict src/invoice/discount.py", "left-alone", None, needs=("mypy",)),
    Case("pytest: a failing test (no safe fix)", "python", "pytest",
         _invoice(**{"tests/test_models.py": INVOICE_TEST_FAILING,
                     "tests/conftest.py": "import sys\nsys.path.insert(0, 'src')\n"}),
         "python -m pytest -q -p no:cacheprovider tests", "left-alone", None,
         needs=("pytest",)),
    Case("ruff: protected repository", "python", "ruff",
         _invoice(**{"src/invoice/totals.py": INVOICE_TOTALS_UNUSED}),
         "ruff check src", "left-alone", None, settings={"protected": True},
         needs=("ruff",)),
    Case("ruff format: protected path", "python", "ruff",
         _invoice(**{"src/invoice/vendor/tax.py": INVOICE_UNFORMATTED}),
         "ruff format --check .", "left-alone", None,
         settings={"protected_paths": ["src/invoice/vendor/**"]}, needs=("ruff",)),
    Case("pip-audit: vulnerable pins (security)", "python", "pip-audit",
         _invoice(**{"requirements.txt": "jinja2==3.1.2\nurllib3==1.26.5\n"}),
         "pip-audit -r requirements.txt", "left-alone", None, recorded=PIP_AUDIT_OUT),
    Case("trivy: vulnerable library (security)", "python", "trivy",
         _invoice(**{"requirements.txt": "werkzeug==2.3.6\n"}),
         "trivy fs --exit-code 1 .", "left-alone", None, recorded=TRIVY_OUT),
    # ---- Rust ----
    Case("rustfmt: unformatted crate", "rust", "rustfmt",
         _rust("wordcount", RUST_UNFORMATTED), "cargo fmt --check", "fixed", "cargo-fmt",
         needs=("cargo",)),
    Case("rustfmt: crate in a subdirectory", "rust", "rustfmt",
         _rust("wordcount", RUST_UNFORMATTED, "crates/wordcount/"),
         "cargo fmt --all -- --check", "fixed", "cargo-fmt",
         working_directory="crates/wordcount", needs=("cargo",)),
    Case("clippy: len_zero", "rust", "clippy",
         _rust("blank", RUST_CLIPPY_FIXABLE), "cargo clippy -- -D warnings", "fixed",
         "clippy-fix", needs=("cargo",)),
    Case("clippy: too many arguments (no machine fix)", "rust", "clippy",
         _rust("config", RUST_CLIPPY_UNFIXABLE), "cargo clippy -- -D warnings",
         "rolled-back", "clippy-fix", needs=("cargo",)),
    Case("rustc: type mismatch (no safe fix)", "rust", "rustc",
         _rust("port", RUST_TYPE_ERROR), "cargo build", "left-alone", None,
         needs=("cargo",)),
    Case("cargo audit: vulnerable crate (security)", "rust", "cargo-audit",
         _rust("wordcount", "fn main() {}\n"), "cargo audit", "left-alone", None,
         recorded=CARGO_AUDIT_OUT),
    # ---- Go ----
    Case("gofmt: unformatted file", "go", "gofmt",
         _go("queue", GO_UNFORMATTED), GOFMT_CHECK, "fixed", "gofmt", needs=("gofmt",)),
    Case("gofmt: module in a subdirectory", "go", "gofmt",
         _go("queue", GO_UNFORMATTED, "services/queue/"), GOFMT_CHECK, "fixed", "gofmt",
         working_directory="services/queue", needs=("gofmt",)),
    Case("go vet: wrong Printf verb (no safe fix)", "go", "go vet",
         _go("queue", GO_VET), "go vet ./...", "left-alone", None, needs=("go",)),
    Case("go build: type error (no safe fix)", "go", "go build",
         _go("queue", GO_BUILD_ERROR), "go build ./...", "left-alone", None, needs=("go",)),
    # ---- JavaScript ----
    Case("prettier: unformatted module", "javascript", "prettier",
         _web("blog", **{"src/slug.js": JS_UNFORMATTED}), "prettier --check .", "fixed",
         "prettier-write", needs=("prettier",)),
    Case("prettier: syntax error (not a format problem)", "javascript", "prettier",
         _web("blog", **{"src/broken.js": JS_SYNTAX_ERROR}), "prettier --check .",
         "left-alone", None, needs=("prettier",)),
    Case("eslint: prefer-const", "javascript", "eslint",
         _web("shop", **{"src/total.js": JS_LET}), "eslint .", "fixed", "eslint-fix",
         needs=("eslint",)),
    Case("eslint: no-undef (no auto-fix)", "javascript", "eslint",
         _web("shop", **{"src/render.js": JS_UNDEF}), "eslint .", "rolled-back",
         "eslint-fix", needs=("eslint",)),
    Case("npm audit: vulnerable package (security)", "javascript", "npm audit",
         _web("shop"), "npm audit --audit-level=high", "left-alone", None,
         recorded=NPM_AUDIT_OUT),
    # ---- licensing and workflows ----
    Case("reuse lint: files without SPDX tags", "python", "reuse",
         {"LICENSES/MIT.txt": REUSE_MIT, "REUSE.toml": REUSE_TOML,
          "src/tally/__init__.py": "# SPDX-FileCopyrightText: 2025 Tallyworks\n"
          "# SPDX-License-Identifier: MIT\n\n__all__ = []\n",
          "src/tally/count.py": "def count(xs):\n    return len(xs)\n",
          "web/app.js": "// SPDX-FileCopyrightText: 2025 Tallyworks\n"
          "// SPDX-License-Identifier: MIT\nexport const a = 1;\n",
          "web/util.js": "export const b = 2;\n"},
         "reuse lint", "fixed", "license-header", needs=("reuse",)),
    Case("header script: no LICENSE file, a .sh left alone", "go", "check-headers.sh",
         {"scripts/check-headers.sh": HEADER_SCRIPT, **_go("ledger", GO_UNFORMATTED.replace(
             "package main", "// SPDX-License-Identifier: Apache-2.0\n\npackage main")),
          "posting.go": "package main\n\nfunc post() {}\n",
          "deploy.sh": "#!/bin/sh\necho deploy\n"},
         "bash scripts/check-headers.sh", "fixed", "license-header"),
    Case("GHCR push denied: packages: write for the job", "actions", "docker push",
         _invoice(), "docker push ghcr.io/tallyworks/invoice:latest", "fixed",
         "workflow-permissions", recorded=GHCR_DENIED, job="image", proof="property"),
    Case("Docker Hub push denied (credentials)", "actions", "docker push",
         _invoice(), "docker push docker.io/tallyworks/invoice:latest", "left-alone", None,
         recorded=DOCKERHUB_DENIED, job="image"),
    Case("ECR push denied (IAM policy)", "actions", "docker push",
         _invoice(), "docker push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/invoice",
         "left-alone", None, recorded=ECR_DENIED, job="image"),
    Case("GHCR push denied, workflows protected", "actions", "docker push",
         _invoice(), "docker push ghcr.io/tallyworks/invoice:latest", "left-alone", None,
         recorded=GHCR_DENIED, job="image",
         settings={"protected_paths": [".github/workflows/**"]}),
]  # fmt: skip


def workflow(case: Case) -> str:
    wd = f"        working-directory: {case.working_directory}\n" if case.working_directory else ""
    run = case.command.replace("\n", "\n          ")
    other = "check" if case.job != "check" else "build"
    return (
        "name: CI\n\non:\n  push:\n    branches: [main]\n  pull_request:\n\n"
        "permissions:\n  contents: read\n\njobs:\n"
        f"  {other}:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo build\n"
        f"  {case.job}:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        f"      - run: {run}\n{wd}"
    )


# ---- running a case ------------------------------------------------------------------------


def _env(home: Path, extra_path: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("GITHUB_RUN_ID", "GITHUB_REPOSITORY", "GITHUB_TOKEN", "HEE_GITHUB_TOKEN",
                "HEE_DATABASE_URL", "HEE_DIAGNOSIS", "PYTHONPATH"):  # fmt: skip
        env.pop(key, None)
    env.update(IDENTITY)
    env.setdefault("CARGO_HOME", str(Path.home() / ".cargo"))
    env.setdefault("RUSTUP_HOME", str(Path.home() / ".rustup"))
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join(
        [*extra_path, str(Path(sys.executable).parent), env.get("PATH", "")]
    )
    return env


def _git(repo: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


def _bash(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, timeout=600, check=False,
    )  # fmt: skip
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def actions_log(case: Case, output: str, code: int) -> str:
    lines = [
        STAMP.format(0) + "##[group]Run actions/checkout@v4",
        STAMP.format(0) + "with:",
        STAMP.format(0) + "  repository: tallyworks/" + case.tool.replace(" ", "-"),
        STAMP.format(0) + "##[endgroup]",
        STAMP.format(1) + "##[group]Run " + case.command.strip().splitlines()[0],
        *(STAMP.format(1) + line for line in case.command.strip().splitlines()),
        STAMP.format(1) + "shell: /usr/bin/bash -e {0}",
        STAMP.format(1) + "##[endgroup]",
        *(STAMP.format(2) + line for line in output.splitlines()),
        STAMP.format(3) + f"##[error]Process completed with exit code {code}.",
        STAMP.format(4) + "Post job cleanup.",
    ]
    return "\n".join(lines) + "\n"


def tree_state(root: Path) -> dict[str, tuple[int, bytes]]:
    state: dict[str, tuple[int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and ".git" in dirnames:
            dirnames.remove(".git")
        for name in filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            data = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
            state[str(p.relative_to(root))] = (st.st_mode, data)
        for d in dirnames:
            p = Path(dirpath) / d
            state[str(p.relative_to(root)) + "/"] = (p.lstat().st_mode, b"")
    return state


@dataclass
class Result:
    case: Case
    threshold: str
    verdict: str
    detail: str
    seconds: float
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    unvalidated_kept: int = 0


def _prepare(case: Case, base: Path, env: dict[str, str]) -> tuple[Path, Path] | str:
    """The repository and the job log; a string when the case cannot run here."""
    missing = [t for t in case.needs if shutil.which(t, path=env["PATH"]) is None]
    if missing:
        return "tool(s) not installed here: " + ", ".join(missing)
    repo = base / "repo"
    repo.mkdir(parents=True)
    _git(repo, env, "init", "-q", "-b", "main")
    files = {
        ".gitignore": "target/\nnode_modules/\n__pycache__/\n.ruff_cache/\n.mypy_cache/\n",
        ".github/workflows/ci.yml": workflow(case),
        **case.files,
    }
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if name.endswith(".sh"):
            path.chmod(0o755)
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m", "Initial import")
    if case.recorded is not None:
        output, code = case.recorded, 1
    else:
        wd = repo / case.working_directory if case.working_directory else repo
        code, output = _bash(case.command, wd, env)
        if code == 0:
            return f"the check passed, nothing to fix:\n{output[-400:]}"
        _git(repo, env, "clean", "-fdxq")  # CI's checkout is fresh: no caches, no builds
    log = base / "job.log"
    log.write_text(actions_log(case, output, code))
    return repo, log


FixRun = tuple[list[dict[str, Any]], float, str]


def _run_fix(
    repo: Path, log: Path, base: Path, env: dict[str, str], settings: dict[str, Any], tag: str
) -> FixRun:
    config = base / f"fixes-{tag}.yml"
    config.write_text(json.dumps({"fixes": settings}))
    cli_env = dict(env, PYTHONPATH=str(ROOT))
    argv = [
        sys.executable, "-c", "import sys; from hee_monitor.cli import main; sys.exit(main())",
        "fix", "apply", "--log", str(log), "--no-push", "--repo-path", str(repo),
        "--config", str(config), "--format", "json", "--run-id", tag,
        "--database", f"sqlite:///{base / f'audit-{tag}.db'}",
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=base, env=cli_env, capture_output=True, text=True,
                          timeout=1800, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    try:
        outcomes = json.loads(proc.stdout)
    except ValueError:
        return [], seconds, f"fix apply exit {proc.returncode}: {proc.stderr[-600:]}"
    return outcomes, seconds, ""


def _proven_on_branch(case: Case, repo: Path, env: dict[str, str], out: dict[str, Any],
                      base: Path) -> tuple[bool, str]:  # fmt: skip
    """The failing command passes on the fix branch (a permission: the job is granted it)."""
    branch = out.get("branch")
    if not branch:
        return False, "no fix branch"
    wt = base / f"verify-{branch.replace('/', '-')}"
    _git(repo, env, "worktree", "add", "-q", str(wt), branch)
    try:
        if out.get("strategy") == "workflow-permissions":
            from hee_monitor.action.fixes.strategies.workflows import (
                effective_permissions,
                grants,
                load_workflow,
            )

            perms = effective_permissions(load_workflow(wt, ".github/workflows/ci.yml"), case.job)
            return grants(perms, "packages"), f"job {case.job} permissions: {perms}"
        if out.get("proof") != "failing-command":
            return False, "kept on the strategy's own check only"
        wd = wt / case.working_directory if case.working_directory else wt
        code, output = _bash(case.command, wd, env)
        return code == 0, output[-300:]
    finally:
        _git(repo, env, "worktree", "remove", "--force", str(wt))


def run_case(case: Case, work: Path, extra_path: list[str], thresholds: list[str]) -> list[Result]:
    base = work / case.name.replace(" ", "-").replace(":", "").replace(",", "")[:60]
    home = base / "home"
    home.mkdir(parents=True)
    env = _env(home, extra_path)
    env["CARGO_TARGET_DIR"] = str(base / "cargo-target")
    prepared = _prepare(case, base, env)
    if isinstance(prepared, str):
        return [Result(case, t, "not run", prepared, 0.0) for t in thresholds]
    repo, log = prepared
    results = []
    for tag in thresholds:
        settings = dict(case.settings)
        if tag != "default":
            settings["risk_threshold"] = int(tag)
        before = tree_state(repo)
        branches_before = _git(repo, env, "branch", "--list")
        # a fresh build directory per run, as a CI checkout has (cargo's fingerprints are
        # mtimes: a warm one from the previous run could pass a check it never re-ran)
        env["CARGO_TARGET_DIR"] = str(base / f"cargo-target-{tag}")
        outcomes, seconds, error = _run_fix(repo, log, base, env, settings, f"t{tag}")
        if error:
            results.append(Result(case, tag, "error", error, seconds))
            continue
        untouched = tree_state(repo) == before
        applied = [o for o in outcomes if o.get("outcome") == "applied"]
        unvalidated = 0
        proven = []
        for out in applied:
            ok, why = _proven_on_branch(case, repo, env, out, base)
            proven.append((out, ok, why))
            unvalidated += 0 if ok else 1
        strategies = [o.get("strategy") for o in outcomes]
        kinds = Counter(str(o.get("outcome")) for o in outcomes)
        summary = ", ".join(f"{o.get('outcome')}:{o.get('strategy') or '-'}" for o in outcomes)
        verdict, detail = "?", summary
        if case.expect == "fixed":
            if any(ok and o.get("strategy") == case.strategy for o, ok, _ in proven):
                verdict = "fixed"
            elif case.strategy not in strategies:
                verdict = "wrong diagnosis"
            elif kinds["approval-requested"] and tag == "default":
                verdict = "waits for approval"
            else:
                verdict = "not fixed"
                detail += " | " + "; ".join(str(o.get("reason", "")) for o in outcomes)[:300]
        elif case.expect == "rolled-back":
            rolled = [o for o in outcomes if o.get("outcome") == "rolled-back"
                      and o.get("strategy") == case.strategy]  # fmt: skip
            if applied:
                verdict = "changed (should roll back)"
            elif rolled and untouched:
                verdict = "rolled back correctly"
            elif case.strategy not in strategies:
                verdict = "wrong diagnosis"
            else:
                verdict = "not rolled back"
                detail += " | " + "; ".join(str(o.get("reason", "")) for o in outcomes)[:300]
        else:
            new_branches = _git(repo, env, "branch", "--list") != branches_before
            explained = bool(outcomes) and all(
                o.get("outcome") in ("skipped", "approval-requested") for o in outcomes
            )
            security = case.recorded is not None and case.tool not in ("docker push",)
            if applied or new_branches or not untouched:
                verdict = "changed (should be left alone)"
            elif security and not kinds["approval-requested"]:
                verdict = "security without an approval"
            elif explained or not outcomes:
                verdict = "left alone correctly"
                if not outcomes:
                    detail = "no finding to fix"
            else:
                verdict = "left alone, rolled back"
        if not untouched and verdict in ("fixed",):
            verdict, detail = "checkout changed", "the user's tree was not restored"
        results.append(Result(case, tag, verdict, detail, seconds, outcomes, unvalidated))
    return results


def node_tools(cache: Path) -> list[str]:
    """prettier and eslint from the npm registry, installed once into a cache directory."""
    bin_dir = cache / "node_modules" / ".bin"
    if (bin_dir / "prettier").exists() and (bin_dir / "eslint").exists():
        return [str(bin_dir)]
    if shutil.which("npm") is None:
        return []
    proc = subprocess.run(
        ["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", *NODE_TOOLS],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return [str(bin_dir)] if proc.returncode == 0 else []


# ---- report --------------------------------------------------------------------------------


def report(results: list[Result], thresholds: list[str]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for tag in thresholds:
        rs = [r for r in results if r.threshold == tag]
        ran = [r for r in rs if r.verdict not in ("not run",)]
        fixable = [r for r in ran if r.case.expect == "fixed"]
        must_roll = [r for r in ran if r.case.expect == "rolled-back"]
        leave = [r for r in ran if r.case.expect == "left-alone"]
        guarded = [r for r in leave if r.case.recorded is not None or r.case.settings]
        figures[tag] = {
            "cases": len(ran),
            "not run": len(rs) - len(ran),
            "fixable": len(fixable),
            "fixed": sum(r.verdict == "fixed" for r in fixable),
            "waiting for approval": sum(r.verdict == "waits for approval" for r in fixable),
            "rolled back correctly": sum(r.verdict == "rolled back correctly" for r in must_roll),
            "must roll back": len(must_roll),
            "left alone correctly": sum(r.verdict == "left alone correctly" for r in leave),
            "must be left alone": len(leave),
            "security+protected untouched": sum(
                r.verdict == "left alone correctly" for r in guarded
            ),
            "security+protected": len(guarded),
            "unvalidated kept": sum(r.unvalidated_kept for r in ran),
            "wrong diagnosis": sum(r.verdict == "wrong diagnosis" for r in ran),
            "seconds": sum(r.seconds for r in ran),
        }
    return figures


def baseline() -> tuple[float, int, int]:
    """The hand-built findings benchmark's success rate (its corpus, its engine run)."""
    import fix_bench_handbuilt as old

    work = Path(tempfile.mkdtemp(prefix="hee-fix-bench-old-"))
    try:
        res = [old.run_case(n, case, work) for n, case in enumerate(old.CORPUS, 1)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fixable = [r for r in res if r.case.fixable]
    fixed = sum(r.outcome == "applied" for r in fixable)
    return fixed / len(fixable), fixed, len(fixable)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the cases whose name contains this text")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repositories")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--thresholds", default="10,default",
                        help="risk thresholds to run every case at (comma-separated)")  # fmt: skip
    args = parser.parse_args(argv)
    thresholds = [t.strip() for t in args.thresholds.split(",") if t.strip()]
    cases = [c for c in CASES if not args.only or args.only.lower() in c.name.lower()]
    work = Path(tempfile.mkdtemp(prefix="hee-fix-bench-"))
    extra = node_tools(Path(tempfile.gettempdir()) / "hee-fix-bench-node")
    started = time.perf_counter()
    results: list[Result] = []
    try:
        for case in cases:
            results += run_case(case, work, extra, thresholds)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"repositories kept in {work}")
    wall = time.perf_counter() - started

    print(f"{'case':<52} {'tool':<16} {'thr':<7} {'verdict':<24} {'s':>6}")
    for r in results:
        src = " (recorded)" if r.case.recorded is not None else ""
        print(f"{r.case.name[:52]:<52} {(r.case.tool + src)[:16]:<16} {r.threshold:<7} "
              f"{r.verdict:<24} {r.seconds:6.1f}")  # fmt: skip
        if r.verdict not in ("fixed", "rolled back correctly", "left alone correctly"):
            print(f"    {r.detail[:400]}")
    ran = [c for c in cases if c.recorded is None]
    print()
    print(f"cases: {len(cases)} ({len(cases) - len(ran)} with recorded tool output), tools: "
          f"{len({c.tool for c in cases})} ({len({c.tool for c in ran})} run for real), "
          f"ecosystems: {len({c.ecosystem for c in cases})}")  # fmt: skip
    figures = report(results, thresholds)
    ok = True
    for tag, f in figures.items():
        rate = f["fixed"] / f["fixable"] if f["fixable"] else 0.0
        print(f"\nrisk threshold {tag}: {f['cases']} cases run ({f['not run']} not run here)")
        print(f"  fixed and validated by the failing command: {f['fixed']}/{f['fixable']} = "
              f"{rate:.1%} (target ≥ {TARGET_FIXED:.0%}); waiting for approval: "
              f"{f['waiting for approval']}")  # fmt: skip
        print(f"  left alone correctly: {f['left alone correctly']}/{f['must be left alone']} "
              f"(security and protected untouched with an approval or a reason: "
              f"{f['security+protected untouched']}/{f['security+protected']})")  # fmt: skip
        print(f"  rolled back correctly (byte for byte): {f['rolled back correctly']}/"
              f"{f['must roll back']}")  # fmt: skip
        print(f"  unvalidated changes kept: {f['unvalidated kept']} (target 0); wrong "
              f"diagnosis: {f['wrong diagnosis']}; seconds in fix apply: "
              f"{f['seconds']:.1f}")  # fmt: skip
        if tag != "default":
            ok &= rate >= TARGET_FIXED
        ok &= f["unvalidated kept"] == 0
        ok &= f["rolled back correctly"] == f["must roll back"]
        ok &= f["security+protected untouched"] == f["security+protected"]
    print(f"\nwall time: {wall:.1f} s")
    if not args.skip_baseline and not args.only:
        old_rate, old_fixed, old_n = baseline()
        first = figures[thresholds[0]]
        rate = first["fixed"] / first["fixable"] if first["fixable"] else 0.0
        print(f"baseline (hand-built findings, fix_bench_handbuilt.py): {old_fixed}/{old_n} = "
              f"{old_rate:.1%} 'fixed' without reading a log; end to end from the log "
              f"(threshold {thresholds[0]}): {rate:.1%}; ratio {rate / old_rate:.2f}x")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
