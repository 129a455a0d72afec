"""The one place that builds object-storage keys. Every key starts with the hospital's own prefix.

Layout: tenants/<tenant uuid>/studies/<study uid>/<series uid>/<sha256>.<ext>
Content-addressed by SHA-256 inside the hospital's prefix, so the same file sent twice maps to one object,
and no key is shared across hospitals even for byte-identical files.
"""
from __future__ import annotations

import re
import uuid

_UID_SAFE = re.compile(r"^[0-9.]{1,64}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXTENSIONS = {"application/dicom": "dcm", "image/png": "png", "image/jpeg": "jpg"}


def tenant_prefix(tenant_id: uuid.UUID | str) -> str:
    return f"tenants/{uuid.UUID(str(tenant_id))}/"


def study_object_key(
    *, tenant_id: uuid.UUID | str, study_uid: str, series_uid: str, sha256: str, content_type: str
) -> str:
    """Key of an uploaded image. UIDs are validated so a crafted UID can never climb out of the prefix."""
    for label, uid in (("study", study_uid), ("series", series_uid)):
        if not _UID_SAFE.match(uid):
            raise ValueError(f"{label} UID is not a valid DICOM UID")
    if not _SHA256.match(sha256):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    extension = _EXTENSIONS.get(content_type, "bin")
    return f"{tenant_prefix(tenant_id)}studies/{study_uid}/{series_uid}/{sha256}.{extension}"


def key_belongs_to_tenant(key: str, tenant_id: uuid.UUID | str) -> bool:
    return key.startswith(tenant_prefix(tenant_id))


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def derived_object_key(*, tenant_id: uuid.UUID | str, assessment_id: uuid.UUID | str, name: str) -> str:
    """Key of an object the platform derives from an assessment (mask, heat map, DICOM SR/SEG, report).

    Layout: tenants/<tenant uuid>/assessments/<assessment uuid>/<name>; `name` is a plain file name.
    """
    if not _SAFE_NAME.match(name) or ".." in name:
        raise ValueError("derived object name must be a plain file name")
    return f"{tenant_prefix(tenant_id)}assessments/{uuid.UUID(str(assessment_id))}/{name}"
