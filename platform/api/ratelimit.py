"""Rate limits per API key and per hospital, counted in Redis so that every web pod enforces the same budget.

Algorithm: a sliding-window counter (the approximation Cloudflare and others use). Each limit keeps one counter
per 60-second window; a request is allowed when

    previous_window_count * (fraction of the previous window still inside the last 60 s) + current_count + 1 <= limit

This smooths the burst a fixed window allows at its boundary (up to twice the limit within a few seconds) for the
cost of one extra key. All limits of a request are checked and incremented in ONE Lua script, which Redis runs
atomically: two pods can never both take the last slot, and a request refused by the hospital limit does not use
up its key's budget. Refused requests are not counted, so a client that retries after `Retry-After` gets in.
The clock is Redis's own (TIME), not the pods', so pods with skewed clocks still share one window.

Keys are `<cache prefix>:rl:{<tenant id>}:<scope>:<window>`; the braces are a Redis Cluster hash tag, so all
counters of one hospital live in the same slot, as a multi-key script requires. Counters expire after two windows.

If Redis is unreachable the limiter fails OPEN: the request is served and a warning is logged (no patient data,
only the error class), and Redis is not tried again for a few seconds so an outage does not add a connection
timeout to every request. Refusing a hospital's clinical traffic because a counter store is down would be worse
than briefly not limiting it; authentication and authorisation do not depend on Redis.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from api.problems import ApiProblem

logger = logging.getLogger(__name__)

WINDOW_S = 60
# After a Redis failure, serve requests unlimited for this long before trying Redis again.
_BREAKER_S = 5.0
# A slow Redis must not stall the API: give up quickly and fail open.
_SOCKET_TIMEOUT_S = 0.25

# KEYS: one base name per limit; the script appends the window number (from Redis's clock) to name the current
# and previous counters, so the window and the weight come from the same instant. ARGV: window_ms, then each
# limit's maximum. Returns {0} when allowed (all current counters incremented), else
# {i, previous_count, current_count, elapsed_ms} of the first limit that refuses (nothing incremented).
_SCRIPT = """
local window_ms = tonumber(ARGV[1])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = math.floor(now_ms / window_ms)
local elapsed_ms = now_ms - window * window_ms
local weight = (window_ms - elapsed_ms) / window_ms
for i = 1, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i] .. ':' .. window) or '0')
  local previous = tonumber(redis.call('GET', KEYS[i] .. ':' .. (window - 1)) or '0')
  if previous * weight + current + 1 > tonumber(ARGV[i + 1]) then
    return {i, previous, current, elapsed_ms}
  end
end
for i = 1, #KEYS do
  local key = KEYS[i] .. ':' .. window
  redis.call('INCR', key)
  redis.call('PEXPIRE', key, 2 * window_ms)
end
return {0}
"""
# The script reads TIME and then writes; Redis 5+ replicates its effects, not the script, so this is safe. The
# counters it touches are derived from the declared KEYS and share their hash tag, hence their cluster slot.


@dataclass(frozen=True)
class Limit:
    scope: str  # "key" or "hospital": named in the 429's detail
    counter: str  # key suffix, unique per limited thing
    maximum: int


@dataclass(frozen=True)
class Refusal:
    limit: Limit
    retry_after_s: int


def retry_after_s(*, maximum: int, previous: int, current: int, elapsed_ms: int, window_ms: int) -> int:
    """Whole seconds until one more request fits, if no other request arrives meanwhile (at least 1).

    Within the current window the estimate falls as the previous window's weight decays; if the current
    window alone is full, the wait runs into the next window, where the current count becomes the decaying one.
    """
    room = maximum - 1 - current  # what the previous window's weighted count may still be
    # Integer arithmetic (ceiling divisions), so exact boundaries do not round up a second by float error.
    if room >= 0 and previous > 0:
        wait_ms = -(-window_ms * (previous - room) // previous) - elapsed_ms
    else:
        wait_ms = window_ms - elapsed_ms
        if current > maximum - 1:
            wait_ms += -(-window_ms * (current - (maximum - 1)) // current)
    return max(1, -(-wait_ms // 1000))


@functools.lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # One connection pool per URL and process; redis-py pools are thread-safe.
    return redis.Redis.from_url(url, socket_timeout=_SOCKET_TIMEOUT_S, socket_connect_timeout=_SOCKET_TIMEOUT_S)


class RateLimiter:
    """Checks and counts the limits of one request against the Redis at `url` (settings.REDIS_URL by default)."""

    # Redis URL -> monotonic time until which Redis is not tried again (fail open).
    _unavailable_until: dict[str, float] = {}

    def __init__(self, url: str | None = None, client: redis.Redis | None = None, key_prefix: str | None = None):
        self.url = url or settings.REDIS_URL or ""
        # No Redis configured at all: like an outage, fail open (check() logs it).
        self.client = client or (_client(self.url) if self.url else None)
        prefix = key_prefix if key_prefix is not None else settings.CACHES["default"].get("KEY_PREFIX", "")
        self.key_prefix = f"{prefix}:rl" if prefix else "rl"
        self._script = self.client.register_script(_SCRIPT) if self.client is not None else None

    def check(self, *, tenant_id, limits: list[Limit]) -> Refusal | None:
        """Count one request against every limit, or none of them if one refuses. None means allowed (also when
        Redis is unavailable: fail open)."""
        limits = [limit for limit in limits if limit.maximum > 0]  # 0 or less: that limit is switched off
        if not limits:
            return None
        if time.monotonic() < self._unavailable_until.get(self.url, 0.0):
            return None
        if self._script is None:
            self._unavailable_until[self.url] = time.monotonic() + _BREAKER_S
            logger.warning("rate limits not enforced: no Redis configured (MIP_REDIS_URL)")
            return None
        window_ms = WINDOW_S * 1000
        keys = [f"{self.key_prefix}:{{{tenant_id}}}:{limit.counter}" for limit in limits]
        try:
            result = self._script(keys=keys, args=[window_ms, *[limit.maximum for limit in limits]])
        except redis.RedisError as exc:
            self._unavailable_until[self.url] = time.monotonic() + _BREAKER_S
            logger.warning("rate limits not enforced for %.0f s: Redis unavailable (%s)", _BREAKER_S,
                           type(exc).__name__)
            return None
        index = int(result[0])
        if index == 0:
            return None
        previous, current, elapsed_ms = (int(value) for value in result[1:4])
        limit = limits[index - 1]
        return Refusal(limit=limit, retry_after_s=retry_after_s(
            maximum=limit.maximum, previous=previous, current=current, elapsed_ms=elapsed_ms, window_ms=window_ms))


def limits_for(*, tenant, api_key=None) -> list[Limit]:
    """The limits one request counts against: its API key's (if any), then its hospital's (keys and people)."""
    limits = []
    if api_key is not None:
        limits.append(Limit(scope="key", counter=f"key:{api_key.pk}", maximum=settings.RATE_LIMIT_PER_KEY_PER_MINUTE))
    limits.append(Limit(scope="hospital", counter="tenant", maximum=settings.RATE_LIMIT_PER_TENANT_PER_MINUTE))
    return limits


_DETAILS = {
    "key": "This API key has sent more than its {maximum} requests per minute.",
    "hospital": "Your hospital has sent more than its {maximum} requests per minute, across all its API keys and people.",
}


def enforce_rate_limits(*, tenant, api_key=None) -> None:
    """Raise a 429 `rate_limited` problem (with Retry-After) when the request is over a limit; count it otherwise."""
    refusal = RateLimiter().check(tenant_id=tenant.pk, limits=limits_for(tenant=tenant, api_key=api_key))
    if refusal is None:
        return
    limit = refusal.limit
    raise ApiProblem(
        status=429, code="rate_limited",
        detail=_DETAILS[limit.scope].format(maximum=limit.maximum) + f" Retry after {refusal.retry_after_s} s.",
        headers={"Retry-After": str(refusal.retry_after_s)},
        extra={"limit": limit.scope, "limit_per_minute": limit.maximum},
    )
