"""The permanent wrapper survives the traps found in real projects."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, connections

from perfkit import observe
from perfkit.capture import Capture
from tests.testapp.models import Author


def passthrough(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    return execute(sql, params, many, context)


@pytest.mark.django_db(transaction=True)
def test_first_query_opening_the_connection_inside_an_execute_wrapper_block() -> None:
    """A request-scoped execute_wrapper() pops the *last* wrapper on exit."""
    seen: list[int] = []
    failures: list[BaseException] = []

    def in_new_thread() -> None:
        try:
            fresh = connections["default"]  # a new connection object: not yet opened
            assert fresh.connection is None
            with fresh.execute_wrapper(passthrough):
                Author.objects.count()  # opens the connection inside the block
            assert fresh.execute_wrappers == [observe.observe_statement]
            capture = Capture()
            with observe.observing(capture):
                Author.objects.count()
            seen.append(capture.queries)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=in_new_thread)
    thread.start()
    thread.join()
    assert not failures, failures
    assert seen == [1]


@pytest.mark.django_db
def test_installed_once_per_connection_even_when_ready_runs_again() -> None:
    connection.ensure_connection()
    for config in (apps.get_app_config("perfkit"), apps.get_app_config("perfkit_metrics")):
        config.ready()
    observe.on_connection_created(sender=None, connection=connection)
    assert connection.execute_wrappers.count(observe.observe_statement) == 1


@pytest.mark.django_db(transaction=True)
def test_reconnecting_keeps_a_single_wrapper() -> None:
    connection.close()
    Author.objects.count()
    connection.close()
    Author.objects.count()
    assert connection.execute_wrappers.count(observe.observe_statement) == 1


@pytest.mark.django_db
def test_a_broken_observer_never_breaks_the_query() -> None:
    class Broken:
        def query(self, *args: Any) -> None:
            raise RuntimeError("observer bug")

    with observe.observing(Broken()):
        assert Author.objects.count() == 0
