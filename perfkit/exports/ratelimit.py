"""Rate limiting export creation per user, failing open when the cache is down."""

from __future__ import annotations

from django.http import HttpRequest

from perfkit.conf import perfkit_settings
from perfkit.ratelimit import limited

GROUP = "perfkit_exports.create"


def export_limited(request: HttpRequest) -> bool:
    """Count one export creation for this user; True when over ``EXPORTS_RATE_LIMIT``."""
    return limited(request, group=GROUP, key="user_or_ip", rate=perfkit_settings.EXPORTS_RATE_LIMIT)
