from __future__ import annotations

import pytest
from django.core.checks import Error, Warning, run_checks
from django.test import override_settings

from perfkit.checks import check_settings
from perfkit.conf import SPECS, perfkit_settings
from perfkit.recording.pipeline import pipeline, record


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


# --- The recorder and its cache ----------------------------------------------

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
DJANGO_REDIS = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
BUILTIN_REDIS = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": "redis://127.0.0.1:1/0",
}


def recorder_ids(perfkit: dict[str, object], caches: dict[str, object]) -> list[str]:
    """Ids of every registered check's messages about the recorder."""
    with override_settings(PERFKIT=perfkit, CACHES={"default": LOCMEM, **caches}):
        messages = run_checks(tags=["perfkit"])
    return [m.id for m in messages if m.id in ("perfkit.E003", "perfkit.E004", "perfkit.W002")]


@pytest.mark.parametrize(
    ("perfkit", "caches"),
    [
        ({}, {}),
        ({"RECORDER": "auto"}, {}),  # local memory: the database recorder, correct
        ({"RECORDER": "auto", "RECORDER_CACHE_ALIAS": "m"}, {"m": BUILTIN_REDIS}),
        ({"RECORDER": "db", "RECORDER_CACHE_ALIAS": "nowhere"}, {}),
        ({"RECORDER": "redis", "RECORDER_CACHE_ALIAS": "m"}, {"m": DJANGO_REDIS}),
        ({"RECORDER": "auto", "RECORDER_CACHE_ALIAS": "m"}, {"m": DJANGO_REDIS}),
        ({"RECORDER": "perfkit.recording.backends.db.DatabaseRecorder"}, {}),
    ],
)
def test_recorder_configurations_that_work_pass(
    perfkit: dict[str, object], caches: dict[str, object]
) -> None:
    assert recorder_ids(perfkit, caches) == []


@pytest.mark.parametrize(
    ("caches", "problem"),
    [
        ({}, "is 'django.core.cache.backends.locmem.LocMemCache', not a django-redis cache"),
        ({"default": BUILTIN_REDIS}, "backends.redis.RedisCache', not a django-redis cache"),
        ({"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache"}}, "not a"),
    ],
)
def test_explicit_redis_recorder_on_another_cache_is_an_error(
    caches: dict[str, object], problem: str
) -> None:
    assert recorder_ids({"RECORDER": "redis"}, caches) == ["perfkit.E003"]
    with override_settings(PERFKIT={"RECORDER": "redis"}, CACHES={"default": LOCMEM, **caches}):
        (message,) = check_settings()
    assert isinstance(message, Error)
    assert problem in message.msg and "never reaching the database" in message.msg
    assert "django_redis.cache.RedisCache" in (message.hint or "")


def test_explicit_redis_recorder_on_a_missing_alias_is_an_error() -> None:
    with override_settings(PERFKIT={"RECORDER": "redis", "RECORDER_CACHE_ALIAS": "metrics"}):
        (message,) = check_settings()
    assert message.id == "perfkit.E003" and "'metrics' is not in CACHES" in message.msg


def test_the_error_matches_what_a_flush_does() -> None:
    """The configuration E003 flags really fails every flush (and keeps the batch)."""
    with override_settings(
        PERFKIT={"RECORDER": "redis", "RECORDER_FLUSH_INTERVAL": 0}, CACHES={"default": LOCMEM}
    ):
        record("test", "stuck", {"count": 1})
        assert not pipeline.flush()
        assert ("test", "stuck") in {key[:2] for key in pipeline.buffer.buckets()}


@pytest.mark.parametrize(
    ("recorder", "problem"),
    [
        ("rediss", "doesn't look like a module path"),
        ("perfkit.recording.backends.nothing.Recorder", "No module named"),
        ("perfkit.conf.PerfkitSettings", "is not a subclass of Recorder"),
    ],
)
def test_a_recorder_that_cannot_be_built_is_an_error(recorder: str, problem: str) -> None:
    with override_settings(PERFKIT={"RECORDER": recorder}):
        (message,) = check_settings()
    assert message.id == "perfkit.E004" and problem in message.msg


def test_auto_recorder_with_a_missing_alias_warns() -> None:
    with override_settings(PERFKIT={"RECORDER_CACHE_ALIAS": "metrcis"}):
        (message,) = check_settings()
    assert isinstance(message, Warning)
    assert message.id == "perfkit.W002" and "'metrcis'" in message.msg


def test_a_recorder_of_the_wrong_type_is_reported_once() -> None:
    with override_settings(PERFKIT={"RECORDER": 5}):
        assert [m.id for m in check_settings()] == ["perfkit.E002"]


@pytest.mark.parametrize(
    ("backend", "debug", "warns"),
    [
        ("django.core.cache.backends.locmem.LocMemCache", False, True),
        ("django.core.cache.backends.dummy.DummyCache", False, True),
        ("django.core.cache.backends.locmem.LocMemCache", True, False),
        ("django_redis.cache.RedisCache", False, False),
        ("django.core.cache.backends.db.DatabaseCache", False, False),
    ],
)
def test_rate_limits_counted_per_process_warn(backend: str, debug: bool, warns: bool) -> None:
    from perfkit.checks import check_rate_limit_cache

    caches = {"default": {"BACKEND": backend, "LOCATION": "x"}}
    with override_settings(CACHES=caches, DEBUG=debug):
        found = [m.id for m in check_rate_limit_cache()]
        assert found == (["perfkit.W003"] if warns else [])
        assert ("perfkit.W003" in [m.id for m in run_checks(tags=["perfkit"])]) is warns
