"""SSRF: endpoint URLs that would make the platform's workers call internal services are refused, when saved and
again before each attempt."""
from __future__ import annotations

import pytest

from webhooks.transport import UnsafeUrl, check_url, post_json


@pytest.fixture
def production_policy(settings):
    """What production enforces (the development allowances are forced off there)."""
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    return settings


@pytest.mark.parametrize("url, code", [
    ("https://127.0.0.1/hook", "webhook_url_loopback"),
    ("https://localhost:8443/hook", "webhook_url_loopback"),
    ("https://[::1]/hook", "webhook_url_loopback"),
    ("https://[::ffff:127.0.0.1]/hook", "webhook_url_loopback"),
    ("https://2130706433/hook", "webhook_url_loopback"),  # 127.0.0.1 written as one decimal number
    ("https://10.1.2.3/hook", "webhook_url_not_public"),
    ("https://172.16.0.1/hook", "webhook_url_not_public"),
    ("https://192.168.1.10/hook", "webhook_url_not_public"),
    ("https://169.254.169.254/latest/meta-data/", "webhook_url_not_public"),  # cloud metadata (link-local)
    ("https://[fe80::1]/hook", "webhook_url_not_public"),
    ("https://[fd00::1]/hook", "webhook_url_not_public"),
    ("https://100.64.0.1/hook", "webhook_url_not_public"),  # carrier-grade NAT
    ("https://0.0.0.0/hook", "webhook_url_not_public"),
    ("https://224.0.0.1/hook", "webhook_url_not_public"),
    ("https://240.0.0.1/hook", "webhook_url_not_public"),
    ("http://93.184.215.14/hook", "webhook_url_scheme"),  # plain http to a public address
    ("ftp://93.184.215.14/hook", "webhook_url_scheme"),
    ("file:///etc/passwd", "webhook_url_scheme"),
    ("https://his:password@93.184.215.14/hook", "webhook_url_credentials"),
    ("https:///no-host", "webhook_url_invalid"),
    ("https://93.184.215.14/hook#fragment", "webhook_url_invalid"),
    ("https://93.184.215.14/ho ok", "webhook_url_invalid"),
    ("https://does-not-exist.invalid/hook", "webhook_url_unresolvable"),
    ("", "webhook_url_invalid"),
])
def test_production_refuses_urls_that_do_not_reach_a_public_https_server(production_policy, url, code):
    with pytest.raises(UnsafeUrl) as refused:
        check_url(url)
    assert refused.value.code == code


def test_a_public_https_address_is_accepted_and_pinned(production_policy):
    target = check_url("https://93.184.215.14:8443/his/hook?tenant=a")
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https", "93.184.215.14", 8443, "/his/hook?tenant=a", "93.184.215.14")


def test_development_allows_loopback_over_http_but_never_link_local_or_other_private_networks(settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert check_url("http://127.0.0.1:8080/hook").address == "127.0.0.1"
    assert check_url("https://localhost/hook").address in {"127.0.0.1", "::1"}
    for url in ("http://10.0.0.5/hook", "https://169.254.169.254/", "http://93.184.215.14/hook"):
        with pytest.raises(UnsafeUrl):
            check_url(url)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    assert check_url("https://10.0.0.5/hook").address == "10.0.0.5"
    with pytest.raises(UnsafeUrl):
        check_url("https://169.254.169.254/")  # metadata stays refused whatever development allows


def test_the_production_settings_force_the_development_allowances_off(monkeypatch):
    import importlib
    import re
    from pathlib import Path

    from config import settings as settings_module

    # Every secret production requires gets a placeholder (read from settings.py, so new ones are covered too).
    source = Path(settings_module.__file__).read_text()
    for name in set(re.findall(r'env_required\(\s*"([A-Z0-9_]+)"', source)):
        monkeypatch.setenv(f"MIP_{name}", "postgres://u@h/d" if name.endswith("DATABASE_URL") else "x")
    for name, value in {"MIP_ENV": "production", "MIP_REDIS_URL": "redis://h/0", "MIP_WEBHOOK_ALLOW_LOOPBACK": "true",
                        "MIP_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}.items():
        monkeypatch.setenv(name, value)
    try:
        reloaded = importlib.reload(settings_module)
        assert reloaded.WEBHOOK_ALLOW_LOOPBACK is False
        assert reloaded.WEBHOOK_ALLOW_PRIVATE_NETWORKS is False
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)


def test_an_attempt_to_a_refused_url_is_not_sent_and_says_why(production_policy, receiver):
    outcome = post_json(receiver.url, b"{}", {})
    assert outcome.status is None and outcome.error == "refused: webhook_url_loopback"
    assert receiver.received == []


def test_redirects_are_not_followed(settings):
    """A 3xx is an undelivered attempt: following it could lead the worker anywhere."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    settings.WEBHOOK_ALLOW_LOOPBACK = True
    followed = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            if self.path == "/elsewhere":
                followed.append(self.path)
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        outcome = post_json(f"http://127.0.0.1:{server.server_address[1]}/hook", b"{}", {})
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.status == 307 and not outcome.delivered and "not followed" in outcome.error
    assert followed == []


def test_a_receiver_that_does_not_answer_in_time_is_a_timeout(settings):
    import socket

    settings.WEBHOOK_ALLOW_LOOPBACK = True
    settings.WEBHOOK_TIMEOUT_S = 0.5
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection (kernel backlog) and never answers
    try:
        outcome = post_json(f"http://127.0.0.1:{silent.getsockname()[1]}/hook", b"{}", {})
    finally:
        silent.close()
    assert outcome.status is None and outcome.error == "timeout"
    assert outcome.duration_ms < 3000
