"""Hospitals (tenants), their people, API keys, and the base class of every tenant-owned model."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from tenants.context import get_current_tenant, require_current_tenant


class Tenant(models.Model):
    """A subscribing hospital. Every row of hospital data points at one."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        # Logins and API keys refused; data kept; work already accepted finishes.
        SUSPENDED = "suspended", "Suspended"
        # Data exported and purged; the row stays for billing and audit.
        OFFBOARDED = "offboarded", "Offboarded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    suspended_at = models.DateTimeField(null=True, blank=True)
    offboarded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Membership(models.Model):
    """A person's role in one hospital. A person may belong to several hospitals."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Administrator"
        RADIOLOGIST = "radiologist", "Radiologist"
        CLINICIAN = "clinician", "Clinician"
        BILLING = "billing", "Billing"
        AUDITOR = "auditor", "Auditor"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


def default_api_key_scopes() -> list[str]:
    return ["submit", "read"]


class ApiKey(models.Model):
    """A hospital information system's credential. Only a SHA-256 of the secret is stored.

    The key shown once to the hospital is `mip_<prefix>_<secret>`; `prefix` finds the row, the secret's
    hash is compared in constant time. The secret has 256 bits of entropy, so a fast hash is enough
    (no dictionary to attack), unlike passwords.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    # What the key may do: "submit" (POST assessments) and/or "read" (GET assessments and results).
    scopes = ArrayField(models.CharField(max_length=16), default=default_api_key_scopes)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (mip_{self.prefix}_…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class TenantScopedQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant) -> "TenantScopedQuerySet":
        return self.filter(tenant=tenant)


class TenantScopedManager(models.Manager.from_queryset(TenantScopedQuerySet)):
    """Default manager of tenant-owned models: scoped to the tenant in context, fails closed without one.

    Forgetting to scope a query therefore raises TenantContextMissing instead of returning every
    hospital's rows. Operator paths that must cross tenants call `dangerously_all_tenants()`, a name
    that stands out in review.
    """

    def get_queryset(self) -> TenantScopedQuerySet:
        tenant = require_current_tenant()
        return super().get_queryset().filter(tenant=tenant)

    def dangerously_all_tenants(self) -> TenantScopedQuerySet:
        return super().get_queryset()

    def create(self, **kwargs):
        # Fill the tenant from context, and refuse to write a row for another hospital than the current one.
        tenant = get_current_tenant()
        if "tenant" not in kwargs and "tenant_id" not in kwargs:
            kwargs["tenant"] = require_current_tenant()
        elif tenant is not None:
            given = kwargs.get("tenant_id") or kwargs["tenant"].pk
            if given != tenant.pk:
                raise PermissionError("Refusing to create a row for another tenant than the one in context.")
        return super().create(**kwargs)


class TenantOwnedModel(models.Model):
    """Base of every model that holds a hospital's data: a required tenant and the fail-closed manager."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=True)

    # Related-object access (assessment.instance, ...) goes through Django's plain _base_manager; rows reached
    # that way hang from a row that is already the tenant's own.
    objects = TenantScopedManager()

    class Meta:
        abstract = True
