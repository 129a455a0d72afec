"""Pseudonymous patient references for audit events: never a name, never an identifier in clear.

The reference is HMAC-SHA256 (key derived from AUDIT_SIGNING_KEY, outside the database) over the hospital id and
the patient key, shortened to 32 hex digits. The ideal patient key is the DICOM PatientID; the platform does not
store (or even keep) PatientID today, so the key is the SHA-256 of the stored image: the same image always maps to
the same reference within one hospital, two hospitals never share one, and without the key the reference cannot
be tied back to the image or the patient. When PatientID is kept (e.g. a worklist integration), pass it as
`patient_key` instead: the auditor's question "who touched this patient" then spans every image of the patient.
"""
from __future__ import annotations

import hashlib
import hmac

from audit.chain import derived_key


def patient_reference(*, tenant_id, patient_key: str) -> str:
    if not patient_key:
        return ""
    message = f"{tenant_id}|{patient_key}".encode()
    return "pt-" + hmac.new(derived_key("patient-pseudonym"), message, hashlib.sha256).hexdigest()[:32]


def opaque_reference(value: str) -> str:
    """A keyed pseudonym of an identifier the requester sent that may belong to another hospital (refused
    requests): this hospital's auditor sees that the same object was probed again, never the other hospital's id.
    Operators holding the key can recompute it for a given id."""
    return "ref-" + hmac.new(derived_key("requested-object"), str(value).encode(), hashlib.sha256).hexdigest()[:32]
