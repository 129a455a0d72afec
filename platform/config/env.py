"""Reading configuration from environment variables (one prefix: MIP_).

Kept apart from settings so the Celery worker, the model server and scripts parse values the same way.
"""
from __future__ import annotations

import os
from urllib.parse import unquote, urlparse

PREFIX = "MIP_"


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed."""


def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(PREFIX + name, default)


def env_required(name: str, *, dev_default: str | None, is_dev: bool) -> str:
    """A value that must be set in production; development and tests may use `dev_default`.

    Secrets go through here so that they never have a working default in production.
    """
    value = os.environ.get(PREFIX + name)
    if value:
        return value
    if is_dev and dev_default is not None:
        return dev_default
    raise ConfigurationError(f"{PREFIX}{name} must be set (no default outside development).")


def _env_number(name: str, default, cast, kind: str):
    raw = os.environ.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{PREFIX}{name} must be {kind}, got {raw!r}") from exc


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(PREFIX + name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_database_url(url: str) -> dict:
    """Turn postgres://user:password@host:port/name?sslmode=... into Django's DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ConfigurationError(f"Unsupported database URL scheme {parsed.scheme!r}; use postgres://")
    options = {}
    if parsed.query:
        for pair in parsed.query.split("&"):
            key, _, value = pair.partition("=")
            options[key] = unquote(value)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")),
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or 5432),
        "OPTIONS": options,
    }
