"""The measured views."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from benchmarks.overhead_project.models import Book

SELECTS = 200


def books(request: HttpRequest) -> HttpResponse:
    """A catalogue page: 12 queries, one of them an N+1 over 10 rows, 50 rendered rows.

    1 query for the 50 newest books (their authors joined), 1 for the 10
    featured books, and 10 more when the template reads each featured book's
    author (the N+1).
    """
    latest = Book.objects.select_related("author").order_by("-published", "id")[:50]
    featured = Book.objects.filter(featured=True).order_by("id")[:10]
    return render(request, "overhead_project/books.html", {"latest": latest, "featured": featured})


def ping(request: HttpRequest) -> HttpResponse:
    """No queries, no template: the fixed cost of the middleware stack."""
    return HttpResponse(b"pong", content_type="text/plain")


def selects(request: HttpRequest) -> HttpResponse:
    """200 trivial queries through a raw cursor: the per-query cost of SQL capture."""
    total = 0
    with connection.cursor() as cursor:
        for _ in range(SELECTS):
            cursor.execute("SELECT 1")
            total += cursor.fetchone()[0]
    return HttpResponse(str(total).encode(), content_type="text/plain")


def enqueue(request: HttpRequest) -> HttpResponse:
    """Send one task to the fleet's Celery workers (``fleet.py``)."""
    from benchmarks.overhead_project.celery_app import note_run

    note_run.delay()
    return HttpResponse(b"queued", content_type="text/plain")
