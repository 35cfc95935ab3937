from django.contrib import admin

from perfkit.exports.admin import ExportAdminMixin
from tests.testapp.models import Author, Book


@admin.register(Author)
class AuthorAdmin(ExportAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "__str__")
    search_fields = ("name",)


@admin.register(Book)
class BookAdmin(ExportAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("title", "author")
    list_filter = ("pages",)
    export_fields = ("title", "pages", "author__name")
