"""`make run`: bring up the whole platform on this machine and assess the real hand radiograph.

Starts what is missing (PostgreSQL, RabbitMQ, SeaweedFS S3, the local model server), builds the demo
bone-age model if it is not built yet, applies migrations, creates the demo hospital with a person and an
API key, starts the web app (gunicorn) and a Celery worker and beat, then submits
../shared/data/dicom/hand/hand_dx_left_pa_f.dcm through the HIS API like a hospital would, polls for
the result and prints it with the portal URL and sign-in. `make stop` stops what this started.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from scripts import devstack  # noqa: E402

RUN_DIR = REPO_ROOT / ".run"
VENV_BIN = Path(sys.executable).parent
WEB_PORT = int(os.environ.get("MIP_WEB_PORT", "8000"))
MODEL_SERVER_PORT = int(os.environ.get("MIP_MODEL_SERVER_PORT", "9000"))
MIGRATION_DATABASE_URL = os.environ.get(
    "MIP_MIGRATION_DATABASE_URL", f"postgres://{devstack.DB_OWNER_ROLE}@127.0.0.1:5432/mip")
ROLLOUT_DOCUMENT = REPO_ROOT / "model_repository" / "rollout.dev.json"
HAND_DX = REPO_ROOT.parent / "shared" / "data" / "dicom" / "hand" / "hand_dx_left_pa_f.dcm"


def platform_env() -> dict[str, str]:
    """The environment every platform process gets (development profile, local services)."""
    access_key, secret_key = devstack.dev_s3_credentials()
    env = {
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "platform")]),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "MIP_ENV": os.environ.get("MIP_ENV", "development"),
        "MIP_S3_ENDPOINT_URL": f"http://127.0.0.1:{devstack.DEV_S3_PORT}",
        "MIP_S3_ACCESS_KEY": access_key,
        "MIP_S3_SECRET_KEY": secret_key,
        "MIP_MODEL_SERVER_URL": f"127.0.0.1:{MODEL_SERVER_PORT}",
        "MIP_PUBLIC_BASE_URL": f"http://127.0.0.1:{WEB_PORT}",
    }
    return env


def run(argv: list[str], env: dict[str, str]) -> None:
    import subprocess

    completed = subprocess.run(argv, cwd=REPO_ROOT / "platform", env={**os.environ, **env})
    if completed.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}")


def ensure_model_built() -> None:
    built = [REPO_ROOT / "model_repository" / "bone_age" / v / "model_card.json" for v in ("1", "2")]
    if all(path.exists() for path in built):
        devstack.say("model: bone_age versions 1 (FP32) and 2 (INT8) already built")
        return
    devstack.say("model: building the demo bone-age model (full variant: FP32, then INT8 through the accuracy gate)")
    import subprocess

    subprocess.run([sys.executable, "-m", "model_repository.build_models", "--variant", "full"],
                   cwd=REPO_ROOT, check=True)


def start_processes(env: dict[str, str]) -> None:
    python = sys.executable
    devstack.start_background(
        "modelserver",
        [python, "-m", "modelserver", "--config_path", str(REPO_ROOT / "model_repository" / "config.json"),
         "--port", str(MODEL_SERVER_PORT), "--bind_address", "127.0.0.1"],
        env=env, cwd=REPO_ROOT, port=MODEL_SERVER_PORT, run_dir=RUN_DIR, timeout=180,
    )
    devstack.say(f"model server: gRPC (TFS + KServe) on 127.0.0.1:{MODEL_SERVER_PORT}")
    # Migrations run as the table owner; everything else connects as the application role (row-level security).
    run([python, "manage.py", "migrate", "--noinput"], {**env, "MIP_DATABASE_URL": MIGRATION_DATABASE_URL})
    # The portal's static files (WhiteNoise serves them from STATIC_ROOT with hashed names).
    run([python, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], env)
    run([python, "manage.py", "seed_demo", "--credentials-file", str(RUN_DIR / "demo-credentials.json")], env)
    # The registry follows a desired-state document, as in a cluster where the Helm values are the source of truth.
    run([python, "manage.py", "model_sync", "--desired", str(ROLLOUT_DOCUMENT), "--actor", "make-run"], env)
    devstack.start_background(
        "web",
        [str(VENV_BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{WEB_PORT}", "--workers", "2",
         "--timeout", "120", "--access-logfile", "-"],
        env=env, cwd=REPO_ROOT / "platform", port=WEB_PORT, run_dir=RUN_DIR,
    )
    devstack.say(f"web: gunicorn on http://127.0.0.1:{WEB_PORT}")
    devstack.start_background(
        "worker",
        [str(VENV_BIN / "celery"), "-A", "config", "worker", "-Q", "inference", "--concurrency", "2",
         "--loglevel", "INFO", "--hostname", "worker@%h"],
        env=env, cwd=REPO_ROOT / "platform", run_dir=RUN_DIR,
    )
    # Urgent submissions have their own queue and worker, so a routine backlog never delays them.
    devstack.start_background(
        "worker-urgent",
        [str(VENV_BIN / "celery"), "-A", "config", "worker", "-Q", "inference-urgent", "--concurrency", "1",
         "--loglevel", "INFO", "--hostname", "worker-urgent@%h"],
        env=env, cwd=REPO_ROOT / "platform", run_dir=RUN_DIR,
    )
    devstack.start_background(
        "beat",
        [str(VENV_BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO",
         "--schedule", str(RUN_DIR / "celerybeat-schedule")],
        env=env, cwd=REPO_ROOT / "platform", run_dir=RUN_DIR,
    )
    devstack.say("worker and beat: started (logs in .run/logs/)")


def submit_demo(base_url: str, api_key: str, timeout_s: float = 180) -> dict:
    """Submit the real hand radiograph like an HIS and poll until the assessment finishes."""
    headers = {"Authorization": f"Api-Key {api_key}"}
    with HAND_DX.open("rb") as handle:
        response = requests.post(f"{base_url}/api/v1/assessments", headers=headers, timeout=60,
                                 files={"file": (HAND_DX.name, handle, "application/dicom")},
                                 data={"model": "bone_age", "chronological_age_months": "120"})
    if response.status_code not in (200, 202):
        raise SystemExit(f"submission refused: {response.status_code} {response.text}")
    if response.json().get("duplicate"):
        devstack.say("this hospital sent the same file with the same inputs before: showing that assessment")
    location = base_url + response.headers["Location"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = requests.get(location, headers=headers, timeout=30).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.5)
    raise SystemExit(f"the assessment did not finish within {timeout_s:.0f} s; see .run/logs/worker.log")


def main() -> int:
    RUN_DIR.mkdir(exist_ok=True)
    devstack.ensure_postgres(run_dir=RUN_DIR)
    devstack.ensure_platform_database("mip")
    devstack.ensure_rabbitmq(run_dir=RUN_DIR)
    devstack.ensure_redis(run_dir=RUN_DIR)
    devstack.ensure_dev_seaweedfs(run_dir=RUN_DIR)
    ensure_model_built()
    env = platform_env()
    start_processes(env)

    credentials = json.loads((RUN_DIR / "demo-credentials.json").read_text())
    base_url = env["MIP_PUBLIC_BASE_URL"]
    devstack.say(f"submitting {HAND_DX.name} as the demo hospital's HIS ...")
    started = time.monotonic()
    body = submit_demo(base_url, credentials["api_key"])
    elapsed = time.monotonic() - started
    print()
    print(json.dumps({key: body[key] for key in ("id", "status", "model", "notice", "result", "error")}, indent=2))
    print()
    if body["status"] == "succeeded":
        result = body["result"]
        print(f"Bone age {result['bone_age_years_months']} ({result['bone_age_months']} months), "
              f"reading: {result['reading']}, z = {result['z_score']}  [{body['notice']}]  in {elapsed:.1f} s")
    else:
        print(f"Assessment failed: {body['error']}")
    print(f"Portal:   {body['links']['portal']}")
    print(f"Sign in:  {credentials['username']} / {credentials['password']}   (development only)")
    print(f"API key:  in {RUN_DIR / 'demo-credentials.json'}")
    print("Stop with: make stop")
    return 0 if body["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
