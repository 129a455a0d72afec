"""Resolve the hospital of a signed-in portal user once per request and put it in context."""
from __future__ import annotations

from tenants.context import _current_tenant, dangerously_operator_access, user_context
from tenants.selectors import memberships_for_user

SESSION_TENANT_KEY = "mip_tenant_id"


class PortalTenantMiddleware:
    """Sets `request.tenant` and `request.membership` for signed-in users from their chosen membership.

    The chosen hospital is kept in the session; a person who is no longer a member of it falls back to
    their first membership. API-key requests are resolved later by the API's base view.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant = None
        request.membership = None
        # Why a signed-in person has no hospital in context, as a problem code ("no_membership", "tenant_suspended").
        request.tenant_refusal = None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        with user_context(user.pk):
            if user.is_staff and request.path.startswith("/admin/"):
                # Platform operators work across hospitals in the Django admin; the database allows it only
                # inside this named block, and each crossing is logged (issue #5 records it as an audit event).
                with dangerously_operator_access(reason=f"django admin {request.method} {request.path} by staff "
                                                        f"user {user.pk}"):
                    from audit.services import AuditUnavailable, audit_event_record

                    try:
                        audit_event_record(event="operator.access", request=request,
                                           details={"method": request.method, "path": request.path[:200]})
                    except AuditUnavailable:
                        from django.http import HttpResponse

                        return HttpResponse("The audit trail is unavailable; operator access refused.", status=503,
                                            content_type="text/plain")
                    return self.get_response(request)
            return self._with_tenant(request, user)

    def _with_tenant(self, request, user):
        token = None
        memberships = list(memberships_for_user(user=user))
        chosen = request.session.get(SESSION_TENANT_KEY)
        membership = next((m for m in memberships if str(m.tenant_id) == chosen), None)
        if membership is None and memberships:
            membership = memberships[0]
        if membership is None:
            request.tenant_refusal = "no_membership"
        elif not membership.tenant.is_active:
            request.tenant_refusal = "tenant_suspended"
        else:
            request.tenant = membership.tenant
            request.membership = membership
            token = _current_tenant.set(membership.tenant)
        try:
            return self.get_response(request)
        finally:
            if token is not None:
                _current_tenant.reset(token)
