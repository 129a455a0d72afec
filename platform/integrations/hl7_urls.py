"""HL7 v2 routes of the API (included by config/urls.py under /api/v1/). See docs/hl7.md."""
from django.urls import path

from integrations.hl7v2 import views

app_name = "hl7"

urlpatterns = [
    path("assessments/<str:assessment_id>/hl7", views.AssessmentHl7View.as_view(), name="assessment-message"),
    path("hl7/destination", views.Hl7DestinationView.as_view(), name="destination"),
    path("hl7/deliveries", views.Hl7DeliveryListView.as_view(), name="deliveries"),
]
