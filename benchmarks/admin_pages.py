"""Render time of perfkit's admin pages over months of history.

Generates 30 days of rollups for 500 endpoints, 100 cache labels and 200 N+1
fingerprints at every resolution the retention settings keep (day rows for
30 days, hour rows for 31 days, ten-minute and minute rows for 26 hours:
about 1.97 million rows, no two rows of a key alike), then renders, as a
logged-in superuser, the Slow endpoints list and one endpoint's detail page
and the Cache hit rates page for each window, the Database page and the
status page, and prints median times, query counts, and the ratio to the
Django admin index rendered in the same run (the baseline). Minute rows reach
the minute of generation: measure right after it (the last hour's pages read
fewer rows as the hour moves past the generated data).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/perfkit_bench_admin \\
        .venv/bin/python benchmarks/admin_pages.py [--endpoints 500] [--days 30]

The database must exist; the script migrates it and replaces its rollups.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
os.environ.setdefault("PERFKIT_DEMO_VAR", "/tmp/perfkit-bench-admin")


def generate(endpoints: int, days: int) -> int:
    """Insert rollups as ``days`` of traffic leave them; returns the row count.

    Runs server-side with generate_series (PostgreSQL only): a million rows
    through the ORM would take longer than the measurement.
    """
    import json

    from django.db import connection

    from perfkit.models import Rollup
    from perfkit.recording import histogram

    if connection.vendor != "postgresql":
        raise SystemExit("run this benchmark on PostgreSQL (DATABASE_URL=postgres://...)")
    Rollup.objects.all().delete()
    counts = [
        histogram.merged([{histogram.bucket_of(1000 * (1 + s) * k): 10 * k} for k in range(1, 6)])
        for s in range(40)
    ]
    shapes = [json.dumps({str(index): n for index, n in shape.items()}) for shape in counts]
    # Each row's p95 bucket, as the recorders store it beside the histogram;
    # scaling a shape's counts (below) leaves it where it is.
    p95s = [histogram.percentile_index(shape, 95) for shape in counts]
    for shape, p95 in zip(counts, p95s, strict=True):
        for factor in (1, 10, 60, 1440, 11 * 1440):
            assert histogram.percentile_index({i: n * factor for i, n in shape.items()}, 95) == p95
    kinds = [
        (
            "endpoint",
            "'GET generated/' || e || '/items/<int:pk>/'",
            endpoints,
            {"count": 150, "errors": 1, "queries": 900, "n1": 1, "dur_us": 3_000_000, "s2xx": 150},
            {"dur_us": 90_000, "queries": 12},
        ),
        (
            "cache",
            "'generated_table_' || e",
            max(endpoints // 5, 1),
            {"hits": 900, "misses": 100, "stores": 100, "invalidations": 10},
            {},
        ),
        (
            "nplus1",
            "'app/views.py:' || e || ' in view' || chr(10) || "
            '\'SELECT "t\' || e || \'"."id" FROM "t\' || e || \'" WHERE "id" = %%s\'',
            max(endpoints * 2 // 5, 1),
            {"runs": 10, "queries": 200},
            {},
        ),
    ]
    # Every row's figures differ (a factor varying with endpoint and bucket):
    # identical JSON documents would let PostgreSQL memoize their expansion,
    # which real traffic never allows. Coarser rows hold about what their
    # minutes add up to (counters and histograms times the minutes they span).
    scaled = (
        "(SELECT jsonb_object_agg(t.k, t.v::bigint * (r.res / 60) * (1 + (e * 7 + i) %% 11))"
        " FROM jsonb_each_text({}) AS t(k, v))"
    )
    rows = 0
    with connection.cursor() as cursor:
        for kind, key_sql, keys, counters, maxima in kinds:
            cursor.execute(
                f"""
                INSERT INTO perfkit_rollup
                    (kind, key, label, resolution, bucket, counters, maxima, histogram,
                     p95_bucket)
                SELECT %s, {key_sql}, '', r.res,
                       to_timestamp((extract(epoch FROM now())::bigint / r.res) * r.res
                                    - i * r.res),
                       {scaled.format("%s::jsonb")}, %s::jsonb,
                       CASE WHEN %s = 'endpoint'
                            THEN {scaled.format("(%s::jsonb[])[e %% 40 + 1]")}
                            ELSE '{{}}'::jsonb END,
                       CASE WHEN %s = 'endpoint' THEN (%s::int[])[e %% 40 + 1] END
                FROM generate_series(0, %s - 1) AS e
                CROSS JOIN (VALUES (86400, %s), (3600, %s), (600, %s), (60, %s)) AS r(res, n)
                CROSS JOIN LATERAL generate_series(0, r.n - 1) AS i
                """,
                [
                    kind,
                    json.dumps(counters),
                    json.dumps(maxima),
                    kind,
                    shapes,
                    kind,
                    p95s,
                    keys,
                    days,
                    min(days, 31) * 24,
                    26 * 6,
                    26 * 60,
                ],
            )
            rows += int(cursor.rowcount)
        cursor.execute("ANALYZE perfkit_rollup")
    return rows


def measure(client: object, url: str, params: dict[str, str], repeat: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url, params)  # type: ignore[attr-defined]
            times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, params, response.status_code)
        queries = len(captured.captured_queries)
    return statistics.median(times) * 1000, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoints", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-generate", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from perfkit.models import Rollup
    from perfkit.recording.query import WINDOWS

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    if not args.skip_generate:
        started = time.perf_counter()
        rows = generate(args.endpoints, args.days)
        print(f"generated {rows} rollup rows in {time.perf_counter() - started:.1f}s")
    print(f"rollup rows in the table: {Rollup.objects.count()}")

    users = get_user_model().objects
    user = users.filter(username="bench").first() or users.create_superuser(
        "bench", "bench@example.com", "bench"
    )
    client = Client()
    client.force_login(user)
    baseline, baseline_queries = measure(client, "/admin/", {}, args.repeat)
    print(f"\nbaseline: admin index {baseline:.1f} ms median, {baseline_queries} queries\n")
    print(f"{'page':<34}{'median ms':>10}{'queries':>9}{'x index':>9}")
    detail = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    key = "GET generated/7/items/<int:pk>/"
    pages: list[tuple[str, str, dict[str, str]]] = []
    for window in WINDOWS:
        pages += [
            (
                f"Slow endpoints, {window}",
                reverse("admin:perfkit_metrics_endpointstats_changelist"),
                {"window": window},
            ),
            (f"endpoint detail, {window}", detail, {"key": key, "window": window}),
            (
                f"Cache hit rates, {window}",
                reverse("admin:perfkit_cache_cachestats_changelist"),
                {"window": window},
            ),
        ]
    pages += [
        ("Database", reverse("admin:perfkit_databaseinsights_changelist"), {}),
        ("perfkit status", reverse("admin:perfkit_perfkitstatus_changelist"), {}),
    ]
    for label, url, params in pages:
        ms, queries = measure(client, url, params, args.repeat)
        print(f"{label:<34}{ms:>10.1f}{queries:>9}{ms / baseline:>9.1f}")


if __name__ == "__main__":
    main()
