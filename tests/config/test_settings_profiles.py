"""Secrets have no working default in production: the settings refuse to load without them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MIP_")}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.DATABASES['default']['NAME'])"],
        env={**clean, "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'platform'}", **env},
        capture_output=True, text=True, timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    completed = _load_settings({"MIP_ENV": "production"})
    assert completed.returncode != 0
    assert "MIP_SECRET_KEY must be set" in completed.stderr


def test_production_requires_every_secret_not_only_the_first():
    completed = _load_settings({"MIP_ENV": "production", "MIP_SECRET_KEY": "x" * 50})
    assert completed.returncode != 0
    assert "MIP_FIELD_ENCRYPTION_KEY must be set" in completed.stderr
    completed = _load_settings({"MIP_ENV": "production", "MIP_SECRET_KEY": "x" * 50, "MIP_FIELD_ENCRYPTION_KEY": "y"})
    assert completed.returncode != 0
    assert "MIP_DATABASE_URL must be set" in completed.stderr


def test_production_loads_when_everything_is_given():
    completed = _load_settings({
        "MIP_ENV": "production", "MIP_SECRET_KEY": "x" * 50, "MIP_FIELD_ENCRYPTION_KEY": "y" * 50,
        "MIP_DATABASE_URL": "postgres://app:pw@db.internal:5432/mip",
        "MIP_S3_ACCESS_KEY": "a", "MIP_S3_SECRET_KEY": "b", "MIP_BROKER_URL": "amqp://u:p@mq:5672//",
        "MIP_AUDIT_SIGNING_KEY": "z" * 50,
    })
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "mip"


def test_development_runs_with_local_defaults():
    completed = _load_settings({"MIP_ENV": "development"})
    assert completed.returncode == 0, completed.stderr
