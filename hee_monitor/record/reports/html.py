"""The report as one self-contained HTML file: inline CSS, inline SVG, no script.

It opens from disk, an artifact download or a mail attachment without any network access.
The page is the jinja2 template ``templates/report.html.j2``, rendered with autoescaping:
every value from the capsule or the store is escaped; only the SVG produced by
:mod:`hee_monitor.record.reports.charts`, which escapes its own labels, is inserted as markup.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from hee_monitor.record.reports import charts
from hee_monitor.record.reports.model import ReportModel


@cache
def _template() -> Template:
    env = Environment(
        loader=PackageLoader("hee_monitor.record.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    return env.get_template("report.html.j2")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def render_html(model: ReportModel) -> str:
    m = model
    status_class = m.status if m.status in charts.STATE_COLOURS else "unknown"
    categories = m.pattern_categories

    def pattern_colour(pattern: str) -> str:
        return charts.category_colour(categories.get(pattern, ""))

    drawn = {
        "timeline": charts.state_timeline(
            m.state_changes, current=m.status, since=m.status_since, now=m.generated_at
        ),
        "by_category": charts.stacked_bars(
            m.failures_by_category, title="failures by category", colour_of=charts.category_colour
        ),
        "by_pattern": charts.stacked_bars(
            m.failures_by_pattern, title="failures by pattern", colour_of=pattern_colour
        ),
        "coverage": charts.coverage_bars(m.coverage),
        "alerts": charts.stacked_bars(
            m.alerts, title="alerts by outcome", colour_of=charts.outcome_colour
        )
        if m.alerts is not None
        else "",
    }
    totals = m.failures_by_pattern.totals()
    return _template().render(
        m=m,
        status_class=status_class,
        # the charts escape their own labels: the only markup passed in
        charts={name: Markup(svg) for name, svg in drawn.items()},
        cards=[
            (m.failures_by_category.total, "failures recorded"),
            (len(m.incidents), "open incidents"),
            (m.fixes_kept, "fixes kept"),
            (m.rollbacks, "fixes rolled back"),
            ("—" if m.approvals is None else len(m.approvals), "open approvals"),
            ("—" if m.alerts is None else m.alerts.total, "alerts"),
        ],
        timeline_rows=[
            [c.at, c.from_state, c.to_state, c.trigger, c.reason]
            for c in reversed(m.state_changes[-30:])
        ],
        pattern_rows=[
            [p, categories.get(p, "") or "—", m.pattern_titles.get(p, ""), n]
            for p, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        approval_rows=[
            [
                a.id,
                a.created,
                a.pattern_id,
                a.strategy,
                a.severity,
                a.risk,
                a.reason + (" (escalated)" if a.escalated else ""),
            ]
            for a in (m.approvals or ())
        ],
        alert_rows=[[k, v] for k, v in (m.alerts.totals().items() if m.alerts else ())],
        pct=_pct,
    )
