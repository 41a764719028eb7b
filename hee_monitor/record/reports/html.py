"""The report as one self-contained HTML file: inline CSS, inline SVG, no script.

It opens from disk, an artifact download or a mail attachment without any network access.
Every value from the capsule or the store passes through :func:`_e` (HTML escaping);
only the SVG produced by :mod:`hee_monitor.record.reports.charts`, which escapes its own labels,
is inserted as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from hee_monitor.record.reports import charts
from hee_monitor.record.reports.model import ReportModel

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       color: #1d2330; background: #f5f6f8; }
main { max-width: 980px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.15rem; margin: 28px 0 10px; border-bottom: 1px solid #d7dbe2;
     padding-bottom: 4px; }
.meta { color: #5b6475; font-size: .9rem; }
.banner { padding: 10px 14px; border-radius: 6px; margin: 14px 0; font-weight: 600; }
.banner.unverified { background: #fff3cd; border: 1px solid #e0b400; color: #5c4400; }
.banner.verified { background: #e3f5ec; border: 1px solid #2e9d6b; color: #0f5132; }
.status { display: inline-block; padding: 6px 14px; border-radius: 999px; color: #fff;
          font-weight: 700; font-size: 1.05rem; text-transform: uppercase; }
.status.operational { background: #00855d; } .status.degraded { background: #b86e00; }
.status.failed { background: #c0392b; } .status.maintenance { background: #2f7fb5; }
.status.unknown { background: #666; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 14px; }
.card { background: #fff; border: 1px solid #d7dbe2; border-radius: 8px; padding: 10px 14px;
        min-width: 120px; }
.card b { display: block; font-size: 1.4rem; }
.card span { color: #5b6475; font-size: .85rem; }
section { background: #fff; border: 1px solid #d7dbe2; border-radius: 8px; padding: 4px 16px
          14px; margin-top: 18px; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eceef2;
         vertical-align: top; }
th { color: #5b6475; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #00855d; font-weight: 600; } .bad { color: #c0392b; font-weight: 600; }
.sev-critical { color: #c0392b; font-weight: 700; } .sev-high { color: #b86e00;
  font-weight: 600; }
.empty { color: #777; font-style: italic; }
.note { color: #5b6475; font-size: .85rem; }
svg { max-width: 100%; height: auto; }
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str) -> str:
    """Cells are HTML already (callers escape); a numeric-looking cell aligns right."""
    body = list(rows)
    if not body:
        return f'<p class="empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    lines = []
    for row in body:
        cells = "".join(
            f'<td class="num">{c}</td>' if c.replace(".", "", 1).isdigit() else f"<td>{c}</td>"
            for c in row
        )
        lines.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def render_html(model: ReportModel) -> str:
    m = model
    status_class = m.status if m.status in charts.STATE_COLOURS else "unknown"
    if m.verified:
        banner = f'<div class="banner verified">Signature verified: {_e(m.verification)}</div>'
    else:
        banner = (
            '<div class="banner unverified">UNVERIFIED: the capsule\'s signatures were not '
            f"checked ({_e(m.verification)}). Do not rely on this report for decisions.</div>"
        )
    failures = m.failures_by_category.total
    cards = [
        (str(failures), "failures recorded"),
        (str(len(m.incidents)), "open incidents"),
        (str(m.fixes_kept), "fixes kept"),
        (str(m.rollbacks), "fixes rolled back"),
        ("—" if m.approvals is None else str(len(m.approvals)), "open approvals"),
        ("—" if m.alerts is None else str(m.alerts.total), "alerts"),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Pipeline health: {_e(m.repository or 'state report')}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Pipeline health: {_e(m.repository or '(no repository)')}</h1>",
        f'<p class="meta">Capsule version {m.capsule_version} · written {_e(m.capsule_created)}'
        f" · expires {_e(m.capsule_expires)} · report generated {_e(m.generated_at)}</p>",
        banner,
        f'<p>Current status: <span class="status {_e(status_class)}" id="current-status">'
        f'{_e(m.status)}</span> <span class="meta">since {_e(m.status_since)}</span></p>',
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{v}</b><span>{_e(k)}</span></div>' for v, k in cards)
        + "</div>",
    ]
    for note in m.notes:
        parts.append(f'<p class="note">{_e(note)}</p>')

    parts.append('<section id="timeline"><h2>State timeline</h2>')
    parts.append(
        charts.state_timeline(
            m.state_changes, current=m.status, since=m.status_since, now=m.generated_at
        )
    )
    parts.append(
        _table(
            ["when", "from", "to", "trigger", "why"],
            (
                [_e(c.at), _e(c.from_state), _e(c.to_state), _e(c.trigger), _e(c.reason)]
                for c in reversed(m.state_changes[-30:])
            ),
            empty="No state changes recorded.",
        )
    )
    parts.append("</section>")

    parts.append(f'<section id="failures"><h2>Failures over time ({_e(m.series_source)})</h2>')
    parts.append("<h3>By category</h3>")
    parts.append(charts.stacked_bars(m.failures_by_category, title="failures by category"))
    parts.append("<h3>By pattern</h3>")
    parts.append(charts.stacked_bars(m.failures_by_pattern, title="failures by pattern"))
    totals = m.failures_by_pattern.totals()
    parts.append(
        _table(
            ["pattern", "title", "failures"],
            (
                [_e(p), _e(m.pattern_titles.get(p, "")), str(n)]
                for p, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            empty="No failures recorded.",
        )
    )
    parts.append("</section>")

    parts.append('<section id="incidents"><h2>Open incidents</h2>')
    parts.append(
        _table(
            ["severity", "pattern", "title", "occurrences", "opened", "last seen"],
            (
                [
                    f'<span class="sev-{_e(i.severity)}">{_e(i.severity)}</span>',
                    _e(i.pattern_id),
                    _e(i.title),
                    str(i.occurrences),
                    _e(i.opened),
                    _e(i.last_seen),
                ]
                for i in m.incidents
            ),
            empty="No open incidents.",
        )
    )
    parts.append("</section>")

    parts.append('<section id="fixes"><h2>Fix history</h2>')
    parts.append(
        f'<p class="meta">{m.fixes_kept} kept, {m.rollbacks} rolled back, '
        f"{len(m.fixes) - m.fixes_kept - m.rollbacks} other</p>"
    )
    parts.append(
        _table(
            ["when", "pattern", "strategy", "outcome", "branch", "run"],
            (
                [
                    _e(f.at),
                    _e(f.pattern_id),
                    _e(f.strategy),
                    '<span class="bad">rolled back</span>'
                    if f.rollback
                    else '<span class="ok">kept</span>'
                    if f.success
                    else '<span class="bad">failed</span>',
                    _e(f.branch),
                    _e(f.run_id),
                ]
                for f in reversed(m.fixes)
            ),
            empty="No fixes attempted.",
        )
    )
    parts.append("</section>")

    parts.append('<section id="approvals"><h2>Open approvals</h2>')
    if m.approvals is None:
        parts.append('<p class="empty">Not shown: needs the audit store (--database).</p>')
    else:
        parts.append(
            _table(
                ["id", "requested", "pattern", "strategy", "severity", "risk", "why"],
                (
                    [
                        _e(a.id),
                        _e(a.created),
                        _e(a.pattern_id),
                        _e(a.strategy),
                        _e(a.severity),
                        str(a.risk),
                        _e(a.reason + (" (escalated)" if a.escalated else "")),
                    ]
                    for a in m.approvals
                ),
                empty="No approvals waiting.",
            )
        )
    parts.append("</section>")

    parts.append('<section id="coverage"><h2>Coverage and gaps</h2>')
    parts.append(charts.coverage_bars(m.coverage))
    parts.append(
        _table(
            ["metric", "measured", "target", "gap"],
            (
                [
                    _e(r.metric),
                    _pct(r.percent),
                    _pct(r.target),
                    f'<span class="bad">{r.gap:.1f} points</span>' if r.gap else "—",
                ]
                for r in m.coverage
            ),
            empty="No coverage recorded.",
        )
    )
    if m.hee_specific:
        parts.append(
            '<p class="meta">'
            + " · ".join(f"{_e(k.replace('_', ' '))}: {_pct(v)}" for k, v in m.hee_specific.items())
            + "</p>"
        )
    parts.append("</section>")

    parts.append('<section id="alerts"><h2>Alert volume</h2>')
    if m.alerts is None:
        parts.append('<p class="empty">Not shown: needs the audit store (--database).</p>')
    else:
        parts.append(charts.stacked_bars(m.alerts, title="alerts by outcome"))
        parts.append(
            _table(
                ["outcome", "alerts"],
                ([_e(k), str(v)] for k, v in m.alerts.totals().items()),
                empty="No alerts recorded.",
            )
        )
    parts.append("</section>")
    parts.append(
        '<p class="note">Generated by hee-monitor from the state capsule'
        + (" and the audit store" if m.series_source == "audit store" else "")
        + ".</p></main></body></html>\n"
    )
    return "\n".join(parts)
