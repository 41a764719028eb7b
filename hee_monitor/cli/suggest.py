"""``hee-monitor patterns suggest``: pattern proposals from logs the local model explained."""

from __future__ import annotations

from pathlib import Path

import click

from hee_monitor.analysis.llm import DEFAULT_TIMEOUT, LlmSettings, OllamaClassifier
from hee_monitor.analysis.llm_cache import AnswerCache, MemoryCache, open_cache
from hee_monitor.analysis.suggest import read_log_excerpt, suggest_patterns
from hee_monitor.core.errors import UsageError


@click.command("suggest")
@click.argument("logs", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--cache",
    "cache_target",
    metavar="DIR|URL",
    envvar="HEE_LLM_CACHE",
    help="The LLM answer cache (a directory or a database URL). Without LOGS, every "
    "answer in it is used.",
)
@click.option("--host", envvar="OLLAMA_HOST", help="Ollama server [default: 127.0.0.1:11434].")
@click.option("--model", default="llama3.2", show_default=True, help="Ollama model.")
@click.option("--timeout", type=float, default=DEFAULT_TIMEOUT, show_default=True)
@click.option(
    "--patterns",
    "pattern_dirs",
    multiple=True,
    type=click.Path(path_type=Path, exists=True),
    help="Your pattern directory or file: a proposal its patterns already cover is dropped.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    help="Write the pattern file here instead of standard output.",
)
def suggest(
    logs: tuple[Path, ...],
    cache_target: str | None,
    host: str | None,
    model: str,
    timeout: float,
    pattern_dirs: tuple[Path, ...],
    output: Path | None,
) -> int:
    """Propose patterns for failures only the local model could explain.

    Each LOG that no pattern explains is sent (redacted) to the local model, or its cached
    answer is reused; each explained log becomes a pattern proposal (regex + example) in
    pattern-file YAML, to review and copy into your pattern directory.

    \b
    Examples:
      hee-monitor patterns suggest failed-job.log -o proposals.yml
      hee-monitor patterns suggest --cache sqlite:///state_capsules/hee-monitor.db
      hee-monitor patterns suggest --patterns my-patterns/ --model qwen2.5 job.log

    Exit 1 when nothing could be suggested. Reads $OLLAMA_HOST and $HEE_LLM_CACHE.
    """
    if not logs and cache_target is None:
        raise UsageError(
            "nothing to suggest from: give log files or --cache",
            hint="e.g. hee-monitor patterns suggest job.log, or --cache DIR|URL",
        )
    cache: AnswerCache = (open_cache(cache_target) if cache_target else None) or MemoryCache()
    if logs:
        settings = LlmSettings.from_mapping({"model": model, "timeout": timeout, "host": host})
        classifier = OllamaClassifier.from_settings(settings, cache=cache)
        fingerprints = set()
        for path in logs:
            excerpt = read_log_excerpt(path)
            fingerprints.add(excerpt.log_fingerprint)
            result = classifier.classify(excerpt)
            if not result.findings and result.note:
                click.echo(f"{path}: {result.note}", err=True)
        entries = [e for e in cache if e.log_fingerprint in fingerprints and e.model == model]
    else:
        entries = list(cache)
    report = suggest_patterns(entries, extra_patterns=pattern_dirs)
    for skipped in report.skipped:
        click.echo(f"{skipped.log}: no proposal: {skipped.reason}", err=True)
    if not report.suggestions:
        click.echo("no pattern to suggest", err=True)
        return 1
    text = report.to_yaml()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(report.suggestions)} proposal(s) to {output}", err=True)
    return 0
