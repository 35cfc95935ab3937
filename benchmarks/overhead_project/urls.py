from __future__ import annotations

from django.conf import settings
from django.urls import include, path

from benchmarks.overhead_project import views

urlpatterns = [
    path("books/", views.books, name="books"),
    path("enqueue/", views.enqueue, name="enqueue"),
    path("ping/", views.ping, name="ping"),
    path("selects/", views.selects, name="selects"),
]

if "silk" in settings.INSTALLED_APPS:
    urlpatterns.append(path("silk/", include("silk.urls", namespace="silk")))
