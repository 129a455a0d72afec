from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Sign-in and second factor"
    default_auto_field = "django.db.models.BigAutoField"
