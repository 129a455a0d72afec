"""The CapabilityStatement of /fhir/r4 (validated as FHIR R4(B))."""
from __future__ import annotations

import functools

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from reports.fhir import fhir_base_url


@functools.lru_cache(maxsize=4)
def _statement(base: str) -> dict:
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "publisher": "MIP imaging AI platform",
        "kind": "instance",
        "software": {"name": "MIP imaging AI platform"},
        "implementation": {"description": "Imaging AI results and orders", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Each hospital sees only its own resources. Results of demo models are marked "
                             "'demo, not for diagnostic use'.",
            "security": {"description": "Send the hospital's API key as 'Authorization: Api-Key <key>' (or use a "
                                        "signed-in portal session). Reads need the read scope, orders the submit "
                                        "scope."},
            "resource": [
                {"type": "DiagnosticReport",
                 "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [
                     {"name": "status", "type": "token",
                      "documentation": "registered (queued or running), preliminary (AI result, not signed off), "
                                       "cancelled (failed)"},
                     {"name": "_lastUpdated", "type": "date"},
                     {"name": "based-on", "type": "reference",
                      "documentation": "ServiceRequest/<id>: the order (its id is the assessment id)"},
                     {"name": "_count", "type": "number", "documentation": "page size, at most 100"},
                     {"name": "_offset", "type": "number", "documentation": "paging; follow the Bundle's next link"},
                 ]},
                {"type": "ServiceRequest", "interaction": [{"code": "create"}, {"code": "read"}],
                 "documentation": "code: an assessment (system https://mip.example/fhir/CodeSystem/mip-assessments); "
                                  "subject: a contained Patient (gender, birthDate); images: contained Binary or "
                                  "Media (base64 DICOM, PNG or JPEG) or supportingInfo naming an ImagingStudy by "
                                  "identifier urn:oid:<Study Instance UID> the hospital has sent."},
            ],
        }],
    }
    return CapabilityStatement.model_validate(statement).model_dump(mode="json", exclude_none=True)


def capability_statement() -> dict:
    return _statement(fhir_base_url())
