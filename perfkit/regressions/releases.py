"""Releases: recorded explicitly or noted once per process from ``RELEASE``."""

from __future__ import annotations


def note_running() -> None:
    """Flush hook: record the running release (placeholder until implemented)."""
