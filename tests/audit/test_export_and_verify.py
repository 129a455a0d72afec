"""Audit export (CSV, JSON, FHIR R4 AuditEvent Bundle) for the auditor, the verify command, and no patient
name or identifier anywhere in the logs or the audit trail."""
from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.audit._support import owner_connection
from tests.conftest import HAND_DX


@pytest.fixture
def auditor_a(hospital_a):
    from tenants import services

    user = services.user_create(username="auditor.export-a", password="auditor-pass-export-a-1234")
    services.membership_grant(tenant=hospital_a.tenant, user=user, role="auditor")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def identified_upload(his_a, tmp_path):
    """A DICOM whose header names a patient, uploaded, read, downloaded and listed."""
    import pydicom

    dataset = pydicom.dcmread(HAND_DX)
    dataset.PatientName = "Zhang^Xiaoling"
    dataset.PatientID = "MRN-5550123"
    dataset.PatientBirthDate = "20150314"
    path = tmp_path / "identified.dcm"
    dataset.save_as(path)
    with path.open("rb") as handle:
        response = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart")
    assert response.status_code == 202, response.content
    assessment_id = response.json()["id"]
    assert his_a.get(f"/api/v1/assessments/{assessment_id}").status_code == 200
    assert his_a.get(f"/api/v1/assessments/{assessment_id}/original").status_code == 200
    assert his_a.get("/api/v1/assessments").status_code == 200
    return response.json()


IDENTIFIERS = ("Zhang", "Xiaoling", "MRN-5550123", "20150314")


def test_no_patient_name_or_identifier_reaches_the_logs_or_the_audit_trail(identified_upload, auditor_a, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    exported = [auditor_a.get("/api/v1/audit/events", {"format": fmt}).content.decode() for fmt in
                ("json", "csv", "fhir")]
    exported.append(auditor_a.get("/audit/").content.decode())
    logged = caplog.text + "\n".join(str(record.args) for record in caplog.records)
    for identifier in IDENTIFIERS:
        assert identifier not in logged
        for body in exported:
            assert identifier not in body
    events = json.loads(exported[0])["results"]
    upload = [e for e in events if e["event"] == "assessment.upload"]
    assert len(upload) == 1 and upload[0]["patient_ref"].startswith("pt-")
    assert upload[0]["study_instance_uid"] == identified_upload["study"]["study_instance_uid"]


def test_json_and_csv_exports_carry_every_field_and_filter_by_time_and_event(identified_upload, auditor_a):
    body = auditor_a.get("/api/v1/audit/events", {"format": "json", "event": "assessment.read"}).json()
    assert [e["event"] for e in body["results"]] == ["assessment.read"]
    event = body["results"][0]
    assert event["event_type_code"] == "110110" and event["action"] == "R" and event["outcome"] == 0
    assert event["assessment_id"] == identified_upload["id"] and len(event["hash"]) == 64
    assert auditor_a.get("/api/v1/audit/events", {"from": "2999-01-01"}).json()["results"] == []
    assert auditor_a.get("/api/v1/audit/events", {"from": "yesterday"}).status_code == 400
    response = auditor_a.get("/api/v1/audit/events", {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {"sequence", "event_type_code", "action", "outcome", "network_address", "hash"} <= set(rows[0])
    assert [int(r["sequence"]) for r in rows] == sorted(int(r["sequence"]) for r in rows)


def test_fhir_export_is_a_bundle_of_structurally_valid_r4_audit_events(identified_upload, auditor_a):
    bundle = auditor_a.get("/api/v1/audit/events", {"format": "fhir"}).json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == len(bundle["entry"]) > 0
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert resource["resourceType"] == "AuditEvent"
        # R4 cardinalities: type 1..1 (Coding), recorded 1..1 (instant), agent 1..*, agent.requestor 1..1,
        # source 1..1 with observer 1..1; action and outcome from their value sets.
        assert {"system", "code"} <= set(resource["type"])
        assert resource["type"]["system"] == "http://dicom.nema.org/resources/ontology/DCM"
        assert resource["recorded"].endswith("Z") and "T" in resource["recorded"]
        assert resource["action"] in {"C", "R", "U", "D", "E"}
        assert resource["outcome"] in {"0", "4", "8", "12"}
        assert resource["agent"] and all(isinstance(a["requestor"], bool) for a in resource["agent"])
        assert all("who" in a for a in resource["agent"])
        assert resource["source"]["observer"]
        for entity in resource.get("entity", []):
            assert "what" in entity and entity["what"]
    reads = [e["resource"] for e in bundle["entry"] if e["resource"]["type"]["code"] == "110110"]
    entities = {ent["what"]["identifier"]["system"]: ent for ent in reads[0]["entity"]}
    assert entities["urn:mip:patient-pseudonym"]["role"]["code"] == "1"  # Patient
    assert entities["urn:dicom:uid"]["what"]["identifier"]["value"].startswith("urn:oid:")


def test_the_auditor_role_only_and_another_hospitals_auditor_sees_nothing_of_ours(identified_upload, hospital_b):
    from tenants import services

    user = services.user_create(username="auditor.b", password="auditor-pass-b-12345678")
    services.membership_grant(tenant=hospital_b.tenant, user=user, role="auditor")
    client_b = Client()
    client_b.force_login(user)
    events = client_b.get("/api/v1/audit/events").json()["results"]
    assert identified_upload["id"] not in json.dumps(events)
    assert {e["chain"] for e in events} == {str(hospital_b.tenant.pk)}


def test_audit_verify_command_passes_whole_chains_and_fails_a_truncated_one(transactional_db, hospital_a, capsys):
    from audit.services import audit_event_record

    for i in range(5):
        audit_event_record(event="assessment.read", tenant=hospital_a.tenant, username=f"reader{i}")
    call_command("audit_verify", "--all")
    out = capsys.readouterr().out
    assert "hospital-a: OK" in out and "chain(s) verified" in out
    with owner_connection() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cur.execute("DELETE FROM audit_auditevent WHERE tenant_id = %s AND sequence = "
                    "(SELECT max(sequence) FROM audit_auditevent WHERE tenant_id = %s)",
                    [str(hospital_a.tenant.pk)] * 2)
        cur.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
        conn.commit()
    with pytest.raises(CommandError, match="1 of"):
        call_command("audit_verify", "--tenant", "hospital-a")
    assert "truncated" in capsys.readouterr().out


def test_operators_export_any_chain_including_the_platforms(hospital_a, capsys):
    from audit.services import audit_event_record

    audit_event_record(event="signin", username="someone", network_address="10.9.9.9")
    call_command("audit_export", "--platform", "--format", "fhir")
    bundle = json.loads(capsys.readouterr().out)
    assert bundle["resourceType"] == "Bundle"
    assert any(e["resource"]["type"]["code"] == "110114" for e in bundle["entry"])
    call_command("audit_export", "--tenant", "hospital-a", "--format", "csv")
    assert capsys.readouterr().out.startswith("chain,sequence")
