"""Who may not see perfkit's pages, checked in the browser through the login form."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from tests.browser.driver import PASSWORD, Browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STAFF_MESSAGE = "Please enter the correct username and password for a staff account"


def dashboard_urls() -> dict[str, str]:
    return {
        "Slow endpoints": reverse("admin:perfkit_metrics_endpointstats_changelist"),
        "endpoint detail": reverse("admin:perfkit_metrics_endpointstats_endpoint")
        + "?key=GET+ping/",
        "Cache hit rates": reverse("admin:perfkit_cache_cachestats_changelist"),
        "perfkit status": reverse("admin:perfkit_perfkitstatus_changelist"),
        "export jobs": reverse("admin:perfkit_exports_exportjob_changelist"),
    }


def forbidden_logged(browser: Browser) -> bool:
    """The console's record of a 403 answer (the only way a page shows its status)."""
    return any("403 (Forbidden)" in message for message in browser.console_errors())


def test_a_user_who_is_not_staff_is_asked_to_sign_in_again(
    browser: Browser, django_user_model: type[User]
) -> None:
    django_user_model.objects.create_user("visitor", password=PASSWORD, is_staff=False)
    target = reverse("admin:perfkit_metrics_endpointstats_changelist")
    browser.login("visitor", PASSWORD, next_path=target)
    browser.screenshot("refused_not_staff")
    assert browser.path.startswith("/admin/login/"), browser.path
    assert STAFF_MESSAGE in browser.text(".errornote")
    for url in dashboard_urls().values():
        browser.open(url)
        assert browser.path.startswith("/admin/login/?next="), (url, browser.path)
        assert browser.find("#login-form").is_displayed()
        assert not browser.find_all("#perfkit-endpoints, #perfkit-cache-labels")


def test_staff_without_the_view_permission_get_403(
    browser: Browser, django_user_model: type[User]
) -> None:
    django_user_model.objects.create_user("staff", password=PASSWORD, is_staff=True)
    browser.login("staff", PASSWORD)
    assert browser.path == "/admin/", browser.path
    assert "perfkit" not in browser.text("#content-main").lower()
    browser.console_errors()
    for name, url in dashboard_urls().items():
        browser.open(url)
        assert browser.path == url, (name, browser.path)
        assert "403 Forbidden" in browser.text("body"), name
        assert forbidden_logged(browser), f"{name}: no 403 in the console"
        if name == "Slow endpoints":
            browser.screenshot("forbidden_staff")


def test_the_view_permission_opens_only_its_own_page(
    browser: Browser, django_user_model: type[User]
) -> None:
    viewer = django_user_model.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_endpointstats"))
    urls = dashboard_urls()
    browser.login("viewer", PASSWORD, next_path=urls["Slow endpoints"])
    assert browser.text("h1") == "Slow endpoints"
    assert not browser.console_errors()
    browser.open(urls["Cache hit rates"])
    assert "403 Forbidden" in browser.text("body")
    assert forbidden_logged(browser)
