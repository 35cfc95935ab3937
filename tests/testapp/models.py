from __future__ import annotations

from typing import ClassVar

from django.contrib.contenttypes.fields import GenericForeignKey
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


class ExportRow(models.Model):
    """One column of each type the export format table covers."""

    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="export_rows")
    # null=True on purpose: exports must tell NULL from "".
    title = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    body = models.TextField(blank=True)
    count = models.IntegerField(default=0)
    big = models.BigIntegerField(default=0)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    active = models.BooleanField(default=False)
    flag = models.BooleanField(null=True, blank=True)
    created = models.DateTimeField(null=True, blank=True)
    day = models.DateField(null=True, blank=True)
    at = models.TimeField(null=True, blank=True)
    ratio = models.FloatField(null=True, blank=True)
    uid = models.UUIDField(null=True, blank=True)
    data = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return f"export row {self.pk}"


# --- models of the differential test (tests/cache/test_differential.py) ------


class DiffPublisher(models.Model):
    """Concrete model with a proxy (same table, same SQL, another class)."""

    name = models.CharField(max_length=100)

    objects = CachedManager()

    def __str__(self) -> str:
        return self.name


class DiffPublisherProxy(DiffPublisher):
    objects: ClassVar[CachedManager] = CachedManager()

    class Meta:
        proxy = True

    def __str__(self) -> str:
        return f"proxy {self.name}"


class DiffItem(models.Model):
    """Multi-table inheritance parent; a nullable SET_NULL foreign key, Decimal and JSON."""

    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    data = models.JSONField(default=dict)
    publisher = models.ForeignKey(
        DiffPublisher, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )

    objects = CachedManager()

    def __str__(self) -> str:
        return self.name


class DiffGadget(DiffItem):
    """Multi-table inheritance child of DiffItem."""

    power = models.IntegerField(default=1)

    objects: ClassVar[CachedManager] = CachedManager()

    def __str__(self) -> str:
        return f"gadget {self.name}"


class DiffShelf(models.Model):
    """A MixedCase db_table and an m2m with an explicit through model."""

    label = models.CharField(max_length=100)
    items: models.ManyToManyField[DiffItem, DiffPlacement] = models.ManyToManyField(
        DiffItem, through="DiffPlacement", related_name="shelves", blank=True
    )

    objects = CachedManager()

    class Meta:
        db_table = "DiffShelf"

    def __str__(self) -> str:
        return self.label


class DiffPlacement(models.Model):
    """Explicit m2m through model with an extra field."""

    shelf = models.ForeignKey(DiffShelf, on_delete=models.CASCADE, related_name="placements")
    item = models.ForeignKey(DiffItem, on_delete=models.CASCADE, related_name="placements")
    position = models.IntegerField(default=0)

    objects = CachedManager()

    def __str__(self) -> str:
        return f"{self.shelf_id}:{self.item_id}@{self.position}"


class DiffNote(models.Model):
    """A generic foreign key (pointing at Books and DiffItems in the test)."""

    content_type = models.ForeignKey("contenttypes.ContentType", on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    content_object = GenericForeignKey("content_type", "object_id")
    text = models.CharField(max_length=100)

    objects = CachedManager()

    def __str__(self) -> str:
        return self.text
