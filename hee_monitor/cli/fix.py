"""``hee-monitor fix plan|apply|recover``: the auto-fix engine on the command line."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import Engine

from hee_monitor.action.fixes.config import load_config
from hee_monitor.action.fixes.engine import EngineOptions, FixEngine, Mode
from hee_monitor.action.fixes.inputs import (
    analyze_log,
    diagnosis_next_to,
    load_diagnosis,
    sweep_findings,
)
from hee_monitor.action.fixes.outcomes import (
    ApprovalRequested,
    FixApplied,
    FixOutcome,
    FixPlanned,
    FixRolledBack,
    FixSkipped,
)
from hee_monitor.action.fixes.strategies.interface import Safety
from hee_monitor.core.capsule import CapsuleStore
from hee_monitor.core.clock import SystemClock
from hee_monitor.core.errors import UsageError
from hee_monitor.core.models import Finding, Severity
from hee_monitor.record.db import open_engine

_SEVERITIES = [s.value for s in Severity]


def _findings(
    diagnosis: Path | None,
    log: Path | None,
    mode: Mode,
    strategies: Sequence[str],
    state_capsule: Path | None = None,
) -> list[Finding]:
    if diagnosis is not None and log is not None:
        raise UsageError("give either --diagnosis or --log, not both")
    if diagnosis is not None:
        return load_diagnosis(diagnosis)[1]
    if log is not None:
        return analyze_log(log)[1]
    if mode is Mode.PRE_COMMIT:
        return sweep_findings(strategies)
    if state_capsule is not None:
        # the monitor (scripts/ci_monitor.py --mode hee) leaves its diagnoses here
        beside = diagnosis_next_to(state_capsule)
        if not beside.is_file():
            raise UsageError(
                f"nothing to fix: no --diagnosis given and no {beside.name} next to "
                f"the state capsule ({beside} does not exist)",
                hint="run the monitor first (scripts/ci_monitor.py --mode hee --state-capsule "
                f"{state_capsule}), or pass --diagnosis FILE / set HEE_DIAGNOSIS",
            )
        return load_diagnosis(beside)[1]
    raise UsageError(
        "nothing to fix: no --diagnosis and no --log given",
        hint="hee-monitor analyze --format json LOG > d.json, then --diagnosis d.json "
        "(or set HEE_DIAGNOSIS)",
    )


def _capsule(path: Path | None) -> CapsuleStore | None:
    """A signed capsule (the store's current.json, with HEE_SIGNING_KEY set) is updated
    through the capsule directory, which re-signs it; a plain payload file directly."""
    if path is None:
        return None
    from hee_monitor.core.errors import CapsuleError
    from hee_monitor.record.capsule.access import PlainCapsuleFile, signed_capsule_from_env

    if not path.exists():
        raise CapsuleError(f"state capsule {path} does not exist")
    if path.name == "current.json":
        signed = signed_capsule_from_env(path)
        if signed is not None:
            return signed
    return PlainCapsuleFile(path)


def service_settings(repository: str | None) -> dict[str, Any]:
    """What the service configuration (hee-monitor.toml: ``[policy]``, ``[repos."o/n"]``,
    ``[fix]``) says about fixing this repository; the repository's own file comes on top."""
    from hee_monitor.core.config import load_config as load_service_config

    service = load_service_config()
    policy = service.policy_for(repository or "")
    return {
        "risk_threshold": policy.risk_threshold,
        "protected": policy.protected,
        "max_attempts": policy.max_fix_failures,
        **service.section("fix"),
    }


def _runnable(engine: FixEngine, findings: list[Finding], *, explicit: bool) -> list[Finding]:
    """A local sweep tries only the strategies whose tools and files are here."""
    if explicit or not all(f.source == "local" for f in findings):
        return findings
    kept = []
    for finding in findings:
        strategy = engine.strategies.get(finding.fix_strategy or "")
        if strategy is not None and not strategy.requirements.missing(
            engine.root, engine.env.get("PATH")
        ):
            kept.append(finding)
    return kept


def _store(url: str | None, mode: Mode, dry_run: bool = False) -> Engine:
    if url:
        return open_engine(url)
    if mode is Mode.PRE_COMMIT:
        # a pre-commit hook keeps no history: every commit is a fresh look at the tree
        return open_engine("sqlite:///:memory:")
    # a dry run creates nothing, not even the audit store
    return open_engine(None, read_only=dry_run)


def _github(repository: str | None, api_url: str | None) -> Any:
    """The GitHub source, for the pull request and re-runs; None without a repo or token."""
    token = os.environ.get("HEE_GITHUB_TOKEN") or os.environ.get("GITHUB_TOKEN")
    if not repository or not token:
        return None
    from hee_monitor.core.config import load_config as load_service_config
    from hee_monitor.service.wiring import forge

    return forge(load_service_config(), [repository], token=token, api_url=api_url)


def render(outcome: FixOutcome, detailed: bool) -> str:
    if isinstance(outcome, FixPlanned):
        plan = outcome.plan
        lines = [f"PLAN {outcome.pattern_id} → {plan.strategy}: {plan.description}"]
        lines.append(f"  decision: {outcome.decision} (risk {outcome.risk}/10, {plan.safety})")
        if detailed:
            for command in plan.commands:
                lines.append(f"  run:      {' '.join(command)}")
            for edit in plan.edits:
                lines.append(f"  edit:     {edit}")
            lines.append("  files:    " + (", ".join(plan.files) or "(none)"))
            for check in plan.validation:
                lines.append(f"  validate: {check.describe()}")
        return "\n".join(lines)
    if isinstance(outcome, FixApplied):
        where = f"on branch {outcome.branch}" if outcome.branch else "in the working tree"
        lines = [f"FIXED {outcome.pattern_id} with {outcome.strategy} {where}"]
        if outcome.pull_request:
            lines.append(f"  pull request: {outcome.pull_request}")
        if detailed:
            lines.append("  files: " + ", ".join(outcome.files))
            lines += [f"  validated: {r.name} ({'passed' if r.passed else 'FAILED'})"
                      for r in outcome.validation]  # fmt: skip
        lines += [f"  note: {n}" for n in outcome.notes]
        return "\n".join(lines)
    if isinstance(outcome, FixRolledBack):
        lines = [f"ROLLED BACK {outcome.pattern_id} ({outcome.strategy}): {outcome.reason}"]
        if detailed and outcome.validation_output.strip():
            lines.append("  " + outcome.validation_output.strip()[-2000:].replace("\n", "\n  "))
        return "\n".join(lines)
    if isinstance(outcome, ApprovalRequested):
        return (
            f"APPROVAL NEEDED {outcome.pattern_id} ({outcome.strategy}): {outcome.reason}\n"
            f"  hee-monitor approvals approve {outcome.id} --by NAME --reason TEXT"
        )
    assert isinstance(outcome, FixSkipped)
    return f"SKIPPED {outcome.pattern_id or '-'} ({outcome.strategy or '-'}): {outcome.reason}"


def exit_code(outcomes: Sequence[FixOutcome], mode: Mode) -> int:
    """pre-commit: 1 when files changed (the user re-stages, as with formatters).
    hee-safe: 1 when a fix had to be rolled back."""
    if mode is Mode.PRE_COMMIT:
        return 1 if any(isinstance(o, FixApplied) and o.files for o in outcomes) else 0
    return 1 if any(isinstance(o, FixRolledBack) for o in outcomes) else 0


def _print(outcomes: Sequence[FixOutcome], report: str, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps([o.to_json() for o in outcomes], indent=2))
        return
    for outcome in outcomes:
        click.echo(render(outcome, report == "detailed"))
    if report == "detailed" or len(outcomes) > 1:
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.kind] = counts.get(o.kind, 0) + 1
        click.echo("summary: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


@click.group("fix")
def fix() -> None:
    """Fix what is safe to fix: plan, apply (validated, rolled back on failure), recover.

    \b
    Examples:
      hee-monitor fix plan --log job.log                the plan; nothing changes
      hee-monitor fix apply --log job.log               fix branch + pull request
      hee-monitor fix apply --approval APR-1a2b3c4d5e   run a fix a person approved
      hee-monitor fix recover                           restore a tree after a killed fix
    """


_common = [
    click.option("--diagnosis", type=click.Path(path_type=Path), envvar="HEE_DIAGNOSIS",
                 help="Diagnosis JSON from `hee-monitor analyze --format json` (one object, "
                 "an array or JSON Lines). hee-safe default: hee-diagnosis.json next to "
                 "--state-capsule, as the monitor writes it."),
    click.option("--log", "log_file", type=click.Path(path_type=Path),
                 help="A CI log to analyse on the spot."),
    click.option("--repo-path", type=click.Path(path_type=Path, file_okay=False),
                 default=Path("."), show_default=True, help="The git work tree to fix."),
    click.option("--config", "config_file", type=click.Path(path_type=Path),
                 help="Repository configuration (default: <repo>/.hee-monitor.yml)."),
    click.option("--mode", type=click.Choice([m.value for m in Mode]), default="hee-safe",
                 show_default=True, help="hee-safe: branch + pull request; pre-commit: in place."),
    click.option("--strategy", "strategies", multiple=True,
                 help="pre-commit without a diagnosis: strategies to try (default: all "
                 "high-safety ones whose tools are installed)."),
    click.option("--state-capsule", type=click.Path(path_type=Path),
                 help="State capsule JSON: constraints in, auto_fix_history out."),
    click.option("--max-severity", type=click.Choice(_SEVERITIES),
                 help="Fix only failures at most this severe."),
    click.option("--safety", type=click.Choice([s.value for s in Safety]),
                 help="Apply only fixes at least this safe."),
    click.option("--report", type=click.Choice(["summary", "detailed"]), default="summary",
                 show_default=True),
    click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                 show_default=True),
    click.option("--database", envvar="HEE_DATABASE_URL",
                 help="Audit store URL (attempts, approvals); default hee-monitor.db in "
                 "the state directory ($HEE_STATE_DIR, else $XDG_STATE_HOME/hee-monitor)."),
    click.option("--repo", "repository", envvar="GITHUB_REPOSITORY",
                 help="owner/name on GitHub, for the pull request and re-runs."),
    click.option("--run-id", envvar="GITHUB_RUN_ID", help="The failed run (names the branch)."),
    click.option("--base", "base_branch", help="Base branch of the pull request (default: the "
                 "repository's default branch)."),
    click.option("--remote", default="origin", show_default=True),
    click.option("--api-url", envvar="GITHUB_API_URL", help="GitHub API URL (GHE)."),
]  # fmt: skip


def _with_common(func: Any) -> Any:
    for option in reversed(_common):
        func = option(func)
    return func


def build_engine(
    *,
    repo_path: Path,
    config_file: Path | None,
    mode: str,
    state_capsule: Path | None,
    max_severity: str | None,
    safety: str | None,
    database: str | None,
    repository: str | None,
    run_id: str | None,
    base_branch: str | None,
    remote: str,
    api_url: str | None,
    dry_run: bool,
    push: bool,
) -> FixEngine:
    the_mode = Mode(mode)
    capsule = _capsule(state_capsule)
    if capsule is not None:
        capsule.load()  # a bad capsule is an input error before anything runs
    config = load_config(repo_path, config_file, base=service_settings(repository))
    github = None if dry_run else _github(repository, api_url)
    options = EngineOptions(
        mode=the_mode,
        dry_run=dry_run,
        push=push,
        max_severity=Severity(max_severity) if max_severity else None,
        min_safety=Safety(safety) if safety else None,
        repository=repository,
        run_id=run_id,
        remote=remote,
        base_branch=base_branch,
        count_attempts=the_mode is not Mode.PRE_COMMIT or database is not None,
    )
    return FixEngine(
        repo_path,
        store=_store(database, the_mode, dry_run),
        clock=SystemClock(),
        config=config,
        capsule=capsule,
        options=options,
        pull_requests=None if dry_run or not push else github,
        rerun=None if dry_run else github,
    )


@fix.command("plan")
@_with_common
def plan_cmd(
    diagnosis: Path | None, log_file: Path | None, strategies: tuple[str, ...], report: str,
    fmt: str, **kw: Any,
) -> int:  # fmt: skip
    """Print exactly what would be done (strategy, commands, files, validation); change nothing.

    \b
    Examples:
      hee-monitor fix plan --log job.log                analyse the log, plan its fixes
      hee-monitor analyze --format json job.log > diag.json
      hee-monitor fix plan --diagnosis diag.json --format json
      hee-monitor fix plan --log job.log --safety high --max-severity medium

    Reads $HEE_DIAGNOSIS, $HEE_DATABASE_URL, $GITHUB_REPOSITORY, $GITHUB_RUN_ID.
    """
    engine = build_engine(**kw, dry_run=True, push=False)
    findings = _findings(
        diagnosis, log_file, engine.options.mode, strategies, kw.get("state_capsule")
    )
    outcomes = engine.run(_runnable(engine, findings, explicit=bool(strategies)))
    _print(outcomes, report, fmt)
    return 0


@fix.command("apply")
@_with_common
@click.option("--approval", "approval_id", help="Run the fix of an approved request.")
@click.option(
    "--hee-dry-run", "--dry-run", "dry_run", is_flag=True, help="Print the plan and touch nothing."
)
@click.option("--no-push", is_flag=True, help="Keep the fix branch local: no push, no PR.")
def apply_cmd(
    diagnosis: Path | None, log_file: Path | None, strategies: tuple[str, ...], report: str,
    fmt: str, approval_id: str | None, dry_run: bool, no_push: bool, **kw: Any,
) -> int:  # fmt: skip
    """Apply the fixes: validated, rolled back on failure, committed on a fix branch.

    \b
    Examples:
      hee-monitor fix apply --log job.log --no-push     fix branch, kept local
      hee-monitor fix apply --diagnosis diag.json --repo acme/api   branch + pull request
      hee-monitor fix apply --approval APR-1a2b3c4d5e   run an approved request
      hee-monitor fix apply --mode pre-commit --strategy ruff-fix   in place, as a hook

    Exit codes: hee-safe 0, or 1 when a fix was rolled back; pre-commit 1 when files
    changed (re-stage them); 2 bad input. Reads $GITHUB_TOKEN (or $HEE_GITHUB_TOKEN),
    $GITHUB_REPOSITORY, $GITHUB_RUN_ID, $GITHUB_API_URL, $HEE_DIAGNOSIS, $HEE_DATABASE_URL.
    """
    engine = build_engine(**kw, dry_run=dry_run, push=not no_push)
    if not dry_run:
        for item in engine.recover():
            click.echo(
                f"recovered an interrupted {item.strategy} fix ({item.pattern_id}): "
                f"the tree is restored",
                err=True,
            )
    if approval_id is not None:
        outcomes: list[FixOutcome] = [engine.execute_approved(approval_id)]
    else:
        findings = _findings(
            diagnosis, log_file, engine.options.mode, strategies, kw.get("state_capsule")
        )
        outcomes = engine.run(_runnable(engine, findings, explicit=bool(strategies)))
    _print(outcomes, report, fmt)
    return 0 if dry_run else exit_code(outcomes, engine.options.mode)


@fix.command("recover")
@click.option("--repo-path", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--database", envvar="HEE_DATABASE_URL")
def recover_cmd(repo_path: Path, database: str | None) -> int:
    """Restore the tree of a fix that was interrupted (killed, power loss).

    \b
    Examples:
      hee-monitor fix recover                           the repository in this directory
      hee-monitor fix recover --repo-path ~/src/api --database sqlite:///ci/hee.db

    `fix apply` does this on its own at start-up. Reads $HEE_DATABASE_URL.
    """
    engine = FixEngine(repo_path, store=_store(database, Mode.HEE_SAFE))
    done = engine.recover()
    for item in done:
        click.echo(
            f"restored {item.snapshot_id} ({item.strategy}, {item.pattern_id}): "
            f"{len(item.report.restored)} restored, {len(item.report.deleted)} removed"
        )
    if not done:
        click.echo("nothing to recover")
    return 0


def pre_commit_hook() -> None:
    """Entry point of the ``hee-auto-fix`` pre-commit hook: ``fix staged`` on the files
    pre-commit passes (the staged ones), never the whole tree."""
    from hee_monitor.cli import run

    sys.exit(run(["fix", "staged", *sys.argv[1:]]))


def _add_staged() -> None:
    from hee_monitor.cli.staged import staged

    fix.add_command(staged)


_add_staged()
