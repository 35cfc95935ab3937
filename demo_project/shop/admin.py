"""Admin for the demo shop, written so the changelists themselves are not N+1."""

from __future__ import annotations

from django.contrib import admin

from demo_project.shop.models import (
    Author,
    Book,
    Category,
    Customer,
    Order,
    OrderLine,
    Publisher,
)
from perfkit.exports.admin import ExportAdminMixin


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["name", "country"]
    search_fields = ["name"]
    list_filter = ["country"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Book)
class BookAdmin(ExportAdminMixin, admin.ModelAdmin):
    list_display = ["title", "isbn", "author", "publisher", "price", "published", "in_stock"]
    list_select_related = ["author", "publisher"]
    search_fields = ["title", "isbn", "author__name"]
    list_filter = ["in_stock", "categories", "publisher"]
    raw_id_fields = ["author", "publisher"]
    filter_horizontal = ["categories"]
    date_hierarchy = "published"


@admin.register(Customer)
class CustomerAdmin(ExportAdminMixin, admin.ModelAdmin):
    list_display = ["name", "email", "city"]
    search_fields = ["name", "email"]
    list_filter = ["city"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    raw_id_fields = ["book"]
    extra = 0


@admin.register(Order)
class OrderAdmin(ExportAdminMixin, admin.ModelAdmin):
    list_display = ["id", "customer", "status", "created_at"]
    list_select_related = ["customer"]
    search_fields = ["customer__email", "customer__name"]
    list_filter = ["status", "created_at"]
    raw_id_fields = ["customer"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline]


@admin.register(OrderLine)
class OrderLineAdmin(ExportAdminMixin, admin.ModelAdmin):
    list_display = ["id", "order", "book", "quantity", "unit_price"]
    export_fields = [
        "id",
        "order",
        "order__created_at",
        "order__status",
        "order__customer__email",
        "book__title",
        "book__isbn",
        "quantity",
        "unit_price",
    ]
    list_select_related = ["order", "book"]
    search_fields = ["book__title", "book__isbn"]
    list_filter = ["order__status"]
    raw_id_fields = ["order", "book"]
