"""What the API keeps between requests: the answers of POSTs sent with an `Idempotency-Key`."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from tenants.models import TenantOwnedModel


class IdempotencyRecord(TenantOwnedModel):
    """One `Idempotency-Key` of one hospital on one (method, path), and the answer it got (api/idempotency.py).

    Created as a claim (`response_status` NULL) before the request runs, completed with the answer after it; a
    retry with the same key and the same request replays the stored answer instead of running again. The body is
    sealed (AES-GCM, accounts.sealing): it can hold patient inputs and, for a new API key, the key itself.
    Expires `IDEMPOTENCY_TTL_S` after creation (api.tasks.idempotency_records_expire deletes it).
    """

    id = models.BigAutoField(primary_key=True)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    # SHA-256 of the request as parsed (fields and files' contents), so a re-encoded retry (a new multipart
    # boundary, JSON keys in another order) is still the same request.
    request_sha256 = models.CharField(max_length=64)
    claimed_at = models.DateTimeField(default=timezone.now)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key", "method", "path"], name="idempotency_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} idempotency record {self.pk}"

    @property
    def is_complete(self) -> bool:
        return self.response_status is not None
