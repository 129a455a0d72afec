"""FHIR R4 routes (included by config/urls.py under /fhir/r4/)."""
from django.urls import path

from integrations.fhir import views

app_name = "fhir"
urlpatterns = [
    path("metadata", views.MetadataView.as_view(), name="metadata"),
    path("DiagnosticReport", views.DiagnosticReportSearchView.as_view(), name="diagnosticreport-search"),
    path("DiagnosticReport/<str:report_id>", views.DiagnosticReportReadView.as_view(),
         name="diagnosticreport-read"),
    path("ServiceRequest", views.ServiceRequestCreateView.as_view(), name="servicerequest-create"),
    path("ServiceRequest/<str:request_id>", views.ServiceRequestReadView.as_view(), name="servicerequest-read"),
]
