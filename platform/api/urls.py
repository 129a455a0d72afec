from django.urls import path

from api import views

app_name = "api"

urlpatterns = [
    path("v1/assessments", views.AssessmentCollectionView.as_view(), name="assessment-collection"),
    path("v1/assessments/<str:assessment_id>", views.AssessmentDetailView.as_view(), name="assessment-detail"),
]
