"""`Authorization: Api-Key <key>` authentication for hospital information systems."""
from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from api.problems import ApiProblem
from tenants.context import tenant_context
from tenants.models import ApiKey
from tenants.selectors import api_key_for_credentials
from tenants.services import api_key_touch

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """The `request.user` of an API-key request: the integration, not a person."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    @property
    def tenant(self):
        return self.api_key.tenant

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyFailed(exceptions.AuthenticationFailed):
    def __init__(self, detail: str, code: str):
        super().__init__(detail=detail, code=code)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != KEYWORD.lower():
            return None  # another scheme; let the next authenticator (or NotAuthenticated) answer
        credentials = credentials.strip()
        if not credentials:
            raise ApiKeyFailed("The Api-Key header carries no key.", "invalid_api_key")
        api_key = api_key_for_credentials(full_key=credentials)
        if api_key is None:
            raise ApiKeyFailed("The API key is not valid.", "invalid_api_key")
        if api_key.is_revoked:
            raise ApiKeyFailed("The API key has been revoked.", "api_key_revoked")
        if api_key.is_expired():
            raise ApiKeyFailed("The API key has expired.", "api_key_expired")
        if not api_key.tenant.is_active:
            # The key is genuine; the hospital may not use the platform now. 403, not 401: new credentials won't help.
            raise ApiProblem(status=403, code="tenant_suspended",
                             detail="The hospital's account is suspended; its data is kept. Contact the platform operator.")
        with tenant_context(api_key.tenant):
            api_key_touch(api_key=api_key)
        return ApiKeyPrincipal(api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing, and tells clients the scheme.
        return f'{KEYWORD} realm="api"'
