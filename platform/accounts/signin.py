"""The two-step portal sign-in: password, then (for people with a confirmed device) a TOTP code.

django.contrib.auth.login() runs only once every factor has passed. Between the steps, the session holds a
small "pending" record (user id, auth backend, the username as typed, the password hash fingerprint, an
expiry LOGIN_SECOND_FACTOR_TTL_S ahead, default 5 minutes); the session is not authenticated and every
@login_required page still redirects to sign-in. The session key is rotated when the record is written (so a
planted session id is useless) and again by login().

Logging: one `accounts.signin` INFO line per attempt with the username as typed, the client address and the
outcome. Never the password, never the code (issue #5 turns these into audit events).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, load_backend, login

from accounts import lockout, services
from accounts.lockout import Lock
from accounts.selectors import confirmed_totp_device_for

logger = logging.getLogger("accounts.signin")

PENDING_SESSION_KEY = "accounts_signin_pending"
_USERNAME_LOG_MAX = 150


@dataclass(frozen=True)
class Outcome:
    """`status`: "signed_in", "code_required", "refused" (wrong password or code), "locked", "expired"."""

    status: str
    lock: Lock | None = None
    next_url: str = ""


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy overwrites it, and trusting
    # it blindly would let an attacker pick a fresh address per guess.
    return request.META.get("REMOTE_ADDR") or None


def second_factor_ttl_s() -> int:
    return int(getattr(settings, "LOGIN_SECOND_FACTOR_TTL_S", 300))


def _log(outcome: str, username: str, ip: str | None, **extra) -> None:
    # %r escapes control characters, so a username cannot forge log lines.
    details = "".join(f" {key}={value}" for key, value in extra.items())
    logger.info("accounts.signin outcome=%s username=%r ip=%s%s", outcome,
                (username or "")[:_USERNAME_LOG_MAX], ip or "-", details)


def _audit(outcome: str, username: str, ip: str | None, user=None, **extra) -> None:
    """Every sign-in and failed sign-in is an audit event of the platform chain (the person acts for no
    hospital yet). A success that cannot be audited fails (raises); a refusal is refused anyway, and logged."""
    from audit.events import Outcome as AuditOutcome
    from audit.services import AuditUnavailable, audit_event_record

    try:
        audit_event_record(event="signin", outcome=AuditOutcome.SUCCESS if user is not None
                           else AuditOutcome.MINOR_FAILURE, user=user, username=(username or "")[:_USERNAME_LOG_MAX],
                           network_address=ip or "", details={"outcome": outcome, **extra})
    except AuditUnavailable:
        if user is not None:
            raise
        logger.error("accounts.signin outcome=%s could not be audited", outcome)


def _refuse(username: str, ip: str | None, reason: str) -> Outcome:
    lock = lockout.record_failure(username=username, ip=ip)
    if lock is not None:
        _log("locked_now", username, ip, reason=reason, scope=lock.scope)
        _audit("locked_now", username, ip, reason=reason, scope=lock.scope)
        return Outcome("locked", lock=lock)
    _log("refused", username, ip, reason=reason)
    _audit("refused", username, ip, reason=reason)
    return Outcome("refused")


def _complete(request, user, username: str, ip: str | None, next_url: str, *, factors: str) -> Outcome:
    request.session.pop(PENDING_SESSION_KEY, None)
    _audit("success", username, ip, user=user, factors=factors)  # before login(): no unaudited sign-in
    login(request, user)
    lockout.clear_username(username=username)
    _log("success", username, ip, factors=factors)
    return Outcome("signed_in", next_url=next_url)


def password_step(request, *, username: str, password: str, next_url: str = "") -> Outcome:
    """First step. Refuses without checking the password while the username or address is locked."""
    ip = client_ip(request)
    request.session.pop(PENDING_SESSION_KEY, None)
    lock = lockout.lock_for(username=username, ip=ip)
    if lock is not None:
        _log("locked", username, ip, scope=lock.scope)
        _audit("locked", username, ip, scope=lock.scope)
        return Outcome("locked", lock=lock)
    user = authenticate(request, username=username, password=password)
    if user is None:
        return _refuse(username, ip, "password")
    if confirmed_totp_device_for(user=user) is None:
        return _complete(request, user, username, ip, next_url, factors="password")
    request.session.cycle_key()
    request.session[PENDING_SESSION_KEY] = {
        "user_id": user.pk,
        "backend": user.backend,
        "username": username,
        "auth_hash": user.get_session_auth_hash(),
        "expires_at": time.time() + second_factor_ttl_s(),
        "next": next_url,
    }
    _log("code_required", username, ip)
    return Outcome("code_required")


def pending(request) -> dict | None:
    """The half-done sign-in of this session, if it has not expired."""
    record = request.session.get(PENDING_SESSION_KEY)
    if not record or record.get("expires_at", 0) <= time.time():
        return None
    return record


def code_step(request, *, code: str | None) -> Outcome:
    """Second step: a current, unused code from the person's confirmed device."""
    ip = client_ip(request)
    record = request.session.get(PENDING_SESSION_KEY)
    if not record:
        return Outcome("expired")
    username = record["username"]
    if record.get("expires_at", 0) <= time.time():
        request.session.pop(PENDING_SESSION_KEY, None)
        _log("expired", username, ip)
        return Outcome("expired")
    lock = lockout.lock_for(username=username, ip=ip)
    if lock is not None:
        request.session.pop(PENDING_SESSION_KEY, None)
        _log("locked", username, ip, scope=lock.scope)
        return Outcome("locked", lock=lock)
    user = get_user_model()._default_manager.filter(pk=record["user_id"], is_active=True).first()
    device = confirmed_totp_device_for(user=user) if user is not None else None
    # The password changed, the person was deactivated or the device removed since step one: start again.
    if device is None or user.get_session_auth_hash() != record["auth_hash"]:
        request.session.pop(PENDING_SESSION_KEY, None)
        _log("expired", username, ip, reason="account_changed")
        return Outcome("expired")
    verdict = services.totp_code_accept(device=device, code=code)
    if verdict != "ok":
        outcome = _refuse(username, ip, f"code_{verdict}")
        if outcome.status == "locked":
            request.session.pop(PENDING_SESSION_KEY, None)
        return outcome
    user.backend = record["backend"]
    load_backend(user.backend)  # fails loudly if the backend was removed from settings meanwhile
    return _complete(request, user, username, ip, record.get("next", ""), factors="password+totp")
