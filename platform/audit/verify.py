"""Verifying audit chains: walk every event in sequence order, recompute each hash, check each link, and
compare the end of the chain with its signed head.

What each kind of tampering looks like (the first broken link is reported, by sequence):
- an event edited in place: its recomputed hash differs from its stored hash ("contents changed");
- an edited event whose hash was recomputed too: the next event no longer links to it;
- an event deleted: a gap in the sequence numbers (and the next event links to a hash nobody holds);
- an event inserted (later ones renumbered): the first renumbered event's hash covers its old sequence and
  links to the event before the insertion;
- events reordered (sequence numbers swapped): each moved event's hash covers its old sequence;
- a truncated tail: the chain ends before the signed head's last sequence;
- a whole chain rewritten with valid SHA-256 links: the head no longer matches, and it cannot be re-signed
  without AUDIT_SIGNING_KEY, which is not in the database.

Reads run under whatever tenant / operator context the caller set (the command uses operator access); events
are read in keyset-paginated batches, so a chain of millions of events needs memory for one batch only.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

from django.db import connection

from audit.chain import GENESIS_HASH, canonical_bytes, format_time, head_signature_valid, link_hash
from audit.models import PLATFORM_CHAIN

_COLUMNS = (
    "sequence", "event", "event_type_code", "event_type_display", "event_subtype_code", "event_subtype_display",
    "action", "outcome", "occurred_at", "user_id", "username", "api_key_prefix", "is_operator", "network_address",
    "study_instance_uid", "assessment_id", "patient_ref", "object_type", "object_id", "details", "previous_hash",
    "hash",
)
BATCH_SIZE = 20_000


@dataclass
class VerifyReport:
    chain: str
    events_checked: int = 0
    first_sequence: int = 1
    last_sequence: int = 0
    head_sequence: int | None = None
    broken_at: int | None = None  # sequence of the first broken link
    problem: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken_at is None and not self.problem

    def summary(self) -> str:
        if self.ok:
            return (f"{self.chain}: OK, {self.events_checked} events (sequence {self.first_sequence}.."
                    f"{self.last_sequence}), signed head verified")
        where = f" at sequence {self.broken_at}" if self.broken_at is not None else ""
        return f"{self.chain}: BROKEN{where}: {self.problem} ({self.events_checked} events checked)"


def _read_head(cursor, chain: str):
    cursor.execute("SELECT first_sequence, anchor_hash, last_sequence, last_hash, signature FROM "
                   "audit_auditchainhead WHERE chain = %s", [chain])
    return cursor.fetchone()


def _batch(cursor, chain: str, after: int, size: int):
    columns = ", ".join(_COLUMNS)
    if chain == PLATFORM_CHAIN:
        cursor.execute(f"SELECT {columns} FROM audit_auditevent WHERE tenant_id IS NULL AND sequence > %s "
                       "ORDER BY sequence LIMIT %s", [after, size])
    else:
        cursor.execute(f"SELECT {columns} FROM audit_auditevent WHERE tenant_id = %s AND sequence > %s "
                       "ORDER BY sequence LIMIT %s", [chain, after, size])
    return cursor.fetchall()


def chain_verify(chain: str, *, batch_size: int = BATCH_SIZE, cursor=None) -> VerifyReport:
    """Verify one chain (a hospital's UUID as text, or "platform"). Never raises for tampering: the report says
    where the chain broke (`broken_at`) and how (`problem`). `cursor`: a DB-API cursor to read through instead of
    Django's connection (tests verify inside another role's open transaction)."""
    report = VerifyReport(chain=chain)
    with (contextlib.nullcontext(cursor) if cursor is not None else connection.cursor()) as cursor:
        head = _read_head(cursor, chain)
        first_sequence, anchor = (head[0], head[1]) if head else (1, GENESIS_HASH)
        report.first_sequence = first_sequence
        expected_sequence, expected_previous = first_sequence, anchor
        walked = first_sequence - 1
        while True:
            rows = _batch(cursor, chain, walked, batch_size)
            for row in rows:
                values = dict(zip(_COLUMNS, row))
                sequence = values["sequence"]
                if report.broken_at is None:
                    problem = _check(values, chain, expected_sequence, expected_previous)
                    if problem:
                        report.broken_at, report.problem = problem
                report.events_checked += 1
                expected_sequence = sequence + 1
                expected_previous = values["hash"]
                walked = sequence
            if len(rows) == batch_size:
                continue
            # End of the rows. Read the head only now: a writer commits its event and the head together, so
            # any head newer than the rows just read means events arrived meanwhile; read those too.
            head = _read_head(cursor, chain)
            if head is not None and head[2] > walked and _batch(cursor, chain, walked, 1):
                continue
            break
    report.last_sequence = walked
    _check_head(report, chain, head, walked, expected_previous)
    return report


def _check(values: dict, chain: str, expected_sequence: int, expected_previous: str) -> tuple[int, str] | None:
    sequence = values["sequence"]
    if sequence != expected_sequence:
        if sequence > expected_sequence:
            gap = (f"event {expected_sequence} is missing" if sequence == expected_sequence + 1
                   else f"events {expected_sequence}..{sequence - 1} are missing")
            return expected_sequence, f"{gap} (deleted); the chain jumps to {sequence}"
        return sequence, f"sequence {sequence} appears out of order (expected {expected_sequence})"
    fields = dict(values)
    fields["chain"] = chain
    fields["occurred_at"] = format_time(values["occurred_at"])
    if isinstance(fields["details"], str):  # Django has psycopg hand jsonb over as text
        fields["details"] = json.loads(fields["details"])
    recomputed = link_hash(values["previous_hash"], canonical_bytes(fields))
    if recomputed != values["hash"]:
        return sequence, "the event's contents do not match its hash (edited, inserted or moved)"
    if values["previous_hash"] != expected_previous:
        return sequence, (f"event {sequence} does not link to event {sequence - 1} (an event before it was "
                          "edited and re-hashed, inserted or removed)")
    return None


def _check_head(report: VerifyReport, chain: str, head, walked: int, last_hash: str) -> None:
    if head is None:
        if report.events_checked:
            report.problem = report.problem or "the chain has events but no signed head"
            report.broken_at = report.broken_at if report.broken_at is not None else report.first_sequence
        return
    first_sequence, anchor_hash, head_sequence, head_hash, signature = head
    report.head_sequence = head_sequence
    if not head_signature_valid(signature, chain=chain, first_sequence=first_sequence, anchor_hash=anchor_hash,
                                last_sequence=head_sequence, last_hash=head_hash):
        report.notes.append("the head's signature does not verify")
        if report.broken_at is None:
            report.broken_at = head_sequence
            report.problem = "the chain head's signature is invalid (head edited without the signing key)"
        return
    if report.broken_at is not None:
        return
    if walked < head_sequence:
        report.broken_at = walked + 1
        report.problem = (f"truncated: the chain ends at {walked} but its signed head is at {head_sequence} "
                          f"({head_sequence - walked} event(s) missing from the tail)")
    elif walked > head_sequence:
        report.broken_at = head_sequence + 1
        report.problem = f"events {head_sequence + 1}..{walked} are beyond the signed head (appended outside the platform)"
    elif walked and last_hash != head_hash:
        report.broken_at = walked
        report.problem = "the last event's hash is not the signed head's (the chain was rewritten)"


def chains_present() -> list[str]:
    """Every chain with a head or an event (operator access needed to see them all)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT chain FROM audit_auditchainhead UNION SELECT COALESCE(tenant_id::text, %s) "
                       "FROM (SELECT DISTINCT tenant_id FROM audit_auditevent) AS t", [PLATFORM_CHAIN])
        return sorted(row[0] for row in cursor.fetchall())
