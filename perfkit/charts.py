"""Server-side SVG charts: no JavaScript, no CDN, nothing fetched at view time."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from perfkit.recording import histogram

COLORS = ("#417690", "#d9822b", "#ba2121", "#5b8a3c")
GRID = "#ddd"
MUTED = "#666"


@dataclass
class Series:
    """One line of a chart; ``None`` values leave a gap."""

    label: str
    values: Sequence[float | None]


def nice_ticks(maximum: float, count: int = 5, whole: bool = False) -> list[float]:
    """Evenly spaced round ticks from 0 up to at least ``maximum`` (at most ``count`` steps).

    Steps are 1, 2, 2.5 or 5 times a power of ten (``whole``: whole numbers only).
    """
    if maximum <= 0:
        maximum = 1.0
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    factors = (1, 2, 5, 10) if whole and magnitude < 10 else (1, 2, 2.5, 5, 10)
    step = next(f * magnitude for f in factors if f * magnitude >= raw * (1 - 1e-9))
    if whole:
        step = max(step, 1)
    steps = math.ceil(maximum / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


def number(value: float) -> str:
    """An axis figure: no trailing zeros, thousands separated."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.6f}".rstrip("0").rstrip(".")


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
        y = height - pad - (min(value, top) / top) * (height - 2 * pad) if top else height - pad
        segments[-1].append((pad + i * step, y))
    return [s for s in segments if s]


def _trace(segment: list[tuple[float, float]], color: str, stroke: float, radius: float) -> str:
    """One unbroken run of points: a line, or a dot when it is a single point
    (a one-point polyline draws nothing)."""
    if len(segment) == 1:
        x, y = segment[0]
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{color}"/>'
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
    return (
        f'<polyline class="trace" points="{coords}" fill="none" stroke="{color}" '
        f'stroke-width="{stroke}"/>'
    )


def sparkline(values: Sequence[float | None], width: int = 100, height: int = 24) -> SafeString:
    """A small inline trend over the whole window, one point per bucket.

    A bucket without data (``None``: nothing ran then) is drawn at zero on a
    baseline, so a window with a single busy minute still reads as a line
    across the window rather than a lone dot.
    """
    if all(v is None for v in values):
        return mark_safe("")
    filled = [0.0 if v is None else v for v in values]
    if len(filled) == 1:
        filled *= 2
    pad = 2
    top = max(filled) or 1.0
    (segment,) = _points(filled, width, height, top, pad)
    zero = height - pad
    return mark_safe(
        f'<svg class="perfkit-spark" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="trend">'
        f'<line x1="{pad}" x2="{width - pad}" y1="{zero}" y2="{zero}" stroke="{GRID}"/>'
        f"{_trace(segment, COLORS[0], stroke=1.5, radius=1.5)}</svg>"
    )


def line_chart(
    series: Sequence[Series],
    labels: Sequence[str],
    unit: str,
    width: int = 720,
    height: int = 220,
    top: float | None = None,
    markers: Sequence[tuple[float, str]] = (),
) -> SafeString:
    """A line chart with a y axis, first/last x labels and a legend.

    The y axis runs from 0 to ``top`` (a percentage: 100), or else to a round
    figure above the data. ``markers`` are vertical dashed lines at a
    (fractional) index of the values, with a label (a release's start).
    """
    pad, left = 10, 60
    present = [v for s in series for v in s.values if v is not None]
    ticks = nice_ticks(top if top is not None else max(present, default=0.0))
    top = ticks[-1]
    parts = [
        f'<svg class="perfkit-chart" width="{width}" height="{height + 30}" '
        f'viewBox="0 0 {width} {height + 30}" role="img">',
        f'<g transform="translate({left},0)">',
    ]
    inner = width - left - pad
    for tick in ticks:
        y = height - pad - tick / top * (height - 2 * pad)
        parts.append(
            f'<line x1="0" x2="{inner}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="-6" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(number(tick))} {escape(unit)}</text>"
        )
    if not present:
        parts.append(
            f'<text x="{inner / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
            f'font-size="12" fill="{MUTED}">no data in this window</text>'
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
    count = max((len(line.values) for line in series), default=0)
    step = (inner - 2 * pad) / max(count - 1, 1)
    for position, label in markers:
        x = pad + position * step
        parts.append(
            f'<g class="perfkit-marker"><title>{escape(label)}</title>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad}" y2="{height - pad}" stroke="{MUTED}" '
            f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{pad + 9}" font-size="10" '
            f'fill="{MUTED}">{escape(label)}</text></g>'
        )
    if labels:
        parts.append(
            f'<text x="0" y="{height + 2}" font-size="10" fill="{MUTED}">{escape(labels[0])}</text>'
            f'<text x="{inner}" y="{height + 2}" font-size="10" fill="{MUTED}" '
            f'text-anchor="end">{escape(labels[-1])}</text>'
        )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))


def duration(us: float) -> str:
    """A duration in the unit that reads best: 250 µs, 12 ms, 1.5 s, 10 min."""
    if us < 1000:
        return f"{number(round(us, 1))} µs"
    if us < 1_000_000:
        return f"{number(round(us / 1000, 1))} ms"
    if us < 600_000_000:
        return f"{number(round(us / 1_000_000, 1))} s"
    return f"{number(round(us / 60_000_000, 1))} min"


def _bucket_edges(index: int) -> tuple[float, float]:
    """Lower and upper duration (µs) of a histogram bucket; the outer two get one
    bucket's width on a log axis (below 100 µs, from 10 min)."""
    low = histogram.lower_bound(index) if index > 0 else histogram.LOW_US / histogram.RATIO
    return low, low * histogram.RATIO


def _time_ticks(low: float, high: float) -> list[float]:
    """Durations to label on a log axis from ``low`` to ``high`` µs: powers of ten,
    with 2 and 5 between them when the axis spans two decades or less."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    steps = (1, 2, 5) if last - first <= 2 else (1,)
    found = [m * 10.0**e for e in range(first, last + 1) for m in steps]
    return [t for t in found if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]


def histogram_chart(counts: Mapping[int, int], width: int = 720, height: int = 200) -> SafeString:
    """The latency histogram: every bucket at its place on a log-time axis, under a count axis.

    The axis runs over whole decades around the recorded buckets; buckets with
    no requests stay as empty space, so the shape is the distribution's.
    """
    full = {index: count for index, count in counts.items() if count > 0}
    if not full:
        return mark_safe("")
    left, right, top_pad, bottom = 50, 12, 18, 34
    low = 10.0 ** math.floor(math.log10(_bucket_edges(min(full))[0]))
    high = 10.0 ** math.ceil(math.log10(_bucket_edges(max(full))[1]))
    span = math.log10(high / low)
    inner_w, inner_h = width - left - right, height - top_pad - bottom

    def x_of(us: float) -> float:
        return left + math.log10(us / low) / span * inner_w

    ticks = nice_ticks(max(full.values()), whole=True)
    top = ticks[-1]
    base = top_pad + inner_h
    parts = [
        f'<svg class="perfkit-chart perfkit-histogram" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="latency histogram">',
        f'<text x="4" y="{top_pad - 6}" font-size="11" fill="{MUTED}">requests</text>',
    ]
    for tick in ticks:
        y = base - tick / top * inner_h
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{number(tick)}</text>"
        )
    for tick in _time_ticks(low, high):
        x = x_of(tick)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="{MUTED}"/>'
            f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle" font-size="10" '
            f'fill="{MUTED}">{escape(duration(tick))}</text>'
        )
    for index, count in sorted(full.items()):
        lower, upper = _bucket_edges(index)
        x0, x1 = x_of(lower), x_of(upper)
        bar = count / top * inner_h
        if index == 0:
            what = f"under {duration(histogram.LOW_US)}"
        elif index >= histogram.OVERFLOW:
            what = f"{duration(histogram.HIGH_US)} or more"
        else:
            what = f"{duration(lower)} to {duration(upper)}"
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                "<title>{}: {} request{}</title></rect>",
                f"{x0 + 0.5:.1f}",
                f"{base - bar:.1f}",
                f"{max(x1 - x0 - 1, 1):.1f}",
                f"{bar:.1f}",
                COLORS[0],
                what,
                count,
                "" if count == 1 else "s",
            )
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="{MUTED}"/>'
        f'<text x="{width - right}" y="{height - 2}" text-anchor="end" font-size="10" '
        f'fill="{MUTED}">duration (log scale)</text></svg>'
    )
    return mark_safe("".join(str(p) for p in parts))
