from __future__ import annotations

from perfkit import api
from perfkit.models import Resolution, Rollup


def endpoint_counters(endpoint: str) -> dict[str, int]:
    """Flush and drain, then the endpoint's cumulative counters from the database."""
    assert api.flush()
    api.drain(include_current=True)
    row = Rollup.objects.filter(kind="endpoint", key=endpoint, resolution=Resolution.TOTAL).first()
    return dict(row.counters) if row else {}


def line_of(path: str, marker: str) -> int:
    """Line number of the first line containing ``marker``."""
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if marker in line:
                return number
    raise AssertionError(f"{marker!r} not in {path}")
