"""Row-level security on the tenant-owned identity tables (memberships, API keys)."""
from django.db import migrations

from tenants.rls import (
    API_KEY_BEING_AUTHENTICATED,
    MEMBERSHIP_OWN_ROWS,
    disable_tenant_rls_sql,
    enable_tenant_rls_sql,
)


class Migration(migrations.Migration):
    dependencies = [("tenants", "0002_lifecycle_and_key_scopes")]

    operations = [
        migrations.RunSQL(
            enable_tenant_rls_sql("tenants_membership", extra_visibility=MEMBERSHIP_OWN_ROWS),
            disable_tenant_rls_sql("tenants_membership"),
        ),
        migrations.RunSQL(
            enable_tenant_rls_sql("tenants_apikey", extra_visibility=API_KEY_BEING_AUTHENTICATED),
            disable_tenant_rls_sql("tenants_apikey"),
        ),
    ]
