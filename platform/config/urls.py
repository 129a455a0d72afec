from django.contrib import admin
from django.urls import include, path

from config.health import health

urlpatterns = [
    path("api/", include("api.urls")),
    path("api/v1/", include("reports.urls")),
    path("api/v1/", include("webhooks.urls")),
    path("api/v1/", include("reviews.urls")),
    path("fhir/r4/", include("integrations.fhir_urls")),
    path("dicomweb/", include("integrations.dicomweb_urls")),
    # Webhook and notification pages for hospital administrators (issue 9).
    path("portal/webhooks/", include("webhooks.portal_urls")),
    path("api/v1/", include("integrations.hl7_urls")),
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
    path("", include("portal.urls")),
]

handler400 = "api.problems.django_handler400"
handler404 = "api.problems.django_handler404"
handler500 = "api.problems.django_handler500"
