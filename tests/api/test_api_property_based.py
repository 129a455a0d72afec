"""Property-based testing of the API against its own OpenAPI document (schemathesis).

Schemathesis reads the document the code generates, makes requests from it (valid ones and, in its coverage
phase, near-misses), sends them through the WSGI application with real credentials (hospital A's API key for
the HIS operations, signed-in people with the right role for the portal-only ones) and checks every answer:
no 5xx, a status code the document lists, the documented content type, a body and headers that match the
documented schema. Bounded (examples per operation, no deadline) so the run stays well under two minutes.
"""
from __future__ import annotations

from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
MAX_EXAMPLES = 25
CSRF_TOKEN = "schemathesisCsrfToken0123456789A"  # 32 characters: Django accepts an unmasked secret


def _load_schema():
    """The document as the code generates it (no database needed), served through the WSGI application."""
    from django.core.handlers.wsgi import WSGIHandler
    from drf_spectacular.generators import SchemaGenerator

    loaded = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    loaded.app = WSGIHandler()
    return loaded


def _session(person) -> dict:
    """A signed-in person's cookies and the CSRF header their POST and DELETE need."""
    from django.test import Client

    client = Client()
    client.force_login(person)
    return {"cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF_TOKEN},
            "headers": {"X-CSRFToken": CSRF_TOKEN}}


@pytest.fixture
def principals(transactional_db, hospital_a, platform_settings, settings):
    """Credentials per area, and some of hospital A's objects so lists and reads have rows to show."""
    from tenants import services
    from tests.api.test_list_pagination_and_filters import _assessment
    from django.utils import timezone

    settings.RATE_LIMIT_PER_KEY_PER_MINUTE = 0  # off: the run sends hundreds of requests a minute
    settings.RATE_LIMIT_PER_TENANT_PER_MINUTE = 0
    settings.IDEMPOTENCY_WAIT_S = 0.2
    assessment = _assessment(hospital_a.tenant, created_at=timezone.now(), status="succeeded",
                             accession_number="ACC-1")
    heads = {}
    for role in ("admin", "billing", "auditor", "radiologist"):
        person = services.user_create(username=f"{role}.schemathesis", password=f"{role}-pass-schemathesis-1")
        services.membership_grant(tenant=hospital_a.tenant, user=person, role=role)
        heads[role] = _session(person)
    # An HIS that manages its own webhook endpoints: a key with the `manage_webhooks` scope (never a default).
    _, webhook_key = services.api_key_create(tenant=hospital_a.tenant, name="HIS webhooks",
                                             scopes=["manage_webhooks"])
    return {"his": {"cookies": {}, "headers": {"Authorization": f"Api-Key {hospital_a.api_key}"}}, **heads,
            "webhooks_key": {"cookies": {}, "headers": {"Authorization": f"Api-Key {webhook_key}"}},
            "assessment": assessment}


def credentials_for(path: str, principals: dict, method: str = "GET") -> dict:
    """Who calls an operation: the HIS's key for assessments, people with the right role for the rest."""
    if path.startswith("/api/v1/api-keys") or path.startswith("/api/v1/hl7/destination"):
        return principals["admin"]
    if path.startswith(("/api/v1/webhooks", "/api/v1/webhook-deliveries")):
        # Both kinds of caller the webhook API allows: administrators change, the scoped HIS key reads.
        return principals["webhooks_key"] if method.upper() == "GET" else principals["admin"]
    if path.endswith("/signoffs") and method.upper() == "POST":
        return principals["radiologist"]  # a verdict is a person's; an API key never signs off
    if path.startswith("/api/v1/billing"):
        return principals["billing"]
    if path.startswith("/api/v1/audit"):
        return principals["auditor"]
    return principals["his"]


schema = _load_schema()


@schema.parametrize()
@hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_breaks_its_documented_schema(case, principals):
    # Our credentials, not generated ones.
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in {"authorization", "cookie"}}
    case.call_and_validate(**credentials_for(case.operation.path, principals, case.method), checks=CHECKS)


def test_the_successful_answers_of_every_operation_match_the_document(principals, hospital_a):
    """Random inputs rarely make a valid image or hit a real id, so each operation's success is checked too."""
    from django.utils import timezone

    from billing.services import invoices_close
    from tests.api.test_idempotency import _png
    from tests.billing.factories import add_usage, make_plan, subscribe

    subscribe(hospital_a.tenant, make_plan(code="schema"))
    add_usage(hospital_a.tenant, count=2, occurred_at=timezone.now())
    invoices_close(now=timezone.now().replace(day=1) + timedelta(days=40))

    def call(method, path, *, expected, path_parameters=None, query=None, body=None, media_type=None, **extra):
        operation = schema[path][method]
        payload = {"body": body, "media_type": media_type} if body is not None else {}
        case = operation.Case(path_parameters=path_parameters or {}, query=query or {}, **payload)
        credentials = credentials_for(path, principals, method)
        response = case.call_and_validate(cookies=credentials["cookies"],
                                          headers={**credentials["headers"], **extra}, checks=CHECKS)
        assert response.status_code == expected, (method, path, response.status_code, response.content[:300])
        return response

    upload = {"file": [_png(11)], "model": "bone_age", "patient_sex": "F", "chronological_age_months": 120}
    submitted = call("POST", "/api/v1/assessments", expected=202, body=upload, media_type="multipart/form-data",
                     **{"Idempotency-Key": "schema-order-1"})
    replayed = call("POST", "/api/v1/assessments", expected=202, body=upload, media_type="multipart/form-data",
                    **{"Idempotency-Key": "schema-order-1"})
    assert replayed.headers["idempotent-replayed"] == ["true"]
    call("POST", "/api/v1/assessments", expected=200, body=upload, media_type="multipart/form-data")
    assessment_id = submitted.json()["id"]
    seeded = str(principals["assessment"].pk)
    call("GET", "/api/v1/assessments", expected=200, query={"limit": 1})
    call("GET", "/api/v1/assessments", expected=200, query={"status": "succeeded", "accession_number": "ACC-1"})
    for some_id in (assessment_id, seeded):
        call("GET", "/api/v1/assessments/{assessment_id}", expected=200, path_parameters={"assessment_id": some_id})
    call("GET", "/api/v1/assessments/{assessment_id}/original", expected=200,
         path_parameters={"assessment_id": assessment_id})

    created = call("POST", "/api/v1/api-keys", expected=201, body={"name": "RIS", "scopes": ["read"]},
                   media_type="application/json")
    key_id = created.json()["id"]
    call("GET", "/api/v1/api-keys", expected=200)
    call("GET", "/api/v1/api-keys/{api_key_id}", expected=200, path_parameters={"api_key_id": key_id})
    call("DELETE", "/api/v1/api-keys/{api_key_id}", expected=200, path_parameters={"api_key_id": key_id})

    call("GET", "/api/v1/billing/usage", expected=200)
    invoices = call("GET", "/api/v1/billing/invoices", expected=200).json()["results"]
    assert invoices
    for fmt in ("json", "csv"):
        call("GET", "/api/v1/billing/invoices/{invoice_id}", expected=200, query={"format": fmt},
             path_parameters={"invoice_id": invoices[0]["id"]})
    for fmt in ("json", "csv", "fhir"):
        call("GET", "/api/v1/audit/events", expected=200, query={"format": fmt, "limit": 5})

    # Sign-off (a radiologist's session) on the seeded succeeded assessment, then its list (the HIS's key).
    signoffs = "/api/v1/assessments/{assessment_id}/signoffs"
    call("POST", signoffs, expected=201, path_parameters={"assessment_id": seeded},
         body={"decision": "disagree", "comment": "Growth plates read older."}, media_type="application/json")
    assert call("GET", signoffs, expected=200, path_parameters={"assessment_id": seeded}).json()["results"]

    # HL7 v2: the destination (an administrator), the delivery log and the message (the HIS's key).
    destination = {"host": "hl7.hospital-a.example", "port": 2575, "sending_application": "MIP",
                   "receiving_application": "RIS"}
    call("PUT", "/api/v1/hl7/destination", expected=200, body=destination, media_type="application/json")
    call("GET", "/api/v1/hl7/destination", expected=200)
    call("GET", "/api/v1/hl7/deliveries", expected=200, query={"status": "pending"})
    from inference.models import Assessment
    from tenants.context import tenant_context
    from tests.api.test_list_pagination_and_filters import _assessment

    with_result = _assessment(hospital_a.tenant, created_at=timezone.now(), status="succeeded")
    with tenant_context(hospital_a.tenant):
        Assessment.objects.filter(pk=with_result.pk).update(result={"bone_age_months": 126.4})
    message = call("GET", "/api/v1/assessments/{assessment_id}/hl7", expected=200,
                   path_parameters={"assessment_id": str(with_result.pk)})
    assert message.content.startswith(b"MSH|")
    call("GET", "/api/v1/assessments/{assessment_id}/hl7", expected=409, path_parameters={"assessment_id": seeded})

    # Webhooks: an administrator registers, changes and rotates; the scoped HIS key reads; replay; delete.
    from webhooks.services import event_publish

    hook = call("POST", "/api/v1/webhooks", expected=201, media_type="application/json",
                body={"url": "http://127.0.0.1:9/hook", "event_types": ["invoice.issued"], "description": "RIS"})
    endpoint = {"endpoint_id": hook.json()["id"]}
    call("GET", "/api/v1/webhooks", expected=200)
    call("GET", "/api/v1/webhooks/{endpoint_id}", expected=200, path_parameters=endpoint)
    call("PATCH", "/api/v1/webhooks/{endpoint_id}", expected=200, path_parameters=endpoint,
         body={"description": "RIS gateway", "active": True}, media_type="application/json")
    call("POST", "/api/v1/webhooks/{endpoint_id}/rotate-secret", expected=200, path_parameters=endpoint,
         body={"keep_previous_for_s": 3600}, media_type="application/json")
    [delivery] = event_publish(tenant=hospital_a.tenant, event_type="invoice.issued", data={"invoice": {}})
    deliveries = call("GET", "/api/v1/webhooks/{endpoint_id}/deliveries", expected=200, path_parameters=endpoint,
                      query={"limit": 10}).json()["results"]
    assert [row["id"] for row in deliveries] == [str(delivery.pk)]
    call("POST", "/api/v1/webhook-deliveries/{delivery_id}/replay", expected=202,
         path_parameters={"delivery_id": str(delivery.pk)})
    call("POST", "/api/v1/webhooks/{endpoint_id}/replay-failed", expected=202, path_parameters=endpoint)
    call("DELETE", "/api/v1/webhooks/{endpoint_id}", expected=204, path_parameters=endpoint)
