"""The billing API and portal pages for the `billing` role, role refusals, and the quota at submission."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from billing import services
from billing.periods import month_start, next_month
from tenants.context import tenant_context
from tests.billing.factories import add_usage, make_plan, subscribe
from tests.conftest import HAND_DX


@pytest.fixture
def billing_client(hospital_a):
    from tenants import services as tenant_services

    user = tenant_services.user_create(username="billing.a", password="billing-pass-a-123")
    tenant_services.membership_grant(tenant=hospital_a.tenant, user=user, role="billing")
    client = Client()
    assert client.login(username="billing.a", password="billing-pass-a-123")
    return client


@pytest.fixture
def radiologist_client(hospital_a):
    client = Client()
    assert client.login(username=hospital_a.user.username, password=hospital_a.password)
    return client


@pytest.fixture
def closed_invoice(hospital_a):
    subscribe(hospital_a.tenant, make_plan(included_quota=2, overage="2.00"))
    add_usage(hospital_a.tenant, count=3, occurred_at=timezone.now())
    services.invoices_close(now=timezone.now().replace(day=1) + timedelta(days=40))
    from billing.models import Invoice

    with tenant_context(hospital_a.tenant):
        return Invoice.objects.get()


def test_usage_by_model_and_day(billing_client, hospital_a):
    today = timezone.now()
    add_usage(hospital_a.tenant, count=2, occurred_at=today)
    add_usage(hospital_a.tenant, count=1, occurred_at=today, model_name="chest")
    body = billing_client.get(f"/api/v1/billing/usage?month={today:%Y-%m}").json()
    assert body["total"] == 3
    assert body["by_model"] == [{"model": "bone_age", "count": 2}, {"model": "chest", "count": 1}]
    assert {"date": today.date().isoformat(), "model": "bone_age", "count": 2} in body["by_day"]
    assert billing_client.get("/api/v1/billing/usage").json()["total"] == 3  # default: this month
    other = billing_client.get(f"/api/v1/billing/usage?month={next_month(month_start(today)):%Y-%m}").json()
    assert other["total"] == 0
    bad = billing_client.get("/api/v1/billing/usage?month=2026-13")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_month")


def test_invoices_list_detail_and_csv(billing_client, closed_invoice):
    listed = billing_client.get("/api/v1/billing/invoices").json()["results"]
    assert [(i["id"], i["number"], i["total"]) for i in listed] == [(str(closed_invoice.id), "INV-000001", "5.00")]
    detail = billing_client.get(f"/api/v1/billing/invoices/{closed_invoice.id}")
    assert detail.status_code == 200 and detail.json()["total"] == "5.00"
    assert billing_client.get(f"/api/v1/billing/invoices/{closed_invoice.id}?format=json").json() == detail.json()
    exported = billing_client.get(f"/api/v1/billing/invoices/{closed_invoice.id}?format=csv")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [(r["kind"], r["quantity"], r["amount"]) for r in rows] == [
        ("included", "2", "3.00"), ("overage", "1", "2.00"), ("total", "3", "5.00")]
    missing = billing_client.get("/api/v1/billing/invoices/not-an-id")
    assert (missing.status_code, missing.json()["code"]) == (404, "invoice_not_found")


def test_portal_pages_for_the_billing_role(billing_client, closed_invoice):
    usage = billing_client.get("/billing/")
    assert usage.status_code == 200 and b"Standard" in usage.content
    assert b"INV-000001" in billing_client.get("/billing/invoices/").content
    page = billing_client.get(f"/billing/invoices/{closed_invoice.id}/")
    assert page.status_code == 200 and b"5.00 EUR" in page.content and b"@media print" in page.content


@pytest.mark.parametrize("path", ["/api/v1/billing/usage", "/api/v1/billing/invoices", "/billing/",
                                  "/billing/invoices/"])
def test_a_radiologist_and_an_api_key_are_refused_billing(path, radiologist_client, his_a):
    response = radiologist_client.get(path)
    assert response.status_code == 403
    if path.startswith("/api/"):
        assert response.json()["code"] == "insufficient_role"
        assert his_a.get(path).json()["code"] == "insufficient_scope"


def test_a_radiologist_cannot_read_an_invoice_or_its_csv(radiologist_client, closed_invoice):
    for suffix in ("", "?format=csv"):
        response = radiologist_client.get(f"/api/v1/billing/invoices/{closed_invoice.id}{suffix}")
        assert response.status_code == 403 and b"5.00" not in response.content
    assert radiologist_client.get(f"/billing/invoices/{closed_invoice.id}/").status_code == 403


def _submit(client, age):
    with HAND_DX.open("rb") as handle:
        return client.post("/api/v1/assessments", {"file": handle, "model": "bone_age",
                                                   "chronological_age_months": str(age)}, format="multipart")


def test_at_the_cap_new_submissions_get_429_while_accepted_work_finishes(his_a, hospital_a, platform_settings):
    subscribe(hospital_a.tenant, make_plan(included_quota=1, monthly_cap=2))
    first, second = _submit(his_a, 120), _submit(his_a, 121)
    assert (first.status_code, second.status_code) == (202, 202)  # queued: in flight, counted against the cap

    refused = _submit(his_a, 122)
    assert refused.status_code == 429
    problem = refused.json()
    assert problem["code"] == "quota_exceeded"
    assert problem["quota"]["name"] == "monthly_assessment_cap" and problem["quota"]["limit"] == 2
    resets_at = next_month(month_start(timezone.now()))
    assert problem["quota"]["resets_at"].startswith(resets_at.isoformat())
    assert int(refused["Retry-After"]) > 0
    # A re-sent file still answers its existing assessment (an HIS retrying after a lost answer).
    again = _submit(his_a, 120)
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])

    # The accepted work finishes and is billed, though the hospital is at its cap.
    from inference import services as inference_services

    with tenant_context(hospital_a.tenant):
        for response in (first, second):
            inference_services.assessment_start(assessment_id=response.json()["id"])
            assert inference_services.assessment_succeed(assessment_id=response.json()["id"],
                                                         result={"ok": True}, served_version=1)
    usage = his_a.get("/api/v1/assessments").json()["results"]
    assert {a["status"] for a in usage} == {"succeeded"}
    assert _submit(his_a, 123).status_code == 429  # two completed this month: still at the cap
    with tenant_context(hospital_a.tenant):
        from billing.models import UsageRecord

        assert UsageRecord.objects.count() == 2


def test_a_failed_assessment_frees_its_place_under_the_cap(his_a, hospital_a, platform_settings):
    from inference import services as inference_services

    subscribe(hospital_a.tenant, make_plan(monthly_cap=1))
    first = _submit(his_a, 130)
    assert _submit(his_a, 131).status_code == 429
    with tenant_context(hospital_a.tenant):
        inference_services.assessment_fail(assessment_id=first.json()["id"], code="image_corrupt", message="x")
    assert _submit(his_a, 132).status_code == 202


def test_without_a_cap_there_is_no_limit(his_a, hospital_a, platform_settings):
    subscribe(hospital_a.tenant, make_plan(monthly_cap=None, included_quota=0))
    assert [_submit(his_a, 140 + i).status_code for i in range(3)] == [202, 202, 202]
