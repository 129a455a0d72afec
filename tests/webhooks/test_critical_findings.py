"""Critical findings notify the hospital: the assessment.critical_finding webhook and an e-mail to the addresses of
its notification settings, once per assessment, with no patient data beyond ids, the accession number and codes."""
from __future__ import annotations

import time

from django.core import mail
from django.db import transaction
from django.test import Client

from tenants.context import tenant_context
from tests.billing.factories import make_assessment
from tests.webhooks._support import make_endpoint


def _critical_assessment(tenant):
    from inference.models import Assessment
    from studies.models import Study

    assessment = make_assessment(tenant, status="succeeded")
    with tenant_context(tenant):
        Study.objects.filter(pk=assessment.instance.study_id).update(accession_number="ACC-2026-0042")
        Assessment.objects.filter(pk=assessment.pk).update(
            is_critical=True, patient_sex="F", chronological_age_months=121.0,
            critical_findings=[{"code": "bone_age_z_over_3", "message": "Bone age 3.4 SD above chronological age"}],
            result={"bone_age_months": 190.5})
        return Assessment.objects.select_related("instance__study").get(pk=assessment.pk)


def _wait_for(predicate, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_a_critical_finding_is_sent_as_a_webhook_and_an_email_once(hospital_a, receiver, celery_worker):
    from webhooks.models import CriticalFindingEmail
    from webhooks.services import critical_finding_notify, notification_settings_update

    endpoint, secret = make_endpoint(hospital_a.tenant, receiver.url, event_types=["assessment.critical_finding"])
    receiver.secret = secret
    notification_settings_update(tenant=hospital_a.tenant,
                                 critical_finding_emails="lead@hospital-a.example\nonc@hospital-a.example")
    assessment = _critical_assessment(hospital_a.tenant)
    mail.outbox.clear()

    with transaction.atomic():
        critical_finding_notify(assessment=assessment)
    with transaction.atomic():
        critical_finding_notify(assessment=assessment)  # the rules ran again: nothing is sent twice

    [got] = receiver.wait_for(1)
    assert got.error == "" and got.event["type"] == "assessment.critical_finding"
    data = got.event["data"]["assessment"]
    assert data["id"] == str(assessment.pk) and data["is_critical"] is True
    assert data["critical_findings"] == ["bone_age_z_over_3"]
    assert data["study"]["accession_number"] == "ACC-2026-0042"
    _wait_for(lambda: len(mail.outbox) >= 1)
    time.sleep(0.5)
    assert len(receiver.received) == 1 and len(mail.outbox) == 1

    message = mail.outbox[0]
    assert sorted(message.bcc) == ["lead@hospital-a.example", "onc@hospital-a.example"] and message.to == []
    text = message.subject + message.body
    assert str(assessment.pk) in message.body and "ACC-2026-0042" in message.body
    assert "bone_age_z_over_3" in message.body and f"/assessments/{assessment.pk}/" in message.body
    assert "demo, not for diagnostic use" in message.body
    # No patient data: not the finding's message (it carries measurements), result values, sex or age.
    for leaked in ("3.4 SD", "190.5", "121.0", "patient_sex", "chronological_age"):
        assert leaked not in text and leaked not in got.body.decode()
    with tenant_context(hospital_a.tenant):
        record = CriticalFindingEmail.objects.get(assessment_id=assessment.pk)
    assert record.status == "sent" and record.recipients == 2


def test_without_addresses_the_email_is_recorded_as_having_no_recipients(hospital_a):
    from webhooks.models import CriticalFindingEmail
    from webhooks.services import critical_finding_email_send, critical_finding_notify

    assessment = _critical_assessment(hospital_a.tenant)
    mail.outbox.clear()
    critical_finding_notify(assessment=assessment)
    with tenant_context(hospital_a.tenant):
        critical_finding_email_send(assessment_id=assessment.pk)
        assert CriticalFindingEmail.objects.get(assessment_id=assessment.pk).status == "no_recipients"
    assert mail.outbox == []


def test_an_admin_sets_the_critical_finding_addresses_in_the_portal(hospital_a):
    from tenants import services
    from tests.audit._support import all_events, last_event_id
    from webhooks.services import notification_settings_for

    user = services.user_create(username="admin.notify-a", password="admin-pass-notify-a-1234")
    services.membership_grant(tenant=hospital_a.tenant, user=user, role="admin")
    admin = Client()
    admin.force_login(user)
    mark = last_event_id()
    response = admin.post("/portal/webhooks/notifications/",
                          {"critical_finding_emails": "lead@hospital-a.example\nLEAD@hospital-a.example, "
                                                      "onc@hospital-a.example"})
    assert response.status_code == 302
    assert notification_settings_for(tenant=hospital_a.tenant).critical_finding_emails == [
        "lead@hospital-a.example", "onc@hospital-a.example"]
    page = admin.get("/portal/webhooks/notifications/")
    assert b"onc@hospital-a.example" in page.content
    bad = admin.post("/portal/webhooks/notifications/", {"critical_finding_emails": "not-an-address"})
    assert bad.status_code == 400 and b"not an e-mail address" in bad.content
    [event] = [e for e in all_events(after_id=mark) if e.event == "notification_settings.change"]
    assert event.details == {"critical_finding_emails": 2} and "lead@" not in str(event.details)
