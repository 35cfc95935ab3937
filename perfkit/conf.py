"""The one settings object: ``settings.PERFKIT`` merged with defaults, read live.

Every key is declared once in :data:`SPECS` with its default, its type and a
short description (the docs table is generated from the same place). Values
are read from ``django.conf.settings`` at each access, so
``override_settings(PERFKIT=...)`` works; derived values that are costly to
build (compiled regexes) are cached and dropped on ``setting_changed``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Spec:
    """A declared setting: default, accepted types and an optional range check."""

    default: Any
    types: tuple[type, ...]
    doc: str
    check: Callable[[Any], bool] | None = None
    rule: str = ""

    def problem(self, value: Any) -> str | None:
        """Return why ``value`` is invalid for this setting, or ``None``."""
        if isinstance(value, bool) and bool not in self.types:
            return f"must be {self._type_names()}, not bool"
        if not isinstance(value, self.types):
            return f"must be {self._type_names()}, not {type(value).__name__}"
        if self.check is not None and not self.check(value):
            return self.rule
        return None

    def _type_names(self) -> str:
        names = ["None" if t is type(None) else t.__name__ for t in self.types]
        return " or ".join(names)


def _positive(value: Any) -> bool:
    return value is None or value > 0


def _at_least_two(value: int) -> bool:
    return value >= 2


def _fraction(value: float) -> bool:
    return 0.0 <= value <= 1.0


def _regex_list(value: Sequence[str]) -> bool:
    try:
        for pattern in value:
            re.compile(pattern)
    except (re.error, TypeError):
        return False
    return True


def _one_of(*choices: str) -> Callable[[str], bool]:
    return lambda value: value in choices


_NUMBER = (int, float)

SPECS: dict[str, Spec] = {
    # Core recording pipeline.
    "RECORDER": Spec(
        "auto",
        (str,),
        'Where counters go: "auto" (Redis when RECORDER_CACHE_ALIAS is a django-redis '
        'cache, else the database), "db", "redis", or a dotted path to a Recorder class.',
    ),
    "RECORDER_CACHE_ALIAS": Spec(
        "default", (str,), "The django-redis cache whose connection the Redis recorder uses."
    ),
    "RECORDER_REDIS_PREFIX": Spec("perfkit", (str,), "Prefix of the Redis keys perfkit writes."),
    "RECORDER_FLUSH_INTERVAL": Spec(
        1.0,
        _NUMBER,
        "Seconds between background flushes of buffered counters. 0 disables the flush "
        "thread (counters then wait for an explicit flush or process exit).",
        lambda v: v >= 0,
        "must be >= 0",
    ),
    "RECORDER_REDIS_JOURNAL_SECONDS": Spec(
        600,
        _NUMBER,
        "Seconds each process keeps the batches it wrote to Redis, to resend them "
        "if Redis loses them before a drain (a restart without persistence).",
        lambda v: v >= 0,
        "must be >= 0",
    ),
    "DATABASE_ALIAS": Spec(
        "default", (str,), "Database alias perfkit writes its rollups, samples and jobs to."
    ),
    "RETENTION_MINUTE_HOURS": Spec(
        26,
        (int,),
        "Hours minute and ten-minute rollups are kept.",
        _positive,
        "must be > 0",
    ),
    "RETENTION_HOUR_DAYS": Spec(
        31, (int,), "Days hour-resolution rollups are kept.", _positive, "must be > 0"
    ),
    "RETENTION_DAY_DAYS": Spec(
        400, (int,), "Days day-resolution rollups are kept.", _positive, "must be > 0"
    ),
    "HEALTH_RATE_LIMIT": Spec(
        "60/m", (str,), "health/ requests allowed per client IP (staff and live/ are exempt)."
    ),
    "METRICS_EXPORT_TOKEN": Spec(
        None,
        (str, type(None)),
        "Bearer token Prometheus sends to metrics/ (None: staff sessions only).",
    ),
    # perfkit.metrics
    "METRICS_ENABLED": Spec(
        True, (bool,), "Kill switch: off, the middleware and wrappers do nothing."
    ),
    "METRICS_SLOW_MS": Spec(
        500,
        _NUMBER,
        "Requests slower than this (ms) are kept as slow samples.",
        _positive,
        "must be > 0",
    ),
    "METRICS_N_PLUS_ONE_THRESHOLD": Spec(
        5,
        (int,),
        "Repetitions of one SQL fingerprint in a request that make an N+1.",
        _at_least_two,
        "must be >= 2",
    ),
    "METRICS_QUERY_BUDGET": Spec(
        50,
        (int, type(None)),
        "Requests issuing more queries are logged on logger perfkit.metrics (None: off).",
        _positive,
        "must be > 0 or None",
    ),
    "METRICS_SAMPLE_RATE": Spec(
        1.0,
        _NUMBER,
        "Fraction of requests whose SQL is captured in detail (duplicates, N+1, samples); "
        "counts and timings are always recorded.",
        _fraction,
        "must be between 0 and 1",
    ),
    "METRICS_IGNORE_PATHS": Spec(
        [r"^/static/", r"^/media/", r"^/favicon\.ico$", r"^/perfkit/(health|live|metrics)/"],
        (list, tuple),
        "Regexes of request paths that are not recorded.",
        _regex_list,
        "must be a list of valid regular expressions",
    ),
    "METRICS_SERVER_TIMING": Spec(
        "debug",
        (str,),
        'Server-Timing header: "on", "off", "debug" (only when DEBUG) or "staff" '
        "(only when the view already loaded a staff user).",
        _one_of("on", "off", "debug", "staff"),
        'must be "on", "off", "debug" or "staff"',
    ),
    "METRICS_SPLIT_LANGUAGES": Spec(
        False,
        (bool,),
        "Under i18n_patterns, record each language prefix as its own endpoint "
        "(default: one endpoint per view whatever the language).",
    ),
    "METRICS_RECORD_TASKS": Spec(True, (bool,), "Record every Celery task run."),
    "METRICS_RECORD_COMMANDS": Spec(False, (bool,), "Record management commands."),
    "METRICS_CAPTURE_PARAMS": Spec(
        False, (bool,), "Store SQL parameters in slow samples (they can hold secrets)."
    ),
    "METRICS_SAMPLES_PER_HOUR": Spec(
        10,
        (int,),
        "Slow samples kept per endpoint and hour (the slowest win).",
        _positive,
        "must be > 0",
    ),
    "METRICS_SAMPLE_SQL_CHARS": Spec(
        1000,
        (int,),
        "SQL text in samples is truncated to this many characters.",
        _positive,
        "must be > 0",
    ),
    "METRICS_EXPLAIN_RATE_LIMIT": Spec(
        "10/m", (str,), "EXPLAIN requests on slow samples' statements allowed per user."
    ),
    "METRICS_SAMPLES_RETENTION_DAYS": Spec(
        14,
        (int,),
        "Days slow samples are kept (they hold user ids and paths).",
        _positive,
        "must be > 0",
    ),
    # perfkit.cache
    "CACHE_ENABLED": Spec(True, (bool,), "Kill switch: off, cached querysets always query."),
    "CACHE_ALIAS": Spec("default", (str,), "The Django cache holding cached querysets."),
    "CACHE_REPLICAS": Spec(
        {},
        (dict,),
        'Replica aliases and the primary whose table versions they share: {"replica": "default"}.',
    ),
    "CACHE_DEFAULT_TIMEOUT": Spec(
        300,
        (int,),
        "Seconds a cached result is kept when no timeout is given.",
        _positive,
        "must be > 0",
    ),
    # perfkit.exports
    "EXPORTS_STORAGE": Spec("default", (str,), "STORAGES alias export files are saved to."),
    "EXPORTS_TEMP_DIR": Spec(
        None,
        (str, type(None)),
        "Folder for running exports' temporary files (None: <tempdir>/perfkit-exports).",
    ),
    "EXPORTS_RETENTION_DAYS": Spec(
        7, (int,), "Days export files are kept.", _positive, "must be > 0"
    ),
    "EXPORTS_CHUNK_SIZE": Spec(
        2000, (int,), "Rows fetched per round trip by the iterator path.", _positive, "must be > 0"
    ),
    "EXPORTS_PROGRESS_SECONDS": Spec(
        1.0,
        _NUMBER,
        "Seconds between progress saves (and cancel checks) of a running export.",
        _positive,
        "must be > 0",
    ),
    "EXPORTS_HEARTBEAT_SECONDS": Spec(
        10.0,
        _NUMBER,
        "Seconds between heartbeats a running export writes on its job row.",
        _positive,
        "must be > 0",
    ),
    "EXPORTS_STALE_SECONDS": Spec(
        120.0,
        _NUMBER,
        "A running job whose heartbeat is older than this is taken as dead and re-queued.",
        _positive,
        "must be > 0",
    ),
    "EXPORTS_PENDING_RESEND_SECONDS": Spec(
        300.0,
        _NUMBER,
        "A pending job whose task has not reached the broker for this long is sent again.",
        _positive,
        "must be > 0",
    ),
    "EXPORTS_MAX_ATTEMPTS": Spec(
        3,
        (int,),
        "Runs of a job (first try and re-queues after a dead worker) before it fails.",
        _positive,
        "must be > 0",
    ),
    "EXPORTS_EMAIL_ATTACH_MAX_BYTES": Spec(
        5_000_000,
        (int,),
        "Report files up to this size are attached to emails; larger ones linked.",
        lambda v: v >= 0,
        "must be >= 0",
    ),
    "EXPORTS_BASE_URL": Spec(
        "http://localhost:8000",
        (str,),
        "Site address used in emailed links (a worker has no request to build them from).",
    ),
    "EXPORTS_DIGEST_RECIPIENTS": Spec(
        [], (list, tuple), "Email addresses the daily Performance digest report goes to."
    ),
    "EXPORTS_RATE_LIMIT": Spec(
        "10/h", (str,), "Export creations allowed per user (django-ratelimit rate)."
    ),
    "EXPORTS_CHECK_FIELD_PERMISSIONS": Spec(
        False,
        (bool,),
        "Leave out admin export columns through models the user may not view.",
    ),
    # perfkit.regressions
    "RELEASE": Spec(
        None,
        (str, type(None)),
        "Name of the running release (None: the PERFKIT_RELEASE environment variable, "
        "else no release).",
    ),
    "RELEASES_KEPT": Spec(
        20, (int,), "Releases kept (older ones are deleted).", _positive, "must be > 0"
    ),
    "REGRESSIONS_WINDOW_MINUTES": Spec(
        60,
        (int,),
        "Minutes of recent traffic compared with the baseline.",
        _positive,
        "must be > 0",
    ),
    "REGRESSIONS_BASELINE": Spec(
        "release",
        (str,),
        'What recent traffic is compared with: "release" (the previous release, else a '
        'day earlier), "day" or "week" (the same window a day or a week earlier).',
        _one_of("release", "day", "week"),
        'must be "release", "day" or "week"',
    ),
    "REGRESSIONS_MIN_REQUESTS": Spec(
        50,
        (int,),
        "Requests needed on both sides before an endpoint is compared.",
        _positive,
        "must be > 0",
    ),
    "REGRESSIONS_MIN_CHANGE": Spec(
        0.5,
        _NUMBER,
        "Relative growth that makes a regression (0.5: the recent value is 1.5x the baseline).",
        lambda v: v > 0,
        "must be > 0",
    ),
    "REGRESSIONS_MIN_P95_MS": Spec(
        20,
        _NUMBER,
        "p95 must also grow by at least this many ms (fast endpoints stay quiet).",
        lambda v: v >= 0,
        "must be >= 0",
    ),
    "REGRESSIONS_MIN_QUERIES": Spec(
        1.0,
        _NUMBER,
        "Queries per request must also grow by at least this many.",
        lambda v: v >= 0,
        "must be >= 0",
    ),
    "REGRESSIONS_RESOLVE_CHANGE": Spec(
        0.2,
        _NUMBER,
        "An open regression resolves once the recent value is within this fraction of "
        "the baseline.",
        lambda v: v >= 0,
        "must be >= 0",
    ),
    "REGRESSIONS_INTERVAL_SECONDS": Spec(
        300,
        _NUMBER,
        "How often beat runs regression detection.",
        _positive,
        "must be > 0",
    ),
    "REGRESSIONS_ALERTS": Spec(
        [],
        (list, tuple),
        'Alert targets: {"type": "email", "to": [...]} or {"type": "webhook", "url": ..., '
        '"format": "json" or "slack"}.',
    ),
    "REGRESSIONS_ALERTS_PER_HOUR": Spec(
        20, (int,), "Alert messages sent per hour at most.", _positive, "must be > 0"
    ),
    "REGRESSIONS_REMIND_HOURS": Spec(
        24,
        (*_NUMBER, type(None)),
        "An open regression nobody acknowledged is alerted again after this many hours "
        "(None: never).",
        _positive,
        "must be > 0 or None",
    ),
    "REGRESSIONS_WEBHOOK_TIMEOUT": Spec(
        5.0, _NUMBER, "Seconds a webhook POST may take.", _positive, "must be > 0"
    ),
    "REGRESSIONS_BASE_URL": Spec(
        "",
        (str,),
        "Scheme and host put in front of the admin link in alerts (empty: no link).",
    ),
}


class PerfkitSettings:
    """Typed, live view of ``settings.PERFKIT``."""

    def _get(self, name: str) -> Any:
        return self._merged[name]

    @cached_property
    def _merged(self) -> dict[str, Any]:
        """Defaults overlaid with ``settings.PERFKIT``; rebuilt on ``setting_changed``."""
        user = getattr(settings, "PERFKIT", None)
        merged = {name: spec.default for name, spec in SPECS.items()}
        if isinstance(user, dict):
            merged.update(user)
        return merged

    def clear_cache(self) -> None:
        """Drop derived values; called on ``setting_changed``."""
        self.__dict__.pop("ignore_path_regex", None)
        self.__dict__.pop("_merged", None)

    @property
    def RECORDER(self) -> str:
        return str(self._get("RECORDER"))

    @property
    def RECORDER_CACHE_ALIAS(self) -> str:
        return str(self._get("RECORDER_CACHE_ALIAS"))

    @property
    def RECORDER_REDIS_PREFIX(self) -> str:
        return str(self._get("RECORDER_REDIS_PREFIX"))

    @property
    def RECORDER_FLUSH_INTERVAL(self) -> float:
        return float(self._get("RECORDER_FLUSH_INTERVAL"))

    @property
    def RECORDER_REDIS_JOURNAL_SECONDS(self) -> float:
        return float(self._get("RECORDER_REDIS_JOURNAL_SECONDS"))

    @property
    def DATABASE_ALIAS(self) -> str:
        return str(self._get("DATABASE_ALIAS"))

    @property
    def RETENTION_MINUTE_HOURS(self) -> int:
        return int(self._get("RETENTION_MINUTE_HOURS"))

    @property
    def RETENTION_HOUR_DAYS(self) -> int:
        return int(self._get("RETENTION_HOUR_DAYS"))

    @property
    def RETENTION_DAY_DAYS(self) -> int:
        return int(self._get("RETENTION_DAY_DAYS"))

    @property
    def HEALTH_RATE_LIMIT(self) -> str:
        return str(self._get("HEALTH_RATE_LIMIT"))

    @property
    def METRICS_EXPORT_TOKEN(self) -> str | None:
        value = self._get("METRICS_EXPORT_TOKEN")
        return None if value is None else str(value)

    @property
    def METRICS_ENABLED(self) -> bool:
        return bool(self._get("METRICS_ENABLED"))

    @property
    def METRICS_SLOW_MS(self) -> float:
        return float(self._get("METRICS_SLOW_MS"))

    @property
    def METRICS_N_PLUS_ONE_THRESHOLD(self) -> int:
        return int(self._get("METRICS_N_PLUS_ONE_THRESHOLD"))

    @property
    def METRICS_QUERY_BUDGET(self) -> int | None:
        value = self._get("METRICS_QUERY_BUDGET")
        return None if value is None else int(value)

    @property
    def METRICS_SAMPLE_RATE(self) -> float:
        return float(self._get("METRICS_SAMPLE_RATE"))

    @cached_property
    def ignore_path_regex(self) -> re.Pattern[str] | None:
        """All ``METRICS_IGNORE_PATHS`` joined into one compiled pattern."""
        patterns = list(self._get("METRICS_IGNORE_PATHS"))
        if not patterns:
            return None
        return re.compile("|".join(f"(?:{p})" for p in patterns))

    @property
    def METRICS_SERVER_TIMING(self) -> str:
        return str(self._get("METRICS_SERVER_TIMING"))

    @property
    def METRICS_SPLIT_LANGUAGES(self) -> bool:
        return bool(self._get("METRICS_SPLIT_LANGUAGES"))

    @property
    def METRICS_RECORD_TASKS(self) -> bool:
        return bool(self._get("METRICS_RECORD_TASKS"))

    @property
    def METRICS_RECORD_COMMANDS(self) -> bool:
        return bool(self._get("METRICS_RECORD_COMMANDS"))

    @property
    def METRICS_CAPTURE_PARAMS(self) -> bool:
        return bool(self._get("METRICS_CAPTURE_PARAMS"))

    @property
    def METRICS_SAMPLES_PER_HOUR(self) -> int:
        return int(self._get("METRICS_SAMPLES_PER_HOUR"))

    @property
    def METRICS_SAMPLE_SQL_CHARS(self) -> int:
        return int(self._get("METRICS_SAMPLE_SQL_CHARS"))

    @property
    def METRICS_EXPLAIN_RATE_LIMIT(self) -> str:
        return str(self._get("METRICS_EXPLAIN_RATE_LIMIT"))

    @property
    def METRICS_SAMPLES_RETENTION_DAYS(self) -> int:
        return int(self._get("METRICS_SAMPLES_RETENTION_DAYS"))

    @property
    def CACHE_ENABLED(self) -> bool:
        return bool(self._get("CACHE_ENABLED"))

    @property
    def CACHE_ALIAS(self) -> str:
        return str(self._get("CACHE_ALIAS"))

    @property
    def CACHE_REPLICAS(self) -> dict[str, str]:
        return dict(self._get("CACHE_REPLICAS"))

    @property
    def CACHE_DEFAULT_TIMEOUT(self) -> int:
        return int(self._get("CACHE_DEFAULT_TIMEOUT"))

    @property
    def EXPORTS_STORAGE(self) -> str:
        return str(self._get("EXPORTS_STORAGE"))

    @property
    def EXPORTS_TEMP_DIR(self) -> str | None:
        value = self._get("EXPORTS_TEMP_DIR")
        return str(value) if value else None

    @property
    def EXPORTS_RETENTION_DAYS(self) -> int:
        return int(self._get("EXPORTS_RETENTION_DAYS"))

    @property
    def EXPORTS_CHUNK_SIZE(self) -> int:
        return int(self._get("EXPORTS_CHUNK_SIZE"))

    @property
    def EXPORTS_PROGRESS_SECONDS(self) -> float:
        return float(self._get("EXPORTS_PROGRESS_SECONDS"))

    @property
    def EXPORTS_HEARTBEAT_SECONDS(self) -> float:
        return float(self._get("EXPORTS_HEARTBEAT_SECONDS"))

    @property
    def EXPORTS_STALE_SECONDS(self) -> float:
        return float(self._get("EXPORTS_STALE_SECONDS"))

    @property
    def EXPORTS_PENDING_RESEND_SECONDS(self) -> float:
        return float(self._get("EXPORTS_PENDING_RESEND_SECONDS"))

    @property
    def EXPORTS_MAX_ATTEMPTS(self) -> int:
        return int(self._get("EXPORTS_MAX_ATTEMPTS"))

    @property
    def EXPORTS_EMAIL_ATTACH_MAX_BYTES(self) -> int:
        return int(self._get("EXPORTS_EMAIL_ATTACH_MAX_BYTES"))

    @property
    def EXPORTS_BASE_URL(self) -> str:
        return str(self._get("EXPORTS_BASE_URL"))

    @property
    def EXPORTS_DIGEST_RECIPIENTS(self) -> list[str]:
        return [str(a) for a in self._get("EXPORTS_DIGEST_RECIPIENTS")]

    @property
    def EXPORTS_RATE_LIMIT(self) -> str:
        return str(self._get("EXPORTS_RATE_LIMIT"))

    @property
    def EXPORTS_CHECK_FIELD_PERMISSIONS(self) -> bool:
        return bool(self._get("EXPORTS_CHECK_FIELD_PERMISSIONS"))

    @property
    def RELEASE(self) -> str | None:
        value = self._get("RELEASE")
        if value is None:
            value = os.environ.get("PERFKIT_RELEASE", "").strip() or None
        return None if value is None else str(value)

    @property
    def RELEASES_KEPT(self) -> int:
        return int(self._get("RELEASES_KEPT"))

    @property
    def REGRESSIONS_WINDOW_MINUTES(self) -> int:
        return int(self._get("REGRESSIONS_WINDOW_MINUTES"))

    @property
    def REGRESSIONS_BASELINE(self) -> str:
        return str(self._get("REGRESSIONS_BASELINE"))

    @property
    def REGRESSIONS_MIN_REQUESTS(self) -> int:
        return int(self._get("REGRESSIONS_MIN_REQUESTS"))

    @property
    def REGRESSIONS_MIN_CHANGE(self) -> float:
        return float(self._get("REGRESSIONS_MIN_CHANGE"))

    @property
    def REGRESSIONS_MIN_P95_MS(self) -> float:
        return float(self._get("REGRESSIONS_MIN_P95_MS"))

    @property
    def REGRESSIONS_MIN_QUERIES(self) -> float:
        return float(self._get("REGRESSIONS_MIN_QUERIES"))

    @property
    def REGRESSIONS_RESOLVE_CHANGE(self) -> float:
        return float(self._get("REGRESSIONS_RESOLVE_CHANGE"))

    @property
    def REGRESSIONS_INTERVAL_SECONDS(self) -> float:
        return float(self._get("REGRESSIONS_INTERVAL_SECONDS"))

    @property
    def REGRESSIONS_ALERTS(self) -> list[dict[str, Any]]:
        return [dict(target) for target in self._get("REGRESSIONS_ALERTS")]

    @property
    def REGRESSIONS_ALERTS_PER_HOUR(self) -> int:
        return int(self._get("REGRESSIONS_ALERTS_PER_HOUR"))

    @property
    def REGRESSIONS_REMIND_HOURS(self) -> float | None:
        value = self._get("REGRESSIONS_REMIND_HOURS")
        return None if value is None else float(value)

    @property
    def REGRESSIONS_WEBHOOK_TIMEOUT(self) -> float:
        return float(self._get("REGRESSIONS_WEBHOOK_TIMEOUT"))

    @property
    def REGRESSIONS_BASE_URL(self) -> str:
        return str(self._get("REGRESSIONS_BASE_URL"))


perfkit_settings = PerfkitSettings()
