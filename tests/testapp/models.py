from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    pages = models.PositiveIntegerField(default=100)

    def __str__(self) -> str:
        return self.title


class TaskMark(models.Model):
    """Written by test tasks so tests can see a worker ran them."""

    label = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.label
