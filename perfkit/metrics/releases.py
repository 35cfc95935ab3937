"""Release markers and the release comparison on the endpoint page, from perfkit.regressions.

perfkit.metrics never imports perfkit.regressions' internals: it calls one
of its public functions by path, and only when that app is installed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db import DatabaseError
from django.utils.module_loading import import_string

from perfkit.recording import errors

FOR_ENDPOINT_PAGE = "perfkit.regressions.api.for_endpoint_page"
APP = "perfkit.regressions"

Markers = list[tuple[float, str]]


def for_endpoint(endpoint: str, buckets: list[datetime], step: timedelta) -> tuple[Markers, Any]:
    """Chart markers (fractional bucket index, release name) and the release comparison.

    Nothing (``[], None``) without perfkit.regressions, without releases, or
    if reading them fails (counted; the page shows without them).
    """
    if not buckets or not apps.is_installed(APP):
        return [], None
    try:
        starts, comparison = import_string(FOR_ENDPOINT_PAGE)(
            endpoint, buckets[0], buckets[-1] + step
        )
    except DatabaseError as exc:
        errors.report("release markers", exc)
        return [], None
    return [((start - buckets[0]) / step, name) for name, start in starts], comparison
