"""The one base class that resolves the hospital of an API request and scopes everything below it."""
from __future__ import annotations

from rest_framework.views import APIView

from api import idempotency
from api.authentication import ApiKeyPrincipal
from api.problems import ApiProblem
from api.ratelimit import enforce_rate_limits
from tenants.context import _current_tenant
from tenants.roles import Capability, role_allows, scopes_allow

_REFUSALS = {
    "tenant_suspended": "Your hospital's account is suspended.",
    "no_membership": "You are not a member of any hospital.",
}


class TenantAPIView(APIView):
    """Resolves `self.tenant` once (from the API key, or from the signed-in person's chosen hospital), puts it
    in context for the fail-closed managers, and resets it when the response is finalised."""

    tenant = None
    _tenant_token = None
    # HTTP method -> what the caller must be allowed to do. A method with a handler but no entry is refused
    # (fail closed), so a new handler cannot ship without deciding who may call it.
    required_capabilities: dict[str, Capability] = {}
    # Methods whose handlers honour an `Idempotency-Key` header (api/idempotency.py): every POST of the API.
    idempotent_methods: frozenset[str] = frozenset({"POST"})
    _idempotency_claim = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and permissions
        if any("\x00" in value for values in request.query_params.lists() for value in values[1]):
            # No text column can hold NUL (PostgreSQL refuses it): a 400 here, not a 500 at the first query.
            raise ApiProblem(status=400, code="malformed_request", detail="Query parameters cannot contain NUL.")
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            tenant = user.tenant
        else:
            tenant = getattr(request._request, "tenant", None)
        if tenant is None:
            refusal = getattr(request._request, "tenant_refusal", None) or "no_membership"
            raise ApiProblem(status=403, code=refusal, detail=_REFUSALS.get(refusal, _REFUSALS["no_membership"]))
        self.check_capability(request)
        # After authentication and authorisation, so refused callers never spend the hospital's budget.
        enforce_rate_limits(tenant=tenant, api_key=user.api_key if isinstance(user, ApiKeyPrincipal) else None)
        self.tenant = tenant
        self._tenant_token = _current_tenant.set(tenant)
        if request.method in self.idempotent_methods and hasattr(self, request.method.lower()):
            # Last, after authorisation and rate limits: a refused request never claims (or learns about) a key.
            self._idempotency_claim = idempotency.begin(request=request, tenant=tenant, method=request.method,
                                                        path=request.path)

    def check_capability(self, request) -> None:
        method = request.method.lower()
        if not hasattr(self, method) or method == "options":
            return  # DRF answers 405 (or the OPTIONS metadata) next
        capability = self.required_capabilities.get(request.method.upper())
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            if capability is None or not scopes_allow(user.api_key.scopes, capability):
                raise ApiProblem(status=403, code="insufficient_scope",
                                 detail=f"This API key is not allowed to {capability or 'do this'}.")
            return
        membership = getattr(request._request, "membership", None)
        if capability is None or membership is None or not role_allows(membership.role, capability):
            role = membership.role if membership else "none"
            raise ApiProblem(status=403, code="insufficient_role",
                             detail=f"Your role ({role}) is not allowed to {capability or 'do this'}.")

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.IdempotentReplay):
            # The stored answer of the first request with this Idempotency-Key; shown again, so audited again.
            try:
                self.audit_replay(self.request, exc.response)
            except ApiProblem as problem:
                return super().handle_exception(problem)
            return exc.response
        # Every refused request is on the audit record (outcome 4), in the caller's hospital's chain.
        from api.auditing import record_refusal

        record_refusal(self, self.request, exc)
        return super().handle_exception(exc)

    def audit_replay(self, request, response) -> None:
        """Record the audit event of an Idempotency-Key replay: views whose POST answers patient data override
        this (raise ApiProblem 503 `audit_unavailable` when it cannot be written). Default: nothing to record."""

    def finalize_response(self, request, response, *args, **kwargs):
        try:
            response = super().finalize_response(request, response, *args, **kwargs)
            if self._idempotency_claim is not None:
                claim, self._idempotency_claim = self._idempotency_claim, None
                idempotency.finish(claim=claim, response=response)  # in the tenant's context, still set here
            return response
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
