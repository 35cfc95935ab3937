"""A small HTTP traffic generator for the demo shop's endpoints, slow ones included."""

from __future__ import annotations

import itertools
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from math import ceil
from urllib.parse import quote_plus

from demo_project.shop.models import Book, Customer, Order
from demo_project.shop.views import ORDERS_PER_PAGE

USER_AGENT = "perfkit-demo-traffic/1"
SAMPLE_SIZE = 200

# The catalogue pages the traffic reads: few enough for its cache entries to keep hitting.
CATALOGUE_PAGES = 5

# (path template, weight). Placeholders are filled from real rows picked at start.
# "POST " routes send their query string as a form body instead. Orders are placed
# more often than the catalogue is read, so the catalogue's cached "latest orders"
# mostly miss: Cache hit rates shows the low-ratio hint on that row (shop_order).
ROUTES: tuple[tuple[str, int], ...] = (
    ("/", 1),
    ("/catalogue/?page={catalogue_page}", 3),
    ("/catalogue/uncached/?page={catalogue_page}", 3),
    ("POST /api/orders/?email={email}&book={book}&quantity={quantity}", 6),
    ("/ping/", 2),
    ("/books/", 3),
    ("/books/fast/", 3),
    ("/books/{book}/", 6),
    ("/customers/by-city/?city={city}", 2),
    ("/customers/by-email/?email={email}", 3),
    ("/orders/", 2),
    ("/orders/?page={page}", 2),
    ("/orders/all/", 1),
    ("/api/books/", 3),
    ("/api/books/fast/", 3),
    ("/api/books/{book}/", 5),
    ("/api/stats/", 1),
    ("/api/ping-async/", 2),
)


@dataclass(frozen=True)
class Sample:
    """Real primary keys and values to put in URLs, so detail pages are hits, not 404s."""

    book_ids: list[int]
    cities: list[str]
    emails: list[str]
    order_pages: int

    @classmethod
    def from_db(cls, rng: random.Random) -> Sample:
        """A few hundred rows picked from the database."""
        book_ids = list(Book.objects.values_list("pk", flat=True)[: SAMPLE_SIZE * 10])
        emails = list(Customer.objects.values_list("email", flat=True)[: SAMPLE_SIZE * 10])
        cities = sorted(Customer.objects.order_by().values_list("city", flat=True).distinct())
        return cls(
            book_ids=rng.sample(book_ids, min(len(book_ids), SAMPLE_SIZE)),
            cities=cities,
            emails=rng.sample(emails, min(len(emails), SAMPLE_SIZE)),
            order_pages=max(1, ceil(Order.objects.count() / ORDERS_PER_PAGE)),
        )

    def routes(self) -> list[tuple[str, int]]:
        """The routes whose placeholders this sample can fill."""
        missing = set()
        if not self.book_ids:
            missing.add("{book}")
        if not self.cities:
            missing.add("{city}")
        if not self.emails:
            missing.add("{email}")
        return [(path, w) for path, w in ROUTES if not any(m in path for m in missing)]

    def fill(self, template: str, rng: random.Random) -> str:
        """``template`` with its placeholders replaced by random sampled values."""
        values: dict[str, object] = {
            "page": rng.randint(1, self.order_pages),
            "catalogue_page": rng.randint(1, CATALOGUE_PAGES),
            "quantity": rng.randint(1, 3),
        }
        if "{book}" in template:
            values["book"] = rng.choice(self.book_ids)
        if "{city}" in template:
            values["city"] = quote_plus(rng.choice(self.cities))
        if "{email}" in template:
            values["email"] = quote_plus(rng.choice(self.emails))
        return template.format(**values)


@dataclass
class Stats:
    """Counters shared by the worker threads."""

    started: float = field(default_factory=time.monotonic)
    done: int = 0
    errors: int = 0
    last_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, error: str | None) -> None:
        with self.lock:
            self.done += 1
            if error:
                self.errors += 1
                self.last_error = error

    def summary(self) -> str:
        """One line: elapsed time, requests, rate and errors."""
        with self.lock:
            elapsed = time.monotonic() - self.started
            line = (
                f"{elapsed:6.0f}s  {self.done} requests ({self.done / max(elapsed, 1e-9):.1f}/s), "
                f"{self.errors} errors"
            )
            return f"{line} (last: {self.last_error})" if self.last_error else line


def get(url: str, timeout: float = 30.0) -> int:
    """GET ``url`` and read the body; the HTTP status, raising HTTPError on 4xx and 5xx."""
    return send(url, timeout=timeout)


def send(url: str, form: str | None = None, timeout: float = 30.0) -> int:
    """GET ``url``, or POST the url-encoded ``form`` to it; the HTTP status, as :func:`get`."""
    data = None if form is None else form.encode()
    request = urllib.request.Request(url, data=data, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
        return int(response.status)


def wait_for_server(base_url: str, stop: threading.Event, timeout: float = 60.0) -> bool:
    """Poll until the server answers anything at all; False on timeout or stop."""
    deadline = time.monotonic() + timeout
    while not stop.is_set():
        try:
            get(f"{base_url}/ping/", timeout=5)
        except urllib.error.HTTPError:
            return True  # An HTTP error is still an answer.
        except OSError:
            if time.monotonic() >= deadline:
                return False
            stop.wait(1.0)
        else:
            return True
    return False


@dataclass
class Traffic:
    """Worker threads issuing weighted GETs until stopped or out of budget."""

    base_url: str
    sample: Sample
    concurrency: int = 2
    delay: float = 0.05
    requests: int | None = None
    duration: float | None = None
    seed: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    stats: Stats = field(default_factory=Stats)
    _claimed: int = 0
    _claim_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, report: Callable[[str], None], every: float = 10.0) -> Stats:
        """Run the workers, calling ``report`` with a summary every ``every`` seconds."""
        self.stats = Stats()
        deadline = None if self.duration is None else time.monotonic() + self.duration
        threads = [
            threading.Thread(
                target=self._work, args=(i, deadline), daemon=True, name=f"traffic-{i}"
            )
            for i in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        next_report = time.monotonic() + every
        while any(t.is_alive() for t in threads):
            # Short waits keep the main thread responsive to signals.
            self.stop.wait(0.2)
            if time.monotonic() >= next_report:
                report(self.stats.summary())
                next_report += every
            if self.stop.is_set():
                break
        # A worker may be inside a slow request: give them all 5 s, then leave them
        # behind (daemon threads do not block the exit).
        give_up = time.monotonic() + 5.0
        for thread in threads:
            thread.join(timeout=max(0.0, give_up - time.monotonic()))
        return self.stats

    def _claim(self) -> bool:
        with self._claim_lock:
            if self.requests is not None and self._claimed >= self.requests:
                return False
            self._claimed += 1
            return True

    def _work(self, index: int, deadline: float | None) -> None:
        rng = random.Random(self.seed * 1000 + index)
        paths, weights = zip(*self.sample.routes(), strict=True)
        cum_weights = list(itertools.accumulate(weights))
        while not self.stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return
            if not self._claim():
                return
            path = self.sample.fill(rng.choices(paths, cum_weights=cum_weights)[0], rng)
            form = None
            if path.startswith("POST "):
                path, _, form = path.removeprefix("POST ").partition("?")
            try:
                send(f"{self.base_url}{path}", form)
            except urllib.error.HTTPError as exc:
                self.stats.record(f"{exc.code} on {path}")
            except OSError as exc:
                self.stats.record(f"{type(exc).__name__} on {path}: {exc}")
            else:
                self.stats.record(None)
            if self.delay:
                self.stop.wait(self.delay)
