from django.urls import path

from api import keys, views

app_name = "api"

urlpatterns = [
    path("v1/assessments", views.AssessmentCollectionView.as_view(), name="assessment-collection"),
    path("v1/assessments/<str:assessment_id>", views.AssessmentDetailView.as_view(), name="assessment-detail"),
    path("v1/assessments/<str:assessment_id>/original", views.AssessmentOriginalView.as_view(),
         name="assessment-original"),
    path("v1/api-keys", keys.ApiKeyCollectionView.as_view(), name="api-key-collection"),
    path("v1/api-keys/<str:api_key_id>", keys.ApiKeyDetailView.as_view(), name="api-key-detail"),
]
