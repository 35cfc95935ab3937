"""``PerfMiddleware``: per-request timing, SQL capture and the Server-Timing header.

Place it first in ``MIDDLEWARE``. It records every request under its
endpoint (``METHOD route-pattern``), never raises, and lets exceptions pass
to Django unchanged (Django turns them into the 500 response it records).

What is measured: from the middleware's entry to the moment the response is
complete. For a streaming response that is the end (or close) of its
iteration; for a ``FileResponse`` over a file, the moment the server closes
it after sending the file (its content is left alone, so the server's
``wsgi.file_wrapper``, sendfile, still sends it). A streaming response's
``Server-Timing`` header, sent before the body, shows the time up to the
first byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.utils.functional import empty

from perfkit.conf import perfkit_settings
from perfkit.metrics.endpoints import route_of
from perfkit.metrics.outcome import Outcome
from perfkit.metrics.run import Run
from perfkit.recording import errors

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"


class PerfMiddleware:
    """Record each request's timing, queries, duplicates and N+1s."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        run = _start(request)
        if run is None:
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except BaseException:
            run.finish(_outcome(request, None))
            raise
        return _finish(run, request, response)

    async def __acall__(self, request: HttpRequest) -> Any:
        run = _start(request)
        if run is None:
            return await self.get_response(request)
        try:
            response = await self.get_response(request)
        except BaseException:
            run.finish(_outcome(request, None))
            raise
        return _finish(run, request, response)


def _start(request: HttpRequest) -> Run | None:
    try:
        if not perfkit_settings.METRICS_ENABLED:
            return None
        ignore = perfkit_settings.ignore_path_regex
        if ignore is not None and ignore.search(request.path):
            return None
        return Run()
    except Exception as exc:
        errors.report("metrics middleware", exc)
        return None


def _finish(run: Run, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    try:
        _add_server_timing(run, request, response)
        if response.streaming and isinstance(response, StreamingHttpResponse):
            outcome = _outcome(request, response)
            # The server closes every response once it is done with it, even a body
            # never iterated (client gone): finish there. finish() is idempotent.
            # (_resource_closers is what HttpResponseBase.close() runs; Django has
            # kept it since 3.0.)
            response._resource_closers.append(lambda: run.finish(outcome))  # type: ignore[attr-defined]
            if getattr(response, "file_to_stream", None) is not None:
                # A FileResponse over a file: replacing its content would take the
                # file away from wsgi.file_wrapper (sendfile). The server closes the
                # response after sending it, which is the end of its timing.
                return response
            content = response.streaming_content
            if isinstance(content, AsyncIterator):
                response.streaming_content = _timed_async(content, run, outcome)
            else:
                response.streaming_content = _timed(content, run, outcome)
            return response
    except Exception as exc:
        errors.report("metrics middleware", exc)
    run.finish(_outcome(request, response))
    return response


def _timed(content: Iterator[bytes], run: Run, outcome: Outcome) -> Iterator[bytes]:
    try:
        yield from content
    finally:
        run.finish(outcome)


async def _timed_async(
    content: AsyncIterator[bytes], run: Run, outcome: Outcome
) -> AsyncIterator[bytes]:
    try:
        async for chunk in content:
            yield chunk
    finally:
        run.finish(outcome)


def endpoint_of(request: HttpRequest) -> str:
    """``METHOD route-pattern`` (see :mod:`perfkit.metrics.endpoints`); requests that
    resolved no URL share one bucket."""
    method = request.method if request.method in KNOWN_METHODS else "OTHER"
    match = getattr(request, "resolver_match", None)
    if match is None:
        return f"{method} {UNMATCHED}"
    try:
        return f"{method} {route_of(match)}"
    except Exception as exc:  # a ResolverMatch built by hand, say: never fail the request
        errors.report("metrics middleware", exc)
        return f"{method} {getattr(match, 'route', None) or UNMATCHED}"


def _outcome(request: HttpRequest, response: HttpResponseBase | None) -> Outcome:
    user = loaded_user(request)
    user_id = getattr(user, "pk", None) if user is not None else None
    return Outcome(
        endpoint=endpoint_of(request),
        status=response.status_code if response is not None else 500,
        error=response is None,
        method=request.method or "",
        path=request.get_full_path() if perfkit_settings.METRICS_CAPTURE_PARAMS else request.path,
        user_id=str(user_id) if user_id is not None else None,
    )


def loaded_user(request: HttpRequest) -> Any:
    """``request.user`` if something already loaded it, else None (never queries)."""
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is empty:
        return None
    return wrapped


def _add_server_timing(run: Run, request: HttpRequest, response: HttpResponseBase) -> None:
    mode = perfkit_settings.METRICS_SERVER_TIMING
    if mode == "off" or (mode == "debug" and not settings.DEBUG):
        return
    if mode == "staff":
        user = loaded_user(request)
        if not getattr(user, "is_staff", False):
            return
    capture = run.capture
    parts = [
        f"total;dur={run.elapsed * 1000:.1f}",
        f'db;dur={capture.db_time * 1000:.1f};desc="{capture.queries} queries"',
    ]
    if capture.duplicates:
        parts.append(f'dup;desc="{capture.duplicates} duplicate queries"')
    if capture.n_plus_one:
        parts.append(f'nplusone;desc="{len(capture.n_plus_one)} N+1 patterns"')
    cache = run.cache_events()
    hits, misses = cache.get("hits", 0), cache.get("misses", 0)
    if hits or misses:  # a write's invalidations alone are no lookup to report
        parts.append(f'cache;desc="{hits} hits, {misses} misses"')
    existing = response.get("Server-Timing")
    response["Server-Timing"] = ", ".join([existing, *parts] if existing else parts)
