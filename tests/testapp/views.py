from __future__ import annotations

from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.generic import ListView

from tests.testapp.models import Author, Book


def ping(request: HttpRequest) -> HttpResponse:
    return HttpResponse("pong")


def item(request: HttpRequest, slug: str) -> HttpResponse:
    return HttpResponse(slug)


def n_plus_one(request: HttpRequest) -> HttpResponse:
    names = []
    for book in Book.objects.all()[:20]:
        names.append(book.author.name)  # N+1: one author query per book
    return HttpResponse(",".join(names))


def duplicate(request: HttpRequest) -> HttpResponse:
    first = Author.objects.filter(name="a").count()
    second = Author.objects.filter(name="a").count()
    return HttpResponse(str(first + second))


def book_list(request: HttpRequest) -> HttpResponse:
    books = Book.objects.select_related("author")[:50]
    return render(request, "testapp/books.html", {"books": books})


def book_detail(request: HttpRequest, pk: int) -> HttpResponse:
    book = Book.objects.get(pk=pk)
    return HttpResponse(book.title)


def two_aliases(request: HttpRequest) -> HttpResponse:
    Author.objects.count()
    with connections["other"].cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok")


def boom(request: HttpRequest) -> HttpResponse:
    Author.objects.count()
    raise RuntimeError("boom")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def rows():  # type: ignore[no-untyped-def]
        for author in Author.objects.all():
            yield f"{author.name}\n"

    return StreamingHttpResponse(rows())


def many_queries(request: HttpRequest) -> HttpResponse:
    with connections["default"].cursor() as cursor:
        for _ in range(200):
            cursor.execute("SELECT 1")
    return HttpResponse("ok")


def many_shapes(request: HttpRequest) -> HttpResponse:
    """300 statements of 100 different shapes: more than a sample's waterfall keeps."""
    with connections["default"].cursor() as cursor:
        for i in range(300):
            cursor.execute(f"SELECT {i % 100} AS shape_{i % 100}")
    return HttpResponse("ok")


def repeated_on_other(request: HttpRequest) -> HttpResponse:
    """The same statement six times on the "other" alias."""
    with connections["other"].cursor() as cursor:
        for _ in range(6):
            cursor.execute("SELECT 1 AS on_other")
    return HttpResponse("ok")


def status(request: HttpRequest, code: int) -> HttpResponse:
    return HttpResponse(status=code)


def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.user.is_authenticated))


async def async_view(request: HttpRequest) -> JsonResponse:
    count = await Author.objects.acount()
    names = [a.name async for a in Author.objects.all()]
    return JsonResponse({"count": count, "names": names})


def add_author(request: HttpRequest) -> HttpResponse:
    """A write and no cached read: invalidations only."""
    return HttpResponse(str(Author.objects.create(name="written").pk))


def cached_count(request: HttpRequest) -> HttpResponse:
    first = Author.objects.cached().count()
    second = Author.objects.cached().count()
    return HttpResponse(str(first + second))


class BookListView(ListView):  # type: ignore[type-arg]
    """Renders testapp/books.html after the view returns (a TemplateResponse): an N+1."""

    model = Book
    template_name = "testapp/books.html"
    context_object_name = "books"


def download(request: HttpRequest) -> StreamingHttpResponse:
    """A file a WSGI server can send with ``wsgi.file_wrapper`` (sendfile)."""
    from django.http import FileResponse  # appended section: imports stay local

    return FileResponse(open(__file__, "rb"), filename="views.py")


def slow_stream(request: HttpRequest) -> StreamingHttpResponse:
    """A stream whose body takes a while after the view has returned."""
    import time

    def chunks():  # type: ignore[no-untyped-def]
        yield b"first\n"
        time.sleep(SLOW_STREAM_SECONDS)
        yield b"last\n"

    return StreamingHttpResponse(chunks())


SLOW_STREAM_SECONDS = 0.05
