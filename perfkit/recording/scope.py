"""Per-unit-of-work counters any app can add to and metrics reads.

perfkit.metrics opens a scope per request, task or command; perfkit.cache
adds its hits and misses to whatever scopes are open. Neither imports the
other. Scopes nest (an eager Celery task inside a request): an event counts
in every open scope, and closing the inner one leaves the outer one open.
"""

from __future__ import annotations

import contextvars

_open: contextvars.ContextVar[tuple[dict[str, int], ...]] = contextvars.ContextVar(
    "perfkit_scopes", default=()
)


def begin() -> dict[str, int]:
    """Open a scope in this context and return its counters."""
    counters: dict[str, int] = {}
    _open.set((*_open.get(), counters))
    return counters


def is_open() -> bool:
    """Whether a scope is open in this context."""
    return bool(_open.get())


def end(counters: dict[str, int] | None = None) -> None:
    """Close ``counters``' scope (the innermost one when not given)."""
    scopes = _open.get()
    if not scopes:
        return
    if counters is None:
        _open.set(scopes[:-1])
    else:
        _open.set(tuple(s for s in scopes if s is not counters))


def add(name: str, amount: int = 1) -> None:
    """Count ``amount`` into every open scope (cheap when none is)."""
    for counters in _open.get():
        counters[name] = counters.get(name, 0) + amount


def current() -> dict[str, int]:
    """The innermost open scope's counters (empty when none is open)."""
    scopes = _open.get()
    return dict(scopes[-1]) if scopes else {}
