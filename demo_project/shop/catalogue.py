"""The catalogue's reads, each cached with perfkit.cache or run on the database.

The cached catalogue page and its uncached twin call the same functions with
``cached`` True or False, so "Cache hit rates" in the admin compares like with
like. Books, categories and publishers change rarely: their entries keep hitting
until a write. Orders change every few seconds under the demo's traffic, so the
cached "latest orders" rarely survives until the next read: it is the row that
gets the admin's low-ratio hint.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from django.db.models import Count

from demo_project.shop.models import Author, Book, Category, Order, Publisher
from perfkit.cache.decorators import cached_function

PAGE_SIZE = 25
LATEST_ORDERS = 8
BOOKS_LABEL = "catalogue: books"
SIDEBAR_LABEL = "catalogue: categories"
COUNTS_LABEL = "catalogue: counts"
# The latest orders keep the default label, the orders table ("shop_order"): the
# admin puts its invalidations (one per order placed) on the same row as its reads.
ORDERS_LABEL = Order._meta.db_table


@dataclass(frozen=True)
class Counts:
    """The catalogue's totals shown above the list."""

    books: int
    in_stock: int
    authors: int
    publishers: int

    @property
    def pages(self) -> int:
        return max(1, ceil(self.books / PAGE_SIZE))


def counts() -> Counts:
    """Four COUNT queries."""
    return Counts(
        books=Book.objects.count(),
        in_stock=Book.objects.filter(in_stock=True).count(),
        authors=Author.objects.count(),
        publishers=Publisher.objects.count(),
    )


cached_counts = cached_function(depends_on=[Book, Author, Publisher], label=COUNTS_LABEL)(counts)


def catalogue_counts(cached: bool) -> Counts:
    return cached_counts() if cached else counts()


def books_page(page: int, cached: bool) -> list[Book]:
    """One page of books with author, publisher and categories (two queries when run)."""
    books = (
        Book.objects.select_related("author", "publisher")
        .prefetch_related("categories")
        .order_by("pk")
    )
    if cached:
        books = books.cached(label=BOOKS_LABEL)
    start = (page - 1) * PAGE_SIZE
    return list(books[start : start + PAGE_SIZE])


def categories(cached: bool) -> list[Category]:
    """The sidebar: every category with its number of books (a GROUP BY over a join)."""
    found = Category.objects.annotate(book_count=Count("books")).order_by("name")
    if cached:
        found = found.cached(label=SIDEBAR_LABEL)
    return list(found)


def latest_orders(cached: bool) -> list[Order]:
    """The sidebar's latest orders; cached, they are invalidated by every order placed."""
    orders = Order.objects.select_related("customer").order_by("-created_at", "-pk")
    if cached:
        orders = orders.cached()
    return list(orders[:LATEST_ORDERS])
