"""``hee-monitor metrics``: detection latency, analysis and remediation time, success rate,
what fails and how often, in text, JSON or Prometheus exposition format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from hee_monitor.cli.audit import parse_when
from hee_monitor.core.config import load_config
from hee_monitor.record.audit import AuditStore, Metrics


@click.command("metrics")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "prometheus"]),
    default="text",
    show_default=True,
)
@click.option("--since", help="ISO time or duration ago (24h, 7d); default: everything.")
@click.option("--repo", help="owner/name")
@click.option("--database", help="Audit store URL (default: [monitor] database).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path))
def metrics(
    fmt: str, since: str | None, repo: str | None, database: str | None, config_file: Path | None
) -> int:
    """How the monitor and the pipelines are doing: latency, timings, success rate, top failures.

    \b
    Examples:
      hee-monitor metrics                               everything recorded so far
      hee-monitor metrics --since 7d --repo acme/api    one repository, last week
      hee-monitor metrics --format prometheus > /var/lib/node_exporter/hee.prom

    Reads --database, else [monitor] database of $HEE_CONFIG / $HEE_DATABASE_URL.
    """
    config = load_config(config_file)
    store = AuditStore.open(database or config.database, read_only=True)
    m = store.metrics(since=parse_when(since, datetime.now(UTC)), repo=repo)
    from hee_monitor.service.pending import PendingRuns

    waiting = len(PendingRuns(store.engine).all(repo=repo))
    if fmt == "json":
        click.echo(json.dumps({**m.to_json(), "waiting_for_log": waiting}, indent=2))
    elif fmt == "prometheus":
        click.echo(prometheus(m, waiting), nl=False)
    else:
        click.echo(text(m) + f"\nwaiting for log      {waiting} run(s)")
    return 0


def _s(summary: dict[str, float | None]) -> str:
    if not summary.get("count"):
        return "no data"
    return (
        f"mean {summary['mean']}s, p50 {summary['p50']}s, p95 {summary['p95']}s "
        f"(n={summary['count']})"
    )


def text(m: Metrics) -> str:
    share = "n/a" if m.unexplained_share is None else f"{m.unexplained_share:.1%}"
    rate = "n/a" if m.fix_success_rate is None else f"{m.fix_success_rate:.1%}"
    top = sorted(m.by_pattern.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    lines = [
        f"runs processed       {m.runs_processed} (skipped {m.runs_skipped})",
        f"jobs diagnosed       {m.jobs_diagnosed}; unexplained {share}",
        f"detection latency    {_s(m.detection_latency_seconds)}",
        f"analysis time        {_s(m.analysis_seconds)}",
        f"remediation time     {_s(m.remediation_seconds)}",
        f"fix success rate     {rate} of {m.fixes}",
        f"state transitions    {m.transitions}",
        "actions              " + (", ".join(f"{k} {v}" for k, v in m.actions.items()) or "none"),
        "alerts               " + (", ".join(f"{k} {v}" for k, v in m.alerts.items()) or "none"),
        "by category          "
        + (", ".join(f"{k} {v}" for k, v in m.by_category.items()) or "none"),
        "risk distribution    "
        + (", ".join(f"{k}: {v}" for k, v in m.risk_distribution.items()) or "none"),
        "top patterns         " + (", ".join(f"{k} {v}" for k, v in top) or "none"),
    ]
    return "\n".join(lines)


def prometheus(m: Metrics, waiting_for_log: int | None = None) -> str:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    reg = CollectorRegistry()

    def gauge(
        name: str, doc: str, value: float | None, labels: dict[str, str] | None = None
    ) -> None:
        if value is None:
            return
        g = Gauge(f"hee_{name}", doc, list(labels or {}), registry=reg)
        (g.labels(**labels) if labels else g).set(value)

    gauge("runs_processed", "Failed runs processed", m.runs_processed)
    gauge("runs_skipped", "Runs or repositories skipped", m.runs_skipped)
    gauge("jobs_diagnosed", "Failed jobs diagnosed", m.jobs_diagnosed)
    gauge("unexplained_ratio", "Share of diagnosed jobs no pattern explained", m.unexplained_share)
    gauge("fix_success_ratio", "Share of fixes that succeeded", m.fix_success_rate)
    gauge("state_transitions", "Health state transitions", m.transitions)
    gauge(
        "runs_waiting_for_log",
        "Failed runs held because their log could not be read yet",
        waiting_for_log,
    )
    for name, summary, doc in (
        ("detection_latency_seconds", m.detection_latency_seconds, "Run completed to diagnosed"),
        ("analysis_seconds", m.analysis_seconds, "Log analysis time"),
        ("remediation_seconds", m.remediation_seconds, "Fix start to finish"),
    ):
        g = Gauge(f"hee_{name}", doc, ["stat"], registry=reg)
        for stat in ("mean", "p50", "p95", "max"):
            value = summary.get(stat)
            if value is not None:
                g.labels(stat=stat).set(value)
    for name, counts, label, doc in (
        ("findings_by_category", m.by_category, "category", "Findings per category"),
        ("findings_by_pattern", m.by_pattern, "pattern_id", "Findings per pattern"),
        ("findings_by_risk", m.risk_distribution, "risk", "Findings per risk level"),
        ("decisions_by_action", m.actions, "action", "Decisions per action"),
        ("alerts_by_outcome", m.alerts, "outcome", "Alerts per outcome"),
    ):
        g = Gauge(f"hee_{name}", doc, [label], registry=reg)
        for key, value in counts.items():
            g.labels(**{label: key}).set(value)
    return generate_latest(reg).decode()
