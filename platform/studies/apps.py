from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    verbose_name = "Studies and images"
    default_auto_field = "django.db.models.BigAutoField"
