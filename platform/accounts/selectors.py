"""Reads on a person's sign-in data (person-level tables: no hospital in context needed)."""
from __future__ import annotations

from accounts.models import TotpDevice


def totp_device_for(*, user) -> TotpDevice | None:
    """The person's TOTP device, confirmed or still being enrolled, else None."""
    return TotpDevice.objects.filter(user=user).first()


def confirmed_totp_device_for(*, user) -> TotpDevice | None:
    """The device that gates this person's sign-in, else None."""
    return TotpDevice.objects.filter(user=user, confirmed=True).first()


def portal_language_for(*, user) -> str:
    """The person's chosen portal language code, or "" when they never chose one."""
    from accounts.models import PortalPreference

    return PortalPreference.objects.filter(user=user).values_list("language", flat=True).first() or ""
