"""``hee-monitor monitor``: watch repositories, diagnose every failed job once, decide, record.

Modes: ``hee`` (one cycle, the scheduled CI job), ``continuous`` (loop with adaptive
polling until SIGTERM/SIGINT), ``pre-commit`` (local logs and JUnit reports; exit 1 on a
critical finding). ``--run-id`` shows one run in detail; ``--wait-for-commit`` waits for a
commit's workflows and reports them.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import click

from hee_monitor.action.fixes.inputs import diagnosis_next_to
from hee_monitor.core.clock import SystemClock
from hee_monitor.core.config import load_config
from hee_monitor.core.errors import ConfigError, HeeError, SourceError, UsageError
from hee_monitor.core.models import Diagnosis, Finding, HealthState, JobRecord, Severity
from hee_monitor.record.state import read_state
from hee_monitor.service import wiring
from hee_monitor.service.cycle import CycleReport, MonitorCycle
from hee_monitor.sources.interface import Forge, Skipped

MODES = ("hee", "continuous", "pre-commit", "effects")


@click.command("monitor")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="hee",
    show_default=True,
    help="hee: one cycle; continuous: loop until stopped; pre-commit: local files; "
    "effects: only perform the decided side effects (a worker of its own), until stopped.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (default $HEE_CONFIG or ./hee-monitor.toml).",
)
@click.option("--repo", "repos", multiple=True, help="owner/name to watch (repeatable).")
@click.option("--api-url", help="GitHub API root (GitHub Enterprise: https://HOST/api/v3).")
@click.option("--database", help="Audit store URL (default: [monitor] database).")
@click.option("--state-capsule", "capsule", help="State capsule file to read and update.")
@click.option(
    "--alert-level",
    type=click.Choice([s.value for s in Severity]),
    default=None,
    help="Send alerts of this severity or worse; record the rest as muted.",
)
@click.option(
    "--junit",
    "junit",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="pre-commit: JUnit XML report to check (repeatable).",
)
@click.option("--run-id", type=int, help="Show one workflow run in detail.")
@click.option("--attempt", type=int, default=1, show_default=True, help="Run attempt for --run-id.")
@click.option(
    "--hee-context", is_flag=True, help="With --run-id: add state, incidents and the decision."
)
@click.option("--detailed", is_flag=True, help="With --run-id: show every finding's evidence.")
@click.option(
    "--wait-for-commit",
    "commit",
    metavar="SHA",
    help="Wait for this commit's workflows to finish, report them, run one cycle.",
)
@click.option(
    "--timeout",
    type=float,
    default=3600,
    show_default=True,
    help="Seconds --wait-for-commit waits.",
)
@click.option(
    "--lookback-hours",
    type=float,
    default=24,
    show_default=True,
    help="Runs older than this are not picked up on the first poll.",
)
@click.option("--max-cycles", type=int, default=None, help="continuous: stop after N cycles.")
@click.option(
    "--webhook-port",
    type=int,
    default=None,
    help="continuous: also listen for GitHub webhooks (secret: $HEE_WEBHOOK_SECRET) "
    "on this port; a failed-run delivery starts the next cycle at once.",
)
@click.option("--webhook-host", default="127.0.0.1", show_default=True)
@click.option(
    "--diagnosis-output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="hee: write the diagnoses of runs decided for a fix here, as JSON Lines, for "
    "`fix apply` [default: hee-diagnosis.json next to the state capsule].",
)
@click.option(
    "--llm/--no-llm",
    "llm",
    default=None,
    help="Ask the local model about logs no pattern explains (default: as for analyze, "
    "on with an [llm] section, HEE_LLM=1 or OLLAMA_HOST).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def monitor(
    files: tuple[Path, ...],
    mode: str,
    config_file: Path | None,
    repos: tuple[str, ...],
    api_url: str | None,
    database: str | None,
    capsule: str | None,
    alert_level: str | None,
    junit: tuple[Path, ...],
    run_id: int | None,
    attempt: int,
    hee_context: bool,
    detailed: bool,
    commit: str | None,
    timeout: float,
    lookback_hours: float,
    max_cycles: int | None,
    webhook_port: int | None,
    webhook_host: str,
    diagnosis_output: Path | None,
    llm: bool | None,
    fmt: str,
) -> int:
    """Watch repositories: diagnose each failed job once, decide, move the health state.

    \b
    Examples:
      hee-monitor monitor --repo octo/app --alert-level high   one cycle (CI job)
      hee-monitor monitor --mode continuous --repo octo/app    poll until SIGTERM/SIGINT
      hee-monitor monitor --repo octo/app --run-id 123456 --hee-context --detailed
      hee-monitor monitor --mode pre-commit build.log --junit report.xml

    Exit codes: 0 done; 1 a critical finding (pre-commit) or a failed workflow
    (--wait-for-commit); 2 bad configuration; 3 (one cycle) no repository could be read
    (GitHub unreachable, no access). Reads $GITHUB_TOKEN, $HEE_CONFIG, $HEE_REPOS,
    $HEE_DATABASE_URL, $HEE_WEBHOOK_SECRET; in Actions writes $GITHUB_OUTPUT and
    $GITHUB_STEP_SUMMARY.
    """
    env = dict(os.environ)
    if api_url:
        env["HEE_GITHUB_API_URL"] = api_url
    config = load_config(config_file, env)
    level = Severity(alert_level or config.data["monitor"].get("alert_level", "low"))
    clock = SystemClock()
    if mode == "pre-commit":
        return _pre_commit(files, junit, fmt)
    if files or junit:
        raise UsageError("log files and --junit are for --mode pre-commit")
    capsule_template = capsule or config.state_capsule
    watched = list(repos) or list(config.repos)
    if is_per_repository(capsule_template):
        database_template = database or config.database
        _check_per_repository(capsule_template, database_template, diagnosis_output)
        pipelines = [
            wiring.build(
                config,
                clock=clock,
                repos=[repo],
                capsule_path=fill_repository(capsule_template, repo),
                database=fill_repository(database_template, repo),
                lookback_hours=lookback_hours,
                llm=llm,
            )
            for repo in watched
        ]
        handovers = [
            Path(fill_repository(str(diagnosis_output), repo))
            if diagnosis_output
            else diagnosis_next_to(Path(fill_repository(capsule_template, repo)))
            for repo in watched
        ]
        if not pipelines:
            raise ConfigError(
                "no repositories to watch",
                hint="name them with --repo owner/name, HEE_REPOS, "
                'or [github] repos = ["owner/name"] in hee-monitor.toml',
            )
        if (run_id is not None or commit) and len(pipelines) != 1:
            raise UsageError(
                "--run-id and --wait-for-commit need exactly one repository",
                hint="pass --repo owner/name",
            )
    else:
        pipelines = [
            wiring.build(
                config,
                clock=clock,
                repos=repos or None,
                capsule_path=capsule,
                database=database,
                lookback_hours=lookback_hours,
                llm=llm,
            )
        ]
        handovers = [diagnosis_output or diagnosis_next_to(Path(capsule_template))]
    w, handover = pipelines[0], handovers[0]
    if run_id is not None:
        return _one_run(w, run_id, attempt, hee_context, detailed, fmt)
    if commit:
        return _wait_for_commit(w, commit, timeout, level, fmt, handover)
    if mode == "continuous":
        return _continuous(pipelines, level, max_cycles, fmt, webhook_host, webhook_port)
    if mode == "effects":
        return _effects_worker(pipelines, level, max_cycles)
    if len(pipelines) == 1:
        report = _cycle(w, level).run_once() if not _is_tty() else _with_progress(w, level)
        _emit(report, fmt)
        handed = write_fix_diagnoses(report, handover, w)
        _github_outputs(report, handover, fix=handed > 0)
        return _fatal(report) or _none_checked(watched, [report])
    reports = [_cycle(p, level).run_once() for p in pipelines]
    for repo, report, path, p in zip(watched, reports, handovers, pipelines, strict=True):
        write_fix_diagnoses(report, path, p)
        if fmt == "text":
            click.echo(f"== {repo}")
            _emit(report, fmt)
    if fmt == "json":
        cycles = [
            {"repository": repo, "diagnosis": str(path), **report.to_json()}
            for repo, report, path in zip(watched, reports, handovers, strict=True)
        ]
        click.echo(json.dumps({"cycles": cycles}, indent=2))
    _github_outputs_per_repository(list(zip(watched, reports, strict=True)))
    return max((_fatal(r) for r in reports), default=0) or _none_checked(watched, reports)


#: exit status of a one-shot cycle that could read no repository at all, or whose token
#: GitHub rejected
NOT_CHECKED = 3


def _fatal(report: CycleReport) -> int:
    """:data:`NOT_CHECKED` with the reason when the cycle had to stop (GitHub rejected the
    token): such a cycle checked nothing and must never pass for a healthy one."""
    if report.fatal is None:
        return 0
    click.echo(f"hee-monitor: error: {report.fatal}", err=True)
    click.echo(
        "hint: check GITHUB_TOKEN (or --token): it may be mistyped, expired or revoked",
        err=True,
    )
    return NOT_CHECKED


def _none_checked(watched: list[str], reports: list[CycleReport]) -> int:
    """0, or :data:`NOT_CHECKED` (with a message) when every repository was skipped as a
    whole (GitHub unreachable, no access): a scheduled job that checked nothing must not
    pass for one that found nothing. Some repositories skipped: their skips are in the
    report and the cycle still counts."""
    skipped = {s.repo for r in reports for s in r.skipped if s.run_id is None}
    # a repository whose runs were handled was read, even if the deadline cut it short
    skipped -= {o.repo for r in reports for o in (*r.runs, *r.waiting)}
    if not watched or not set(watched) <= skipped:
        return 0
    reasons = sorted({s.reason for r in reports for s in r.skipped if s.run_id is None})
    click.echo(
        f"hee-monitor: error: no repository could be checked ({'; '.join(reasons)[:500]})",
        err=True,
    )
    click.echo(
        "hint: check network access to the GitHub API (--api-url / HEE_GITHUB_API_URL) and "
        "that GITHUB_TOKEN can read the repositories",
        err=True,
    )
    return NOT_CHECKED


#: placeholders of a per-repository path: state_capsules/{owner}/{name}/current.json
_PLACEHOLDERS = ("{owner}", "{name}")


def is_per_repository(template: str) -> bool:
    return any(p in template for p in _PLACEHOLDERS)


def fill_repository(template: str, repo: str) -> str:
    """``template`` with ``{owner}`` and ``{name}`` of ``repo`` (owner/name) filled in."""
    owner, _, name = repo.partition("/")
    return template.replace("{owner}", owner).replace("{name}", name)


def _check_per_repository(capsule: str, database: str, diagnosis: Path | None) -> None:
    """One capsule per repository needs everything per repository: the audit store holds
    the pipeline's state history, and sharing it would mix repositories' health."""
    for what, template in (
        ("state capsule", capsule),
        ("audit database", database),
        *([("diagnosis output", str(diagnosis))] if diagnosis else []),
    ):
        if not all(p in template for p in _PLACEHOLDERS):
            raise UsageError(
                f"a per-repository state capsule needs a per-repository {what}: "
                f"{template!r} lacks {{owner}} or {{name}}",
                hint="e.g. --state-capsule 'state_capsules/{owner}/{name}/current.json' "
                "--database 'sqlite:///state_capsules/{owner}/{name}/hee-monitor.db'",
            )


def _cycle(
    w: wiring.Wiring, level: Severity, on_run: Callable[[str], None] | None = None
) -> MonitorCycle:
    gh = _gh(w)
    cycle = wiring.cycle(
        w,
        sources=[gh],
        alert_level=level,
        notifier=wiring.notifier(w),
        run_control=gh,
        on_run=on_run,
    )
    # bounded waiting and the wait for unreadable logs ([monitor], see docs/monitor.md)
    settings = w.config.data["monitor"]
    cycle.deadline = float(settings.get("cycle_deadline", 600))
    cycle.poll_concurrency = int(settings.get("poll_concurrency", 16))
    cycle.log_retry_base = timedelta(seconds=float(settings.get("log_retry_base", 30)))
    cycle.log_retry_max = timedelta(seconds=float(settings.get("log_retry_max", 300)))
    cycle.log_wait = timedelta(seconds=float(settings.get("log_wait", 21600)))
    return cycle


def _gh(w: wiring.Wiring) -> Forge:
    if w.forge is None:
        raise UsageError("no repositories to watch", hint="pass --repo owner/name")
    return w.forge


def _is_tty() -> bool:
    return sys.stderr.isatty()


def _with_progress(w: wiring.Wiring, level: Severity) -> CycleReport:
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("polling for failed runs…") as status:
        return _cycle(w, level, on_run=lambda key: status.update(f"analysing {key}…")).run_once()


# -- output ---------------------------------------------------------------------------------


def _emit(report: CycleReport, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    for run in report.runs:
        if run.decision is None:
            click.echo(f"{run.key}: skipped ({'; '.join(run.skipped)})")
            continue
        d = run.decision
        cause = next((f.title for diag in run.diagnoses for f in diag.failures), "unexplained")
        moved = f" [{d.from_state.value} → {d.to_state.value}]" if d.triggers else ""
        click.echo(f"{run.key}: {cause} → {', '.join(a.value for a in d.actions)}{moved}")
        for reason in d.reasons:
            click.echo(f"    {reason}")
    for skip in report.skipped:
        where = f"{skip.repo} run {skip.run_id}" if skip.run_id else skip.repo
        click.echo(f"skipped {where}: {skip.reason}")
    for waiting in report.waiting:
        click.echo(f"{waiting.key}: waiting for log ({waiting.waiting})")
    for effect in report.effects:
        if effect.status in ("retry", "dead"):
            verb = "will be retried" if effect.status == "retry" else "given up"
            click.echo(f"effect {effect.intent.key} {verb}: {effect.detail}")
    if report.fatal is not None:
        click.echo(f"stopped: {report.fatal}")
        return
    for rec in report.recoveries:
        if rec.triggers:
            click.echo(
                f"recovered: {rec.from_state.value} → {rec.to_state.value} "
                f"({'; '.join(rec.reasons)})"
            )
    waiting_note = f", {len(report.waiting)} waiting for log" if report.waiting else ""
    click.echo(
        f"{len(report.runs)} new failed run(s){waiting_note}; state {report.state_after.value}; "
        f"fix_required={'true' if report.fix_required else 'false'}"
    )


def summary_markdown(report: CycleReport) -> str:
    lines = [
        "## hee-monitor",
        "",
        f"Pipeline state: **{report.state_after.value}**"
        + (
            f" (was {report.state_before.value})"
            if report.state_after != report.state_before
            else ""
        ),
        "",
    ]
    if report.runs:
        lines += ["| run | root cause | severity | actions | state |", "|---|---|---|---|---|"]
        for run in report.runs:
            root = next((f for d in run.diagnoses for f in d.failures), None)
            d = run.decision
            name = f"[{run.key}]({run.url})" if run.url else run.key
            cause = (root.title if root else "unexplained").replace("|", "\\|")
            lines.append(
                f"| {name} | {cause} | {root.severity.value if root else '-'} | "
                f"{', '.join(a.value for a in d.actions) if d else 'skipped'} | "
                f"{d.to_state.value if d else '-'} |"
            )
    else:
        lines.append("No new failed runs.")
    if report.skipped:
        lines += [
            "",
            f"{len(report.skipped)} item(s) skipped: "
            + "; ".join(s.reason for s in report.skipped[:5]),
        ]
    lines += ["", f"fix_required: `{'true' if report.fix_required else 'false'}`", ""]
    return "\n".join(lines)


def write_fix_diagnoses(report: CycleReport, path: Path, w: wiring.Wiring | None = None) -> int:
    """Hand the fixable diagnoses to the fix engine: one ``analyze --format json`` object
    per line (plus ``repo``, ``run`` and ``url``) for each job of a run decided for a fix
    whose diagnosis names a fix strategy. Written every cycle, empty when there is nothing
    to fix, so a later ``fix apply`` never acts on an earlier cycle's findings. With the
    pipeline ``w``, the hand-overs are the durable intents its decisions queued and not yet
    handed over (a crash between a decision and this file hands them over next time); they
    are marked handed over once the file is written. Returns the number written."""
    from hee_monitor.record.capsule.fsutil import atomic_write

    written: list[str] = []

    def write(lines: list[str]) -> None:
        text = "".join(line + "\n" for line in lines)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, text.encode("utf-8"))
        except OSError as exc:
            raise UsageError(
                f"cannot write the diagnosis file {path}: {exc.strerror or exc}",
                hint="pass --diagnosis-output FILE in a writable directory",
            ) from exc
        written.extend(lines)

    if w is not None:
        from hee_monitor.service.effects import EffectStore

        EffectStore(w.audit.engine).take(
            "fix_handover",
            lambda intents: write([json.dumps(i.payload, ensure_ascii=False) for i in intents]),
            now=w.clock.now(),
        )
        return len(written)
    lines = []
    for run in report.runs:
        fix = run.decision.fix if run.decision is not None else None
        if not run.fix_required or fix is None:
            continue
        for diagnosis in run.diagnoses:
            if diagnosis.failures and diagnosis.failures[0].fingerprint == fix.fingerprint:
                data = {**diagnosis.to_json(), "repo": run.repo, "run": run.key, "url": run.url}
                lines.append(json.dumps(data, ensure_ascii=False))
    write(lines)
    return len(written)


_STATE_ORDER = ("operational", "maintenance", "degraded", "failed")


def _github_outputs_per_repository(reports: Sequence[tuple[str, CycleReport]]) -> None:
    """Step outputs for several pipelines: fix_required if any needs a fix, the worst
    health state, the sum of new failures, and the repositories that need a fix (each
    one's diagnosis lies next to its own capsule)."""
    out = os.environ.get("GITHUB_OUTPUT")
    if out:
        fixing = [repo for repo, r in reports if r.fix_required]
        worst = max((r.state_after.value for _, r in reports), key=_STATE_ORDER.index)
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(f"fix_required={'true' if fixing else 'false'}\n")
            fh.write(f"health_state={worst}\n")
            fh.write(f"new_failures={sum(len(r.runs) for _, r in reports)}\n")
            fh.write(f"fix_required_repos={' '.join(fixing)}\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            for repo, report in reports:
                fh.write(summary_markdown(report).replace("## hee-monitor", f"## {repo}", 1))


def _github_outputs(
    report: CycleReport, diagnosis: Path | None = None, *, fix: bool | None = None
) -> None:
    """Step outputs and job summary when running inside GitHub Actions. ``fix``: whether
    diagnoses were handed over (default: whether this cycle decided a fix)."""
    out = os.environ.get("GITHUB_OUTPUT")
    if out:
        needed = report.fix_required if fix is None else fix
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(f"fix_required={'true' if needed else 'false'}\n")
            fh.write(f"health_state={report.state_after.value}\n")
            fh.write(f"new_failures={len(report.runs)}\n")
            if diagnosis is not None:
                fh.write(f"diagnosis={diagnosis}\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(summary_markdown(report))


# -- continuous -------------------------------------------------------------------------------


@contextmanager
def _stop_on_signals(stop: threading.Event, wake: threading.Event) -> Iterator[None]:
    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()  # finish the current run, write state, then leave
        wake.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _webhooks(host: str, port: int | None, wake: threading.Event) -> Iterator[None]:
    """Listen for webhook deliveries; each failed run only wakes the loop (the poll that
    follows picks the run up and records it, so exactly-once stays with the audit store)."""
    if port is None:
        yield
        return
    from hee_monitor.cli.serve import build_server

    server = build_server(host, port, on_run=lambda _repo, _run, _attempt: wake.set())
    server.start()
    click.echo(f"hee-monitor: listening for GitHub webhooks on {server.url}", err=True)
    try:
        yield
    finally:
        server.stop()


def _continuous(
    pipelines: Sequence[wiring.Wiring],
    level: Severity,
    max_cycles: int | None,
    fmt: str,
    webhook_host: str,
    webhook_port: int | None,
) -> int:
    """Poll every pipeline (one per capsule) in turn; wait the shortest interval any of
    their health states asks for."""
    stop, wake = threading.Event(), threading.Event()
    each = [(w, _cycle(w, level)) for w in pipelines]
    for _, cycle in each:
        cycle.should_stop = stop.is_set  # finish the current run, not the whole backlog
    cycles = 0
    with _stop_on_signals(stop, wake), _webhooks(webhook_host, webhook_port, wake):
        while not stop.is_set():
            wake.clear()
            intervals = []
            for w, cycle in each:
                try:
                    report = cycle.run_once()
                except HeeError as exc:  # e.g. the store is briefly unreachable: next time
                    click.echo(f"hee-monitor: cycle failed: {exc.message}", err=True)
                    report = None
                if report is not None and report.fatal is not None:
                    return _fatal(report)  # a rejected token: no point polling on
                if report is not None and (report.runs or report.recoveries or report.waiting):
                    if len(each) > 1 and fmt == "text":
                        click.echo(f"== {w.capsule.load().get('repository', '')}")
                    _emit(report, fmt)
                    sys.stdout.flush()
                state = report.state_after if report else read_state(w.capsule.load()).state
                intervals.append(w.config.interval(state))
                if stop.is_set():
                    break
            cycles += 1
            if max_cycles is not None and cycles >= max_cycles:
                break
            wake.wait(min(intervals))  # a webhook delivery or a signal cuts it short
    click.echo(f"hee-monitor: stopped after {cycles} cycle(s)", err=True)
    return 0


def _effects_worker(
    pipelines: Sequence[wiring.Wiring], level: Severity, max_cycles: int | None
) -> int:
    """Perform due effects (re-runs, alerts, escalation occurrences) in a loop, polling
    nothing; safe next to monitors on the same store (each intent is claimed)."""
    stop, wake = threading.Event(), threading.Event()
    each = [_cycle(w, level) for w in pipelines]
    rounds = 0
    with _stop_on_signals(stop, wake):
        while not stop.is_set():
            for cycle in each:
                try:
                    for result in cycle.perform_due():
                        click.echo(
                            json.dumps(
                                {
                                    "effect": result.intent.key,
                                    "status": result.status,
                                    "detail": result.detail,
                                    "reconciled": result.reconciled,
                                }
                            )
                        )
                except SourceError as exc:
                    if getattr(exc, "fatal", False):
                        click.echo(f"hee-monitor: error: {exc.message}", err=True)
                        return NOT_CHECKED
                    click.echo(f"hee-monitor: effects failed: {exc.message}", err=True)
                except HeeError as exc:
                    click.echo(f"hee-monitor: effects failed: {exc.message}", err=True)
            rounds += 1
            if max_cycles is not None and rounds >= max_cycles:
                break
            wake.wait(min(w.config.interval(HealthState.FAILED) for w in pipelines))
    return 0


# -- one run, a commit ------------------------------------------------------------------------


def _single_repo(w: wiring.Wiring) -> str:
    repos = list(_gh(w).repos)
    if len(repos) != 1:
        raise UsageError(
            "--run-id and --wait-for-commit need exactly one repository",
            hint="pass --repo owner/name",
        )
    return str(repos[0])


def _one_run(
    w: wiring.Wiring, run_id: int, attempt: int, hee_context: bool, detailed: bool, fmt: str
) -> int:
    repo = _single_repo(w)
    item = _gh(w).fetch_failed_run(repo, run_id, attempt)
    if isinstance(item, Skipped):
        raise UsageError(f"{repo} run {run_id}: {item.reason}")
    analyzer = wiring.analyzer(w)
    diagnoses: list[tuple[str, Diagnosis | None, str]] = []
    for job in item.jobs:
        if job.open_log is None:
            diagnoses.append((job.name, None, "log not available"))
            continue
        try:
            diagnoses.append((job.name, analyzer.analyze_stream(job.open_log(), job.name), ""))
        except HeeError as exc:
            diagnoses.append((job.name, None, exc.message))
    data: dict[str, Any] = {
        "run": item.key,
        "url": item.html_url,
        "workflow": item.workflow,
        "branch": item.branch,
        "head_sha": item.head_sha,
        "conclusion": item.conclusion,
        "jobs": [
            {"name": n, "diagnosis": d.to_json() if d else None, "note": note}
            for n, d, note in diagnoses
        ],
    }
    if hee_context:
        payload = w.capsule.load()
        state = read_state(payload).state
        # the monitor's own path: the same history, skip flag, settings and policy
        records = [
            JobRecord(job, diag, note or None)
            for job, (_, diag, note) in zip(item.jobs, diagnoses, strict=True)
        ]
        cycle = _cycle(w, Severity.LOW)
        records = cycle.prepare(item, records)
        _, decision = cycle.decide_run(item, records, state, w.clock.now())
        data["hee_context"] = {
            "state": state.value,
            "status_since": read_state(payload).since,
            "capsule_version": payload.get("version"),
            "open_incidents": payload.get("open_incidents", []),
            "decision (not applied)": decision.to_json(),
        }
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return 0
    click.echo(
        f"{item.key} {item.workflow} on {item.branch or item.head_sha[:7]}: "
        f"{item.conclusion}  {item.html_url or ''}"
    )
    for name, diag, note in diagnoses:
        if diag is None:
            click.echo(f"  job {name}: not analysed ({note})")
            continue
        if diag.unexplained:
            click.echo(f"  job {name}: no known pattern explains the log")
        for f in diag.failures:
            _print_finding(f, detailed)
    if hee_context:
        ctx = data["hee_context"]
        click.echo(
            f"  state: {ctx['state']} since {ctx['status_since']}; "
            f"open incidents: {len(ctx['open_incidents'])}"
        )
        d = ctx["decision (not applied)"]
        click.echo(
            f"  decision: {', '.join(d['actions'])}; triggers: {', '.join(d['triggers']) or 'none'}"
        )
        for reason in d["reasons"]:
            click.echo(f"    {reason}")
    return 0


def _print_finding(f: Finding, detailed: bool) -> None:
    click.echo(
        f"  [{f.severity.value}] {f.pattern_id}: {f.title} ({f.owner or 'unknown'}, "
        f"risk {f.risk}{', transient' if f.transient else ''})"
    )
    if detailed:
        for ev in f.evidence:
            click.echo(f"    lines {ev.start_line}-{ev.end_line}:")
            for line in ev.text.splitlines()[:12]:
                click.echo(f"      {line}")


def _wait_for_commit(
    w: wiring.Wiring, sha: str, timeout: float, level: Severity, fmt: str, handover: Path
) -> int:
    repo = _single_repo(w)
    result = _gh(w).wait_for_commit(repo, sha, timeout)
    report = _cycle(w, level).run_once()
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "repo": repo,
                    "sha": sha,
                    "complete": result.complete,
                    "succeeded": result.succeeded,
                    "runs": [
                        {
                            "workflow": r.workflow,
                            "run_id": r.run_id,
                            "status": r.status,
                            "conclusion": r.conclusion,
                        }
                        for r in result.runs
                    ],
                    "cycle": report.to_json(),
                },
                indent=2,
            )
        )
    else:
        for r in result.runs:
            click.echo(f"{r.workflow}: {r.conclusion or r.status} (run {r.run_id})")
        if not result.complete:
            click.echo(f"not finished after {timeout:.0f}s")
        _emit(report, "text")
    write_fix_diagnoses(report, handover, w)
    _github_outputs(report, handover)
    return _fatal(report) or (0 if result.succeeded else 1)


# -- pre-commit --------------------------------------------------------------------------------


def _pre_commit(files: Sequence[Path], junit: Sequence[Path], fmt: str) -> int:
    from hee_monitor.analysis.junit import parse_junit

    paths = [*files, *junit]
    if not paths:
        raise UsageError(
            "no log files or JUnit reports given",
            hint="hee-monitor monitor --mode pre-commit build.log --junit report.xml",
        )
    for path in paths:
        if not path.is_file():
            raise UsageError(f"{path}: not a readable file")
    from hee_monitor.sources.local.source import LocalSource

    analyzer = wiring.pattern_analyzer()
    results: list[tuple[str, list[Finding]]] = []
    logs = [p for p in files if p.suffix.lower() not in (".xml", *_REPORT_SUFFIXES)]
    reports = [p for p in files if p.suffix.lower() == ".xml"] + list(junit)
    structured = [p for p in files if p.suffix.lower() in _REPORT_SUFFIXES]
    if logs:
        # the local source streams each log as one failed job, in the order given
        try:
            local = LocalSource(logs, repo="local/pre-commit")
        except SourceError as exc:  # a damaged archive: bad input, not a finding
            raise UsageError(exc.message, hint=exc.hint) from None
        for item in local.poll():
            if isinstance(item, Skipped):
                raise UsageError(f"cannot read the logs: {item.reason}")
            for name, job in zip(local.log_names, item.jobs, strict=False):
                if job.open_log is None:
                    continue
                diagnosis = analyzer.analyze_stream(job.open_log(), name)
                results.append((name, list(diagnosis.failures)))
    # JUnit reports are parsed for their failed test cases, one finding per case
    for path in reports:
        results.append((str(path), parse_junit(path)))
    # SARIF, dependency audit and license reports (see docs/detection.md)
    results += _structured_reports(structured)
    critical = [f for _, found in results for f in found if f.severity is Severity.CRITICAL]
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "files": [
                        {"path": p, "findings": [f.to_json() for f in found]}
                        for p, found in results
                    ],
                    "critical": len(critical),
                },
                indent=2,
            )
        )
    else:
        for name, found in results:
            for f in found:
                where = f"{f.evidence[0].start_line}" if f.evidence else "?"
                click.echo(f"{name}:{where}: [{f.severity.value}] {f.pattern_id}: {f.title}")
        total = sum(len(found) for _, found in results)
        click.echo(f"{total} finding(s), {len(critical)} critical in {len(results)} file(s)")
    return 1 if critical else 0


_REPORT_SUFFIXES = (".sarif", ".json")


def _structured_reports(paths: Sequence[Path]) -> list[tuple[str, list[Finding]]]:
    if not paths:
        return []
    from hee_monitor.analysis.detection.artifacts.reader import read_path
    from hee_monitor.analysis.detection.settings import DetectionSettings

    settings = DetectionSettings.from_section(load_config().section("detection"))
    out = []
    for path in paths:
        report = read_path(path, settings)
        for skipped in report.skipped:
            click.echo(f"{skipped.name}: skipped: {skipped.reason}", err=True)
        out.append((str(path), list(report.findings)))
    return out
