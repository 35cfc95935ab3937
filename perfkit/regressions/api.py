"""perfkit.regressions' public functions: commands, tasks and the admin call these."""

from __future__ import annotations

from perfkit.regressions.alerts.deliver import DeliveryResult, deliver_pending, pending, status
from perfkit.regressions.detect import DetectionResult, acknowledge, detect
from perfkit.regressions.releases import (
    ReleaseComparison,
    compare,
    current_and_previous,
    for_endpoint_page,
    record_release,
    releases_between,
)

__all__ = [
    "DeliveryResult",
    "DetectionResult",
    "ReleaseComparison",
    "acknowledge",
    "alert_status",
    "compare",
    "current_and_previous",
    "deliver_alerts",
    "detect",
    "for_endpoint_page",
    "pending_alerts",
    "record_release",
    "releases_between",
]

deliver_alerts = deliver_pending
pending_alerts = pending
alert_status = status
