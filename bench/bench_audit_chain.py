"""Audit-chain benchmark (issue #5): how fast does `audit_verify` walk a 1,000,000-event chain?

One run, in its OWN database ``mip_bench_audit`` (dropped, recreated and migrated as the owner role at the start,
as bench/bench_tenant_scale.py does), then:

1. generate a valid chain of ``--events`` events for one hospital in Python with the platform's own hashing and
   signing (audit/chain.py: the same canonical JSON, SHA-256 links and HMAC-signed head the writer produces), in
   batches, and COPY each batch in. COPY runs as the ``postgres`` superuser: PostgreSQL refuses COPY FROM into a
   table under row-level security for a role subject to it, and the audit table is FORCEd even for its owner;
2. ANALYZE, then verify the chain exactly as ``manage.py audit_verify`` does: in-process Django connected as the
   application role ``mip_app`` (row-level security applies) under operator access, keyset batches of 20,000;
3. tamper with one event in the middle (as the superuser, replication role so the append-only trigger does not
   fire) and verify again: the report must name that event.

Prints the timings and events per second; results go to ``.run/bench/audit_chain.json``.

    .venv/bin/python bench/bench_audit_chain.py [--events 1000000] [--batch 100000]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform as _stdlib_platform
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOT = REPO_ROOT / "platform"
RESULT_PATH = REPO_ROOT / ".run" / "bench" / "audit_chain.json"

DB_NAME = "mip_bench_audit"
DB_HOST = "127.0.0.1"
DB_PORT = 5432
OWNER_ROLE = "mip_owner"
APP_ROLE = "mip_app"
SUPERUSER = "postgres"
DEFAULT_EVENTS = 1_000_000
DEFAULT_BATCH = 100_000

COPY_COLUMNS = (
    "tenant_id", "sequence", "event", "event_type_code", "event_type_display", "event_subtype_code",
    "event_subtype_display", "action", "outcome", "occurred_at", "user_id", "username", "api_key_prefix",
    "is_operator", "network_address", "study_instance_uid", "assessment_id", "patient_ref", "object_type",
    "object_id", "details", "previous_hash", "hash",
)


def _url(role: str) -> str:
    return f"postgres://{role}@{DB_HOST}:{DB_PORT}/{DB_NAME}"


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MIP_ENV": "development", "MIP_DATABASE_URL": _url(APP_ROLE), "MIP_DEBUG": "false",
                "MIP_LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "config.settings"})
    return env


def reset_database() -> None:
    sys.path.insert(0, str(REPO_ROOT))
    from scripts import devstack  # noqa: PLC0415

    devstack.ensure_postgres()
    devstack.recreate_platform_database(DB_NAME, migrate_env=_base_env())


def setup_django() -> None:
    os.environ.update(_base_env())
    for path in (str(REPO_ROOT), str(SOURCE_ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django  # noqa: PLC0415

    django.setup()


def superuser_connection():
    import psycopg2  # noqa: PLC0415

    return psycopg2.connect(host=DB_HOST, port=DB_PORT, user=SUPERUSER, dbname=DB_NAME, connect_timeout=10)


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def generate_chain(tenant_id: str, events: int, batch: int) -> dict:
    """Build and COPY a valid chain of `events` events for `tenant_id`; returns timings and the last hash."""
    from audit.chain import GENESIS_HASH, canonical_bytes, link_hash, sign_head  # noqa: PLC0415

    started = datetime(2026, 1, 1, tzinfo=dt_timezone.utc)
    previous = GENESIS_HASH
    hashing_s = copy_s = 0.0
    conn = superuser_connection()
    kinds = [("assessment.read", "110110", "Patient Record", "", "", "R"),
             ("assessment.list", "110112", "Query", "", "", "E"),
             ("assessment.upload", "110107", "Import", "", "", "C"),
             ("assessment.download", "110106", "Export", "", "", "R")]
    try:
        for first in range(1, events + 1, batch):
            t0 = time.perf_counter()
            buffer = io.StringIO()
            for sequence in range(first, min(first + batch, events + 1)):
                event, code, display, sub, subd, action = kinds[sequence % len(kinds)]
                fields = {
                    "chain": tenant_id, "sequence": sequence, "event": event, "event_type_code": code,
                    "event_type_display": display, "event_subtype_code": sub, "event_subtype_display": subd,
                    "action": action, "outcome": 0,
                    "occurred_at": (started + timedelta(milliseconds=250 * sequence)).strftime(
                        "%Y-%m-%dT%H:%M:%S.%fZ"),
                    "user_id": None, "username": "", "api_key_prefix": "benchkey01", "is_operator": False,
                    "network_address": "10.0.0.7", "study_instance_uid": f"1.2.826.0.1.3680043.8.498.{sequence}",
                    "assessment_id": str(uuid.UUID(int=sequence)), "patient_ref": f"pt-{sequence:032x}",
                    "object_type": "", "object_id": "", "details": {"via": "bench"},
                }
                digest = link_hash(previous, canonical_bytes(fields))
                row = [tenant_id, sequence, event, code, display, sub, subd, action, 0, fields["occurred_at"],
                       None, "", "benchkey01", False, "10.0.0.7", fields["study_instance_uid"],
                       fields["assessment_id"], fields["patient_ref"], "", "",
                       json.dumps(fields["details"], sort_keys=True), previous, digest]
                buffer.write("\t".join(_copy_value(v) for v in row))
                buffer.write("\n")
                previous = digest
            t1 = time.perf_counter()
            buffer.seek(0)
            with conn.cursor() as cur:
                cur.copy_expert(f"COPY audit_auditevent ({', '.join(COPY_COLUMNS)}) FROM STDIN", buffer)
            conn.commit()
            t2 = time.perf_counter()
            hashing_s += t1 - t0
            copy_s += t2 - t1
            print(f"  {min(first + batch - 1, events):>9,} events generated", flush=True)
        signature = sign_head(chain=tenant_id, first_sequence=1, anchor_hash=GENESIS_HASH, last_sequence=events,
                              last_hash=previous)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO audit_auditchainhead (chain, last_sequence, last_hash, "
                        "first_sequence, anchor_hash, signature, updated_at) VALUES (%s, %s, %s, 1, %s, %s, "
                        "now())", [tenant_id, events, previous, GENESIS_HASH, signature])
            cur.execute("ANALYZE audit_auditevent")
        conn.commit()
    finally:
        conn.close()
    return {"hashing_s": hashing_s, "copy_s": copy_s, "last_hash": previous}


def verify(chain: str):
    from audit.verify import chain_verify  # noqa: PLC0415
    from django.db import connection  # noqa: PLC0415
    from tenants.context import dangerously_operator_access  # noqa: PLC0415

    with dangerously_operator_access(reason="audit chain benchmark"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            role = cursor.fetchone()[0]
        started = time.perf_counter()
        report = chain_verify(chain)
        elapsed = time.perf_counter() - started
    return report, elapsed, role


def tamper(tenant_id: str, sequence: int) -> None:
    conn = superuser_connection()
    try:
        with conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")  # the append-only trigger does not fire
            cur.execute("UPDATE audit_auditevent SET network_address = '203.0.113.66' WHERE tenant_id = %s AND "
                        "sequence = %s", [tenant_id, sequence])
        conn.commit()
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    args = parser.parse_args(argv)

    print(f"database {DB_NAME}: drop, recreate, migrate as {OWNER_ROLE} ...", flush=True)
    reset_database()
    setup_django()
    from tenants.models import Tenant  # noqa: PLC0415

    conn = superuser_connection()
    tenant_id = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute("INSERT INTO tenants_tenant (id, slug, name, status, created_at) VALUES (%s, 'bench-audit', "
                    "'Bench audit hospital', 'active', now())", [tenant_id])
    conn.commit()
    conn.close()
    assert Tenant.objects.filter(pk=tenant_id).exists()

    print(f"generating a chain of {args.events:,} events (Python hashing, COPY in batches of {args.batch:,}) ...",
          flush=True)
    generated = generate_chain(tenant_id, args.events, args.batch)
    print(f"verifying as the application role under operator access ...", flush=True)
    report, verify_s, role = verify(tenant_id)
    if not report.ok or report.events_checked != args.events:
        raise SystemExit(f"the generated chain did not verify: {report.summary()}")
    middle = args.events // 2 + 1
    tamper(tenant_id, middle)
    tampered, tampered_s, _ = verify(tenant_id)
    if tampered.broken_at != middle:
        raise SystemExit(f"tampering at {middle} was not reported there: {tampered.summary()}")

    result = {
        "events": args.events,
        "generate_hashing_s": round(generated["hashing_s"], 2),
        "generate_copy_s": round(generated["copy_s"], 2),
        "verify_s": round(verify_s, 2),
        "verify_events_per_s": round(args.events / verify_s),
        "verify_role": role,
        "tampered_sequence": middle,
        "tampered_verify_s": round(tampered_s, 2),
        "tampered_report": tampered.summary(),
        "machine": {"python": sys.version.split()[0], "platform": _stdlib_platform.platform(),
                    "cpus": os.cpu_count()},
        "at": datetime.now(dt_timezone.utc).isoformat(),
    }
    RESULT_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULT_PATH.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    print()
    print("| Chain events | Generate (hash) | COPY | Verify | Events/s (verify) |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {args.events:,} | {generated['hashing_s']:.1f} s | {generated['copy_s']:.1f} s | {verify_s:.1f} s | "
          f"{args.events / verify_s:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
