from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from perfkit.cache import api


class Command(BaseCommand):
    help = "Drop every cached queryset and function result at once (a new namespace)."

    def handle(self, *args: Any, **options: Any) -> None:
        token = api.clear()
        self.stdout.write(f"perfkit cache cleared (namespace {token}).")
