"""Building and storing an assessment's report artifacts: DICOM SR and SEG, HTML and PDF, once each.

`report_artifacts_build` is what the worker's task (reports.tasks.build_report_artifacts) and the download routes
call. Objects go to the hospital's prefix (tenants.storage_keys.derived_object_key) with SSE-S3, like the images;
each is an `inference.AssessmentArtifact` row. The assessment row is locked while building, so two builders (the
task and a download racing it) never both write; the object key carries the content hash, so a row always names
exactly the bytes it was written with.
"""
from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pydicom
from django.db import transaction

from inference.models import Assessment, AssessmentArtifact
from reports import selectors
from reports.dicom_seg import NoSegmentation, masks_from_npz, segmentation_build
from reports.dicom_sr import NoDicomSource, measurement_report_build
from reports.fhir import diagnostic_report_bundle
from reports.render import display_pixels, report_html, report_pdf
from reports.results import report_result
from studies import storage
from studies.imaging import ImageRejected, parse_upload
from tenants.storage_keys import derived_object_key

logger = logging.getLogger(__name__)

SR_NAME = "report-sr.dcm"
SEG_NAME = "report-seg.dcm"
HTML_NAME = "report.html"
PDF_NAME = "report.pdf"
DICOM = "application/dicom"

_KINDS = {
    SR_NAME: (AssessmentArtifact.Kind.DICOM_SR, DICOM),
    SEG_NAME: (AssessmentArtifact.Kind.DICOM_SEG, DICOM),
    HTML_NAME: (AssessmentArtifact.Kind.REPORT_HTML, "text/html; charset=utf-8"),
    PDF_NAME: (AssessmentArtifact.Kind.REPORT_PDF, "application/pdf"),
}


class ResultNotReady(Exception):
    """The assessment has not succeeded: there is nothing to report yet."""


@dataclass
class Sources:
    datasets: list  # pydicom datasets of the DICOM inputs, series order (empty for PNG/JPEG)
    images: "_Images"


class _Images(Sequence):
    """Display-ready images of the inputs, decoded only when a key image asks for one (a CT has hundreds)."""

    def __init__(self, loaders: list):
        self._loaders = loaders
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._loaders)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index not in self._cache:
            self._cache[index] = self._loaders[index]()
        return self._cache[index]


def _input_instances(assessment: Assessment) -> list:
    if assessment.series_id:
        members = assessment.series.members.select_related("instance").order_by("position")
        instances = [member.instance for member in members]
        if instances:
            return instances
    return [assessment.instance]


def _dicom_image_loader(instance):
    def load() -> np.ndarray:
        data = storage.get_image(key=instance.storage_key, expected_sha256=instance.sha256)
        return display_pixels(pydicom.dcmread(io.BytesIO(data)))
    return load


def sources_load(*, assessment: Assessment) -> Sources:
    """The assessment's inputs from object storage: DICOM headers (series order) and lazily decoded images.

    Only headers are kept (the SR and the SEG need geometry and UIDs, not pixels), so a CT of hundreds of slices
    costs its headers in memory; a key image's pixels are read again when the report draws it.
    Raises storage.StorageUnavailable / StoredObjectMissing / StoredObjectCorrupt."""
    datasets, loaders = [], []
    for instance in _input_instances(assessment):
        data = storage.get_image(key=instance.storage_key, expected_sha256=instance.sha256)
        if instance.content_type == DICOM:
            datasets.append(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True))
            loaders.append(_dicom_image_loader(instance))
        else:
            def load_plain(raw=data):
                try:
                    return parse_upload(raw).pixels
                except ImageRejected:
                    return np.zeros((8, 8), dtype=np.float32)
            loaders.append(load_plain)
    return Sources(datasets=datasets, images=_Images(loaders))


def masks_load(*, assessment: Assessment) -> dict[str, np.ndarray]:
    """Every mask artifact of the assessment (nodules.npz, cardiac_masks.npz), by segment label."""
    masks: dict[str, np.ndarray] = {}
    for artifact in selectors.mask_artifacts(assessment=assessment):
        data = storage.get_image(key=artifact.storage_key, expected_sha256=artifact.sha256)
        masks.update(masks_from_npz(data, assessment=assessment.model_name))
    return masks


def _dicom_bytes(dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _store(*, assessment: Assessment, name: str, data: bytes, sop_instance_uid: str = "") -> AssessmentArtifact:
    kind, content_type = _KINDS[name]
    sha256 = hashlib.sha256(data).hexdigest()
    key = derived_object_key(tenant_id=assessment.tenant_id, assessment_id=assessment.id,
                             name=f"{sha256[:16]}-{name}")
    storage.put_image(key=key, data=data, content_type=content_type.split(";")[0], sha256=sha256)
    return AssessmentArtifact.objects.create(
        tenant_id=assessment.tenant_id, assessment=assessment, kind=kind, name=name, storage_key=key,
        sha256=sha256, size_bytes=len(data), content_type=content_type, sop_instance_uid=sop_instance_uid)


@transaction.atomic
def report_artifacts_build(*, assessment: Assessment, source_datasets: Sequence | None = None,
                           masks: Mapping[str, np.ndarray] | None = None) -> dict[str, AssessmentArtifact]:
    """Build and store what is missing of the SR, the SEG (when there are masks), the HTML and the PDF report.

    `source_datasets` (pydicom datasets in series order) and `masks` (segment label -> boolean array per
    instance) default to the stored inputs and mask artifacts. Idempotent: artifacts already stored are kept and
    returned. Returns the artifacts by name (SR absent when the inputs are not DICOM or cannot carry it, SEG
    absent without masks). Raises ResultNotReady before success, and storage errors (StorageUnavailable...).
    """
    built, _unbuildable = _artifacts_build(assessment=assessment, source_datasets=source_datasets, masks=masks)
    return built


@transaction.atomic
def _artifacts_build(*, assessment: Assessment, source_datasets: Sequence | None = None,
                     masks: Mapping[str, np.ndarray] | None = None
                     ) -> tuple[dict[str, AssessmentArtifact], dict[str, str]]:
    """report_artifacts_build, also returning why a DICOM object could not be built: (built, {name: reason})."""
    # of=("self",): the series join is nullable, and only the assessment row is the lock.
    locked = (Assessment.objects.select_for_update(of=("self",))
              .select_related("instance", "instance__study", "series").get(pk=assessment.pk))
    if locked.status != Assessment.Status.SUCCEEDED or locked.result is None:
        raise ResultNotReady(str(locked.pk))
    existing = {artifact.name: artifact for artifact in selectors.artifacts_of(assessment=locked)}
    wanted = {SR_NAME, SEG_NAME, HTML_NAME, PDF_NAME} - set(existing)
    if not wanted:
        return existing, {}
    unbuildable: dict[str, str] = {}
    result = report_result(locked)
    if source_datasets is not None:
        datasets = list(source_datasets)
        images: Sequence = _Images([lambda ds=ds: display_pixels(ds) for ds in datasets])
    else:
        sources = sources_load(assessment=locked)
        datasets, images = sources.datasets, sources.images
    if masks is None:
        masks = masks_load(assessment=locked)
    built = dict(existing)
    if SR_NAME in wanted:
        try:
            sr = measurement_report_build(result=result, source_datasets=datasets)
            built[SR_NAME] = _store(assessment=locked, name=SR_NAME, data=_dicom_bytes(sr),
                                    sop_instance_uid=str(sr.SOPInstanceUID))
        except NoDicomSource:
            pass
        except (ValueError, AttributeError, TypeError) as exc:
            # A source header the DICOM object cannot be built from (e.g. no Frame of Reference UID): the other
            # formats are still built; asking for this one answers 422 with the reason (no patient data in it).
            unbuildable[SR_NAME] = _reason(exc)
            logger.warning("assessment %s: SR not built (%s)", locked.pk, type(exc).__name__)
    if SEG_NAME in wanted and masks and datasets:
        try:
            seg = segmentation_build(masks=masks, source_datasets=datasets, result=result)
            built[SEG_NAME] = _store(assessment=locked, name=SEG_NAME, data=_dicom_bytes(seg),
                                     sop_instance_uid=str(seg.SOPInstanceUID))
        except NoSegmentation:
            pass
        except (ValueError, AttributeError, TypeError) as exc:
            unbuildable[SEG_NAME] = _reason(exc)
            logger.warning("assessment %s: SEG not built (%s)", locked.pk, type(exc).__name__)
    if HTML_NAME in wanted or PDF_NAME in wanted:
        html = report_html(result=result, assessment=locked, images=images, masks=masks)
        if HTML_NAME in wanted:
            built[HTML_NAME] = _store(assessment=locked, name=HTML_NAME, data=html.encode("utf-8"))
        if PDF_NAME in wanted:
            built[PDF_NAME] = _store(assessment=locked, name=PDF_NAME, data=report_pdf(html))
    return built, unbuildable


class ArtifactUnbuildable(Exception):
    """The source instances lack what this DICOM object needs; `reason` says what, without patient data."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _reason(exc: Exception) -> str:
    text = str(exc).split("\n")[0][:200]
    # highdicom's messages name attributes and IODs, never values; keep them, drop anything that looks like one.
    return text if "=" not in text else type(exc).__name__


def report_artifact_bytes(*, assessment: Assessment, name: str) -> tuple[AssessmentArtifact, bytes] | None:
    """The stored artifact `name` and its bytes, building the report artifacts first if it is missing.

    None when it cannot exist (no DICOM inputs for an SR, no masks for a SEG). Raises ResultNotReady and the
    storage errors."""
    artifact = selectors.artifact_named(assessment=assessment, name=name)
    if artifact is None:
        built, unbuildable = _artifacts_build(assessment=assessment)
        artifact = built.get(name)
        if artifact is None and name in unbuildable:
            raise ArtifactUnbuildable(unbuildable[name])
    if artifact is None:
        return None
    return artifact, storage.get_image(key=artifact.storage_key, expected_sha256=artifact.sha256)


def fhir_bundle(*, assessment: Assessment) -> dict:
    """The DiagnosticReport Bundle of a succeeded assessment (built on demand: it is small and always current)."""
    if assessment.status != Assessment.Status.SUCCEEDED or assessment.result is None:
        raise ResultNotReady(str(assessment.pk))
    return diagnostic_report_bundle(assessment)


def report_artifacts_enqueue(*, assessment: Assessment, queue: str | None = None) -> bool:
    """Publish the task that builds the assessment's report artifacts (call after it succeeded, on commit), on
    `queue` (default: Celery's default queue).

    A broker outage is not fatal: the download routes build whatever is missing on first request. Returns whether
    the task was published."""
    from reports.tasks import build_report_artifacts

    try:
        build_report_artifacts.apply_async(
            kwargs={"tenant_id": str(assessment.tenant_id), "assessment_id": str(assessment.id)},
            queue=queue,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        )
    except Exception as exc:  # kombu raises several unrelated types for an unreachable broker
        logger.warning("could not publish the report build of %s (%s)", assessment.id, type(exc).__name__)
        return False
    return True
