"""Endpoints are route patterns everywhere, one per view under ``i18n_patterns``,
and the Slow endpoints pages show each pattern's URL name beside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.http import urlencode

from perfkit import api
from tests.metrics.helpers import endpoint_counters
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

ARTICLE = r"GET ^articles/(?P<slug>[\w-]+)/$"
I18N_MIDDLEWARE = [
    *settings.MIDDLEWARE[:2],  # PerfMiddleware, SessionMiddleware
    "django.middleware.locale.LocaleMiddleware",
    *settings.MIDDLEWARE[2:],
]
i18n = override_settings(
    ROOT_URLCONF="tests.testapp.urls_i18n",
    MIDDLEWARE=I18N_MIDDLEWARE,
    USE_I18N=True,
    LANGUAGE_CODE="en",
    LANGUAGES=[("en", "English"), ("fr", "French")],
)


@pytest.fixture(autouse=True)
def _restore_language() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in the thread."""
    with translation.override(translation.get_language()):
        yield


def endpoint_page(client: Client) -> str:
    """The Slow endpoints list, as a signed-in superuser sees it."""
    api.flush()
    api.drain(include_current=True)
    response = client.get(reverse("admin:perfkit_metrics_endpointstats_changelist"))
    assert response.status_code == 200
    return response.content.decode()


def detail_page(client: Client, key: str) -> str:
    url = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    response = client.get(f"{url}?{urlencode({'key': key})}")
    assert response.status_code == 200
    return response.content.decode()


@override_settings(ROOT_URLCONF="tests.testapp.urls_names")
def test_the_empty_pattern_is_slash_not_the_url_name(client: Client) -> None:
    client.get("/")
    assert endpoint_counters("GET /")["count"] == 1
    assert endpoint_counters("GET shop:index") == {}


@override_settings(ROOT_URLCONF="tests.testapp.urls_names")
def test_a_re_path_is_its_regex_and_includes_are_joined(client: Client) -> None:
    client.get("/articles/hello/")
    client.get("/api/v1/items/one/")
    client.get("/api/v1/items/two/")
    assert endpoint_counters(ARTICLE)["count"] == 1
    assert endpoint_counters("GET api/v1/items/<slug:slug>/")["count"] == 2


@override_settings(ROOT_URLCONF="tests.testapp.urls_names")
def test_the_admin_shows_the_url_name_beside_the_pattern(
    client: Client, admin_client: Client
) -> None:
    for path in ("/", "/articles/hello/", "/api/v1/items/one/", "/unnamed/"):
        client.get(path)
    page = endpoint_page(admin_client)
    for key, name in [
        ("GET /", "shop:index"),
        (ARTICLE, "shop:article"),
        ("GET api/v1/items/<slug:slug>/", "api:item"),
    ]:
        assert f'{escape(key)}</a> <small class="perfkit-url-name">{name}</small>' in page, key
    assert "GET unnamed/</a></td>" in page
    assert 'class="perfkit-url-name">shop:index<' in detail_page(admin_client, "GET /")
    # Searching by URL name finds the endpoint.
    url = reverse("admin:perfkit_metrics_endpointstats_changelist")
    found = admin_client.get(url, {"q": "api:item"}).content.decode()
    assert "GET api/v1/items/" in found and "GET /</a>" not in found


@i18n
def test_one_endpoint_for_every_language_by_default(client: Client, admin_client: Client) -> None:
    for path in ("/en/items/a/", "/fr/items/b/", "/en/", "/fr/", "/ping/", "/fr/a-propos/"):
        assert client.get(path).status_code == 200, path
    assert client.get("/en/about/").status_code == 200
    assert endpoint_counters("GET items/<slug:slug>/")["count"] == 2
    assert endpoint_counters("GET about/")["count"] == 2  # a translated pattern, in English
    assert endpoint_counters("GET /")["count"] == 2
    assert endpoint_counters("GET ping/")["count"] == 1
    assert endpoint_counters("GET en/items/<slug:slug>/") == {}
    page = endpoint_page(admin_client)
    assert 'items/&lt;slug:slug&gt;/</a> <small class="perfkit-url-name">item</small>' in page
    assert 'GET about/</a> <small class="perfkit-url-name">about</small>' in page


@i18n
@override_perfkit({"METRICS_SPLIT_LANGUAGES": True})
def test_languages_apart_with_the_setting(client: Client, admin_client: Client) -> None:
    for path in ("/en/items/a/", "/fr/items/b/", "/fr/items/c/", "/fr/a-propos/"):
        assert client.get(path).status_code == 200, path
    assert endpoint_counters("GET en/items/<slug:slug>/")["count"] == 1
    assert endpoint_counters("GET fr/a-propos/")["count"] == 1
    assert endpoint_counters("GET fr/items/<slug:slug>/")["count"] == 2
    assert endpoint_counters("GET items/<slug:slug>/") == {}
    page = endpoint_page(admin_client)
    assert 'fr/items/&lt;slug:slug&gt;/</a> <small class="perfkit-url-name">item</small>' in page
    assert 'fr/a-propos/</a> <small class="perfkit-url-name">about</small>' in page
