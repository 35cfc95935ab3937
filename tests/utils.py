from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import override_settings


def override_perfkit(values: dict[str, Any]) -> override_settings:
    """Override some PERFKIT keys, keeping the test settings' others (no flush thread)."""
    return override_settings(PERFKIT={**settings.PERFKIT, **values})
