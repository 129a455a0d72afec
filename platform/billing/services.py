"""Writes on billing: plans, plan changes, usage records, the quota check, closing months, credit notes."""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from billing.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, Plan, PlanPrice, Subscription
from billing.money import line_amount, minor_unit, round_money
from billing.periods import month_start, next_month, period_bounds
from billing.selectors import plan_in_force
from tenants.context import dangerously_operator_access, tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock keys. Closing months takes one platform-wide lock, so two beat runs (or an operator's
# manual run beside the scheduled one) serialise and the second finds the months already closed.
_CLOSE_LOCK = "billing:close-month"
QUOTA_NAME = "monthly_assessment_cap"


class BillingError(ValueError):
    """A billing operation the platform refuses, with a message for the operator."""


def _advisory_xact_lock(key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def _record_change(*, event: str | None, tenant: Tenant | None, actor: str, object_type: str, object_id: str,
                   details: dict) -> None:
    """Record a billing change on the audit trail, in the caller's transaction (AuditUnavailable rolls it back).

    `event` is a code of platform/audit/events.py.
    """
    from audit.services import audit_event_record

    audit_event_record(event=event, tenant=tenant, username=actor, object_type=object_type, object_id=object_id,
                       details=details)


# ---------------------------------------------------------------------------------------------------------------
# Plans and subscriptions
# ---------------------------------------------------------------------------------------------------------------


@transaction.atomic
def plan_create(*, code: str, name: str, currency: str, included_quota: int, overage_unit_price: Decimal,
                prices: dict[str, Decimal | tuple[Decimal, Decimal | None]], monthly_cap: int | None = None,
                actor: str) -> Plan:
    """Create a plan with a price per model. `prices` maps model name -> unit price, or (unit price, overage
    price override). Raises BillingError for an unknown currency, a float or negative price."""
    currency = (currency or "").upper()
    try:
        minor_unit(currency)
    except ValueError as exc:
        raise BillingError(str(exc)) from None
    for value in [overage_unit_price, *[p[0] if isinstance(p, tuple) else p for p in prices.values()]]:
        if not isinstance(value, Decimal) or value < 0:
            raise BillingError(f"prices must be non-negative Decimals, got {value!r}")
    if monthly_cap is not None and monthly_cap < 0:
        raise BillingError("monthly_cap must be a count of assessments")
    plan = Plan.objects.create(code=code, name=name, currency=currency, included_quota=included_quota,
                               overage_unit_price=overage_unit_price, monthly_cap=monthly_cap)
    for model_name, price in prices.items():
        unit, overage = price if isinstance(price, tuple) else (price, None)
        PlanPrice.objects.create(plan=plan, model_name=model_name, unit_price=unit, overage_unit_price=overage)
    _record_change(event="plan.create", tenant=None, actor=actor, object_type="plan", object_id=str(plan.pk),
                   details={"plan": code, "currency": currency})
    return plan


@transaction.atomic
def subscription_change(*, tenant: Tenant, plan: Plan, effective_from: date, actor: str) -> Subscription:
    """Put the hospital on `plan` from `effective_from`: the first day of the current or a later month (UTC).

    Appends a row (the history is never rewritten); a later row for the same date supersedes an earlier one.
    Completed months cannot be re-priced (only they are ever closed, so a change cannot race a closing).
    Raises BillingError otherwise.
    """
    if effective_from.day != 1:
        raise BillingError("A plan change applies from the first day of a month (billing periods are months).")
    if effective_from < month_start(timezone.now()):
        raise BillingError("A plan change cannot apply to a completed month; correct its invoice with a credit "
                           "note instead.")
    with tenant_context(tenant):
        closed = Invoice.objects.filter(period__gte=effective_from).order_by("period").first()
        if closed is not None:
            raise BillingError(f"{closed.period:%Y-%m} is already invoiced ({closed.display_number}); "
                               f"a plan change can only apply from an open month.")
        previous = plan_in_force(tenant=tenant, on=effective_from)
        subscription = Subscription.objects.create(tenant=tenant, plan=plan, effective_from=effective_from,
                                                   recorded_by=actor)
        _record_change(event="plan.change", tenant=tenant, actor=actor, object_type="plan", object_id=str(plan.pk),
                       details={"from": previous.code if previous else "", "to": plan.code,
                                "effective_from": effective_from.isoformat()})
    return subscription


# ---------------------------------------------------------------------------------------------------------------
# Usage and quota
# ---------------------------------------------------------------------------------------------------------------

_INSERT_USAGE = """
INSERT INTO billing_usagerecord (tenant_id, assessment_id, model_name, model_version, occurred_at, recorded_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (assessment_id) DO NOTHING
RETURNING id
"""


def usage_record_for_success(*, assessment) -> bool:
    """Record the one billable event of a succeeded assessment. Call inside the transaction that stores the
    result (inference.services.assessment_succeed), so the result and its usage commit or vanish together.

    Idempotent: the unique assessment_id and ON CONFLICT DO NOTHING make a replay (a redelivered task, a
    duplicate, concurrent workers) a no-op even without the assessment's row lock. Returns whether it was new.
    Shadow runs never come here (inference.services.shadow_result_record), nor do failed assessments.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("usage must be recorded in the transaction that records the result")
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_USAGE, [str(assessment.tenant_id), str(assessment.pk), assessment.model_name,
                                       int(assessment.model_version), assessment.finished_at or now, now])
        return cursor.fetchone() is not None


@dataclass(frozen=True)
class QuotaRefusal:
    quota: str
    limit: int
    used: int
    in_flight: int
    resets_at: datetime
    plan: str

    @property
    def message(self) -> str:
        return (f"Your hospital's plan allows {self.limit} assessments per calendar month (UTC); "
                f"{self.used} have been completed and {self.in_flight} are in progress this month. "
                f"New submissions are accepted again from {self.resets_at.isoformat()}; work already accepted "
                f"finishes.")

    def problem_extra(self) -> dict:
        return {"quota": {"name": self.quota, "limit": self.limit, "used": self.used, "in_flight": self.in_flight,
                          "resets_at": self.resets_at.isoformat(), "plan": self.plan}}

    def retry_after_s(self, now: datetime) -> int:
        return max(1, int((self.resets_at - now).total_seconds()) + 1)


def quota_refusal(*, tenant: Tenant, now: datetime | None = None) -> QuotaRefusal | None:
    """Whether one more submission would pass the plan's monthly cap; None when it may go ahead.

    Counts this month's usage records (completed work) plus the hospital's assessments still queued or running
    (accepted work that will most likely become usage), so a burst cannot overshoot. Must run inside the
    transaction that creates the assessment: a per-hospital advisory lock held to its commit serialises
    concurrent submissions of a capped hospital, so the cap is exact for submissions. Work already accepted is
    never stopped (succeeding never checks the cap), and a failed assessment frees its place.
    """
    from inference.models import Assessment

    now = now or timezone.now()
    plan = plan_in_force(tenant=tenant, on=month_start(now))
    if plan is None or plan.monthly_cap is None:
        return None
    if not connection.in_atomic_block:
        raise RuntimeError("the quota check must run in the transaction that creates the assessment")
    _advisory_xact_lock(f"billing:quota:{tenant.pk}")
    start, end = period_bounds(month_start(now))
    from billing.models import UsageRecord

    used = UsageRecord.objects.for_tenant(tenant).filter(occurred_at__gte=start, occurred_at__lt=end).count()
    in_flight = Assessment.objects.for_tenant(tenant).filter(
        status__in=[Assessment.Status.QUEUED, Assessment.Status.RUNNING]).count()
    if used + in_flight < plan.monthly_cap:
        return None
    return QuotaRefusal(quota=QUOTA_NAME, limit=plan.monthly_cap, used=used, in_flight=in_flight, resets_at=end,
                        plan=plan.code)


# ---------------------------------------------------------------------------------------------------------------
# Closing months into invoices
# ---------------------------------------------------------------------------------------------------------------

# Every (hospital, month) that is complete, on a plan, and not invoiced. Months count from the hospital's first
# plan; usage before any plan is recorded but not billed.
_OPEN_PERIODS_SQL = """
SELECT s.tenant_id, gs::date AS period
FROM (SELECT tenant_id, min(effective_from) AS first FROM billing_subscription GROUP BY tenant_id) s
CROSS JOIN LATERAL generate_series(s.first, %s::date, interval '1 month') gs
WHERE NOT EXISTS (SELECT 1 FROM billing_invoice i WHERE i.tenant_id = s.tenant_id AND i.period = gs::date)
ORDER BY period, s.tenant_id
"""

# The plan in force for each hospital on the first day of the month (plan changes apply from a month's first day,
# so it is the plan of the whole month).
_PLANS_SQL = """
SELECT DISTINCT ON (tenant_id) tenant_id, plan_id
FROM billing_subscription
WHERE tenant_id = ANY(%s::uuid[]) AND effective_from <= %s
ORDER BY tenant_id, effective_from DESC, id DESC
"""

# Usage of the month per hospital and model, split at each hospital's included quota. The quota is consumed in
# the order assessments succeeded (across models), the same order the hospital watched its usage grow in.
# One pass over the month's rows; nothing is done per row in Python.
_USAGE_SPLIT_SQL = """
WITH quota AS (
    SELECT * FROM unnest(%s::uuid[], %s::bigint[]) AS q(tenant_id, included)
), ordered AS (
    SELECT u.tenant_id, u.model_name,
           row_number() OVER (PARTITION BY u.tenant_id ORDER BY u.occurred_at, u.id) AS seq
    FROM billing_usagerecord u
    WHERE u.tenant_id = ANY(%s::uuid[]) AND u.occurred_at >= %s AND u.occurred_at < %s
)
SELECT o.tenant_id, o.model_name,
       count(*) FILTER (WHERE o.seq <= q.included) AS within_quota,
       count(*) FILTER (WHERE o.seq > q.included) AS over_quota
FROM ordered o JOIN quota q ON q.tenant_id = o.tenant_id
GROUP BY o.tenant_id, o.model_name
ORDER BY o.tenant_id, o.model_name
"""

_LAST_NUMBERS_SQL = """
SELECT tenant_id, max(number) FROM billing_invoice WHERE tenant_id = ANY(%s::uuid[]) GROUP BY tenant_id
"""


@dataclass
class CloseResult:
    invoices: int = 0
    lines: int = 0
    periods: list[str] = field(default_factory=list)
    # (hospital id, month, reason): months left open, e.g. a model used without a price on the plan.
    left_open: list[tuple[str, str, str]] = field(default_factory=list)


def invoices_close(*, now: datetime | None = None) -> CloseResult:
    """Close every completed month (before the month of `now`, UTC) not yet invoiced, for every hospital with a
    plan, oldest month first, one transaction per month. Re-running it changes nothing.

    Operator path (crosses hospitals, under audited operator access). A hospital-month whose usage includes a
    model the plan has no price for is left open and reported (never billed at a guessed price); that hospital's
    later months wait too, so invoice numbers keep following the months.
    """
    now = now or timezone.now()
    last_complete = month_start(month_start(now) - timedelta(days=1))
    result = CloseResult()
    blocked: set[str] = set()
    with dangerously_operator_access(reason="billing: close completed months into invoices"):
        with connection.cursor() as cursor:
            cursor.execute(_OPEN_PERIODS_SQL, [last_complete])
            open_periods = cursor.fetchall()
        by_period: dict[date, list[str]] = defaultdict(list)
        for tenant_id, period in open_periods:
            by_period[period].append(str(tenant_id))
        for period in sorted(by_period):
            tenant_ids = [t for t in by_period[period] if t not in blocked]
            if tenant_ids:
                _close_period(period=period, tenant_ids=tenant_ids, result=result, blocked=blocked)
    return result


@transaction.atomic
def _close_period(*, period: date, tenant_ids: list[str], result: CloseResult, blocked: set[str]) -> None:
    _advisory_xact_lock(_CLOSE_LOCK)
    # Under the lock: another run may have closed some of these months since they were listed.
    done = set(str(t) for t in Invoice.objects.dangerously_all_tenants()
               .filter(period=period, tenant_id__in=tenant_ids).values_list("tenant_id", flat=True))
    tenant_ids = [t for t in tenant_ids if t not in done]
    if not tenant_ids:
        return
    start, end = period_bounds(period)
    with connection.cursor() as cursor:
        cursor.execute(_PLANS_SQL, [tenant_ids, period])
        plan_of = {str(t): plan_id for t, plan_id in cursor.fetchall()}
    plans = {p.pk: p for p in Plan.objects.filter(pk__in=set(plan_of.values())).prefetch_related("prices")}
    prices = {pk: {price.model_name: price for price in plan.prices.all()} for pk, plan in plans.items()}
    tenant_ids = [t for t in tenant_ids if t in plan_of]
    quotas = [plans[plan_of[t]].included_quota for t in tenant_ids]
    usage: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_USAGE_SPLIT_SQL, [tenant_ids, quotas, tenant_ids, start, end])
        for tenant_id, model_name, within, over in cursor.fetchall():
            usage[str(tenant_id)].append((model_name, within, over))
        cursor.execute(_LAST_NUMBERS_SQL, [tenant_ids])
        last_number = {str(t): n for t, n in cursor.fetchall()}

    issued_at = timezone.now()
    invoices, lines = [], []
    for tenant_id in tenant_ids:
        plan = plans[plan_of[tenant_id]]
        plan_prices = prices[plan.pk]
        missing = sorted({m for m, _, _ in usage[tenant_id]} - set(plan_prices))
        if missing:
            reason = f"plan {plan.code} has no price for {', '.join(missing)}"
            logger.error("billing: %s for %s left open: %s", f"{period:%Y-%m}", tenant_id, reason)
            result.left_open.append((tenant_id, f"{period:%Y-%m}", reason))
            blocked.add(tenant_id)
            continue
        invoice = Invoice(tenant_id=tenant_id, period=period, number=last_number.get(tenant_id, 0) + 1,
                          plan=plan, plan_name=plan.name, currency=plan.currency,
                          included_quota=plan.included_quota, assessments=0, total=Decimal(0), issued_at=issued_at)
        position = 0
        for kind in (InvoiceLine.Kind.INCLUDED, InvoiceLine.Kind.OVERAGE):
            for model_name, within, over in usage[tenant_id]:
                quantity = within if kind == InvoiceLine.Kind.INCLUDED else over
                if not quantity:
                    continue
                price = plan_prices[model_name]
                unit = price.unit_price if kind == InvoiceLine.Kind.INCLUDED else (
                    price.overage_unit_price if price.overage_unit_price is not None else plan.overage_unit_price)
                amount = line_amount(quantity, unit, plan.currency)
                position += 1
                lines.append(InvoiceLine(tenant_id=tenant_id, invoice=invoice, position=position, kind=kind,
                                         model_name=model_name, quantity=quantity, unit_price=unit, amount=amount))
                invoice.assessments += quantity
                invoice.total += amount
        invoice.total = round_money(invoice.total, plan.currency)
        invoices.append(invoice)
    Invoice.objects.dangerously_all_tenants().bulk_create(invoices, batch_size=1000)
    InvoiceLine.objects.dangerously_all_tenants().bulk_create(lines, batch_size=2000)
    from webhooks.services import invoices_issued_publish  # invoice.issued, sent on commit
    invoices_issued_publish(invoices=invoices)
    result.invoices += len(invoices)
    result.lines += len(lines)
    result.periods.append(f"{period:%Y-%m}")
    logger.info("billing: closed %s: %d invoices, %d lines", f"{period:%Y-%m}", len(invoices), len(lines))


# ---------------------------------------------------------------------------------------------------------------
# Credit notes
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditLine:
    description: str
    quantity: int
    unit_price: Decimal  # positive; the note's amounts are its negation
    model_name: str = ""


@transaction.atomic
def credit_note_issue(*, invoice: Invoice, lines: list[CreditLine], reason: str, actor: str) -> CreditNote:
    """Correct an issued invoice with a credit note (negative amounts, the hospital's next CN number).

    The invoice itself never changes. Raises BillingError for no lines, a non-Decimal or non-positive price, or
    when the invoice's credit notes together would exceed its total.
    """
    if not lines or not reason.strip():
        raise BillingError("A credit note needs at least one line and a reason.")
    for line in lines:
        if not isinstance(line.unit_price, Decimal) or line.unit_price <= 0 or line.quantity <= 0:
            raise BillingError("Credit lines need a positive quantity and a positive Decimal unit price.")
    tenant = invoice.tenant
    with tenant_context(tenant):
        _advisory_xact_lock(f"billing:numbering:{tenant.pk}")
        amounts = [-line_amount(line.quantity, line.unit_price, invoice.currency) for line in lines]
        total = sum(amounts, Decimal(0))
        credited = sum((n.total for n in CreditNote.objects.filter(invoice=invoice)), Decimal(0))
        if invoice.total + credited + total < 0:
            raise BillingError(f"The credit notes would exceed the invoice's total of {invoice.total} "
                               f"{invoice.currency} ({-credited} already credited).")
        last = CreditNote.objects.order_by("-number").values_list("number", flat=True).first() or 0
        note = CreditNote.objects.create(tenant=tenant, invoice=invoice, number=last + 1, currency=invoice.currency,
                                         reason=reason, total=total, issued_by=actor)
        CreditNoteLine.objects.bulk_create([
            CreditNoteLine(tenant=tenant, credit_note=note, position=i, description=line.description,
                           model_name=line.model_name, quantity=line.quantity, unit_price=line.unit_price,
                           amount=amount)
            for i, (line, amount) in enumerate(zip(lines, amounts), start=1)
        ])
        _record_change(event="invoice.credit", tenant=tenant, actor=actor, object_type="credit_note", object_id=str(note.pk),
                       details={"invoice": invoice.display_number, "credit_note": note.display_number})
    return note
