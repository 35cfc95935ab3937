"""perfkit's own endpoints: ``live/`` and ``health/``."""

from __future__ import annotations

import hmac
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from perfkit.conf import perfkit_settings
from perfkit.operations import health, openmetrics
from perfkit.ratelimit import limited


def _is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def _limited(request: HttpRequest) -> bool:
    return limited(
        request, group="perfkit.health", key="ip", rate=perfkit_settings.HEALTH_RATE_LIMIT
    )


@never_cache
def live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Cheap, never rate limited."""
    return JsonResponse({"status": "ok"})


@never_cache
def health_view(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every check passes, 503 naming the failing ones."""
    staff = _is_staff(request)
    if not staff and _limited(request):
        return JsonResponse(
            {"status": "rate_limited", "detail": "Too many health checks; slow down."},
            status=429,
        )
    results = health.run_checks()
    failing = [r.name for r in results if not r.ok]
    checks: dict[str, Any] = {}
    for result in results:
        entry: dict[str, Any] = {"ok": result.ok, "ms": result.ms}
        if staff and result.detail:
            entry["detail"] = result.detail
        checks[result.name] = entry
    body: dict[str, Any] = {"status": "fail" if failing else "ok", "checks": checks}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


METRICS_PERMISSION = "perfkit.view_perfkitstatus"


def _token_matches(given: str, token: str | None) -> bool:
    """Constant-time comparison of any header text (``compare_digest`` refuses non-ASCII str)."""
    if not (token and given):
        return False
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass")
    )


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for ``Authorization: Bearer <METRICS_EXPORT_TOKEN>``.

    A browser session works too, for active staff holding the perfkit status
    page's view permission (the admin dashboards' rule).
    """
    token = perfkit_settings.METRICS_EXPORT_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    given = header[7:] if header.startswith("Bearer ") else ""
    user: Any = getattr(request, "user", None)
    allowed = _token_matches(given, token) or (
        _is_staff(request) and user.has_perm(METRICS_PERMISSION)
    )
    if not allowed:
        response = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="perfkit"'
        return response
    return HttpResponse(
        openmetrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8"
    )
