"""``i18n_patterns``: one view reached under every language prefix."""

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import path
from django.utils.functional import lazy
from django.utils.translation import get_language

from tests.testapp import views

ABOUT = {"en": "about/", "fr": "a-propos/"}


def _about() -> str:
    """A route translated like ``gettext_lazy("about/")`` with a French catalog."""
    return ABOUT.get(get_language() or "en", ABOUT["en"])


about = lazy(_about, str)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("ping/", views.ping, name="ping"),
    *i18n_patterns(
        path("", views.ping, name="home"),
        path("items/<slug:slug>/", views.item, name="item"),
        path(about(), views.ping, name="about"),
    ),
]
