"""Portal pages of the webhooks app, for a hospital's administrators (included by config/urls.py at
portal/webhooks/, namespace `webhooks-portal`)."""
from django.urls import path

from webhooks import portal_views as views

app_name = "webhooks-portal"
urlpatterns = [
    path("", views.endpoint_list, name="endpoint-list"),
    path("notifications/", views.notification_settings, name="notification-settings"),
    path("deliveries/<str:delivery_id>/replay/", views.delivery_replay, name="delivery-replay"),
    path("<str:endpoint_id>/", views.endpoint_detail, name="endpoint-detail"),
    path("<str:endpoint_id>/delete/", views.endpoint_delete, name="endpoint-delete"),
    path("<str:endpoint_id>/rotate-secret/", views.endpoint_rotate_secret, name="endpoint-rotate-secret"),
    path("<str:endpoint_id>/replay-failed/", views.endpoint_replay_failed, name="endpoint-replay-failed"),
]
