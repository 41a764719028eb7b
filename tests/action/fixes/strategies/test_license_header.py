from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from hee_monitor.action.fixes.engine import EngineOptions, FixEngine
from hee_monitor.action.fixes.outcomes import FixApplied
from hee_monitor.action.fixes.strategies.interface import FixContext
from hee_monitor.action.fixes.strategies.license_header import LicenseHeaderStrategy, add_header
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.errors import FixError
from tests.action.fixes.conftest import Repo
from tests.action.fixes.realtool import findings_from_tool


def test_adds_the_spdx_header_of_the_license_file_after_shebang(repo: Repo) -> None:
    repo.write("LICENSE", "                                 Apache License\n Version 2.0\n")
    repo.write("tool.py", "#!/usr/bin/env python3\nprint(1)\n", mode=0o755)
    repo.write("lib/a.js", "export const a = 1;\n")
    repo.write("has.py", "# SPDX-License-Identifier: Apache-2.0\nx = 1\n")
    repo.write("README.md", "# readme\n")
    ctx = FixContext(repo=repo.path, env=repo.env)
    strategy = LicenseHeaderStrategy()
    plan = strategy.plan(ctx)
    # the header is learned from has.py: the files of its type lacking it are fixed
    assert plan.files == ("tool.py",)
    (check,) = plan.validation
    assert not check.run(repo.path).passed
    strategy.apply(ctx)
    assert check.run(repo.path).passed
    assert (repo.path / "tool.py").read_text() == (
        "#!/usr/bin/env python3\n# SPDX-License-Identifier: Apache-2.0\nprint(1)\n"
    )
    assert (repo.path / "tool.py").stat().st_mode & 0o777 == 0o755
    assert (repo.path / "lib/a.js").read_text() == "export const a = 1;\n"
    assert (repo.path / "has.py").read_text() == "# SPDX-License-Identifier: Apache-2.0\nx = 1\n"


def test_configured_header_and_crlf_files(repo: Repo) -> None:
    assert add_header("a\r\nb\r\n", "Copyright ACME", "# ") == "# Copyright ACME\r\na\r\nb\r\n"
    ctx = FixContext(repo=repo.path, settings={"license_header": "Copyright ACME"})
    repo.write("a.py", "x = 1\n")
    LicenseHeaderStrategy().apply(ctx)
    assert (repo.path / "a.py").read_text() == "# Copyright ACME\nx = 1\n"


def test_without_license_or_configuration_it_says_what_to_set(repo: Repo) -> None:
    with pytest.raises(FixError, match="no license header") as info:
        LicenseHeaderStrategy().plan(FixContext(repo=repo.path))
    assert info.value.hint == "set fixes.settings.license_header in .hee-monitor.yml"


REUSE_LICENSE = "MIT License\n\nCopyright (c) Acme Ltd\n"


def _engine(repo: Repo, store: Engine, clock: FakeClock) -> FixEngine:
    return FixEngine(
        repo.path, store=store, clock=clock, env=repo.env, options=EngineOptions(run_id="3")
    )


def test_reuse_lint_is_fixed_with_the_header_the_repository_already_uses(
    repo: Repo, store: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    if shutil.which("reuse", path=repo.env["PATH"]) is None:
        pytest.skip("reuse is not installed here")
    repo.write("LICENSES/MIT.txt", REUSE_LICENSE)
    repo.write("src/meter/__init__.py", "# SPDX-FileCopyrightText: 2025 Acme Ltd\n"
               "# SPDX-License-Identifier: MIT\n\n__version__ = '1.0'\n")  # fmt: skip
    repo.write("src/meter/read.py", "def read() -> int:\n    return 1\n")
    repo.write("web/app.js", "// SPDX-FileCopyrightText: 2025 Acme Ltd\n"
               "// SPDX-License-Identifier: MIT\nexport const a = 1;\n")  # fmt: skip
    repo.write("web/util.js", "export const b = 2;\n")
    repo.commit("init")
    findings = findings_from_tool(repo.path, "reuse lint", repo.env, tmp_path / "job.log")
    root = next(f for f in findings if f.fix_strategy == "license-header")

    outcome = _engine(repo, store, clock).execute_fix(root)

    assert isinstance(outcome, FixApplied), outcome
    assert outcome.proof == "failing-command"
    assert set(outcome.files) == {"src/meter/read.py", "web/util.js"}
    assert repo.git("show", f"{outcome.branch}:web/util.js") == (
        "// SPDX-FileCopyrightText: 2025 Acme Ltd\n// SPDX-License-Identifier: MIT\n"
        "export const b = 2;\n"
    )
    wt = tmp_path / "fixed"
    repo.git("worktree", "add", "-q", str(wt), str(outcome.branch))
    assert subprocess.run(["reuse", "lint"], cwd=wt, env=repo.env, capture_output=True,
                          check=False).returncode == 0  # fmt: skip


CHECK_HEADERS = """\
#!/usr/bin/env bash
# every Go source file carries the license id
status=0
for f in $(git ls-files '*.go'); do
  if ! grep -q 'SPDX-License-Identifier' "$f"; then
    echo "missing SPDX-License-Identifier header: $f"
    status=1
  fi
done
exit $status
"""


def test_a_header_script_without_license_file_edits_only_the_files_it_named(
    repo: Repo, store: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    repo.write("scripts/check-headers.sh", CHECK_HEADERS, mode=0o755)
    repo.write("go.mod", "module example.com/ledger\n\ngo 1.19\n")
    repo.write("main.go", "// SPDX-License-Identifier: Apache-2.0\n\npackage main\n")
    repo.write("posting.go", "package main\n\nfunc post() {}\n")
    repo.write("deploy.sh", "#!/bin/sh\necho deploy\n", mode=0o755)
    repo.commit("init")
    findings = findings_from_tool(
        repo.path, "./scripts/check-headers.sh", repo.env, tmp_path / "job.log"
    )
    root = next(f for f in findings if f.fix_strategy == "license-header")

    outcome = _engine(repo, store, clock).execute_fix(root)

    assert isinstance(outcome, FixApplied), outcome
    assert outcome.files == ("posting.go",)  # not deploy.sh: the log never named it
    assert repo.git("show", f"{outcome.branch}:posting.go").startswith(
        "// SPDX-License-Identifier: Apache-2.0\npackage main\n"
    )
