"""A slow sample's query waterfall: when each statement ran, and the time outside SQL.

The capture keeps the first :data:`MAX_SPANS` statements' start and duration.
A sample stores them as spans pointing at one entry per statement shape
(at most :data:`MAX_SHAPES`; later shapes share an "other statements" lane),
so its size is bounded whatever the request ran. The chart draws the request
as one bar with its SQL time on it, then a lane per statement shape, N+1
shapes in red, so an N+1's comb of short queries is visible at a glance.
"""

from __future__ import annotations

from typing import Any

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from perfkit.capture import Capture, fingerprint
from perfkit.charts import GRID, MUTED, duration, nice_ticks, number
from perfkit.recording import clean

MAX_SPANS = 200
"""Statements of one request kept with their timing."""

MAX_SHAPES = 40
"""Statement shapes with a lane of their own; the rest share the last lane."""

OTHER = -1

N_PLUS_ONE_COLOR = "#ba2121"
REPEATED_COLOR = "#d9822b"
SINGLE_COLOR = "#417690"


def stored(capture: Capture, sql_chars: int) -> dict[str, Any]:
    """The capture's timeline as a sample stores it (empty without one)."""
    if not capture.timeline:
        return {}
    shapes: dict[str, int] = {}
    statements: list[dict[str, Any]] = []
    spans = []
    for start, seconds, sql, alias in capture.timeline:
        shape = fingerprint(sql)
        index = shapes.get(shape)
        if index is None:
            if len(statements) < MAX_SHAPES:
                index = shapes[shape] = len(statements)
                statements.append({"sql": clean.text(sql, sql_chars), "alias": alias, "count": 0})
            else:
                index = OTHER
        if index != OTHER:
            statements[index]["count"] += 1
        offset_ms = (start - capture.started) * 1000
        spans.append([round(max(offset_ms, 0.0), 3), round(seconds * 1000, 3), index])
    return {
        "statements": statements,
        "spans": spans,
        "not_shown": max(capture.queries - len(spans), 0),
    }


def chart(timeline: Any, duration_ms: float, threshold: int, width: int = 960) -> SafeString:
    """The waterfall SVG of a stored timeline ("" when there is none)."""
    if not isinstance(timeline, dict) or not timeline.get("spans"):
        return mark_safe("")
    found = timeline.get("statements")
    statements = (
        [s if isinstance(s, dict) else {} for s in found] if isinstance(found, list) else []
    )
    spans = [s for s in timeline["spans"] if _is_span(s)]
    if not spans:
        return mark_safe("")
    lanes = len(statements) + (1 if any(s[2] == OTHER for s in spans) else 0)
    end = max([duration_ms, *(start + length for start, length, _ in spans)], default=1.0)
    ticks = nice_ticks(end, count=6)
    scale_end = ticks[-1] or 1.0
    left, top, lane_height, gap = 56, 34, 12, 4
    plot = width - left - 32  # room for half the last tick's label ("20,000 ms")
    height = top + 22 + lanes * (lane_height + gap) + 20

    def x(ms: float) -> float:
        return left + plot * ms / scale_end

    parts = [
        f'<svg class="perfkit-waterfall" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="Query waterfall" xmlns="http://www.w3.org/2000/svg">',
        '<g font-size="11" font-family="sans-serif">',
    ]
    for tick in ticks:
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 4}" y2="{height - 18}" '
            f'stroke="{GRID}"/><text x="{x(tick):.1f}" y="{height - 4}" fill="{MUTED}" '
            f'text-anchor="middle">{escape(number(tick))} ms</text>'
        )
    sql_ms = sum(length for _, length, _ in spans)
    parts.append(
        format_html(
            '<text x="{}" y="12" fill="{}">{}</text>',
            left,
            MUTED,
            f"SQL {duration(sql_ms * 1000)} of {duration(duration_ms * 1000)} "
            f"({100 * sql_ms / duration_ms if duration_ms else 0:.0f} %); the rest is outside "
            f"the database{_not_shown(timeline)}",
        )
    )
    bar_y = top - 4 + 4
    parts.append(
        f'<text x="{left - 6}" y="{bar_y + 11}" text-anchor="end" fill="{MUTED}">request</text>'
        f'<rect x="{left}" y="{bar_y}" width="{x(duration_ms) - left:.1f}" height="14" '
        f'fill="#e8e8e8"><title>request: {escape(duration(duration_ms * 1000))}</title></rect>'
    )
    for start, length, index in spans:
        parts.append(
            _rect(
                x(start),
                bar_y,
                x(start + length) - x(start),
                14,
                _color(index, statements, threshold),
            )
        )
    for lane in range(lanes):
        y = top + 22 + lane * (lane_height + gap)
        index = lane if lane < len(statements) else OTHER
        label = f"#{lane + 1}" if index != OTHER else "other"
        parts.append(
            f'<text x="{left - 6}" y="{y + 10}" text-anchor="end" fill="{MUTED}">{label}</text>'
        )
        tip = _tip(index, statements)
        color = _color(index, statements, threshold)
        for start, length, span_index in spans:
            if span_index == index:
                parts.append(
                    _rect(
                        x(start),
                        y,
                        x(start + length) - x(start),
                        lane_height,
                        color,
                        tip,
                        start,
                        length,
                    )
                )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))


def _is_span(span: Any) -> bool:
    """``[start ms, duration ms, statement index]``, as :func:`stored` writes it."""
    return (
        isinstance(span, list)
        and len(span) == 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in span[:2])
        and isinstance(span[2], int)
    )


def _rect(
    x: float,
    y: float,
    w: float,
    h: int,
    color: str,
    tip: str = "",
    start: float = 0.0,
    length: float = 0.0,
) -> str:
    title = (
        f"<title>{escape(f'{number(round(length, 2))} ms at +{number(round(start, 1))} ms: {tip}')}"
        "</title>"
        if tip
        else ""
    )
    box = f'x="{x:.2f}" y="{y}" width="{max(w, 1.0):.2f}" height="{h}"'
    return f'<rect {box} fill="{color}">{title}</rect>'


def _color(index: int, statements: list[dict[str, Any]], threshold: int) -> str:
    if index == OTHER or index >= len(statements):
        return "#999"
    count = statements[index].get("count", 0)
    if isinstance(count, int) and count >= threshold:
        return N_PLUS_ONE_COLOR
    return REPEATED_COLOR if isinstance(count, int) and count > 1 else SINGLE_COLOR


def _tip(index: int, statements: list[dict[str, Any]]) -> str:
    if index == OTHER or index >= len(statements):
        return "other statements"
    return str(statements[index].get("sql", ""))[:300]


def _not_shown(timeline: dict[str, Any]) -> str:
    more = timeline.get("not_shown")
    return f"; {more} later statements not drawn" if isinstance(more, int) and more > 0 else ""
