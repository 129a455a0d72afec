"""DICOMweb (PS3.18) for PACS: STOW-RS, QIDO-RS and WADO-RS over the hospital's own DICOM objects.

Authenticated like the HIS API (`Authorization: Api-Key ...`, or a signed-in person), tenant-scoped by
api.base.TenantAPIView, and audited: every search writes `dicom.query`, every retrieval `dicom.retrieve` and every
store `dicom.store` before anything is answered. Errors are RFC 9457 problems, except the per-instance outcome of
STOW-RS, which is the standard's Store Instances Response (application/dicom+json).
"""
from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from pydicom.dataset import Dataset
from rest_framework.renderers import JSONRenderer

from api.auditing import audit_or_fail
from api.base import TenantAPIView
from api.problems import ApiProblem
from audit.events import Outcome
from audit.pseudonym import patient_reference
from integrations.dicomweb import qido, selectors, services
from integrations.dicomweb.multipart import (
    BodyTooLarge,
    MalformedMultipart,
    SpooledBody,
    iter_parts,
    multipart_chunks,
    new_boundary,
    parse_media_type,
    split_accept,
)
from integrations.dicomweb.selectors import DicomObject, ObjectFilter
from studies import storage
from tenants.roles import Capability

logger = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
_JSON_TYPES = {DICOM_JSON, "application/json", "application/*", "*/*"}
_AUDIT_LIST_CAP = 200  # UIDs named in one audit event; the count is always exact


def _dicom_json_response(body, *, status: int = 200, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type=DICOM_JSON)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _not_found(code: str, what: str) -> ApiProblem:
    return ApiProblem(status=404, code=code, detail=f"No {what} with this UID exists for your hospital.")


def _storage_problem() -> ApiProblem:
    return ApiProblem(status=503, code="storage_unavailable", headers={"Retry-After": "30"},
                      detail="The image store is unavailable; nothing was stored or sent. Try again shortly.")


class DicomWebView(TenantAPIView):
    """Base of the DICOMweb views: the tenant, capabilities and refusals of the API, DICOMweb media types."""

    required_capabilities = {"GET": Capability.READ}

    def perform_content_negotiation(self, request, force=False):
        # DICOMweb media types (application/dicom+json, multipart/related) are negotiated by the views themselves;
        # DRF's renderer negotiation would refuse them. Problems are rendered as application/problem+json.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    # --- helpers shared by the transactions -------------------------------------------------------------------
    def url(self, name: str, **kwargs) -> str:
        return self.request.build_absolute_uri(reverse(f"dicomweb:{name}", kwargs=kwargs))

    def require_json_accept(self) -> None:
        accept = self.request.META.get("HTTP_ACCEPT", "")
        if accept and not any(r.type in _JSON_TYPES for r in split_accept(accept)):
            raise ApiProblem(status=406, code="not_acceptable",
                             detail="This resource is available as application/dicom+json only.")

    def objects(self, match: ObjectFilter) -> list[DicomObject]:
        return selectors.objects_matching(tenant=self.tenant, match=match)

    def study_or_404(self, study_uid: str) -> None:
        if not selectors.study_uid_known(tenant=self.tenant, study_uid=study_uid):
            raise _not_found("study_not_found", "study")

    def audit_query(self, *, level: str, study_uids: list[str], count: int) -> None:
        audit_or_fail(self.request, event="dicom.query", tenant=self.tenant,
                      study_instance_uid=study_uids[0] if len(set(study_uids)) == 1 else "",
                      details={"level": level, "count": count,
                               "study_instance_uids": sorted(set(study_uids))[:_AUDIT_LIST_CAP]})

    def audit_retrieve(self, *, level: str, objects: list[DicomObject], metadata: bool) -> None:
        first_image = next((o for o in objects if o.source == "image"), objects[0])
        audit_or_fail(self.request, event="dicom.retrieve", tenant=self.tenant,
                      study_instance_uid=objects[0].study_uid,
                      patient_ref=patient_reference(tenant_id=self.tenant.pk, patient_key=first_image.sha256),
                      details={"level": level, "metadata": metadata, "instances": len(objects),
                               "sop_instance_uids": [o.sop_uid for o in objects][:_AUDIT_LIST_CAP],
                               "assessment_ids": sorted({o.assessment_id for o in objects if o.assessment_id})})


# --------------------------------------------------------------------------------------------------------------
# STOW-RS
# --------------------------------------------------------------------------------------------------------------
class StowMixin:
    def stow(self, request, study_uid: str | None):
        media = parse_media_type(request.META.get("CONTENT_TYPE", ""))
        if media.type != "multipart/related" or media.params.get("type", "").lower() != "application/dicom":
            raise ApiProblem(status=415, code="unsupported_media_type",
                             detail='Send instances as multipart/related; type="application/dicom".')
        boundary = media.params.get("boundary")
        if not boundary:
            raise ApiProblem(status=400, code="malformed_multipart", detail="The Content-Type names no boundary.")
        limit = settings.DICOMWEB_MAX_REQUEST_BYTES
        declared = request.META.get("CONTENT_LENGTH")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _request_too_large(limit)
        try:
            with SpooledBody(_body_stream(request._request), limit=limit) as body:
                parts = ((part.content_type.type, bytes(body.buffer[part.start:part.end]))
                         for part in iter_parts(body.buffer, boundary))
                outcome = services.stow_store(tenant=self.tenant, instances=parts, study_uid=study_uid,
                                              on_done=lambda result: self._audit_store(result, study_uid))
        except BodyTooLarge:
            raise _request_too_large(limit) from None
        except MalformedMultipart:
            raise ApiProblem(status=400, code="malformed_multipart",
                             detail="The body is not a multipart/related message with the declared boundary; "
                                    "nothing was stored.") from None
        if not outcome.stored and not outcome.failed:
            raise ApiProblem(status=400, code="no_instances", detail="The request holds no instance to store.")
        if outcome.storage_down:
            raise _storage_problem()
        return self._store_response(outcome, study_uid)

    def _audit_store(self, outcome: services.StowOutcome, study_uid: str | None) -> None:
        studies = sorted({s.study_uid for s in outcome.stored})
        first = outcome.stored[0] if outcome.stored else None
        audit_or_fail(
            self.request, event="dicom.store", tenant=self.tenant,
            outcome=Outcome.SUCCESS if outcome.stored else Outcome.MINOR_FAILURE,
            study_instance_uid=study_uid or (studies[0] if len(studies) == 1 else ""),
            patient_ref=patient_reference(tenant_id=self.tenant.pk, patient_key=first.patient_key) if first else "",
            details={"stored": sum(1 for s in outcome.stored if s.created),
                     "already_held": sum(1 for s in outcome.stored if not s.created),
                     "failed": len(outcome.failed),
                     "failure_codes": sorted({f.code for f in outcome.failed}),
                     "sop_instance_uids": [s.sop_instance_uid for s in outcome.stored][:_AUDIT_LIST_CAP],
                     "study_instance_uids": studies[:_AUDIT_LIST_CAP]})

    def _store_response(self, outcome: services.StowOutcome, study_uid: str | None) -> HttpResponse:
        ds = Dataset()
        studies = {s.study_uid for s in outcome.stored}
        if study_uid or len(studies) == 1:
            ds.RetrieveURL = self.url("study", study_uid=study_uid or next(iter(studies)))
        if outcome.failed:
            failed = []
            for failure in outcome.failed:
                item = Dataset()
                if failure.sop_class_uid:
                    item.ReferencedSOPClassUID = failure.sop_class_uid
                if failure.sop_instance_uid:
                    item.ReferencedSOPInstanceUID = failure.sop_instance_uid
                item.FailureReason = failure.reason
                failed.append(item)
            ds.FailedSOPSequence = failed
        if outcome.stored:
            referenced = []
            for stored in outcome.stored:
                item = Dataset()
                item.ReferencedSOPClassUID = stored.sop_class_uid
                item.ReferencedSOPInstanceUID = stored.sop_instance_uid
                item.RetrieveURL = self.url("instance", study_uid=stored.study_uid, series_uid=stored.series_uid,
                                            sop_uid=stored.sop_instance_uid)
                referenced.append(item)
            ds.ReferencedSOPSequence = referenced
        # PS3.18 10.5.3: 200 every instance stored, 202 some stored (or warnings), 409 none stored.
        status = 409 if not outcome.stored else 202 if outcome.failed else 200
        return _dicom_json_response(ds.to_json_dict(), status=status)


def _body_stream(django_request):
    """The request body as a stream, also for `Transfer-Encoding: chunked` (dicomweb-client and most PACS send
    large STOW-RS requests chunked). Django reads only Content-Length bodies; gunicorn (the production server)
    de-chunks the body and marks its input `wsgi.input_terminated`, so it can be read to its end. A server that
    does not (Django's development server) cannot deliver a chunked body: 411."""
    meta = django_request.META
    if meta.get("CONTENT_LENGTH") or "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return django_request
    if meta.get("wsgi.input_terminated"):
        return meta["wsgi.input"]
    raise ApiProblem(status=411, code="length_required",
                     detail="This server cannot read a chunked request body; send Content-Length.")


def _request_too_large(limit: int) -> ApiProblem:
    return ApiProblem(status=413, code="request_too_large",
                      detail=f"A STOW-RS request may carry at most {limit // (1024 * 1024)} MiB; send the "
                             "instances in several requests.")


# --------------------------------------------------------------------------------------------------------------
# WADO-RS
# --------------------------------------------------------------------------------------------------------------
class RetrieveMixin:
    def retrieve(self, objects: list[DicomObject], level: str) -> StreamingHttpResponse:
        self._check_multipart_accept(objects)
        self.audit_retrieve(level=level, objects=objects, metadata=False)
        # The first object is read before answering, so a store outage is a 503, not a truncated 200.
        try:
            first = storage.get_image(key=objects[0].storage_key, expected_sha256=objects[0].sha256)
        except storage.StorageUnavailable:
            raise _storage_problem() from None
        except (storage.StoredObjectMissing, storage.StoredObjectCorrupt):
            raise ApiProblem(status=503, code="stored_object_unavailable",
                             detail="A stored instance cannot be read back intact; operators were alerted.") from None
        boundary = new_boundary()

        def parts():
            yield _part_type(objects[0]), first
            for obj in objects[1:]:
                # Read one instance at a time: a large study never sits in the web process's memory at once.
                yield _part_type(obj), storage.get_image(key=obj.storage_key, expected_sha256=obj.sha256)

        response = StreamingHttpResponse(multipart_chunks(parts(), boundary),
                                         content_type=f'multipart/related; type="application/dicom"; '
                                                      f'boundary={boundary}')
        return response

    def _check_multipart_accept(self, objects: list[DicomObject]) -> None:
        accept = self.request.META.get("HTTP_ACCEPT", "")
        if not accept:
            return
        usable = [r for r in split_accept(accept) if r.type in {"*/*", "multipart/*"} or (
            r.type == "multipart/related" and r.params.get("type", "application/dicom").lower()
            in {"application/dicom", "application/*", "*/*"})]
        if not usable:
            raise ApiProblem(status=406, code="not_acceptable",
                             detail='Instances are available as multipart/related; type="application/dicom".')
        syntaxes = {r.params.get("transfer-syntax", "*") for r in usable}
        if "*" in syntaxes:
            return
        if any(o.transfer_syntax_uid and o.transfer_syntax_uid not in syntaxes for o in objects):
            raise ApiProblem(status=406, code="transfer_syntax_unavailable",
                             detail="Instances are served in the transfer syntax they were stored in (no "
                                    "transcoding); ask with transfer-syntax=* or the stored syntax.")

    def metadata(self, objects: list[DicomObject], level: str) -> HttpResponse:
        import io
        import warnings

        import pydicom

        self.require_json_accept()
        self.audit_retrieve(level=level, objects=objects, metadata=True)
        body = []
        for obj in objects:
            try:
                data = storage.get_image(key=obj.storage_key, expected_sha256=obj.sha256)
            except storage.StorageUnavailable:
                raise _storage_problem() from None
            except (storage.StoredObjectMissing, storage.StoredObjectCorrupt):
                raise ApiProblem(status=503, code="stored_object_unavailable",
                                 detail="A stored instance cannot be read back intact; operators were alerted.") \
                    from None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
                body.append(ds.to_json_dict(suppress_invalid_tags=True))
        return _dicom_json_response(body)


def _part_type(obj: DicomObject) -> str:
    return f"application/dicom; transfer-syntax={obj.transfer_syntax_uid}" if obj.transfer_syntax_uid \
        else "application/dicom"


# --------------------------------------------------------------------------------------------------------------
# The resources
# --------------------------------------------------------------------------------------------------------------
class StudiesView(StowMixin, DicomWebView):
    """GET /studies: QIDO-RS search for studies. POST /studies: STOW-RS."""

    required_capabilities = {"GET": Capability.READ, "POST": Capability.SUBMIT}

    def get(self, request):
        self.require_json_accept()
        query = qido.parse_query(request.query_params, allowed=qido.STUDY_KEYS)
        studies = selectors.studies_matching(tenant=self.tenant, match=query.match)
        page = list(studies[query.offset:query.offset + query.limit + 1])
        more = len(page) > query.limit
        page = page[:query.limit]
        summaries = selectors.study_summaries(tenant=self.tenant, study_uids=[s.study_instance_uid for s in page])
        body = [qido.study_json(study_uid=s.study_instance_uid, accession=s.accession_number,
                                study_date=s.study_date, summary=summaries[s.study_instance_uid],
                                url=self.url("study", study_uid=s.study_instance_uid)) for s in page]
        self.audit_query(level="study", study_uids=[s.study_instance_uid for s in page], count=len(body))
        return _dicom_json_response(body, headers=_more_warning(request) if more else None)

    def post(self, request):
        return self.stow(request, None)


def _more_warning(request) -> dict:
    # PS3.18 8.3.4.4 (QIDO-RS response): a truncated answer says so in a Warning header.
    return {"Warning": f'299 {request.get_host()} "There are additional results that can be requested"'}


def _page(items: list, query: qido.Query, request) -> tuple[list, dict | None]:
    page = items[query.offset:query.offset + query.limit]
    more = len(items) > query.offset + query.limit
    return page, (_more_warning(request) if more else None)


class SeriesSearchMixin:
    def search_series(self, request, *, fixed: ObjectFilter, allowed: set[str]):
        self.require_json_accept()
        query = qido.parse_query(request.query_params, allowed=allowed, fixed=fixed)
        found = selectors.series_matching(tenant=self.tenant, match=query.match,
                                          max_results=query.offset + query.limit + 1)
        page, headers = _page(found, query, request)
        body = [qido.series_json(series=s, url=self.url("series", study_uid=s.study_uid, series_uid=s.series_uid))
                for s in page]
        self.audit_query(level="series", study_uids=[s.study_uid for s in page], count=len(body))
        return _dicom_json_response(body, headers=headers)


class InstanceSearchMixin:
    def search_instances(self, request, *, fixed: ObjectFilter, allowed: set[str]):
        self.require_json_accept()
        query = qido.parse_query(request.query_params, allowed=allowed, fixed=fixed)
        found = selectors.objects_matching(tenant=self.tenant, match=query.match,
                                           max_results=query.offset + query.limit + 1)
        page, headers = _page(found, query, request)
        body = [qido.instance_json(obj=o, url=self.url("instance", study_uid=o.study_uid, series_uid=o.series_uid,
                                                       sop_uid=o.sop_uid)) for o in page]
        self.audit_query(level="instance", study_uids=[o.study_uid for o in page], count=len(body))
        return _dicom_json_response(body, headers=headers)


class StudyView(StowMixin, RetrieveMixin, DicomWebView):
    """GET /studies/{study}: WADO-RS retrieve the study. POST: STOW-RS into this (already held) study."""

    required_capabilities = {"GET": Capability.READ, "POST": Capability.SUBMIT}

    def get(self, request, study_uid):
        objects = self.objects(ObjectFilter(study_uids=[study_uid]))
        if not objects:
            raise _not_found("study_not_found", "study")
        return self.retrieve(objects, "study")

    def post(self, request, study_uid):
        # The study must be one the hospital already holds; a new study is stored with POST /studies. This also
        # keeps another hospital's study UID a plain 404 here, like every other object route.
        self.study_or_404(study_uid)
        return self.stow(request, study_uid)


class StudyMetadataView(RetrieveMixin, DicomWebView):
    def get(self, request, study_uid):
        objects = self.objects(ObjectFilter(study_uids=[study_uid]))
        if not objects:
            raise _not_found("study_not_found", "study")
        return self.metadata(objects, "study")


class StudySeriesView(SeriesSearchMixin, DicomWebView):
    """GET /studies/{study}/series: QIDO-RS search for the study's series."""

    def get(self, request, study_uid):
        self.study_or_404(study_uid)
        return self.search_series(request, fixed=ObjectFilter(study_uids=[study_uid]), allowed=qido.SERIES_KEYS)


class StudyInstancesView(InstanceSearchMixin, DicomWebView):
    """GET /studies/{study}/instances: QIDO-RS search for the study's instances."""

    def get(self, request, study_uid):
        self.study_or_404(study_uid)
        return self.search_instances(request, fixed=ObjectFilter(study_uids=[study_uid]),
                                     allowed=qido.SERIES_KEYS | qido.INSTANCE_KEYS)


class SeriesView(RetrieveMixin, DicomWebView):
    def get(self, request, study_uid, series_uid):
        objects = self.objects(ObjectFilter(study_uids=[study_uid], series_uids=[series_uid]))
        if not objects:
            raise _not_found("series_not_found", "series")
        return self.retrieve(objects, "series")


class SeriesMetadataView(RetrieveMixin, DicomWebView):
    def get(self, request, study_uid, series_uid):
        objects = self.objects(ObjectFilter(study_uids=[study_uid], series_uids=[series_uid]))
        if not objects:
            raise _not_found("series_not_found", "series")
        return self.metadata(objects, "series")


class SeriesInstancesView(InstanceSearchMixin, DicomWebView):
    """GET /studies/{study}/series/{series}/instances: QIDO-RS search for the series' instances."""

    def get(self, request, study_uid, series_uid):
        fixed = ObjectFilter(study_uids=[study_uid], series_uids=[series_uid])
        if not selectors.objects_matching(tenant=self.tenant, match=ObjectFilter(
                study_uids=[study_uid], series_uids=[series_uid]), max_results=1):
            raise _not_found("series_not_found", "series")
        return self.search_instances(request, fixed=fixed, allowed=qido.INSTANCE_KEYS)


class InstanceView(RetrieveMixin, DicomWebView):
    def get(self, request, study_uid, series_uid, sop_uid):
        objects = self.objects(ObjectFilter(study_uids=[study_uid], series_uids=[series_uid], sop_uids=[sop_uid]))
        if not objects:
            raise _not_found("instance_not_found", "instance")
        return self.retrieve(objects, "instance")


class InstanceMetadataView(RetrieveMixin, DicomWebView):
    def get(self, request, study_uid, series_uid, sop_uid):
        objects = self.objects(ObjectFilter(study_uids=[study_uid], series_uids=[series_uid], sop_uids=[sop_uid]))
        if not objects:
            raise _not_found("instance_not_found", "instance")
        return self.metadata(objects, "instance")


class AllSeriesView(SeriesSearchMixin, DicomWebView):
    """GET /series: QIDO-RS search for series across the hospital's studies."""

    def get(self, request):
        return self.search_series(request, fixed=ObjectFilter(), allowed=qido.STUDY_KEYS | qido.SERIES_KEYS)


class AllInstancesView(InstanceSearchMixin, DicomWebView):
    """GET /instances: QIDO-RS search for instances across the hospital's studies."""

    def get(self, request):
        return self.search_instances(request, fixed=ObjectFilter(),
                                     allowed=qido.STUDY_KEYS | qido.SERIES_KEYS | qido.INSTANCE_KEYS)
