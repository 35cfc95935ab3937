"""Another process of the fleet: ``python -m tests.metrics.fleet_client PATH COUNT``.

Runs with the tests' settings on the test database (``PERFKIT_TEST_WORKER_DB``),
makes COUNT requests to PATH through the whole middleware stack, and exits;
perfkit flushes its counters at exit like any web process.
"""

from __future__ import annotations

import sys

import django


def main() -> None:
    path, count = sys.argv[1], int(sys.argv[2])
    django.setup()
    from django.test import Client

    client = Client()
    for _ in range(count):
        assert client.get(path).status_code == 200


if __name__ == "__main__":
    main()
