"""Per-unit-of-work counters any app can add to and metrics reads.

perfkit.metrics opens a scope per request, task or command; perfkit.cache
adds its hits and misses to whatever scope is open. Neither imports the other.
"""

from __future__ import annotations

import contextvars

_current: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar(
    "perfkit_scope", default=None
)


def begin() -> dict[str, int]:
    """Open a scope in this context and return its counters."""
    counters: dict[str, int] = {}
    _current.set(counters)
    return counters


def is_open() -> bool:
    """Whether a scope is open in this context."""
    return _current.get() is not None


def end() -> None:
    _current.set(None)


def add(name: str, amount: int = 1) -> None:
    """Count ``amount`` into the open scope, if any (cheap when none is)."""
    counters = _current.get()
    if counters is not None:
        counters[name] = counters.get(name, 0) + amount


def current() -> dict[str, int]:
    """The open scope's counters (empty when none is open)."""
    return dict(_current.get() or {})
