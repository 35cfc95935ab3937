"""``path("perfkit/", include("perfkit.urls"))`` gives ``live/`` and ``health/``."""

from __future__ import annotations

from django.urls import path

from perfkit.operations import views

app_name = "perfkit"

urlpatterns = [
    path("live/", views.live, name="live"),
    path("health/", views.health_view, name="health"),
    path("metrics/", views.metrics_view, name="metrics"),
]
