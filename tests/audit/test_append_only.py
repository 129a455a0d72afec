"""Audit rows are append-only in PostgreSQL: the application role cannot UPDATE or DELETE them (no privilege),
the owner cannot either while the trigger is on, and each hospital sees only its own chain."""
from __future__ import annotations

import psycopg2
import pytest
from django.db import DatabaseError, connection, transaction

from tests.audit._support import owner_connection


@pytest.fixture
def one_event(hospital_a):
    from audit.services import audit_event_record

    return audit_event_record(event="assessment.read", tenant=hospital_a.tenant, username="someone",
                              network_address="10.0.0.1")


@pytest.mark.parametrize("statement", [
    "UPDATE audit_auditevent SET outcome = 8",
    "DELETE FROM audit_auditevent",
    "UPDATE audit_auditevent SET hash = repeat('0', 64) WHERE sequence = 1",
])
def test_the_application_role_cannot_update_or_delete_audit_rows(one_event, hospital_a, statement):
    from tenants.context import dangerously_operator_access

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == "mip_app"
    with dangerously_operator_access(reason="test: even operator access cannot rewrite the audit trail"):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)


def test_the_application_role_cannot_delete_a_chain_head(one_event):
    from tenants.context import dangerously_operator_access

    with dangerously_operator_access(reason="test"):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM audit_auditchainhead")


def test_the_trigger_refuses_update_delete_and_truncate_even_to_the_owner(transactional_db, hospital_a):
    from audit.services import audit_event_record

    audit_event_record(event="assessment.read", tenant=hospital_a.tenant, username="someone")
    with owner_connection() as conn:
        for statement in ("UPDATE audit_auditevent SET outcome = 8", "DELETE FROM audit_auditevent"):
            with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege, match="append-only"):
                cur.execute(statement)
            conn.rollback()
        # TRUNCATE: the test database disables this one trigger (tests/conftest.py); turned on, it refuses.
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_no_truncate")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="append-only"):
                cur.execute("TRUNCATE audit_auditevent")
        conn.rollback()


def test_production_grants_leave_the_application_role_only_select_and_insert_on_events(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT privilege_type FROM information_schema.role_table_grants WHERE grantee = 'mip_app' "
                       "AND table_name = 'audit_auditevent' ORDER BY 1")
        privileges = {row[0] for row in cursor.fetchall()}
    # TRUNCATE is granted by tests/conftest.py for the test database only (transactional tests empty tables).
    assert privileges - {"TRUNCATE"} == {"INSERT", "SELECT"}


def test_each_hospital_sees_only_its_own_events_and_platform_events_need_operator_access(hospital_a, hospital_b):
    from audit.models import AuditEvent
    from audit.services import audit_event_record
    from tenants.context import dangerously_operator_access, tenant_context

    audit_event_record(event="assessment.read", tenant=hospital_a.tenant, username="a-reader")
    audit_event_record(event="assessment.read", tenant=hospital_b.tenant, username="b-reader")
    audit_event_record(event="signin", username="someone")  # platform chain
    with tenant_context(hospital_a.tenant):
        seen = set(AuditEvent.objects.values_list("tenant_id", flat=True))
        assert seen == {hospital_a.tenant.pk}
        assert not AuditEvent.objects.filter(username__in=["b-reader", "someone"]).exists()
    assert not AuditEvent.objects.exists()  # no context: nothing (fail closed)
    with dangerously_operator_access(reason="test"):
        assert AuditEvent.objects.filter(tenant__isnull=True, username="someone").exists()


def test_a_hospital_cannot_write_into_another_hospitals_chain(hospital_a, hospital_b):
    from tenants.context import tenant_context

    with tenant_context(hospital_a.tenant), pytest.raises(DatabaseError, match="row-level security"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO audit_auditevent (tenant_id, sequence, event, event_type_code, "
                           "event_type_display, event_subtype_code, event_subtype_display, action, outcome, "
                           "occurred_at, username, api_key_prefix, is_operator, network_address, "
                           "study_instance_uid, assessment_id, patient_ref, object_type, object_id, details, "
                           "previous_hash, hash) VALUES (%s, 999, 'x', 'x', 'x', '', '', 'R', 0, now(), '', '', "
                           "false, '', '', '', '', '', '', '{}', '', '')", [str(hospital_b.tenant.pk)])
