"""The report as GitHub-flavoured Markdown (job summaries, issues, pull request comments).

Charts become small text sparklines; table cells are escaped so that a pipe or markup in
a pattern title cannot break the table or inject HTML (GitHub renders inline HTML).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from hee_monitor.record.reports.model import ReportModel, Series

_BLOCKS = " ▁▂▃▄▅▆▇█"


def _cell(value: object) -> str:
    text = escape("" if value is None else str(value), quote=False)
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "\\`")


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str) -> list[str]:
    body = [list(r) for r in rows]
    if not body:
        return [f"_{empty}_", ""]
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in body]
    return [*out, ""]


def sparkline(values: Sequence[int]) -> str:
    peak = max(values, default=0)
    if peak <= 0:
        return "▁" * len(values)
    return "".join(_BLOCKS[max(1, round(v / peak * 8))] if v else "▁" for v in values)


def _series(series: Series, what: str) -> list[str]:
    if not series.rows:
        return [f"_No {what} recorded._", ""]
    span = f"{series.buckets[0]} → {series.buckets[-1]}, per {series.unit}"
    return _table(
        ["", "total", f"trend ({span})"],
        ([name, sum(values), sparkline(values)] for name, values in series.rows),
        "",
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def render_markdown(model: ReportModel) -> str:
    m = model
    lines = [f"# Pipeline health: {_cell(m.repository or '(no repository)')}", ""]
    if m.verified:
        lines += [f"Signature verified: {_cell(m.verification)}", ""]
    else:
        lines += [
            f"> **UNVERIFIED**: the capsule's signatures were not checked "
            f"({_cell(m.verification)}). Do not rely on this report for decisions.",
            "",
        ]
    lines += [
        f"**Current status: {_cell(m.status.upper())}** since {_cell(m.status_since)}  ",
        f"Capsule version {m.capsule_version}, written {_cell(m.capsule_created)}, "
        f"expires {_cell(m.capsule_expires)}; report generated {_cell(m.generated_at)}.",
        "",
        f"- failures recorded: {m.failures_by_category.total}",
        f"- open incidents: {len(m.incidents)}",
        f"- fixes kept: {m.fixes_kept}, rolled back: {m.rollbacks}",
        f"- open approvals: {'—' if m.approvals is None else len(m.approvals)}",
        f"- alerts: {'—' if m.alerts is None else m.alerts.total}",
        "",
    ]
    lines += [f"_{_cell(n)}_" for n in m.notes]
    if m.notes:
        lines.append("")
    lines += ["## State timeline", ""]
    lines += _table(
        ["when", "from", "to", "trigger", "why"],
        (
            [c.at, c.from_state, c.to_state, c.trigger, c.reason]
            for c in reversed(m.state_changes[-30:])
        ),
        "No state changes recorded.",
    )
    lines += [f"## Failures by category ({_cell(m.series_source)})", ""]
    lines += _series(m.failures_by_category, "failures")
    lines += ["## Failures by pattern", ""]
    lines += _table(
        ["pattern", "title", "total", "trend"],
        (
            [name, m.pattern_titles.get(name, ""), sum(values), sparkline(values)]
            for name, values in m.failures_by_pattern.rows
        ),
        "No failures recorded.",
    )
    lines += ["## Open incidents", ""]
    lines += _table(
        ["severity", "pattern", "title", "occurrences", "last seen"],
        ([i.severity, i.pattern_id, i.title, i.occurrences, i.last_seen] for i in m.incidents),
        "No open incidents.",
    )
    lines += ["## Fix history", ""]
    lines += _table(
        ["when", "pattern", "strategy", "outcome", "branch"],
        (
            [
                f.at,
                f.pattern_id,
                f.strategy,
                "rolled back" if f.rollback else "kept" if f.success else "failed",
                f.branch,
            ]
            for f in reversed(m.fixes)
        ),
        "No fixes attempted.",
    )
    lines += ["## Open approvals", ""]
    if m.approvals is None:
        lines += ["_Not shown: needs the audit store (--database)._", ""]
    else:
        lines += _table(
            ["id", "requested", "pattern", "strategy", "risk", "why"],
            ([a.id, a.created, a.pattern_id, a.strategy, a.risk, a.reason] for a in m.approvals),
            "No approvals waiting.",
        )
    lines += ["## Coverage and gaps", ""]
    lines += _table(
        ["metric", "measured", "target", "gap"],
        (
            [r.metric, _pct(r.percent), _pct(r.target), f"{r.gap:.1f} points" if r.gap else "—"]
            for r in m.coverage
        ),
        "No coverage recorded.",
    )
    lines += ["## Alert volume", ""]
    if m.alerts is None:
        lines += ["_Not shown: needs the audit store (--database)._", ""]
    else:
        lines += _series(m.alerts, "alerts")
    return "\n".join(lines).rstrip() + "\n"
