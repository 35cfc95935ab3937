"""Settings of a Celery worker that sends regression alerts to the webhook in
``PERFKIT_TEST_ALERT_WEBHOOK`` (the test suite's settings otherwise)."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import PERFKIT

PERFKIT = {
    **PERFKIT,
    "REGRESSIONS_ALERTS": [{"type": "webhook", "url": os.environ["PERFKIT_TEST_ALERT_WEBHOOK"]}],
}
