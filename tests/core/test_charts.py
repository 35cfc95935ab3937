"""The server-side SVG charts: what they draw, read back from the SVG itself."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from perfkit import charts
from perfkit.recording import histogram

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    """The chart as XML (the SVG namespace added, as a browser would read it)."""
    return ET.fromstring(svg.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in parse(svg).iter(f"{SVG}text")]


def points(polyline: ET.Element) -> list[tuple[float, float]]:
    pairs = polyline.attrib["points"].split()
    return [(float(x), float(y)) for x, y in (p.split(",") for p in pairs)]


def bars(svg: str) -> list[ET.Element]:
    """The histogram's bars: the rects with a <title> saying what they count."""
    return [r for r in parse(svg).iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


# Sparklines


def test_a_sparkline_with_one_bucket_of_data_spans_the_whole_window() -> None:
    """The first hour: one minute of 60 has data; the trend is a line across the window."""
    values: list[float | None] = [None] * 59 + [12.5]
    svg = charts.sparkline(values, width=120, height=24)
    (trace,) = [p for p in parse(svg).iter(f"{SVG}polyline") if p.get("class") == "trace"]
    xs = [x for x, _ in points(trace)]
    assert len(xs) == 60  # every minute of the window is a point
    assert min(xs) <= 3 and max(xs) >= 117  # from the window's start to its end
    ys = [y for _, y in points(trace)]
    assert ys[-1] < ys[0]  # the one minute with data stands above the empty ones
    assert not list(parse(svg).iter(f"{SVG}circle"))


def test_a_sparkline_draws_missing_buckets_at_zero_on_a_baseline() -> None:
    svg = charts.sparkline([4.0, None, 8.0, None], width=100, height=20)
    tree = parse(svg)
    (trace,) = [p for p in tree.iter(f"{SVG}polyline") if p.get("class") == "trace"]
    (baseline,) = tree.iter(f"{SVG}line")
    zero = float(baseline.attrib["y1"])
    ys = [y for _, y in points(trace)]
    assert ys[1] == ys[3] == zero
    assert ys[2] < ys[0] < zero


def test_a_sparkline_without_data_is_empty() -> None:
    assert charts.sparkline([None, None]) == ""
    assert charts.sparkline([]) == ""


# Line charts


def test_a_percentage_chart_has_a_0_to_100_axis_whatever_its_data() -> None:
    labels = ["10:00", "10:01", "10:02"]
    svg = charts.line_chart([charts.Series("hit ratio", [50.0, 83.3, 70.0])], labels, "%", top=100)
    axis = [t for t in texts(svg) if t.endswith("%")]
    assert axis[0] == "0 %" and axis[-1] == "100 %", axis
    assert "83.3 %" not in axis


def test_an_empty_percentage_chart_still_reads_0_to_100() -> None:
    svg = charts.line_chart([charts.Series("hit ratio", [None, None])], ["a", "b"], "%", top=100)
    found = texts(svg)
    assert "100 %" in found and "0 %" in found, found
    assert "1.00 %" not in found
    assert "no data in this window" in found


def test_a_line_chart_axis_ends_on_a_round_figure_above_the_data() -> None:
    svg = charts.line_chart([charts.Series("p95", [12.0, 83.3])], ["a", "b"], "ms")
    axis = [t.removesuffix(" ms") for t in texts(svg) if t.endswith(" ms")]
    assert axis == ["0", "20", "40", "60", "80", "100"], axis


# The latency histogram


def counts(*durations_ms: float) -> histogram.Histogram:
    found: histogram.Histogram = {}
    for ms in durations_ms:
        histogram.add(found, ms * 1000)
    return found


def test_the_histogram_places_buckets_on_a_log_time_axis() -> None:
    """1 ms, 10 ms and 100 ms are equally far apart, whatever lies between them."""
    svg = charts.histogram_chart(counts(1, 10, 100))
    drawn = bars(svg)
    assert len(drawn) == 3
    lefts = sorted(float(r.attrib["x"]) for r in drawn)
    assert lefts[2] - lefts[1] == pytest.approx(lefts[1] - lefts[0], abs=1)
    widths = {round(float(r.attrib["width"]), 1) for r in drawn}
    assert len(widths) == 1  # every bucket is as wide as any other on a log axis
    ticks = texts(svg)
    for label in ("1 ms", "10 ms", "100 ms"):
        assert label in ticks, ticks


def test_the_histogram_keeps_the_gap_of_empty_buckets() -> None:
    """Empty buckets between two full ones are space on the axis, not dropped."""
    near = bars(charts.histogram_chart(counts(1, 1.2)))
    far = bars(charts.histogram_chart(counts(1, 1000)))
    gap_near = abs(float(near[1].attrib["x"]) - float(near[0].attrib["x"]))
    gap_far = abs(float(far[1].attrib["x"]) - float(far[0].attrib["x"]))
    assert gap_far > 5 * gap_near


def test_the_histogram_has_a_count_axis() -> None:
    svg = charts.histogram_chart(counts(*([5] * 7), 50))
    heights = sorted(float(r.attrib["height"]) for r in bars(svg))
    assert heights[1] == pytest.approx(7 * heights[0], rel=0.01)
    numbers = [t for t in texts(svg) if re.fullmatch(r"\d+", t)]
    assert numbers[0] == "0" and int(numbers[-1]) >= 7, numbers
    assert "requests" in texts(svg)
    titles = [r.find(f"{SVG}title").text for r in bars(svg)]  # type: ignore[union-attr]
    assert any(t and t.endswith(": 7 requests") for t in titles), titles


def test_the_histogram_draws_the_outer_buckets() -> None:
    svg = charts.histogram_chart({0: 2, histogram.OVERFLOW: 1})
    assert len(bars(svg)) == 2
    assert charts.histogram_chart({}) == ""
