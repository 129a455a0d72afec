"""Download routes of an assessment's results in the formats hospitals take: PDF, HTML, FHIR Bundle, DICOM SR/SEG.

Each is a download of patient data: audited (`assessment.download`, with the format) before anything is returned,
404 for another hospital's id, 409 `result_not_ready` before success.
"""
from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.renderers import BaseRenderer, JSONRenderer

from api.auditing import audit_or_fail
from api.base import TenantAPIView
from api.openapi import Problems
from api.problems import ApiProblem
from inference import selectors as inference_selectors
from inference.models import Assessment
from reports import selectors, services
from reports.fhir import FHIR_JSON
from studies import storage
from tenants.roles import Capability


class _AnyRenderer(BaseRenderer):
    """Lets any Accept header through: these routes answer files, and errors as problem JSON."""

    media_type = "*/*"
    format = "file"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, "application/json", renderer_context)


def _not_ready(assessment: Assessment) -> ApiProblem:
    detail = ("The assessment failed; it has no result to report." if assessment.status == Assessment.Status.FAILED
              else f"The assessment is {assessment.status}; its report exists once it has succeeded.")
    return ApiProblem(status=409, code="result_not_ready", detail=detail, extra={"status": assessment.status})


def _storage_problem() -> ApiProblem:
    return ApiProblem(status=503, code="storage_unavailable", headers={"Retry-After": "30"},
                      detail="The object store is unavailable; try again shortly.")


class _ReportDownloadView(TenantAPIView):
    required_capabilities = {"GET": Capability.READ}
    renderer_classes = [_AnyRenderer]
    artifact_name = ""
    missing_code = ""
    missing_detail = ""
    file_suffix = ""
    inline = False

    def assessment(self, assessment_id) -> Assessment:
        assessment = inference_selectors.assessment_for_tenant(tenant=self.tenant, assessment_id=assessment_id)
        if assessment is None:
            raise ApiProblem(status=404, code="assessment_not_found",
                             detail="No assessment with this id exists for your hospital.")
        if assessment.status != Assessment.Status.SUCCEEDED:
            raise _not_ready(assessment)
        return assessment

    def precheck(self, assessment: Assessment) -> None:
        """Refuse early what cannot exist (without building anything)."""

    def get(self, request, assessment_id):
        assessment = self.assessment(assessment_id)
        self.precheck(assessment)
        try:
            found = services.report_artifact_bytes(assessment=assessment, name=self.artifact_name)
        except services.ResultNotReady:
            raise _not_ready(assessment) from None
        except services.ArtifactUnbuildable as exc:
            raise ApiProblem(status=422, code="dicom_source_incomplete",
                             detail=f"This DICOM object cannot be built from the source images: {exc.reason}") \
                from None
        except storage.StorageUnavailable:
            raise _storage_problem() from None
        except (storage.StoredObjectMissing, storage.StoredObjectCorrupt):
            raise ApiProblem(status=503, code="storage_unavailable", headers={"Retry-After": "30"},
                             detail="A stored object of this report could not be read.") from None
        if found is None:
            raise ApiProblem(status=404, code=self.missing_code, detail=self.missing_detail)
        artifact, data = found
        audit_or_fail(request, event="assessment.download", tenant=self.tenant, assessment=assessment,
                      details={"format": self.artifact_name, "sha256": artifact.sha256})
        response = HttpResponse(data, content_type=artifact.content_type)
        disposition = "inline" if self.inline else "attachment"
        response["Content-Disposition"] = f'{disposition}; filename="{assessment.id}{self.file_suffix}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


def _documented(operation_id: str, media_type: str, summary: str, *, not_found: tuple[str, ...] = (),
                description: str = "", built_from_dicom: bool = False):
    """The view's OpenAPI operation: the file in its media type, and exactly the problems it can answer."""
    body = OpenApiTypes.OBJECT if media_type == FHIR_JSON else OpenApiTypes.BINARY
    # The FHIR Bundle is built on demand: no stored object to miss or fail to read.
    unavailable = ("audit_unavailable",) if media_type == FHIR_JSON else ("storage_unavailable", "audit_unavailable")
    return extend_schema_view(get=extend_schema(
        operation_id=operation_id, summary=summary, tags=["reports"],
        description=(description + " " if description else "") + "Audited as a download of the assessment. "
                    "Scope: `read`.",
        responses={(200, media_type): OpenApiResponse(body, description="The file."),
                   404: Problems("assessment_not_found", *not_found),
                   409: Problems("result_not_ready", description="The assessment has not succeeded (yet): the "
                                                                 "problem's `status` says what it is."),
                   **({422: Problems("dicom_source_incomplete", description="The source images lack what this DICOM "
                                                                            "object needs (e.g. a Frame of Reference "
                                                                            "UID); the other formats are built.")}
                      if built_from_dicom else {}),
                   503: Problems(*unavailable)}))


@_documented("assessment_report_pdf", "application/pdf", "The report as PDF (key images, values, models)",
             not_found=("report_unavailable",))
class ReportPdfView(_ReportDownloadView):
    artifact_name = services.PDF_NAME
    file_suffix = "-report.pdf"
    missing_code = "report_unavailable"
    missing_detail = "The report could not be rendered."


@_documented("assessment_report_html", "text/html", "The report as one self-contained HTML page",
             not_found=("report_unavailable",))
class ReportHtmlView(_ReportDownloadView):
    artifact_name = services.HTML_NAME
    file_suffix = "-report.html"
    inline = True
    missing_code = "report_unavailable"
    missing_detail = "The report could not be rendered."

    def get(self, request, assessment_id):
        response = super().get(request, assessment_id)
        # The page embeds everything as data URIs; nothing else may load (no script, no remote resource).
        response["Content-Security-Policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        return response


@_documented("assessment_dicom_sr", "application/dicom", "DICOM SR (TID 1500 measurement report)",
             not_found=("no_dicom_source",), built_from_dicom=True,
             description="Only for assessments of DICOM images (`no_dicom_source` otherwise).")
class DicomSrView(_ReportDownloadView):
    artifact_name = services.SR_NAME
    file_suffix = "-sr.dcm"
    missing_code = "no_dicom_source"
    missing_detail = "The assessed images were not DICOM, so there are no instances an SR could reference."


@_documented("assessment_dicom_seg", "application/dicom", "DICOM Segmentation of the masks",
             not_found=("no_segmentation",), built_from_dicom=True,
             description="Only for assessments of DICOM images that produce masks (`no_segmentation` otherwise).")
class DicomSegView(_ReportDownloadView):
    artifact_name = services.SEG_NAME
    file_suffix = "-seg.dcm"
    missing_code = "no_segmentation"
    missing_detail = "This assessment produced no segmentation masks."

    def precheck(self, assessment: Assessment) -> None:
        has_seg = selectors.artifact_named(assessment=assessment, name=services.SEG_NAME) is not None
        if not has_seg and not selectors.mask_artifacts(assessment=assessment).exists():
            raise ApiProblem(status=404, code=self.missing_code, detail=self.missing_detail)


@_documented("assessment_fhir", "application/fhir+json", "FHIR R4 DiagnosticReport Bundle")
class FhirBundleView(_ReportDownloadView):
    """The DiagnosticReport with its Observations and model Devices as a FHIR R4 `collection` Bundle."""

    def get(self, request, assessment_id):
        import json

        assessment = self.assessment(assessment_id)
        try:
            bundle = services.fhir_bundle(assessment=assessment)
        except services.ResultNotReady:
            raise _not_ready(assessment) from None
        audit_or_fail(request, event="assessment.download", tenant=self.tenant, assessment=assessment,
                      details={"format": "fhir"})
        return HttpResponse(json.dumps(bundle, ensure_ascii=False), content_type=FHIR_JSON)
