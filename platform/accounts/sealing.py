"""Seal TOTP secrets at rest with the standard library: encrypt-then-MAC, keys derived from SECRET_KEY.

Why not Fernet: the `cryptography` package is not a dependency of the platform yet. This construction uses
only HMAC-SHA256, as a PRF in counter mode for the keystream and as the MAC over version, owner, nonce and
ciphertext (the owner's user id is bound in, so a sealed secret copied onto another person's row does not
open). A database dump or backup alone therefore does not hand out anyone's second factor.

Keys come from SECRET_KEY (with SECRET_KEY_FALLBACKS when opening, so a key rotation keeps devices working
until the fallback is dropped). Swap in Fernet/AES-GCM with a dedicated key when `cryptography` is added;
the `v1$` prefix leaves room for that.
"""
from __future__ import annotations

import base64
import hmac
import secrets

from django.conf import settings
from django.utils.crypto import salted_hmac

_VERSION = b"v1"
_NONCE_BYTES = 16
_TAG_BYTES = 32


class SealBroken(ValueError):
    """The sealed value was altered, belongs to someone else, or was sealed under a key no longer configured."""


def _keys(secret_key: str) -> tuple[bytes, bytes]:
    enc = salted_hmac("accounts.sealing.encrypt", _VERSION, secret=secret_key, algorithm="sha256").digest()
    mac = salted_hmac("accounts.sealing.authenticate", _VERSION, secret=secret_key, algorithm="sha256").digest()
    return enc, mac


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = []
    for counter in range((length + 31) // 32):
        blocks.append(hmac.new(key, nonce + counter.to_bytes(8, "big"), "sha256").digest())
    return b"".join(blocks)[:length]


def _tag(mac_key: bytes, owner: str, nonce: bytes, ciphertext: bytes) -> bytes:
    message = _VERSION + b"\0" + owner.encode() + b"\0" + nonce + ciphertext
    return hmac.new(mac_key, message, "sha256").digest()


def seal(plaintext: str, *, owner: str) -> str:
    """Encrypt and authenticate `plaintext` for `owner` (e.g. the user id). Returns `v1$<base64>`."""
    enc_key, mac_key = _keys(settings.SECRET_KEY)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    data = plaintext.encode()
    ciphertext = bytes(a ^ b for a, b in zip(data, _keystream(enc_key, nonce, len(data))))
    blob = nonce + ciphertext + _tag(mac_key, owner, nonce, ciphertext)
    return _VERSION.decode() + "$" + base64.urlsafe_b64encode(blob).decode()


def unseal(sealed: str, *, owner: str) -> str:
    """The plaintext sealed for `owner`. Raises SealBroken when it does not authenticate."""
    version, _, encoded = sealed.partition("$")
    if version != _VERSION.decode():
        raise SealBroken("unknown sealing version")
    try:
        blob = base64.urlsafe_b64decode(encoded.encode())
    except ValueError as exc:
        raise SealBroken("not base64") from exc
    if len(blob) < _NONCE_BYTES + _TAG_BYTES:
        raise SealBroken("too short")
    nonce, ciphertext, tag = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:-_TAG_BYTES], blob[-_TAG_BYTES:]
    for secret_key in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        enc_key, mac_key = _keys(secret_key)
        if hmac.compare_digest(tag, _tag(mac_key, owner, nonce, ciphertext)):
            return bytes(a ^ b for a, b in zip(ciphertext, _keystream(enc_key, nonce, len(ciphertext)))).decode()
    raise SealBroken("does not authenticate")
