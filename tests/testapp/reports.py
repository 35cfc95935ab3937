from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import models

from perfkit.exports.reports import Report, register
from tests.testapp.models import Book


@register
class BooksReport(Report):
    name = "books"
    title = "All books"
    schedule = "*/5 * * * *"
    formats = ("csv", "jsonl")
    recipients = ("team@example.com",)
    fields = ("title", "pages")

    def queryset(self) -> models.QuerySet[Any]:
        return Book.objects.order_by("pages")


@register
class BrokenReport(Report):
    name = "broken"
    schedule = "*/5 * * * *"

    def columns(self) -> list[tuple[str, models.Field[Any, Any]]]:
        return [("x", models.IntegerField())]

    def rows(self) -> Iterable[Sequence[Any]]:
        raise RuntimeError("this report fails on purpose")
