"""Sending pending alerts: each to every target once, rate limited, failures counted.

An alert is claimed for a while before it is sent (a conditional update),
so two senders at once never both send it; each target's delivery is
recorded, so a retry sends only to the targets that failed. A process that
dies between sending and recording may send that one message again: the
only duplicate possible. Failures are counted (the status page's error
table) and logged at most once a minute, never raised to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Q

from perfkit.conf import perfkit_settings
from perfkit.recording import errors
from perfkit.regressions.alerts import messages
from perfkit.regressions.alerts.targets import Target, configured
from perfkit.regressions.models import Alert, AlertDelivery

# Tries per target before an alert is given up on it (the task's retries plus one).
MAX_ATTEMPTS = 6
CLAIM_SECONDS = 120


@dataclass
class DeliveryResult:
    """What one delivery run did."""

    sent: int = 0  # alerts finished (every target reached or given up on)
    failed: int = 0  # target sends that failed in this run
    deferred: int = 0  # alerts left for the next hour by the rate limit
    problems: list[str] = field(default_factory=list)


def error_source(target: Target) -> str:
    """The name failures of ``target`` are counted under on the status page."""
    return f"regression alert {target.type}"


def pending() -> int:
    """Alerts waiting to be sent."""
    using = perfkit_settings.DATABASE_ALIAS
    return Alert.objects.using(using).filter(sent_at=None, cancelled=False).count()


def status(now: datetime | None = None) -> dict[str, int]:
    """Alerts waiting, and target deliveries failing or given up (alerts of the last day)."""
    now = now or datetime.now(tz=UTC)
    using = perfkit_settings.DATABASE_ALIAS
    recent = AlertDelivery.objects.using(using).filter(
        alert__created_at__gte=now - timedelta(days=1), sent_at=None, attempts__gt=0
    )
    return {
        "pending": pending(),
        "failing": recent.filter(attempts__lt=MAX_ATTEMPTS).count(),
        "given_up": recent.filter(attempts__gte=MAX_ATTEMPTS).count(),
    }


def deliver_pending(now: datetime | None = None) -> DeliveryResult:
    """Send every pending alert the hourly budget allows; never raises for a target."""
    now = now or datetime.now(tz=UTC)
    using = perfkit_settings.DATABASE_ALIAS
    targets, problems = configured()
    result = DeliveryResult(problems=problems)
    alerts = Alert.objects.using(using)
    budget = perfkit_settings.REGRESSIONS_ALERTS_PER_HOUR - (
        alerts.filter(sent_at__gte=now - timedelta(hours=1)).count()
    )
    waiting = (
        alerts.filter(sent_at=None, cancelled=False)
        .filter(Q(claimed_until=None) | Q(claimed_until__lt=now))
        .select_related("regression")
        .order_by("created_at", "pk")
    )
    for index, alert in enumerate(waiting):
        if budget <= 0:
            result.deferred = len(waiting) - index
            break
        claimed = (
            alerts.filter(pk=alert.pk, sent_at=None, cancelled=False)
            .filter(Q(claimed_until=None) | Q(claimed_until__lt=now))
            .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
        )
        if not claimed:
            continue  # another sender has it
        finished = _send(alert, targets, result)
        alerts.filter(pk=alert.pk).update(claimed_until=None, sent_at=now if finished else None)
        if finished:
            result.sent += 1
            budget -= 1
    return result


def _send(alert: Alert, targets: list[Target], result: DeliveryResult) -> bool:
    """Send ``alert`` to each target not yet reached; True when none is left to try."""
    using = perfkit_settings.DATABASE_ALIAS
    message = messages.build(alert)
    finished = True
    for target in targets:
        delivery, _ = AlertDelivery.objects.using(using).get_or_create(
            alert=alert, target=target.name[:300]
        )
        if delivery.sent_at is not None or delivery.attempts >= MAX_ATTEMPTS:
            continue
        delivery.attempts += 1
        try:
            target.send(message)
        except Exception as exc:
            errors.report(error_source(target), exc)
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            result.failed += 1
            finished = finished and delivery.attempts >= MAX_ATTEMPTS
        else:
            delivery.sent_at = datetime.now(tz=UTC)
        delivery.save(update_fields=["attempts", "sent_at", "last_error"])
    return finished
