"""Where a webhook may be sent (SSRF policy) and the one HTTP POST that sends it.

An endpoint URL is a hospital-supplied address the platform's workers will connect to, from inside the platform's
network: without a policy it would reach the cloud metadata service, the database or the model server. So:

- https only; plain http only to a loopback address, and only where settings allow it (development and tests);
- no credentials in the URL, no fragments;
- every address the host resolves to must be public: private (RFC 1918, ULA), loopback, link-local (cloud
  metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved and unspecified ranges are refused, as are
  IPv4-mapped IPv6 forms of them. Development may allow loopback (WEBHOOK_ALLOW_LOOPBACK) and private networks
  (WEBHOOK_ALLOW_PRIVATE_NETWORKS); production never does (the settings are forced off);
- the check runs when the endpoint is saved and again at every attempt, and the connection goes to the very
  address that was checked (pinned), so a DNS answer that changes between check and connect (rebinding) cannot
  redirect it;
- redirects are never followed (a 3xx is an undelivered attempt), timeouts are short, and at most a few bytes of
  the answer are read.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

_ALLOWED_SCHEMES = ("https", "http")
_MAX_URL_LENGTH = 2048
_RESPONSE_READ_LIMIT = 1024
USER_AGENT = "mip-webhooks/1"


class UnsafeUrl(ValueError):
    """An endpoint URL the platform refuses to call, with a stable `code` for the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (a vetted address) and what to ask for."""

    scheme: str
    host: str  # the name as written (Host header, TLS server name)
    port: int
    path: str  # path and query
    address: str  # the resolved address the connection is pinned to


def _address_allowed(address: ipaddress._BaseAddress) -> str | None:
    """None if the platform may connect to `address`, else the refusal code."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if settings.WEBHOOK_ALLOW_LOOPBACK else "webhook_url_loopback"
    if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        return "webhook_url_not_public"
    if address.is_private or not address.is_global:
        # is_private covers RFC 1918, ULA and friends; "not global" also catches 100.64.0.0/10 (CGNAT).
        return None if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS else "webhook_url_not_public"
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl("webhook_url_unresolvable", f"The host {host!r} does not resolve.") from None
    addresses = []
    for info in infos:
        address = info[4][0].split("%", 1)[0]  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeUrl("webhook_url_unresolvable", f"The host {host!r} does not resolve.")
    return addresses


def check_url(url: str, *, resolve: bool = True) -> Target:
    """Validate an endpoint URL against the policy above. Returns the Target to connect to.

    Raises UnsafeUrl with code webhook_url_invalid, webhook_url_scheme, webhook_url_credentials,
    webhook_url_unresolvable, webhook_url_loopback or webhook_url_not_public.
    """
    if not isinstance(url, str) or not url.strip() or len(url) > _MAX_URL_LENGTH:
        raise UnsafeUrl("webhook_url_invalid", f"Give an https URL of at most {_MAX_URL_LENGTH} characters.")
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeUrl("webhook_url_invalid", "The URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("webhook_url_invalid", "The URL cannot be read.") from None
    scheme = parts.scheme.lower()
    if scheme not in _ALLOWED_SCHEMES:
        raise UnsafeUrl("webhook_url_scheme", "Webhook URLs must use https.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("webhook_url_credentials", "Put no user name or password in the URL; deliveries are "
                                                   "authenticated by their signature.")
    if parts.fragment:
        raise UnsafeUrl("webhook_url_invalid", "The URL must not have a #fragment.")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("webhook_url_invalid", "The URL has no host.")
    port = port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not resolve:
        return Target(scheme=scheme, host=host, port=port, path=path, address="")
    addresses = _resolve(host, port)
    # Every address must pass, not just the first: a name with one public and one internal address would
    # otherwise reach the internal one on a later resolution.
    for raw in addresses:
        refusal = _address_allowed(ipaddress.ip_address(raw))
        if refusal == "webhook_url_loopback":
            raise UnsafeUrl(refusal, "Webhook URLs must not point at this machine (loopback).")
        if refusal:
            raise UnsafeUrl(refusal, "Webhook URLs must resolve to public internet addresses only, never private, "
                                     "link-local or reserved ones.")
    if scheme == "http":
        loopback_only = all(ipaddress.ip_address(a).is_loopback for a in addresses)
        if not (settings.WEBHOOK_ALLOW_LOOPBACK and loopback_only):
            raise UnsafeUrl("webhook_url_scheme", "Webhook URLs must use https.")
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


@dataclass(frozen=True)
class PostOutcome:
    status: int | None  # the HTTP status, None when no answer came
    error: str  # "" for a 2xx; else a short fixed description, never the receiver's body
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the certificate verified for the URL's host name."""

    def __init__(self, host, port, *, address, connect_timeout, timeout, context):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._connect_timeout = connect_timeout
        self._tls_context = context

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self._connect_timeout)
        sock.settimeout(self.timeout)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, *, address, connect_timeout, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self._connect_timeout = connect_timeout

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self._connect_timeout)
        self.sock.settimeout(self.timeout)


def post_json(url: str, body: bytes, headers: dict[str, str]) -> PostOutcome:
    """POST `body` to `url` once: SSRF-checked and pinned, no redirects, short timeouts. Never raises for network
    trouble; the outcome says what happened."""
    started = time.monotonic()

    def outcome(status, error):
        return PostOutcome(status=status, error=error, duration_ms=int((time.monotonic() - started) * 1000))

    try:
        target = check_url(url)
    except UnsafeUrl as exc:
        return outcome(None, f"refused: {exc.code}")
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(target.host, target.port, address=target.address,
                                            connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT_S,
                                            timeout=settings.WEBHOOK_TIMEOUT_S,
                                            context=ssl.create_default_context())
    else:
        connection = _PinnedHTTPConnection(target.host, target.port, address=target.address,
                                           connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT_S,
                                           timeout=settings.WEBHOOK_TIMEOUT_S)
    request_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        connection.request("POST", target.path, body=body, headers=request_headers)
        response = connection.getresponse()
        # Only the status matters; read a little so the receiver is not cut off mid-write, then close.
        response.read(_RESPONSE_READ_LIMIT)
        status = response.status
    except (socket.timeout, TimeoutError):
        return outcome(None, "timeout")
    except ssl.SSLCertVerificationError:
        return outcome(None, "TLS certificate not valid for the host")
    except ssl.SSLError:
        return outcome(None, "TLS error")
    except ConnectionRefusedError:
        return outcome(None, "connection refused")
    except (OSError, http.client.HTTPException) as exc:
        return outcome(None, f"connection error ({type(exc).__name__})")
    finally:
        connection.close()
    if 200 <= status < 300:
        return outcome(status, "")
    if 300 <= status < 400:
        return outcome(status, f"HTTP {status} (redirects are not followed)")
    return outcome(status, f"HTTP {status}")
