"""DICOMweb routes (included by config/urls.py under /dicomweb/). See docs/dicomweb.md."""
from django.urls import path

from integrations.dicomweb import views

app_name = "dicomweb"

_STUDY = "studies/<str:study_uid>"
_SERIES = _STUDY + "/series/<str:series_uid>"
_INSTANCE = _SERIES + "/instances/<str:sop_uid>"

urlpatterns = [
    path("studies", views.StudiesView.as_view(), name="studies"),
    path(_STUDY, views.StudyView.as_view(), name="study"),
    path(_STUDY + "/metadata", views.StudyMetadataView.as_view(), name="study-metadata"),
    path(_STUDY + "/series", views.StudySeriesView.as_view(), name="study-series"),
    path(_STUDY + "/instances", views.StudyInstancesView.as_view(), name="study-instances"),
    path(_SERIES, views.SeriesView.as_view(), name="series"),
    path(_SERIES + "/metadata", views.SeriesMetadataView.as_view(), name="series-metadata"),
    path(_SERIES + "/instances", views.SeriesInstancesView.as_view(), name="series-instances"),
    path(_INSTANCE, views.InstanceView.as_view(), name="instance"),
    path(_INSTANCE + "/metadata", views.InstanceMetadataView.as_view(), name="instance-metadata"),
    path("series", views.AllSeriesView.as_view(), name="all-series"),
    path("instances", views.AllInstancesView.as_view(), name="all-instances"),
]
