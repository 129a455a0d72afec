"""Writes on studies and images: ingest of an uploaded file into object storage and the database."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction

import numpy as np

from studies import storage
from studies.imaging import ParsedImage
from studies.models import ImageInstance, Series, SeriesMember, Study
from studies.series import OrderedSeries
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


# ---------------------------------------------------------------------------------------------------------------------
# Series (issue 8): many instances ordered along the slice normal, stored once each.
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IngestedSeries:
    series: Series
    created: bool  # False when the hospital had sent the very same set of files before


def series_ingest(*, tenant: Tenant, series: OrderedSeries) -> IngestedSeries:
    """Store an assembled series (studies.series.assemble_series): each instance once per hospital through
    ``image_ingest`` (same object keys, same content addressing), then one ``Series`` row with a ``SeriesMember``
    per instance at its position along the normal (and cine phase).

    Idempotent by ``Series.content_sha256`` (the sorted SHA-256s of the files): the same files sent again, in any
    order or zip, return the existing row with ``created=False``; two identical submissions racing each other end
    with one row (the unique constraint decides, the loser reads the winner's). Deliberately not one outer
    transaction: hundreds of object-store writes must not hold a database transaction open, and what a failure
    leaves behind (stored, content-addressed instances) is reused by the retry, exactly as for one image.

    Runs in the hospital's tenant context (a request, a TenantTask, or ``tenant_context(tenant)``). Raises
    studies.storage.StorageUnavailable when the store is down (no Series row is written then).
    """
    content_sha256 = series.content_sha256
    existing = Series.objects.filter(tenant=tenant, content_sha256=content_sha256).first()
    if existing is not None:
        return IngestedSeries(series=existing, created=False)

    # Generated once for the whole series: image_ingest would otherwise open one study per headerless file.
    study_uid = series.study_instance_uid or generated_uid()
    series_uid = series.series_instance_uid or generated_uid()
    instances = []
    for member in series.instances:
        ingested = image_ingest(tenant=tenant, data=member.data,
                                parsed=_parsed_for_ingest(member.header, series, study_uid, series_uid))
        instances.append((member, ingested.instance))

    try:
        with transaction.atomic():
            study, _ = Study.objects.get_or_create(
                tenant=tenant,
                study_instance_uid=study_uid,
                defaults={"accession_number": (series.instances[0].header.get("accession_number") or "")[:64]},
            )
            row = Series.objects.create(
                tenant=tenant,
                study=study,
                series_instance_uid=series_uid,
                modality=(series.modality or "")[:16],
                body_part_examined=(series.body_part_examined or "")[:64],
                content_sha256=content_sha256,
                instance_count=len(instances),
                geometry=series.geometry.as_dict(),
            )
            SeriesMember.objects.bulk_create([
                SeriesMember(
                    tenant=tenant,
                    series=row,
                    instance=instance,
                    position=member.position,
                    location_mm=member.location_mm,
                    phase=member.phase,
                )
                for member, instance in instances
            ])
    except IntegrityError:
        # A concurrent submission of the same files committed first; its row is the series.
        row = Series.objects.get(tenant=tenant, content_sha256=content_sha256)
        return IngestedSeries(series=row, created=False)
    return IngestedSeries(series=row, created=True)


def _parsed_for_ingest(header: dict, series: OrderedSeries, study_uid: str, series_uid: str) -> ParsedImage:
    """The ParsedImage image_ingest needs, from the header facts assemble_series already read: the pixels are not
    decoded here (image_ingest stores bytes, it does not look at pixels)."""
    return ParsedImage(
        format="dicom",
        pixels=np.zeros((0, 0), dtype=np.float32),
        content_type="application/dicom",
        rows=series.geometry.rows,
        columns=series.geometry.columns,
        study_instance_uid=study_uid,
        series_instance_uid=series_uid,
        sop_instance_uid=header.get("sop_instance_uid"),
        modality=header.get("modality"),
        body_part_examined=header.get("body_part_examined"),
        laterality=header.get("laterality"),
        view_position=header.get("view_position"),
        patient_sex=header.get("patient_sex"),
        patient_age_months=header.get("patient_age_months"),
        pixel_spacing_mm=header.get("pixel_spacing_mm"),
        transfer_syntax_uid=header.get("transfer_syntax_uid"),
        photometric_interpretation=header.get("photometric_interpretation"),
        accession_number=header.get("accession_number"),
    )
