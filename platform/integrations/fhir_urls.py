"""FHIR R4 routes (included by config/urls.py under /fhir/r4/)."""
from django.urls import path  # noqa: F401

app_name = "fhir"
urlpatterns: list = []
