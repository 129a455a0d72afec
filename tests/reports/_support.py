"""Helpers of the report tests: finish an assessment with a given result, synthetic sources and masks."""
from __future__ import annotations

import numpy as np


def succeed(*, tenant, assessment_id, result: dict) -> None:
    """Move a queued assessment to succeeded with `result`, as the worker would (start, then succeed)."""
    from inference import services
    from tenants.context import tenant_context

    with tenant_context(tenant):
        services.assessment_start(assessment_id=assessment_id)
        assert services.assessment_succeed(assessment_id=assessment_id, result=result,
                                           served_version=result["model"]["version"]) or True


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
