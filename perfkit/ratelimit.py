"""django-ratelimit's ``is_ratelimited()``, failing open.

Its app need not be installed. It fails open by itself only on DNS errors, so
any error here (the cache is down) lets the request through and is counted.
"""

from __future__ import annotations

from django.http import HttpRequest

from perfkit.recording import errors


def limited(request: HttpRequest, *, group: str, key: str, rate: str) -> bool:
    """Count one hit of ``group`` for ``key``; True when over ``rate``."""
    try:
        from django_ratelimit.core import is_ratelimited

        return bool(is_ratelimited(request, group=group, key=key, rate=rate, increment=True))
    except Exception as exc:
        errors.report(f"rate limit {group}", exc)
        return False
