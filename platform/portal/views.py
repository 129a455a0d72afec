"""The minimal portal: sign in, the hospital's assessments, one assessment with its image.

Every view reads through the tenant-scoped selectors with `request.tenant` (set by PortalTenantMiddleware),
so another hospital's assessment is a 404 here exactly as in the API.
"""
from __future__ import annotations

import functools

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from audit.events import Outcome
from audit.pseudonym import opaque_reference
from audit.services import AuditUnavailable, audit_event_record
from inference import selectors
from inference.bone_age import format_years_months
from inference.catalog import CATALOG, DEMO_NOTICE
from inference.models import Assessment
from portal.errors import plain_words
from studies import storage
from studies.imaging import ImageRejected, parse_upload, render_png
from tenants.middleware import SESSION_TENANT_KEY
from tenants.roles import Capability, role_allows
from tenants.selectors import membership_for


def _audit_unavailable():
    return HttpResponse("The audit trail cannot be written right now, so nothing is shown. Try again shortly.",
                        status=503, content_type="text/plain")


class _AuditFailed(Exception):
    pass


def _audit(request, **kwargs) -> None:
    """Record the page's audit event before anything is shown; _AuditFailed (answered 503) if it cannot be."""
    try:
        audit_event_record(request=request, tenant=getattr(request, "tenant", None), **kwargs)
    except AuditUnavailable:
        raise _AuditFailed from None


def audited(view):
    """Portal views that read patient data: a read whose audit event cannot be written answers 503."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except _AuditFailed:
            return _audit_unavailable()

    return wrapped


def _refused(request, code: str, status: int, requested: str | None = None) -> None:
    """A refused portal request (403, or an object this hospital does not have) on the audit record."""
    match = getattr(request, "resolver_match", None)
    details = {"status": status, "code": code, "method": request.method, "route": match.view_name if match else ""}
    if requested:
        details["requested"] = {"id": opaque_reference(requested)}
    try:
        audit_event_record(event="access.refused", outcome=Outcome.MINOR_FAILURE, request=request,
                           tenant=getattr(request, "tenant", None), details=details)
    except AuditUnavailable:
        pass  # refused all the same; the writer logged it


def _require_tenant(request):
    if request.tenant is None:
        raise Http404("You are not a member of any active hospital.")
    return request.tenant


def require_capability(*capabilities: Capability):
    """Portal views: the signed-in person's role in the current hospital must allow one of `capabilities`,
    else 403 (rendered, and audited as `access.refused`)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            membership = getattr(request, "membership", None)
            if membership is None or not any(role_allows(membership.role, c) for c in capabilities):
                _refused(request, getattr(request, "tenant_refusal", None) or "insufficient_role", 403)
                return render(request, "portal/forbidden.html", {
                    "code": "insufficient_role", "capability": capabilities[0].value,
                    "role": membership.role if membership else None,
                    "refusal": getattr(request, "tenant_refusal", None),
                }, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _int_param(raw, default: int) -> int:
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return default


WORKLIST_PAGE_SIZE = 50


@login_required
@require_capability(Capability.READ)
@audited
def assessment_list(request):
    """The worklist: filter by status, priority, model and critical flag; search by accession number or Study
    Instance UID; sort. Statuses update live through `assessment_states` (see worklist.js)."""
    tenant = request.tenant
    params = request.GET
    filters = {"status": params.get("status", "") if params.get("status") in Assessment.Status.values else "",
               "priority": params.get("priority", "") if params.get("priority") in Assessment.Priority.values else "",
               "model_name": params.get("model", "") if params.get("model") in CATALOG else "",
               "critical_only": params.get("critical") == "1",
               "search": params.get("q", "")[:64],
               "sort": params.get("sort", "newest") if params.get("sort") in selectors.WORKLIST_SORTS else "newest"}
    page = _int_param(params.get("page"), 1)
    queryset = selectors.worklist_for_tenant(tenant=tenant, **filters) if tenant else Assessment.objects.none()
    window = list(queryset[(page - 1) * WORKLIST_PAGE_SIZE: page * WORKLIST_PAGE_SIZE + 1]) if tenant else []
    has_next = len(window) > WORKLIST_PAGE_SIZE
    assessments = window[:WORKLIST_PAGE_SIZE]
    # One event per page view, naming every assessment listed (opaque ids, no patient data).
    _audit(request, event="assessment.list",
           details={"assessment_ids": [str(a.pk) for a in assessments], "count": len(assessments),
                    "status": filters["status"]})
    query = params.copy()
    query.pop("page", None)
    return render(request, "portal/assessment_list.html", {
        "assessments": assessments,
        "filters": filters,
        "statuses": Assessment.Status.choices,
        "priorities": Assessment.Priority.choices,
        "models": sorted(CATALOG),
        "sorts": selectors.WORKLIST_SORTS,
        "page": page,
        "has_next": has_next,
        "query": query.urlencode(),
        "newest": assessments[0].created_at.isoformat() if assessments else "",
        "poll_interval_ms": settings.PORTAL_POLL_INTERVAL_MS,
        "demo_notice": DEMO_NOTICE,
    })


@login_required
@require_GET
@require_capability(Capability.READ)
def assessment_states(request):
    """Live worklist updates: the workflow state of the assessments on the page (`ids`), and how many newer
    ones arrived since `since`.

    Polling, not server-sent events or websockets, on purpose: the answer is a few hundred bytes every few
    seconds, it works through every hospital proxy and with gunicorn's sync workers (a held-open SSE or websocket
    connection would pin one worker per open worklist), and a missed poll heals itself on the next one.
    It returns no clinical values (no results, no patient fields): only ids the page already listed, their status
    and critical flag. Those ids were recorded by the page's `assessment.list` event, so polling does not write an
    audit event every few seconds.
    """
    tenant = _require_tenant(request)
    ids = [value for value in request.GET.get("ids", "").split(",") if value][:WORKLIST_PAGE_SIZE]
    states = selectors.assessment_states_for_tenant(tenant=tenant, assessment_ids=ids)
    newer = 0
    since = parse_datetime(request.GET.get("since", "") or "")
    if since is not None:
        newer = selectors.assessments_for_tenant(tenant=tenant).filter(created_at__gt=since).count()
    labels = dict(Assessment.Status.choices)
    response = JsonResponse({"results": [
        {"id": str(row["id"]), "status": row["status"], "status_display": str(labels.get(row["status"], "")),
         "is_critical": row["is_critical"], "error_code": row["error_code"]} for row in states],
        "newer": newer, "poll_interval_ms": settings.PORTAL_POLL_INTERVAL_MS})
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def switch_hospital(request):
    membership = membership_for(user=request.user, tenant_id=request.POST.get("tenant_id", ""))
    if membership is None:
        raise Http404("You are not a member of that hospital.")
    request.session[SESSION_TENANT_KEY] = str(membership.tenant_id)
    return redirect("portal:assessment-list")


def _assessment_or_404(request, assessment_id):
    """The current hospital's assessment; otherwise the refusal is audited and the answer is 404."""
    tenant = _require_tenant(request)
    assessment = selectors.assessment_for_tenant(tenant=tenant, assessment_id=assessment_id)
    if assessment is None:
        _refused(request, "assessment_not_found", 404, requested=assessment_id)
        raise Http404("No such assessment in this hospital.")
    return assessment


REPORT_LINKS = (
    # Built by the reports engineer under the API; linked by path so the page works as soon as they land.
    ("report.pdf", _lazy("Report (PDF)")),
    ("report.html", _lazy("Report (HTML)")),
    ("fhir", _lazy("FHIR DiagnosticReport")),
    ("dicom/sr", _lazy("DICOM Structured Report")),
)


@login_required
@require_capability(Capability.READ)
@audited
def assessment_detail(request, assessment_id):
    """The result: the image with window/level and the model's overlays, the numbers (for bone age beside the
    chronological age, with the reference chart), the model and its demo banner, downloads and sign-off."""
    from reviews.selectors import signoffs_for_assessment

    assessment = _assessment_or_404(request, assessment_id)
    _audit(request, event="assessment.read", assessment=assessment)
    return _result_page(request, assessment, signoffs=list(signoffs_for_assessment(assessment=assessment)))


def _result_page(request, assessment, *, signoffs, form_error=None, status=200):
    from portal.charts import bone_age_chart_svg

    result = assessment.result or {}
    chart = None
    if assessment.model_name == "bone_age" and result.get("bone_age_months") is not None \
            and result.get("sex") in {"M", "F"}:
        chart = bone_age_chart_svg(sex=result["sex"], bone_age_months=float(result["bone_age_months"]),
                                   chronological_age_months=result.get("chronological_age_months"))
    model = CATALOG.get(assessment.model_name)
    membership = request.membership
    return render(request, "portal/assessment_detail.html", {
        "assessment": assessment,
        "result": result,
        "model_title": getattr(model, "title", "") or assessment.model_name,
        "overlays": result.get("overlays") or [],
        "artifacts": [{"name": a.name, "kind": a.kind, "url": reverse("portal:assessment-artifact-png",
                                                                      args=[assessment.pk, a.name])}
                      for a in assessment.artifacts.all() if a.kind in {"mask", "heatmap"}],
        "chart": chart,
        "chrono_ym": format_years_months(result["chronological_age_months"])
        if result.get("chronological_age_months") is not None else "",
        "downloads": [(f"/api/v1/assessments/{assessment.pk}/{path}", label) for path, label in REPORT_LINKS],
        "signoffs": signoffs,
        "can_sign_off": membership is not None and role_allows(membership.role, Capability.SIGN_OFF)
                        and assessment.status == Assessment.Status.SUCCEEDED,
        "form_error": form_error,
        "poll_interval_ms": settings.PORTAL_POLL_INTERVAL_MS,
        "error_words": plain_words(assessment.error_code, assessment.error_message) if assessment.error_code else "",
        "demo_notice": DEMO_NOTICE,
    }, status=status)


@login_required
@require_POST
@require_capability(Capability.SIGN_OFF)
@audited
def assessment_signoff(request, assessment_id):
    """The portal's sign-off form (agree / disagree with a comment); the same service as the API route."""
    from reviews.selectors import signoffs_for_assessment
    from reviews.services import SignOffRejected, signoff_record

    assessment = _assessment_or_404(request, assessment_id)
    try:
        signoff_record(assessment=assessment, user=request.user, decision=request.POST.get("decision", ""),
                       comment=request.POST.get("comment", ""), request=request)
    except SignOffRejected as exc:
        # Re-showing the page shows the record: that is a read of it.
        _audit(request, event="assessment.read", assessment=assessment)
        return _result_page(request, assessment, signoffs=list(signoffs_for_assessment(assessment=assessment)),
                            form_error={"code": exc.code, "message": exc.message}, status=exc.http_status)
    except AuditUnavailable:
        raise _AuditFailed from None
    return redirect(f"{reverse('portal:assessment-detail', args=[assessment.pk])}#signoff")


@login_required
@require_capability(Capability.READ)
@audited
def assessment_image(request, assessment_id):
    """The assessment's image as PNG, rendered from the stored original (DICOM windowing applied)."""
    assessment = _assessment_or_404(request, assessment_id)
    _audit(request, event="assessment.download", assessment=assessment, details={"via": "portal_png"})
    instance = assessment.instance
    try:
        data = storage.get_image(key=instance.storage_key, expected_sha256=instance.sha256)
        png = render_png(parse_upload(data).pixels)
    except (storage.StorageUnavailable, storage.StoredObjectMissing, storage.StoredObjectCorrupt, ImageRejected):
        return HttpResponse("The image is not available right now.", status=503, content_type="text/plain")
    response = HttpResponse(png, content_type="image/png")
    # Patient images must not linger in shared caches.
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_capability(Capability.READ_AUDIT)
@audited
def audit_events(request):
    """The hospital's audit trail for its `auditor`: filters (time range, event, outcome, username, assessment),
    newest 500 shown; the same filters export as CSV, JSON or FHIR from the API."""
    from api.audit_views import export_filters
    from api.problems import ApiProblem
    from audit import selectors as audit_selectors
    from audit.events import EVENT_KINDS

    tenant = _require_tenant(request)
    try:
        filters = export_filters(request.GET)
    except ApiProblem as exc:
        return render(request, "audit/events.html", {"error": exc.problem_detail, "event_codes": sorted(EVENT_KINDS),
                                                      "params": request.GET}, status=400)
    _audit(request, event="audit.export", details={"format": "portal", **{
        k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in filters.items() if v not in (None, "")}})
    events = list(audit_selectors.audit_events(tenant=tenant, **filters).order_by("-sequence")[:500])
    return render(request, "audit/events.html", {"events": events, "event_codes": sorted(EVENT_KINDS),
                                                  "params": request.GET})


# Overlay colours: masks one colour per label (Okabe & Ito), heat maps a transparent-to-red ramp.
_MASK_COLOURS = ((0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0), (86, 180, 233))


def overlay_png(array) -> bytes:
    """An RGBA PNG of a mask (integer labels, 0 transparent) or a heat map (floats, scaled to [0, 1])."""
    import io

    import numpy as np
    from PIL import Image

    values = np.asarray(array)
    while values.ndim > 2:
        # A (1, H, W) or (labels, H, W) stack: labels collapse to their argmax, a single plane is taken as is.
        values = values[0] if values.shape[0] == 1 else np.argmax(values, axis=0)
    rgba = np.zeros((*values.shape, 4), dtype=np.uint8)
    if np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.bool_):
        labels = values.astype(np.int64)
        for label in np.unique(labels):
            if label <= 0:
                continue
            rgba[labels == label] = (*_MASK_COLOURS[(int(label) - 1) % len(_MASK_COLOURS)], 150)
    else:
        scaled = np.nan_to_num(values.astype(np.float64))
        low, high = float(scaled.min(initial=0.0)), float(scaled.max(initial=0.0))
        scaled = (scaled - low) / (high - low) if high > low else np.zeros_like(scaled)
        rgba[..., 0] = 255
        rgba[..., 1] = np.round(200 * (1 - scaled)).astype(np.uint8)
        rgba[..., 3] = np.round(170 * scaled).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


@login_required
@require_capability(Capability.READ)
@audited
def assessment_artifact_png(request, assessment_id, name):
    """A mask or heat-map artifact (numpy .npz in object storage) as a transparent PNG for the result overlay."""
    import io

    import numpy as np

    assessment = _assessment_or_404(request, assessment_id)
    artifact = assessment.artifacts.filter(name=name, kind__in=["mask", "heatmap"]).first()
    if artifact is None:
        raise Http404("No such overlay for this assessment.")
    _audit(request, event="assessment.download", assessment=assessment,
           details={"via": "portal_overlay", "artifact": artifact.kind})
    try:
        data = storage.get_image(key=artifact.storage_key, expected_sha256=artifact.sha256)
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            png = overlay_png(archive[archive.files[0]])
    except (storage.StorageUnavailable, storage.StoredObjectMissing, storage.StoredObjectCorrupt, ValueError,
            IndexError, OSError):
        return HttpResponse("The overlay is not available right now.", status=503, content_type="text/plain")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response
