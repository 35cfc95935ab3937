"""The demo's cached catalogue shows what the uncached one shows, from the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.demo_process import ROOT, demo_env, sqlite_pass_only

pytestmark = sqlite_pass_only


def test_cached_catalogue_matches_uncached_and_sees_new_orders(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.demo_catalogue_child"],
        cwd=ROOT,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["same_books"]
    assert found["books_rows"] == 25
    # Books, categories, counts and latest orders: missed first, then all hits.
    assert found["first_events"] == [["0", "4"]]
    assert found["second_events"] == [["4", "0"]]
    assert found["uncached_events"] == []
    # A new order invalidates the cached latest orders: the page shows it at once.
    assert found["placed_status"] == 201
    assert found["latest_before"] != found["placed_order"]
    assert found["latest_after"] == found["placed_order"]
