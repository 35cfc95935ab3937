from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.test import override_settings


def override_perfkit(values: dict[str, Any]) -> override_settings:
    """Override some PERFKIT keys, keeping the test settings' others (no flush thread)."""
    return override_settings(PERFKIT={**settings.PERFKIT, **values})


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
