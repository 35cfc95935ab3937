"""Requests the demo's catalogue pages and places an order: run by test_demo_catalogue.

``python -m tests.demo_catalogue_child`` with ``DJANGO_SETTINGS_MODULE=demo_project.settings``
and ``PERFKIT_DEMO_VAR`` naming an empty directory: migrates, seeds a small shop and
prints one JSON object of what the pages showed.
"""

from __future__ import annotations

import json
import re

import django


def main() -> None:
    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from demo_project.shop.models import Book, Customer

    call_command("migrate", verbosity=0)
    call_command("seed_demo", scale=0.05, verbosity=0)
    client = Client()

    def page(path: str) -> str:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.content.decode()

    def books_table(html: str) -> str:
        return html[html.index("<table>") : html.index("</table>")]

    def latest_order(html: str) -> str:
        return re.findall(r"<li>#(\d+) ·", html)[0]

    first, second = page("/catalogue/?page=2"), page("/catalogue/?page=2")
    uncached = page("/catalogue/uncached/?page=2")
    customer = Customer.objects.order_by("pk").first()
    book = Book.objects.order_by("pk").first()
    assert customer and book
    placed = client.post("/api/orders/", {"email": customer.email, "book": book.pk})
    after = page("/catalogue/?page=2")
    events = r"This request: (\d+) hits, (\d+) misses"
    print(
        json.dumps(
            {
                "same_books": books_table(first) == books_table(second) == books_table(uncached),
                "books_rows": books_table(uncached).count("<tr>") - 1,
                "first_events": re.findall(events, first),
                "second_events": re.findall(events, second),
                "uncached_events": re.findall(events, uncached),
                "placed_status": placed.status_code,
                "placed_order": str(placed.json().get("order")),
                "latest_before": latest_order(second),
                "latest_after": latest_order(after),
            }
        )
    )


if __name__ == "__main__":
    main()
