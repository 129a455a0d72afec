"""Presigned download URLs: only for the hospital's own objects, and they expire quickly."""
from __future__ import annotations

import hashlib
import time

import pytest
import requests

from tests.conftest import HAND_DX


def _submit(client) -> str:
    with HAND_DX.open("rb") as handle:
        response = client.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_original_is_downloadable_through_a_short_lived_url(his_a):
    assessment_id = _submit(his_a)
    body = his_a.get(f"/api/v1/assessments/{assessment_id}/original").json()

    downloaded = requests.get(body["url"], timeout=10)
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == body["sha256"] == hashlib.sha256(
        HAND_DX.read_bytes()).hexdigest()
    assert "X-Amz-Expires=60" in body["url"]


def test_presigned_url_expires(his_a, platform_settings, monkeypatch):
    monkeypatch.setattr(platform_settings, "PRESIGNED_URL_TTL_S", 1)
    assessment_id = _submit(his_a)
    url = his_a.get(f"/api/v1/assessments/{assessment_id}/original").json()["url"]
    time.sleep(2.5)
    assert requests.get(url, timeout=10).status_code == 403


def test_another_hospitals_original_is_404(his_a, his_b):
    assessment_id = _submit(his_a)
    response = his_b.get(f"/api/v1/assessments/{assessment_id}/original")
    assert response.status_code == 404
    assert response.json()["code"] == "assessment_not_found"


def test_no_url_is_signed_outside_the_hospitals_prefix(hospital_a, hospital_b, platform_settings):
    from studies.storage import presigned_download_url

    foreign_key = f"tenants/{hospital_b.tenant.id}/studies/1.2/1.2.3/{'a' * 64}.dcm"
    with pytest.raises(PermissionError):
        presigned_download_url(tenant_id=hospital_a.tenant.id, key=foreign_key)
    with pytest.raises(PermissionError):
        presigned_download_url(tenant_id=hospital_a.tenant.id, key=f"tenants/{hospital_a.tenant.id}x/../" + foreign_key)
