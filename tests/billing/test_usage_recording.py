"""Usage: exactly one immutable record per succeeded assessment, written with the result; never for failed or
shadow runs; replays (hundreds, concurrent) change nothing."""
from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from billing import services
from billing.models import Invoice, UsageRecord
from billing.periods import month_start, next_month
from tenants.context import tenant_context
from tests.billing.factories import make_assessment, make_plan, subscribe, succeed

REPLAYS = 300
THREADS = 6


def assert_refused(statement: str, *, tenant) -> None:
    """Run raw SQL as the application role in the hospital's context and expect PostgreSQL to refuse it.

    Straight on the driver's cursor in a savepoint of our own: Django's savepoint rollback goes through the RLS
    execute wrapper, which prefixes a statement that an aborted transaction refuses.
    """
    import psycopg2

    raw = connection.cursor().cursor
    raw.execute("SAVEPOINT refused")
    raw.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
    with pytest.raises(psycopg2.Error, match="immutable"):
        raw.execute(statement)
    raw.execute("ROLLBACK TO SAVEPOINT refused")


def _usage(tenant):
    with tenant_context(tenant):
        return list(UsageRecord.objects.all())


def _replay_concurrently(call, total=REPLAYS, threads=THREADS):
    """Run `call()` `total` times from `threads` threads released together; each thread closes its connection."""
    errors, barrier = [], threading.Barrier(threads)

    def worker(n):
        from django.db import connections

        try:
            barrier.wait()
            for _ in range(n):
                call()
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker, args=(total // threads,)) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []


def test_a_succeeded_assessment_is_recorded_once_with_its_model_and_version(hospital_a):
    assessment = make_assessment(hospital_a.tenant)
    assert succeed(hospital_a.tenant, assessment, version=3)
    assert not succeed(hospital_a.tenant, assessment, version=3)  # a duplicate delivery
    [usage] = _usage(hospital_a.tenant)
    assert (usage.assessment_id, usage.model_name, usage.model_version) == (assessment.pk, "bone_age", 3)


def test_failed_assessments_and_shadow_runs_are_not_billed(hospital_a):
    from inference import services as inference_services

    failed = make_assessment(hospital_a.tenant)
    with tenant_context(hospital_a.tenant):
        inference_services.assessment_fail(assessment_id=failed.pk, code="image_corrupt", message="x")
    shadowed = make_assessment(hospital_a.tenant, shadow_version=2)
    succeed(hospital_a.tenant, shadowed, version=1)
    with tenant_context(hospital_a.tenant):
        inference_services.shadow_result_record(assessment=shadowed, version=2, precision="INT8",
                                                result={"ok": True}, difference=0.1, agrees=True)
    usage = _usage(hospital_a.tenant)
    assert [(u.assessment_id, u.model_version) for u in usage] == [(shadowed.pk, 1)]  # the primary only


def test_usage_is_written_in_the_transaction_of_the_result(hospital_a):
    """A result that rolls back takes its usage with it: never billed for something the hospital cannot see."""
    from inference import services as inference_services

    assessment = make_assessment(hospital_a.tenant)
    with tenant_context(hospital_a.tenant), pytest.raises(RuntimeError):
        with transaction.atomic():
            inference_services.assessment_succeed(assessment_id=assessment.pk, result={}, served_version=1)
            raise RuntimeError("the worker died before commit")
    assert _usage(hospital_a.tenant) == []


def test_usage_rows_cannot_be_updated_or_deleted_by_the_application_role(hospital_a):
    assessment = make_assessment(hospital_a.tenant)
    succeed(hospital_a.tenant, assessment)
    with tenant_context(hospital_a.tenant):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == "mip_app"
        for statement in ("UPDATE billing_usagerecord SET model_version = 99",
                          "DELETE FROM billing_usagerecord"):
            assert_refused(statement, tenant=hospital_a.tenant)
        assert UsageRecord.objects.get().model_version == 1


def test_another_hospital_cannot_see_or_write_usage(hospital_a, hospital_b):
    succeed(hospital_a.tenant, make_assessment(hospital_a.tenant))
    with tenant_context(hospital_b.tenant):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM billing_usagerecord")
            assert cursor.fetchone()[0] == 0  # row-level security, under the manager's own filter


@pytest.mark.django_db(transaction=True)
def test_hundreds_of_concurrent_replays_of_one_completion_leave_one_record_and_the_exact_invoice(hospital_a):
    plan = make_plan(included_quota=0, overage="7.35", prices={"bone_age": Decimal("1.00")})
    subscribe(hospital_a.tenant, plan)
    assessment = make_assessment(hospital_a.tenant, status="running")
    from inference import services as inference_services

    outcomes = []

    def complete():
        with tenant_context(hospital_a.tenant):
            outcomes.append(inference_services.assessment_succeed(assessment_id=assessment.pk, result={"r": 1},
                                                                  served_version=1))

    _replay_concurrently(complete)
    assert outcomes.count(True) == 1 and len(outcomes) == REPLAYS
    # Below the row lock, the constraint alone holds: replay the usage write itself, concurrently.
    with tenant_context(hospital_a.tenant):
        from inference.models import Assessment

        done = Assessment.objects.get(pk=assessment.pk)

    def record_again():
        with tenant_context(hospital_a.tenant), transaction.atomic():
            assert services.usage_record_for_success(assessment=done) is False

    _replay_concurrently(record_again)
    assert len(_usage(hospital_a.tenant)) == 1

    result = services.invoices_close(now=timezone.now().replace(day=1) + timedelta(days=40))
    assert result.invoices == 1
    with tenant_context(hospital_a.tenant):
        invoice = Invoice.objects.get(period=month_start(timezone.now()))
        assert (invoice.assessments, invoice.total) == (1, Decimal("7.35"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_the_task_itself_bill_once(hospital_a, monkeypatch, platform_settings):
    """The Celery task, run many times at once for one assessment (duplicated and redelivered messages)."""
    from inference import tasks

    monkeypatch.setattr(tasks, "_infer", lambda assessment, **kw: {"model": {"version": 1}, "value": 1})
    assessment = make_assessment(hospital_a.tenant)
    kwargs = {"tenant_id": str(hospital_a.tenant.pk), "assessment_id": str(assessment.pk)}
    _replay_concurrently(lambda: tasks.run_assessment.apply(kwargs=kwargs).get(), total=120, threads=4)
    [usage] = _usage(hospital_a.tenant)
    assert usage.assessment_id == assessment.pk
    with tenant_context(hospital_a.tenant):
        from inference.models import Assessment

        assert Assessment.objects.get(pk=assessment.pk).status == "succeeded"


def test_next_month_helper_wraps_the_year():
    from datetime import date

    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
