"""The demo's Celery app. perfkit itself never creates one."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")

app = Celery("demo_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def add_perfkit_schedule(sender: Celery, **kwargs: object) -> None:
    """Merge perfkit's periodic tasks (drain, prune, purge) into beat's schedule."""
    from perfkit.schedule import beat_schedule

    sender.conf.beat_schedule = {**(sender.conf.beat_schedule or {}), **beat_schedule()}
