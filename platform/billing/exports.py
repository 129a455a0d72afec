"""An invoice as data: JSON (amounts as strings, never floats) and CSV (one row per line, then the total)."""
from __future__ import annotations

import csv
import io

from decimal import Decimal

from django.conf import settings

from billing.models import Invoice
from billing.money import quantum


def invoice_as_dict(invoice: Invoice) -> dict:
    """The invoice, its lines and its credit notes. Money is a decimal string in the invoice's currency."""
    return {
        "id": str(invoice.id),
        "number": invoice.display_number,
        "issuer": settings.BILLING_ISSUER_NAME,
        "hospital": {"id": str(invoice.tenant_id), "name": invoice.tenant.name},
        "period": f"{invoice.period:%Y-%m}",
        "plan": invoice.plan_name,
        "currency": invoice.currency,
        "included_quota": invoice.included_quota,
        "assessments": invoice.assessments,
        "lines": [
            {"position": line.position, "kind": line.kind, "model": line.model_name, "quantity": line.quantity,
             "unit_price": price_str(line.unit_price, invoice.currency),
             "amount": str(line.amount.quantize(_q(invoice)))}
            for line in invoice.lines.all()
        ],
        "total": str(invoice.total.quantize(_q(invoice))),
        "issued_at": invoice.issued_at.isoformat(),
        "credit_notes": [
            {"id": str(note.id), "number": note.display_number, "reason": note.reason,
             "total": str(note.total.quantize(_q(invoice))), "issued_at": note.issued_at.isoformat(),
             "lines": [{"position": l.position, "description": l.description, "model": l.model_name,
                        "quantity": l.quantity, "unit_price": price_str(l.unit_price, invoice.currency),
                        "amount": str(l.amount.quantize(_q(invoice)))} for l in note.lines.all()]}
            for note in invoice.credit_notes.all()
        ],
    }


def _q(invoice: Invoice):
    return quantum(invoice.currency)


def price_str(value: Decimal, currency: str) -> str:
    """A unit price with the currency's minor digits, more only when it has them ('12.50', '0.0125')."""
    short = value.quantize(quantum(currency))
    return format(short if short == value else value.normalize(), "f")


CSV_COLUMNS = ["invoice", "period", "currency", "position", "kind", "model", "quantity", "unit_price", "amount"]


def invoice_as_csv(invoice: Invoice) -> str:
    """One row per line, then a `total` row; credit notes follow as their own rows (negative amounts)."""
    data = invoice_as_dict(invoice)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow(CSV_COLUMNS)
    for line in data["lines"]:
        writer.writerow([data["number"], data["period"], data["currency"], line["position"], line["kind"],
                         line["model"], line["quantity"], line["unit_price"], line["amount"]])
    writer.writerow([data["number"], data["period"], data["currency"], "", "total", "", data["assessments"], "",
                     data["total"]])
    for note in data["credit_notes"]:
        for line in note["lines"]:
            writer.writerow([note["number"], data["period"], data["currency"], line["position"], "credit",
                             line["model"], line["quantity"], line["unit_price"], line["amount"]])
    return buffer.getvalue()
