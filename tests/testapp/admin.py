from django.contrib import admin

from tests.testapp.models import Author, Book

admin.site.register(Author)
admin.site.register(Book)
