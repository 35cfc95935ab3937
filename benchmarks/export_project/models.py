"""The exported table: items, each in one of a few categories."""

from __future__ import annotations

from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="items")
    quantity = models.IntegerField()
    name = models.CharField(max_length=100)
    # Nullable on purpose: perfkit's CSV writes NULL and "" differently.
    note = models.TextField(null=True, blank=True)  # noqa: DJ001
    price = models.DecimalField(max_digits=10, decimal_places=2)
    active = models.BooleanField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
