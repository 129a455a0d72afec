"""URL routes of the reports app (included by config/urls.py under /api/v1/)."""
from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("assessments/<str:assessment_id>/report.pdf", views.ReportPdfView.as_view(), name="assessment-report-pdf"),
    path("assessments/<str:assessment_id>/report.html", views.ReportHtmlView.as_view(),
         name="assessment-report-html"),
    path("assessments/<str:assessment_id>/fhir", views.FhirBundleView.as_view(), name="assessment-fhir"),
    path("assessments/<str:assessment_id>/dicom/sr", views.DicomSrView.as_view(), name="assessment-dicom-sr"),
    path("assessments/<str:assessment_id>/dicom/seg", views.DicomSegView.as_view(), name="assessment-dicom-seg"),
]
