"""Shop pages and JSON API; several endpoints are slow on purpose, next to their fixes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, DecimalField, F, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from demo_project.shop import bad_deploy
from demo_project.shop import catalogue as reads
from demo_project.shop.models import Book, Customer, Order, OrderLine
from perfkit.cache.api import request_stats

LIST_SIZE = 50
ORDERS_PER_PAGE = 50
CUSTOMERS_SHOWN = 100
CENT = Decimal("0.01")
BAD_DEPLOY_NOTE = " Now N+1 again: a bad deploy (demo_release --slow) is active."


@dataclass(frozen=True)
class Endpoint:
    """One row of the index page."""

    url: str
    title: str
    about: str
    slow: bool = False


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Links to every page and API endpoint, saying which are slow on purpose and why."""
    book_pk = Book.objects.order_by("pk").values_list("pk", flat=True).first() or 1
    customer = Customer.objects.order_by("pk").only("email", "city").first()
    city = customer.city if customer else "London"
    email = customer.email if customer else "customer0@example.com"
    bad_deploy_note = BAD_DEPLOY_NOTE if bad_deploy.active() else ""
    endpoints = [
        Endpoint(
            reverse("shop:book_list"),
            "Books (N+1)",
            "Reads book.author, book.publisher and book.categories in the template without "
            "select_related or prefetch_related: 1 + 3 queries per book.",
            slow=True,
        ),
        Endpoint(
            reverse("shop:book_list_fast"),
            "Books (fixed)",
            "Same page with select_related and prefetch_related: two queries in all."
            + bad_deploy_note,
        ),
        Endpoint(
            reverse("shop:catalogue_uncached"),
            "Catalogue (uncached)",
            "A page of books, the catalogue's counts, a categories sidebar and the latest "
            "orders, every one read from the database on every request.",
            slow=True,
        ),
        Endpoint(
            reverse("shop:catalogue"),
            "Catalogue (cached)",
            "The same page through perfkit.cache: .cached() querysets and a cached_function. "
            "See Cache hit rates in the admin: the catalogue hits, the latest orders (written "
            "every few seconds) get the low-ratio hint.",
        ),
        Endpoint(reverse("shop:book_detail", args=[book_pk]), "Book detail", "One book."),
        Endpoint(
            f"{reverse('shop:customers_by_city')}?{urlencode({'city': city})}",
            "Customers by city",
            "Filters on customer.city, which has no index: every lookup scans the table.",
            slow=True,
        ),
        Endpoint(
            f"{reverse('shop:customers_by_email')}?{urlencode({'email': email})}",
            "Customer by email",
            "Filters on the unique, hence indexed, email column: an index lookup.",
        ),
        Endpoint(
            reverse("shop:orders_all"),
            "All orders",
            "Renders every order on one page: a huge query and an even bigger template.",
            slow=True,
        ),
        Endpoint(
            reverse("shop:orders"),
            "Orders (paginated)",
            f"The same list, {ORDERS_PER_PAGE} orders per page.",
        ),
        Endpoint(
            reverse("shop:api_books"),
            "API: books (N+1)",
            "Builds each dict from book.author.name and book.publisher.name in a loop: "
            "two extra queries per book.",
            slow=True,
        ),
        Endpoint(
            reverse("shop:api_books_fast"),
            "API: books (fixed)",
            "Same JSON from one values() query that joins author and publisher.",
        ),
        Endpoint(reverse("shop:api_book_detail", args=[book_pk]), "API: book detail", "One book."),
        Endpoint(
            reverse("shop:api_place_order"),
            "API: place an order (POST)",
            "Creates an order of one book for a customer (form fields email, book, "
            "quantity); the demo's traffic places a few a minute.",
        ),
        Endpoint(
            reverse("shop:api_stats"),
            "API: stats",
            "Aggregates over all orders and order lines: counts and revenue.",
        ),
        Endpoint(
            reverse("shop:api_ping_async"), "API: async ping", "An async view with one query."
        ),
        Endpoint(reverse("shop:ping"), "Ping", "No query at all: the baseline."),
        Endpoint(reverse("admin:index"), "Admin", "Django admin, where perfkit reports."),
    ]
    return render(request, "shop/index.html", {"endpoints": endpoints})


@require_GET
def book_list(request: HttpRequest) -> HttpResponse:
    """Deliberately N+1: the template follows author, publisher and categories per book."""
    books = Book.objects.order_by("pk")[:LIST_SIZE]
    return render(request, "shop/book_list.html", {"books": books, "fast": False})


@require_GET
def book_list_fast(request: HttpRequest) -> HttpResponse:
    """The fixed book list: select_related and prefetch_related, two queries.

    After ``demo_release NAME --slow`` (a bad deploy), the N+1 version.
    """
    if bad_deploy.active():
        return book_list(request)
    books = (
        Book.objects.select_related("author", "publisher")
        .prefetch_related("categories")
        .order_by("pk")[:LIST_SIZE]
    )
    return render(request, "shop/book_list.html", {"books": books, "fast": True})


def _catalogue(request: HttpRequest, cached: bool) -> HttpResponse:
    counts = reads.catalogue_counts(cached)
    try:
        page = min(max(1, int(request.GET.get("page", "1"))), counts.pages)
    except ValueError:
        page = 1
    context = {
        "cached": cached,
        "counts": counts,
        "page": page,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < counts.pages else None,
        "books": reads.books_page(page, cached),
        "categories": reads.categories(cached),
        "latest_orders": reads.latest_orders(cached),
        "cache_events": request_stats(),  # this request's hits and misses so far
    }
    return render(request, "shop/catalogue.html", context)


@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    """The catalogue through perfkit.cache: each read is a hit until its tables change."""
    return _catalogue(request, cached=True)


@require_GET
def catalogue_uncached(request: HttpRequest) -> HttpResponse:
    """The same catalogue, every read run on the database."""
    return _catalogue(request, cached=False)


@require_GET
def book_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One book with its author's other books."""
    book = get_object_or_404(
        Book.objects.select_related("author", "publisher").prefetch_related("categories"), pk=pk
    )
    others = book.author.books.exclude(pk=book.pk).order_by("-published")[:5]
    return render(request, "shop/book_detail.html", {"book": book, "others": others})


@require_GET
def customers_by_city(request: HttpRequest) -> HttpResponse:
    """Deliberately slow: filters and counts on the unindexed city column."""
    city = request.GET.get("city", "").strip()
    customers = Customer.objects.filter(city=city).order_by("pk")
    context = {
        "field": "city",
        "value": city,
        "total": customers.count(),
        "customers": customers[:CUSTOMERS_SHOWN],
        "slow": True,
    }
    return render(request, "shop/customer_list.html", context)


@require_GET
def customers_by_email(request: HttpRequest) -> HttpResponse:
    """The fixed lookup: filters on the unique (indexed) email column."""
    email = request.GET.get("email", "").strip()
    customers = list(Customer.objects.filter(email=email))
    context = {
        "field": "email",
        "value": email,
        "total": len(customers),
        "customers": customers,
        "slow": False,
    }
    return render(request, "shop/customer_list.html", context)


def _orders() -> QuerySet[Order]:
    return Order.objects.select_related("customer").order_by("-created_at", "-pk")


@require_GET
def orders_all(request: HttpRequest) -> HttpResponse:
    """Deliberately slow: every order on one page, no pagination."""
    return render(request, "shop/order_list.html", {"orders": _orders(), "page_obj": None})


@require_GET
def orders(request: HttpRequest) -> HttpResponse:
    """The fixed order list: paginated with Paginator."""
    page_obj = Paginator(_orders(), ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request, "shop/order_list.html", {"orders": page_obj.object_list, "page_obj": page_obj}
    )


# Keys of a book in the JSON API, in the order of BOOK_VALUES for the values_list() query.
BOOK_KEYS = ("id", "title", "isbn", "author", "publisher", "price")
BOOK_VALUES = ("pk", "title", "isbn", "author__name", "publisher__name", "price")


def _book_json(book: Book) -> dict[str, Any]:
    # Follows book.author and book.publisher: a query each unless select_related.
    values = (book.pk, book.title, book.isbn, book.author.name, book.publisher.name, book.price)
    return dict(zip(BOOK_KEYS, values, strict=True))


@require_GET
def api_books(request: HttpRequest) -> JsonResponse:
    """Deliberately N+1: two extra queries per book for author and publisher names."""
    data = [_book_json(book) for book in Book.objects.order_by("pk")[:LIST_SIZE]]
    return JsonResponse({"books": data})


@require_GET
def api_books_fast(request: HttpRequest) -> JsonResponse:
    """The fixed book API: one values_list() query joining author and publisher."""
    rows = Book.objects.order_by("pk").values_list(*BOOK_VALUES)[:LIST_SIZE]
    return JsonResponse({"books": [dict(zip(BOOK_KEYS, row, strict=True)) for row in rows]})


@require_GET
def api_book_detail(request: HttpRequest, pk: int) -> JsonResponse:
    """One book as JSON, with its categories."""
    book = get_object_or_404(
        Book.objects.select_related("author", "publisher").prefetch_related("categories"), pk=pk
    )
    data = _book_json(book)
    data.update(
        published=book.published,
        in_stock=book.in_stock,
        categories=[c.name for c in book.categories.all()],
    )
    return JsonResponse(data)


@csrf_exempt  # an API for scripts (the demo's traffic), not a form
@require_POST
def api_place_order(request: HttpRequest) -> JsonResponse:
    """Create an order of one book for the customer with the given email."""
    customer = get_object_or_404(Customer, email=request.POST.get("email", ""))
    book = get_object_or_404(Book, pk=request.POST.get("book") or 0)
    try:
        quantity = max(1, int(request.POST.get("quantity", "1")))
    except ValueError:
        return JsonResponse({"error": "quantity must be a whole number"}, status=400)
    with transaction.atomic():
        order = Order.objects.create(customer=customer)
        OrderLine.objects.create(order=order, book=book, quantity=quantity, unit_price=book.price)
    return JsonResponse({"order": order.pk}, status=201)


@require_GET
def api_stats(request: HttpRequest) -> JsonResponse:
    """Shop totals: orders by status and revenue of the orders not cancelled."""
    by_status = dict(
        Order.objects.order_by("status")
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    revenue = OrderLine.objects.exclude(order__status=Order.Status.CANCELLED).aggregate(
        revenue=Sum(
            F("quantity") * F("unit_price"),
            output_field=DecimalField(max_digits=14, decimal_places=2),
        )
    )["revenue"]
    return JsonResponse(
        {
            "orders": sum(by_status.values()),
            "orders_by_status": by_status,
            # SQLite multiplies decimals as floats: round back to cents.
            "revenue": (revenue or Decimal(0)).quantize(CENT),
            "books": Book.objects.count(),
            "customers": Customer.objects.count(),
        }
    )


@require_GET
async def api_ping_async(request: HttpRequest) -> JsonResponse:
    """An async view with a single async query."""
    return JsonResponse({"pong": True, "books": await Book.objects.acount()})


@require_GET
def ping(request: HttpRequest) -> HttpResponse:
    """No query at all: the cheapest possible response."""
    return HttpResponse("pong", content_type="text/plain")
