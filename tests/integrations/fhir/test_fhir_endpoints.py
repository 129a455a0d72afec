"""The FHIR R4 endpoint set: CapabilityStatement, DiagnosticReport read and search of the hospital's own reports,
and ServiceRequest orders (inline images or a study already sent). Errors are OperationOutcomes, never 5xx."""
from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.urls import reverse

from tests.audit._support import all_events, last_event_id, png_upload
from tests.conftest import HAND_DX
from tests.reports import _results
from tests.reports._support import succeed

FHIR_JSON = "application/fhir+json"
ASSESSMENTS = "https://mip.example/fhir/CodeSystem/mip-assessments"


def _order(*images, gender="female", birth="2015-03-01", on="2025-09-01", code="bone_age", **extra) -> dict:
    contained = [{"resourceType": "Patient", "id": "pt", "gender": gender, **({"birthDate": birth} if birth else {})}]
    contained += images
    return {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "code": {"coding": [{"system": ASSESSMENTS, "code": code}]},
            "subject": {"reference": "#pt"}, "occurrenceDateTime": on, "contained": contained, **extra}


def _binary(data: bytes, content_type="application/dicom", rid="img") -> dict:
    return {"resourceType": "Binary", "id": rid, "contentType": content_type, "data": base64.b64encode(data).decode()}


def _post(client, body, content_type=FHIR_JSON):
    import json

    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(reverse("fhir:servicerequest-create"), data=data, content_type=content_type)


def _outcome(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:400])
    assert response["Content-Type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["details"]["coding"][0]["code"] == code, issue
    return issue


def test_the_capability_statement_is_public_fhir_r4_json(client, db):
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    response = client.get(reverse("fhir:metadata"))
    assert response.status_code == 200 and response["Content-Type"].startswith(FHIR_JSON)
    statement = CapabilityStatement.model_validate(response.json())
    assert statement.fhirVersion == "4.0.1"
    resources = {r.type: [i.code for i in r.interaction] for r in statement.rest[0].resource}
    assert resources == {"DiagnosticReport": ["read", "search-type"], "ServiceRequest": ["create", "read"]}
    _outcome(client.post(reverse("fhir:metadata")), 405, "method_not_allowed")


def test_an_order_with_an_inline_dicom_creates_an_assessment_with_sex_and_age_from_the_patient(his_a, hospital_a):
    from inference.models import Assessment
    from tenants.context import tenant_context

    mark = last_event_id()
    response = _post(his_a, _order(_binary(HAND_DX.read_bytes()), gender="male"))
    assert response.status_code == 201, response.content[:500]
    assert response["Content-Type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "ServiceRequest" and body["status"] == "active"
    assert response["Location"].endswith(f"/fhir/r4/ServiceRequest/{body['id']}")
    assert body["code"]["coding"][0] == {"system": ASSESSMENTS, "code": "bone_age",
                                         "display": "Pediatric bone age (left hand PA radiograph)"}
    assert all(c["resourceType"] != "Binary" for c in body.get("contained", []))  # the image is not echoed
    with tenant_context(hospital_a.tenant):
        assessment = Assessment.objects.select_related("instance__study").get(pk=body["id"])
    # The Patient says male (the header says female: the order wins); 2015-03-01 to 2025-09-01 is 126 months.
    assert assessment.patient_sex == "M"
    assert assessment.chronological_age_months == pytest.approx(126.0, abs=0.1)
    assert assessment.model_name == "bone_age" and assessment.status == "queued"
    study_uid = assessment.instance.study.study_instance_uid
    assert body["supportingInfo"][-1]["identifier"]["value"] == f"urn:oid:{study_uid}"
    [event] = [e for e in all_events(after_id=mark) if e.event == "assessment.upload"]
    assert str(event.assessment_id) == body["id"] and event.details["via"] == "fhir"

    again = _post(his_a, _order(_binary(HAND_DX.read_bytes()), gender="male"))
    assert again.status_code == 200 and again.json()["id"] == body["id"]  # a retried order is the same order

    read = his_a.get(reverse("fhir:servicerequest-read", kwargs={"request_id": body["id"]}))
    assert read.status_code == 200 and read.json()["status"] == "active"


def test_an_order_may_name_a_study_the_hospital_already_sent(his_a, hospital_a):
    from inference.models import Assessment
    from tenants.context import tenant_context

    with HAND_DX.open("rb") as handle:
        sent = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart").json()
    study_uid = sent["study"]["study_instance_uid"]
    order = _order(birth="2016-01-15", supportingInfo=[
        {"type": "ImagingStudy", "identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"}}])
    response = _post(his_a, order)
    assert response.status_code == 201, response.content[:400]
    with tenant_context(hospital_a.tenant):
        assessment = Assessment.objects.select_related("instance__study").get(pk=response.json()["id"])
    assert assessment.instance.study.study_instance_uid == study_uid
    assert assessment.instance.sha256 == sent["study"]["sha256"]
    assert assessment.chronological_age_months == pytest.approx(115.6, abs=0.1)
    assert response.json()["id"] != sent["id"]  # another question (an age) about the same image

    contained = _order(birth=None, contained_study=True)
    contained.pop("contained_study")
    contained["contained"].append({"resourceType": "ImagingStudy", "id": "study", "status": "available",
                                   "subject": {"reference": "#pt"},
                                   "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"}]})
    contained["supportingInfo"] = [{"reference": "#study"}]
    assert _post(his_a, contained).status_code in (200, 201)


def test_another_hospitals_study_cannot_be_ordered(his_a, his_b):
    with HAND_DX.open("rb") as handle:
        sent = his_b.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart").json()
    order = _order(supportingInfo=[{"type": "ImagingStudy", "identifier": {
        "system": "urn:dicom:uid", "value": f"urn:oid:{sent['study']['study_instance_uid']}"}}])
    _outcome(_post(his_a, order), 404, "study_not_found")


def test_bad_orders_are_operation_outcomes_with_stable_codes_never_5xx(his_a):
    png = png_upload(3).getvalue()
    cases = [
        (_post(his_a, {"resourceType": "Patient"}), 400, "not_a_service_request"),
        (_post(his_a, _order(_binary(png, "image/png"), code="tarot")), 422, "unknown_model"),
        (_post(his_a, _order()), 422, "no_images"),
        (_post(his_a, {**_order(_binary(png, "image/png")), "subject": "Patient/1"}), 400, "invalid_resource"),
        (_post(his_a, {**_order(_binary(png, "image/png")), "status": "completed"}), 422, "unsupported_status"),
        (_post(his_a, {**_order(_binary(png, "image/png")), "intent": "proposal"}), 422, "unsupported_intent"),
        (_post(his_a, _order({"resourceType": "Binary", "id": "x", "contentType": "image/png", "data": "@@@"})),
         400, "invalid_base64"),
        (_post(his_a, _order(_binary(b"not an image at all", "text/plain"))), 415, "unsupported_media_type"),
        (_post(his_a, _order(_binary(b"\x00" * 200, "application/dicom"))), 415, "not_an_image"),
        (_post(his_a, _order(_binary(png, "image/png"), birth="2031-01-01")), 422, "invalid_chronological_age"),
        (_post(his_a, "{not json", content_type=FHIR_JSON), 400, "malformed_request"),
        (his_a.post(reverse("fhir:servicerequest-create"), {"file": "x"}, format="multipart"), 415,
         "unsupported_media_type"),
    ]
    for response, status, code in cases:
        _outcome(response, status, code)


def test_an_api_key_without_the_submit_scope_cannot_order(hospital_a, platform_settings):
    from tenants import services
    from tests.conftest import his_client

    _, key = services.api_key_create(tenant=hospital_a.tenant, name="read only", scopes=["read"])
    hospital_a.api_key = key
    issue = _outcome(_post(his_client(hospital_a), _order(_binary(png_upload(1).getvalue(), "image/png"))),
                     403, "insufficient_scope")
    assert issue["code"] == "forbidden"


def _submit_png(client, seed: int) -> str:
    response = client.post("/api/v1/assessments", {"file": png_upload(seed), "model": "bone_age",
                                                   "patient_sex": "F"}, format="multipart")
    assert response.status_code == 202
    return response.json()["id"]


def test_diagnostic_report_read_follows_the_assessment_and_hides_other_hospitals(his_a, his_b, hospital_a):
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport

    mine = _submit_png(his_a, 1)
    theirs = _submit_png(his_b, 2)
    url = reverse("fhir:diagnosticreport-read", kwargs={"report_id": mine})
    queued = his_a.get(url)
    assert queued.status_code == 200 and queued.json()["status"] == "registered"
    succeed(tenant=hospital_a.tenant, assessment_id=mine, result=_results.bone_age_result())
    report = his_a.get(url).json()
    DiagnosticReport.model_validate(report)
    assert report["status"] == "preliminary" and report["basedOn"] == [{"reference": f"ServiceRequest/{mine}"}]
    contained = {r["id"]: r for r in report["contained"]}
    assert all(ref["reference"][1:] in contained for ref in report["result"])
    import json
    import re

    # FHIR dom-3: every contained resource is referenced from the report (Observations, and each model Device).
    assert set(re.findall(r'"reference": "#([^"]+)"', json.dumps(report))) == set(contained)
    assert report["conclusion"].startswith("DEMO, NOT FOR DIAGNOSTIC USE")
    for other in (theirs, "not-a-uuid"):
        issue = _outcome(his_a.get(reverse("fhir:diagnosticreport-read", kwargs={"report_id": other})), 404,
                         "assessment_not_found")
        assert issue["code"] == "not-found"
    _outcome(his_a.get(reverse("fhir:servicerequest-read", kwargs={"request_id": theirs})), 404,
             "assessment_not_found")


def test_search_filters_pages_with_next_links_and_sees_only_the_hospitals_reports(his_a, his_b, hospital_a):
    ids = [_submit_png(his_a, seed) for seed in (11, 12, 13)]
    theirs = _submit_png(his_b, 14)
    succeed(tenant=hospital_a.tenant, assessment_id=ids[0], result=_results.bone_age_result())
    search = reverse("fhir:diagnosticreport-search")

    everything = his_a.get(search).json()
    assert everything["type"] == "searchset" and everything["total"] == 3
    assert {e["resource"]["id"] for e in everything["entry"]} == set(ids) and theirs not in str(everything)

    preliminary = his_a.get(search, {"status": "preliminary"}).json()
    assert [e["resource"]["id"] for e in preliminary["entry"]] == [ids[0]]
    assert his_a.get(search, {"status": "registered"}).json()["total"] == 2
    assert his_a.get(search, {"status": "final"}).json()["total"] == 0

    first = his_a.get(search, {"_count": "2"}).json()
    assert len(first["entry"]) == 2
    [next_link] = [link["url"] for link in first["link"] if link["relation"] == "next"]
    path = next_link.split("://", 1)[1].split("/", 1)[1]
    second = his_a.get("/" + path).json()
    assert len(second["entry"]) == 1 and not [lk for lk in second["link"] if lk["relation"] == "next"]
    assert {e["resource"]["id"] for e in first["entry"] + second["entry"]} == set(ids)

    based = his_a.get(search, {"based-on": f"ServiceRequest/{ids[1]}"}).json()
    assert [e["resource"]["id"] for e in based["entry"]] == [ids[1]]
    assert his_a.get(search, {"based-on": f"ServiceRequest/{theirs}"}).json()["total"] == 0

    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    assert his_a.get(search, {"_lastUpdated": f"ge{tomorrow}"}).json()["total"] == 0
    assert his_a.get(search + f"?_lastUpdated=gt{yesterday}&_lastUpdated=lt{tomorrow}").json()["total"] == 3
    _outcome(his_a.get(search, {"_lastUpdated": "ge-soon"}), 400, "invalid_search_parameter")
    _outcome(his_a.get(search, {"status": "done"}), 400, "invalid_search_parameter")
    _outcome(his_a.get(search, {"_count": "many"}), 400, "invalid_search_parameter")


def test_a_search_is_audited_with_the_ids_it_returned_and_works_for_a_signed_in_person(his_a, hospital_a):
    from django.test import Client

    mine = _submit_png(his_a, 21)
    client = Client()
    client.force_login(hospital_a.user)
    mark = last_event_id()
    response = client.get(reverse("fhir:diagnosticreport-search"))
    assert response.status_code == 200
    [event] = [e for e in all_events(after_id=mark) if e.event == "assessment.list"]
    assert event.details["assessment_ids"] == [mine] and event.user_id == hospital_a.user.pk


def test_no_credentials_is_an_operation_outcome_401(client, db):
    _outcome(client.get(reverse("fhir:diagnosticreport-search")), 401, "not_authenticated")


def test_an_order_runs_end_to_end_to_a_preliminary_report(his_a, celery_worker):
    response = _post(his_a, _order(_binary(HAND_DX.read_bytes()), birth="2014-06-01", on="2025-02-01"))
    assert response.status_code == 201
    request_id = response.json()["id"]
    import time

    deadline = time.monotonic() + 60
    report = {}
    while time.monotonic() < deadline:
        report = his_a.get(reverse("fhir:diagnosticreport-read", kwargs={"report_id": request_id})).json()
        if report["status"] != "registered":
            break
        time.sleep(0.2)
    assert report["status"] == "preliminary", report
    [observation] = report["contained"][1:]  # the model Device, then the bone-age Observation
    assert observation["code"]["coding"][0]["code"] == "bone-age"
    assert {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in observation["component"]
            if "valueQuantity" in c}["chronological-age"] == pytest.approx(128.0, abs=0.1)
    assert his_a.get(reverse("fhir:servicerequest-read", kwargs={"request_id": request_id})).json()["status"] == \
        "completed"


def test_an_order_reads_its_assessment_patient_and_priority_without_touching_the_database():
    from integrations.fhir.orders import order_parse

    png = png_upload(5).getvalue()
    order = order_parse(_order(_binary(png, "image/png"), _binary(png, "image/png", rid="second"), gender="other",
                               birth="2020-01-01", on="2021-01-01", priority="stat"))
    assert (order.model_name, order.patient_sex, order.priority) == ("bone_age", None, "urgent")
    assert order.chronological_age_months == pytest.approx(12.0, abs=0.1)
    assert [name for _, name in order.files] == ["contained[1].png", "contained[2].png"]
    routine = order_parse(_order(_binary(png, "image/png"), birth="2020-06", priority="routine"))
    assert routine.priority == "routine" and routine.chronological_age_months is None  # a partial birth date


def test_orders_go_through_assessment_submit_files_with_name_byte_pairs_and_the_priority(his_a, monkeypatch):
    """The contract with inference.services.assessment_submit_files (series input, issue 8): files as
    (file name, bytes) pairs and the order's priority. Recorded here, then handed to the one-image submission."""
    from inference import services

    calls = []

    def submit_files(*, tenant, files, model_name, patient_sex=None, chronological_age_months=None,
                     priority="routine", submitted_by_user=None, submitted_by_api_key=None):
        calls.append(([(name, len(data)) for name, data in files], priority))
        name, data = files[0]
        return services.assessment_submit(tenant=tenant, data=data, filename=name, model_name=model_name,
                                          patient_sex=patient_sex, chronological_age_months=chronological_age_months,
                                          submitted_by_user=submitted_by_user,
                                          submitted_by_api_key=submitted_by_api_key)

    monkeypatch.setattr(services, "assessment_submit_files", submit_files, raising=False)
    png = png_upload(9).getvalue()
    response = _post(his_a, _order(_binary(png, "image/png"), priority="asap"))
    assert response.status_code == 201, response.content[:300]
    assert calls == [([("contained[1].png", len(png))], "urgent")]


def test_a_report_is_preliminary_until_a_radiologist_agrees_and_then_final(his_a, hospital_a):
    from reports.fhir import report_status
    from reviews.services import signoff_record
    from tenants.context import tenant_context

    with HAND_DX.open("rb") as handle:
        response = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart")
    assessment_id = response.json()["id"]
    succeed(tenant=hospital_a.tenant, assessment_id=assessment_id, result=_results.bone_age_result())
    from inference.models import Assessment

    with tenant_context(hospital_a.tenant):
        assessment = Assessment.objects.get(pk=assessment_id)
        assert report_status(assessment) == "preliminary"
        signoff_record(assessment=assessment, user=hospital_a.user, decision="disagree", comment="Looks older.")
        assert report_status(assessment) == "preliminary"
        signoff_record(assessment=assessment, user=hospital_a.user, decision="agree")
        assert report_status(assessment) == "final"
    report = his_a.get(reverse("fhir:diagnosticreport-read", kwargs={"report_id": assessment_id})).json()
    resources = [e["resource"] for e in report["entry"]] if report.get("resourceType") == "Bundle" else [report]
    resources += [c for r in list(resources) for c in r.get("contained", [])]
    statuses = {r["resourceType"]: r["status"] for r in resources if r["resourceType"] in {"DiagnosticReport",
                                                                                          "Observation"}}
    assert statuses == {"DiagnosticReport": "final", "Observation": "final"}
