"""Archive old audit events: `audit_archive (--tenant <slug> | --platform) --destination <dir>
[--older-than-days N]` (default N: MIP_AUDIT_RETENTION_DAYS).

Retention without breaking verification. The chain is verified first (a broken chain is never archived). The
oldest events, a contiguous run from the start of the retained chain whose events are all older than the cutoff,
are written to `<dir>/<chain>-<first>-<last>.jsonl` (every field and hash, one event per line, so the archive
can itself be re-verified) with a manifest (`.manifest.json`: counts, first/last sequence, the anchor it starts
from, the SHA-256 of the file), both fsynced, and only then deleted, in one transaction with the head update: the
head's `first_sequence` moves past them and its `anchor_hash` becomes the hash of the last archived event, which
the first retained event links to; the head is re-signed. audit_verify then starts from that signed anchor. The
archive itself is recorded as an `audit.archive` event of the chain. The newest event is never archived.

Run it as the table OWNER (MIP_DATABASE_URL of the owner, like migrate): the application role has no DELETE on
audit events, and the append-only trigger lets a DELETE through only for a member of the owner role that sets
`mip.audit_archive` in its transaction.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from audit.chain import sign_head
from audit.exports import event_as_dict
from audit.models import PLATFORM_CHAIN, AuditEvent
from audit.services import audit_event_record
from audit.verify import chain_verify
from tenants.context import dangerously_operator_access
from tenants.models import Tenant


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)


class Command(BaseCommand):
    help = "Export, then remove, audit events older than the retention period; the chain stays verifiable."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--tenant")
        group.add_argument("--platform", action="store_true")
        parser.add_argument("--destination", required=True)
        parser.add_argument("--older-than-days", type=int, default=None)

    def handle(self, *args, **options):
        days = options["older_than_days"] if options["older_than_days"] is not None else settings.AUDIT_RETENTION_DAYS
        cutoff = timezone.now() - timedelta(days=days)
        destination = Path(options["destination"])
        destination.mkdir(parents=True, exist_ok=True, mode=0o700)
        with dangerously_operator_access(reason="audit_archive command"):
            tenant = None
            if options["tenant"]:
                tenant = Tenant.objects.filter(slug=options["tenant"]).first()
                if tenant is None:
                    raise CommandError(f"no hospital with slug {options['tenant']!r}")
            chain = str(tenant.pk) if tenant else PLATFORM_CHAIN
            report = chain_verify(chain)
            if not report.ok:
                raise CommandError(f"refusing to archive a broken chain: {report.summary()}")
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT first_sequence, anchor_hash, last_sequence, last_hash FROM "
                                   "audit_auditchainhead WHERE chain = %s FOR UPDATE", [chain])
                    head = cursor.fetchone()
                if head is None:
                    raise CommandError(f"chain {chain} has no events")
                first_sequence, anchor_hash, last_sequence, last_hash = head
                events = AuditEvent.objects.filter(tenant=tenant, sequence__gte=first_sequence).order_by("sequence")
                # The contiguous run of old events from the start; never the newest event.
                newer = events.filter(occurred_at__gte=cutoff).order_by("sequence").first()
                stop = min(newer.sequence if newer else last_sequence, last_sequence) - 1
                batch = list(events.filter(sequence__lte=stop))
                if not batch:
                    self.stdout.write(f"{chain}: nothing older than {days} days to archive")
                    return
                archive_from, archive_to = batch[0].sequence, batch[-1].sequence
                lines = b"".join(json.dumps(event_as_dict(e), sort_keys=True).encode() + b"\n" for e in batch)
                stem = destination / f"{chain}-{archive_from}-{archive_to}"
                _write_synced(stem.with_suffix(".jsonl"), lines)
                manifest = {"chain": chain, "first_sequence": archive_from, "last_sequence": archive_to,
                            "anchor_hash": anchor_hash, "last_hash": batch[-1].hash, "count": len(batch),
                            "sha256": hashlib.sha256(lines).hexdigest(), "archived_at": timezone.now().isoformat()}
                _write_synced(stem.with_suffix(".manifest.json"), json.dumps(manifest, indent=1).encode())
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('mip.audit_archive', 'on', true)")
                    if tenant is None:
                        cursor.execute("DELETE FROM audit_auditevent WHERE tenant_id IS NULL AND sequence "
                                       "BETWEEN %s AND %s", [archive_from, archive_to])
                    else:
                        cursor.execute("DELETE FROM audit_auditevent WHERE tenant_id = %s AND sequence "
                                       "BETWEEN %s AND %s", [chain, archive_from, archive_to])
                    deleted = cursor.rowcount
                    if deleted != len(batch):
                        raise CommandError(f"expected to remove {len(batch)} events, removed {deleted}; rolled back")
                    new_first, new_anchor = archive_to + 1, batch[-1].hash
                    cursor.execute(
                        "UPDATE audit_auditchainhead SET first_sequence = %s, anchor_hash = %s, signature = %s, "
                        "updated_at = now() WHERE chain = %s",
                        [new_first, new_anchor, sign_head(chain=chain, first_sequence=new_first,
                                                          anchor_hash=new_anchor, last_sequence=last_sequence,
                                                          last_hash=last_hash), chain])
                audit_event_record(event="audit.archive", tenant=tenant, username="operator:audit_archive",
                                   details={"from": archive_from, "to": archive_to, "sha256": manifest["sha256"]})
        self.stdout.write(f"{chain}: archived events {archive_from}..{archive_to} to {stem}.jsonl")
