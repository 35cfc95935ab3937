"""A small catalogue: authors and their books."""

from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)
    country = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    isbn = models.CharField(max_length=13)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    pages = models.PositiveIntegerField()
    published = models.DateField()
    featured = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["published"]), models.Index(fields=["featured"])]

    def __str__(self) -> str:
        return self.title


class TaskRun(models.Model):
    """One run of the fleet benchmark's task: the count perfkit's totals are checked against."""

    config = models.CharField(max_length=20)

    def __str__(self) -> str:
        return f"{self.config} task run {self.pk}"
