"""perfkit's own endpoints: ``live/`` and ``health/``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from perfkit import health
from perfkit.conf import perfkit_settings
from perfkit.recording import errors


def _is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def _limited(request: HttpRequest) -> bool:
    """django-ratelimit per IP; any error lets the request through (fail open)."""
    try:
        from django_ratelimit.core import is_ratelimited

        return bool(
            is_ratelimited(
                request,
                group="perfkit.health",
                key="ip",
                rate=perfkit_settings.HEALTH_RATE_LIMIT,
                increment=True,
            )
        )
    except Exception as exc:
        errors.report("health rate limit", exc)
        return False


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
