"""Server-side SVG charts: no JavaScript, no CDN, nothing fetched at view time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

COLORS = ("#417690", "#d9822b", "#ba2121", "#5b8a3c")


@dataclass
class Series:
    """One line of a chart; ``None`` values leave a gap."""

    label: str
    values: Sequence[float | None]


def _points(
    values: Sequence[float | None], width: float, height: float, top: float, pad: float
) -> list[list[tuple[float, float]]]:
    """Polyline segments (split at gaps) scaled into the box."""
    n = len(values)
    step = (width - 2 * pad) / max(n - 1, 1)
    segments: list[list[tuple[float, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        y = height - pad - (value / top) * (height - 2 * pad) if top else height - pad
        segments[-1].append((pad + i * step, y))
    return [s for s in segments if s]


def _trace(segment: list[tuple[float, float]], color: str, stroke: float, radius: float) -> str:
    """One unbroken run of points: a line, or a dot when it is a single point
    (a one-point polyline draws nothing)."""
    if len(segment) == 1:
        x, y = segment[0]
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{color}"/>'
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
    return f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="{stroke}"/>'


def sparkline(values: Sequence[float | None], width: int = 120, height: int = 24) -> SafeString:
    """A small inline line chart."""
    present = [v for v in values if v is not None]
    if not present:
        return mark_safe("")
    top = max(present) or 1.0
    lines = []
    for segment in _points(values, width, height, top, 2):
        lines.append(_trace(segment, COLORS[0], stroke=1.5, radius=1.5))
    return mark_safe(
        f'<svg class="perfkit-spark" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="trend">{"".join(lines)}</svg>'
    )


def line_chart(
    series: Sequence[Series],
    labels: Sequence[str],
    unit: str,
    width: int = 720,
    height: int = 220,
) -> SafeString:
    """A line chart with a y axis, first/last x labels and a legend."""
    pad, left = 10, 60
    present = [v for s in series for v in s.values if v is not None]
    top = (max(present) if present else 0) or 1.0
    parts = [
        f'<svg class="perfkit-chart" width="{width}" height="{height + 30}" '
        f'viewBox="0 0 {width} {height + 30}" role="img">',
        f'<g transform="translate({left},0)">',
    ]
    inner = width - left - pad
    for fraction in (0, 0.5, 1):
        y = height - pad - fraction * (height - 2 * pad)
        parts.append(
            f'<line x1="0" x2="{inner}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="-6" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(_fmt(top * fraction))} {escape(unit)}</text>"
        )
    for index, line in enumerate(series):
        color = COLORS[index % len(COLORS)]
        for segment in _points(line.values, inner, height, top, pad):
            parts.append(_trace(segment, color, stroke=2, radius=3))
        parts.append(
            f'<rect x="{index * 110}" y="{height + 12}" width="10" height="10" fill="{color}"/>'
            f'<text x="{index * 110 + 14}" y="{height + 21}" font-size="12">'
            f"{escape(line.label)}</text>"
        )
    if labels:
        parts.append(
            f'<text x="0" y="{height + 2}" font-size="10" fill="#666">{escape(labels[0])}</text>'
            f'<text x="{inner}" y="{height + 2}" font-size="10" fill="#666" '
            f'text-anchor="end">{escape(labels[-1])}</text>'
        )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))


MAX_BAR_SLOT = 48.0


def bar_chart(bars: Sequence[tuple[str, int]], width: int = 720, height: int = 200) -> SafeString:
    """Vertical bars with their labels underneath (the latency histogram)."""
    if not bars:
        return mark_safe("")
    pad = 10
    top = max(count for _, count in bars) or 1
    slot = min((width - 2 * pad) / len(bars), MAX_BAR_SLOT)  # a few bars stay bars
    parts = [
        f'<svg class="perfkit-chart" width="{width}" height="{height + 40}" '
        f'viewBox="0 0 {width} {height + 40}" role="img">'
    ]
    for i, (label, count) in enumerate(bars):
        bar_height = count / top * (height - pad)
        x = pad + i * slot
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
                f"{x:.1f}",
                f"{height - bar_height:.1f}",
                f"{max(slot - 2, 1):.1f}",
                f"{bar_height:.1f}",
                COLORS[0],
                label,
                count,
            )
        )
        if i % max(1, len(bars) // 8) == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" font-size="10" fill="#666">{}</text>',
                    f"{x:.1f}",
                    height + 14,
                    label,
                )
            )
    parts.append("</svg>")
    return mark_safe("".join(str(p) for p in parts))


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
