import os

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("perfkit/", include("perfkit.urls")),
    path("", include("demo_project.shop.urls")),
]

if os.environ.get("DEMO_SERVE_STATIC") == "1":
    # The docker demo runs gunicorn with DEBUG off and no web server in front:
    # serve collected static files from Django. A real deployment puts nginx,
    # a CDN or WhiteNoise here instead.
    urlpatterns.insert(
        0, re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT})
    )
