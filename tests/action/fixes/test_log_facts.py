"""What the failing step's log says: files, denied permission, vulnerable packages.

The scanner outputs below are in each tool's printed format (pip-audit 2, npm 10, cargo-audit
0.20, trivy 0.5x, osv-scanner 1): no vulnerability service is reachable from the test
machines, so the tools cannot be run here against a live advisory database.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from hee_monitor.action.fixes.config import FixConfig
from hee_monitor.action.fixes.engine import EngineOptions, FixEngine
from hee_monitor.action.fixes.inputs import analyze_log
from hee_monitor.action.fixes.log_facts import (
    log_file_tokens,
    resolve_files,
    step_lines,
    vulnerable_packages,
)
from hee_monitor.action.fixes.outcomes import ApprovalRequested
from hee_monitor.core.clock import FakeClock
from tests.action.fixes.conftest import Repo, tree_state

PIP_AUDIT = """\
Found 2 known vulnerabilities in 1 package
Name     Version ID                  Fix Versions
-------- ------- ------------------- ------------
requests 2.25.0  GHSA-j8r2-6x86-q33q 2.31.0
requests 2.25.0  GHSA-9wx4-h78v-vm56 2.32.0
"""

NPM_AUDIT = """\
# npm audit report

minimist  <=0.2.3 || 1.0.0 - 1.2.5
Severity: critical
Prototype Pollution in minimist - https://github.com/advisories/GHSA-xvch-5gv4-984h
Prototype Pollution in minimist - https://github.com/advisories/GHSA-vh95-rmgr-6w4m
fix available via `npm audit fix`
node_modules/minimist

1 critical severity vulnerability

To address all issues, run:
  npm audit fix
"""

CARGO_AUDIT = """\
    Scanning Cargo.lock for vulnerabilities (42 crate dependencies)
Crate:     time
Version:   0.1.45
Title:     Potential segfault in the time crate
Date:      2020-11-18
ID:        RUSTSEC-2020-0071
URL:       https://rustsec.org/advisories/RUSTSEC-2020-0071
Severity:  6.2 (medium)
Solution:  Upgrade to >=0.2.23
error: 1 vulnerability found!
"""

TRIVY = """\
requirements.txt (pip)
======================
Total: 1 (UNKNOWN: 0, LOW: 0, MEDIUM: 1, HIGH: 0, CRITICAL: 0)

┌──────────┬────────────────┬──────────┬────────┬───────────────────┬───────────────┬───────────────────────────────┐
│ Library  │ Vulnerability  │ Severity │ Status │ Installed Version │ Fixed Version │             Title             │
├──────────┼────────────────┼──────────┼────────┼───────────────────┼───────────────┼───────────────────────────────┤
│ requests │ CVE-2023-32681 │ MEDIUM   │ fixed  │ 2.25.0            │ 2.31.0        │ python-requests: Unintended   │
│          │                │          │        │                   │               │ leak of Proxy-Authorization   │
└──────────┴────────────────┴──────────┴────────┴───────────────────┴───────────────┴───────────────────────────────┘
"""  # noqa: E501

OSV = """\
╭─────────────────────────────────────┬──────┬───────────┬──────────┬─────────┬──────────────────╮
│ OSV URL                             │ CVSS │ ECOSYSTEM │ PACKAGE  │ VERSION │ SOURCE           │
├─────────────────────────────────────┼──────┼───────────┼──────────┼─────────┼──────────────────┤
│ https://osv.dev/GHSA-j8r2-6x86-q33q │ 6.1  │ PyPI      │ requests │ 2.25.0  │ requirements.txt │
│ https://osv.dev/PYSEC-2023-74       │      │           │          │         │                  │
╰─────────────────────────────────────┴──────┴───────────┴──────────┴─────────┴──────────────────╯
"""


def _ups(text: str) -> list[dict[str, object]]:
    return [u.to_json() for u in vulnerable_packages(text.splitlines())]


def test_pip_audit_gives_package_versions_and_every_advisory() -> None:
    assert _ups(PIP_AUDIT) == [
        {"package": "requests", "installed": "2.25.0", "fixed": "2.32.0",
         "advisories": ["GHSA-j8r2-6x86-q33q", "GHSA-9wx4-h78v-vm56"], "ecosystem": "PyPI"},
    ]  # fmt: skip


def test_npm_audit_cargo_audit_trivy_and_osv_scanner() -> None:
    (npm,) = _ups(NPM_AUDIT)
    assert npm["package"] == "minimist"
    assert npm["advisories"] == ["GHSA-xvch-5gv4-984h", "GHSA-vh95-rmgr-6w4m"]
    assert _ups(CARGO_AUDIT) == [
        {"package": "time", "installed": "0.1.45", "fixed": "0.2.23",
         "advisories": ["RUSTSEC-2020-0071"], "ecosystem": "crates.io"},
    ]  # fmt: skip
    assert _ups(TRIVY) == [
        {"package": "requests", "installed": "2.25.0", "fixed": "2.31.0",
         "advisories": ["CVE-2023-32681"], "ecosystem": None},
    ]  # fmt: skip
    assert _ups(OSV) == [
        {"package": "requests", "installed": "2.25.0", "fixed": None,
         "advisories": ["GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"], "ecosystem": "PyPI"},
    ]  # fmt: skip


def test_the_failing_steps_lines_and_the_files_they_name(repo: Repo) -> None:
    log = (
        "2026-12-07T10:00:00.1Z ##[group]Run ruff format --check .\n"
        "2026-12-07T10:00:00.1Z ruff format --check .\n"
        "2026-12-07T10:00:00.1Z ##[endgroup]\n"
        "2026-12-07T10:00:00.2Z Would reformat: src/app.py\n"
        "2026-12-07T10:00:00.2Z Diff in /home/runner/work/app/app/api/lib.rs:1:\n"
        "2026-12-07T10:00:00.2Z see https://docs.astral.sh/ruff/x.py\n"
        "2026-12-07T10:00:00.3Z ##[error]Process completed with exit code 1.\n"
        "2026-12-07T10:00:00.4Z Post job cleanup.\n"
    )
    lines = step_lines(log, "ruff format --check .")
    assert lines[0] == "Would reformat: src/app.py" and "Post job cleanup." not in lines
    tokens = log_file_tokens(lines)
    assert tokens == ["src/app.py", "/home/runner/work/app/app/api/lib.rs"]
    repo.write("src/app.py", "x = 1\n")
    repo.write("api/lib.rs", "fn main() {}\n")
    assert resolve_files(repo.path, tokens) == ["src/app.py", "api/lib.rs"]


def test_a_pip_audit_failure_reaches_a_person_as_an_approval_with_its_advisories(
    repo: Repo, store: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    repo.write("requirements.txt", "requests==2.25.0\nflask>=2.0\n")
    repo.commit("init")
    before = tree_state(repo.path)
    log = tmp_path / "job.log"
    log.write_text(
        "##[group]Run pip-audit -r requirements.txt\npip-audit -r requirements.txt\n"
        "##[endgroup]\n" + PIP_AUDIT + "##[error]Process completed with exit code 1.\n"
    )
    findings = analyze_log(log)[1]
    security = [f for f in findings if f.category == "security"]
    assert security and security[0].details["package"] == "requests"
    # at any threshold, even the most permissive
    engine = FixEngine(
        repo.path, store=store, clock=clock, env=repo.env,
        config=FixConfig(risk_threshold=10), options=EngineOptions(run_id="5"),
    )  # fmt: skip
    outcome = engine.execute_fix(security[0])
    assert isinstance(outcome, ApprovalRequested), outcome
    request = engine.approvals.get(outcome.id)
    assert "GHSA-j8r2-6x86-q33q" in request.plan["description"]
    assert any("requests==2.25.0 -> requests==2.32.0" in e for e in request.plan["edits"])
    assert tree_state(repo.path) == before


def test_a_vulnerable_crate_no_strategy_can_edit_still_reaches_a_person(
    repo: Repo, store: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    repo.write("Cargo.toml", '[package]\nname = "wc"\nversion = "0.1.0"\nedition = "2021"\n')
    repo.write("src/main.rs", "fn main() {}\n")
    repo.commit("init")
    before = tree_state(repo.path)
    log = tmp_path / "job.log"
    log.write_text(
        "##[group]Run cargo audit\ncargo audit\n##[endgroup]\n"
        + CARGO_AUDIT
        + "##[error]Process completed with exit code 1.\n"
    )
    security = [f for f in analyze_log(log)[1] if f.category == "security"]
    assert security, "the cargo audit log gives a security finding"
    engine = FixEngine(
        repo.path, store=store, clock=clock, env=repo.env,
        config=FixConfig(risk_threshold=10), options=EngineOptions(run_id="6"),
    )  # fmt: skip
    outcome = engine.execute_fix(security[0])
    assert isinstance(outcome, ApprovalRequested), outcome
    (edit,) = engine.approvals.get(outcome.id).plan["edits"]
    assert edit == "upgrade time 0.1.45 -> 0.2.23 (RUSTSEC-2020-0071)"
    assert tree_state(repo.path) == before
