from __future__ import annotations

from django.urls import path

from demo_project.shop import views

app_name = "shop"

urlpatterns = [
    path("", views.index, name="index"),
    path("ping/", views.ping, name="ping"),
    path("books/", views.book_list, name="book_list"),
    path("books/fast/", views.book_list_fast, name="book_list_fast"),
    path("books/<int:pk>/", views.book_detail, name="book_detail"),
    path("catalogue/", views.catalogue, name="catalogue"),
    path("catalogue/uncached/", views.catalogue_uncached, name="catalogue_uncached"),
    path("customers/by-city/", views.customers_by_city, name="customers_by_city"),
    path("customers/by-email/", views.customers_by_email, name="customers_by_email"),
    path("orders/", views.orders, name="orders"),
    path("orders/all/", views.orders_all, name="orders_all"),
    path("api/books/", views.api_books, name="api_books"),
    path("api/books/fast/", views.api_books_fast, name="api_books_fast"),
    path("api/books/<int:pk>/", views.api_book_detail, name="api_book_detail"),
    path("api/orders/", views.api_place_order, name="api_place_order"),
    path("api/stats/", views.api_stats, name="api_stats"),
    path("api/ping-async/", views.api_ping_async, name="api_ping_async"),
]
