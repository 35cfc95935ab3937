from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync
from django.db import connection, connections
from django.test import AsyncClient, Client, override_settings
from django.test.utils import CaptureQueriesContext

from perfkit.metrics.models import SlowRequest
from perfkit.recording.pipeline import pipeline
from tests.metrics.helpers import endpoint_counters, line_of
from tests.testapp import views
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

RECORD_ALL = {"RECORDER_FLUSH_INTERVAL": 0, "METRICS_SLOW_MS": 0.001}


@pytest.fixture
def books() -> list[Book]:
    authors = Author.objects.bulk_create(Author(name=f"a{i}") for i in range(20))
    return Book.objects.bulk_create(
        Book(title=f"b{i}", author=author) for i, author in enumerate(authors)
    )


@override_perfkit(RECORD_ALL)
def test_n_plus_one_is_flagged_with_the_loop_line(books: list[Book], client: Client) -> None:
    assert client.get("/n-plus-one/").status_code == 200
    counters = endpoint_counters("GET n-plus-one/")
    assert counters["n1"] == 1
    assert counters["queries"] == 21
    sample = SlowRequest.objects.get(endpoint="GET n-plus-one/")
    assert sample.n_plus_one
    top = sample.repeated[0]
    assert top["count"] == 20
    assert top["site"]["file"] == views.__file__
    assert top["site"]["line"] == line_of(views.__file__, "# N+1: one author query per book")
    assert top["site"]["function"] == "n_plus_one"
    assert top["fix"] == 'Book.objects.select_related("author")'


def test_n_plus_one_is_logged_with_call_site(
    books: list[Book], client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="perfkit.metrics"):
        client.get("/n-plus-one/")
    text = caplog.text
    assert "GET n-plus-one/" in text and "N+1" in text
    assert f"views.py:{line_of(views.__file__, '# N+1')}" in text
    assert '(fix: Book.objects.select_related("author"))' in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="perfkit.metrics"):
        client.get("/n-plus-one/")
    assert caplog.text == ""  # once per endpoint and minute: logs stay readable


@override_perfkit({"RECORDER_FLUSH_INTERVAL": 0, "METRICS_QUERY_BUDGET": 100})
def test_query_budget_is_logged(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="perfkit.metrics"):
        client.get("/ping/")
        assert caplog.text == ""
        client.get("/many-queries/")
    assert "200 queries (budget 100)" in caplog.text


def test_one_query_issued_twice_is_one_duplicate(client: Client) -> None:
    client.get("/duplicate/")
    counters = endpoint_counters("GET duplicate/")
    assert counters["dups"] == 1
    assert counters["queries"] == 2
    assert counters["n1"] == 0


@pytest.mark.parametrize(
    "url", ["/n-plus-one/", "/duplicate/", "/books/", "/ping/", "/many-queries/"]
)
def test_query_count_equals_djangos_capture(books: list[Book], client: Client, url: str) -> None:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    django_count = len(captured.captured_queries)
    assert django_count > 0 or url == "/ping/"
    counters = endpoint_counters(f"GET {response.resolver_match.route}")
    assert counters["queries"] == django_count


@pytest.mark.django_db(databases=["default", "other"])
def test_every_alias_is_counted(client: Client) -> None:
    with CaptureQueriesContext(connection) as on_default:
        with CaptureQueriesContext(connections["other"]) as on_other:
            client.get("/two-aliases/")
            default_count = len(on_default.captured_queries)
            other_count = len(on_other.captured_queries)
    assert other_count == 1
    counters = endpoint_counters("GET two-aliases/")
    assert counters["queries@default"] == default_count
    assert counters["queries@other"] == other_count
    assert counters["queries"] == counters["queries@default"] + counters["queries@other"]


@pytest.mark.django_db(transaction=True)
def test_async_view_under_asgi_is_recorded() -> None:
    Author.objects.create(name="x")
    response = async_to_sync(AsyncClient().get)("/async/")
    assert response.status_code == 200
    assert response.json() == {"count": 1, "names": ["x"]}
    counters = endpoint_counters("GET async/")
    assert counters["count"] == 1
    assert counters["queries"] == 2  # acount() and the async for, seen in ORM threads


def test_exception_reaches_django_and_is_an_error(client: Client) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        client.get("/boom/")
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    counters = endpoint_counters("GET boom/")
    assert counters["count"] == 2
    assert counters["errors"] == 2
    assert counters["s5xx"] == 2
    assert counters["queries"] == 2


def test_status_classes(client: Client) -> None:
    for code in (200, 302, 404, 429, 503):
        client.get(f"/status/{code}/")
    counters = endpoint_counters("GET status/<int:code>/")
    assert {k: counters.get(k) for k in ("s2xx", "s3xx", "s4xx", "s429", "s5xx", "errors")} == {
        "s2xx": 1,
        "s3xx": 1,
        "s4xx": 1,
        "s429": 1,
        "s5xx": 1,
        "errors": 1,
    }


def test_endpoints_are_route_patterns_not_paths(books: list[Book], client: Client) -> None:
    for book in books[:3]:
        client.get(f"/books/{book.pk}/")
    client.get("/nested/items/some-slug/")
    client.get("/no/such/page/")
    client.get("/another/missing/")
    client.generic("BREW", "/ping/")
    assert endpoint_counters("GET books/<int:pk>/")["count"] == 3
    assert endpoint_counters("GET nested/items/<slug:slug>/")["count"] == 1
    assert endpoint_counters("GET <unmatched>")["count"] == 2
    assert endpoint_counters("OTHER ping/")["count"] == 1


def test_streaming_response_is_timed_to_its_end(client: Client) -> None:
    Author.objects.bulk_create(Author(name=f"s{i}") for i in range(3))
    response = client.get("/stream/")
    assert len(pipeline.buffer) == 0  # not finished until consumed
    assert b"".join(response.streaming_content).count(b"\n") == 3
    counters = endpoint_counters("GET stream/")
    assert counters["count"] == 1
    assert counters["queries"] == 1  # the query ran while streaming


@pytest.mark.parametrize(
    ("mode", "debug", "expected"),
    [("on", False, True), ("off", True, False), ("debug", False, False), ("debug", True, True)],
)
def test_server_timing_modes(client: Client, mode: str, debug: bool, expected: bool) -> None:
    with override_settings(DEBUG=debug), override_perfkit({"METRICS_SERVER_TIMING": mode}):
        response = client.get("/duplicate/")
    header = response.get("Server-Timing")
    assert (header is not None) is expected
    if expected:
        assert "total;dur=" in header and "db;dur=" in header and '"2 queries"' in header


@override_perfkit({"METRICS_SERVER_TIMING": "staff"})
def test_server_timing_for_staff_only_when_the_view_loaded_the_user(
    client: Client, admin_user: object
) -> None:
    client.force_login(admin_user)  # type: ignore[arg-type]
    assert "Server-Timing" not in client.get("/ping/")  # the view never touched request.user
    assert "Server-Timing" in client.get("/whoami/")
    anonymous = Client()
    assert "Server-Timing" not in anonymous.get("/whoami/")


def test_recording_adds_no_query(client: Client, admin_user: object) -> None:
    client.force_login(admin_user)  # type: ignore[arg-type]
    with override_perfkit({"METRICS_ENABLED": False}):
        with CaptureQueriesContext(connection) as bare:
            client.get("/ping/")
    with CaptureQueriesContext(connection) as recorded:
        client.get("/ping/")
    assert len(recorded.captured_queries) == len(bare.captured_queries)


def test_kill_switch_and_ignored_paths(client: Client) -> None:
    with override_perfkit({"METRICS_ENABLED": False}):
        client.get("/ping/")
    with override_perfkit({"METRICS_IGNORE_PATHS": [r"^/ping/"]}):
        client.get("/ping/")
    assert endpoint_counters("GET ping/") == {}
    client.get("/ping/")
    assert endpoint_counters("GET ping/")["count"] == 1


def test_sample_rate_zero_keeps_counts_but_not_details(books: list[Book], client: Client) -> None:
    with override_perfkit({"METRICS_SAMPLE_RATE": 0.0}):
        client.get("/n-plus-one/")
    counters = endpoint_counters("GET n-plus-one/")
    assert counters["queries"] == 21
    assert counters["n1"] == 0 and counters["detailed"] == 0


@override_perfkit({**RECORD_ALL, "METRICS_SAMPLES_PER_HOUR": 3})
def test_samples_are_bounded_and_hold_no_parameters(client: Client) -> None:
    for _ in range(8):
        client.get("/duplicate/?token=secret")
    endpoint_counters("GET duplicate/")
    samples = list(SlowRequest.objects.filter(endpoint="GET duplicate/"))
    assert len(samples) == 3
    for sample in samples:
        assert sample.path == "/duplicate/"
        assert "secret" not in str(sample.repeated) and "params" not in sample.repeated[0]
        assert "'a'" not in str(sample.repeated)


def test_a_streaming_response_never_iterated_is_finished_when_closed() -> None:
    from django.core.signals import request_finished
    from django.db import close_old_connections

    from perfkit.recording import scope

    response = Client().get("/stream/")
    assert scope.is_open()  # the run waits for the body
    request_finished.disconnect(close_old_connections)
    try:
        response.close()  # what a WSGI server does when the client went away
    finally:
        request_finished.connect(close_old_connections)
    assert not scope.is_open()
    assert endpoint_counters("GET stream/")["count"] == 1


@override_perfkit(RECORD_ALL)
def test_n_plus_one_in_a_template_names_the_template_line(
    books: list[Book], client: Client
) -> None:
    # ListView returns a TemplateResponse: the template renders after the view
    # has returned, so no frame of the project's Python is on the stack.
    assert client.get("/books/template-n-plus-one/").status_code == 200
    assert endpoint_counters("GET books/template-n-plus-one/")["n1"] == 1
    sample = SlowRequest.objects.get(endpoint="GET books/template-n-plus-one/")
    site = sample.repeated[0]["site"]
    assert site["file"].endswith("tests/testapp/templates/testapp/books.html")
    assert (site["line"], site["function"]) == (1, "<template>")
    assert "testapp_author" in sample.repeated[0]["sql"]
