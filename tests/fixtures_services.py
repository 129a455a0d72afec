"""pytest fixtures for real local services (import with ``from tests.fixtures_services import *``).

* ``s3_server`` (session): a PRIVATE SeaweedFS on free ports in a temporary directory, with random
  credentials and a created bucket - never the developer's instance on :8333.
* ``postgres_ready`` / ``broker_ready`` (session): PostgreSQL on 127.0.0.1:5432 / RabbitMQ on
  127.0.0.1:5672 are running (started, or installed with apt-get, when they are not).
* ``redis_ready`` (session): Redis on 127.0.0.1:6379 is running (rate limits, lockout); returns its URL.
* ``free_port()`` / ``unused_tcp_port``: a free TCP port on 127.0.0.1.
"""
from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from scripts import devstack  # noqa: E402
from scripts.devstack import DevstackError, free_port, free_ports  # noqa: E402,F401

__all__ = [
    "S3Server",
    "broker_ready",
    "free_port",
    "free_ports",
    "postgres_ready",
    "redis_ready",
    "s3_env",
    "s3_server",
    "start_private_seaweedfs",
    "unused_tcp_port",
]


@dataclass
class S3Server:
    """A running private SeaweedFS S3 endpoint with one bucket."""

    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"
    data_dir: Path | None = None
    process: devstack.ManagedProcess | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.endpoint_url.rsplit(":", 1)[1])

    def client(self):
        """boto3 S3 client with the checksum settings SeaweedFS needs."""
        return devstack.s3_client(self.endpoint_url, self.access_key, self.secret_key, self.region)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def start_private_seaweedfs(base_dir: Path, bucket: str | None = None, *, name: str = "seaweedfs-test") -> S3Server:
    """Start a private SeaweedFS (free ports, random credentials) under base_dir; create `bucket`."""
    access_key = "test-" + secrets.token_hex(8)
    secret_key = secrets.token_urlsafe(30)
    bucket = bucket or "mip-test-" + secrets.token_hex(4)
    base_dir = Path(base_dir)
    proc = devstack.start_seaweedfs(base_dir / "data", 0, access_key, secret_key, name=name, run_dir=base_dir / "run")
    try:
        devstack.ensure_bucket(proc.endpoint_url, access_key, secret_key, bucket)
    except BaseException:
        proc.stop()
        raise
    return S3Server(proc.endpoint_url, access_key, secret_key, bucket, data_dir=base_dir / "data", process=proc)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> S3Server:
    try:
        server = start_private_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    except DevstackError as exc:
        pytest.fail(f"cannot start the private SeaweedFS for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch) -> S3Server:
    """MIP_S3_* environment variables pointing at the private S3 server (for code that reads env at call time)."""
    monkeypatch.setenv("MIP_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("MIP_S3_ACCESS_KEY", s3_server.access_key)
    monkeypatch.setenv("MIP_S3_SECRET_KEY", s3_server.secret_key)
    monkeypatch.setenv("MIP_S3_BUCKET", s3_server.bucket)
    monkeypatch.setenv("MIP_S3_REGION", s3_server.region)
    return s3_server


@pytest.fixture(scope="session")
def postgres_ready() -> dict:
    """PostgreSQL answers on 127.0.0.1:5432; returns connection parameters (user postgres, db postgres)."""
    try:
        devstack.ensure_postgres()
    except DevstackError as exc:
        pytest.fail(f"PostgreSQL is not available: {exc}", pytrace=False)
    return {"host": devstack.LOCALHOST, "port": devstack.POSTGRES_PORT, "user": "postgres", "dbname": "postgres"}


@pytest.fixture(scope="session")
def broker_ready() -> str:
    """RabbitMQ answers AMQP on 127.0.0.1:5672; returns the broker URL."""
    try:
        devstack.ensure_rabbitmq()
    except DevstackError as exc:
        pytest.fail(f"RabbitMQ is not available: {exc}", pytrace=False)
    return f"amqp://guest:guest@{devstack.LOCALHOST}:{devstack.RABBITMQ_PORT}//"


@pytest.fixture(scope="session")
def redis_ready() -> str:
    """Redis answers PING on 127.0.0.1:6379; returns the URL. The test settings give each run its own key prefix."""
    try:
        devstack.ensure_redis()
    except DevstackError as exc:
        pytest.fail(f"Redis is not available: {exc}", pytrace=False)
    return f"redis://{devstack.LOCALHOST}:{devstack.REDIS_PORT}/0"


@pytest.fixture
def unused_tcp_port() -> int:
    return free_port()
