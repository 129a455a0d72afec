"""API key material: generation, parsing and hashing. Storage and lookup live in services/selectors."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PATTERN = re.compile(r"^mip_(?P<prefix>[A-Za-z0-9]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class GeneratedKey:
    prefix: str
    secret: str

    @property
    def full_key(self) -> str:
        """The string given once to the hospital; never stored."""
        return f"mip_{self.prefix}_{self.secret}"


def generate_key() -> GeneratedKey:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    prefix = "".join(secrets.choice(alphabet) for _ in range(12))
    return GeneratedKey(prefix=prefix, secret=secrets.token_urlsafe(32))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(full_key: str) -> tuple[str, str] | None:
    """Return (prefix, secret) of a well-formed key, else None."""
    match = KEY_PATTERN.match(full_key.strip())
    if not match:
        return None
    return match["prefix"], match["secret"]


def secret_matches(secret: str, stored_sha256: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_sha256)
