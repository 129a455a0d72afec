"""`Idempotency-Key` on every POST of the API: a retried request gets the first answer, never a second effect.

An HIS that loses the answer to a POST (a timeout, a dropped connection) sends it again with the same
`Idempotency-Key` header. The first request with a key claims it (an `api.IdempotencyRecord` keyed by hospital,
key, method and path) before the view runs; its answer is stored when the view returns. A retry then:

- with the same request (the same fields and files, however re-encoded) gets the stored answer again, status,
  `Location` and body, with `Idempotent-Replayed: true`, and nothing runs a second time;
- with a different request gets 422 `idempotency_key_reused` (a client bug: one key per distinct request);
- while the first is still running waits up to IDEMPOTENCY_WAIT_S (default 10 s) for it to finish and then
  replays its answer; if it is still running after that, 409 `idempotency_in_progress` with `Retry-After: 1`.

Answers that say "nothing was done, try again" are not stored (5xx, 409, 429): the key is released and the
retry runs afresh. Keys are 1-255 printable ASCII characters (400 `idempotency_key_invalid` otherwise) and are
remembered for IDEMPOTENCY_TTL_S (24 h) after first use; `api.tasks.idempotency_records_expire` deletes older
ones. A claim whose request died without answering is taken over after IDEMPOTENCY_ABANDONED_AFTER_S.

TenantAPIView applies this to every POST handler (`idempotent_methods`), so new POST endpoints get it too.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from accounts.sealing import SealBroken, seal, unseal
from api.models import IdempotencyRecord
from api.problems import ApiProblem

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Multipart framing on top of the largest accepted file (as in api.views): a bigger declared body is refused
# by the view with 413 before anything is read, so it is not fingerprinted (or claimed) either.
_MULTIPART_OVERHEAD_BYTES = 1024 * 1024
# The headers of an answer that a replay must repeat; the rest (Date, Vary, rate-limit state) are per response.
STORED_HEADERS = ("Content-Type", "Location", "Cache-Control", "Content-Disposition")
_POLL_S = 0.05


class IdempotentReplay(Exception):
    """Raised from TenantAPIView.initial to answer with a stored response instead of running the view."""

    def __init__(self, response: HttpResponse):
        super().__init__("idempotent replay")
        self.response = response


@dataclass
class Claim:
    """This request owns the key: its answer is stored (or the key released) when it is finalised."""

    record_id: int


def _invalid_key(detail: str) -> ApiProblem:
    return ApiProblem(status=400, code="idempotency_key_invalid", detail=detail)


def parse_key(raw: str | None) -> str | None:
    """The header's key, None when absent; ApiProblem 400 `idempotency_key_invalid` when empty or malformed."""
    if raw is None:
        return None
    key = raw.strip()
    if not key:
        raise _invalid_key("The Idempotency-Key header is empty: send 1 to 255 characters, e.g. a UUID.")
    if len(key) > MAX_KEY_LENGTH:
        raise _invalid_key(f"The Idempotency-Key is longer than {MAX_KEY_LENGTH} characters.")
    if not all(" " <= ch <= "~" for ch in key):
        raise _invalid_key("The Idempotency-Key must be printable ASCII characters, e.g. a UUID.")
    return key


def _hash_file(digest, upload) -> None:
    digest.update(f"file:{getattr(upload, 'name', '')}:{getattr(upload, 'size', 0)}\0".encode())
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)  # the view reads it again


def request_fingerprint(request) -> str:
    """SHA-256 over the request as parsed: form fields (in their order per name) and files' contents, or the
    JSON value with sorted keys. A client's re-encoding of the same request (a new multipart boundary, JSON
    keys in another order, other whitespace) has the same fingerprint; any changed value does not. A view that
    reads its body itself (FHIR: far larger than Django's form limit) gives the parsed body as
    `request.idempotency_body` through its `parsed_body_for_idempotency(request)`."""
    view = request.parser_context.get("view") if getattr(request, "parser_context", None) else None
    reader = getattr(view, "parsed_body_for_idempotency", None)
    data = reader(request) if reader else request.data  # a ParseError answers 400 malformed_request
    digest = hashlib.sha256()
    if hasattr(data, "lists"):
        digest.update(b"form\0")
        for name, values in sorted(data.lists(), key=lambda item: item[0]):
            digest.update(f"{name}\0{len(values)}\0".encode())
            for value in values:
                if hasattr(value, "chunks"):
                    _hash_file(digest, value)
                else:
                    digest.update(f"{value}\0".encode())
    else:
        digest.update(b"json\0")
        digest.update(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode())
    return digest.hexdigest()


def _owner(record_id: int) -> str:
    # Binds the sealed body to its row: a body copied onto another record does not open.
    return f"api.idempotency:{record_id}"


def _replay_response(record: IdempotencyRecord) -> HttpResponse:
    try:
        body = base64.b64decode(unseal(record.response_body, owner=_owner(record.pk))) if record.response_body \
            else b""
    except SealBroken:
        # Sealed under a key no longer configured: the answer is lost, not the request's effect. Say so.
        raise ApiProblem(status=409, code="idempotency_in_progress", headers={"Retry-After": "1"},
                         detail="The stored answer of this Idempotency-Key cannot be read; retry with a new key "
                                "after checking whether the first request took effect.") from None
    response = HttpResponse(body, status=record.response_status)
    for name, value in record.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def begin(*, request, tenant, method: str, path: str) -> Claim | None:
    """Claim the request's Idempotency-Key before its view runs.

    Returns None when the request carries no key (or is too large to be accepted anyway), a Claim when this
    request owns the key. Raises IdempotentReplay with the stored answer of an earlier identical request, and
    ApiProblem: 400 `idempotency_key_invalid`, 422 `idempotency_key_reused`, 409 `idempotency_in_progress`.
    """
    key = parse_key(request.META.get("HTTP_IDEMPOTENCY_KEY"))
    if key is None:
        return None
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > settings.MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD_BYTES:
        return None
    fingerprint = request_fingerprint(request)
    deadline = time.monotonic() + settings.IDEMPOTENCY_WAIT_S
    while True:
        now = timezone.now()
        try:
            # Autocommit: the claim is visible to concurrent retries at once. The unique constraint decides
            # which of several simultaneous first requests owns the key; get_or_create re-reads after losing.
            record, created = IdempotencyRecord.objects.get_or_create(
                tenant=tenant, key=key, method=method, path=path,
                defaults={"request_sha256": fingerprint, "claimed_at": now,
                          "expires_at": now + timedelta(seconds=settings.IDEMPOTENCY_TTL_S)},
            )
        except IntegrityError:
            continue  # the winner's row was deleted (released or expired) between our insert and re-read
        if created:
            return Claim(record_id=record.pk)
        if record.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=record.pk, expires_at__lte=now).delete()
            continue
        if record.request_sha256 != fingerprint:
            raise ApiProblem(status=422, code="idempotency_key_reused",
                             detail="This Idempotency-Key was already used for a different request. Use a new "
                                    "key for every distinct request, and the same key only for its retries.")
        if record.is_complete:
            raise IdempotentReplay(_replay_response(record))
        abandoned = now - timedelta(seconds=settings.IDEMPOTENCY_ABANDONED_AFTER_S)
        if record.claimed_at < abandoned:
            # Its request died without answering (a killed worker). Take it over, once: the claimed_at guard makes
            # only one of several retries win. The view's own duplicate checks cover what the dead one did.
            taken = IdempotencyRecord.objects.filter(pk=record.pk, claimed_at=record.claimed_at,
                                                     response_status__isnull=True).update(claimed_at=now)
            if taken:
                return Claim(record_id=record.pk)
            continue
        if time.monotonic() >= deadline:
            raise ApiProblem(status=409, code="idempotency_in_progress", headers={"Retry-After": "1"},
                             detail="A request with this Idempotency-Key is still being processed. Retry with the "
                                    "same key shortly to get its answer.")
        time.sleep(_POLL_S)


def _should_store(status: int) -> bool:
    # 5xx: nothing was done (storage or audit unavailable); 409: a conflict of the moment; 429: over a limit.
    # Storing those would replay "try again" for a day; releasing the key lets the retry run.
    return status < 500 and status not in (409, 429)


def finish(*, claim: Claim, response) -> None:
    """Store the answer of the request that owned the key, or release the key for answers that are not final.

    Never raises: the request's effect already happened; failing to store its answer only means a retry is
    answered by the view's own duplicate handling (or waits until the claim counts as abandoned)."""
    try:
        if not _should_store(response.status_code):
            IdempotencyRecord.objects.filter(pk=claim.record_id, response_status__isnull=True).delete()
            return
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
        body = bytes(response.content)
        headers = {name: response[name] for name in STORED_HEADERS if response.has_header(name)}
        with transaction.atomic():
            IdempotencyRecord.objects.filter(pk=claim.record_id).update(
                response_status=response.status_code,
                response_headers=headers,
                response_body=seal(base64.b64encode(body).decode(), owner=_owner(claim.record_id)),
                completed_at=timezone.now(),
            )
    except Exception:  # noqa: BLE001 - see the docstring; logged without the body
        logger.exception("could not store the answer of idempotency record %s", claim.record_id)


def records_expire(*, now=None, batch: int = 5000) -> int:
    """Delete every hospital's idempotency records past their expiry (operator path). Returns how many."""
    from tenants.context import dangerously_operator_access

    now = now or timezone.now()
    deleted = 0
    with dangerously_operator_access(reason="expire stored Idempotency-Key answers"):
        while True:
            ids = list(IdempotencyRecord.objects.dangerously_all_tenants().filter(expires_at__lte=now)
                       .values_list("pk", flat=True)[:batch])
            if not ids:
                return deleted
            count, _ = IdempotencyRecord.objects.dangerously_all_tenants().filter(pk__in=ids).delete()
            deleted += count
