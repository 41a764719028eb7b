"""``hee-monitor demo``: the whole product on a scratch repository, with no token.

A loopback fake of GitHub (:mod:`hee_monitor.demo.github_fake`) plays four failed CI
runs against a scratch git repository: a license-header lint failure, a flaky test (a
connection reset), a dependency conflict and a critical compile error. The real
components handle them — the GitHub source polls the fake through PyGithub, the analyzer
diagnoses each log, the policy decides, the state machine moves, the audit store (SQLite)
records, the alert router prints alerts on the console, the fix engine fixes on a branch,
pushes it and opens the pull request on the fake (or rolls back a fix that breaks a
repository check), the capsule store signs every version with a key generated for the
demo, and the report renders the result as HTML. Time is a :class:`FakeClock` moved a few
hours per step, so the charts have a timeline; nothing sleeps.
"""

from __future__ import annotations

import copy
import io
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from hee_monitor.core.capsule import Constraints
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.config import DEFAULTS, Config
from hee_monitor.core.errors import HeeError
from hee_monitor.core.models import Finding, Severity
from hee_monitor.decision import POLICIES
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.capsule.access import SignedCapsule
from hee_monitor.record.capsule.keys import Signer, TrustedKeys
from hee_monitor.record.capsule.store import CapsuleDirectory
from hee_monitor.record.state import read_state
from hee_monitor.service.cycle import CycleReport, MonitorCycle, RunOutcome

REPOSITORY = "demo/ledger"
#: hours the clock moves between scenario steps
STEP_HOURS = 5

LINT_LOG = """\
Run reuse lint --json | tools/report-license.py
Checking license headers in 14 files
Missing license header: src/ledger/report.py
1 file is missing the license header
##[error]Process completed with exit code 1.
"""
FLAKY_LOG = """\
Run python -m pytest -q
........................................................................ [ 98%]
F                                                                        [100%]
=================================== FAILURES ===================================
__________________________________ test_fetch __________________________________
E   requests.exceptions.ConnectionError: ('Connection aborted.', \
ConnectionResetError(104, 'Connection reset by peer'))
=========================== short test summary info ============================
FAILED tests/test_api.py::test_fetch - requests.exceptions.ConnectionError: \
('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))
1 failed, 72 passed in 4.87s
##[error]Process completed with exit code 1.
"""
DEPENDENCY_LOG = """\
Collecting click
ERROR: Cannot install -r requirements.txt (line 1) and click because these package \
versions have conflicting dependencies.
ERROR: ResolutionImpossible: for help visit \
https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts
##[error]Process completed with exit code 1.
"""
COMPILE_LOG = """\
   Compiling ledger-core v0.3.1 (/home/runner/work/ledger/ledger/core)
error[E0308]: mismatched types
 --> core/src/posting.rs:42:9
  |
42|         "total"
  |         ^^^^^^^ expected `u64`, found `&str`

error: could not compile `ledger-core` (lib) due to 1 previous error
##[error]Process completed with exit code 101.
"""

#: the coverage report the CI test job uploads (coverage.py's Cobertura XML)
COVERAGE_XML = """\
<?xml version="1.0" ?>
<coverage version="7.6.1" lines-valid="10" lines-covered="8" line-rate="0.8" \
branches-covered="1" branches-valid="2" branch-rate="0.5" complexity="0">
  <sources><source>src</source></sources>
  <packages><package name="ledger" line-rate="0.8" branch-rate="0.5" complexity="0"><classes>
    <class name="report.py" filename="ledger/report.py" line-rate="0.67" branch-rate="0.5">
      <methods/>
      <lines>
        <line number="1" hits="1"/><line number="4" hits="1"/>
        <line number="5" hits="1" branch="true" condition-coverage="50% (1/2)" \
missing-branches="7"/>
        <line number="6" hits="1"/><line number="7" hits="0"/><line number="8" hits="0"/>
      </lines>
    </class>
    <class name="__init__.py" filename="ledger/__init__.py" line-rate="1" branch-rate="1">
      <methods/>
      <lines>
        <line number="1" hits="1"/><line number="2" hits="1"/><line number="3" hits="1"/>
        <line number="4" hits="1"/>
      </lines>
    </class>
  </classes></package></packages>
</coverage>
"""
#: the repository's coverage targets (what the report measures gaps against)
COVERAGE_TARGETS = {"line": 90.0, "branch": 75.0, "function": 90.0, "total": 75.0}

CHECK_REQUIREMENTS = '''\
"""A library declares version ranges, never exact pins: its users resolve the versions."""
import pathlib
import sys

pinned = [line for line in pathlib.Path("requirements.txt").read_text().splitlines()
          if "==" in line]
if pinned:
    print("exact pins in requirements.txt:", ", ".join(pinned))
    sys.exit(1)
'''


@dataclass(frozen=True)
class DemoStep:
    title: str
    workflow: str
    job: str
    log: str
    rerun_conclusions: tuple[str, ...] = ("success",)


SCENARIO = (
    DemoStep("a lint failure (missing license header)", "Lint", "reuse", LINT_LOG),
    DemoStep("a flaky test (connection reset)", "CI", "tests (3.12)", FLAKY_LOG),
    DemoStep("a dependency conflict", "CI", "install", DEPENDENCY_LOG),
    DemoStep("a critical compile error", "Build", "cargo build", COMPILE_LOG),
)


@dataclass
class DemoResult:
    workdir: Path
    repo: Path
    origin: Path
    capsule_dir: Path
    public_key: Path
    database: str
    report_html: Path | None = None
    report_markdown: Path | None = None
    pull_requests: list[str] = field(default_factory=list)
    rollbacks: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- adapters between the components' ports ----------------------------------------------


class ForgePullRequests:
    """Opens the fix's pull request on the (fake) forge. The fake speaks the REST API but
    not git's transport, so the branch the engine pushed to the scratch ``origin`` is
    registered through the refs API (``POST /git/refs``) first, as a push would."""

    def __init__(self, source: Any, origin: Path) -> None:
        self.source = source
        self.origin = origin

    def open_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> Any:
        sha = _git(self.origin, "rev-parse", f"refs/heads/{head}").strip()
        self.source.create_branch(repo, head, sha)
        return self.source.open_pull_request(repo, head, base, title, body, draft=draft)


# -- the scratch repository ---------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise HeeError(
            f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()[-300:]}",
            hint="the demo needs git on PATH",
        )
    return proc.stdout


def make_repository(root: Path) -> tuple[Path, Path]:
    """A small Python library with its own checks, and a bare ``origin`` to push to."""
    repo, origin = root / "ledger", root / "origin.git"
    (repo / "src/ledger").mkdir(parents=True)
    (repo / "tools").mkdir()
    (repo / "LICENSE").write_text(
        "                                 Apache License\n"
        "                           Version 2.0, January 2004\n",
        encoding="utf-8",
    )
    (repo / "src/ledger/__init__.py").write_text(
        '# SPDX-License-Identifier: Apache-2.0\n"""A tiny ledger."""\n', encoding="utf-8"
    )
    (repo / "src/ledger/report.py").write_text(
        '"""Monthly report."""\n\n\ndef total(amounts: list[int]) -> int:\n'
        "    return sum(amounts)\n",
        encoding="utf-8",
    )
    (repo / "requirements.txt").write_text("click\n", encoding="utf-8")
    (repo / "tools/check_requirements.py").write_text(CHECK_REQUIREMENTS, encoding="utf-8")
    python = sys.executable.replace("'", "")
    (repo / ".hee-monitor.yml").write_text(
        "fixes:\n"
        "  risk_threshold: 8\n"
        "  checks:\n"
        f"    - ['{python}', 'tools/check_requirements.py']\n",
        encoding="utf-8",
    )
    (repo / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
    _git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    _git(repo.parent, "init", "--quiet", "--initial-branch=main", str(repo))
    for key, value in (
        ("user.name", "Ledger Developer"),
        ("user.email", "dev@ledger.example"),
        ("commit.gpgsign", "false"),
    ):
        _git(repo, "config", key, value)
    _git(repo, "add", "-A")
    _git(repo, "commit", "--quiet", "-m", "Start the ledger library")
    _git(repo, "remote", "add", "origin", str(origin))
    _git(repo, "push", "--quiet", "origin", "main")
    return repo, origin


def _declare_tables() -> None:
    """Import every module that declares audit-store tables, so that opening the store
    creates them all (the fix engine's and the alert router's included)."""
    import importlib

    for module in (
        "hee_monitor.action.fixes.records",
        "hee_monitor.action.fixes.approvals",
        "hee_monitor.action.alerts",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            continue


# -- the run --------------------------------------------------------------------------------


class Demo:
    def __init__(self, workdir: Path, console: Console) -> None:
        self.workdir = workdir
        self.console = console
        # The console alert channel writes here; the demo shows what it wrote under the
        # step that raised it (a critical alert is sent while the cycle is still running).
        self._alerts = io.StringIO()
        self._alert_console = Console(
            file=self._alerts,
            force_terminal=console.is_terminal,
            color_system=console.color_system,  # type: ignore[arg-type]
            width=max(console.width - 12, 40),
            highlight=False,
            soft_wrap=True,
        )
        # the scenario ends now, never later: its steps, and the re-run checks a few minutes
        # after a step, all lie in the past of the capsule's reader
        start = datetime.now(UTC).replace(microsecond=0)
        self.clock = FakeClock(start - timedelta(hours=STEP_HOURS * len(SCENARIO) + 1))

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def _show_alerts(self, *, resolved_only: bool = False) -> None:
        """Print what the console channel sent since the last call, under an ``alert`` label
        (``resolved_only``: only the resolved notices, which belong with the recoveries)."""
        blocks: list[list[str]] = []
        for line in self._alerts.getvalue().splitlines():
            if line.startswith(" ") and blocks:
                blocks[-1].append(line)
            else:
                blocks.append([line])
        shown = [b for b in blocks if not resolved_only or "[RESOLVED]" in b[0]]
        kept = [b for b in blocks if b not in shown]
        self._alerts.seek(0)
        self._alerts.truncate()
        self._alerts.write("".join(line + "\n" for block in kept for line in block))
        for block in shown:
            for number, line in enumerate(block):
                label = "  alert     " if number == 0 else "          "
                self.console.print(
                    Text(label) + Text.from_ansi(line), highlight=False, soft_wrap=True
                )

    def run(self) -> DemoResult:
        from hee_monitor.analysis.analyzer import Analyzer
        from hee_monitor.demo.github_fake import GitHubFake, JobSpec
        from hee_monitor.service.wiring import forge

        w = self.workdir
        self.say(f"[bold]hee-monitor demo[/] in {w}")
        repo, origin = make_repository(w)
        signer = Signer.generate()
        keys = w / "keys"
        keys.mkdir(exist_ok=True)
        (keys / "capsule-key").write_bytes(signer.private_pem())
        (keys / "capsule-key").chmod(0o600)
        (keys / "capsule-key.pub").write_bytes(signer.public_pem())
        database = f"sqlite:///{w / 'hee-monitor.db'}"
        result = DemoResult(
            w, repo, origin, w / "state_capsules", keys / "capsule-key.pub", database
        )
        self.say(f"  scratch repository {repo} (origin {origin}), signing key generated")

        trusted = TrustedKeys.of([signer.public_key])
        store = CapsuleDirectory(result.capsule_dir, signer, trusted, clock=self.clock)
        store.initialise(REPOSITORY, now=self.clock.now())
        capsule = SignedCapsule(
            store.current_path, signer, trusted, repository=REPOSITORY, clock=self.clock
        )

        def allow_high(payload: dict[str, Any]) -> None:
            # the demo repository lets the engine fix failures up to high severity
            limits = Constraints.from_dict(payload.get("constraints") or {})
            limits.max_fix_severity = "high"
            payload["constraints"] = limits.to_dict()

        capsule.update(allow_high, now=self.clock.now())
        _declare_tables()
        audit = AuditStore.open(database)
        config = Config(data=copy.deepcopy(DEFAULTS) | {"github": {"repos": [REPOSITORY]}})
        router = self._router(audit, result)
        notifier = None
        if router is not None:
            from hee_monitor.service.notify import RouterNotifier

            notifier = RouterNotifier(router, lambda: read_state(capsule.load()).state)
        with GitHubFake(clock=self.clock) as fake:
            fake.add_repo(REPOSITORY)
            source = forge(
                config,
                [REPOSITORY],
                token="demo-token-for-the-fake",  # the fake checks none; no real token needed
                api_url=fake.url,
                clock=self.clock,
                state=audit,
                lookback_hours=48,
                write_interval=None,
            )
            cycle = MonitorCycle(
                sources=[source],
                analyzer=Analyzer.from_default_database(),
                policy=POLICIES["rules"](),
                audit=audit,
                capsule=capsule,
                clock=self.clock,
                notifier=notifier,
                run_control=source,
                settings_for=config.policy_for,
                alert_level=Severity.LOW,
            )
            engine = self._engine(repo, audit, capsule, source, origin, result)
            for number, step in enumerate(SCENARIO, 1):
                self.clock.advance(STEP_HOURS * 3600)
                self.say(f"\n[bold cyan]{number}. CI run: {step.title}[/]")
                fake.add_run(
                    REPOSITORY,
                    workflow=step.workflow,
                    jobs=[JobSpec(step.job, log_text=step.log)],
                    rerun_conclusions=step.rerun_conclusions,
                    head_commit_message=f"Change for step {number}",
                )
                with self.console.status("monitor cycle: polling, analysing, deciding…"):
                    report = cycle.run_once()
                self._show(report, result)
                self._show_alerts()
                for outcome in report.runs:
                    with self.console.status("fix engine: backup, apply, validate…"):
                        self._fix(engine, outcome, result)
                self._flush(router)
                self._show_alerts()
                if any(outcome.rerun_requested for outcome in report.runs):
                    # the next cycle, a few minutes on, sees how the re-run ended
                    self.clock.advance(600)
                    with self.console.status("monitor cycle: checking the re-run…"):
                        report = cycle.run_once()
                    self._show(report, result)
                    self._show_alerts()
            self._coverage(capsule, result)
            result.pull_requests = [str(p.get("html_url")) for p in fake.pulls]
            source.close()
        audit.engine.dispose()
        self._verify_and_report(store, result)
        self._summary(result)
        return result

    # -- steps ---------------------------------------------------------------------------

    def _router(self, audit: AuditStore, result: DemoResult) -> Any:
        try:
            from hee_monitor.action.alerts import AlertRouter
        except ModuleNotFoundError:
            result.notes.append("the alert router is not in this build: alerts are recorded only")
            return None
        from hee_monitor.action.alerts.channels import ConsoleNotifier
        from hee_monitor.action.alerts.matrix import DEFAULT_MATRIX

        # the default escalation matrix with only the console channel configured
        return AlertRouter(
            audit.engine,
            self.clock,
            notifiers={"console": ConsoleNotifier(console=self._alert_console)},
            matrix=DEFAULT_MATRIX,
        )

    def _engine(
        self,
        repo: Path,
        audit: AuditStore,
        capsule: SignedCapsule,
        source: Any,
        origin: Path,
        result: DemoResult,
    ) -> Any:
        try:
            from hee_monitor.action.fixes.engine import EngineOptions, FixEngine, Mode
        except ModuleNotFoundError:
            result.notes.append("the fix engine is not in this build: no fixes are attempted")
            return None
        return lambda run_id: FixEngine(
            repo,
            store=audit.engine,
            clock=self.clock,
            capsule=capsule,
            options=EngineOptions(
                mode=Mode.HEE_SAFE,
                repository=REPOSITORY,
                run_id=run_id,
                base_branch="main",
            ),
            pull_requests=ForgePullRequests(source, origin),
            rerun=source,
        )

    def _show(self, report: CycleReport, result: DemoResult) -> None:
        for rec in report.recoveries:
            if rec.from_state == rec.to_state:
                self.say(f"  re-run    {'; '.join(rec.reasons)}, state unchanged")
                continue
            self.say(
                f"  recovered {rec.from_state.value} → [bold]{rec.to_state.value}[/] "
                f"({'; '.join(rec.reasons)})"
            )
        self._show_alerts(resolved_only=True)
        for run in report.runs:
            if run.decision is None:
                self.say(f"  {run.key}: skipped ({'; '.join(run.skipped)})")
                continue
            for diagnosis in run.diagnoses:
                for f in diagnosis.failures[:1]:
                    self.say(
                        f"  detected  [bold]{f.pattern_id}[/] ({f.category}, {f.severity.value}): "
                        f"{f.title}"
                    )
            d = run.decision
            self.say(f"  decided   {', '.join(a.value for a in d.actions)}")
            if d.from_state != d.to_state:
                self.say(f"  state     {d.from_state.value} → [bold]{d.to_state.value}[/]")
            if run.rerun_requested:
                self.say("  re-run    failed jobs re-run on GitHub (the fake)")
        result.states.append(report.state_after.value)

    def _fix(self, engine: Any, outcome: RunOutcome, result: DemoResult) -> None:
        if engine is None or not outcome.fix_required or outcome.rerun_requested:
            return
        findings: list[Finding] = [
            f
            for d in outcome.diagnoses
            for f in d.failures
            if f.fix_strategy and f.fix_strategy != "rerun"
        ]
        if not findings:
            return
        from hee_monitor.action.fixes.outcomes import ApprovalRequested, FixApplied, FixRolledBack

        run_id = outcome.key.split("#", 1)[-1].split(".", 1)[0]
        fixed = engine(run_id).execute_fix(findings[0])
        if isinstance(fixed, FixApplied):
            self.say(
                f"  fixed     {fixed.strategy} validated, committed on [bold]{fixed.branch}[/]"
            )
            if fixed.pull_request:
                self.say(f"  PR        {fixed.pull_request}")
        elif isinstance(fixed, FixRolledBack):
            self.say(f"  [bold red]rolled back[/] {fixed.strategy}: {fixed.reason}")
            result.rollbacks.append(f"{fixed.pattern_id}: {fixed.reason}")
        elif isinstance(fixed, ApprovalRequested):
            self.say(f"  approval  requested ({fixed.reason})")
        else:
            self.say(f"  fix       {fixed.kind}: {getattr(fixed, 'reason', '')}")

    def _coverage(self, capsule: SignedCapsule, result: DemoResult) -> None:
        try:
            from hee_monitor.analysis.coverage.analyze import Targets, analyze, apply_to_capsule
            from hee_monitor.analysis.coverage.readers import read_report
        except ModuleNotFoundError:
            result.notes.append("the coverage analyzer is not in this build")
            return
        report = self.workdir / "coverage.xml"
        report.write_text(COVERAGE_XML, encoding="utf-8")
        analysis = analyze(read_report(report), targets=Targets(COVERAGE_TARGETS))
        capsule.update(lambda p: apply_to_capsule(p, analysis), now=self.clock.now())
        short = {g.metric for g in analysis.gaps}
        measured = []
        for name, target in COVERAGE_TARGETS.items():
            metric = analysis.metrics.get(name)
            percent = analysis.total.percent if name == "total" else metric and metric.percent
            if percent is None:
                continue  # not in this report (e.g. function coverage from Cobertura)
            verdict = "[bold]below[/]" if name in short else "met"
            measured.append(f"{name} {percent:.1f}% (target {target:g}%, {verdict})")
        self.say(
            "\n[bold cyan]Coverage[/] of the test job, measured against the targets: "
            + "; ".join(measured)
        )

    def _flush(self, router: Any) -> None:
        if router is not None:
            router.flush(self.clock.now() + timedelta(hours=2))

    def _verify_and_report(self, store: CapsuleDirectory, result: DemoResult) -> None:
        from hee_monitor.record.reports import load_report, render_html, render_markdown

        checker = CapsuleDirectory(store.directory, None, store.trusted_keys)
        chain = checker.verify_chain(now=self.clock.now())
        live = checker.load(now=self.clock.now())
        self.say(
            f"\n[bold]capsule[/] version {live.version} signed by {live.keyids[0][:16]}…, "
            f"hash chain verified back to version {chain.oldest_version} "
            f"({chain.checked} checked)"
        )
        model = load_report(
            store.current_path,
            now=self.clock.now(),
            trusted=[str(result.public_key)],
            database=result.database,
            coverage_targets=COVERAGE_TARGETS,
            env={},
        )
        result.report_html = self.workdir / "report.html"
        result.report_html.write_text(render_html(model), encoding="utf-8")
        result.report_markdown = self.workdir / "report.md"
        result.report_markdown.write_text(render_markdown(model), encoding="utf-8")

    def _summary(self, result: DemoResult) -> None:
        rows = [
            ("HTML report (open in a browser)", str(result.report_html)),
            ("Markdown report", str(result.report_markdown)),
            ("signed state capsule", str(result.capsule_dir / "current.json")),
            ("capsule history and backups", str(result.capsule_dir)),
            ("public key (verify with it)", str(result.public_key)),
            ("audit store (SQLite)", result.database),
            ("scratch repository (fix branches)", str(result.repo)),
        ]
        # paths are for copying: one line each, never cut or broken by the console
        width = max(len(name) for name, _ in rows)
        self.console.print()
        self.console.print("[bold]Where everything is[/]")
        for name, path in rows:
            self.console.print(f"  {name:<{width}}  {path}", highlight=False, soft_wrap=True)
        for url in result.pull_requests:
            self.say(f"pull request opened on the fake GitHub: {url}")
        for note in result.notes:
            self.say(f"[yellow]note:[/] {note}")
        # a command to copy: one line, never broken by the console's wrapping
        self.console.print(
            "\nTry: hee-monitor capsule verify "
            f"--input {result.capsule_dir / 'current.json'} --trusted-key {result.public_key}",
            highlight=False,
            soft_wrap=True,
        )


def play(workdir: Path, console: Console | None = None) -> DemoResult:
    """Run the demo in ``workdir`` (created if missing; must be empty)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if any(workdir.iterdir()):
        from hee_monitor.core.errors import UsageError

        raise UsageError(
            f"{workdir} is not empty",
            hint="pass an empty or new directory to --workdir (the demo creates its files)",
        )
    return Demo(workdir.resolve(), console or Console()).run()


def run_demo(workdir: Path | None) -> int:
    if shutil.which("git") is None:
        raise HeeError("the demo needs git on PATH", hint="install git and run it again")
    chosen = workdir or Path(tempfile.mkdtemp(prefix="hee-monitor-demo-"))
    play(chosen)
    return 0
