"""Scheduled billing work."""
from __future__ import annotations

from celery import shared_task

from billing import services


@shared_task(name="billing.tasks.close_month")
def close_month() -> dict:
    """Close every completed month not yet invoiced (Celery beat, daily). Idempotent: a re-run changes nothing."""
    result = services.invoices_close()
    return {"invoices": result.invoices, "lines": result.lines, "periods": result.periods,
            "left_open": len(result.left_open)}
