"""Tenant-scale benchmark (issue #3): does a hospital's list endpoint keep its latency with 1,000 hospitals?

One run, in its OWN database ``mip_bench_scale`` (dropped and recreated at the start, so runs are repeatable;
migrated as the owner role in a subprocess), then in-process Django connected as the application role
``mip_app`` (row-level security applies, exactly as in production) and Django's test Client with a real API key:

1. phase 1: 10 hospitals, each with N assessments (rows only: Study, ImageInstance with a fake storage key and
   SHA-256, Assessment with a succeeded bone-age result; no S3 or model server is needed because the list and
   detail endpoints only read rows), ANALYZE, then for the first hospital, after a warm-up, ``--calls`` each of
   ``GET /api/v1/assessments`` (list, default limit 50), ``GET /api/v1/assessments/{id}`` (detail) and the list
   query alone through the ORM (no HTTP), interleaved;
2. phase 2: grow to ``--hospitals`` hospitals (same N each), ANALYZE, measure the same hospital again.

It prints a side-by-side table (p50/p95 and their ratios), the row counts, and EXPLAIN (ANALYZE, BUFFERS) of the
list query run as the application role inside the hospital's context (so the plan includes the RLS filter),
with what the plan uses (index or seq scan, sort or index order). Results go to ``.run/bench/tenant_scale.json``
and a Markdown table for the README is printed last. Needs only PostgreSQL (``scripts/devstack.py`` starts it)
and, for the API's rate limiter, Redis if it is running (the limiter fails open without it; limits are raised
so the benchmark's own calls are never refused).

    .venv/bin/python bench/bench_tenant_scale.py [--hospitals 1000] [--per-hospital 20] [--calls 200]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform as _stdlib_platform
import random
import re
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOT = REPO_ROOT / "platform"
RESULT_PATH = REPO_ROOT / ".run" / "bench" / "tenant_scale.json"

DB_NAME = "mip_bench_scale"
DB_HOST = "127.0.0.1"
DB_PORT = 5432
OWNER_ROLE = "mip_owner"  # same names as scripts/devstack.py (imported lazily there)
APP_ROLE = "mip_app"
BASELINE_HOSPITALS = 10
DEFAULT_HOSPITALS = 1000
DEFAULT_PER_HOSPITAL = 20
DEFAULT_CALLS = 200
DEFAULT_WARMUP = 20
HOSPITALS_PER_TRANSACTION = 50
BULK_BATCH_SIZE = 500
# The list latency may grow by this factor at most before the run says it did not keep its latency.
KEEP_THRESHOLD = 1.5
LIST_INDEX = "assessment_tenant_recent"
ASSESSMENT_TABLE = "inference_assessment"
# The tables the endpoints read (a database-wide ANALYZE as the owner would warn about every catalog it skips).
ANALYZED_TABLES = ("tenants_tenant", "tenants_apikey", "studies_study", "studies_imageinstance", ASSESSMENT_TABLE)

# (key, label) in table order. "list" is the endpoint the requirement is about.
ENDPOINTS = [
    ("list", "GET /api/v1/assessments (list, limit 50)"),
    ("detail", "GET /api/v1/assessments/{id} (detail)"),
    ("orm_list", "list query alone (ORM, no HTTP)"),
]


# --------------------------------------------------------------------------------------------------
# Summaries and formatting (pure; tested without a database)
# --------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100) with linear interpolation (numpy's default); ValueError when empty."""
    if not values:
        raise ValueError("percentile of an empty list")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(small_s: dict[str, list[float]], large_s: dict[str, list[float]]) -> list[dict]:
    """One row per endpoint measured in both phases: p50/p95 in ms at each scale and large/small ratios.

    ``small_s`` / ``large_s`` map an endpoint key to its per-call latencies in seconds (phase 1 / phase 2).
    Ratios compare like with like (p50 with p50, p95 with p95); above 1 means slower with more hospitals.
    """
    labels = dict(ENDPOINTS)
    keys = [k for k, _ in ENDPOINTS if k in small_s and k in large_s]
    keys += [k for k in small_s if k in large_s and k not in labels]
    rows = []
    for key in keys:
        small, large = small_s[key], large_s[key]
        row = {
            "key": key,
            "label": labels.get(key, key),
            "n_small": len(small),
            "n_large": len(large),
            "small_p50_ms": percentile(small, 50) * 1000,
            "small_p95_ms": percentile(small, 95) * 1000,
            "large_p50_ms": percentile(large, 50) * 1000,
            "large_p95_ms": percentile(large, 95) * 1000,
        }
        row["p50_ratio"] = row["large_p50_ms"] / row["small_p50_ms"]
        row["p95_ratio"] = row["large_p95_ms"] / row["small_p95_ms"]
        rows.append(row)
    return rows


def verdict(rows: list[dict], threshold: float = KEEP_THRESHOLD) -> dict:
    """Whether the list endpoint kept its latency: its p50 ratio at most ``threshold``."""
    by_key = {r["key"]: r for r in rows}
    if "list" not in by_key:
        raise ValueError("no list endpoint row to judge")
    ratio = by_key["list"]["p50_ratio"]
    return {"kept": ratio <= threshold, "list_p50_ratio": ratio, "threshold": threshold}


def _ratio(value: float) -> str:
    return f"{value:.2f}×"


def format_console_table(rows: list[dict], small_hospitals: int, large_hospitals: int) -> str:
    a, b = f"{small_hospitals:,} hosp.", f"{large_hospitals:,} hosp."
    width = max(len(r["label"]) for r in rows)
    header = (f"{'Endpoint':<{width}}  {a + ' p50':>16} {a + ' p95':>16}  {b + ' p50':>17} {b + ' p95':>17}"
              f"  {'p50 ratio':>9} {'p95 ratio':>9}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['label']:<{width}}  {r['small_p50_ms']:>13.2f} ms {r['small_p95_ms']:>13.2f} ms"
            f"  {r['large_p50_ms']:>14.2f} ms {r['large_p95_ms']:>14.2f} ms"
            f"  {_ratio(r['p50_ratio']):>9} {_ratio(r['p95_ratio']):>9}"
        )
    return "\n".join(lines)


def format_markdown_table(rows: list[dict], small_hospitals: int, large_hospitals: int) -> str:
    a, b = f"{small_hospitals:,}", f"{large_hospitals:,}"
    lines = [
        f"| Endpoint (one hospital) | p50, {a} hospitals (ms) | p95, {a} hospitals (ms) "
        f"| p50, {b} hospitals (ms) | p95, {b} hospitals (ms) | p50 ratio | p95 ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        label = r["label"].replace("|", "\\|")
        lines.append(
            f"| {label} | {r['small_p50_ms']:.2f} | {r['small_p95_ms']:.2f} | {r['large_p50_ms']:.2f} "
            f"| {r['large_p95_ms']:.2f} | {_ratio(r['p50_ratio'])} | {_ratio(r['p95_ratio'])} |"
        )
    return "\n".join(lines)


def format_counts(counts_by_phase: list[dict]) -> str:
    """Row counts per phase, one line each (keys in the order of the first phase)."""
    if not counts_by_phase:
        return ""
    keys = list(counts_by_phase[0])
    width = max(len(k) for k in keys)
    lines = [f"{'rows':<{width}}  " + "  ".join(f"{'phase ' + str(i + 1):>12}" for i in range(len(counts_by_phase)))]
    for key in keys:
        lines.append(f"{key:<{width}}  " + "  ".join(f"{phase.get(key, ''):>12,}" if isinstance(phase.get(key), int)
                                                   else f"{str(phase.get(key, '')):>12}" for phase in counts_by_phase))
    return "\n".join(lines)


_SCAN = re.compile(r"(Seq Scan|Index Scan(?: Backward)?|Index Only Scan(?: Backward)?|Bitmap Heap Scan|"
                   r"Bitmap Index Scan)(?: using (\S+))? on (\S+)")


def plan_findings(plan_text: str, table: str = ASSESSMENT_TABLE, index: str = LIST_INDEX) -> dict:
    """What an EXPLAIN (ANALYZE) text plan does with ``table``: its scan nodes, whether ``index`` is used, a seq
    scan or an explicit Sort happens, the RLS filter is applied, how many rows filters removed, the times.

    A bitmap scan shows as "Bitmap Index Scan on <index>" under "Bitmap Heap Scan on <table>": the index is
    counted for the table of the heap scan above it.
    """
    scans, table_scans, indexes_on_table = [], [], []
    heap_table = None
    for match in _SCAN.finditer(plan_text):
        kind, used_index, relation = match.groups()
        if kind == "Bitmap Index Scan":
            used_index, relation = relation, heap_table
        elif kind == "Bitmap Heap Scan":
            heap_table = relation
        scans.append({"node": kind, "index": used_index, "table": relation})
        if relation == table:
            if kind == "Bitmap Heap Scan":
                continue  # reported with its Bitmap Index Scan
            table_scans.append(kind + (f" {'on' if kind == 'Bitmap Index Scan' else 'using'} {used_index}"
                                       if used_index else ""))
            if used_index:
                indexes_on_table.append(used_index)
    removed = [int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan_text)]
    execution = re.search(r"Execution Time: ([\d.]+) ms", plan_text)
    planning = re.search(r"Planning Time: ([\d.]+) ms", plan_text)
    return {
        "scans": scans,
        "table_scans": table_scans,
        "uses_index": index in indexes_on_table,
        "seq_scan_on_table": any(s["node"] == "Seq Scan" and s["table"] == table for s in scans),
        "seq_scans": sorted({s["table"] for s in scans if s["node"] == "Seq Scan"}),
        "explicit_sort": bool(re.search(r"^\s*(->\s*)?(Incremental )?Sort\b", plan_text, re.MULTILINE)),
        "rls_filter": "current_setting('app.tenant_id'" in plan_text,
        "rows_removed_by_filter": sum(removed),
        "execution_ms": float(execution.group(1)) if execution else None,
        "planning_ms": float(planning.group(1)) if planning else None,
    }


def format_findings(findings: dict, index: str = LIST_INDEX) -> str:
    return (
        f"scans of {ASSESSMENT_TABLE}: {', '.join(findings['table_scans']) or 'none'}; "
        f"index {index}: {'USED' if findings['uses_index'] else 'NOT used'}; "
        f"seq scan on it: {'yes' if findings['seq_scan_on_table'] else 'no'}; "
        f"seq scans anywhere: {', '.join(findings['seq_scans']) or 'none'}; "
        f"explicit sort: {'yes' if findings['explicit_sort'] else 'no'}; "
        f"RLS filter in plan: {'yes' if findings['rls_filter'] else 'no'}; "
        f"rows removed by filters: {findings['rows_removed_by_filter']}; "
        f"execution {findings['execution_ms']} ms, planning {findings['planning_ms']} ms"
    )


# --------------------------------------------------------------------------------------------------
# Database and Django
# --------------------------------------------------------------------------------------------------


def _url(role: str) -> str:
    return f"postgres://{role}@{DB_HOST}:{DB_PORT}/{DB_NAME}"


def _base_env() -> dict[str, str]:
    """Environment of this run (also of the migrate subprocess): development profile, the bench database,
    quiet logs, no DEBUG query log, and rate limits far above the benchmark's own call rate."""
    env = dict(os.environ)
    env.update({
        "MIP_ENV": "development",
        "MIP_DATABASE_URL": _url(APP_ROLE),
        "MIP_DEBUG": "false",
        "MIP_LOG_LEVEL": "WARNING",
        "MIP_RATE_LIMIT_PER_KEY_PER_MINUTE": "10000000",
        "MIP_RATE_LIMIT_PER_TENANT_PER_MINUTE": "10000000",
        "MIP_CACHE_KEY_PREFIX": f"bench-scale-{os.getpid()}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    })
    return env


def reset_database() -> None:
    """Drop and recreate the bench database (owned by the owner role), then migrate it as the owner."""
    sys.path.insert(0, str(REPO_ROOT))
    from scripts import devstack  # noqa: PLC0415

    devstack.ensure_postgres()
    devstack.recreate_platform_database(DB_NAME, migrate_env=_base_env())


def analyze_as_owner() -> None:
    """ANALYZE needs table ownership (PostgreSQL 15), so it runs as the owner role, not the app role."""
    import psycopg2  # noqa: PLC0415

    conn = psycopg2.connect(host=DB_HOST, port=DB_PORT, user=OWNER_ROLE, dbname=DB_NAME, connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for table in ANALYZED_TABLES:
                cur.execute(f"ANALYZE {table}")
    finally:
        conn.close()


def setup_django() -> None:
    os.environ.update(_base_env())
    for path in (str(REPO_ROOT), str(SOURCE_ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django  # noqa: PLC0415

    django.setup()


def populate(first: int, count: int, per_hospital: int, rng: random.Random) -> list:
    """Create hospitals ``first .. first+count-1``, each with an API key and ``per_hospital`` succeeded
    assessments (Study, ImageInstance, Assessment rows), through the platform's own services and managers, as
    the application role inside each hospital's context (so row-level security checks every row written)."""
    from django.db import transaction  # noqa: PLC0415

    from inference.bone_age import interpret_bone_age  # noqa: PLC0415
    from inference.models import Assessment  # noqa: PLC0415
    from studies.models import ImageInstance, Study  # noqa: PLC0415
    from tenants.context import tenant_context  # noqa: PLC0415
    from tenants.services import api_key_create, tenant_create  # noqa: PLC0415
    from tenants.storage_keys import study_object_key  # noqa: PLC0415

    now = datetime.now(dt_timezone.utc)
    created = []
    for chunk_start in range(first, first + count, HOSPITALS_PER_TRANSACTION):
        chunk_end = min(chunk_start + HOSPITALS_PER_TRANSACTION, first + count)
        with transaction.atomic():
            for index in range(chunk_start, chunk_end):
                tenant = tenant_create(slug=f"bench-h{index:05d}", name=f"Bench Hospital {index:05d}")
                api_key_create(tenant=tenant, name="bench HIS")
                studies, instances, assessments = [], [], []
                for j in range(per_hospital):
                    sex = rng.choice("MF")
                    age = round(rng.uniform(24, 200), 1)
                    bone_age = min(max(age + rng.gauss(0, 12), 1.0), 239.0)
                    at = now - timedelta(days=rng.uniform(0, 90))
                    study_uid = f"2.25.{uuid.uuid4().int}"
                    series_uid = f"2.25.{uuid.uuid4().int}"
                    sha = hashlib.sha256(f"{tenant.pk}:{j}".encode()).hexdigest()
                    study = Study(tenant=tenant, study_instance_uid=study_uid, accession_number=f"ACC{j:06d}",
                                  created_at=at)
                    instance = ImageInstance(
                        tenant=tenant, study=study, series_instance_uid=series_uid,
                        sop_instance_uid=f"2.25.{uuid.uuid4().int}", sha256=sha, size_bytes=rng.randint(2, 12) << 20,
                        content_type="application/dicom",
                        storage_key=study_object_key(tenant_id=tenant.pk, study_uid=study_uid, series_uid=series_uid,
                                                     sha256=sha, content_type="application/dicom"),
                        modality="DX", body_part_examined="HAND", rows=2500, columns=2048,
                        photometric_interpretation="MONOCHROME2", transfer_syntax_uid="1.2.840.10008.1.2.1",
                        header_patient_sex=sex, header_patient_age_months=age, created_at=at)
                    result = interpret_bone_age(bone_age, sex, age)
                    result["model"] = {"name": "bone_age", "version": 1, "precision": "FP32", "demo": True}
                    assessments.append(Assessment(
                        tenant=tenant, instance=instance, model_name="bone_age", model_version=1,
                        model_precision="FP32", model_is_demo=True, status=Assessment.Status.SUCCEEDED,
                        patient_sex=sex, chronological_age_months=age, result=result, attempts=1, created_at=at,
                        enqueued_at=at, started_at=at + timedelta(milliseconds=40),
                        finished_at=at + timedelta(milliseconds=140)))
                    studies.append(study)
                    instances.append(instance)
                with tenant_context(tenant):
                    Study.objects.bulk_create(studies, batch_size=BULK_BATCH_SIZE)
                    ImageInstance.objects.bulk_create(instances, batch_size=BULK_BATCH_SIZE)
                    Assessment.objects.bulk_create(assessments, batch_size=BULK_BATCH_SIZE)
                created.append(tenant)
    return created


def row_counts(tenant) -> dict:
    """Rows in every table that matters (operator access: across hospitals), the measured hospital's own, and
    what the application role sees with no hospital in context (row-level security: nothing)."""
    from django.db import connection  # noqa: PLC0415

    from inference.models import Assessment  # noqa: PLC0415
    from studies.models import ImageInstance, Study  # noqa: PLC0415
    from tenants.context import dangerously_operator_access, tenant_context  # noqa: PLC0415
    from tenants.models import ApiKey, Tenant  # noqa: PLC0415

    with dangerously_operator_access(reason="bench_tenant_scale: row counts"):
        counts = {
            "hospitals": Tenant.objects.count(),
            "api keys": ApiKey.objects.count(),
            "studies": Study.objects.dangerously_all_tenants().count(),
            "image instances": ImageInstance.objects.dangerously_all_tenants().count(),
            "assessments": Assessment.objects.dangerously_all_tenants().count(),
        }
    with tenant_context(tenant):
        counts["assessments of measured hosp."] = Assessment.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {ASSESSMENT_TABLE}")
        counts["assessments seen w/o context"] = cursor.fetchone()[0]
        cursor.execute("SELECT pg_total_relation_size(%s)", [ASSESSMENT_TABLE])
        counts["assessment table+idx (kB)"] = cursor.fetchone()[0] // 1024
    return counts


def explain_list(tenant, limit: int = 50) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of the list endpoint's query (the same selector and slice as the view), run as
    the application role inside the hospital's context, so the RLS policy is part of the plan."""
    from django.db import connection  # noqa: PLC0415

    from inference import selectors  # noqa: PLC0415
    from tenants.context import tenant_context  # noqa: PLC0415

    with tenant_context(tenant):
        queryset = selectors.assessments_for_tenant(tenant=tenant)[:limit]
        sql, params = queryset.query.sql_with_params()
        detail_id = selectors.assessments_for_tenant(tenant=tenant).values_list("pk", flat=True).first()
        detail_sql, detail_params = selectors.assessments_for_tenant(tenant=tenant).filter(pk=detail_id)[:1] \
            .query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_setting('app.tenant_id', true)")
            role, tenant_setting = cursor.fetchone()
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + detail_sql, detail_params)
            detail_plan = "\n".join(row[0] for row in cursor.fetchall())
    return {"role": role, "app_tenant_id": tenant_setting, "sql": sql % tuple(repr(str(p)) for p in params),
            "plan": plan, "findings": plan_findings(plan), "detail_plan": detail_plan,
            "detail_findings": plan_findings(detail_plan, index=f"{ASSESSMENT_TABLE}_pkey")}


def measure(tenant, full_key: str, calls: int, warmup: int) -> dict[str, list[float]]:
    """Latencies (seconds) of the list and detail endpoints and of the list query alone, interleaved call by
    call so that drift on the machine affects all three alike."""
    from django.test import Client  # noqa: PLC0415

    from inference import selectors  # noqa: PLC0415
    from tenants.context import tenant_context  # noqa: PLC0415

    client = Client(HTTP_AUTHORIZATION=f"Api-Key {full_key}")
    with tenant_context(tenant):
        ids = [str(pk) for pk in selectors.assessments_for_tenant(tenant=tenant).values_list("pk", flat=True)]

    def list_call():
        response = client.get("/api/v1/assessments")
        if response.status_code != 200:
            raise RuntimeError(f"list answered {response.status_code}: {response.content[:300]!r}")
        return response

    def detail_call(i):
        response = client.get(f"/api/v1/assessments/{ids[i % len(ids)]}")
        if response.status_code != 200:
            raise RuntimeError(f"detail answered {response.status_code}: {response.content[:300]!r}")

    def orm_call():
        with tenant_context(tenant):
            rows = list(selectors.assessments_for_tenant(tenant=tenant)[:50])
        if not rows:
            raise RuntimeError("the list query returned nothing")

    first = list_call().json()["results"]
    if len(first) != min(len(ids), 50):
        raise RuntimeError(f"list returned {len(first)} assessments, expected {min(len(ids), 50)}")
    for i in range(warmup):
        list_call()
        detail_call(i)
        orm_call()
    latencies: dict[str, list[float]] = {"list": [], "detail": [], "orm_list": []}
    for i in range(calls):
        t0 = time.perf_counter()
        list_call()
        t1 = time.perf_counter()
        detail_call(i)
        t2 = time.perf_counter()
        orm_call()
        t3 = time.perf_counter()
        latencies["list"].append(t1 - t0)
        latencies["detail"].append(t2 - t1)
        latencies["orm_list"].append(t3 - t2)
    return latencies


def machine_facts() -> dict:
    facts = {"python": sys.version.split()[0], "platform": _stdlib_platform.platform(), "cpus": os.cpu_count()}
    try:
        facts["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        facts["loadavg"] = None
    try:
        from django.db import connection  # noqa: PLC0415

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            facts["postgresql"] = cursor.fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - a fact, not a requirement
        facts["postgresql"] = f"unknown ({type(exc).__name__})"
    return facts


def _phase(label: str, tenant, key: str, hospitals: int, args) -> dict:
    analyze_as_owner()
    counts = row_counts(tenant)
    explain = explain_list(tenant)
    print(f"[{label}] {hospitals:,} hospitals: measuring {args.calls} calls per endpoint after {args.warmup} "
          f"warm-up calls ...", flush=True)
    latencies = measure(tenant, key, args.calls, args.warmup)
    return {"hospitals": hospitals, "counts": counts, "explain": explain, "latencies_s": latencies,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hospitals", type=int, default=DEFAULT_HOSPITALS)
    parser.add_argument("--per-hospital", type=int, default=DEFAULT_PER_HOSPITAL)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    if args.hospitals <= BASELINE_HOSPITALS:
        parser.error(f"--hospitals must be more than the {BASELINE_HOSPITALS} of phase 1")
    if args.per_hospital < 1 or args.calls < 1:
        parser.error("--per-hospital and --calls must be at least 1")
    rng = random.Random(args.seed)

    started = time.monotonic()
    print(f"database {DB_NAME}: drop, recreate, migrate as {OWNER_ROLE} ...", flush=True)
    reset_database()
    setup_django()
    from tenants.db_roles import app_role_problems  # noqa: PLC0415
    from tenants.services import api_key_create  # noqa: PLC0415

    problems = app_role_problems()
    if problems:
        raise SystemExit(f"the benchmark must run as the application role under RLS: {'; '.join(problems)}")
    facts = machine_facts()

    t0 = time.monotonic()
    tenants = populate(0, BASELINE_HOSPITALS, args.per_hospital, rng)
    populate_small_s = time.monotonic() - t0
    measured = tenants[0]
    _, full_key = api_key_create(tenant=measured, name="bench measuring key")
    print(f"phase 1: {BASELINE_HOSPITALS} hospitals x {args.per_hospital} assessments in {populate_small_s:.1f} s; "
          f"measured hospital {measured.slug} ({measured.pk})", flush=True)
    small = _phase("phase 1", measured, full_key, BASELINE_HOSPITALS, args)

    t0 = time.monotonic()
    populate(BASELINE_HOSPITALS, args.hospitals - BASELINE_HOSPITALS, args.per_hospital, rng)
    populate_large_s = time.monotonic() - t0
    print(f"phase 2: grew to {args.hospitals:,} hospitals in {populate_large_s:.1f} s", flush=True)
    large = _phase("phase 2", measured, full_key, args.hospitals, args)

    rows = summarise(small["latencies_s"], large["latencies_s"])
    judged = verdict(rows)
    n_small, n_large = BASELINE_HOSPITALS, args.hospitals

    print()
    print(f"Machine: {facts}")
    print()
    print(f"Row counts (phase 1: {n_small:,} hospitals, phase 2: {n_large:,} hospitals; "
          f"{args.per_hospital} assessments each):")
    print(format_counts([small["counts"], large["counts"]]))
    for label, phase in (("phase 1", small), ("phase 2", large)):
        explain = phase["explain"]
        print()
        print(f"EXPLAIN (ANALYZE, BUFFERS) of the list query, {label} ({phase['hospitals']:,} hospitals), as role "
              f"{explain['role']} with app.tenant_id={explain['app_tenant_id']}:")
        if label == "phase 2":
            print(explain["sql"])
            print(explain["plan"])
        print("  -> " + format_findings(explain["findings"]))
        print("  detail query -> " + format_findings(explain["detail_findings"], index=f"{ASSESSMENT_TABLE}_pkey"))
    print()
    print(f"Latency of hospital {measured.slug} ({args.per_hospital} assessments), {args.calls} calls each after "
          f"{args.warmup} warm-up calls, in-process Django test Client with an API key, as role {APP_ROLE} under RLS:")
    print(format_console_table(rows, n_small, n_large))
    print()
    kept = "KEPT" if judged["kept"] else "NOT KEPT"
    print(f"Verdict: list p50 ratio {judged['list_p50_ratio']:.2f}× (threshold {KEEP_THRESHOLD}×): latency {kept} "
          f"at {n_large:,} hospitals.")
    if not large["explain"]["findings"]["uses_index"]:
        print(f"WARNING: the list query does not use {LIST_INDEX} at {n_large:,} hospitals; see the plan above.")
    print()
    print("Markdown (README):")
    print()
    print(format_markdown_table(rows, n_small, n_large))

    payload = {
        "generated_at": datetime.now(dt_timezone.utc).isoformat(),
        "database": DB_NAME,
        "machine": facts,
        "parameters": {"hospitals": n_large, "baseline_hospitals": n_small, "per_hospital": args.per_hospital,
                       "calls": args.calls, "warmup": args.warmup, "seed": args.seed},
        "measured_hospital": {"id": str(measured.pk), "slug": measured.slug},
        "populate_s": {"phase1": round(populate_small_s, 2), "phase2": round(populate_large_s, 2)},
        "summary": rows,
        "verdict": judged,
        "phases": [
            {**{k: v for k, v in phase.items() if k != "latencies_s"},
             "latencies_ms": {k: [round(x * 1000, 4) for x in v] for k, v in phase["latencies_s"].items()}}
            for phase in (small, large)
        ],
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    RESULT_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULT_PATH.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print()
    print(f"Results: {RESULT_PATH.relative_to(REPO_ROOT)} (total {payload['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
