"""Reads behind DICOMweb: the hospital's DICOM objects (stored instances and generated SR/SEG artifacts).

Everything here runs inside the hospital's tenant context (the fail-closed managers and row-level security scope
every query). Only DICOM objects take part: PNG/JPEG uploads have no SOP Instance and are never listed.
"""
from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import re
import warnings
from dataclasses import dataclass, field

from django.db.models import Count, Max, Min, Q, QuerySet

from inference.models import AssessmentArtifact
from studies import storage
from studies.models import ImageInstance, Study
from tenants.models import Tenant

logger = logging.getLogger(__name__)

DICOM = "application/dicom"
ARTIFACT_KINDS = (AssessmentArtifact.Kind.DICOM_SR, AssessmentArtifact.Kind.DICOM_SEG)
# The modality of a generated object follows from its kind; used for ModalitiesInStudy without reading objects.
ARTIFACT_MODALITY = {AssessmentArtifact.Kind.DICOM_SR: "SR", AssessmentArtifact.Kind.DICOM_SEG: "SEG"}


@dataclass(frozen=True)
class DicomObject:
    """One DICOM instance the hospital can retrieve: a stored image or a generated SR/SEG."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    modality: str
    instance_number: int | None
    rows: int | None
    columns: int | None
    transfer_syntax_uid: str
    storage_key: str
    sha256: str
    accession_number: str
    study_date: dt.date | None
    source: str  # "image" or the artifact kind
    assessment_id: str = ""


@dataclass(frozen=True)
class _HeaderFacts:
    series_uid: str
    sop_class_uid: str
    modality: str
    instance_number: int | None
    transfer_syntax_uid: str


@functools.lru_cache(maxsize=4096)
def _artifact_header(storage_key: str, sha256: str) -> _HeaderFacts | None:
    """UIDs of a generated object, read once from the store per process (objects are immutable: keyed by SHA-256).

    Only identifiers are cached, never patient data. None when the object cannot be read as DICOM.
    """
    import pydicom

    try:
        data = storage.get_image(key=storage_key, expected_sha256=sha256)
    except (storage.StoredObjectMissing, storage.StoredObjectCorrupt):
        logger.warning("generated DICOM object missing or corrupt in the store")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        number = ds.get("InstanceNumber")
        tsuid = ds.file_meta.get("TransferSyntaxUID", "") if hasattr(ds, "file_meta") else ""
        return _HeaderFacts(series_uid=str(ds.get("SeriesInstanceUID", "")),
                            sop_class_uid=str(ds.get("SOPClassUID", "")), modality=str(ds.get("Modality", "")),
                            instance_number=int(number) if number not in (None, "") else None,
                            transfer_syntax_uid=str(tsuid))
    except Exception as exc:  # noqa: BLE001 - a damaged generated object is left out, never a 500
        logger.warning("generated DICOM object unreadable: %s", type(exc).__name__)
        return None


def dicom_images(*, tenant: Tenant) -> QuerySet[ImageInstance]:
    """The hospital's stored DICOM instances (with a SOP Instance UID), with their study."""
    return (ImageInstance.objects.for_tenant(tenant).filter(content_type=DICOM).exclude(sop_instance_uid="")
            .select_related("study"))


def dicom_artifacts(*, tenant: Tenant) -> QuerySet[AssessmentArtifact]:
    """The hospital's generated DICOM objects (SR, SEG) that carry a SOP Instance UID, with their study."""
    return (AssessmentArtifact.objects.for_tenant(tenant).filter(kind__in=ARTIFACT_KINDS)
            .exclude(sop_instance_uid="").select_related("assessment__instance__study"))


def _image_object(row: ImageInstance) -> DicomObject:
    return DicomObject(
        study_uid=row.study.study_instance_uid, series_uid=row.series_instance_uid, sop_uid=row.sop_instance_uid,
        sop_class_uid=row.sop_class_uid, modality=row.modality, instance_number=row.instance_number, rows=row.rows,
        columns=row.columns, transfer_syntax_uid=row.transfer_syntax_uid, storage_key=row.storage_key,
        sha256=row.sha256, accession_number=row.study.accession_number, study_date=row.study.study_date,
        source="image")


def _artifact_object(row: AssessmentArtifact) -> DicomObject | None:
    facts = _artifact_header(row.storage_key, row.sha256)
    if facts is None or not facts.series_uid:
        return None
    study = row.assessment.instance.study
    return DicomObject(
        study_uid=study.study_instance_uid, series_uid=facts.series_uid, sop_uid=row.sop_instance_uid,
        sop_class_uid=facts.sop_class_uid, modality=facts.modality or ARTIFACT_MODALITY.get(row.kind, ""),
        instance_number=facts.instance_number, rows=None, columns=None,
        transfer_syntax_uid=facts.transfer_syntax_uid, storage_key=row.storage_key, sha256=row.sha256,
        accession_number=study.accession_number, study_date=study.study_date, source=row.kind,
        assessment_id=str(row.assessment_id))


@dataclass
class ObjectFilter:
    """Matching keys of a series or instance query (values already parsed; empty means universal match)."""

    study_uids: list[str] | None = None
    series_uids: list[str] | None = None
    sop_uids: list[str] | None = None
    sop_class_uids: list[str] | None = None
    modalities: list[str] | None = None
    accession: str | None = None
    date_range: tuple[dt.date | None, dt.date | None] | None = None


def wildcard_regex(value: str) -> str:
    """DICOM wildcard matching (`*` any run, `?` one character) as an anchored regular expression."""
    return "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value) + "$"


def _study_q(prefix: str, f: ObjectFilter) -> Q:
    q = Q()
    if f.study_uids:
        q &= Q(**{f"{prefix}study_instance_uid__in": f.study_uids})
    if f.accession:
        if "*" in f.accession or "?" in f.accession:
            q &= Q(**{f"{prefix}accession_number__regex": wildcard_regex(f.accession)})
        else:
            q &= Q(**{f"{prefix}accession_number": f.accession})
    if f.date_range:
        start, end = f.date_range
        if start:
            q &= Q(**{f"{prefix}study_date__gte": start})
        if end:
            q &= Q(**{f"{prefix}study_date__lte": end})
    return q


def _images_matching(tenant: Tenant, match: ObjectFilter) -> QuerySet[ImageInstance]:
    images = dicom_images(tenant=tenant).filter(_study_q("study__", match))
    if match.series_uids:
        images = images.filter(series_instance_uid__in=match.series_uids)
    if match.sop_uids:
        images = images.filter(sop_instance_uid__in=match.sop_uids)
    if match.sop_class_uids:
        images = images.filter(sop_class_uid__in=match.sop_class_uids)
    if match.modalities:
        images = images.filter(modality__in=match.modalities)
    return images


def _artifacts_matching(tenant: Tenant, match: ObjectFilter) -> list[DicomObject]:
    artifacts = dicom_artifacts(tenant=tenant).filter(_study_q("assessment__instance__study__", match))
    if match.sop_uids:
        artifacts = artifacts.filter(sop_instance_uid__in=match.sop_uids)
    if match.modalities:
        kinds = [kind for kind, modality in ARTIFACT_MODALITY.items() if modality in match.modalities]
        artifacts = artifacts.filter(kind__in=kinds)
    found = []
    for row in artifacts.order_by("created_at", "id"):
        obj = _artifact_object(row)
        if obj is None:
            continue
        if match.series_uids and obj.series_uid not in match.series_uids:
            continue
        if match.sop_class_uids and obj.sop_class_uid not in match.sop_class_uids:
            continue
        found.append(obj)
    return found


def objects_matching(*, tenant: Tenant, match: ObjectFilter, max_results: int | None = None) -> list[DicomObject]:
    """The hospital's DICOM objects that match, images first then generated objects, in a stable order.

    `max_results` bounds what is read (a QIDO page asks for offset + limit + 1): the database slices the images,
    and generated objects are only read when the images do not fill the page.
    """
    images = _images_matching(tenant, match).order_by("study__created_at", "series_instance_uid",
                                                      "instance_number", "created_at", "id")
    if max_results is not None:
        images = images[:max_results]
    found = [_image_object(row) for row in images]
    if max_results is None or len(found) < max_results:
        found += _artifacts_matching(tenant, match)
    # One SOP Instance appears once even if two stored files claim it (the first stored wins).
    seen, unique = set(), []
    for obj in found:
        if obj.sop_uid not in seen:
            seen.add(obj.sop_uid)
            unique.append(obj)
    return unique[:max_results] if max_results is not None else unique


@dataclass(frozen=True)
class SeriesSummary:
    study_uid: str
    series_uid: str
    modality: str
    instances: int


def series_matching(*, tenant: Tenant, match: ObjectFilter, max_results: int) -> list[SeriesSummary]:
    """The hospital's series that match (counted in the database), image series first, at most `max_results`."""
    rows = (_images_matching(tenant, match)
            .values("study__study_instance_uid", "series_instance_uid")
            .annotate(instances=Count("id"), modality=Max("modality"), first=Min("created_at"))
            .order_by("first", "series_instance_uid")[:max_results])
    found = [SeriesSummary(study_uid=row["study__study_instance_uid"], series_uid=row["series_instance_uid"],
                           modality=row["modality"] or "", instances=row["instances"]) for row in rows]
    if len(found) < max_results:
        groups: dict[tuple[str, str], list[DicomObject]] = {}
        for obj in _artifacts_matching(tenant, match):
            groups.setdefault((obj.study_uid, obj.series_uid), []).append(obj)
        known = {(s.study_uid, s.series_uid) for s in found}
        for (study_uid, series_uid), members in groups.items():
            if (study_uid, series_uid) not in known:
                found.append(SeriesSummary(study_uid=study_uid, series_uid=series_uid,
                                           modality=members[0].modality, instances=len(members)))
    return found[:max_results]


@dataclass
class StudySummary:
    instances: int = 0
    series: set[str] = field(default_factory=set)
    modalities: set[str] = field(default_factory=set)


def study_summaries(*, tenant: Tenant, study_uids: list[str]) -> dict[str, StudySummary]:
    """Instance and series counts and modalities of a page of studies (images aggregated in the database)."""
    from django.contrib.postgres.aggregates import ArrayAgg

    summaries = {uid: StudySummary() for uid in study_uids}
    rows = (dicom_images(tenant=tenant).filter(study__study_instance_uid__in=study_uids)
            .values("study__study_instance_uid")
            .annotate(instances=Count("id"), series=ArrayAgg("series_instance_uid", distinct=True),
                      modalities=ArrayAgg("modality", distinct=True)))
    for row in rows:
        summary = summaries[row["study__study_instance_uid"]]
        summary.instances += row["instances"]
        summary.series.update(row["series"])
        summary.modalities.update(m for m in row["modalities"] if m)
    for obj in _artifacts_matching(tenant, ObjectFilter(study_uids=study_uids)):
        summary = summaries[obj.study_uid]
        summary.instances += 1
        summary.series.add(obj.series_uid)
        if obj.modality:
            summary.modalities.add(obj.modality)
    return summaries


def study_uid_known(*, tenant: Tenant, study_uid: str) -> bool:
    """Whether the hospital holds a DICOM object in this study (other hospitals' studies are unknown here)."""
    return studies_matching(tenant=tenant, match=ObjectFilter(study_uids=[study_uid])).exists()


def studies_matching(*, tenant: Tenant, match: ObjectFilter) -> QuerySet[Study]:
    """The hospital's studies holding at least one DICOM object and matching the study-level keys.

    `match.modalities` is ModalitiesInStudy: a study matches when any of its objects has one of them.
    """
    has_dicom = (Q(instances__content_type=DICOM) & ~Q(instances__sop_instance_uid="")) | Q(
        instances__assessments__artifacts__kind__in=ARTIFACT_KINDS)
    ids = Study.objects.for_tenant(tenant).filter(has_dicom).filter(_study_q("", match))
    if match.modalities:
        kinds = [kind for kind, modality in ARTIFACT_MODALITY.items() if modality in match.modalities]
        ids = ids.filter(Q(instances__content_type=DICOM, instances__modality__in=match.modalities)
                         | Q(instances__assessments__artifacts__kind__in=kinds))
    # Filtering across the joins repeats a study once per matching row: select the distinct ids, then the rows.
    return Study.objects.for_tenant(tenant).filter(pk__in=ids.values("pk")).order_by("-created_at", "id")
