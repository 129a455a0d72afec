"""The one base class that resolves the hospital of an API request and scopes everything below it."""
from __future__ import annotations

from rest_framework.views import APIView

from api.authentication import ApiKeyPrincipal
from api.problems import ApiProblem
from tenants.context import _current_tenant


class TenantAPIView(APIView):
    """Resolves `self.tenant` once (from the API key, or from the signed-in person's chosen hospital), puts it
    in context for the fail-closed managers, and resets it when the response is finalised."""

    tenant = None
    _tenant_token = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and permissions
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            tenant = user.tenant
        else:
            tenant = getattr(request._request, "tenant", None)
        if tenant is None:
            raise ApiProblem(status=403, code="no_tenant",
                             detail="You are not a member of any active hospital.")
        self.tenant = tenant
        self._tenant_token = _current_tenant.set(tenant)

    def finalize_response(self, request, response, *args, **kwargs):
        try:
            return super().finalize_response(request, response, *args, **kwargs)
        finally:
            if self._tenant_token is not None:
                _current_tenant.reset(self._tenant_token)
                self._tenant_token = None

    @property
    def acting_user(self):
        """The person behind a session request, None for an API key."""
        user = self.request.user
        return None if isinstance(user, ApiKeyPrincipal) else user

    @property
    def acting_api_key(self):
        user = self.request.user
        return user.api_key if isinstance(user, ApiKeyPrincipal) else None
