"""A URLconf shaped like the demo's: a named root, a named ``re_path``, namespaced includes."""

from django.contrib import admin
from django.urls import include, path, re_path

from tests.testapp import views

shop = (
    [
        path("", views.ping, name="index"),
        re_path(r"^articles/(?P<slug>[\w-]+)/$", views.item, name="article"),
    ],
    "shop",
)

api = (
    [path("v1/", include([path("items/<slug:slug>/", views.item, name="item")]))],
    "api",
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api, namespace="api")),
    path("unnamed/", views.ping),
    path("", include(shop)),
]
