from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Hospitals (tenants)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from tenants import db_roles, rls

        connection_created.connect(rls.install_on_connection, dispatch_uid="tenants.rls")
        post_migrate.connect(db_roles.grant_app_role_privileges, dispatch_uid="tenants.db_roles")
