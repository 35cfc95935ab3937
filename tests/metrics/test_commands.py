"""Management commands recorded as endpoints ``command <name>`` when asked to."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests.metrics.helpers import endpoint_counters
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

RECORD_COMMANDS = {"METRICS_RECORD_COMMANDS": True, "RECORDER_FLUSH_INTERVAL": 0}


@override_perfkit(RECORD_COMMANDS)
def test_a_command_run_is_recorded_with_its_failures() -> None:
    call_command("check", stdout=io.StringIO())
    call_command("check", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("perfkit_purge_samples", "--older-than-days", "-1")
    counters = endpoint_counters("command check")
    assert counters["count"] == 2 and counters["errors"] == 0
    failed = endpoint_counters("command perfkit_purge_samples")
    assert failed["count"] == 1 and failed["errors"] == 1


@override_perfkit(RECORD_COMMANDS)
def test_commands_that_run_until_stopped_are_not_recorded() -> None:
    call_command("perfkit_top", "--once", stdout=io.StringIO())
    assert endpoint_counters("command perfkit_top") == {}


def test_commands_are_not_recorded_by_default() -> None:
    call_command("check", stdout=io.StringIO())
    assert endpoint_counters("command check") == {}
