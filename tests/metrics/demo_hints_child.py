"""Prints the N+1 fix hints of the demo's N+1 pages: run by test_fixhints in a child.

``python -m tests.metrics.demo_hints_child`` with ``DJANGO_SETTINGS_MODULE=demo_project.settings``
and ``PERFKIT_DEMO_VAR`` naming an empty directory: migrates, seeds a small shop, requests
each page and prints one JSON object of ``{path: [[method, model, path], ...]}``.
"""

from __future__ import annotations

import json

import django


def main() -> None:
    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from perfkit import observe
    from perfkit.capture import Capture
    from perfkit.metrics.fixhints import capture_hints

    call_command("migrate", verbosity=0)
    call_command("seed_demo", scale=0.05, verbosity=0)
    client = Client()
    found = {}
    for path in ("/books/", "/api/books/"):
        capture = Capture(detailed=True, threshold=5)
        with observe.observing(capture):
            assert client.get(path).status_code == 200
        hints = capture_hints(capture).values()
        found[path] = sorted([h.method, h.model, h.path] for h in hints)
    print(json.dumps(found))


if __name__ == "__main__":
    main()
