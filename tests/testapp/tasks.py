from __future__ import annotations

from celery import shared_task

from tests.testapp.models import Author, TaskMark


@shared_task
def mark(label: str) -> int:
    """Write a row and return its id."""
    return TaskMark.objects.create(label=label).pk


@shared_task
def n_plus_one_task(label: str) -> int:
    """A task with an N+1 over authors' books."""
    total = 0
    for author in Author.objects.all():
        total += len(list(author.books.all()))
    TaskMark.objects.create(label=label)
    return total


@shared_task
def failing_task() -> None:
    raise ValueError("this task fails on purpose")
