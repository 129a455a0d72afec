"""What every portal page needs for its navigation: the person's role capabilities and optional sections."""
from __future__ import annotations

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from tenants.roles import Capability, role_allows


def _optional_url(name: str) -> str | None:
    # Sections other apps add (webhook administration) appear in the navigation only once their URLs exist.
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def portal(request) -> dict:
    membership = getattr(request, "membership", None)
    role = membership.role if membership else None

    def can(capability: Capability) -> bool:
        return role is not None and role_allows(role, capability)

    return {
        "nav": {
            "role": role,
            "read": can(Capability.READ),
            "submit": can(Capability.SUBMIT),
            "admin": can(Capability.MANAGE_PEOPLE) or can(Capability.MANAGE_KEYS),
            "usage": can(Capability.READ_USAGE) or can(Capability.MANAGE_PEOPLE),
            "audit": can(Capability.READ_AUDIT),
            "operator": bool(getattr(getattr(request, "user", None), "is_staff", False)),
            "webhooks_url": _optional_url("webhooks-portal:endpoint-list") if can(Capability.MANAGE_WEBHOOKS) else None,
        },
        "portal_languages": settings.LANGUAGES,
        "user_memberships": _memberships(request),
    }


def _memberships(request) -> list:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    from tenants.selectors import memberships_for_user

    return list(memberships_for_user(user=user))
