"""URL routes of the webhooks app (included by config/urls.py)."""
from django.urls import path  # noqa: F401

app_name = "webhooks"
urlpatterns: list = []
