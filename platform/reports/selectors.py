"""Reads of report artifacts, always within one hospital (the fail-closed manager needs its context)."""
from __future__ import annotations

from django.db.models import QuerySet

from inference.models import Assessment, AssessmentArtifact


def artifacts_of(*, assessment: Assessment) -> QuerySet[AssessmentArtifact]:
    return AssessmentArtifact.objects.filter(tenant_id=assessment.tenant_id, assessment=assessment)


def artifact_named(*, assessment: Assessment, name: str) -> AssessmentArtifact | None:
    return artifacts_of(assessment=assessment).filter(name=name).first()


def mask_artifacts(*, assessment: Assessment) -> QuerySet[AssessmentArtifact]:
    return artifacts_of(assessment=assessment).filter(kind=AssessmentArtifact.Kind.MASK).order_by("name")
