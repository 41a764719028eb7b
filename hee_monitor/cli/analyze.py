"""``hee-monitor analyze LOG...``: why did this CI job fail?"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hee_monitor.cli import use_color
from hee_monitor.core.errors import UsageError
from hee_monitor.core.models import Diagnosis, Finding
from hee_monitor.core.redact import redact, redact_data

if TYPE_CHECKING:
    from hee_monitor.analysis.analyzer import Analyzer
    from hee_monitor.analysis.baseline import Baseline
    from hee_monitor.analysis.llm import OllamaClassifier
    from hee_monitor.analysis.logreader import LogSource

#: show a progress bar (on a terminal) from this many logs or this many bytes on
_PROGRESS_LOGS = 5
_PROGRESS_BYTES = 50 * 1024 * 1024
_TEXT_EVIDENCE_LINES = 12


def check_readable(path_arg: str) -> Path | None:
    """The path of a log argument after checking it can be read (None for stdin)."""
    if path_arg == "-":
        return None
    path = Path(path_arg)
    if not path.exists():
        raise UsageError(
            f"log file {path_arg} does not exist",
            hint="check the path, or pass - to read the log from stdin",
        )
    if path.is_dir():
        raise UsageError(
            f"{path_arg} is a directory, not a log file",
            hint=f"pass the log files in it, e.g. {path_arg.rstrip('/')}/*.log",
        )
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise UsageError(
            f"cannot read log file {path_arg}: {exc.strerror or exc}",
            hint="check the file's permissions (it must be readable by you)",
        ) from exc
    return path


@click.command("analyze")
@click.argument("logs", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "github"]),
    default="text",
    show_default=True,
    help="json: one object per log (JSON Lines for several logs); github: workflow "
    "commands that show each finding as an annotation of the Actions run.",
)
@click.option(
    "--patterns",
    "pattern_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra pattern directory or file (repeatable); overrides shipped ids.",
)
@click.option(
    "--junit",
    "junit_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="JUnit XML report whose failed tests are added as findings (repeatable).",
)
@click.option(
    "--no-shipped", is_flag=True, help="Use only the --patterns given, not the shipped ones."
)
@click.option(
    "--baseline",
    "baseline_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Log of a passing run of the same job (the last green one); lines whose message it "
    "printed too are noise, never the root cause (repeatable).",
)
@click.option(
    "--llm/--no-llm",
    "llm",
    default=None,
    help="Ask the local model (Ollama) about logs no pattern explains. Default: on when "
    "hee-monitor.toml has an [llm] section (unless enabled = false), HEE_LLM=1 or "
    "OLLAMA_HOST is set; otherwise off.",
)
@click.option("--llm-model", metavar="NAME", help="Model for the fallback [default: llama3.2].")
@click.option(
    "--llm-host", metavar="URL", help="Ollama server [default: $OLLAMA_HOST or 127.0.0.1:11434]."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (default $HEE_CONFIG or ./hee-monitor.toml); read for [llm].",
)
@click.option(
    "--all-findings",
    is_flag=True,
    help="List every matching pattern as a failure, generic summaries (exit code, BUILD "
    "FAILURE) and overlapping matches included, instead of folding them into the root "
    "cause as 'also matched'.",
)
@click.option("--engine", type=click.Choice(["hyperscan", "re2", "re"]), hidden=True)
def analyze(
    logs: tuple[str, ...],
    fmt: str,
    pattern_dirs: tuple[Path, ...],
    junit_files: tuple[Path, ...],
    no_shipped: bool,
    baseline_files: tuple[Path, ...],
    llm: bool | None,
    llm_model: str | None,
    llm_host: str | None,
    config_file: Path | None,
    all_findings: bool,
    engine: str | None,
) -> int:
    """Tell why a CI job failed: pattern, severity, owner, fix strategy and the log lines
    that prove it. LOG may be - for stdin; with no LOG, a piped stdin is read.

    \b
    Examples:
      hee-monitor analyze job.log
      gh run view 123 --log-failed | hee-monitor analyze --format json -
      hee-monitor analyze --junit report.xml build.log
      hee-monitor analyze --baseline last-green.log failed.log
      hee-monitor analyze --format github job.log   (in an Actions step: annotations)
      hee-monitor analyze --llm --llm-model qwen2.5 job.log
    """
    if not logs and not junit_files and _stdin_piped():
        logs = ("-",)
    if not logs and not junit_files:
        raise UsageError("no log given", hint="pass one or more log files, or - to read from stdin")
    if logs.count("-") > 1:
        raise UsageError("stdin (-) can be read only once", hint="pass - once")
    paths = [(arg, check_readable(arg)) for arg in logs]
    for junit in junit_files:
        check_readable(str(junit))
    baseline = _baseline(baseline_files)

    from hee_monitor.analysis.analyzer import Analyzer
    from hee_monitor.analysis.patterns import load_database

    fallback = _fallback(config_file, llm, llm_model, llm_host)
    analyzer = Analyzer(
        load_database(pattern_dirs, shipped=not no_shipped),
        fallback,
        engine=engine,
        all_findings=all_findings,
    )
    junit_findings = _junit_findings(junit_files)
    diagnoses = _run(analyzer, _sources(paths), baseline)
    if not paths:
        diagnoses = iter([Diagnosis(log=str(junit_files[0]), lines=0, failures=())])
    out = sys.stdout
    for n, diagnosis in enumerate(diagnoses):
        if n == 0 and junit_findings:
            from dataclasses import replace

            diagnosis = replace(diagnosis, failures=(*diagnosis.failures, *junit_findings))
        # the redaction gate at this exit too: details can be added after a finding is made
        if fmt == "json":
            out.write(json.dumps(redact_data(diagnosis.to_json()), ensure_ascii=False) + "\n")
        elif fmt == "markdown":
            out.write(redact(render_markdown(diagnosis)) + "\n")
        elif fmt == "github":
            out.write(redact(render_github(diagnosis, Path.cwd())))
        else:
            out.write(redact(render_text(diagnosis, color=use_color(out))) + "\n")
        out.flush()
    return 0


def _fallback(
    config_file: Path | None, flag: bool | None, model: str | None, host: str | None
) -> OllamaClassifier | None:
    """The LLM fallback when wanted (see :func:`fallback_wanted`); a model or host given on
    the command line means the fallback is wanted unless ``--no-llm`` says otherwise."""
    if flag is None and (model or host):
        flag = True
    if flag is False:
        return None
    from hee_monitor.analysis.llm_switch import fallback_wanted
    from hee_monitor.core.config import load_config

    section = load_config(config_file).section("llm")
    if not fallback_wanted(section, flag):
        return None  # the model client (ollama, httpx, SQLAlchemy) is not even imported
    from hee_monitor.analysis.llm import configured_classifier

    return configured_classifier(section, flag=flag, model=model, host=host)


def _junit_findings(files: Sequence[Path]) -> list[Finding]:
    if not files:
        return []
    from hee_monitor.analysis.junit import parse_junit

    findings: list[Finding] = []
    for path in files:
        findings.extend(parse_junit(path))
    return findings


def _stdin_piped() -> bool:
    """Is stdin a pipe or file someone gave us (not a terminal, not closed)?"""
    try:
        return not sys.stdin.isatty() and sys.stdin.readable()
    except (AttributeError, ValueError, OSError):
        return False


def _sources(paths: list[tuple[str, Path | None]]) -> list[tuple[str, LogSource]]:
    """Each argument's logs: stdin (None), the file, a gzip file's text, or each job log of
    a zip archive (see :func:`~hee_monitor.analysis.logreader.log_sources`)."""
    from hee_monitor.analysis.logreader import log_sources, stdin_sources

    out: list[tuple[str, LogSource]] = []
    for arg, path in paths:
        if path is None:
            out.extend((source.name, source) for source in stdin_sources(sys.stdin.buffer))
            continue
        found = log_sources(path)
        if not found:
            raise UsageError(f"{arg}: the archive holds no file", hint="pass another archive")
        out.extend((source.name, source) for source in found)
    return out


def _baseline(files: Sequence[Path]) -> Baseline | None:
    """The templates of the --baseline logs; a missing, unreadable or binary one is a
    usage error naming it, an empty one has no effect."""
    from hee_monitor.analysis.baseline import load_baseline, merged
    from hee_monitor.core.errors import AnalysisError

    loaded = []
    for path in files:
        try:
            loaded.append(load_baseline(path))
        except AnalysisError as exc:
            raise UsageError(str(exc), hint=exc.hint) from None
    return merged(loaded)


def _run(
    analyzer: Analyzer, logs: list[tuple[str, LogSource]], baseline: Baseline | None = None
) -> Iterator[Diagnosis]:
    sizes = [s.path.stat().st_size if s.path else 0 for _, s in logs]
    show = sys.stderr.isatty() and (len(logs) >= _PROGRESS_LOGS or sum(sizes) >= _PROGRESS_BYTES)
    quiet = logging.getLogger().level >= logging.ERROR  # -q
    if not show or quiet or os.environ.get("HEE_MONITOR_NO_PROGRESS"):
        for _, source in logs:
            yield _one(analyzer, source, baseline)
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("analysing logs", total=len(logs))
        for name, source in logs:
            progress.update(task, description=f"analysing {name}")
            yield _one(analyzer, source, baseline)
            progress.advance(task)


def _one(analyzer: Analyzer, source: LogSource, baseline: Baseline | None = None) -> Diagnosis:
    return analyzer.analyze_source(source, baseline=baseline)


# --- rendering ------------------------------------------------------------------------------


def _evidence_lines(finding: Finding, limit: int) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for ev in finding.evidence:
        for offset, text in enumerate(ev.text.split("\n")):
            out.append((ev.start_line + offset, text))
    return out[:limit]


#: how every format names a finding of a step that ended well (never a root cause)
SUCCEEDED = "in a step that succeeded (not a failure)"


def _succeeded(finding: Finding) -> bool:
    return bool(finding.details.get("step_succeeded"))


def _root(diagnosis: Diagnosis) -> Finding | None:
    """The root cause: the first finding of a step that did not succeed."""
    return next((f for f in diagnosis.failures if not _succeeded(f)), None)


def render_text(diagnosis: Diagnosis, *, color: bool = False) -> str:
    """Readable report: root cause first, evidence with line numbers, owner, fix."""

    def style(text: str, fg: str | None = None, bold: bool = False, dim: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold, dim=dim) if color else text

    lines = [style(f"{diagnosis.log}", bold=True) + f" ({diagnosis.lines} lines)"]
    if diagnosis.unexplained:
        lines.append("  no known failure pattern matched this log")
    root = _root(diagnosis)
    if diagnosis.failures and root is None:
        lines.append("  no failure: every finding is in a step that succeeded")
    for n, finding in enumerate(diagnosis.failures, 1):
        head = (
            SUCCEEDED if _succeeded(finding) else "root cause" if finding is root else f"also #{n}"
        )
        sev_color = {"critical": "red", "high": "red", "medium": "yellow"}.get(
            finding.severity.value, "blue"
        )
        lines.append("")
        lines.append(
            f"  {style(head, bold=True)}: {style(finding.title, bold=True)} [{finding.pattern_id}]"
        )
        lines.append(
            f"    severity {style(finding.severity.value, fg=sev_color)}  "
            f"owner {finding.owner or 'unknown'}  category {finding.category}  "
            f"confidence {finding.confidence:.2f}"
            + ("  transient (re-run may pass)" if finding.transient else "")
        )
        if finding.fix_strategy and not _succeeded(finding):
            lines.append(f"    fix strategy: {finding.fix_strategy}")
        if finding.related:
            lines.append(f"    also matched: {', '.join(finding.related)}")
        width = len(str(max((e.end_line for e in finding.evidence), default=1)))
        shown = _evidence_lines(finding, _TEXT_EVIDENCE_LINES)
        for number, text in shown:
            lines.append(f"    {style(str(number).rjust(width), dim=True)} | {text[:300]}")
        total = sum(e.end_line - e.start_line + 1 for e in finding.evidence)
        if total > len(shown):
            lines.append(f"    … {total - len(shown)} more evidence lines (--format json)")
    for note in diagnosis.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


#: annotation level of each severity (GitHub shows error, warning and notice annotations)
_ANNOTATION = {"critical": "error", "high": "error", "medium": "warning", "low": "notice"}
#: a source position in an evidence line: ``src/app.py:12`` or ``src/App.java:[12,5]``
_SOURCE_POSITION = re.compile(r"(?P<file>[\w./@+-]+\.[A-Za-z0-9]+)(?::|:\[)(?P<line>\d+)")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diagnosis: Diagnosis, root: Path) -> str:
    """GitHub Actions workflow commands (``::error title=…::message``), one per finding,
    so a step that runs ``hee-monitor analyze --format github`` puts the diagnosis on the
    run's summary page. A finding whose evidence names a file of the checkout (``path:line``
    under ``root``) is annotated on that file and line."""
    out = []
    for f in diagnosis.failures:
        lines = [text for _, text in _evidence_lines(f, 6)]
        succeeded = _succeeded(f)
        message = "\n".join(
            [
                (f"{SUCCEEDED}: " if succeeded else "")
                + f"{f.severity.value}, owner {f.owner or 'unknown'}"
                + (f", fix strategy {f.fix_strategy}" if f.fix_strategy and not succeeded else "")
                + f" ({diagnosis.log}"
                + (f", line {f.evidence[0].start_line})" if f.evidence else ")"),
                *(line[:300] for line in lines),
            ]
        )
        props = [f"title={_escape_property(f'{f.title} [{f.pattern_id}]')}"]
        for line in lines:
            m = _SOURCE_POSITION.search(line)
            if m and _inside(root, m.group("file")):
                props += [f"file={_escape_property(m.group('file'))}", f"line={m.group('line')}"]
                break
        level = "notice" if succeeded else _ANNOTATION[f.severity.value]
        out.append(f"::{level} {','.join(props)}::{_escape_data(message)}\n")
    if diagnosis.unexplained:
        out.append(f"::notice title=hee-monitor::no known failure pattern in {diagnosis.log}\n")
    return "".join(out)


def _inside(root: Path, name: str) -> bool:
    """Whether ``name`` is a file of the checkout at ``root`` (never outside it)."""
    try:
        path = (root / name).resolve()
        return path.is_file() and path.is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False


def render_markdown(diagnosis: Diagnosis) -> str:
    """For PR comments and job step summaries."""
    out = [f"### CI failure analysis: `{diagnosis.log}`", ""]
    if diagnosis.unexplained:
        out.append("No known failure pattern matched this log.")
    else:
        out.append("| # | failure | severity | owner | confidence | fix strategy |")
        out.append("|---|---|---|---|---|---|")
        for n, f in enumerate(diagnosis.failures, 1):
            succeeded = _succeeded(f)
            fix = f"`{f.fix_strategy}`" if f.fix_strategy and not succeeded else "–"
            also = (
                "<br>also matched: " + ", ".join(f"`{r}`" for r in f.related) if f.related else ""
            )
            also += f"<br>_{SUCCEEDED}_" if succeeded else ""
            out.append(
                f"| {n} | **{f.title}** (`{f.pattern_id}`){also} | {f.severity.value} | "
                f"{f.owner or 'unknown'} | {f.confidence:.2f} | {fix} |"
            )
        root = _root(diagnosis)
        out.append("")
        if root is None:
            out.append("No failure: every finding is in a step that succeeded.")
            for note in diagnosis.notes:
                out.append(f"> {note}")
            return "\n".join(out)
        first = root.evidence[0] if root.evidence else None
        where = f" (lines {first.start_line}-{first.end_line})" if first else ""
        out.append(f"<details open><summary>Evidence for the root cause{where}</summary>")
        out.append("")
        out.append("```text")
        for number, text in _evidence_lines(root, 30):
            out.append(f"{number}: {text[:300]}".replace("```", "ʼʼʼ"))
        out.append("```")
        out.append("</details>")
    for note in diagnosis.notes:
        out.append(f"> {note}")
    return "\n".join(out)
