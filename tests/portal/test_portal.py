"""A person signs in to the portal and sees only their own hospital's assessments, with the image."""
from __future__ import annotations

from django.test import Client

from tests.conftest import HAND_DX


def _submit(his, age):
    with HAND_DX.open("rb") as handle:
        response = his.post("/api/v1/assessments",
                            {"file": handle, "model": "bone_age", "chronological_age_months": age},
                            format="multipart")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def _signed_in(hospital) -> Client:
    client = Client()
    response = client.post("/login/", {"username": hospital.user.username, "password": hospital.password})
    assert response.status_code == 302, response.content
    return client


def test_login_page_renders_and_wrong_password_is_refused(db, hospital_a):
    client = Client()
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": hospital_a.user.username, "password": "wrong"})
    assert response.status_code == 200
    assert b"did not match" in response.content


def test_portal_requires_sign_in(db):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_portal_lists_only_the_hospitals_own_assessments(his_a, his_b, hospital_a, hospital_b):
    own = _submit(his_a, "120")
    other = _submit(his_b, "121")

    client = _signed_in(hospital_a)
    page = client.get("/").content.decode()

    assert f"/assessments/{own}/" in page
    assert f"/assessments/{other}/" not in page
    assert "Hospital A" in page


def test_portal_shows_one_assessment_with_its_image_and_the_demo_banner(his_a, hospital_a):
    assessment_id = _submit(his_a, "120")
    client = _signed_in(hospital_a)

    detail = client.get(f"/assessments/{assessment_id}/")
    assert detail.status_code == 200
    assert "demo, not for diagnostic use" in detail.content.decode()

    image = client.get(f"/assessments/{assessment_id}/image.png")
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert image["Cache-Control"] == "private, no-store"


def test_portal_answers_404_for_another_hospitals_assessment(his_b, hospital_a):
    other = _submit(his_b, "120")
    client = _signed_in(hospital_a)
    assert client.get(f"/assessments/{other}/").status_code == 404
    assert client.get(f"/assessments/{other}/image.png").status_code == 404


def test_person_in_two_hospitals_switches_and_sees_each_separately(his_a, his_b, hospital_a, hospital_b):
    from tenants.services import membership_grant

    membership_grant(tenant=hospital_b.tenant, user=hospital_a.user, role="clinician")
    in_a = _submit(his_a, "120")
    in_b = _submit(his_b, "121")
    client = _signed_in(hospital_a)

    first = client.get("/").content.decode()
    client.post("/hospital/", {"tenant_id": str(hospital_b.tenant.id)})
    second = client.get("/").content.decode()

    assert (f"/assessments/{in_a}/" in first) != (f"/assessments/{in_a}/" in second)
    assert (f"/assessments/{in_b}/" in first) != (f"/assessments/{in_b}/" in second)
    assert client.post("/hospital/", {"tenant_id": "00000000-0000-0000-0000-000000000000"}).status_code == 404
