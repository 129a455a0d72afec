"""Sign-in lockout: failures counted per username and per client address in the shared cache (Redis).

The cache is shared by every web pod, so an attacker cannot spread guesses over pods. A username is locked
after LOGIN_MAX_FAILURES failures within LOGIN_FAILURE_WINDOW_S (counted from the first failure), for
LOGIN_LOCKOUT_S. The client address has its own, higher limit (LOGIN_MAX_FAILURES_PER_IP, default ten times
the username limit), because a whole hospital often signs in from behind one NAT address: one person's
typos must not lock out their colleagues, while one address trying many usernames is still stopped.

Usernames are counted whether or not they exist, and locked the same way, so the lock never tells an
attacker which usernames are real. Keys hold a SHA-256 of the (case-folded) username, never the name.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class Lock:
    """An active lock: which counter tripped ("username" or "address") and seconds until it lifts."""

    scope: str
    remaining_s: float

    @property
    def remaining_minutes(self) -> int:
        return max(1, math.ceil(self.remaining_s / 60))


def _username_id(username: str) -> str:
    return hashlib.sha256(username.strip().casefold().encode()).hexdigest()


def _keys(username: str | None, ip: str | None) -> list[tuple[str, str, int]]:
    """(scope, key stem, failure limit) for each counter that applies."""
    keys = []
    if username is not None:
        keys.append(("username", f"accounts:signin:user:{_username_id(username)}", settings.LOGIN_MAX_FAILURES))
    if ip:
        ip_limit = getattr(settings, "LOGIN_MAX_FAILURES_PER_IP", 10 * settings.LOGIN_MAX_FAILURES)
        keys.append(("address", f"accounts:signin:ip:{ip}", ip_limit))
    return keys


def lock_for(*, username: str | None, ip: str | None) -> Lock | None:
    """The active lock on this username or address (the longer one), else None."""
    now = time.time()
    found = None
    for scope, stem, _limit in _keys(username, ip):
        unlock_at = cache.get(f"{stem}:lock")
        if unlock_at is not None and unlock_at > now and (found is None or unlock_at - now > found.remaining_s):
            found = Lock(scope=scope, remaining_s=unlock_at - now)
    return found


def _increment(key: str, window_s: int) -> int:
    # add() only creates the counter (with the window as its TTL) if absent; incr() is atomic in Redis.
    # Django's incr checks existence first, so the counter may expire in between: then start it again.
    for _attempt in range(3):
        cache.add(key, 0, timeout=window_s)
        try:
            count = cache.incr(key)
        except ValueError:
            continue
        if count == 1:
            cache.touch(key, timeout=window_s)  # a counter recreated by a bare INCR would have no TTL
        return count
    return 1


def record_failure(*, username: str | None, ip: str | None) -> Lock | None:
    """Count one failed sign-in (wrong password or wrong code). Returns the lock if this failure set one."""
    window_s = settings.LOGIN_FAILURE_WINDOW_S
    lockout_s = settings.LOGIN_LOCKOUT_S
    for _scope, stem, limit in _keys(username, ip):
        if _increment(f"{stem}:failures", window_s) >= limit:
            cache.set(f"{stem}:lock", time.time() + lockout_s, timeout=lockout_s)
            cache.delete(f"{stem}:failures")
    return lock_for(username=username, ip=ip)


def clear_username(*, username: str) -> None:
    """Forget a username's failures (after a successful sign-in). The address counter is left alone."""
    for _scope, stem, _limit in _keys(username, None):
        cache.delete(f"{stem}:failures")


def unlock(*, username: str | None = None, ip: str | None = None) -> None:
    """Lift locks and forget failures for a username and/or address (operator action; tests)."""
    for _scope, stem, _limit in _keys(username, ip):
        cache.delete_many([f"{stem}:failures", f"{stem}:lock"])
