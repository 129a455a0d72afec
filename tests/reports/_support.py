"""Helpers of the report tests: finish an assessment with a given result, synthetic sources and masks."""
from __future__ import annotations

import numpy as np


def succeed(*, tenant, assessment_id, result: dict) -> None:
    """Move a queued assessment to succeeded with `result`, as the worker would (start, then succeed)."""
    from inference import services
    from tenants.context import tenant_context

    with tenant_context(tenant):
        services.assessment_start(assessment_id=assessment_id)
        services.assessment_succeed(assessment_id=assessment_id, result=result,
                                    served_version=result["model"]["version"])


def build_with_dicom_sources(*, tenant, assessment_id, datasets, masks=None):
    """Build the assessment's report artifacts over the given synthetic DICOM sources (and masks)."""
    from inference.models import Assessment
    from reports.services import report_artifacts_build
    from tenants.context import tenant_context

    with tenant_context(tenant):
        assessment = Assessment.objects.get(pk=assessment_id)
        return report_artifacts_build(assessment=assessment, source_datasets=datasets, masks=masks)


def ready_for_downloads(p: dict) -> None:
    """The audit suite's assessment (a PNG upload, queued): succeeded with a bone-age result, its SR and SEG built
    over a synthetic DICOM source so every download route has something to serve. Done once per principals."""
    if p.get("_reports_ready"):
        return
    from tests.reports._dicom import mammogram
    from tests.reports._results import bone_age_result

    tenant = p["hospital"].tenant
    succeed(tenant=tenant, assessment_id=p["assessment"], result=bone_age_result())
    source = mammogram()
    mask = np.zeros((1, int(source[0].Rows), int(source[0].Columns)), dtype=bool)
    mask[0, 10:20, 10:20] = True
    build_with_dicom_sources(tenant=tenant, assessment_id=p["assessment"], datasets=source,
                             masks={"lesion-1": mask})
    p["_reports_ready"] = True


def make_assessment(*, tenant, result: dict, datasets=None, status: str = "succeeded", demo: bool = True,
                    store: bool = False):
    """Rows of a finished assessment of `result` whose key image is the first of `datasets` (synthetic DICOM),
    without going through ingest. `store`: put that image's bytes in the object store as ingest would (needs
    the platform_settings fixture), so the platform can load its sources itself."""
    import hashlib
    import uuid

    from pydicom.uid import generate_uid

    from inference.models import Assessment
    from studies.models import ImageInstance, Study
    from tenants.context import tenant_context
    from tenants.storage_keys import study_object_key

    first = datasets[0] if datasets else None
    study_uid = str(first.StudyInstanceUID) if first is not None else generate_uid()
    series_uid = str(first.SeriesInstanceUID) if first is not None else generate_uid()
    data = b""
    if store and first is not None:
        import io

        buffer = io.BytesIO()
        first.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
    sha256 = hashlib.sha256(data or uuid.uuid4().bytes).hexdigest()
    with tenant_context(tenant):
        study, _ = Study.objects.get_or_create(tenant=tenant, study_instance_uid=study_uid)
        instance = ImageInstance.objects.create(
            tenant=tenant, study=study, series_instance_uid=series_uid,
            sop_instance_uid=str(first.SOPInstanceUID) if first is not None else "", sha256=sha256,
            size_bytes=len(data) or 1, content_type="application/dicom",
            storage_key=study_object_key(tenant_id=tenant.id, study_uid=study_uid, series_uid=series_uid,
                                         sha256=sha256, content_type="application/dicom"),
            modality=str(getattr(first, "Modality", "")), rows=int(getattr(first, "Rows", 8)),
            columns=int(getattr(first, "Columns", 8)))
        if data:
            from studies import storage

            storage.put_image(key=instance.storage_key, data=data, content_type="application/dicom", sha256=sha256)
        model = result["model"]
        from django.utils import timezone

        return Assessment.objects.create(
            tenant=tenant, instance=instance, model_name=result["assessment"], model_version=model["version"],
            model_precision=model["precision"], model_is_demo=demo, status=status,
            result=result if status == "succeeded" else None, stage_versions=model.get("stages", []),
            critical_findings=result.get("critical_findings", []), is_critical=bool(result.get("critical_findings")),
            finished_at=timezone.now() if status in ("succeeded", "failed") else None)


def make_series_assessment(*, tenant, result: dict, datasets, mask_npz: bytes | None = None):
    """A succeeded series assessment as ingest and the worker leave it: every slice stored, a Series whose members
    are in anatomical order (created here in reverse, so row order is not slice order), and the mask artifact."""
    import hashlib
    import io
    import uuid

    from django.utils import timezone

    from inference.models import Assessment, AssessmentArtifact
    from studies import storage
    from studies.models import ImageInstance, Series, SeriesMember, Study
    from tenants.context import tenant_context
    from tenants.storage_keys import derived_object_key, study_object_key

    first = datasets[0]
    with tenant_context(tenant):
        study, _ = Study.objects.get_or_create(tenant=tenant, study_instance_uid=str(first.StudyInstanceUID))
        instances = {}
        for position in reversed(range(len(datasets))):
            buffer = io.BytesIO()
            datasets[position].save_as(buffer, enforce_file_format=True)
            data = buffer.getvalue()
            sha256 = hashlib.sha256(data).hexdigest()
            key = study_object_key(tenant_id=tenant.id, study_uid=str(first.StudyInstanceUID),
                                   series_uid=str(first.SeriesInstanceUID), sha256=sha256,
                                   content_type="application/dicom")
            storage.put_image(key=key, data=data, content_type="application/dicom", sha256=sha256)
            instances[position] = ImageInstance.objects.create(
                tenant=tenant, study=study, series_instance_uid=str(first.SeriesInstanceUID),
                sop_instance_uid=str(datasets[position].SOPInstanceUID), sha256=sha256, size_bytes=len(data),
                content_type="application/dicom", storage_key=key, modality=str(first.Modality),
                rows=int(first.Rows), columns=int(first.Columns))
        series = Series.objects.create(tenant=tenant, study=study, series_instance_uid=str(first.SeriesInstanceUID),
                                       modality=str(first.Modality), content_sha256=uuid.uuid4().hex * 2,
                                       instance_count=len(datasets))
        for position in reversed(range(len(datasets))):
            SeriesMember.objects.create(tenant=tenant, series=series, instance=instances[position], position=position)
        model = result["model"]
        assessment = Assessment.objects.create(
            tenant=tenant, instance=instances[0], series=series, model_name=result["assessment"],
            model_version=model["version"], model_precision=model["precision"], model_is_demo=True,
            status="succeeded", result=result, stage_versions=model["stages"], finished_at=timezone.now())
        if mask_npz is not None:
            name = next(o["artifact"] for o in result["overlays"] if o["kind"] == "mask")
            key = derived_object_key(tenant_id=tenant.id, assessment_id=assessment.id, name=name)
            sha256 = hashlib.sha256(mask_npz).hexdigest()
            storage.put_image(key=key, data=mask_npz, content_type="application/octet-stream", sha256=sha256)
            AssessmentArtifact.objects.create(tenant=tenant, assessment=assessment, kind="mask", name=name,
                                              storage_key=key, sha256=sha256, size_bytes=len(mask_npz),
                                              content_type="application/octet-stream")
    return assessment
