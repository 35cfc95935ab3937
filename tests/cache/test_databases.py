"""Versions belong to databases; both Redis cache backends work."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.conftest import needs_redis
from tests.testapp.models import Author
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "other"])


def queries_on(alias: str, func) -> tuple[object, int]:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connections[alias]) as captured:
        result = func()
    return result, len(captured.captured_queries)


def test_writes_on_the_primary_invalidate_reads_cached_through_its_mirror() -> None:
    assert settings.DATABASES["other"]["TEST"]["MIRROR"] == "default"
    Author.objects.create(name="a")
    read = lambda: Author.objects.using("other").cached(timeout=30).count()  # noqa: E731
    assert read() == 1
    assert queries_on("other", read) == (1, 0)  # served from the cache
    Author.objects.using("default").create(name="b")
    assert queries_on("other", read) == (2, 1)


def test_replica_reads_are_stored_only_with_an_explicit_timeout() -> None:
    Author.objects.create(name="a")
    read = lambda: Author.objects.using("other").cached().count()  # noqa: E731
    read()
    assert queries_on("other", read) == (1, 1)


def test_a_declared_replica_shares_versions() -> None:
    from perfkit.writes import database_of

    with override_perfkit({"CACHE_REPLICAS": {"other": "default"}}):
        assert database_of("other") == "default"
    assert database_of("default") == "default"


@needs_redis
@pytest.mark.parametrize(
    "backend",
    ["django_redis.cache.RedisCache", "django.core.cache.backends.redis.RedisCache"],
)
def test_both_redis_backends(backend: str) -> None:
    caches = {
        **settings.CACHES,
        "q": {
            "BACKEND": backend,
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"backend-{settings.RUN_DIR.name}-{backend.partition('.')[0]}",
        },
    }
    with override_settings(CACHES=caches), override_perfkit({"CACHE_ALIAS": "q"}):
        Author.objects.create(name="a")
        read = lambda: list(Author.objects.cached().values_list("name", flat=True))  # noqa: E731
        assert read() == ["a"]
        assert queries_on("default", read) == (["a"], 0)
        Author.objects.update(name="b")
        assert queries_on("default", read) == (["b"], 1)
