"""The database backstop: PostgreSQL row-level security refuses to cross hospitals even when Python would."""
from __future__ import annotations

import random

import pytest
from django.db import connection, transaction

from tenants.context import dangerously_operator_access, tenant_context
from tests.conftest import HAND_DX


def _tenant_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE' "
            "ORDER BY 1"
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def data_in_both(his_a, his_b):
    ids = {}
    for name, client in (("a", his_a), ("b", his_b)):
        with HAND_DX.open("rb") as handle:
            response = client.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart")
        assert response.status_code == 202
        ids[name] = response.json()["id"]
    return ids


def test_tests_run_as_an_application_role_that_row_level_security_binds(db):
    from tenants.db_roles import app_role_problems

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == "mip_app"
    assert app_role_problems() == []


def test_every_tenant_owned_table_has_forced_row_level_security(db):
    tables = _tenant_tables()
    assert {"inference_assessment", "studies_study", "studies_imageinstance", "tenants_apikey",
            "tenants_membership"} <= set(tables)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND NOT (relrowsecurity AND relforcerowsecurity)",
            [tables],
        )
        unprotected = [row[0] for row in cursor.fetchall()]
    assert unprotected == [], f"tenant-owned tables without forced row-level security: {unprotected}"


def test_raw_sql_without_a_tenant_sees_no_rows_in_any_tenant_table(data_in_both):
    tables = _tenant_tables()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {table}")
            assert cursor.fetchone()[0] == 0, table
    # ...while the rows are there: an operator path sees both hospitals'.
    with dangerously_operator_access(reason="test"), connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT tenant_id) FROM inference_assessment")
        assert cursor.fetchone()[0] == 2


def test_raw_sql_with_a_tenant_sees_only_that_tenants_rows(data_in_both, hospital_a):
    with tenant_context(hospital_a.tenant), connection.cursor() as cursor:
        cursor.execute("SELECT id::text FROM inference_assessment")
        assert [row[0] for row in cursor.fetchall()] == [data_in_both["a"]]
        cursor.execute("SELECT count(*) FROM inference_assessment WHERE id = %s", [data_in_both["b"]])
        assert cursor.fetchone()[0] == 0


def test_inserting_a_row_for_another_tenant_is_rejected_by_the_database(hospital_a, hospital_b):
    from django.db.utils import ProgrammingError

    with tenant_context(hospital_a.tenant):
        with pytest.raises(ProgrammingError, match="row-level security"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO studies_study (id, tenant_id, study_instance_uid, accession_number, created_at) "
                    "VALUES (gen_random_uuid(), %s, '1.2.3', '', now())",
                    [str(hospital_b.tenant.id)],
                )


def test_updating_another_tenants_rows_changes_nothing(data_in_both, hospital_a):
    with tenant_context(hospital_a.tenant), connection.cursor() as cursor:
        cursor.execute("UPDATE inference_assessment SET error_code = 'tampered' WHERE id = %s", [data_in_both["b"]])
        assert cursor.rowcount == 0
        cursor.execute("DELETE FROM inference_assessment WHERE id = %s", [data_in_both["b"]])
        assert cursor.rowcount == 0


def test_moving_a_row_to_another_tenant_is_rejected(data_in_both, hospital_a, hospital_b):
    from django.db.utils import ProgrammingError

    with tenant_context(hospital_a.tenant):
        with pytest.raises(ProgrammingError, match="row-level security"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("UPDATE inference_assessment SET tenant_id = %s WHERE id = %s",
                               [str(hospital_b.tenant.id), data_in_both["a"]])


def test_context_never_leaks_across_alternating_requests_and_tasks_on_one_pooled_connection(
    his_a, his_b, hospital_a, hospital_b, transactional_db, platform_settings
):
    """Two hospitals alternate 2,000 operations over one persistent connection: API reads, task deliveries
    naming the other hospital's assessment, and transactions that raise midway. Nothing crosses."""
    from inference.models import Assessment
    from inference.tasks import run_assessment

    ids = {}
    for name, client in (("a", his_a), ("b", his_b)):
        with HAND_DX.open("rb") as handle:
            response = client.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart")
        ids[name] = response.json()["id"]
    hospitals = {"a": (hospital_a, his_a), "b": (hospital_b, his_b)}
    other = {"a": "b", "b": "a"}
    backend_pid = None
    rng = random.Random(20261122)
    crossings = []
    for i in range(2000):
        name = "a" if i % 2 == 0 else "b"
        hospital, client = hospitals[name]
        kind = rng.choice(("api", "task", "raise", "raw"))
        if kind == "api":
            body = client.get("/api/v1/assessments").json()
            seen = {item["id"] for item in body["results"]}
            if seen != {ids[name]}:
                crossings.append((i, kind, seen))
        elif kind == "task":
            # A delivery that names the other hospital's assessment must find nothing to do.
            run_assessment.apply(kwargs={"tenant_id": str(hospital.tenant.id), "assessment_id": ids[other[name]]})
        elif kind == "raise":
            try:
                with transaction.atomic(), tenant_context(hospital.tenant):
                    list(Assessment.objects.all())
                    raise RuntimeError("boom mid-transaction")
            except RuntimeError:
                pass
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM inference_assessment")
                if cursor.fetchone()[0] != 0:
                    crossings.append((i, kind, "rows visible with no tenant"))
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
                backend_pid = backend_pid or pid
                if pid != backend_pid:
                    crossings.append((i, kind, "connection changed: the test would not prove pooling"))
    assert crossings == []
    for name in ("a", "b"):
        with tenant_context(hospitals[name][0].tenant):
            assessment = Assessment.objects.get(pk=ids[name])
        # Only this hospital's own deliveries may have touched it: none were sent, so it is untouched.
        assert assessment.attempts == 0 and assessment.status == "queued"


def test_a_database_error_inside_a_savepoint_is_recoverable_under_a_tenant(hospital_a):
    """The settings prefix must not be sent with ROLLBACK TO SAVEPOINT, or recovering from an error fails."""
    from django.db import IntegrityError

    from studies.models import Study

    with tenant_context(hospital_a.tenant), transaction.atomic():
        Study.objects.create(study_instance_uid="1.2.840.1")
        with pytest.raises(IntegrityError):
            with transaction.atomic():
                Study.objects.create(study_instance_uid="1.2.840.1")  # unique per hospital
        assert Study.objects.count() == 1
