from django.contrib import admin
from django.urls import include, path

from tests.testapp import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("perfkit/", include("perfkit.urls")),
    path("ping/", views.ping),
    path("n-plus-one/", views.n_plus_one),
    path("duplicate/", views.duplicate),
    path("books/", views.book_list),
    path("books/template-n-plus-one/", views.BookListView.as_view()),
    path("books/<int:pk>/", views.book_detail),
    path("two-aliases/", views.two_aliases),
    path("boom/", views.boom),
    path("stream/", views.stream),
    path("many-queries/", views.many_queries),
    path("many-shapes/", views.many_shapes),
    path("repeated-on-other/", views.repeated_on_other),
    path("status/<int:code>/", views.status),
    path("whoami/", views.whoami),
    path("cached-count/", views.cached_count),
    path("add-author/", views.add_author),
    path("async/", views.async_view),
    path("nested/", include([path("items/<slug:slug>/", views.item)])),
]

urlpatterns += [
    path("download/", views.download),
    path("slow-stream/", views.slow_stream),
]
