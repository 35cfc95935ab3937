"""Cached values come back as the ORM made them: same classes, state and relations."""

from __future__ import annotations

import pickle

import pytest
from django.db.models import Model, Prefetch

from perfkit.cache import serialize
from tests.testapp.models import Author, Book, DiffPublisher, DiffPublisherProxy, Tag

pytestmark = pytest.mark.django_db


def test_instances_round_trip_with_their_state_and_relations() -> None:
    author = Author.objects.create(name="ann")
    book = Book.objects.create(title="b", author=author, pages=3)
    book.tags.add(Tag.objects.create(name="t"))
    books = list(
        Book.objects.select_related("author")
        .prefetch_related(Prefetch("tags", to_attr="tag_list"))
        .defer("pages")
    )
    loaded = serialize.loads(serialize.dumps(books))
    assert loaded[0] is not books[0] and loaded[0] == books[0]
    assert loaded[0]._state.db == "default" and loaded[0]._state.adding is False
    assert loaded[0].author.name == "ann" and loaded[0].tag_list[0].name == "t"
    assert loaded[0].get_deferred_fields() == {"pages"}
    assert len(serialize.dumps(books)) < len(pickle.dumps(books))


def test_proxies_keep_their_class_and_memoryviews_their_type() -> None:
    DiffPublisher.objects.create(name="p")
    proxy = DiffPublisherProxy.objects.get()
    proxy.blob = memoryview(b"raw")  # type: ignore[attr-defined]  # e.g. a BinaryField on PostgreSQL
    loaded = serialize.loads(serialize.dumps(proxy))
    assert type(loaded) is DiffPublisherProxy
    assert isinstance(loaded.blob, memoryview) and bytes(loaded.blob) == b"raw"


def test_a_models_own_setstate_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def setstate(self: Author, state: dict[str, object]) -> None:
        calls.append(state["name"])
        Model.__setstate__(self, state)

    monkeypatch.setattr(Author, "__setstate__", setstate, raising=False)
    author = Author.objects.create(name="s")
    assert serialize.loads(serialize.dumps(author)).name == "s"
    assert calls == ["s"]
