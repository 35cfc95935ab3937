"""How a recorded run (request, task, command) ended."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    """How a run ended: the endpoint it is recorded under, its status and who asked."""

    endpoint: str
    status: int = 200
    error: bool = False
    method: str = ""
    path: str = ""
    user_id: str | None = None
