"""URL routes of the reports app (included by config/urls.py)."""
from django.urls import path  # noqa: F401

app_name = "reports"
urlpatterns: list = []
