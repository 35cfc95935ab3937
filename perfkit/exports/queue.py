"""Sending export tasks to Celery, by task name (no import cycle with the tasks).

A send that fails (the broker is down or unreachable) never fails the request
or the task that made it: it is logged, the caller learns it through the
returned :class:`Sending`, and a job left pending is re-sent by
:func:`perfkit.exports.maintenance.resend_pending`.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from perfkit.conf import perfkit_settings
from perfkit.exports.models import ExportJob

RUN_TASK = "perfkit_exports.run"
REPORT_TASK = "perfkit_exports.run_report"

logger = logging.getLogger(__name__)


class Sending:
    """One task send, made when the transaction commits.

    ``sent`` is ``None`` until then, ``True`` once the broker took the
    message, ``False`` when it could not be reached (``error`` says why).
    """

    def __init__(self, name: str, args: list[Any]) -> None:
        self.name = name
        self.args = args
        self.sent: bool | None = None
        self.error = ""

    def __call__(self) -> None:
        try:
            current_app.send_task(self.name, args=self.args)
        except Exception as exc:
            # kombu's OperationalError mostly, but whatever the transport raises:
            # the caller already committed its work and must not fail for this.
            self.sent = False
            self.error = f"{type(exc).__name__}: {exc}"
            logger.warning("Could not send task %s%r: %s", self.name, self.args, self.error)
        else:
            self.sent = True


def send_on_commit(name: str, args: list[Any], using: str | None = None) -> Sending:
    """Send task ``name`` once the current transaction on ``using`` commits."""
    sending = Sending(name, args)
    transaction.on_commit(sending, using=using)
    return sending


def enqueue(job: ExportJob) -> Sending:
    """Send the job's task once the current transaction commits (only its id travels).

    Sets ``job.queued`` to the outcome and stamps ``sent_at`` on the row after
    a successful send; a job never sent stays pending with ``sent_at`` empty.
    """
    alias = perfkit_settings.DATABASE_ALIAS
    sending = Sending(RUN_TASK, [str(job.pk)])

    def send() -> None:
        sending()
        job.queued = sending.sent
        if sending.sent:
            ExportJob.objects.using(alias).filter(pk=job.pk).update(sent_at=timezone.now())

    transaction.on_commit(send, using=alias)
    return sending
