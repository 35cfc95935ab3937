"""The base of perfkit's read-only dashboard pages in the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class DashboardAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A ModelAdmin over a proxy of core's rollups: viewable, never editable.

    Its changelist is replaced by a dashboard; visibility follows the proxy's
    own ``view`` permission, checked by :meth:`require_view`.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def require_view(self, request: HttpRequest) -> None:
        """403 unless the user may view this dashboard."""
        if not self.has_view_permission(request):
            raise PermissionDenied
