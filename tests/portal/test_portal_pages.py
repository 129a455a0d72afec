"""The portal's server side without a browser: worklist filters and live states, submit errors in plain words,
sign-off rules, people and keys, the operator console, password reset and the language choice."""
from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from tests.audit._support import all_events, png_upload
from tests.conftest import HAND_DX


def _client_for(hospital=None, *, username=None, role=None, staff=False):
    from tenants import services

    if username is None:
        client = Client()
        client.force_login(hospital.user)
        return client
    user = services.user_create(username=username, password=f"{username}-pass-2026!", email=f"{username}@example.org")
    if staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    if hospital is not None:
        services.membership_grant(tenant=hospital.tenant, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def _submit_png(client, seed=5, **fields):
    return client.post("/submit/files/", {"files": png_upload(seed), "model": "bone_age", "patient_sex": "F",
                                          **fields})


def _finish(hospital, assessment_id, **result):
    from inference.models import Assessment
    from tenants.context import tenant_context

    with tenant_context(hospital.tenant):
        Assessment.objects.filter(pk=assessment_id).update(status="succeeded", result={
            "bone_age_months": 120.0, "bone_age_years_months": "10 y 0 m", "sex": "F", **result})


def test_the_portal_submits_a_file_with_its_priority_and_records_the_upload(hospital_a, platform_settings):
    client = _client_for(hospital_a)
    response = _submit_png(client, priority="urgent", chronological_age_months="126")
    assert response.status_code == 202, response.content
    body = response.json()
    from inference.models import Assessment
    from tenants.context import tenant_context

    with tenant_context(hospital_a.tenant):
        assessment = Assessment.objects.get(pk=body["id"])
    assert (assessment.priority, assessment.chronological_age_months, assessment.submitted_by_user_id) == \
        ("urgent", 126.0, hospital_a.user.pk)
    assert body["url"] == f"/assessments/{body['id']}/"
    assert [e.details["via"] for e in all_events() if e.event == "assessment.upload"] == ["portal"]


@pytest.mark.parametrize(("fields", "status", "code", "words"), [
    ({"files": ("note.txt", b"not an image at all")}, 415, "not_an_image", "not a DICOM, PNG or JPEG"),
    ({"patient_sex": "X"}, 400, "invalid_patient_sex", "female or male"),
    ({"chronological_age_months": "900"}, 400, "invalid_chronological_age", "between 0 and 25 years"),
    ({"priority": "stat"}, 400, "invalid_priority", "routine or urgent"),
    ({"model": "no_such_model"}, 422, "unknown_model", "not available"),
])
def test_a_refused_file_answers_the_api_code_and_a_plain_sentence(hospital_a, platform_settings, fields, status,
                                                                  code, words):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"files": png_upload(7), "model": "bone_age", "patient_sex": "F"}
    for name, value in fields.items():
        data[name] = SimpleUploadedFile(*value) if isinstance(value, tuple) else value
    response = _client_for(hospital_a).post("/submit/files/", data)
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and words in body["message"]
    assert response["Content-Type"] == "application/problem+json"


def test_a_zip_is_refused_in_plain_words_until_series_submission_exists(hospital_a, platform_settings):
    import io
    import zipfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    from inference import services

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("1.dcm", HAND_DX.read_bytes())
    response = _client_for(hospital_a).post("/submit/files/", {
        "files": SimpleUploadedFile("series.zip", buffer.getvalue()), "model": "bone_age", "patient_sex": "F"})
    # A zip holding the one image a single-image assessment needs is that image.
    assert response.status_code == 202, response.content


def test_the_worklist_filters_searches_and_its_live_states_carry_no_clinical_values(hospital_a, platform_settings):
    client = _client_for(hospital_a)
    routine = _submit_png(client, seed=11).json()["id"]
    urgent = _submit_png(client, seed=12, priority="urgent").json()["id"]
    _finish(hospital_a, urgent, bone_age_months=143.5)

    page = client.get("/", {"priority": "urgent"}).content.decode()
    assert urgent in page and routine not in page
    rows = re.findall(r'data-assessment="([0-9a-f-]+)"', client.get("/").content.decode())
    assert rows == [urgent, routine]  # urgent before routine, whatever the age
    from inference.models import Assessment
    from tenants.context import tenant_context

    with tenant_context(hospital_a.tenant):
        uid = Assessment.objects.select_related("instance__study").get(pk=routine).instance.study.study_instance_uid
    assert re.findall(r'data-assessment="([0-9a-f-]+)"', client.get("/", {"q": uid}).content.decode()) == [routine]

    states = client.get("/worklist/states.json", {"ids": f"{routine},{urgent},not-an-id", "since": "2000-01-01T00:00Z"})
    body = states.json()
    assert {row["id"]: row["status"] for row in body["results"]} == {routine: "queued", urgent: "succeeded"}
    assert body["newer"] == 2
    assert "143.5" not in states.content.decode() and "bone_age" not in states.content.decode()
    assert states["Cache-Control"] == "private, no-store"


def test_hospital_b_ids_in_the_live_states_are_ignored(hospital_a, hospital_b, his_b):
    response = his_b.post("/api/v1/assessments", {"file": png_upload(9), "model": "bone_age", "patient_sex": "F"},
                          format="multipart")
    b_id = response.json()["id"]
    body = _client_for(hospital_a).get("/worklist/states.json", {"ids": b_id}).json()
    assert body["results"] == []


def test_sign_off_needs_a_finished_result_a_reason_to_disagree_and_the_radiologist_role(hospital_a,
                                                                                         platform_settings):
    radiologist = _client_for(hospital_a)
    assessment_id = _submit_png(radiologist, seed=21).json()["id"]
    url = f"/api/v1/assessments/{assessment_id}/signoffs"

    assert radiologist.post(url, {"decision": "agree"}).json()["code"] == "assessment_not_finished"
    _finish(hospital_a, assessment_id)
    assert radiologist.post(url, {"decision": "disagree"}).json()["code"] == "comment_required"
    assert radiologist.post(url, {"decision": "maybe"}).json()["code"] == "invalid_decision"
    clinician = _client_for(hospital_a, username="clin.a", role="clinician")
    assert clinician.post(url, {"decision": "agree"}).status_code == 403
    assert radiologist.post(url, {"decision": "agree"}).status_code == 201
    page = radiologist.post(f"/assessments/{assessment_id}/signoff/", {"decision": "disagree", "comment": "Older."})
    assert page.status_code == 302
    listed = radiologist.get(url).json()["results"]
    assert [(s["decision"], s["comment"]) for s in listed] == [("disagree", "Older."), ("agree", "")]
    assert clinician.get(url).status_code == 200  # reading the verdicts is a read of the record


def test_people_are_added_with_a_reset_link_change_role_and_the_last_administrator_stays(hospital_a):
    from tenants.models import Membership

    admin = _client_for(hospital_a, username="admin.a", role="admin")
    response = admin.post("/manage/people/", {"username": "new.person", "email": "new.person@example.org",
                                              "role": "clinician"})
    assert response.status_code == 200 and b"new.person" in response.content
    assert mail.outbox and "new.person@example.org" in mail.outbox[0].to
    link = re.search(r"/password-reset/[^/\s]+/[^/\s]+/", mail.outbox[0].body).group(0)
    assert Client().get(link, follow=True).status_code == 200

    from tenants.context import tenant_context

    with tenant_context(hospital_a.tenant):
        added = Membership.objects.get(user__username="new.person")
        own = Membership.objects.get(user__username="admin.a")
    assert admin.post(f"/manage/people/{added.pk}/", {"action": "role", "role": "radiologist"}).status_code == 200
    with tenant_context(hospital_a.tenant):
        assert Membership.objects.get(pk=added.pk).role == "radiologist"
    assert admin.post(f"/manage/people/{added.pk}/", {"action": "remove"}).status_code == 200
    with tenant_context(hospital_a.tenant):
        assert not Membership.objects.filter(pk=added.pk).exists()
    refused = admin.post(f"/manage/people/{own.pk}/", {"action": "remove"})
    assert refused.status_code == 409 and b'data-code="last_admin"' in refused.content
    assert {e.event for e in all_events()} >= {"membership.grant", "membership.revoke", "user.create"}


def test_an_unknown_password_reset_link_is_a_404(db):
    assert Client().get("/password-reset/MQ/not-a-token/").status_code == 404


def test_the_operator_console_is_for_staff_only_and_records_operator_access(hospital_a, hospital_b):
    admin = _client_for(hospital_a, username="admin.ops-a", role="admin")
    assert admin.get("/operator/").status_code == 403
    operator = _client_for(None, username="ops.staff", staff=True)
    page = operator.get("/operator/")
    assert page.status_code == 200
    assert b"Hospital A" in page.content and b"Hospital B" in page.content
    assert [e.event for e in all_events() if e.event == "operator.access"] == ["operator.access"]


def test_the_language_choice_is_stored_for_the_person_and_follows_them(hospital_a):
    client = _client_for(hospital_a)
    assert client.post("/account/language/", {"language": "zh-hans", "next": "/"}).status_code == 302
    assert "工作列表" in client.get("/").content.decode()
    elsewhere = _client_for(hospital_a)  # another device: a new session of the same person
    assert "工作列表" in elsewhere.get("/").content.decode()
    client.post("/account/language/", {"language": "en", "next": "https://evil.example/"})
    assert "Worklist" in client.get("/").content.decode()


def test_the_webhooks_link_appears_only_when_its_page_exists(hospital_a):
    admin = _client_for(hospital_a, username="admin.hooks", role="admin")
    page = admin.get("/manage/people/").content.decode()
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("webhooks-portal:endpoint-list")
        assert 'data-nav="webhooks"' in page
    except NoReverseMatch:
        assert 'data-nav="webhooks"' not in page


def test_a_person_resets_a_forgotten_password_through_the_emailed_link(hospital_a):
    from accounts import lockout

    user = hospital_a.user
    user.email = "rad.a@example.org"
    user.save(update_fields=["email"])
    client = Client()
    assert client.post("/password-reset/", {"email": "rad.a@example.org"}).status_code == 302
    link = re.search(r"http://testserver(/password-reset/\S+/)", mail.outbox[-1].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and b"new_password1" in form.content
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "a-new-Long-passphrase-42",
                                                     "new_password2": "a-new-Long-passphrase-42"})
    assert done.status_code == 302
    lockout.unlock(username=user.username)
    assert Client().post("/login/", {"username": user.username, "password": "a-new-Long-passphrase-42"}) \
        .status_code == 302
    assert client.get(link).status_code == 404  # used once


def test_a_person_of_two_hospitals_switches_between_them_from_the_header(hospital_a, hospital_b):
    from tenants import services

    services.membership_grant(tenant=hospital_b.tenant, user=hospital_a.user, role="clinician")
    client = _client_for(hospital_a)
    page = client.get("/").content.decode()
    assert 'id="switch-tenant"' in page and "Hospital B" in page
    assert client.post("/hospital/", {"tenant_id": str(hospital_b.tenant.pk)}).status_code == 302
    assert 'data-hospital' not in client.get("/").content.decode()  # the select shows the chosen one
    assert f'value="{hospital_b.tenant.pk}" selected' in client.get("/").content.decode()
