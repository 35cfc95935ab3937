from __future__ import annotations

from django.db import models

from perfkit.cache.querysets import CachedManager, CachedQuerySet


class Author(models.Model):
    name = models.CharField(max_length=100)

    objects = CachedManager()

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50)

    objects = CachedQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    pages = models.PositiveIntegerField(default=100)
    tags = models.ManyToManyField(Tag, related_name="books", blank=True)

    objects = CachedQuerySet.as_manager()

    def __str__(self) -> str:
        return self.title


class TaskMark(models.Model):
    """Written by test tasks so tests can see a worker ran them."""

    label = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.label


class Review(models.Model):
    """Deleted in cascade with its book."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    stars = models.PositiveSmallIntegerField(default=3)

    objects = CachedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.stars} stars"


class Plain(models.Model):
    """No signal receivers, no relations: Django fast-deletes it."""

    value = models.IntegerField(default=0)

    def __str__(self) -> str:
        return str(self.value)
