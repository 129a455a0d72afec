"""Seal TOTP secrets at rest: AES-256-GCM with the owner bound in as associated data.

A database dump or backup alone does not hand out anyone's second factor, and a sealed secret copied onto
another person's row does not open (the owner's user id is authenticated with it). The key is derived from
FIELD_ENCRYPTION_KEY (required in production; MIP_FIELD_ENCRYPTION_KEY), with FIELD_ENCRYPTION_KEY_FALLBACKS
tried when opening so a key rotation keeps devices working until the old key is dropped.
"""
from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

_VERSION = "v2"
_NONCE_BYTES = 12


class SealBroken(ValueError):
    """The sealed value was altered, belongs to someone else, or was sealed under a key no longer configured."""


def _key(material: str) -> bytes:
    # HKDF would do as well; a labelled SHA-256 is enough for a high-entropy configured key.
    return hashlib.sha256(b"mip accounts.sealing v2\0" + material.encode()).digest()


def _associated_data(owner: str) -> bytes:
    return f"{_VERSION}\0{owner}".encode()


def seal(plaintext: str, *, owner: str) -> str:
    """Encrypt and authenticate `plaintext` for `owner` (e.g. the user id). Returns `v2$<base64>`."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    ciphertext = AESGCM(_key(settings.FIELD_ENCRYPTION_KEY)).encrypt(
        nonce, plaintext.encode(), _associated_data(owner)
    )
    return f"{_VERSION}${base64.urlsafe_b64encode(nonce + ciphertext).decode()}"


def unseal(sealed: str, *, owner: str) -> str:
    """The plaintext sealed for `owner`. Raises SealBroken when it does not authenticate."""
    version, _, encoded = sealed.partition("$")
    if version != _VERSION:
        raise SealBroken("unknown sealing version")
    try:
        blob = base64.urlsafe_b64decode(encoded.encode())
    except ValueError as exc:
        raise SealBroken("not base64") from exc
    if len(blob) < _NONCE_BYTES + 16:
        raise SealBroken("too short")
    nonce, ciphertext = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
    for material in [settings.FIELD_ENCRYPTION_KEY, *settings.FIELD_ENCRYPTION_KEY_FALLBACKS]:
        try:
            return AESGCM(_key(material)).decrypt(nonce, ciphertext, _associated_data(owner)).decode()
        except InvalidTag:
            continue
    raise SealBroken("does not authenticate")
