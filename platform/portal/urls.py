from django.contrib.auth import views as auth_views
from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="portal/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.assessment_list, name="assessment-list"),
    path("hospital/", views.switch_hospital, name="switch-hospital"),
    path("assessments/<str:assessment_id>/", views.assessment_detail, name="assessment-detail"),
    path("assessments/<str:assessment_id>/image.png", views.assessment_image, name="assessment-image"),
]
