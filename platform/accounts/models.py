"""A person's sign-in data. It belongs to the person, not to a hospital: no tenant key here, ever."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TotpDevice(models.Model):
    """A person's authenticator app (RFC 6238 TOTP, 6 digits, 30-second steps). At most one per person.

    The shared secret is stored sealed (accounts.sealing) and shown once, on the enrolment page, never again.
    `last_used_step` is the 30-second time step of the last code accepted: a code is accepted only for a later
    step, so a code seen over someone's shoulder (or replayed from a proxy log) cannot be used a second time.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device")
    secret_sealed = models.TextField()
    # Unconfirmed devices are enrolments in progress: they never gate sign-in.
    confirmed = models.BooleanField(default=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "TOTP device"

    def __str__(self) -> str:
        return f"TOTP device of {self.user} ({'confirmed' if self.confirmed else 'unconfirmed'})"


class PortalPreference(models.Model):
    """A person's portal settings that follow them across devices and hospitals (today: the language)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_preference")
    # A code of settings.LANGUAGES ("en", "zh-hans"); empty means "follow the browser".
    language = models.CharField(max_length=16, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Portal preferences of {self.user}"
