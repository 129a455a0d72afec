"""The minimal portal: sign in, the hospital's assessments, one assessment with its image.

Every view reads through the tenant-scoped selectors with `request.tenant` (set by PortalTenantMiddleware),
so another hospital's assessment is a 404 here exactly as in the API.
"""
from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audit.events import Outcome
from audit.pseudonym import opaque_reference
from audit.services import AuditUnavailable, audit_event_record
from inference import selectors
from inference.catalog import DEMO_NOTICE
from studies import storage
from studies.imaging import ImageRejected, parse_upload, render_png
from tenants.middleware import SESSION_TENANT_KEY
from tenants.roles import Capability, role_allows
from tenants.selectors import membership_for, memberships_for_user


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


def require_capability(capability: Capability):
    """Portal views: the signed-in person's role in the current hospital must allow `capability`, else 403."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            membership = getattr(request, "membership", None)
            if membership is None or not role_allows(membership.role, capability):
                _refused(request, getattr(request, "tenant_refusal", None) or "insufficient_role", 403)
                return render(request, "portal/forbidden.html", {
                    "code": "insufficient_role", "capability": capability.value,
                    "role": membership.role if membership else None,
                    "refusal": getattr(request, "tenant_refusal", None),
                }, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


@login_required
@require_capability(Capability.READ)
@audited
def assessment_list(request):
    tenant = request.tenant
    assessments = list(selectors.assessments_for_tenant(tenant=tenant)[:100]) if tenant else []
    # One event per page view, naming every assessment listed (opaque ids, no patient data).
    _audit(request, event="assessment.list",
           details={"assessment_ids": [str(a.pk) for a in assessments], "count": len(assessments), "status": ""})
    return render(request, "portal/assessment_list.html", {
        "assessments": assessments,
        "memberships": memberships_for_user(user=request.user),
        "demo_notice": DEMO_NOTICE,
    })


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


@login_required
@require_capability(Capability.READ)
@audited
def assessment_detail(request, assessment_id):
    assessment = _assessment_or_404(request, assessment_id)
    _audit(request, event="assessment.read", assessment=assessment)
    return render(request, "portal/assessment_detail.html", {
        "assessment": assessment,
        "result": assessment.result or {},
        "demo_notice": DEMO_NOTICE,
    })


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
