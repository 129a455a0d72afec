"""DICOMweb routes (included by config/urls.py under /dicomweb/)."""
from django.urls import path  # noqa: F401

app_name = "dicomweb"
urlpatterns: list = []
