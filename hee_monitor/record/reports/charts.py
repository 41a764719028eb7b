"""Inline SVG charts, drawn in Python: no script, no web font, no network.

Every label that comes from data (pattern ids, categories, bucket names) is escaped, so a
hostile pattern title cannot inject markup into the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from html import escape

from hee_monitor.record.reports.model import CoverageRow, Series, StateChange

#: health states (Okabe–Ito, colour-blind safe)
STATE_COLOURS = {
    "operational": "#009E73",
    "degraded": "#E69F00",
    "failed": "#D55E00",
    "maintenance": "#56B4E9",
}
#: one colour per failure category, the same in every chart of the report: the
#: "by category" bars and the "by pattern" bars (a pattern is drawn in its category's
#: colour); none of them is a state's or an alert outcome's colour
CATEGORY_COLOURS = {
    "compilation": "#1f77b4",
    "test": "#ff7f0e",
    "lint": "#2ca02c",
    "type-check": "#9467bd",
    "format": "#98df8a",
    "dependency": "#8c564b",
    "security": "#d62728",
    "license": "#e377c2",
    "timeout": "#bcbd22",
    "infrastructure": "#17becf",
    "network": "#aec7e8",
    "auth": "#ffbb78",
    "resource": "#c5b0d5",
    "configuration": "#c49c94",
    "crash": "#ff9896",
    "cancelled": "#dbdb8d",
    "unknown": "#7f7f7f",
    "unexplained": "#c7c7c7",
}
#: what became of an alert; also used by no other chart
OUTCOME_COLOURS = {
    "delivered": "#1b7837",
    "sent": "#5aae61",
    "waiting": "#fdb863",
    "grouped": "#8073ac",
    "deduped": "#b2abd2",
    "failed": "#b2182b",
    "muted": "#525252",
}
#: anything a table above does not name ("other" patterns, a category added later)
OTHER_COLOUR = "#999999"
#: kept for callers that cycle colours themselves
PALETTE = tuple(CATEGORY_COLOURS.values())


def category_colour(name: str) -> str:
    return CATEGORY_COLOURS.get(name, OTHER_COLOUR)


def outcome_colour(name: str) -> str:
    return OUTCOME_COLOURS.get(name, OTHER_COLOUR)


_FONT = "font-family:system-ui,sans-serif;font-size:11px"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def stacked_bars(
    series: Series,
    *,
    title: str,
    colour_of: Callable[[str], str] = category_colour,
    width: int = 640,
    height: int = 220,
) -> str:
    """A stacked bar chart of ``series`` with a legend; an empty series says so. Each row's
    colour is ``colour_of(row name)``: a name has the same colour in every chart."""
    if not series.buckets or not series.rows:
        return _empty(title, width)
    left, right, top, bottom = 36, 10, 10, 44
    legend_h = 16 * ((len(series.rows) + 2) // 3)
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(series.buckets)
    stack = [sum(v[i] for _, v in series.rows) for i in range(n)]
    peak = max(max(stack), 1)
    step = plot_w / n
    bar = max(step * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height + legend_h}" viewBox="0 0 {width} {height + legend_h}" '
        f'style="{_FONT}"><title>{_e(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#888"/>',
    ]
    for tick in sorted({0, peak // 2, peak}):
        y = top + plot_h - plot_h * tick / peak
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{tick}</text>'
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            'stroke="#eee"/>'
        )
    for i in range(n):
        x = left + i * step + (step - bar) / 2
        y = top + plot_h
        for name, values in series.rows:
            value = values[i]
            if not value:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour_of(name)}" stroke="#fff" stroke-width="0.5">'
                f"<title>{_e(series.buckets[i])}: {_e(name)} {value}</title></rect>"
            )
    labels = sorted({0, n // 2, n - 1})
    for i in labels:
        x = left + i * step + step / 2
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="{anchor}" fill="#555">'
            f"{_e(series.buckets[i])}</text>"
        )
    for r, (name, values) in enumerate(series.rows):
        col, row = r % 3, r // 3
        x, y = left + col * (plot_w / 3), height - 16 + row * 16
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="10" height="10" '
            f'fill="{colour_of(name)}"/>'
            f'<text x="{x + 14:.1f}" y="{y + 9}" fill="#222">{_e(name)} ({sum(values)})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def state_timeline(
    changes: Sequence[StateChange],
    *,
    current: str,
    since: str,
    now: str,
    width: int = 640,
) -> str:
    """A band coloured by health state from the first recorded change until now."""
    points: list[tuple[datetime, str]] = []
    for c in changes:
        at = _parse(c.at)
        if at is not None:
            if not points:
                points.append((at, c.from_state))
            points.append((at, c.to_state))
    end = _parse(now)
    if not points:
        start = _parse(since)
        if start is None or end is None:
            return _empty("state timeline", width)
        points = [(start, current)]
    if end is None or end < points[-1][0]:
        end = points[-1][0]
    # the current state stays visible even when it began the moment the report was made
    min_tail = max((end - points[0][0]) * 0.03, timedelta(minutes=1))
    if end - points[-1][0] < min_tail:
        end = points[-1][0] + min_tail
    left, right, band_top, band_h = 10, 10, 8, 26
    span = max((end - points[0][0]).total_seconds(), 1.0)
    plot_w = width - left - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="78" '
        f'viewBox="0 0 {width} 78" style="{_FONT}"><title>health state over time</title>'
    ]
    for i, (at, state) in enumerate(points):
        stop = points[i + 1][0] if i + 1 < len(points) else end
        x = left + plot_w * (at - points[0][0]).total_seconds() / span
        w = max(plot_w * (stop - at).total_seconds() / span, 1.0 if i + 1 == len(points) else 0)
        if w <= 0:
            continue
        parts.append(
            f'<rect x="{x:.1f}" y="{band_top}" width="{w:.1f}" height="{band_h}" '
            f'fill="{STATE_COLOURS.get(state, "#999")}"><title>{_e(state)} from '
            f"{_e(at.isoformat())}</title></rect>"
        )
    parts.append(
        f'<text x="{left}" y="{band_top + band_h + 14}" fill="#555">'
        f"{_e(points[0][0].strftime('%Y-%m-%d %H:%M'))}</text>"
        f'<text x="{width - right}" y="{band_top + band_h + 14}" text-anchor="end" '
        f'fill="#555">{_e(end.strftime("%Y-%m-%d %H:%M"))}</text>'
    )
    for i, (state, colour) in enumerate(STATE_COLOURS.items()):
        x = left + i * 130
        parts.append(
            f'<rect x="{x}" y="62" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="71" fill="#222">{state}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def coverage_bars(rows: Sequence[CoverageRow], *, width: int = 640) -> str:
    """One horizontal bar per coverage metric, with its target as a tick."""
    measured = [r for r in rows if r.percent is not None]
    if not measured:
        return _empty("coverage", width)
    row_h, label_w = 22, 90
    height = row_h * len(measured) + 6
    plot_w = width - label_w - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="{_FONT}"><title>coverage</title>'
    ]
    for i, r in enumerate(measured):
        assert r.percent is not None
        y = 3 + i * row_h
        w = plot_w * max(0.0, min(r.percent, 100.0)) / 100
        colour = "#D55E00" if r.gap else "#0072B2"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" fill="#222">'
            f"{_e(r.metric)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{plot_w}" height="14" fill="#eee"/>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="14" fill="{colour}"/>'
            f'<text x="{label_w + plot_w + 6}" y="{y + 14}" fill="#222">{r.percent:.1f}%</text>'
        )
        if r.target is not None:
            tx = label_w + plot_w * min(r.target, 100.0) / 100
            parts.append(
                f'<line x1="{tx:.1f}" y1="{y}" x2="{tx:.1f}" y2="{y + 20}" stroke="#222" '
                f'stroke-width="2"><title>target {r.target:.0f}%</title></line>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _empty(title: str, width: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="40" '
        f'viewBox="0 0 {width} 40" style="{_FONT}"><title>{_e(title)}</title>'
        '<text x="10" y="24" fill="#777">nothing recorded yet</text></svg>'
    )


def _parse(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
