"""Audit rows are append-only in PostgreSQL, and each hospital sees only its own.

- A trigger refuses UPDATE, DELETE (row level) and TRUNCATE (statement level) on audit_auditevent for every role,
  the owner included. The one exception is archiving (audit_archive): a DELETE by a member of the table's owner
  role that has set `mip.audit_archive = on` in its transaction. The application role cannot use it: it is not
  a member of the owner and, besides, has no UPDATE/DELETE/TRUNCATE privilege on the table (tenants/db_roles.py
  revokes them after every migrate).
- Forced row-level security: a hospital's events are visible only with that hospital in context; platform-level
  events (tenant NULL) only under operator access. Anyone may append a platform-level event (sign-ins happen
  before a hospital is known) but never read one back. The chain heads hold hashes and signatures only; the
  platform chain's head (keyed by chain, it belongs to no hospital) is visible to every writer, because every
  writer may have to extend it.
"""
from django.db import migrations

from tenants.rls import disable_tenant_rls_sql

_TENANT = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
_OPERATOR = "current_setting('app.operator', true) = 'on'"
_HEAD = "chain = NULLIF(current_setting('app.tenant_id', true), '')"

FORWARD = f"""
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('mip.audit_archive', true) = 'on'
       AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

ALTER TABLE audit_auditevent ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_auditevent FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON audit_auditevent;
CREATE POLICY tenant_isolation ON audit_auditevent
    USING (({_TENANT}) OR ({_OPERATOR}))
    WITH CHECK (({_TENANT}) OR ({_OPERATOR}) OR tenant_id IS NULL);

ALTER TABLE audit_auditchainhead ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_auditchainhead FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON audit_auditchainhead;
CREATE POLICY tenant_isolation ON audit_auditchainhead
    USING (({_HEAD}) OR ({_OPERATOR}) OR chain = 'platform')
    WITH CHECK (({_HEAD}) OR ({_OPERATOR}) OR chain = 'platform');
"""

BACKWARD = f"""
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_refuse_change();
{disable_tenant_rls_sql("audit_auditevent")}
{disable_tenant_rls_sql("audit_auditchainhead")}
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
