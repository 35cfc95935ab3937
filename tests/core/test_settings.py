from __future__ import annotations

import pytest
from django.core.checks import Error, Warning
from django.test import override_settings

from perfkit.checks import check_settings
from perfkit.conf import SPECS, perfkit_settings


def test_defaults_apply_when_unset() -> None:
    with override_settings(PERFKIT={}):
        assert perfkit_settings.METRICS_SLOW_MS == SPECS["METRICS_SLOW_MS"].default
        assert perfkit_settings.METRICS_ENABLED is True


def test_settings_are_read_live() -> None:
    with override_settings(PERFKIT={"METRICS_SLOW_MS": 42}):
        assert perfkit_settings.METRICS_SLOW_MS == 42
    with override_settings(PERFKIT={"METRICS_SLOW_MS": 7}):
        assert perfkit_settings.METRICS_SLOW_MS == 7


def test_derived_regex_is_rebuilt_on_setting_changed() -> None:
    with override_settings(PERFKIT={"METRICS_IGNORE_PATHS": [r"^/a/"]}):
        regex = perfkit_settings.ignore_path_regex
        assert regex is not None and regex.search("/a/x")
    with override_settings(PERFKIT={"METRICS_IGNORE_PATHS": [r"^/b/"]}):
        regex = perfkit_settings.ignore_path_regex
        assert regex is not None and not regex.search("/a/x") and regex.search("/b/")


def test_typo_warns_and_names_the_closest_key() -> None:
    with override_settings(PERFKIT={"METRICS_SLOW_MSS": 1}):
        messages = check_settings()
    assert len(messages) == 1
    assert isinstance(messages[0], Warning)
    assert messages[0].id == "perfkit.W001"
    assert "METRICS_SLOW_MS" in (messages[0].hint or "")


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({"METRICS_SLOW_MS": "fast"}, "must be int or float, not str"),
        ({"METRICS_SLOW_MS": -1}, "must be > 0"),
        ({"METRICS_ENABLED": "yes"}, "must be bool"),
        ({"METRICS_SAMPLE_RATE": 1.5}, "between 0 and 1"),
        ({"METRICS_N_PLUS_ONE_THRESHOLD": True}, "not bool"),
        ({"METRICS_IGNORE_PATHS": ["("]}, "valid regular expressions"),
        ({"METRICS_SERVER_TIMING": "sometimes"}, '"on", "off"'),
    ],
)
def test_bad_values_are_errors(value: dict[str, object], needle: str) -> None:
    with override_settings(PERFKIT=value):
        messages = check_settings()
    assert [m.id for m in messages] == ["perfkit.E002"]
    assert isinstance(messages[0], Error)
    assert needle in messages[0].msg


def test_not_a_dict_is_an_error() -> None:
    with override_settings(PERFKIT=["METRICS_ENABLED"]):
        assert [m.id for m in check_settings()] == ["perfkit.E001"]


def test_valid_settings_pass() -> None:
    with override_settings(PERFKIT={"METRICS_SLOW_MS": 250, "METRICS_QUERY_BUDGET": None}):
        assert check_settings() == []


def test_every_setting_default_passes_its_own_validation() -> None:
    for name, spec in SPECS.items():
        assert spec.problem(spec.default) is None, name
