"""Where alerts go: ``REGRESSIONS_ALERTS`` parsed into targets that send one message."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.mail import EmailMessage

from perfkit.conf import perfkit_settings

if TYPE_CHECKING:  # messages imports the models: not at app loading
    from perfkit.regressions.alerts.messages import Message

WEBHOOK_FORMATS = ("json", "slack")


class TargetError(ValueError):
    """A malformed entry of ``REGRESSIONS_ALERTS``."""


@dataclass(frozen=True)
class Target:
    """One configured destination; ``name`` identifies it in delivery records."""

    name: str
    type: str
    to: tuple[str, ...] = ()
    url: str = ""
    format: str = "json"

    def send(self, message: Message) -> None:
        """Send ``message``; raises on any failure (the caller counts it)."""
        if self.type == "email":
            EmailMessage(message.subject, message.text, None, list(self.to)).send()
        else:
            body = message.as_slack() if self.format == "slack" else message.as_json()
            post_json(self.url, body, perfkit_settings.REGRESSIONS_WEBHOOK_TIMEOUT)


def post_json(url: str, body: dict[str, Any], timeout: float) -> None:
    """POST ``body`` as JSON; anything but a 2xx answer raises."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "perfkit-alerts"},
        method="POST",
    )
    # urlopen raises HTTPError for 4xx/5xx and URLError when nothing answers.
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def parse(entry: Any) -> Target:
    """One settings entry as a target; raises :class:`TargetError` with what is wrong."""
    if not isinstance(entry, dict):
        raise TargetError(f"{entry!r} is not a dict")
    kind = entry.get("type")
    if kind == "email":
        to = entry.get("to")
        if isinstance(to, str):
            to = [to]
        if not to or not all(isinstance(a, str) for a in to):
            raise TargetError('an email target needs "to": a list of addresses')
        return Target(str(entry.get("name") or "email:" + ",".join(to)), "email", to=tuple(to))
    if kind == "webhook":
        url = entry.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise TargetError('a webhook target needs "url": an http(s) address')
        fmt = entry.get("format", "json")
        if fmt not in WEBHOOK_FORMATS:
            raise TargetError(f'webhook "format" must be one of {", ".join(WEBHOOK_FORMATS)}')
        return Target(str(entry.get("name") or f"webhook:{url}"), "webhook", url=url, format=fmt)
    raise TargetError(f'"type" must be "email" or "webhook", not {kind!r}')


def configured() -> tuple[list[Target], list[str]]:
    """The valid targets of ``REGRESSIONS_ALERTS``, and the problems of the others."""
    targets, problems = [], []
    for entry in perfkit_settings.REGRESSIONS_ALERTS:
        try:
            targets.append(parse(entry))
        except TargetError as exc:
            problems.append(str(exc))
    return targets, problems
