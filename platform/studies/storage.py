"""Object storage (S3-compatible) for uploaded images. Keys come from tenants.storage_keys only."""
from __future__ import annotations

import functools
import hashlib

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings


class StorageUnavailable(RuntimeError):
    """The object store could not be reached or refused the operation (transient; retry later)."""


class StoredObjectMissing(RuntimeError):
    """The object is not in the store (deleted or never written)."""


class StoredObjectCorrupt(RuntimeError):
    """The bytes read back do not match the SHA-256 recorded at upload."""


@functools.lru_cache(maxsize=4)
def _client(endpoint_url: str | None, region: str, access_key: str, secret_key: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            # Non-AWS S3 servers reject the default CRC checksums of new botocore releases.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            signature_version="s3v4",
        ),
    )


def s3_client():
    """The boto3 client for the configured store (cached per configuration; boto3 clients are thread-safe)."""
    return _client(settings.S3_ENDPOINT_URL, settings.S3_REGION, settings.S3_ACCESS_KEY, settings.S3_SECRET_KEY)


def put_image(*, key: str, data: bytes, content_type: str, sha256: str) -> None:
    """Store `data` under `key` with server-side encryption and its SHA-256 in the metadata.

    Raises StorageUnavailable when the store cannot be reached.
    """
    extra = {}
    if settings.S3_SERVER_SIDE_ENCRYPTION:
        extra["ServerSideEncryption"] = settings.S3_SERVER_SIDE_ENCRYPTION
    try:
        s3_client().put_object(
            Bucket=settings.S3_BUCKET,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata={"sha256": sha256},
            **extra,
        )
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(f"object store refused or unreachable: {type(exc).__name__}") from exc


def get_image(*, key: str, expected_sha256: str | None = None) -> bytes:
    """Read an object back, verifying its SHA-256 when given.

    Raises StoredObjectMissing, StoredObjectCorrupt or StorageUnavailable.
    """
    try:
        response = s3_client().get_object(Bucket=settings.S3_BUCKET, Key=key)
        data = response["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            raise StoredObjectMissing(key) from exc
        raise StorageUnavailable(f"object store refused the read: {type(exc).__name__}") from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(f"object store unreachable: {type(exc).__name__}") from exc
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise StoredObjectCorrupt(key)
    return data


def object_exists(*, key: str) -> bool:
    try:
        s3_client().head_object(Bucket=settings.S3_BUCKET, Key=key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            return False
        raise StorageUnavailable(f"object store refused the check: {type(exc).__name__}") from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(f"object store unreachable: {type(exc).__name__}") from exc


def presigned_download_url(*, tenant_id, key: str, ttl_s: int | None = None) -> str:
    """A short-lived GET URL for one of the hospital's own objects.

    Raises PermissionError if `key` is outside the hospital's prefix: a URL is never signed for another
    hospital's object, whatever the caller passes. Signing is local (no request to the store).
    """
    from tenants.storage_keys import key_belongs_to_tenant

    if not key_belongs_to_tenant(key, tenant_id):
        raise PermissionError("refusing to sign a URL for an object outside the hospital's prefix")
    ttl = int(ttl_s if ttl_s is not None else settings.PRESIGNED_URL_TTL_S)
    client = _client(settings.S3_PUBLIC_ENDPOINT_URL or settings.S3_ENDPOINT_URL, settings.S3_REGION,
                     settings.S3_ACCESS_KEY, settings.S3_SECRET_KEY)
    return client.generate_presigned_url(
        "get_object", Params={"Bucket": settings.S3_BUCKET, "Key": key}, ExpiresIn=ttl
    )
