"""Writes on studies and images: ingest of an uploaded file into object storage and the database."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from studies import storage
from studies.imaging import ParsedImage
from studies.models import ImageInstance, Study
from tenants.models import Tenant
from tenants.storage_keys import study_object_key


def generated_uid() -> str:
    """A DICOM UID under the UUID-derived root 2.25 (PS3.5 B.2), for uploads that carry none."""
    return f"2.25.{uuid.uuid4().int}"


@dataclass(frozen=True)
class IngestedImage:
    instance: ImageInstance
    created: bool  # False when the hospital had sent the very same bytes before


def image_ingest(*, tenant: Tenant, data: bytes, parsed: ParsedImage) -> IngestedImage:
    """Store an already parsed and validated upload once per hospital, keyed by its SHA-256.

    The object is written before the rows: if the database write fails, an orphan object remains (harmless:
    content-addressed and reused by the next upload of the same file); the reverse order could leave a row
    pointing at nothing. Raises storage.StorageUnavailable when the store is down; nothing is recorded then.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    existing = ImageInstance.objects.filter(tenant=tenant, sha256=sha256).first()
    if existing is not None:
        return IngestedImage(instance=existing, created=False)

    study_uid = parsed.study_instance_uid or generated_uid()
    series_uid = parsed.series_instance_uid or generated_uid()
    key = study_object_key(
        tenant_id=tenant.id,
        study_uid=study_uid,
        series_uid=series_uid,
        sha256=sha256,
        content_type=parsed.content_type,
    )
    storage.put_image(key=key, data=data, content_type=parsed.content_type, sha256=sha256)
    try:
        with transaction.atomic():
            study, _ = Study.objects.get_or_create(
                tenant=tenant,
                study_instance_uid=study_uid,
                defaults={"accession_number": (parsed.accession_number or "")[:64]},
            )
            instance = ImageInstance.objects.create(
                tenant=tenant,
                study=study,
                series_instance_uid=series_uid,
                sop_instance_uid=parsed.sop_instance_uid or "",
                sha256=sha256,
                size_bytes=len(data),
                content_type=parsed.content_type,
                storage_key=key,
                modality=(parsed.modality or "")[:16],
                body_part_examined=(parsed.body_part_examined or "")[:64],
                rows=parsed.rows,
                columns=parsed.columns,
                photometric_interpretation=(parsed.photometric_interpretation or "")[:32],
                transfer_syntax_uid=(parsed.transfer_syntax_uid or "")[:64],
                header_patient_sex=parsed.patient_sex or "",
                header_patient_age_months=parsed.patient_age_months,
            )
    except IntegrityError:
        # A concurrent upload of the same bytes won the race; use its row.
        instance = ImageInstance.objects.get(tenant=tenant, sha256=sha256)
        return IngestedImage(instance=instance, created=False)
    return IngestedImage(instance=instance, created=True)
