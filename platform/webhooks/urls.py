"""URL routes of the webhooks app (included by config/urls.py under /api/v1/)."""
from django.urls import path

from webhooks import api

app_name = "webhooks"
urlpatterns = [
    path("webhooks", api.EndpointCollectionView.as_view(), name="endpoint-collection"),
    path("webhooks/<str:endpoint_id>", api.EndpointDetailView.as_view(), name="endpoint-detail"),
    path("webhooks/<str:endpoint_id>/rotate-secret", api.EndpointRotateSecretView.as_view(),
         name="endpoint-rotate-secret"),
    path("webhooks/<str:endpoint_id>/deliveries", api.EndpointDeliveriesView.as_view(), name="endpoint-deliveries"),
    path("webhooks/<str:endpoint_id>/replay-failed", api.EndpointReplayFailedView.as_view(),
         name="endpoint-replay-failed"),
    path("webhook-deliveries/<str:delivery_id>/replay", api.DeliveryReplayView.as_view(), name="delivery-replay"),
]
