"""What each role inside a hospital, and each API-key scope, may do.

Views declare the capability an action needs; the base view (api.base.TenantAPIView) and the portal's
`require_capability` decorator check it and answer 403 with code `insufficient_role` / `insufficient_scope`.
"""
from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    SUBMIT = "submit"  # send images for assessment
    READ = "read"  # read assessments, results, images and reports
    SIGN_OFF = "sign_off"  # agree / disagree with a result
    MANAGE_PEOPLE = "manage_people"
    MANAGE_KEYS = "manage_keys"
    MANAGE_WEBHOOKS = "manage_webhooks"
    MANAGE_SETTINGS = "manage_settings"
    READ_USAGE = "read_usage"  # usage and invoices
    READ_AUDIT = "read_audit"  # the audit trail


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "admin": frozenset({Capability.MANAGE_PEOPLE, Capability.MANAGE_KEYS, Capability.MANAGE_WEBHOOKS,
                        Capability.MANAGE_SETTINGS}),
    "radiologist": frozenset({Capability.SUBMIT, Capability.READ, Capability.SIGN_OFF}),
    "clinician": frozenset({Capability.SUBMIT, Capability.READ}),
    "billing": frozenset({Capability.READ_USAGE}),
    "auditor": frozenset({Capability.READ_AUDIT}),
}

# API keys act for an HIS: they can only ever submit and read, whatever else a scope list claims.
API_KEY_SCOPES: frozenset[str] = frozenset({Capability.SUBMIT.value, Capability.READ.value})
# ... and, when an administrator grants it explicitly, manage the hospital's webhooks (an HIS that registers its own
# endpoint; issue 9). Never a default scope.
API_KEY_SCOPES = API_KEY_SCOPES | {Capability.MANAGE_WEBHOOKS.value}


def role_allows(role: str, capability: Capability | str) -> bool:
    return Capability(capability) in ROLE_CAPABILITIES.get(role, frozenset())


def scopes_allow(scopes: list[str] | tuple[str, ...], capability: Capability | str) -> bool:
    value = Capability(capability).value
    return value in API_KEY_SCOPES and value in scopes
