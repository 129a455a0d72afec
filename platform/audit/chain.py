"""Hashing and signing of audit chains (pure functions: the writer, the verifier and the benchmark share them).

Canonical form: the event's fields as a JSON object with sorted keys, no whitespace, UTF-8, times as
`YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds: what PostgreSQL keeps). `hash = SHA-256(previous_hash || "\n"
|| canonical)` in hex; the first event of a chain links to GENESIS_HASH.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone as dt_timezone

from django.conf import settings

GENESIS_HASH = "0" * 64

# The fields the hash covers, in the canonical object (everything but the row id and the hash itself).
HASHED_FIELDS = (
    "chain", "sequence", "event", "event_type_code", "event_type_display", "event_subtype_code",
    "event_subtype_display", "action", "outcome", "occurred_at", "user_id", "username", "api_key_prefix",
    "is_operator", "network_address", "study_instance_uid", "assessment_id", "patient_ref", "object_type",
    "object_id", "details",
)


def format_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times must be aware (UTC)")
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(fields: dict) -> bytes:
    """`fields` holds every name of HASHED_FIELDS; occurred_at may be a datetime or its formatted string."""
    payload = {name: fields[name] for name in HASHED_FIELDS}
    if isinstance(payload["occurred_at"], datetime):
        payload["occurred_at"] = format_time(payload["occurred_at"])
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_hash(previous_hash: str, canonical: bytes) -> str:
    digest = hashlib.sha256(previous_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical)
    return digest.hexdigest()


def event_hash(fields: dict, previous_hash: str) -> str:
    return link_hash(previous_hash, canonical_bytes(fields))


def _signing_key() -> bytes:
    key = settings.AUDIT_SIGNING_KEY
    return key.encode() if isinstance(key, str) else key


def derived_key(purpose: str) -> bytes:
    """A sub-key of the audit signing key for `purpose` (head signatures, patient pseudonyms), so one secret
    kept outside the database serves both without one use revealing the other."""
    return hmac.new(_signing_key(), purpose.encode(), hashlib.sha256).digest()


def head_message(*, chain: str, first_sequence: int, anchor_hash: str, last_sequence: int, last_hash: str) -> bytes:
    return f"mip-audit-head/v1|{chain}|{first_sequence}|{anchor_hash}|{last_sequence}|{last_hash}".encode()


def sign_head(**fields) -> str:
    return hmac.new(derived_key("chain-head"), head_message(**fields), hashlib.sha256).hexdigest()


def head_signature_valid(signature: str, **fields) -> bool:
    return hmac.compare_digest(signature or "", sign_head(**fields))
