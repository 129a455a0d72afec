"""Webhook signatures: pure functions, no Django, so receivers (and docs/webhooks.md) can use the same recipe.

A delivery carries three headers (after Stripe's and Standard Webhooks' conventions):

    Webhook-Id:        the event's id (also the body's "id"; the same on every retry and replay)
    Webhook-Timestamp: when this attempt was signed, in unix seconds
    Webhook-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

`secret` is the endpoint's signing secret (`whsec_...`) used as UTF-8 bytes; `body` is the raw request body,
byte for byte (verify before parsing JSON). During a secret rotation the header carries several
space-separated `v1=` entries, one per valid secret; one match is enough. The timestamp is signed with the body,
so a captured delivery replayed later fails the tolerance check.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

SIGNATURE_VERSION = "v1"
HEADER_ID = "Webhook-Id"
HEADER_TIMESTAMP = "Webhook-Timestamp"
HEADER_SIGNATURE = "Webhook-Signature"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """A delivery that must be refused (answer 400/401 and do not process it). `code` names the reason."""

    code = "invalid_signature"


class MissingHeaders(SignatureError):
    """Webhook-Id, Webhook-Timestamp or Webhook-Signature is absent or empty."""

    code = "missing_headers"


class TimestampOutOfTolerance(SignatureError):
    """The signed timestamp is unreadable or further than the tolerance from now: a stale (replayed) delivery."""

    code = "timestamp_out_of_tolerance"


class BadSignature(SignatureError):
    """No `v1=` signature matches: the body was altered, or it was signed with another secret."""

    code = "bad_signature"


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def sign(secret: str | bytes, timestamp: int, body: str | bytes) -> str:
    """The hex HMAC-SHA256 of f"{timestamp}.{body}" under `secret` (the value after `v1=`)."""
    message = str(int(timestamp)).encode("ascii") + b"." + _as_bytes(body)
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str | bytes], timestamp: int, body: str | bytes) -> str:
    """The Webhook-Signature value: one `v1=<hex>` entry per secret, space-separated (current secret first)."""
    return " ".join(f"{SIGNATURE_VERSION}={sign(secret, timestamp, body)}" for secret in secrets)


def _header(headers: Mapping[str, str], name: str) -> str:
    # HTTP header names are case-insensitive; plain dicts (and WSGI environs' HTTP_ keys) are not.
    wanted = {name.lower(), "http_" + name.lower().replace("-", "_")}
    for key, value in headers.items():
        if key.lower() in wanted:
            return (value or "").strip()
    return ""


def verify(secret: str | bytes, headers: Mapping[str, str], body: str | bytes,
           tolerance_s: int = DEFAULT_TOLERANCE_S, *, now: float | None = None) -> int:
    """Check a delivery's signature. Returns the signed timestamp (unix seconds) when it is authentic and fresh.

    Raises MissingHeaders (a header absent), TimestampOutOfTolerance (not an integer, or more than `tolerance_s`
    seconds from `now`, either way: a replayed or badly clocked delivery) and BadSignature (no `v1=` entry
    matches: altered body or wrong secret). All are SignatureError.
    """
    event_id = _header(headers, HEADER_ID)
    raw_timestamp = _header(headers, HEADER_TIMESTAMP)
    raw_signature = _header(headers, HEADER_SIGNATURE)
    missing = [name for name, value in ((HEADER_ID, event_id), (HEADER_TIMESTAMP, raw_timestamp),
                                        (HEADER_SIGNATURE, raw_signature)) if not value]
    if missing:
        raise MissingHeaders(f"missing header(s): {', '.join(missing)}")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise TimestampOutOfTolerance("Webhook-Timestamp is not unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise TimestampOutOfTolerance(f"Webhook-Timestamp is {int(current - timestamp)} s from now "
                                      f"(tolerance {tolerance_s} s)")
    expected = sign(secret, timestamp, body)
    candidates = [entry.partition("=")[2] for entry in raw_signature.split()
                  if entry.partition("=")[0] == SIGNATURE_VERSION]
    # Compare every entry in constant time, without stopping early, so timing does not tell which one was close.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.encode("ascii", "replace"), expected.encode("ascii"))
    if not matched:
        raise BadSignature("no v1 signature matches this body and secret")
    return timestamp
