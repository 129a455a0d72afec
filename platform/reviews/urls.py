"""URL routes of the reviews app (included by config/urls.py)."""
from django.urls import path  # noqa: F401

app_name = "reviews"
urlpatterns: list = []
