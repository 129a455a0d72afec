"""Real tests of scripts/devstack.py and tests/fixtures_services.py (real SeaweedFS, real processes).

Run: .venv/bin/python -m pytest tests/devstack -q -p no:django
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.fixtures_services import *  # noqa: F401,F403
from tests.fixtures_services import devstack, start_private_seaweedfs

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCALHOST = "127.0.0.1"


def _http_get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status


def _wait_closed(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not devstack.port_open(LOCALHOST, port):
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------------------------------


def test_free_ports_are_distinct_and_free():
    ports = devstack.free_ports(12)
    assert len(set(ports)) == 12
    assert not any(devstack.port_open(LOCALHOST, p) for p in ports)


# ---------------------------------------------------------------------------------------------------
# SeaweedFS
# ---------------------------------------------------------------------------------------------------


def test_private_s3_server_runs_on_loopback_with_its_own_ports(s3_server):
    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")
    assert s3_server.port != devstack.DEV_S3_PORT
    assert s3_server.process.is_running()
    ports = s3_server.process.extra["ports"]
    assert set(ports.values()).isdisjoint(devstack.SEAWEEDFS_DEFAULT_PORTS.values())
    assert s3_server.access_key != devstack.DEV_ONLY_S3_ACCESS_KEY
    s3_server.client().head_bucket(Bucket=s3_server.bucket)
    # Every listening socket of the process is on 127.0.0.1.
    listening = _listening_addresses(s3_server.process.pid)
    assert listening, "no listening sockets found for weed"
    assert all(addr == "127.0.0.1" for addr, _ in listening), listening


def _listening_addresses(pid: int) -> list[tuple[str, int]]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A = LISTEN
                continue
            hex_addr, hex_port = cols[1].split(":")
            if v6:
                addr = "::" if set(hex_addr) == {"0"} else f"v6:{hex_addr}"
            else:
                addr = ".".join(str(int(hex_addr[i : i + 2], 16)) for i in (6, 4, 2, 0))
            found.append((addr, int(hex_port, 16)))
    return found


def test_sse_s3_round_trip_preserves_sha256(s3_server):
    client = s3_server.client()
    body = os.urandom(5 * 1024 * 1024 + 123)  # > 4 MB: the filer splits it into several chunks
    key = "studies/1.2.3/series/4.5.6/instance.dcm"
    client.put_object(Bucket=s3_server.bucket, Key=key, Body=body, ServerSideEncryption="AES256")
    head = client.head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ContentLength"] == len(body)
    assert head.get("ServerSideEncryption") == "AES256"
    got = client.get_object(Bucket=s3_server.bucket, Key=key)
    assert got.get("ServerSideEncryption") == "AES256"
    assert hashlib.sha256(got["Body"].read()).hexdigest() == hashlib.sha256(body).hexdigest()


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_sse_s3_objects_are_encrypted_at_rest(s3_server):
    """The volume files hold ciphertext for SSE-S3 objects (and plaintext without SSE: the check can see)."""
    client = s3_server.client()
    # Random padding so that SeaweedFS's transparent gzip cannot hide a plaintext marker.
    plain_marker = b"PATIENT^PLAIN-" + os.urandom(8).hex().encode()
    sse_marker = b"PATIENT^SSE-" + os.urandom(8).hex().encode()
    client.put_object(Bucket=s3_server.bucket, Key="no-sse.bin", Body=os.urandom(65536) + plain_marker + os.urandom(65536))
    sse_body = os.urandom(65536) + sse_marker + os.urandom(65536)
    client.put_object(Bucket=s3_server.bucket, Key="sse.bin", Body=sse_body, ServerSideEncryption="AES256")
    assert client.get_object(Bucket=s3_server.bucket, Key="sse.bin")["Body"].read() == sse_body
    assert _files_containing(s3_server.data_dir, plain_marker), "control: unencrypted object not found on disk"
    assert _files_containing(s3_server.data_dir, sse_marker) == [], "SSE-S3 object stored in plaintext"


def test_wrong_credentials_are_rejected(s3_server):
    bad = devstack.s3_client(s3_server.endpoint_url, s3_server.access_key, "not-the-secret")
    with pytest.raises(ClientError):
        bad.list_objects_v2(Bucket=s3_server.bucket)
    dev = devstack.s3_client(s3_server.endpoint_url, devstack.DEV_ONLY_S3_ACCESS_KEY, devstack.DEV_ONLY_S3_SECRET_KEY)
    with pytest.raises(ClientError):
        dev.list_objects_v2(Bucket=s3_server.bucket)


def test_ensure_bucket_is_idempotent(s3_server):
    args = (s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key)
    assert devstack.ensure_bucket(*args, s3_server.bucket) is False
    assert devstack.ensure_bucket(*args, "second-bucket") is True
    assert devstack.ensure_bucket(*args, "second-bucket") is False


def test_second_instance_side_by_side_and_stop_closes_ports(s3_server, tmp_path):
    t0 = time.monotonic()
    other = start_private_seaweedfs(tmp_path, "other-bucket", name="seaweedfs-second")
    startup = time.monotonic() - t0
    try:
        assert other.port != s3_server.port
        assert set(other.process.extra["ports"].values()).isdisjoint(s3_server.process.extra["ports"].values())
        other.client().put_object(Bucket="other-bucket", Key="only-here", Body=b"x", ServerSideEncryption="AES256")
        with pytest.raises(ClientError):
            s3_server.client().head_object(Bucket=s3_server.bucket, Key="only-here")
        pid_file = tmp_path / "run" / "pids" / "seaweedfs-second.json"
        assert json.loads(pid_file.read_text())["pid"] == other.process.pid
    finally:
        assert other.process.stop() is True
    assert not other.process.is_running()
    assert not pid_file.exists()
    for port in other.process.extra["ports"].values():
        assert _wait_closed(port), f"port {port} still open after stop()"
        assert list(Path("/tmp").glob(f"seaweedfs-*-{port}.sock")) == [], "unix socket left in /tmp"
    # The session instance is untouched.
    s3_server.client().head_bucket(Bucket=s3_server.bucket)
    assert startup < 30, f"SeaweedFS took {startup:.1f} s to start"


def test_start_seaweedfs_refuses_a_busy_s3_port(s3_server, tmp_path):
    with pytest.raises(devstack.DevstackError, match="already in use"):
        devstack.start_seaweedfs(tmp_path / "data", s3_server.port, "a", "b", name="clash", run_dir=tmp_path / "run")


def test_find_weed_prefers_the_venv_binary():
    weed = devstack.find_weed()
    assert os.access(weed, os.X_OK)
    out = subprocess.run([weed, "version"], capture_output=True, text=True, timeout=30)
    assert "version" in out.stdout.lower()


# ---------------------------------------------------------------------------------------------------
# Background processes
# ---------------------------------------------------------------------------------------------------


def _http_server_argv(port: int, directory: Path) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", LOCALHOST, "--directory", str(directory)]


def test_start_and_stop_background_http_server(tmp_path):
    run_dir = tmp_path / "run"
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello.txt").write_text("hello")
    port = devstack.free_port()
    proc = devstack.start_background("web", _http_server_argv(port, tmp_path / "www"), port=port, run_dir=run_dir)
    assert proc.is_running()
    assert _http_get(f"http://{LOCALHOST}:{port}/hello.txt") == 200
    pid_file = run_dir / "pids" / "web.json"
    assert json.loads(pid_file.read_text())["pid"] == proc.pid
    assert proc.log_path == run_dir / "logs" / "web.log"
    # Idempotent: a second start returns the running process.
    again = devstack.start_background("web", _http_server_argv(port, tmp_path / "www"), port=port, run_dir=run_dir)
    assert again.pid == proc.pid
    assert [p.name for p in devstack.list_background(run_dir)] == ["web"]
    assert devstack.stop_background("web", run_dir) is True
    assert _wait_closed(port)
    assert not pid_file.exists()
    assert devstack.stop_background("web", run_dir) is False
    assert "GET /hello.txt" in proc.log_path.read_text()


def test_stop_background_stops_what_another_process_started(tmp_path):
    """What `devstack.py up` started in an earlier process, `down` stops via the pid file."""
    run_dir = tmp_path / "run"
    port = devstack.free_port()
    argv = _http_server_argv(port, tmp_path)
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); from scripts import devstack;"
         "p = devstack.start_background('srv', sys.argv[4:], port=int(sys.argv[2]), run_dir=sys.argv[3]);"
         "print(p.pid)",
         str(REPO_ROOT), str(port), str(run_dir), *argv],
        capture_output=True, text=True, timeout=60, check=True,
    )
    pid = int(out.stdout.strip())
    assert devstack.port_open(LOCALHOST, port), "the server should outlive the process that started it"
    loaded = devstack.load_background("srv", run_dir)
    assert loaded is not None and loaded.pid == pid and loaded.is_running()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "devstack.py"), "--run-dir", str(run_dir), "down",
         "--keep-system-services"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "srv: stopped" in result.stdout
    assert _wait_closed(port)
    assert not loaded.is_running()
    assert devstack.list_background(run_dir) == []


def test_stop_kills_the_whole_process_group(tmp_path):
    port = devstack.free_port()
    child_pid_file = tmp_path / "child.pid"
    script = f"sleep 600 & echo $! > {child_pid_file}; exec {' '.join(_http_server_argv(port, tmp_path))}"
    proc = devstack.start_background("group", ["sh", "-c", script], port=port, run_dir=tmp_path / "run")
    child = int(child_pid_file.read_text())
    assert devstack._pid_alive(child)
    proc.stop()
    deadline = time.monotonic() + 5
    while devstack._pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not devstack._pid_alive(child), "a child in the process group survived stop()"


def test_sigterm_ignoring_process_is_killed(tmp_path):
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"
    proc = devstack.start_background("stubborn", [sys.executable, "-c", code], run_dir=tmp_path / "run")
    deadline = time.monotonic() + 10
    while "ready" not in proc.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    assert proc.stop(timeout=1.0) is True
    assert not proc.is_running()
    assert time.monotonic() - t0 < 8


def test_process_dying_at_start_fails_fast_with_its_log(tmp_path):
    port = devstack.free_port()
    t0 = time.monotonic()
    with pytest.raises(devstack.DevstackError, match="exited") as info:
        devstack.start_background(
            "broken", [sys.executable, "-c", "import sys; print('boom: bad config'); sys.exit(3)"],
            port=port, run_dir=tmp_path / "run", timeout=30,
        )
    assert time.monotonic() - t0 < 10
    assert "boom: bad config" in str(info.value)
    assert not (tmp_path / "run" / "pids" / "broken.json").exists()


def test_start_background_refuses_a_port_taken_by_a_stranger(tmp_path):
    port = devstack.free_port()
    stranger = subprocess.Popen(_http_server_argv(port, tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        devstack.wait_for_port(LOCALHOST, port, 15)
        with pytest.raises(devstack.DevstackError, match="already in use"):
            devstack.start_background("mine", _http_server_argv(port, tmp_path), port=port, run_dir=tmp_path / "run")
    finally:
        stranger.terminate()
        stranger.wait(10)


def test_stale_pid_file_is_ignored(tmp_path):
    run_dir = tmp_path / "run"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid_file = devstack.pid_file_path("ghost", run_dir)
    pid_file.write_text(json.dumps({"name": "ghost", "pid": dead.pid, "argv": [], "log": str(tmp_path / "x.log")}))
    assert devstack.load_background("ghost", run_dir) is None
    assert not pid_file.exists()
    assert devstack.stop_background("ghost", run_dir) is False


def test_pid_reuse_is_detected(tmp_path):
    """A pid file whose pid now belongs to another process (different start time) is not ours to kill."""
    run_dir = tmp_path / "run"
    pid_file = devstack.pid_file_path("reused", run_dir)
    me = os.getpid()
    ticks = devstack._proc_start_ticks(me)
    pid_file.write_text(json.dumps({"name": "reused", "pid": me, "start_ticks": ticks + 1, "argv": [], "log": ""}))
    assert devstack.load_background("reused", run_dir) is None
    assert devstack.stop_background("reused", run_dir) is False


# ---------------------------------------------------------------------------------------------------
# System services and the CLI
# ---------------------------------------------------------------------------------------------------


def test_postgres_ready_and_ensure_database(postgres_ready):
    import psycopg2

    name = "devstack_selftest"
    conn = psycopg2.connect(**postgres_ready)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        assert devstack.ensure_database(name) is True
        assert devstack.ensure_database(name) is False
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


def test_broker_ready_speaks_amqp(broker_ready):
    assert broker_ready == "amqp://guest:guest@127.0.0.1:5672//"
    assert devstack.amqp_ready()
    assert devstack.ensure_rabbitmq() == "running"


def test_amqp_probe_is_false_for_a_non_amqp_port(tmp_path):
    port = devstack.free_port()
    proc = devstack.start_background("plainhttp", _http_server_argv(port, tmp_path), port=port, run_dir=tmp_path / "run")
    try:
        assert devstack.amqp_ready(LOCALHOST, port) is False
    finally:
        proc.stop()


def test_redis_ready_answers_ping(redis_ready):
    assert redis_ready == "redis://127.0.0.1:6379/0"
    assert devstack.redis_ready()
    assert devstack.ensure_redis() == "running"


def test_redis_probe_is_false_for_a_non_redis_port(tmp_path):
    port = devstack.free_port()
    assert devstack.redis_ready(LOCALHOST, port) is False  # nothing listens
    proc = devstack.start_background("plainhttp", _http_server_argv(port, tmp_path), port=port, run_dir=tmp_path / "run")
    try:
        assert devstack.redis_ready(LOCALHOST, port) is False
    finally:
        proc.stop()


def test_ensure_redis_starts_a_loopback_redis_and_down_stops_only_that_one(tmp_path):
    port = devstack.free_port()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    try:
        assert devstack.ensure_redis(port=port, run_dir=run_dir) == "started"
        assert devstack.redis_ready(LOCALHOST, port)
        assert devstack.ensure_redis(port=port, run_dir=run_dir) == "running"
    finally:
        stopped = devstack.stop_managed_system_services(run_dir)
    assert stopped == ["redis"]
    assert not devstack.port_open(LOCALHOST, port)
    assert devstack.redis_ready()  # the shared instance on 6379 is untouched


def test_cli_status_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "devstack.py"), "--run-dir", str(tmp_path), "status"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "postgres" in result.stdout and "s3" in result.stdout


def test_cli_start_and_stop(tmp_path):
    cli = [sys.executable, str(REPO_ROOT / "scripts" / "devstack.py"), "--run-dir", str(tmp_path / "run")]
    port = devstack.free_port()
    started = subprocess.run(
        [*cli, "start", "web", "--port", str(port), "--env", "DEVSTACK_MARK=1", "--", *_http_server_argv(port, tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert started.returncode == 0, started.stderr
    proc = devstack.load_background("web", tmp_path / "run")
    assert proc is not None and devstack.port_open(LOCALHOST, port)
    assert b"DEVSTACK_MARK=1" in Path(f"/proc/{proc.pid}/environ").read_bytes()
    stopped = subprocess.run([*cli, "stop", "web"], capture_output=True, text=True, timeout=60)
    assert "web: stopped" in stopped.stdout
    assert _wait_closed(port)
