"""URL routes of the reviews app (included by config/urls.py under api/v1/)."""
from django.urls import path

from reviews.api import SignOffCollectionView

app_name = "reviews"
urlpatterns: list = [
    path("assessments/<str:assessment_id>/signoffs", SignOffCollectionView.as_view(), name="signoff-collection"),
]
