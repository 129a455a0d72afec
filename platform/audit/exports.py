"""Audit exports: CSV, JSON (the rows with their hashes, so a copy can be re-verified) and FHIR R4 AuditEvent
resources in a Bundle (https://hl7.org/fhir/R4/auditevent.html), mapped as DICOM PS3.15 A.5 and the IHE ATNA
profile map them.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable

from django.conf import settings

from audit.chain import format_time
from audit.models import AuditEvent, chain_key

FIELDS = (
    "chain", "sequence", "occurred_at", "event", "event_type_code", "event_type_display", "event_subtype_code",
    "event_subtype_display", "action", "outcome", "user_id", "username", "api_key_prefix", "is_operator",
    "network_address", "study_instance_uid", "assessment_id", "patient_ref", "object_type", "object_id",
    "details", "previous_hash", "hash",
)
DCM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
PLATFORM_SUBTYPE_SYSTEM = "urn:mip:audit-event"
OUTCOME_DISPLAY = {0: "Success", 4: "Minor failure", 8: "Serious failure", 12: "Major failure"}


def event_as_dict(event: AuditEvent) -> dict:
    row = {name: getattr(event, name) for name in FIELDS if name not in {"chain", "occurred_at"}}
    row["chain"] = chain_key(event.tenant_id)
    row["occurred_at"] = format_time(event.occurred_at)
    return row


def as_json(events: Iterable[AuditEvent]) -> dict:
    return {"results": [event_as_dict(e) for e in events]}


def as_csv(events: Iterable[AuditEvent]) -> str:
    import json

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    for event in events:
        row = event_as_dict(event)
        row["details"] = json.dumps(row["details"], sort_keys=True)
        writer.writerow(row)
    return buffer.getvalue()


def fhir_audit_event(event: AuditEvent) -> dict:
    """One FHIR R4 AuditEvent. Required by R4: type, recorded, agent (with requestor), source (with observer)."""
    subtypes = []
    if event.event_subtype_code:
        subtypes.append({"system": DCM_SYSTEM, "code": event.event_subtype_code,
                         "display": event.event_subtype_display})
    subtypes.append({"system": PLATFORM_SUBTYPE_SYSTEM, "code": event.event})
    if event.api_key_prefix:
        who = {"identifier": {"system": "urn:mip:api-key-prefix", "value": event.api_key_prefix},
               "display": f"API key mip_{event.api_key_prefix}_"}
    elif event.user_id is not None:
        who = {"identifier": {"system": "urn:mip:user-id", "value": str(event.user_id)}, "display": event.username}
    else:
        who = {"display": event.username or "anonymous"}
    agent = {"type": {"coding": [{"system": DCM_SYSTEM, "code": "110153", "display": "Source Role ID"}]},
             "who": who, "requestor": True}
    if event.is_operator:
        agent["role"] = [{"text": "platform operator"}]
    if event.network_address:
        agent["network"] = {"address": event.network_address, "type": "2"}  # 2 = IP address
    entities = []
    if event.patient_ref:
        entities.append({
            "what": {"identifier": {"system": "urn:mip:patient-pseudonym", "value": event.patient_ref}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1",
                     "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1",
                     "display": "Patient"},
        })
    if event.study_instance_uid:
        entities.append({
            "what": {"identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{event.study_instance_uid}"}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                     "display": "System Object"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "3",
                     "display": "Report"},
        })
    if event.assessment_id:
        entities.append({"what": {"identifier": {"system": "urn:mip:assessment", "value": event.assessment_id}},
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                                  "code": "2", "display": "System Object"}})
    if event.object_type and event.object_id:
        entities.append({"what": {"identifier": {"system": f"urn:mip:{event.object_type}", "value": event.object_id}},
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                                  "code": "2", "display": "System Object"}})
    resource = {
        "resourceType": "AuditEvent",
        "id": f"{chain_key(event.tenant_id)}-{event.sequence}",
        "type": {"system": DCM_SYSTEM, "code": event.event_type_code, "display": event.event_type_display},
        "subtype": subtypes,
        "action": event.action,
        "recorded": format_time(event.occurred_at),
        "outcome": str(event.outcome),
        "outcomeDesc": OUTCOME_DISPLAY.get(event.outcome, ""),
        "agent": [agent],
        "source": {"site": chain_key(event.tenant_id),
                   "observer": {"display": getattr(settings, "PUBLIC_BASE_URL", "mip-platform")},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                             "display": "Application Server"}]},
        "extension": [{"url": "urn:mip:audit-chain", "valueString":
                       f"sequence={event.sequence};previous_hash={event.previous_hash};hash={event.hash}"}],
    }
    if entities:
        resource["entity"] = entities
    return resource


def as_fhir_bundle(events: Iterable[AuditEvent]) -> dict:
    entries = [{"fullUrl": f"urn:mip:audit:{chain_key(e.tenant_id)}:{e.sequence}", "resource": fhir_audit_event(e)}
               for e in events]
    for entry in entries:
        entry["search"] = {"mode": "match"}
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
