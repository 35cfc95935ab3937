from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.test import Client

from perfkit import api
from perfkit.metrics.dashboard import EndpointRow
from perfkit.metrics.management.commands import perfkit_top
from perfkit.metrics.top import Top, render
from perfkit.recording.query import DEFAULT_WINDOW, WINDOWS
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

SLOW = "GET n-plus-one/"
FAST = "GET ping/"


def slow_queries(delay: float) -> Callable[..., Any]:
    """An execute wrapper making every query take ``delay`` seconds longer."""

    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        time.sleep(delay)
        return execute(sql, params, many, context)

    return wrapper


@pytest.fixture
def recorded(client: Client) -> None:
    """Three fast requests and one slow one (seven queries, 20 ms each), flushed and drained."""
    author = Author.objects.create(name="a")
    Book.objects.bulk_create(Book(title=str(i), author=author) for i in range(6))
    for _ in range(3):
        assert client.get("/ping/").status_code == 200
    with connection.execute_wrapper(slow_queries(0.02)):
        assert client.get("/n-plus-one/").status_code == 200
    assert api.flush()
    api.drain(include_current=True)


def top(*args: str) -> str:
    out = StringIO()
    call_command("perfkit_top", "--once", *args, stdout=out)
    return out.getvalue()


def table(output: str) -> dict[str, list[str]]:
    """Endpoint -> its cells, in the order printed (the header line skipped)."""
    rows: dict[str, list[str]] = {}
    for line in output.splitlines()[2:]:
        method, route, *cells = line.split()
        rows[f"{method} {route}"] = cells
    return rows


def test_lists_every_endpoint_slowest_first(recorded: None) -> None:
    output = top()
    header, columns = output.splitlines()[:2]
    assert "sorted by p95" in header and "2 endpoints" in header
    assert columns.split() == [
        "ENDPOINT", "REQUESTS", "ERRORS", "P50", "MS", "P95", "MS", "P99", "MS", "AVG", "Q", "N+1"
    ]  # fmt: skip
    rows = table(output)
    assert list(rows) == [SLOW, FAST]
    requests, errors, _p50, p95, _p99, queries, n_plus_one = rows[SLOW]
    assert (requests, errors, n_plus_one) == ("1", "0", "1")
    assert float(p95) >= 120 and float(queries) >= 7
    assert rows[FAST][0] == "3" and rows[FAST][-1] == "0"


def test_sort_by_count_and_limit(recorded: None) -> None:
    assert list(table(top("--sort", "count"))) == [FAST, SLOW]
    assert list(table(top("--sort", "queries"))) == [SLOW, FAST]
    limited = top("--sort", "count", "--limit", "1")
    assert list(table(limited)) == [FAST]
    assert "1 of 2 endpoints" in limited.splitlines()[0]


def test_every_window_reads(recorded: None) -> None:
    for window in ("1h", "24h", "7d", "30d"):
        assert list(table(top("--window", window))) == [SLOW, FAST], window


def test_empty_window_prints_a_hint() -> None:
    output = top("--window", "1h")
    assert "no requests recorded in the last hour — is PerfMiddleware installed?" in output
    assert DEFAULT_WINDOW in perfkit_top.WINDOWS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "5m"], "invalid choice: '5m'"),
        (["--sort", "max"], "invalid choice: 'max'"),
        (["--limit", "0"], "--limit must be 1 or more"),
        (["--limit", "ten"], "invalid int value: 'ten'"),
        (["--interval", "0"], "--interval must be a number of seconds above 0"),
        (["--interval", "nan"], "--interval must be a number of seconds above 0"),
    ],
)
def test_bad_options_are_command_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        top(*args)


@pytest.fixture
def two_refreshes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Let the refresh loop sleep once, then press Ctrl-C."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(perfkit_top.time, "sleep", sleep)
    yield sleeps


def test_piped_output_prints_one_table_per_interval(
    recorded: None, two_refreshes: list[float]
) -> None:
    out = StringIO()
    call_command("perfkit_top", "--interval", "0.5", stdout=out)  # no traceback on Ctrl-C
    assert two_refreshes == [0.5, 0.5]
    output = out.getvalue()
    assert "\x1b[" not in output
    frames = output.strip("\n").split("\n\n")
    assert len(frames) == 2
    assert all(list(table(frame)) == [SLOW, FAST] for frame in frames)


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_is_cleared_before_each_table(
    recorded: None, two_refreshes: list[float]
) -> None:
    out = Terminal()
    call_command("perfkit_top", stdout=out)
    output = out.getvalue()
    assert output.startswith(perfkit_top.CLEAR_SCREEN)
    assert output.count(perfkit_top.CLEAR_SCREEN) == 2
    assert "\n\n" not in output.rstrip("\n")  # no blank line between tables


def test_long_endpoints_are_cut_to_the_terminal_width() -> None:
    row = EndpointRow("GET " + "very/" * 30, 1, 0, 1.0, 2.0, 3.0, 4.0, 1.0, 1, 0, 0)
    found = Top(WINDOWS["1h"], "p95", [row], 1, datetime.now(tz=UTC))
    lines = render(found, width=100).splitlines()
    assert all(len(line) == 100 for line in lines[1:])
    assert lines[2].startswith("GET very/") and "…" in lines[2]
    assert len(render(found).splitlines()[2]) > 100  # piped: never cut


def test_hint_names_the_kill_switch_and_the_drain() -> None:
    with override_perfkit({"METRICS_ENABLED": False, "RECORDER": "redis"}):
        output = top()
    assert "METRICS_ENABLED" in output and "perfkit_drain" in output


def test_sort_by_errors_keeps_p95_order_on_ties(recorded: None, client: Client) -> None:
    assert list(table(top("--sort", "errors"))) == [SLOW, FAST]
    with pytest.raises(RuntimeError, match="boom"):
        client.get("/boom/")
    assert api.flush()
    api.drain(include_current=True)
    rows = table(top("--sort", "errors"))
    assert next(iter(rows)) == "GET boom/" and rows["GET boom/"][1] == "1"


def test_database_errors(monkeypatch: pytest.MonkeyPatch, two_refreshes: list[float]) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(perfkit_top.top, "top_rows", down)
    with pytest.raises(CommandError, match="cannot read perfkit's rollups: connection refused"):
        top()
    out = StringIO()
    call_command("perfkit_top", stdout=out)  # the live view keeps trying
    assert out.getvalue().count("cannot read perfkit's rollups") == 2


def test_an_unimportable_recorder_is_not_a_drain() -> None:
    with override_perfkit({"RECORDER": "nowhere.Recorder"}):
        assert "drain" not in top()
