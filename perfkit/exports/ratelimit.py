"""Rate limiting export creation per user, failing open when the cache is down."""

from __future__ import annotations

from django.http import HttpRequest

from perfkit.conf import perfkit_settings
from perfkit.recording import errors

GROUP = "perfkit_exports.create"


def export_limited(request: HttpRequest) -> bool:
    """Count one export creation for this user; True when over ``EXPORTS_RATE_LIMIT``.

    Uses django-ratelimit's ``is_ratelimited()`` (its app need not be
    installed). It fails open by itself only on DNS errors, so any error here
    (cache down) lets the export through and is counted.
    """
    try:
        from django_ratelimit.core import is_ratelimited

        return bool(
            is_ratelimited(
                request,
                group=GROUP,
                key="user_or_ip",
                rate=perfkit_settings.EXPORTS_RATE_LIMIT,
                increment=True,
            )
        )
    except Exception as exc:
        errors.report("exports rate limit", exc)
        return False
