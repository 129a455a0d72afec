"""STOW-RS: store the instances of one request, each through the platform's own ingest, and say what happened
to each of them in the terms of PS3.18 (Store Instances Response Module)."""
from __future__ import annotations

import datetime as dt
import io
import logging
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from studies import storage
from studies.imaging import ImageRejected, parse_upload
from studies.models import ImageInstance
from studies.services import image_ingest
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# FailureReason (0008,1197) values, from the C-STORE status classes PS3.18 refers STOW-RS to (PS3.4 B.2.3).
PROCESSING_FAILURE = 0x0110
SOP_CLASS_NOT_SUPPORTED = 0x0122
OUT_OF_RESOURCES = 0xA700
DOES_NOT_MATCH = 0xA900  # the data set does not match what is required (missing UIDs, another study's instance)
CANNOT_UNDERSTAND = 0xC000
TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122

# The platform's own checks (studies.imaging.ImageRejected codes) as failure reasons.
_REASONS = {
    "empty_file": CANNOT_UNDERSTAND,
    "truncated_dicom": CANNOT_UNDERSTAND,
    "malformed_dicom": CANNOT_UNDERSTAND,
    "not_an_image": CANNOT_UNDERSTAND,
    "file_too_large": OUT_OF_RESOURCES,
    "image_too_large": OUT_OF_RESOURCES,
    "no_pixel_data": SOP_CLASS_NOT_SUPPORTED,  # reports, SR, DICOMDIR: the platform stores images
    "undecodable_pixel_data": TRANSFER_SYNTAX_NOT_SUPPORTED,
}
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass(frozen=True)
class StoredInstance:
    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    series_uid: str
    created: bool  # False: the hospital already held this instance (a re-send is not a failure)
    patient_key: str  # the stored file's SHA-256 (audit pseudonym key), never logged


@dataclass(frozen=True)
class FailedInstance:
    sop_class_uid: str
    sop_instance_uid: str
    reason: int
    code: str  # the platform's own reason, for the audit record and the integrator's logs


@dataclass
class StowOutcome:
    stored: list[StoredInstance] = field(default_factory=list)
    failed: list[FailedInstance] = field(default_factory=list)

    @property
    def storage_down(self) -> bool:
        return bool(self.failed) and not self.stored and all(f.code == "storage_unavailable" for f in self.failed)


@dataclass(frozen=True)
class _Header:
    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    series_uid: str
    study_date: dt.date | None
    instance_number: int | None


def _read_header(data: bytes) -> _Header | None:
    """The identifying attributes of a Part 10 file, or None if it cannot be read as one (values never logged)."""
    import pydicom

    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
            text = {k: str(ds.get(k, "") or "").strip() for k in (
                "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "StudyDate")}
            number = ds.get("InstanceNumber")
            instance_number = int(number) if number not in (None, "") else None
    except Exception as exc:  # noqa: BLE001 - a damaged header is the sender's data: reason 0xC000
        logger.info("STOW-RS part header unreadable: %s", type(exc).__name__)
        return None
    try:
        study_date = dt.datetime.strptime(text["StudyDate"][:8], "%Y%m%d").date() if text["StudyDate"] else None
    except ValueError:
        study_date = None
    return _Header(sop_class_uid=text["SOPClassUID"], sop_instance_uid=text["SOPInstanceUID"],
                   study_uid=text["StudyInstanceUID"], series_uid=text["SeriesInstanceUID"], study_date=study_date,
                   instance_number=instance_number)


def _valid_uid(uid: str) -> bool:
    return bool(uid) and len(uid) <= 64 and bool(_UID.match(uid))


def _store_one(*, tenant: Tenant, data: bytes, study_uid: str | None) -> StoredInstance | FailedInstance:
    header = _read_header(data)
    if header is None:
        return FailedInstance("", "", CANNOT_UNDERSTAND, "not_dicom")
    sop_class, sop_uid = header.sop_class_uid, header.sop_instance_uid
    if len(data) > settings.MAX_UPLOAD_BYTES:
        return FailedInstance(sop_class, sop_uid, OUT_OF_RESOURCES, "file_too_large")
    if not all(_valid_uid(uid) for uid in (sop_class, sop_uid, header.study_uid, header.series_uid)):
        return FailedInstance(sop_class, sop_uid, DOES_NOT_MATCH, "missing_uid")
    if study_uid and header.study_uid != study_uid:
        return FailedInstance(sop_class, sop_uid, DOES_NOT_MATCH, "study_uid_mismatch")
    existing = ImageInstance.objects.filter(tenant=tenant, sop_instance_uid=sop_uid).select_related("study").first()
    if existing is not None:
        # Re-sending an instance is not a failure; the copy stored first is kept (SOP Instance UIDs are unique).
        _keep_header_facts(existing, header)
        return StoredInstance(sop_class, sop_uid, existing.study.study_instance_uid, existing.series_instance_uid,
                              created=False, patient_key=existing.sha256)
    try:
        parsed = parse_upload(data)  # the platform's own checks: size, pixels, decodability
    except ImageRejected as exc:
        return FailedInstance(sop_class, sop_uid, _REASONS.get(exc.code, DOES_NOT_MATCH), exc.code)
    if parsed.format != "dicom":
        return FailedInstance(sop_class, sop_uid, CANNOT_UNDERSTAND, "not_dicom")
    try:
        ingested = image_ingest(tenant=tenant, data=data, parsed=parsed)
    except storage.StorageUnavailable:
        return FailedInstance(sop_class, sop_uid, PROCESSING_FAILURE, "storage_unavailable")
    instance = ingested.instance
    _keep_header_facts(instance, header)
    return StoredInstance(sop_class, sop_uid, instance.study.study_instance_uid, instance.series_instance_uid,
                          created=ingested.created, patient_key=instance.sha256)


def _keep_header_facts(instance: ImageInstance, header: _Header) -> None:
    """What QIDO-RS answers with and matches on, kept from the header (never patient identifiers). Fills only
    what is missing, e.g. for an image first uploaded through the HIS API."""
    if not instance.sop_class_uid or instance.instance_number is None:
        instance.sop_class_uid = instance.sop_class_uid or header.sop_class_uid
        if instance.instance_number is None:
            instance.instance_number = header.instance_number
        instance.save(update_fields=["sop_class_uid", "instance_number"])
    study = instance.study
    if study.study_date is None and header.study_date is not None:
        study.study_date = header.study_date
        study.save(update_fields=["study_date"])


@transaction.atomic
def stow_store(*, tenant: Tenant, instances: Iterable[tuple[str, bytes]], study_uid: str | None = None,
               on_done=None) -> StowOutcome:
    """Store each (part media type, bytes) of a STOW-RS request for `tenant`; returns what was stored and what
    failed, and why.

    `study_uid` (from /studies/{study}) refuses instances of another study (reason 0xA900). Each instance goes
    through studies.imaging.parse_upload and studies.services.image_ingest (content-addressed, once per
    hospital). One transaction for the request: `on_done(outcome)` runs last inside it (the audit event), so a
    failed audit write rolls every row back (objects already written stay as harmless content-addressed
    orphans, as in image_ingest).
    """
    outcome = StowOutcome()
    for media_type, data in instances:
        if media_type != "application/dicom":
            outcome.failed.append(FailedInstance("", "", CANNOT_UNDERSTAND, "part_not_application_dicom"))
            continue
        with transaction.atomic():
            result = _store_one(tenant=tenant, data=data, study_uid=study_uid)
        (outcome.stored if isinstance(result, StoredInstance) else outcome.failed).append(result)
    if on_done is not None:
        on_done(outcome)
    return outcome
