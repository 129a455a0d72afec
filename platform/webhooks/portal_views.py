"""Portal pages for a hospital's administrators: webhook endpoints (list, create, delete, rotate the secret), the
delivery log with response codes and replay, and the critical-finding e-mail settings.

Every page reads through the tenant-scoped selectors with `request.tenant`; another hospital's id answers 404
(and the refusal is audited), exactly as in the API. Changes go through webhooks.services, which audits them.
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audit.services import AuditUnavailable, actor_from_request
from portal.views import _refused, _require_tenant, require_capability
from tenants.roles import Capability
from webhooks import events, selectors, services
from webhooks.models import WebhookDelivery

_PAGE_DELIVERIES = 100
_OVERLAP_CHOICES = [(0, "Stop the old secret now"), (3600, "Keep the old secret for 1 hour"),
                    (86400, "Keep the old secret for 24 hours")]


def _audit_unavailable():
    return HttpResponse("The audit trail cannot be written right now, so nothing was changed. Try again shortly.",
                        status=503, content_type="text/plain")


def _endpoint_or_404(request, endpoint_id):
    tenant = _require_tenant(request)
    endpoint = selectors.endpoint_for_tenant(tenant=tenant, endpoint_id=endpoint_id)
    if endpoint is None:
        _refused(request, "webhook_not_found", 404, requested=endpoint_id)
        raise Http404("No such webhook endpoint in this hospital.")
    return endpoint


def _list_context(request, **extra) -> dict:
    tenant = _require_tenant(request)
    return {"endpoints": list(selectors.endpoints_for_tenant(tenant=tenant)), "event_types": events.EVENT_TYPES,
            **extra}


@require_http_methods(["GET", "POST"])
@login_required
@require_capability(Capability.MANAGE_WEBHOOKS)
def endpoint_list(request):
    """GET: the hospital's endpoints and a form to add one. POST: add it; the page shows its secret once."""
    tenant = _require_tenant(request)
    if request.method == "GET":
        return render(request, "webhooks/endpoint_list.html", _list_context(request, form={}))
    form = {"url": request.POST.get("url", ""), "description": request.POST.get("description", ""),
            "event_types": request.POST.getlist("event_types")}
    try:
        endpoint, secret = services.endpoint_create(
            tenant=tenant, url=form["url"], event_types=form["event_types"], description=form["description"],
            created_by=request.user, actor=actor_from_request(request))
    except services.WebhookRejected as exc:
        return render(request, "webhooks/endpoint_list.html",
                      _list_context(request, form=form, error=exc.message, error_code=exc.code), status=400)
    except AuditUnavailable:
        return _audit_unavailable()
    return _secret_once(request, endpoint, secret, created=True)


def _secret_once(request, endpoint, secret: str, *, created: bool):
    """The page that shows a signing secret its only time (201 for a new endpoint); never cached."""
    response = render(request, "webhooks/secret_once.html", {"endpoint": endpoint, "secret": secret,
                                                             "created": created}, status=201 if created else 200)
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET"])
@login_required
@require_capability(Capability.MANAGE_WEBHOOKS)
def endpoint_detail(request, endpoint_id):
    """One endpoint: its settings and its delivery log (newest first), each delivery with every attempt's code."""
    endpoint = _endpoint_or_404(request, endpoint_id)
    status = request.GET.get("status") or None
    if status not in (None, *WebhookDelivery.Status.values):
        status = None
    deliveries = list(selectors.deliveries_for_endpoint(endpoint=endpoint, status=status)[:_PAGE_DELIVERIES])
    return render(request, "webhooks/endpoint_detail.html", {
        "endpoint": endpoint, "deliveries": deliveries, "status": status or "",
        "statuses": WebhookDelivery.Status.choices, "overlap_choices": _OVERLAP_CHOICES,
    })


@require_http_methods(["POST"])
@login_required
@require_capability(Capability.MANAGE_WEBHOOKS)
def endpoint_delete(request, endpoint_id):
    endpoint = _endpoint_or_404(request, endpoint_id)
    try:
        services.endpoint_delete(endpoint=endpoint, actor=actor_from_request(request))
    except AuditUnavailable:
        return _audit_unavailable()
    messages.success(request, "The webhook endpoint and its delivery log were deleted.")
    return redirect("webhooks-portal:endpoint-list")


@require_http_methods(["POST"])
@login_required
@require_capability(Capability.MANAGE_WEBHOOKS)
def endpoint_rotate_secret(request, endpoint_id):
    endpoint = _endpoint_or_404(request, endpoint_id)
    raw = request.POST.get("keep_previous_for_s", "0")
    keep = int(raw) if raw in {str(value) for value, _ in _OVERLAP_CHOICES} else 0
    try:
        endpoint, secret = services.endpoint_rotate_secret(endpoint=endpoint, keep_previous_for_s=keep,
                                                           actor=actor_from_request(request))
    except AuditUnavailable:
        return _audit_unavailable()
    return _secret_once(request, endpoint, secret, created=False)


@require_http_methods(["POST"])
@login_required
@require_capability(Capability.MANAGE_WEBHOOKS)
def endpoint_replay_failed(request, endpoint_id):
    endpoint = _endpoint_or_404(request, endpoint_id)
    try:
        replays = services.endpoint_replay_failed(endpoint=endpoint, actor=actor_from_request(request))
    except services.WebhookRejected as exc:
        messages.error(request, exc.message)
        return redirect("webhooks-portal:endpoint-detail", endpoint_id=endpoint.pk)
    except AuditUnavailable:
        return _audit_unavailable()
    messages.success(request, f"{len(replays)} given-up event(s) queued to be sent again.")
    return redirect("webhooks-portal:endpoint-detail", endpoint_id=endpoint.pk)


@require_http_methods(["POST"])
@login_required
@require_capability(Capability.MANAGE_WEBHOOKS)
def delivery_replay(request, delivery_id):
    tenant = _require_tenant(request)
    delivery = selectors.delivery_for_tenant(tenant=tenant, delivery_id=delivery_id)
    if delivery is None:
        _refused(request, "webhook_delivery_not_found", 404, requested=delivery_id)
        raise Http404("No such webhook delivery in this hospital.")
    try:
        services.delivery_replay(delivery=delivery, actor=actor_from_request(request))
    except services.WebhookRejected as exc:
        messages.error(request, exc.message)
        return redirect("webhooks-portal:endpoint-detail", endpoint_id=delivery.endpoint_id)
    except AuditUnavailable:
        return _audit_unavailable()
    messages.success(request, f"Event {delivery.event_id} queued to be sent again.")
    return redirect("webhooks-portal:endpoint-detail", endpoint_id=delivery.endpoint_id)


@require_http_methods(["GET", "POST"])
@login_required
@require_capability(Capability.MANAGE_SETTINGS)
def notification_settings(request):
    """Who is e-mailed about critical findings (one address per line), and the latest e-mails' outcomes."""
    tenant = _require_tenant(request)
    status = 200
    error = None
    if request.method == "POST":
        raw = request.POST.get("critical_finding_emails", "")
        try:
            services.notification_settings_update(tenant=tenant, critical_finding_emails=raw, user=request.user,
                                                  actor=actor_from_request(request))
        except services.WebhookRejected as exc:
            error, status = exc.message, 400
        except AuditUnavailable:
            return _audit_unavailable()
        else:
            messages.success(request, "Notification settings saved.")
            return redirect("webhooks-portal:notification-settings")
    current = services.notification_settings_for(tenant=tenant)
    return render(request, "webhooks/notification_settings.html", {
        "emails_text": request.POST.get("critical_finding_emails") if error else
        "\n".join(current.critical_finding_emails),
        "error": error, "recent": list(selectors.critical_finding_emails(tenant=tenant)),
    }, status=status)
