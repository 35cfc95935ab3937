"""Fast, deterministic demo data for the shop, written with ``bulk_create``."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.text import slugify

from demo_project.shop.models import (
    Author,
    Book,
    Category,
    Customer,
    Order,
    OrderLine,
    Publisher,
)

BATCH_SIZE = 2000

FIRST_NAMES = (
    "Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kemi", "Liam", "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara",
    "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Abara", "Berg", "Castillo", "Dubois", "Eriksen", "Fontaine", "Garcia", "Haas", "Ivanova",
    "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quist",
    "Rossi", "Schmidt", "Tanaka", "Uribe", "Varga", "Weber", "Xu", "Yilmaz", "Zimmer",
)  # fmt: skip
COUNTRIES = (
    "France", "Germany", "Japan", "Nigeria", "Brazil", "Canada", "India", "Italy", "Mexico",
    "Poland", "Sweden", "Turkey", "United Kingdom", "United States",
)  # fmt: skip
# Skewed on purpose: a few big cities hold most customers, like real shops.
CITIES = (
    ("London", 12), ("Paris", 10), ("Berlin", 9), ("Tokyo", 8), ("New York", 8),
    ("Lagos", 6), ("Madrid", 5), ("Rome", 5), ("Toronto", 4), ("Mumbai", 4),
    ("Warsaw", 3), ("Stockholm", 3), ("Lisbon", 3), ("Vienna", 2), ("Osaka", 2),
    ("Lyon", 2), ("Porto", 1), ("Bergen", 1), ("Kraków", 1), ("Nantes", 1),
)  # fmt: skip
CATEGORY_NAMES = (
    "Fiction", "Mystery", "Science Fiction", "Fantasy", "Romance", "Thriller", "History",
    "Biography", "Science", "Travel", "Cooking", "Poetry", "Philosophy", "Business",
    "Children", "Art", "Music", "Health", "Programming", "Graphic Novels",
)  # fmt: skip
TITLE_WORDS = (
    "Silent", "River", "Garden", "Shadow", "Winter", "Glass", "Empire", "Letters", "Machine",
    "Harbour", "Orchard", "Atlas", "Quiet", "Distant", "Paper", "Storm", "Lantern", "Salt",
    "Mountain", "Clock", "Island", "Memory", "Copper", "Northern", "Last", "Hidden",
)  # fmt: skip
PUBLISHER_WORDS = ("House", "Press", "Books", "Editions", "& Sons", "Publishing")
STATUS_WEIGHTS: dict[str, int] = {
    Order.Status.SHIPPED: 55,
    Order.Status.PAID: 25,
    Order.Status.PENDING: 15,
    Order.Status.CANCELLED: 5,
}
# Leaves first, so each delete() finds no dependants left to collect row by row.
CLEAR_ORDER: tuple[type[models.Model], ...] = (
    OrderLine,
    Order,
    Customer,
    Book.categories.through,
    Book,
    Category,
    Publisher,
    Author,
)


@dataclass(frozen=True)
class Counts:
    """How many rows of each model to create."""

    authors: int = 500
    categories: int = 20
    publishers: int = 50
    books: int = 10_000
    customers: int = 5_000
    orders: int = 10_000
    lines_per_order: float = 2.5

    def scaled(self, scale: float) -> Counts:
        """These counts multiplied by ``scale``, at least one of each."""

        def mul(n: int) -> int:
            return max(1, round(n * scale))

        return Counts(
            authors=mul(self.authors),
            categories=mul(self.categories),
            publishers=mul(self.publishers),
            books=mul(self.books),
            customers=mul(self.customers),
            orders=mul(self.orders),
            lines_per_order=self.lines_per_order,
        )


Report = Callable[[str], None]
Step = Callable[[str, Callable[[], Sequence[models.Model]]], list[Any]]


def clear() -> dict[str, int]:
    """Delete every row of the shop's models, children first; counts by model label."""
    with transaction.atomic():
        deleted: dict[str, int] = {}
        for model in CLEAR_ORDER:
            deleted.update(model._default_manager.all().delete()[1])
    return {label: n for label, n in deleted.items() if n}


def seed(counts: Counts, seed: int = 0, report: Report | None = None) -> dict[str, int]:
    """Create demo rows in one transaction; returns the number created by model name."""
    rng = random.Random(seed)
    created: dict[str, int] = {}

    def step(name: str, build: Callable[[], Sequence[models.Model]]) -> list[Any]:
        started = time.perf_counter()
        objs = list(build())
        if objs:
            objs = type(objs[0])._default_manager.bulk_create(objs, batch_size=BATCH_SIZE)
        created[name] = len(objs)
        if report:
            report(f"{name:>12}: {len(objs):>7} rows in {time.perf_counter() - started:.2f}s")
        return objs

    with transaction.atomic():
        authors = step("authors", lambda: _authors(rng, counts.authors))
        categories = _categories(counts.categories, step)
        publishers = step("publishers", lambda: _publishers(rng, counts.publishers))
        books: list[Book] = step("books", lambda: _books(rng, counts.books, authors, publishers))
        step("book cats", lambda: _book_categories(rng, books, categories))
        customers = step("customers", lambda: _customers(rng, counts.customers))
        orders: list[Order] = step("orders", lambda: _orders(rng, counts.orders, customers))
        step("order lines", lambda: _lines(rng, orders, books, counts.lines_per_order))
    return created


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _authors(rng: random.Random, n: int) -> list[Author]:
    return [
        Author(
            name=_person(rng),
            country=rng.choice(COUNTRIES),
            bio=f"Author of {rng.randint(1, 30)} books, mostly about "
            f"{rng.choice(TITLE_WORDS).lower()} and {rng.choice(TITLE_WORDS).lower()}.",
        )
        for _ in range(n)
    ]


def _categories(n: int, step: Step) -> list[Category]:
    """Reuse categories that exist (their slugs are unique), create the rest."""
    names = [
        name if i < len(CATEGORY_NAMES) else f"{name} {i // len(CATEGORY_NAMES) + 1}"
        for i, name in ((i, CATEGORY_NAMES[i % len(CATEGORY_NAMES)]) for i in range(n))
    ]
    existing = {c.slug: c for c in Category.objects.filter(slug__in=map(slugify, names))}
    new = step(
        "categories",
        lambda: [
            Category(name=nm, slug=slugify(nm)) for nm in names if slugify(nm) not in existing
        ],
    )
    return [*existing.values(), *new]


def _publishers(rng: random.Random, n: int) -> list[Publisher]:
    return [
        Publisher(name=f"{rng.choice(LAST_NAMES)} {rng.choice(PUBLISHER_WORDS)}") for _ in range(n)
    ]


def _isbn13(number: int) -> str:
    body = f"978{number % 1_000_000_000:09d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return f"{body}{(10 - total % 10) % 10}"


def _books(
    rng: random.Random, n: int, authors: list[Author], publishers: list[Publisher]
) -> list[Book]:
    # Continue numbering after existing books so a second seed without --clear stays unique.
    taken = set(Book.objects.values_list("isbn", flat=True))
    number = len(taken)
    author_ids = [a.pk for a in authors]
    publisher_ids = [p.pk for p in publishers]
    books: list[Book] = []
    first_day = date(1950, 1, 1).toordinal()
    last_day = date(2024, 12, 31).toordinal()
    while len(books) < n:
        isbn = _isbn13(number)
        number += 1
        if isbn in taken:
            continue
        title = " ".join(rng.sample(TITLE_WORDS, rng.randint(2, 4)))
        books.append(
            Book(
                title=f"The {title}" if rng.random() < 0.3 else title,
                isbn=isbn,
                author_id=rng.choice(author_ids),
                publisher_id=rng.choice(publisher_ids),
                price=Decimal(rng.randint(499, 5999)) / 100,
                published=date.fromordinal(rng.randint(first_day, last_day)),
                in_stock=rng.random() < 0.85,
            )
        )
    return books


def _book_categories(
    rng: random.Random, books: list[Book], categories: list[Category]
) -> list[models.Model]:
    through = Book.categories.through
    rows: list[models.Model] = []
    for book in books:
        for category in rng.sample(categories, min(len(categories), rng.randint(1, 3))):
            rows.append(through(book_id=book.pk, category_id=category.pk))
    return rows


def _customers(rng: random.Random, n: int) -> list[Customer]:
    taken = set(Customer.objects.values_list("email", flat=True))
    number = len(taken)
    names, weights = zip(*CITIES, strict=True)
    cum = list(itertools.accumulate(weights))
    customers: list[Customer] = []
    while len(customers) < n:
        email = f"customer{number}@example.com"
        number += 1
        if email in taken:
            continue
        customers.append(
            Customer(email=email, name=_person(rng), city=rng.choices(names, cum_weights=cum)[0])
        )
    return customers


def _orders(rng: random.Random, n: int, customers: list[Customer]) -> list[Order]:
    # Dates are relative to today so the demo's dashboards look current.
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    statuses = list(STATUS_WEIGHTS)
    cum = list(itertools.accumulate(STATUS_WEIGHTS.values()))
    customer_ids = [c.pk for c in customers]
    return [
        Order(
            customer_id=rng.choice(customer_ids),
            created_at=now - timedelta(minutes=rng.randint(0, 365 * 24 * 60)),
            status=rng.choices(statuses, cum_weights=cum)[0],
        )
        for _ in range(n)
    ]


def _lines(
    rng: random.Random, orders: list[Order], books: list[Book], per_order: float
) -> list[OrderLine]:
    # 1..(2*per_order - 1) lines per order averages to per_order.
    most = max(1, round(2 * per_order - 1))
    lines: list[OrderLine] = []
    for order in orders:
        for book in rng.sample(books, min(len(books), rng.randint(1, most))):
            lines.append(
                OrderLine(
                    order_id=order.pk,
                    book_id=book.pk,
                    quantity=rng.choices((1, 2, 3), cum_weights=(80, 95, 100))[0],
                    unit_price=book.price,
                )
            )
    return lines
