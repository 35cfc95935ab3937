"""File responses keep ``wsgi.file_wrapper`` (sendfile); every streaming response is timed.

These call Django's WSGI handler the way a WSGI server does (gunicorn, uWSGI,
mod_wsgi all offer ``wsgi.file_wrapper``), rather than through the test client,
which never offers it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from perfkit.recording import scope
from tests.metrics.helpers import endpoint_counters
from tests.testapp import views

pytestmark = pytest.mark.django_db

PAUSE = 0.05  # seconds the "server" takes to send the body


class FileWrapper:
    """A recording ``wsgi.file_wrapper``: what the server would hand to sendfile."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, int]] = []

    def __call__(self, filelike: Any, block_size: int = 8192) -> Any:
        self.calls.append((filelike, block_size))
        return filelike


_bodies: list[Any] = []


@pytest.fixture(autouse=True)
def _wsgi_server() -> Iterator[None]:
    """Keep the test's connection (a real handler closes connections at request start and
    end), and close every body at the end, as a server would, even when a test failed."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        while _bodies:
            _bodies.pop().close()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call_wsgi(path: str, **extra: Any) -> tuple[Any, list[str]]:
    """Call Django's WSGI handler as a server does: the body and the status it started."""
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET", **extra}
    setup_testing_defaults(environ)
    statuses: list[str] = []
    body = WSGIHandler()(environ, lambda status, headers: statuses.append(status))
    _bodies.append(body)
    return body, statuses


def test_a_file_response_reaches_wsgi_file_wrapper() -> None:
    wrapper = FileWrapper()
    body, statuses = call_wsgi("/download/", **{"wsgi.file_wrapper": wrapper})
    assert statuses == ["200 OK"]
    assert len(wrapper.calls) == 1, "the file never reached wsgi.file_wrapper (no sendfile)"
    filelike, _ = wrapper.calls[0]
    assert body is filelike
    assert filelike.name == views.__file__
    assert scope.is_open()  # timed until the server is done with the file
    time.sleep(PAUSE)
    body.close()  # what the server does after sendfile (Django points it at response.close)
    assert not scope.is_open()
    counters = endpoint_counters("GET download/")
    assert counters["count"] == 1
    assert counters["dur_us"] >= PAUSE * 1_000_000


def test_a_file_response_without_file_wrapper_is_recorded_once_sent() -> None:
    body, _ = call_wsgi("/download/")
    with open(views.__file__, "rb") as source:
        assert b"".join(body) == source.read()
    body.close()
    counters = endpoint_counters("GET download/")
    assert counters["count"] == 1
    assert counters["dur_us"] > 0


def test_a_streaming_response_is_timed_to_the_end_of_its_stream() -> None:
    wrapper = FileWrapper()
    body, _ = call_wsgi("/slow-stream/", **{"wsgi.file_wrapper": wrapper})
    assert wrapper.calls == []  # not a file: the server iterates it
    assert scope.is_open()
    assert b"".join(body) == b"first\nlast\n"
    assert not scope.is_open()  # finished at the end of the stream, before close
    body.close()
    counters = endpoint_counters("GET slow-stream/")
    assert counters["count"] == 1
    assert counters["dur_us"] >= views.SLOW_STREAM_SECONDS * 1_000_000
