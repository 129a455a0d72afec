"""Tamper trials on a chain of 10,000 events written by the platform's own writer: every edit, deletion,
insertion, reordering, truncated tail and forged head is found, at the right sequence. The tampering is done as the
table owner (a DBA), inside a transaction that is rolled back after each trial, with the append-only trigger
disabled for it: the application role cannot tamper at all (test_append_only.py)."""
from __future__ import annotations

import pytest

from tests.audit._support import owner_connection

CHAIN_LENGTH = 10_000
TABLE = "audit_auditevent"


@pytest.fixture
def long_chain(transactional_db, hospital_a):
    from django.db import transaction

    from audit.services import Actor, audit_event_record

    actor = Actor(api_key_prefix=hospital_a.api_key_row.prefix, network_address="10.1.2.3")
    first = None
    # Transactions of 100 events: the head row is updated once per event, and PostgreSQL cannot prune the old
    # versions of a row within the transaction that made them, so one huge transaction would grow quadratically.
    for batch in range(0, CHAIN_LENGTH, 100):
        with transaction.atomic():
            for i in range(batch, batch + 100):
                recorded = audit_event_record(event="assessment.read", tenant=hospital_a.tenant, actor=actor,
                                              assessment_id=f"00000000-0000-0000-0000-{i:012d}",
                                              study_instance_uid=f"1.2.3.{i}", patient_ref=f"pt-{i:032x}")
                first = first or recorded
    assert recorded.sequence - first.sequence == CHAIN_LENGTH - 1
    return str(hospital_a.tenant.pk), first.sequence, recorded.sequence


def _verify(cursor, chain):
    from audit.verify import chain_verify

    return chain_verify(chain, cursor=cursor, batch_size=3_000)


def _where(chain):
    return f"tenant_id = '{chain}'"


def _edit(cur, chain, seq):
    cur.execute(f"UPDATE {TABLE} SET network_address = '203.0.113.9' WHERE {_where(chain)} AND sequence = {seq}")


def _edit_and_rehash(cur, chain, seq):
    # A careful forger recomputes the edited event's own hash (SHA-256 needs no key): the next link breaks.
    from audit.chain import canonical_bytes, format_time, link_hash
    from audit.verify import _COLUMNS

    cur.execute(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE {_where(chain)} AND sequence = {seq}")
    values = dict(zip(_COLUMNS, cur.fetchone()))
    values.update(chain=chain, network_address="203.0.113.9", occurred_at=format_time(values["occurred_at"]))
    forged = link_hash(values["previous_hash"], canonical_bytes(values))
    cur.execute(f"UPDATE {TABLE} SET network_address = '203.0.113.9', hash = %s WHERE {_where(chain)} "
                f"AND sequence = {seq}", [forged])


def _delete(cur, chain, seq):
    cur.execute(f"DELETE FROM {TABLE} WHERE {_where(chain)} AND sequence = {seq}")


def _insert(cur, chain, seq):
    # Make room (renumber everything from seq on), then insert a well-formed forged event linking to seq - 1.
    from audit.chain import canonical_bytes, format_time, link_hash
    from audit.verify import _COLUMNS

    cur.execute(f"UPDATE {TABLE} SET sequence = -sequence - 1 WHERE {_where(chain)} AND sequence >= {seq}")
    cur.execute(f"UPDATE {TABLE} SET sequence = -sequence WHERE {_where(chain)} AND sequence < 0")
    cur.execute(f"SELECT {', '.join(_COLUMNS)}, tenant_id FROM {TABLE} WHERE {_where(chain)} AND sequence = {seq - 1}")
    row = cur.fetchone()
    values = dict(zip(_COLUMNS, row[:-1]))
    values.update(chain=chain, sequence=seq, assessment_id="forged", occurred_at=format_time(values["occurred_at"]))
    forged_hash = link_hash(values["hash"], canonical_bytes(values))
    cur.execute(
        f"INSERT INTO {TABLE} (tenant_id, sequence, event, event_type_code, event_type_display, event_subtype_code, "
        "event_subtype_display, action, outcome, occurred_at, user_id, username, api_key_prefix, is_operator, "
        "network_address, study_instance_uid, assessment_id, patient_ref, object_type, object_id, details, "
        "previous_hash, hash) SELECT tenant_id, %s, event, event_type_code, event_type_display, event_subtype_code, "
        "event_subtype_display, action, outcome, occurred_at, user_id, username, api_key_prefix, is_operator, "
        "network_address, study_instance_uid, 'forged', patient_ref, object_type, object_id, details, %s, %s "
        f"FROM {TABLE} WHERE {_where(chain)} AND sequence = {seq - 1}",
        [seq, values["hash"], forged_hash])


def _reorder(cur, chain, seq):
    # Swap two events' places (sequence numbers), through a free number to respect the unique constraint.
    cur.execute(f"UPDATE {TABLE} SET sequence = -1 WHERE {_where(chain)} AND sequence = {seq}")
    cur.execute(f"UPDATE {TABLE} SET sequence = {seq} WHERE {_where(chain)} AND sequence = {seq + 7}")
    cur.execute(f"UPDATE {TABLE} SET sequence = {seq + 7} WHERE {_where(chain)} AND sequence = -1")


def _truncate_tail(cur, chain, seq):
    cur.execute(f"DELETE FROM {TABLE} WHERE {_where(chain)} AND sequence >= {seq}")


def _forge_head(cur, chain, seq):
    # Cut the tail and move the head back to match, without the signing key: the signature fails.
    cur.execute(f"DELETE FROM {TABLE} WHERE {_where(chain)} AND sequence >= {seq}")
    cur.execute(f"SELECT hash FROM {TABLE} WHERE {_where(chain)} AND sequence = {seq - 1}")
    (last_hash,) = cur.fetchone()
    cur.execute("UPDATE audit_auditchainhead SET last_sequence = %s, last_hash = %s WHERE chain = %s",
                [seq - 1, last_hash, chain])


# (trial, tamper, sequence it is applied at, sequence the verifier must name, words of the problem)
TRIALS = [
    ("edit", _edit, 4_321, 4_321, "contents do not match"),
    ("edit and re-hash", _edit_and_rehash, 5_000, 5_001, "does not link"),
    ("delete", _delete, 2_500, 2_500, "missing"),
    ("insert", _insert, 7_777, 7_778, "contents do not match"),
    ("reorder", _reorder, 6_000, 6_000, "contents do not match"),
    ("truncate tail", _truncate_tail, 9_990, 9_990, "truncated"),
    ("forged head", _forge_head, 9_990, None, "signature"),
    ("first event edited", _edit, 1, 1, "contents do not match"),
    ("last event edited", _edit, CHAIN_LENGTH, CHAIN_LENGTH, "contents do not match"),
]


def test_every_kind_of_tampering_is_found_at_its_place_in_a_chain_of_10000_events(long_chain):
    chain, first, last = long_chain
    offset = first - 1  # the fixture's own set-up events (hospital, key) come first in the chain
    with owner_connection() as conn:
        with conn.cursor() as cur:
            report = _verify(cur, chain)
        assert report.ok, report.summary()
        assert report.last_sequence == last and report.events_checked == last
        conn.rollback()
        found = {}
        for name, tamper, at, expected, words in TRIALS:
            with conn.cursor() as cur:
                cur.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER audit_event_append_only")
                tamper(cur, chain, at + offset)
                report = _verify(cur, chain)
            conn.rollback()  # the chain is whole again for the next trial
            found[name] = report
            assert not report.ok, f"{name}: not detected"
            if expected is not None:
                assert report.broken_at == expected + offset, f"{name}: {report.summary()}"
            assert words in report.problem, f"{name}: {report.summary()}"
        with conn.cursor() as cur:
            assert _verify(cur, chain).ok
