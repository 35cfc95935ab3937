"""The demo's "bad deploy": a file flag that turns the fixed book list back into an N+1.

``manage.py demo_release NAME --slow`` records a release and sets the flag;
while it is set, ``/books/fast/`` runs the N+1 version of the page under its
own URL pattern, so the new release's figures for that endpoint regress
against the previous release's. ``--fixed`` clears it. The
flag is a file in the demo's ``var/`` directory, so the web server sees it
without a restart.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

FLAG_NAME = "bad-deploy"


def flag_path() -> Path:
    """The flag file, in the demo's ``var/`` directory."""
    return Path(settings.VAR_DIR) / FLAG_NAME


def active() -> bool:
    """Whether /books/fast/ serves the N+1 version (one stat per request)."""
    return flag_path().exists()


def set_active(on: bool, release: str = "") -> None:
    """Set or clear the flag; the file holds the release that set it."""
    if on:
        flag_path().write_text(f"{release}\n")
    else:
        flag_path().unlink(missing_ok=True)
