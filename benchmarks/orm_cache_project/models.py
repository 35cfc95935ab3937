"""A small catalogue: publishers, authors and their books.

The models are the same in every setup. Only the perfkit setup gives them
perfkit's ``CachedManager`` (importing it without ``perfkit`` installed would
load perfkit's models into a project that has not installed them); its
querysets behave exactly like Django's until ``.cached()`` is called.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

if "perfkit.cache" in settings.INSTALLED_APPS:
    from perfkit.cache.querysets import CachedManager

    def manager() -> Any:
        return CachedManager()

else:

    def manager() -> Any:
        return models.Manager()


class Publisher(models.Model):
    name = models.CharField(max_length=100)
    city = models.CharField(max_length=50)

    objects = manager()

    def __str__(self) -> str:
        return self.name


class Author(models.Model):
    name = models.CharField(max_length=100)
    country = models.CharField(max_length=50)

    objects = manager()

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="books")
    isbn = models.CharField(max_length=13)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    pages = models.PositiveIntegerField()
    published = models.DateField()
    featured = models.BooleanField(default=False)

    objects = manager()

    def __str__(self) -> str:
        return self.title
