"""Writes on a person's second factor: enrol, confirm, accept a code once, disable."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pyotp
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import sealing
from accounts.models import TotpDevice

ISSUER = "Imaging AI portal"
# RFC 6238 defaults, which every authenticator app supports.
DIGITS = 6
STEP_S = 30
# Codes of the previous and next step are accepted too (pyotp's valid_window=1): clock drift and typing time.
VALID_WINDOW = 1
_CODE = re.compile(r"^\d{6}$")


class TotpError(ValueError):
    """A second-factor change the platform refuses, with a stable code (already_enabled, not_enrolling, ...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Enrolment:
    """What the person sees once: the secret and the otpauth:// URI their authenticator app imports."""

    device: TotpDevice
    secret: str
    uri: str


def _owner(user) -> str:
    return f"user:{user.pk}"


def _totp(device: TotpDevice) -> pyotp.TOTP:
    return pyotp.TOTP(sealing.unseal(device.secret_sealed, owner=_owner(device.user)), digits=DIGITS,
                      interval=STEP_S)


def _normalize(code: str | None) -> str:
    return re.sub(r"\s+", "", code or "")


def totp_code_accept(*, device: TotpDevice, code: str | None, now: float | None = None) -> str:
    """Check `code` for `device` and use it up. Returns "ok", "wrong" or "replayed".

    Same acceptance as pyotp's verify(code, valid_window=1), plus replay refusal: the matching time step must be
    later than the last accepted one. The step is claimed with a conditional UPDATE, so two pods racing with the
    same code cannot both accept it.
    """
    code = _normalize(code)
    if not _CODE.match(code):
        return "wrong"
    totp = _totp(device)
    current = int((time.time() if now is None else now) // STEP_S)
    matching = [step for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1)
                if pyotp.utils.strings_equal(code, totp.generate_otp(step))]
    if not matching:
        return "wrong"
    step = max(matching)
    claimed = (TotpDevice.objects.filter(pk=device.pk)
               .filter(Q(last_used_step__isnull=True) | Q(last_used_step__lt=step))
               .update(last_used_step=step))
    if claimed != 1:
        return "replayed"
    device.last_used_step = step
    return "ok"


@transaction.atomic
def totp_enrolment_start(*, user) -> Enrolment:
    """Start (or restart) enrolment with a fresh 160-bit secret. Raises TotpError("already_enabled").

    The secret and URI are returned to be shown once; only the sealed secret is stored.
    """
    existing = TotpDevice.objects.select_for_update().filter(user=user).first()
    if existing is not None and existing.confirmed:
        raise TotpError("already_enabled", "Two-step sign-in is already on. Turn it off first to change the app.")
    if existing is not None:
        existing.delete()
    secret = pyotp.random_base32()
    device = TotpDevice.objects.create(user=user, secret_sealed=sealing.seal(secret, owner=_owner(user)))
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=user.get_username(), issuer_name=ISSUER)
    return Enrolment(device=device, secret=secret, uri=uri)


@transaction.atomic
def totp_enrolment_confirm(*, user, code: str | None) -> TotpDevice:
    """Confirm the enrolment in progress with a current code; from now on sign-in asks for a code.

    Raises TotpError("not_enrolling") without an enrolment in progress, TotpError("wrong_code") otherwise.
    """
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None:
        raise TotpError("not_enrolling", "There is no set-up in progress. Start again.")
    if totp_code_accept(device=device, code=code) != "ok":
        raise TotpError("wrong_code", "That code did not match. Type the current code from your app.")
    device.confirmed = True
    device.confirmed_at = timezone.now()
    device.save(update_fields=["confirmed", "confirmed_at"])
    return device


@transaction.atomic
def totp_disable(*, user, password: str, code: str | None) -> None:
    """Turn two-step sign-in off; needs the person's password and a current code.

    Raises TotpError("not_enabled"), TotpError("wrong_password") or TotpError("wrong_code").
    """
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    if device is None:
        raise TotpError("not_enabled", "Two-step sign-in is not on.")
    if not user.check_password(password or ""):
        raise TotpError("wrong_password", "The password or code did not match.")
    if totp_code_accept(device=device, code=code) != "ok":
        raise TotpError("wrong_code", "The password or code did not match.")
    device.delete()


@transaction.atomic
def portal_language_set(*, user, language: str) -> str:
    """Store the person's portal language (a code of settings.LANGUAGES, or "" to follow the browser).

    Returns the stored code. Raises ValueError for a language the portal does not offer.
    """
    from django.conf import settings as django_settings

    from accounts.models import PortalPreference

    if language and language not in dict(django_settings.LANGUAGES):
        raise ValueError(f"unsupported language {language!r}")
    PortalPreference.objects.update_or_create(user=user, defaults={"language": language})
    return language
