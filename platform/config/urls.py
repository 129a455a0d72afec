from django.contrib import admin
from django.urls import include, path

from config.health import health

urlpatterns = [
    path("api/", include("api.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
    path("", include("portal.urls")),
]

handler400 = "api.problems.django_handler400"
handler404 = "api.problems.django_handler404"
handler500 = "api.problems.django_handler500"
