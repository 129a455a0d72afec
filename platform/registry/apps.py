from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Model registry and rollout"
    default_auto_field = "django.db.models.BigAutoField"
