"""Closing months into invoices: quota and overage lines, Decimal rounding, numbering, idempotence, immutability,
credit notes, plan changes from a stated month, and the CSV / JSON exports."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import services
from billing.exports import invoice_as_csv, invoice_as_dict
from billing.models import CreditNote, Invoice, InvoiceLine
from billing.money import UnknownCurrency, line_amount, round_money
from billing.periods import month_start, next_month
from tenants.context import tenant_context
from tests.billing.factories import add_usage, make_plan, subscribe
from tests.billing.test_usage_recording import assert_refused

THIS_MONTH = month_start(timezone.now())
LAST_MONTH = month_start(date.fromordinal(THIS_MONTH.toordinal() - 1))


def _at(period: date, day: int, hour: int = 12) -> datetime:
    return datetime(period.year, period.month, day, hour, tzinfo=dt_timezone.utc)


def _close(now_period: date):
    return services.invoices_close(now=_at(now_period, 2))


def _invoices(tenant):
    with tenant_context(tenant):
        return list(Invoice.objects.order_by("period").prefetch_related("lines"))


def test_rounding_is_half_up_to_the_currency_minor_unit():
    assert round_money(Decimal("0.125"), "EUR") == Decimal("0.13")
    assert round_money(Decimal("-0.125"), "EUR") == Decimal("-0.13")
    assert round_money(Decimal("0.124999"), "EUR") == Decimal("0.12")
    assert round_money(Decimal("12.5"), "JPY") == Decimal("13")
    assert round_money(Decimal("1.0005"), "KWD") == Decimal("1.001")
    # Rounded once per line, not per assessment: 3 x 0.0125 = 0.0375 -> 0.04 (per assessment would give 0.03).
    assert line_amount(3, Decimal("0.0125"), "EUR") == Decimal("0.04")
    with pytest.raises(TypeError):
        round_money(0.1, "EUR")  # floats are refused, never silently converted
    with pytest.raises(UnknownCurrency):
        round_money(Decimal("1"), "XXX")


def test_plans_refuse_unknown_currencies_and_float_prices(db):
    with pytest.raises(services.BillingError):
        make_plan("bad-currency", currency="EURO")
    with pytest.raises(services.BillingError):
        services.plan_create(code="float", name="Float", currency="EUR", included_quota=1,
                             overage_unit_price=0.5, prices={}, actor="t")


def test_a_month_closes_into_included_and_overage_lines_per_model(hospital_a):
    plan = make_plan(included_quota=5, overage="2.105",
                     prices={"bone_age": Decimal("1.333"), "chest": (Decimal("0.50"), Decimal("0.75"))})
    subscribe(hospital_a.tenant, plan, THIS_MONTH)
    # 4 bone age, then 3 chest: the quota of 5 is used in the order assessments succeeded.
    add_usage(hospital_a.tenant, count=4, occurred_at=_at(THIS_MONTH, 3))
    add_usage(hospital_a.tenant, count=3, occurred_at=_at(THIS_MONTH, 5), model_name="chest")
    add_usage(hospital_a.tenant, count=2, occurred_at=_at(THIS_MONTH, 7))
    add_usage(hospital_a.tenant, count=9, occurred_at=_at(next_month(THIS_MONTH), 1))  # next month: not here

    result = _close(next_month(THIS_MONTH))
    assert (result.invoices, result.periods) == (1, [f"{THIS_MONTH:%Y-%m}"])
    [invoice] = _invoices(hospital_a.tenant)
    lines = [(l.kind, l.model_name, l.quantity, l.unit_price, l.amount) for l in invoice.lines.all()]
    assert lines == [
        ("included", "bone_age", 4, Decimal("1.3330"), Decimal("5.33")),  # 5.332 -> 5.33
        ("included", "chest", 1, Decimal("0.5000"), Decimal("0.50")),
        ("overage", "bone_age", 2, Decimal("2.1050"), Decimal("4.21")),  # plan overage price
        ("overage", "chest", 2, Decimal("0.7500"), Decimal("1.50")),  # the model's own overage price
    ]
    assert (invoice.assessments, invoice.total, invoice.currency) == (9, Decimal("11.54"), "EUR")
    assert invoice.total == sum(l.amount for l in invoice.lines.all())


def test_closing_again_changes_nothing(hospital_a, hospital_b):
    plan = make_plan(included_quota=1)
    for hospital in (hospital_a, hospital_b):
        subscribe(hospital.tenant, plan, THIS_MONTH)
        add_usage(hospital.tenant, count=3, occurred_at=_at(THIS_MONTH, 10))
    first = _close(next_month(THIS_MONTH))
    assert first.invoices == 2
    before = {h.tenant.pk: [(i.pk, i.number, i.total, i.issued_at) for i in _invoices(h.tenant)]
              for h in (hospital_a, hospital_b)}
    for _ in range(3):
        again = _close(next_month(THIS_MONTH))
        assert (again.invoices, again.lines, again.periods) == (0, 0, [])
    after = {h.tenant.pk: [(i.pk, i.number, i.total, i.issued_at) for i in _invoices(h.tenant)]
             for h in (hospital_a, hospital_b)}
    assert after == before
    # The current month is never closed, only completed ones.
    assert _close(THIS_MONTH).invoices == 0


def test_invoice_numbers_are_sequential_per_hospital_and_follow_the_months(hospital_a, hospital_b):
    plan = make_plan(included_quota=0)
    subscribe(hospital_a.tenant, plan, THIS_MONTH)
    subscribe(hospital_b.tenant, plan, THIS_MONTH)
    in_three_months = next_month(next_month(next_month(THIS_MONTH)))
    _close(in_three_months)  # three completed months at once, oldest first
    for hospital in (hospital_a, hospital_b):
        invoices = _invoices(hospital.tenant)
        assert [i.number for i in invoices] == [1, 2, 3]
        assert [i.display_number for i in invoices] == ["INV-000001", "INV-000002", "INV-000003"]
        assert all(i.total == Decimal("0.00") for i in invoices)  # a month without usage is still closed


def test_an_issued_invoice_and_its_lines_cannot_be_changed_by_the_application_role(hospital_a):
    subscribe(hospital_a.tenant, make_plan(), THIS_MONTH)
    add_usage(hospital_a.tenant, count=2, occurred_at=_at(THIS_MONTH, 4))
    _close(next_month(THIS_MONTH))
    with tenant_context(hospital_a.tenant):
        for statement in ("UPDATE billing_invoice SET total = 0", "DELETE FROM billing_invoice",
                          "UPDATE billing_invoiceline SET amount = 0", "DELETE FROM billing_invoiceline",
                          "UPDATE billing_subscription SET plan_id = plan_id", "DELETE FROM billing_subscription"):
            assert_refused(statement, tenant=hospital_a.tenant)
        invoice = Invoice.objects.get()
        assert invoice.total == Decimal("3.00")
        # Through the ORM too.
        from django.db import DatabaseError

        invoice.total = Decimal("0")
        with pytest.raises(DatabaseError):
            from django.db import transaction

            with transaction.atomic():
                invoice.save()


def test_a_credit_note_corrects_an_invoice_with_negative_amounts_and_its_own_number(hospital_a):
    subscribe(hospital_a.tenant, make_plan(), THIS_MONTH)
    add_usage(hospital_a.tenant, count=4, occurred_at=_at(THIS_MONTH, 4))
    _close(next_month(THIS_MONTH))
    [invoice] = _invoices(hospital_a.tenant)
    note = services.credit_note_issue(invoice=invoice, reason="Two assessments repeated after a scanner fault",
                                      lines=[services.CreditLine("Repeated bone age", 2, Decimal("1.50"),
                                                                 "bone_age")], actor="operator:finance")
    assert (note.display_number, note.total) == ("CN-000001", Decimal("-3.00"))
    with pytest.raises(services.BillingError, match="exceed"):
        services.credit_note_issue(invoice=invoice, reason="too much", actor="operator:finance",
                                   lines=[services.CreditLine("x", 3, Decimal("1.50"))])
    second = services.credit_note_issue(invoice=invoice, reason="rest", actor="operator:finance",
                                        lines=[services.CreditLine("x", 1, Decimal("3.00"))])
    assert second.display_number == "CN-000002"
    with tenant_context(hospital_a.tenant):
        assert Invoice.objects.get().total == Decimal("6.00")  # the invoice itself never changes
        assert CreditNote.objects.count() == 2
        assert_refused("UPDATE billing_creditnote SET total = -1", tenant=hospital_a.tenant)


def test_a_plan_change_applies_from_its_stated_month(hospital_a):
    cheap = make_plan("cheap", included_quota=0, overage="1.00")
    dear = make_plan("dear", included_quota=0, overage="3.00", currency="CHF")
    subscribe(hospital_a.tenant, cheap, THIS_MONTH)
    services.subscription_change(tenant=hospital_a.tenant, plan=dear, effective_from=next_month(THIS_MONTH),
                                 actor="operator:sales")
    add_usage(hospital_a.tenant, count=2, occurred_at=_at(THIS_MONTH, 28, 23))
    add_usage(hospital_a.tenant, count=2, occurred_at=_at(next_month(THIS_MONTH), 1, 0))
    _close(next_month(next_month(THIS_MONTH)))
    invoices = _invoices(hospital_a.tenant)
    assert [(i.plan_name, i.currency, i.total) for i in invoices] == [
        ("Cheap", "EUR", Decimal("2.00")), ("Dear", "CHF", Decimal("6.00"))]
    from billing.selectors import plan_in_force

    with tenant_context(hospital_a.tenant):
        assert plan_in_force(tenant=hospital_a.tenant, on=THIS_MONTH.replace(day=28)) == cheap
        assert plan_in_force(tenant=hospital_a.tenant, on=next_month(THIS_MONTH)) == dear
        assert plan_in_force(tenant=hospital_a.tenant, on=LAST_MONTH) is None


def test_plan_changes_apply_from_a_month_start_that_is_not_completed(hospital_a):
    plan = make_plan()
    with pytest.raises(services.BillingError, match="first day"):
        services.subscription_change(tenant=hospital_a.tenant, plan=plan, effective_from=THIS_MONTH.replace(day=2),
                                     actor="t")
    with pytest.raises(services.BillingError, match="completed month"):
        services.subscription_change(tenant=hospital_a.tenant, plan=plan, effective_from=LAST_MONTH, actor="t")


def test_a_model_without_a_price_leaves_the_month_open_instead_of_guessing(hospital_a):
    subscribe(hospital_a.tenant, make_plan(prices={"bone_age": Decimal("1")}), THIS_MONTH)
    add_usage(hospital_a.tenant, count=1, occurred_at=_at(THIS_MONTH, 3), model_name="chest")
    result = _close(next_month(next_month(THIS_MONTH)))
    assert result.invoices == 0 and len(result.left_open) == 1 and "chest" in result.left_open[0][2]
    assert _invoices(hospital_a.tenant) == []


def test_exports_as_csv_and_json_carry_exact_decimal_amounts(hospital_a):
    subscribe(hospital_a.tenant, make_plan(included_quota=2, overage="0.0125"), THIS_MONTH)
    add_usage(hospital_a.tenant, count=5, occurred_at=_at(THIS_MONTH, 9))
    _close(next_month(THIS_MONTH))
    [invoice] = _invoices(hospital_a.tenant)
    with tenant_context(hospital_a.tenant):
        data = invoice_as_dict(invoice)
        text = invoice_as_csv(invoice)
    assert json.loads(json.dumps(data)) == data
    assert [(l["kind"], l["quantity"], l["unit_price"], l["amount"]) for l in data["lines"]] == [
        ("included", 2, "1.50", "3.00"), ("overage", 3, "0.0125", "0.04")]
    assert data["total"] == "3.04" and data["number"] == "INV-000001" and data["period"] == f"{THIS_MONTH:%Y-%m}"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["amount"] for r in rows] == ["3.00", "0.04", "3.04"]
    assert rows[-1]["kind"] == "total" and rows[-1]["quantity"] == "5"


def test_the_beat_task_is_scheduled_and_closes(hospital_a, settings):
    from billing.tasks import close_month

    assert settings.CELERY_BEAT_SCHEDULE["billing-close-month"]["task"] == "billing.tasks.close_month"
    assert close_month.apply().get()["invoices"] == 0  # nothing completed on a plan yet
