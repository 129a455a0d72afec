"""Cursor pagination (opaque cursor, next/previous links, a capped limit) and the filters of every API list."""
from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

ASSESSMENTS = "/api/v1/assessments"


def _assessment(tenant, *, created_at, status="queued", model_name="bone_age", priority="routine",
                is_critical=False, accession_number="", study_uid=None):
    from inference.models import Assessment
    from studies.models import ImageInstance, Study
    from tenants.context import tenant_context

    with tenant_context(tenant):
        study = Study.objects.create(tenant=tenant, study_instance_uid=study_uid or f"2.25.{uuid.uuid4().int}",
                                     accession_number=accession_number)
        sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
        instance = ImageInstance.objects.create(
            tenant=tenant, study=study, series_instance_uid=f"2.25.{uuid.uuid4().int}", sha256=sha,
            size_bytes=1024, content_type="application/dicom", storage_key=f"tenants/{tenant.pk}/test/{sha}.dcm",
            rows=512, columns=512)
        return Assessment.objects.create(tenant=tenant, instance=instance, model_name=model_name, model_version=1,
                                         status=status, priority=priority, is_critical=is_critical,
                                         created_at=created_at)


def _walk(client, url, params=None, *, follow="next"):
    """Every page from `url` following `follow` links: the ids in order, and how many pages."""
    ids, pages = [], 0
    response = client.get(url, params or {})
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        ids.extend(row["id"] for row in body["results"])
        pages += 1
        if not body[follow]:
            return ids, pages, body
        response = client.get(body[follow])


def test_assessment_pages_cover_every_row_once_newest_first_and_walk_back_the_same_way(his_a, hospital_a):
    now = timezone.now()
    # Seven rows, three of them submitted in the same microsecond: the id breaks the tie, nothing is skipped.
    same = now - timedelta(minutes=5)
    made = [_assessment(hospital_a.tenant, created_at=now - timedelta(minutes=i)) for i in range(4)]
    made += [_assessment(hospital_a.tenant, created_at=same) for _ in range(3)]
    expected = [str(a.pk) for a in sorted(made, key=lambda a: (a.created_at, a.pk), reverse=True)]

    ids, pages, last = _walk(his_a, ASSESSMENTS, {"limit": 2})
    assert ids == expected and pages == 4
    assert last["next"] is None and last["previous"]

    # Back from the last page to the first: the same rows, page by page, in list order within each page.
    back, back_pages, first = _walk(his_a, last["previous"], follow="previous")
    assert back_pages == 3 and first["previous"] is None
    assert sorted(back) == sorted(expected[:6])

    # A row submitted while the client pages does not shift the pages it has not read yet.
    page_one = his_a.get(ASSESSMENTS, {"limit": 3}).json()
    _assessment(hospital_a.tenant, created_at=timezone.now())
    rest, _, _ = _walk(his_a, page_one["next"])
    assert [row["id"] for row in page_one["results"]] + rest == expected


def test_limit_is_capped_and_a_bad_limit_or_a_forged_cursor_is_a_400_problem(his_a, hospital_a):
    _assessment(hospital_a.tenant, created_at=timezone.now())
    assert len(his_a.get(ASSESSMENTS, {"limit": 100000}).json()["results"]) == 1
    for bad in ("0", "-3", "ten"):
        response = his_a.get(ASSESSMENTS, {"limit": bad})
        assert response.status_code == 400 and response.json()["code"] == "invalid_limit"
        assert response["Content-Type"] == "application/problem+json"
    next_link = his_a.get(ASSESSMENTS, {"limit": 1}).json()["next"]
    assert next_link is None
    for cursor in ("abc", "eyJwIjpbXX0", "W10:1abc:def"):
        response = his_a.get(ASSESSMENTS, {"cursor": cursor})
        assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


def test_a_cursor_is_opaque_and_cannot_be_edited_to_read_from_another_position(his_a, hospital_a):
    now = timezone.now()
    for i in range(3):
        _assessment(hospital_a.tenant, created_at=now - timedelta(minutes=i))
    next_link = his_a.get(ASSESSMENTS, {"limit": 1}).json()["next"]
    cursor = next_link.split("cursor=", 1)[1]
    assert "created_at" not in cursor and str(now.year) not in cursor
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    response = his_a.get(ASSESSMENTS, {"cursor": tampered})
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


def test_assessment_filters_select_by_status_model_priority_criticality_study_and_time(his_a, hospital_a,
                                                                                         hospital_b, his_b):
    now = timezone.now()
    tenant = hospital_a.tenant
    urgent = _assessment(tenant, created_at=now - timedelta(days=3), priority="urgent", is_critical=True,
                         accession_number="ACC-77", status="succeeded")
    routine = _assessment(tenant, created_at=now - timedelta(days=1), model_name="chest_xray",
                          study_uid="1.2.3.4.5")
    failed = _assessment(tenant, created_at=now, status="failed")
    _assessment(hospital_b.tenant, created_at=now, accession_number="ACC-77", priority="urgent")

    def ids(**params):
        response = his_a.get(ASSESSMENTS, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {str(urgent.pk), str(routine.pk), str(failed.pk)}
    assert ids(status="failed") == {str(failed.pk)}
    assert ids(model="chest_xray") == {str(routine.pk)}
    assert ids(priority="urgent") == {str(urgent.pk)}
    assert ids(is_critical="true") == {str(urgent.pk)}
    assert ids(is_critical="false") == {str(routine.pk), str(failed.pk)}
    assert ids(accession_number="ACC-77") == {str(urgent.pk)}  # not hospital B's study with the same number
    assert ids(study_instance_uid="1.2.3.4.5") == {str(routine.pk)}
    assert ids(created_after=(now - timedelta(days=2)).isoformat()) == {str(routine.pk), str(failed.pk)}
    assert ids(created_before=(now - timedelta(hours=1)).isoformat()) == {str(urgent.pk), str(routine.pk)}
    assert ids(created_after=(now - timedelta(days=2)).isoformat(), created_before=now.isoformat(),
               status="queued") == {str(routine.pk)}
    # Filters survive paging: the next link carries them.
    page = his_a.get(ASSESSMENTS, {"status": "queued", "limit": 1}).json()
    assert page["next"] is None and [r["id"] for r in page["results"]] == [str(routine.pk)]

    for params, code in (({"status": "done"}, "invalid_filter"), ({"priority": "stat"}, "invalid_filter"),
                         ({"is_critical": "maybe"}, "invalid_filter"),
                         ({"created_after": "yesterday"}, "invalid_time_range"),
                         ({"created_before": "2026-01-01T10:00:00"}, "invalid_time_range")):
        response = his_a.get(ASSESSMENTS, params)
        assert response.status_code == 400 and response.json()["code"] == code, params


def test_the_list_audit_event_names_exactly_the_assessments_of_the_page(his_a, hospital_a):
    from tests.audit._support import all_events, last_event_id

    now = timezone.now()
    made = [_assessment(hospital_a.tenant, created_at=now - timedelta(minutes=i)) for i in range(3)]
    mark = last_event_id()
    body = his_a.get(ASSESSMENTS, {"limit": 2}).json()
    his_a.get(body["next"])
    events = [e for e in all_events(after_id=mark) if e.event == "assessment.list"]
    assert [e.details["assessment_ids"] for e in events] == [[str(made[0].pk), str(made[1].pk)], [str(made[2].pk)]]


@pytest.fixture
def admin_a(hospital_a):
    from django.test import Client

    from tenants import services

    person = services.user_create(username="admin.pages-a", password="admin-pass-pages-a-123")
    services.membership_grant(tenant=hospital_a.tenant, user=person, role="admin")
    client = Client()
    client.force_login(person)
    return client


def test_api_keys_page_and_filter_by_status(admin_a, hospital_a):
    from tenants import services
    from tenants.context import tenant_context

    from tenants.models import ApiKey

    revoked, _ = services.api_key_create(tenant=hospital_a.tenant, name="old RIS")
    assert admin_a.delete(f"/api/v1/api-keys/{revoked.pk}").status_code == 200
    expired, _ = services.api_key_create(tenant=hospital_a.tenant, name="trial",
                                         expires_at=timezone.now() + timedelta(days=1))
    with tenant_context(hospital_a.tenant):
        ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    ids, pages, _ = _walk(admin_a, "/api/v1/api-keys", {"limit": 1})
    assert pages == 3 and set(ids) == {str(revoked.pk), str(expired.pk), str(hospital_a.api_key_row.pk)}

    def status_ids(status):
        return {row["id"] for row in admin_a.get("/api/v1/api-keys", {"status": status}).json()["results"]}

    assert status_ids("revoked") == {str(revoked.pk)}
    assert status_ids("expired") == {str(expired.pk)}
    assert status_ids("active") == {str(hospital_a.api_key_row.pk)}
    assert admin_a.get("/api/v1/api-keys", {"status": "lost"}).json()["code"] == "invalid_filter"


def test_invoices_page_newest_period_first_and_filter_by_period(hospital_a, platform_settings):
    from django.test import Client

    from billing.services import invoices_close
    from tenants import services
    from tests.billing.factories import add_usage, make_plan, subscribe

    from billing.periods import month_start

    start = month_start(timezone.now())
    subscribe(hospital_a.tenant, make_plan(code="pages"), effective_from=start)
    months = []
    for offset in (0, 40, 70):  # this month and the two after it
        day = timezone.now().replace(year=start.year, month=start.month, day=10) + timedelta(days=offset)
        add_usage(hospital_a.tenant, count=1, occurred_at=day)
        months.append(f"{day:%Y-%m}")
    first_day = timezone.now().replace(year=start.year, month=start.month, day=1, hour=12)
    invoices_close(now=first_day + timedelta(days=95))  # closes exactly those three months
    person = services.user_create(username="billing.pages-a", password="billing-pass-pages-a-1")
    services.membership_grant(tenant=hospital_a.tenant, user=person, role="billing")
    client = Client()
    client.force_login(person)

    walked, pages, _ = _walk(client, "/api/v1/billing/invoices", {"limit": 2})
    periods = [client.get(f"/api/v1/billing/invoices/{i}").json()["period"] for i in walked]
    assert periods == months[::-1] and pages == 2
    body = client.get("/api/v1/billing/invoices", {"period_from": months[1], "period_to": months[1]}).json()
    assert [row["period"] for row in body["results"]] == [months[1]]
    assert client.get("/api/v1/billing/invoices", {"period_from": "Feb"}).json()["code"] == "invalid_month"


def test_audit_export_pages_in_chain_order_in_json_fhir_and_csv(his_a, hospital_a):
    from django.test import Client

    from tenants import services

    for _ in range(3):
        his_a.get(ASSESSMENTS)  # three assessment.list events
    person = services.user_create(username="auditor.pages-a", password="auditor-pass-pages-a-1")
    services.membership_grant(tenant=hospital_a.tenant, user=person, role="auditor")
    auditor = Client()
    auditor.force_login(person)

    first = auditor.get("/api/v1/audit/events", {"event": "assessment.list", "limit": 2}).json()
    assert [e["sequence"] for e in first["results"]] == sorted(e["sequence"] for e in first["results"])
    second = auditor.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 1 and second["next"] is None
    assert second["results"][0]["sequence"] > first["results"][1]["sequence"]

    bundle = auditor.get("/api/v1/audit/events", {"event": "assessment.list", "limit": 2, "format": "fhir"}).json()
    assert bundle["resourceType"] == "Bundle" and len(bundle["entry"]) == 2
    assert [link["relation"] for link in bundle["link"]] == ["next"]
    csv_page = auditor.get("/api/v1/audit/events", {"event": "assessment.list", "limit": 2, "format": "csv"})
    assert 'rel="next"' in csv_page["Link"] and len(csv_page.content.decode().strip().splitlines()) == 3
