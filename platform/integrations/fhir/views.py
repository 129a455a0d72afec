"""FHIR R4 endpoints: metadata, DiagnosticReport read and search, ServiceRequest create and read.

Reads are audited like the REST API (`assessment.read`, `assessment.list`); an order is `assessment.upload` in the
same transaction as the assessment it creates.
"""
from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from api.auditing import audit_or_fail
from api.problems import ApiProblem
from inference import selectors as inference_selectors
from inference import services as inference_services
from inference.models import Assessment
from integrations.fhir import orders
from integrations.fhir.base import FhirJSONParser, FhirView, _as_outcome, fhir_response
from integrations.fhir.capability import capability_statement
from integrations.fhir.search import SearchInvalid, parse_count, parse_offset, reports_search
from reports.fhir import ASSESSMENT_SYSTEM, diagnostic_report_resource, fhir_base_url
from reports.results import assessment_title
from studies import storage
from studies.imaging import ImageRejected
from tenants.roles import Capability

# Guard before reading a JSON body: base64 grows the image by 4/3, plus the resource around it.
_BODY_OVERHEAD_BYTES = 1024 * 1024


_OUTCOME = OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome")


def _fhir(operation_id: str, summary: str, status: int = 200, request: bool = False, parameters=None):
    """OpenAPI description of a FHIR operation: FHIR JSON in and out, OperationOutcome on errors."""
    return extend_schema(
        operation_id=operation_id, summary=summary, tags=["fhir"], parameters=parameters,
        request={"application/fhir+json": OpenApiTypes.OBJECT} if request else None,
        responses={(status, "application/fhir+json"): OpenApiTypes.OBJECT,
                   (200, "application/fhir+json"): OpenApiTypes.OBJECT,
                   **{(code, "application/fhir+json"): _OUTCOME for code in (400, 401, 403, 404, 409, 413, 415,
                                                                             422, 429, 503)}})


def _not_found() -> ApiProblem:
    return ApiProblem(status=404, code="assessment_not_found",
                      detail="No resource with this id exists for your hospital.")


class MetadataView(APIView):
    """GET /fhir/r4/metadata: the CapabilityStatement. Public, as FHIR clients expect; it holds no hospital data."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [FhirJSONParser]

    @_fhir("fhir_metadata", "CapabilityStatement")
    def get(self, request):
        return fhir_response(capability_statement())

    def handle_exception(self, exc):
        return _as_outcome(super().handle_exception(exc))


class DiagnosticReportReadView(FhirView):
    required_capabilities = {"GET": Capability.READ}

    @_fhir("fhir_diagnostic_report_read", "Read one of the hospital's DiagnosticReports")
    def get(self, request, report_id):
        assessment = inference_selectors.assessment_for_tenant(tenant=self.tenant, assessment_id=report_id)
        if assessment is None:
            raise _not_found()
        resource = diagnostic_report_resource(assessment)
        audit_or_fail(request, event="assessment.read", tenant=self.tenant, assessment=assessment,
                      details={"via": "fhir"})
        return fhir_response(resource, headers={"Last-Modified": _http_date(assessment)})


def _http_date(assessment: Assessment) -> str:
    from django.utils.http import http_date

    from reports.fhir import last_updated

    return http_date(last_updated(assessment).timestamp())


class DiagnosticReportSearchView(FhirView):
    """GET /fhir/r4/DiagnosticReport?status=&_lastUpdated=&based-on=&_count=&_offset=: a searchset Bundle."""

    required_capabilities = {"GET": Capability.READ}

    @_fhir("fhir_diagnostic_report_search", "Search the hospital's DiagnosticReports (searchset Bundle)",
           parameters=[
               OpenApiParameter("status", str, description="registered, preliminary, cancelled (comma list)"),
               OpenApiParameter("_lastUpdated", str, many=True, description="FHIR date with prefix, e.g. ge2026-01-01"),
               OpenApiParameter("based-on", str, description="ServiceRequest/<id>"),
               OpenApiParameter("_count", int, description="page size (default 20, at most 100)"),
               OpenApiParameter("_offset", int, description="paging; follow the Bundle's next link"),
           ])
    def get(self, request):
        params = request.query_params
        try:
            count = parse_count(params.get("_count"))
            offset = parse_offset(params.get("_offset"))
            queryset = reports_search(inference_selectors.assessments_for_tenant(tenant=self.tenant), params)
        except SearchInvalid as exc:
            raise ApiProblem(status=400, code="invalid_search_parameter", detail=str(exc)) from None
        total = queryset.count()
        page = list(queryset[offset:offset + count]) if count else []
        audit_or_fail(request, event="assessment.list", tenant=self.tenant,
                      details={"assessment_ids": [str(a.pk) for a in page], "count": len(page), "via": "fhir"})
        base = fhir_base_url()
        kept = [(key, value) for key in params for value in params.getlist(key) if key not in ("_offset",)]
        links = [{"relation": "self", "url": f"{base}/DiagnosticReport?" + urlencode(kept + [("_offset", offset)])}]
        if count and offset + count < total:
            links.append({"relation": "next",
                          "url": f"{base}/DiagnosticReport?" + urlencode(kept + [("_offset", offset + count)])})
        if offset > 0 and count:
            links.append({"relation": "previous", "url": f"{base}/DiagnosticReport?"
                          + urlencode(kept + [("_offset", max(0, offset - count))])})
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "timestamp": timezone.now().isoformat(),
            "link": links,
            "entry": [{"fullUrl": f"{base}/DiagnosticReport/{a.pk}", "resource": diagnostic_report_resource(a),
                       "search": {"mode": "match"}} for a in page],
        }
        return fhir_response(bundle)


def service_request_resource(assessment: Assessment, received: dict | None = None) -> dict:
    """The ServiceRequest of an assessment: id = assessment id; active until it ends (completed / revoked)."""
    status = {Assessment.Status.SUCCEEDED: "completed", Assessment.Status.FAILED: "revoked"}.get(
        assessment.status, "active")
    resource = {key: value for key, value in (received or {}).items() if key in (
        "contained", "subject", "supportingInfo", "identifier", "requester", "reasonCode", "note", "priority")}
    name = assessment.model_name
    codings = [c for c in ((received or {}).get("code") or {}).get("coding") or []
               if c.get("system") != ASSESSMENT_SYSTEM]
    if "subject" not in resource:
        resource["subject"] = {"display": "patient of the imaging study"}
    # Binary/Media images are not echoed back (they can be tens of megabytes); the study reference stays.
    if resource.get("contained"):
        resource["contained"] = [r for r in resource["contained"] if r.get("resourceType") not in ("Binary", "Media")]
        if not resource["contained"]:
            del resource["contained"]
    study_uid = assessment.instance.study.study_instance_uid
    resource.update({
        "resourceType": "ServiceRequest",
        "id": str(assessment.id),
        "meta": {"lastUpdated": (assessment.finished_at or assessment.created_at).isoformat()},
        "status": status,
        "intent": (received or {}).get("intent") or "order",
        "code": {"coding": [{"system": ASSESSMENT_SYSTEM, "code": name, "display": assessment_title(name)}]
                 + codings, "text": assessment_title(name)},
        "authoredOn": assessment.created_at.isoformat(),
    })
    supporting = [r for r in resource.get("supportingInfo") or [] if not str(r.get("reference", "")).startswith("#")
                  or any(f"#{c.get('id')}" == r.get("reference") for c in resource.get("contained") or [])]
    supporting.append({"type": "ImagingStudy", "identifier": {"system": "urn:dicom:uid",
                                                              "value": f"urn:oid:{study_uid}"}})
    resource["supportingInfo"] = supporting
    return resource


def _submit(*, tenant, files: list[tuple[bytes, str]], priority: str, **inputs):
    """Submit the order's images through inference.services.assessment_submit_files (one image, or the files of
    one series, with the order's priority)."""
    return inference_services.assessment_submit_files(
        tenant=tenant, files=[(name, data) for data, name in files], priority=priority, **inputs)


def _json_body(request):
    """The request's JSON (read once per request, kept for the Idempotency-Key check and the view), read here rather than through request.data: an order with inline images is far larger
    than Django's in-memory form limit (DATA_UPLOAD_MAX_MEMORY_SIZE), which is meant for forms, not for images.
    The bound is the upload limit, base64-expanded, plus the resource around it."""
    import json

    cached = getattr(request, "_fhir_json_body", None)
    if cached is not None:
        return cached
    media_type = (request.content_type or "").split(";")[0].strip().lower()
    if media_type not in ("application/fhir+json", "application/json"):
        raise ApiProblem(status=415, code="unsupported_media_type",
                         detail="Send the ServiceRequest as application/fhir+json.")
    limit = settings.MAX_UPLOAD_BYTES * 4 // 3 + _BODY_OVERHEAD_BYTES
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiProblem(status=413, code="file_too_large", detail="The ServiceRequest is too large.")
    raw = request._request.read(limit + 1)
    if len(raw) > limit:
        raise ApiProblem(status=413, code="file_too_large", detail="The ServiceRequest is too large.")
    try:
        request._fhir_json_body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiProblem(status=400, code="malformed_request", detail="The body is not valid JSON.") from None
    return request._fhir_json_body


class ServiceRequestCreateView(FhirView):
    """POST /fhir/r4/ServiceRequest: order an assessment. 201 (200 for a repeated order) with the ServiceRequest."""

    def parsed_body_for_idempotency(self, request):
        """The order as JSON, for the Idempotency-Key fingerprint (api.idempotency)."""
        return _json_body(request)

    required_capabilities = {"POST": Capability.SUBMIT}

    @_fhir("fhir_service_request_create", "Order an assessment", status=201, request=True)
    def post(self, request):
        body = _json_body(request)
        try:
            order = orders.order_parse(body)
            files = order.files
            if not files:
                instances = orders.study_files(tenant=self.tenant, study_uid=order.study_uid,
                                               series_uid=order.series_uid)
                files = [(storage.get_image(key=i.storage_key, expected_sha256=i.sha256),
                          i.storage_key.rsplit("/", 1)[-1]) for i in instances]
            with transaction.atomic():
                submission = _submit(tenant=self.tenant, files=files, priority=order.priority,
                                     model_name=order.model_name,
                                     patient_sex=order.patient_sex,
                                     chronological_age_months=order.chronological_age_months,
                                     submitted_by_user=self.acting_user, submitted_by_api_key=self.acting_api_key)
                audit_or_fail(request, event="assessment.upload", tenant=self.tenant,
                              assessment=submission.assessment,
                              details={"duplicate": not submission.created, "model": order.model_name,
                                       "via": "fhir"})
        except orders.OrderRejected as exc:
            raise ApiProblem(status=exc.status, code=exc.code, detail=exc.detail) from None
        except ImageRejected as exc:
            raise ApiProblem(status=exc.http_status, code=exc.code, detail=exc.message) from None
        except inference_services.SubmissionRejected as exc:
            raise ApiProblem(status=exc.http_status, code=exc.code, detail=exc.message, headers=exc.headers) \
                from None
        except (storage.StorageUnavailable, storage.StoredObjectMissing, storage.StoredObjectCorrupt):
            raise ApiProblem(status=503, code="storage_unavailable", headers={"Retry-After": "30"},
                             detail="The image store is unavailable; nothing was recorded. Try again shortly.") \
                from None
        assessment = submission.assessment
        location = f"{fhir_base_url()}/ServiceRequest/{assessment.id}"
        return fhir_response(service_request_resource(assessment, order.request),
                             status=201 if submission.created else 200,
                             headers={"Location": location, "Content-Location": location})


class ServiceRequestReadView(FhirView):
    """GET /fhir/r4/ServiceRequest/<id>: the order's state (the Location a create answers)."""

    required_capabilities = {"GET": Capability.READ}

    @_fhir("fhir_service_request_read", "Read an order")
    def get(self, request, request_id):
        assessment = inference_selectors.assessment_for_tenant(tenant=self.tenant, assessment_id=request_id)
        if assessment is None:
            raise _not_found()
        audit_or_fail(request, event="assessment.read", tenant=self.tenant, assessment=assessment,
                      details={"via": "fhir", "resource": "ServiceRequest"})
        return fhir_response(service_request_resource(assessment))
