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

from inference import selectors
from inference.catalog import DEMO_NOTICE
from studies import storage
from studies.imaging import ImageRejected, parse_upload, render_png
from tenants.middleware import SESSION_TENANT_KEY
from tenants.roles import Capability, role_allows
from tenants.selectors import membership_for, memberships_for_user


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
def assessment_list(request):
    tenant = request.tenant
    assessments = selectors.assessments_for_tenant(tenant=tenant)[:100] if tenant else []
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


@login_required
@require_capability(Capability.READ)
def assessment_detail(request, assessment_id):
    tenant = _require_tenant(request)
    assessment = selectors.assessment_for_tenant(tenant=tenant, assessment_id=assessment_id)
    if assessment is None:
        raise Http404("No such assessment in this hospital.")
    return render(request, "portal/assessment_detail.html", {
        "assessment": assessment,
        "result": assessment.result or {},
        "demo_notice": DEMO_NOTICE,
    })


@login_required
@require_capability(Capability.READ)
def assessment_image(request, assessment_id):
    """The assessment's image as PNG, rendered from the stored original (DICOM windowing applied)."""
    tenant = _require_tenant(request)
    assessment = selectors.assessment_for_tenant(tenant=tenant, assessment_id=assessment_id)
    if assessment is None:
        raise Http404("No such assessment in this hospital.")
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
