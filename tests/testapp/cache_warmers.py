from __future__ import annotations

from perfkit.cache.warming import warmer
from tests.testapp.models import Author


@warmer
def author_count() -> int:
    return Author.objects.cached().count()
