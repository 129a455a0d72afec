"""Billing: plans and prices, which plan a hospital is on, one usage record per billable event, invoices and
credit notes.

Money is Decimal in the database (NUMERIC) and in Python, never float. Usage records, subscriptions, invoices,
credit notes and their lines are append-only: PostgreSQL triggers (migration 0002) refuse UPDATE and DELETE for
every role, the application role included, so an issued invoice or a recorded use cannot be quietly changed.
Corrections are new rows (a credit note; a later subscription).
"""
from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from tenants.models import TenantOwnedModel

PRICE_DIGITS = {"max_digits": 12, "decimal_places": 4}  # unit prices may have sub-cent precision (0.0125)
AMOUNT_DIGITS = {"max_digits": 16, "decimal_places": 4}  # stored already rounded to the currency's minor unit


class Plan(models.Model):
    """A price list hospitals subscribe to. Platform-wide (not a hospital's data), managed by operators.

    Within a calendar month, the first `included_quota` assessments (in the order they succeeded, across all
    models) are billed at their model's PlanPrice.unit_price, every further one at the overage price (the
    PlanPrice's own, else the plan's). A plan with unit prices of 0 therefore includes its quota for free.
    `monthly_cap` (optional) is a hard stop: at the cap new submissions are refused (HTTP 429 quota_exceeded).
    """

    id = models.BigAutoField(primary_key=True)
    code = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)  # ISO 4217, validated against billing.money.MINOR_UNITS
    included_quota = models.PositiveIntegerField(default=0)
    overage_unit_price = models.DecimalField(**PRICE_DIGITS)
    monthly_cap = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(overage_unit_price__gte=0), name="plan_overage_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class PlanPrice(models.Model):
    """The price of one assessment of one model under a plan."""

    id = models.BigAutoField(primary_key=True)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="prices")
    model_name = models.CharField(max_length=64)
    unit_price = models.DecimalField(**PRICE_DIGITS)
    # Overrides the plan's overage price for this model when set.
    overage_unit_price = models.DecimalField(null=True, blank=True, **PRICE_DIGITS)

    class Meta:
        ordering = ["model_name"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "model_name"], name="one_price_per_plan_model"),
            models.CheckConstraint(condition=models.Q(unit_price__gte=0), name="plan_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.plan.code}/{self.model_name}: {self.unit_price}"


class Subscription(TenantOwnedModel):
    """From `effective_from` (always the first day of a month) the hospital is on `plan`. Append-only history.

    The plan in force on a date is the row with the latest effective_from on or before it (ties: the latest
    recorded). Months are the billing periods, so a change always applies to whole months: one plan, one
    currency, one quota per invoice.
    """

    id = models.BigAutoField(primary_key=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    effective_from = models.DateField()
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    recorded_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["-effective_from", "-id"]
        indexes = [models.Index(fields=["tenant", "-effective_from", "-id"], name="subscription_in_force")]

    def __str__(self) -> str:
        return f"{self.tenant_id} on plan {self.plan_id} from {self.effective_from}"


class UsageRecord(TenantOwnedModel):
    """One billable event: an assessment that succeeded. Written in the transaction that records the result.

    `assessment_id` is a plain UUID, not a foreign key: usage is retained when a hospital is offboarded and its
    assessments are purged. Its uniqueness is the guarantee that a re-delivered or duplicated task, or any
    number of concurrent replays, records the event once.
    """

    id = models.BigAutoField(primary_key=True)
    assessment_id = models.UUIDField(unique=True)
    model_name = models.CharField(max_length=64)
    model_version = models.PositiveIntegerField()
    occurred_at = models.DateTimeField()  # when the result was recorded: decides the billing month (UTC)
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["tenant", "occurred_at", "id"], name="usage_tenant_month")]

    def __str__(self) -> str:
        return f"usage {self.model_name} v{self.model_version} for {self.assessment_id}"


class Invoice(TenantOwnedModel):
    """One hospital's bill for one calendar month, issued once and never changed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    period = models.DateField()  # first day of the billed month (UTC)
    number = models.PositiveIntegerField()  # 1, 2, 3, ... per hospital, in the order months are closed
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    # Snapshots: the invoice reads the same forever, whatever later happens to the plan.
    plan_name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    included_quota = models.PositiveIntegerField()
    assessments = models.PositiveIntegerField()
    total = models.DecimalField(**AMOUNT_DIGITS)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period"], name="one_invoice_per_hospital_month"),
            models.UniqueConstraint(fields=["tenant", "number"], name="invoice_number_unique_per_hospital"),
        ]

    def __str__(self) -> str:
        return self.display_number

    @property
    def display_number(self) -> str:
        return f"INV-{self.number:06d}"


class InvoiceLine(TenantOwnedModel):
    class Kind(models.TextChoices):
        INCLUDED = "included", "Included in plan quota"
        OVERAGE = "overage", "Over plan quota"

    id = models.BigAutoField(primary_key=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    model_name = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(**PRICE_DIGITS)
    amount = models.DecimalField(**AMOUNT_DIGITS)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position")]


class CreditNote(TenantOwnedModel):
    """A correction of an issued invoice: negative amounts, its own number sequence per hospital."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.TextField()
    total = models.DecimalField(**AMOUNT_DIGITS)  # negative
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="credit_note_number_unique_per_hospital"),
            models.CheckConstraint(condition=models.Q(total__lt=0), name="credit_note_total_negative"),
        ]

    @property
    def display_number(self) -> str:
        return f"CN-{self.number:06d}"


class CreditNoteLine(TenantOwnedModel):
    id = models.BigAutoField(primary_key=True)
    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=200)
    model_name = models.CharField(max_length=64, blank=True, default="")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(**PRICE_DIGITS)
    amount = models.DecimalField(**AMOUNT_DIGITS)  # negative

    class Meta:
        ordering = ["credit_note", "position"]
