"""Scheduled reports: a ``Report`` base class, its registry, and running one.

Subclass :class:`Report`, decorate it with :func:`register` in a
``reports.py`` module of an installed app, give it a five-field crontab
``schedule`` (``"0 7 * * 1"``: 07:00 every Monday, minute first as in cron) and
either ``queryset()`` + ``fields`` or ``rows()`` + ``columns()``. The task
``perfkit_exports.run_due_reports`` (in :func:`perfkit.schedule.beat_schedule`,
every minute) reads the registry and runs the reports due that minute, so
beat needs no restart when reports change. Each run is a ``ReportRun`` with
its file, downloadable from the admin and emailed to ``recipients``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from celery.schedules import crontab
from django.db import models
from django.utils.module_loading import autodiscover_modules

from perfkit.exports.columns import Column, resolve_columns
from perfkit.exports.engine import write_export
from perfkit.exports.writers import get_writer

CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")

R = TypeVar("R", bound=type["Report"])
_registry: dict[str, Report] = {}


class Report:
    """A report: what rows it holds, in which formats, when and to whom."""

    name: ClassVar[str]
    title: ClassVar[str] = ""
    schedule: ClassVar[str | None] = None
    formats: ClassVar[Sequence[str]] = ("csv",)
    recipients: ClassVar[Sequence[str]] = ()
    fields: ClassVar[Sequence[str]] = ()

    def queryset(self) -> models.QuerySet[Any] | None:
        """The rows as a queryset (exported through ``fields``), or None to use ``rows()``."""
        return None

    def columns(self) -> list[tuple[str, models.Field[Any, Any]]]:
        """Labels and field types of ``rows()``' values (they choose the formatting)."""
        return []

    def rows(self) -> Iterable[Sequence[Any]]:
        """The rows as tuples, in ``columns()`` order."""
        return []


def register(cls: R) -> R:
    """Class decorator adding a report to the registry (its ``name`` must be unique)."""
    if not getattr(cls, "name", ""):
        raise ValueError(f"{cls.__name__} needs a name")
    if cls.schedule:
        crontab_kwargs(cls.schedule)  # fail at import, not at 3 a.m.
    _registry[cls.name] = cls()
    return cls


def registered() -> dict[str, Report]:
    """Every registered report (after discovering ``reports`` modules)."""
    autodiscover_modules("reports")
    return dict(_registry)


def crontab_kwargs(expression: str) -> dict[str, str]:
    """``"m h dom mon dow"`` as keyword arguments of Celery's ``crontab``.

    By keyword because ``crontab()``'s positional order (minute, hour,
    day_of_week, ...) differs from cron's.
    """
    parts = expression.split()
    if len(parts) != len(CRON_FIELDS):
        raise ValueError(
            f"Bad schedule {expression!r}: use five cron fields, "
            "minute hour day-of-month month day-of-week"
        )
    return dict(zip(CRON_FIELDS, parts, strict=True))


def is_due(expression: str, at: datetime) -> bool:
    """Whether the crontab ``expression`` fires at ``at``'s minute."""
    schedule: Any = crontab(**crontab_kwargs(expression))  # celery-types lacks its sets
    return (
        at.minute in schedule.minute
        and at.hour in schedule.hour
        and at.day in schedule.day_of_month
        and at.month in schedule.month_of_year
        and at.isoweekday() % 7 in schedule.day_of_week
    )


def write_report(report: Report, fmt: str) -> tuple[Path, int]:
    """Write ``report`` as ``fmt`` to a new temporary file; returns it and its row count."""
    handle, name = tempfile.mkstemp(prefix="perfkit-report-", suffix=f".{fmt}")
    os.close(handle)
    path = Path(name)
    queryset = report.queryset()
    if queryset is not None:
        columns = resolve_columns(queryset.model, list(report.fields))
        return path, write_export(queryset, columns, fmt, path)
    columns = [Column(label, label, field) for label, field in report.columns()]
    with get_writer(fmt)(path, columns) as writer:
        writer.write_header()
        count = writer.write_rows(report.rows())
    return path, count
