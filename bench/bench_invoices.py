"""Invoice benchmark (issue 5): close one month of 1,000,000 usage records across 1,000 hospitals into invoices.

One run, in its OWN database ``mip_bench_billing`` (dropped, recreated and migrated as the owner with
bench_tenant_scale's helpers), then:

1. load (not measured as invoicing): ``--hospitals`` hospitals, three plans (different quotas, prices and currencies,
   so both included and overage lines occur), one subscription each from the benchmark month, and ``--rows`` usage
   records spread over that month (skewed per hospital, three models) with COPY as the owner under operator
   access; ANALYZE;
2. measured: ``billing.services.invoices_close`` exactly as the Celery beat task runs it, in-process, connected as
   the application role ``mip_app`` (row-level security on, operator access named), closing the month for every
   hospital: a few set-based queries (open months, plans in force, one window + GROUP BY pass over the month's
   usage, last numbers) and bulk inserts of invoices and lines; no per-usage-row Python;
3. checks: one invoice per hospital, the invoices' assessment counts sum to the rows loaded, every total equals
   its lines; then closes again and reports that the re-run created nothing, and how long it took.

Prints the figures and a Markdown line for the README; writes ``.run/bench/invoices.json``.

    .venv/bin/python bench/bench_invoices.py [--hospitals 1000] [--rows 1000000]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone as dt_timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench"))
import bench_tenant_scale as scale  # noqa: E402  (reused: database reset, Django set-up, machine facts)

RESULT_PATH = REPO_ROOT / ".run" / "bench" / "invoices.json"
DB_NAME = "mip_bench_billing"
MODELS = ("bone_age", "chest_xray", "mammo_density")
COPY_CHUNK = 100_000


def bench_period(now: datetime) -> date:
    """The last completed month: the one the beat task would close today."""
    first = now.date().replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def usage_counts(hospitals: int, rows: int, rng: random.Random) -> list[int]:
    """Rows per hospital, skewed (a few large hospitals, many small), summing exactly to ``rows``."""
    weights = [rng.paretovariate(1.5) for _ in range(hospitals)]
    total = sum(weights)
    counts = [int(rows * w / total) for w in weights]
    for i in range(rows - sum(counts)):
        counts[i % hospitals] += 1
    return counts


def load(hospitals: int, rows: int, period: date, rng: random.Random) -> dict:
    """Hospitals, plans and subscriptions through the ORM (operator access), usage with COPY as the owner."""
    from decimal import Decimal

    import psycopg2  # noqa: PLC0415
    from django.db import transaction  # noqa: PLC0415

    from billing.models import Plan, PlanPrice, Subscription  # noqa: PLC0415
    from tenants.context import dangerously_operator_access  # noqa: PLC0415
    from tenants.models import Tenant  # noqa: PLC0415

    with dangerously_operator_access(reason="bench_invoices: load"), transaction.atomic():
        tenants = Tenant.objects.bulk_create(
            [Tenant(slug=f"bench-bill-{i:05d}", name=f"Bench Hospital {i:05d}") for i in range(hospitals)])
        plans = [
            Plan.objects.create(code="basic", name="Basic", currency="EUR", included_quota=200,
                                overage_unit_price=Decimal("2.4900")),
            Plan.objects.create(code="pro", name="Pro", currency="USD", included_quota=2000,
                                overage_unit_price=Decimal("1.9950"), monthly_cap=100000),
            Plan.objects.create(code="yen", name="Yen", currency="JPY", included_quota=500,
                                overage_unit_price=Decimal("310")),
        ]
        for plan, base in zip(plans, (Decimal("1.25"), Decimal("0.9875"), Decimal("150"))):
            PlanPrice.objects.bulk_create([PlanPrice(plan=plan, model_name=m, unit_price=base * (k + 1))
                                           for k, m in enumerate(MODELS)])
        Subscription.objects.dangerously_all_tenants().bulk_create(
            [Subscription(tenant=t, plan=plans[i % 3], effective_from=period, recorded_by="bench")
             for i, t in enumerate(tenants)], batch_size=1000)

    counts = usage_counts(hospitals, rows, rng)
    start = datetime(period.year, period.month, 1, tzinfo=dt_timezone.utc)
    seconds = int((datetime(period.year + (period.month == 12), period.month % 12 + 1, 1, tzinfo=dt_timezone.utc)
                   - start).total_seconds())
    conn = psycopg2.connect(host=scale.DB_HOST, port=scale.DB_PORT, user=scale.OWNER_ROLE, dbname=DB_NAME)
    t0 = time.perf_counter()
    try:
        with conn, conn.cursor() as cur:
            # Forced RLS applies to the owner too: load under the operator setting, in this transaction only.
            cur.execute("SELECT set_config('app.operator', 'on', true)")
            # COPY cannot write into a table under row-level security: COPY into a temporary staging table, then
            # one INSERT ... SELECT (checked by the policy like any insert).
            cur.execute("CREATE TEMP TABLE usage_load (tenant_id uuid, assessment_id uuid, model_name text, "
                        "model_version int, occurred_at timestamptz, recorded_at timestamptz) ON COMMIT DROP")
            buffer, in_buffer = io.StringIO(), 0
            recorded = datetime.now(dt_timezone.utc).isoformat()
            for tenant, count in zip(tenants, counts):
                tid = str(tenant.pk)
                for _ in range(count):
                    at = start + timedelta(seconds=rng.randrange(seconds))
                    buffer.write(f"{tid}\t{uuid.uuid4()}\t{MODELS[rng.randrange(3) if rng.random() < .3 else 0]}"
                                 f"\t1\t{at.isoformat()}\t{recorded}\n")
                    in_buffer += 1
                    if in_buffer == COPY_CHUNK:
                        buffer.seek(0)
                        cur.copy_expert("COPY usage_load (tenant_id, assessment_id, model_name, "
                                        "model_version, occurred_at, recorded_at) FROM STDIN", buffer)
                        buffer, in_buffer = io.StringIO(), 0
            if in_buffer:
                buffer.seek(0)
                cur.copy_expert("COPY usage_load (tenant_id, assessment_id, model_name, model_version, "
                                "occurred_at, recorded_at) FROM STDIN", buffer)
            cur.execute("INSERT INTO billing_usagerecord (tenant_id, assessment_id, model_name, model_version, "
                        "occurred_at, recorded_at) SELECT tenant_id, assessment_id, model_name, model_version, "
                        "occurred_at, recorded_at FROM usage_load")
            for table in ("billing_usagerecord", "billing_subscription", "billing_invoice", "billing_plan"):
                cur.execute(f"ANALYZE {table}")
    finally:
        conn.close()
    return {"hospitals": hospitals, "usage_rows": rows, "load_s": round(time.perf_counter() - t0, 1),
            "largest_hospital_rows": max(counts), "smallest_hospital_rows": min(counts)}


def check(rows: int, hospitals: int, period: date) -> dict:
    from django.db import connection  # noqa: PLC0415

    from tenants.context import dangerously_operator_access  # noqa: PLC0415

    with dangerously_operator_access(reason="bench_invoices: checks"), connection.cursor() as cur:
        cur.execute("SELECT count(*), sum(assessments) FROM billing_invoice WHERE period = %s", [period])
        invoices, billed = cur.fetchone()
        cur.execute("""SELECT count(*) FROM billing_invoice i WHERE i.total <> (SELECT coalesce(sum(amount), 0)
                       FROM billing_invoiceline l WHERE l.invoice_id = i.id)""")
        (mismatched,) = cur.fetchone()
        cur.execute("SELECT count(*), count(*) FILTER (WHERE kind = 'overage') FROM billing_invoiceline")
        lines, overage_lines = cur.fetchone()
        cur.execute("SELECT currency, sum(total) FROM billing_invoice GROUP BY currency ORDER BY currency")
        totals = {c: str(t) for c, t in cur.fetchall()}
    problems = []
    if invoices != hospitals:
        problems.append(f"{invoices} invoices for {hospitals} hospitals")
    if billed != rows:
        problems.append(f"invoices bill {billed} assessments, {rows} were loaded")
    if mismatched:
        problems.append(f"{mismatched} invoices whose total is not the sum of their lines")
    return {"invoices": invoices, "assessments_billed": int(billed or 0), "lines": lines,
            "overage_lines": overage_lines, "totals_by_currency": totals, "problems": problems}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hospitals", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    scale.DB_NAME = DB_NAME  # the helpers build their URLs from it
    print(f"database {DB_NAME}: drop, recreate, migrate as {scale.OWNER_ROLE} ...", flush=True)
    scale.reset_database()
    os.environ["MIP_CACHE_KEY_PREFIX"] = f"bench-billing-{os.getpid()}"
    scale.setup_django()
    from tenants.db_roles import app_role_problems  # noqa: PLC0415

    problems = app_role_problems()
    if problems:
        raise SystemExit(f"the benchmark must run as the application role under RLS: {'; '.join(problems)}")
    now = datetime.now(dt_timezone.utc)
    period = bench_period(now)
    print(f"loading {args.hospitals:,} hospitals and {args.rows:,} usage records for {period:%Y-%m} ...", flush=True)
    loaded = load(args.hospitals, args.rows, period, rng)
    print(f"  loaded in {loaded['load_s']} s", flush=True)

    from billing import services  # noqa: PLC0415

    print("closing the month (billing.services.invoices_close, as mip_app) ...", flush=True)
    t0 = time.perf_counter()
    result = services.invoices_close(now=now)
    close_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = services.invoices_close(now=now)
    rerun_s = time.perf_counter() - t0
    checks = check(args.rows, args.hospitals, period)
    summary = {
        "period": f"{period:%Y-%m}", **loaded, "close_s": round(close_s, 2),
        "usage_rows_per_s": round(args.rows / close_s), "invoices_per_s": round(result.invoices / close_s),
        "invoices_created": result.invoices, "lines_created": result.lines, "rerun_s": round(rerun_s, 3),
        "rerun_invoices_created": again.invoices, **checks, "machine": scale.machine_facts(),
    }
    RESULT_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULT_PATH.write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps({k: v for k, v in summary.items() if k != "machine"}, indent=2, default=str))
    print(f"\n| Invoice generation: {args.rows:,} usage records, {args.hospitals:,} hospitals, one month | "
          f"{close_s:.1f} s | {args.rows / close_s:,.0f} usage rows/s | {result.invoices:,} invoices, "
          f"{result.lines:,} lines | re-run: {again.invoices} created in {rerun_s:.2f} s |")
    if checks["problems"] or again.invoices:
        print("PROBLEMS: " + "; ".join(checks["problems"] + (["re-run created invoices"] if again.invoices else [])))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
