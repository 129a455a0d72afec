"""`make bench`: bone-age latency on this machine, from raw OpenVINO to the full platform path, side by side.

One run measures, each after a warm-up, with the model in ``model_repository/bone_age/1`` (the full variant):

1. raw OpenVINO in this process (the server's plugin config: LATENCY hint, f32 inference precision),
2. one Predict through the local model server over gRPC with the TFS API (ovmsclient),
3. one ModelInfer through the same server over gRPC with the KServe v2 API (tritonclient),
4. the platform path an HIS sees: POST /api/v1/assessments of the real hand radiograph with the demo API key,
   then GET every ~10 ms until the assessment has ``succeeded``.

It prints the machine facts, p50/p95 and the ratios to raw OpenVINO, a breakdown of the platform path from
the assessment's own timestamps, and a Markdown table for the README; the results also go to
``.run/bench/bone_age.json``. What is missing of the stack is brought up with scripts/run_platform.py's
functions, and the stack is left running (``make stop`` stops it).

    .venv/bin/python bench/bench_bone_age.py [--n 30]
"""
from __future__ import annotations

import argparse
import json
import os
import platform as _stdlib_platform
import random
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.bench_model_paths import (  # noqa: E402
    bench_kserve_grpc,
    bench_raw_openvino,
    bench_tfs_grpc,
    percentile,
)
from scripts import run_platform  # noqa: E402

MODEL = "bone_age"
VERSION_DIR = REPO_ROOT / "model_repository" / MODEL / "1"
RESULT_PATH = run_platform.RUN_DIR / "bench" / "bone_age.json"
PLATFORM_WARMUP = 3
POLL_INTERVAL_S = 0.010
PLATFORM_TIMEOUT_S = 120.0

# (key, label) in the order of the table; "raw" is the baseline of every ratio.
PATHS = [
    ("raw", "Raw OpenVINO (in-process)"),
    ("tfs", "Model server, gRPC TFS API (ovmsclient)"),
    ("kserve", "Model server, gRPC KServe v2 (tritonclient)"),
    ("platform", "Platform: POST /api/v1/assessments → poll until succeeded"),
]
BREAKDOWN = [
    ("post", "POST answered (202)", "client: request sent → 202 received"),
    ("ingest", "upload → submitted_at", "client send → assessment row created (parse, S3 put, DB)"),
    ("queue", "submitted_at → started_at", "queue wait: commit, publish, RabbitMQ, Celery pick-up"),
    ("worker", "started_at → finished_at", "worker: S3 get, DICOM decode, preprocess, gRPC infer, save"),
    ("seen", "finished_at → seen by poll", "poll delay until the client sees `succeeded`"),
]


# --------------------------------------------------------------------------------------------------
# Summaries and formatting (pure; tested without services)
# --------------------------------------------------------------------------------------------------


def summarise(latencies_s: dict[str, list[float]], baseline: str = "raw") -> list[dict]:
    """One row per path (in PATHS order, then any other keys): p50/p95 in ms and the ratios to ``baseline``.

    ``latencies_s`` maps a path key to its per-call latencies in seconds. Ratios compare like with like:
    p50 to the baseline's p50, p95 to the baseline's p95; the overhead is the p50 difference in ms.
    """
    if baseline not in latencies_s:
        raise ValueError(f"the baseline {baseline!r} has no latencies")
    labels = dict(PATHS)
    order = [key for key, _ in PATHS if key in latencies_s] + [k for k in latencies_s if k not in labels]
    base_p50 = percentile(latencies_s[baseline], 50) * 1e3
    base_p95 = percentile(latencies_s[baseline], 95) * 1e3
    rows = []
    for key in order:
        values = latencies_s[key]
        p50 = percentile(values, 50) * 1e3
        p95 = percentile(values, 95) * 1e3
        rows.append({
            "key": key,
            "label": labels.get(key, key),
            "n": len(values),
            "p50_ms": p50,
            "p95_ms": p95,
            "p50_ratio": p50 / base_p50,
            "p95_ratio": p95 / base_p95,
            "p50_overhead_ms": p50 - base_p50,
        })
    return rows


def breakdown(records: list[dict]) -> list[dict]:
    """p50/p95 in ms of each platform-path stage (BREAKDOWN keys) over the per-assessment ``records``,
    each a dict of stage key → seconds."""
    rows = []
    for key, label, meaning in BREAKDOWN:
        values = [r[key] for r in records if r.get(key) is not None]
        if not values:
            continue
        rows.append({"key": key, "label": label, "meaning": meaning, "n": len(values),
                     "p50_ms": percentile(values, 50) * 1e3, "p95_ms": percentile(values, 95) * 1e3})
    return rows


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def format_console_table(rows: list[dict]) -> str:
    width = max(len(r["label"]) for r in rows)
    lines = [f"  {'path':{width}s}  {'p50 ms':>9s}  {'p95 ms':>9s}  {'p50/raw':>8s}  {'p95/raw':>8s}  "
             f"{'+p50 ms':>9s}"]
    for r in rows:
        lines.append(f"  {r['label']:{width}s}  {_ms(r['p50_ms']):>9s}  {_ms(r['p95_ms']):>9s}  "
                     f"{r['p50_ratio']:7.2f}x  {r['p95_ratio']:7.2f}x  {r['p50_overhead_ms']:+9.1f}")
    return "\n".join(lines)


def format_breakdown(rows: list[dict]) -> str:
    width = max(len(r["label"]) for r in rows)
    lines = [f"  {'stage':{width}s}  {'p50 ms':>9s}  {'p95 ms':>9s}  what"]
    for r in rows:
        lines.append(f"  {r['label']:{width}s}  {_ms(r['p50_ms']):>9s}  {_ms(r['p95_ms']):>9s}  "
                     f"{r['meaning']}")
    return "\n".join(lines)


def format_markdown_table(rows: list[dict]) -> str:
    """The README performance table: one line per path, latencies in ms, ratios to raw OpenVINO."""
    lines = ["| Path | p50 (ms) | p95 (ms) | p50 vs raw | p95 vs raw |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['label']} | {_ms(r['p50_ms'])} | {_ms(r['p95_ms'])} | "
                     f"{r['p50_ratio']:.2f}× | {r['p95_ratio']:.2f}× |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Machine facts
# --------------------------------------------------------------------------------------------------


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine_facts() -> dict:
    facts: dict = {"os_cpu_count": os.cpu_count()}
    try:
        facts["nproc"] = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    except (OSError, subprocess.CalledProcessError, ValueError):
        facts["nproc"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    try:
        facts["cgroup_cpu_max"] = Path("/sys/fs/cgroup/cpu.max").read_text().strip()
    except OSError:
        facts["cgroup_cpu_max"] = None
    facts["cpu_model"] = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                facts["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import openvino

        facts["openvino"] = openvino.get_version()
    except Exception as exc:  # noqa: BLE001 - a fact, not a requirement
        facts["openvino"] = f"unavailable ({type(exc).__name__})"
    facts["loadavg_before"] = _loadavg()
    facts["python"] = sys.version.split()[0]
    facts["kernel"] = _stdlib_platform.release()
    return facts


def format_machine(facts: dict) -> str:
    quota = facts.get("cgroup_cpu_max")
    quota_text = f", cgroup cpu.max {quota}" if quota and quota.split()[0] != "max" else ""
    return (f"Machine: {facts['cpu_model']}; {facts['os_cpu_count']} cores (os.cpu_count), "
            f"nproc {facts['nproc']}{quota_text}; OpenVINO {facts['openvino']}; Python {facts['python']}")


# --------------------------------------------------------------------------------------------------
# The platform path
# --------------------------------------------------------------------------------------------------


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


class PlatformClient:
    """Submits the hand radiograph as a new assessment each time and polls it to the end."""

    def __init__(self, base_url: str, api_key: str, age_base: float = 60.0):
        import requests

        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {api_key}"
        self.data = run_platform.HAND_DX.read_bytes()
        self.age_base = age_base
        self.count = 0
        self._new_salt()

    def _new_salt(self) -> None:
        # Ages are age_base + count * 0.01 + salt: new within a run by the count, and new across runs (which
        # reuse the counts) by a per-run salt below the 0.01 step, so no submission repeats an earlier one.
        self.salt = random.randrange(1, 100_000) * 1e-7

    def _next_age(self) -> str:
        age = self.age_base + self.count * 0.01 + self.salt
        self.count += 1
        return f"{age:.7f}"

    def assess_once(self) -> dict:
        """One new assessment, timed from sending the POST to seeing ``succeeded``; the stages in seconds."""
        for _ in range(20):  # an earlier run may have used this age already: then the platform deduplicates
            sent_wall = time.time()
            started = time.perf_counter()
            response = self.session.post(
                f"{self.base_url}/api/v1/assessments", timeout=60,
                files={"file": (run_platform.HAND_DX.name, self.data, "application/dicom")},
                data={"model": MODEL, "chronological_age_months": self._next_age()},
            )
            post_s = time.perf_counter() - started
            if response.status_code == 202:
                break
            if response.status_code == 200 and response.json().get("duplicate"):
                self._new_salt()  # this age was used before (the same salt in an earlier run): draw another
                continue
            raise RuntimeError(f"submission refused: {response.status_code} {response.text[:500]}")
        else:
            raise RuntimeError("every submission was a duplicate of an earlier assessment")
        location = self.base_url + response.headers["Location"]
        deadline = started + PLATFORM_TIMEOUT_S
        polls = 0
        while True:
            body = self.session.get(location, timeout=30).json()
            polls += 1
            if body["status"] == "succeeded":
                total_s = time.perf_counter() - started
                seen_wall = time.time()
                break
            if body["status"] == "failed":
                raise RuntimeError(f"assessment {body['id']} failed: {body['error']}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"assessment {body['id']} did not finish in {PLATFORM_TIMEOUT_S:.0f} s "
                                   f"(status {body['status']}); see .run/logs/worker.log")
            time.sleep(POLL_INTERVAL_S)
        submitted, started_at, finished = (_ts(body[key])
                                           for key in ("submitted_at", "started_at", "finished_at"))
        return {
            "id": body["id"], "total": total_s, "post": post_s, "polls": polls,
            "ingest": submitted - sent_wall, "queue": started_at - submitted,
            "worker": finished - started_at, "seen": seen_wall - finished,
        }


def bench_platform(base_url: str, api_key: str, n: int, warmup: int = PLATFORM_WARMUP) -> list[dict]:
    """``n`` timed assessments after ``warmup`` untimed ones, one at a time (each a new assessment)."""
    client = PlatformClient(base_url, api_key)
    for _ in range(warmup):
        client.assess_once()
    return [client.assess_once() for _ in range(n)]


# --------------------------------------------------------------------------------------------------
# Bring-up and main
# --------------------------------------------------------------------------------------------------


def ensure_stack() -> tuple[str, str, str]:
    """Bring up what is missing with run_platform's functions; returns (web URL, gRPC URL, API key)."""
    from scripts import devstack

    run_platform.RUN_DIR.mkdir(exist_ok=True)
    devstack.ensure_postgres(run_dir=run_platform.RUN_DIR)
    devstack.ensure_database("mip")
    devstack.ensure_rabbitmq(run_dir=run_platform.RUN_DIR)
    devstack.ensure_dev_seaweedfs(run_dir=run_platform.RUN_DIR)
    run_platform.ensure_model_built()
    env = run_platform.platform_env()
    run_platform.start_processes(env)
    credentials = json.loads((run_platform.RUN_DIR / "demo-credentials.json").read_text())
    return env["MIP_PUBLIC_BASE_URL"], env["MIP_MODEL_SERVER_URL"], credentials["api_key"]


def _server_plugin_config() -> dict:
    config = json.loads((REPO_ROOT / "model_repository" / "config.json").read_text())
    for entry in config.get("model_config_list", []):
        if entry.get("config", {}).get("name") == MODEL:
            return entry["config"].get("plugin_config", {})
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="timed calls per path (after warm-up)")
    parser.add_argument("--version", type=int, default=None,
                        help="model version for the raw and gRPC paths (default: the active version of the dev "
                             "rollout, which the platform path uses)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")

    web_url, grpc_url, api_key = ensure_stack()
    facts = machine_facts()
    plugin_config = _server_plugin_config()
    version = args.version or json.loads(run_platform.ROLLOUT_DOCUMENT.read_text())["models"][MODEL]["active"]
    version_dir = VERSION_DIR.parent / str(version)
    card_path = version_dir / "model_card.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else {}

    print(f"\nbench: bone_age version {version} ({version_dir.relative_to(REPO_ROOT)}), n={args.n} per path "
          f"after warm-up, calls one at a time", flush=True)
    print("bench: raw OpenVINO ...", flush=True)
    latencies = {"raw": bench_raw_openvino(version_dir, args.n)}
    print(f"bench: model server TFS gRPC on {grpc_url} ...", flush=True)
    latencies["tfs"] = bench_tfs_grpc(grpc_url, args.n, version)
    print(f"bench: model server KServe gRPC on {grpc_url} ...", flush=True)
    latencies["kserve"] = bench_kserve_grpc(grpc_url, args.n, version)
    print(f"bench: platform path on {web_url} ({run_platform.HAND_DX.name}) ...", flush=True)
    records = bench_platform(web_url, api_key, args.n)
    latencies["platform"] = [r["total"] for r in records]

    facts["loadavg_after"] = _loadavg()
    rows = summarise(latencies)
    stages = breakdown(records)
    by_key = {r["key"]: r for r in rows}
    raw, plat = by_key["raw"], by_key["platform"]
    worker = next(s for s in stages if s["key"] == "worker")

    print()
    print(format_machine(facts))
    cores = facts["nproc"] or facts["os_cpu_count"] or 1
    before = facts["loadavg_before"]
    busy = bool(before) and before[0] > 0.5 * cores  # "after" includes this benchmark's own load
    print(f"Load average (1/5/15 min) before {before}, after {facts['loadavg_after']}"
          + (" -- the machine was busy before the run; expect noisy numbers" if busy else ""))
    print(f"Model: bone_age v{version} {card.get('variant', '')} ({card.get('precision', 'n/a')} weights), "
          f"plugin config {plugin_config}; platform worker uses the KServe API by default")
    print()
    print(format_console_table(rows))
    print()
    median_polls = percentile([r["polls"] for r in records], 50)
    print(f"Platform path breakdown (from the assessments' submitted_at/started_at/finished_at, "
          f"n={len(records)}, poll every {POLL_INTERVAL_S * 1e3:.0f} ms, "
          f"median {median_polls:.0f} GETs each):")
    print(format_breakdown(stages))
    print()
    print(f"Platform overhead over raw OpenVINO: p50 {plat['p50_overhead_ms']:+.1f} ms "
          f"({plat['p50_ratio']:.1f}× raw); p95 {plat['p95_ms'] - raw['p95_ms']:+.1f} ms "
          f"({plat['p95_ratio']:.1f}× raw). Worker time alone is {worker['p50_ms']:.1f} ms p50 "
          f"({worker['p50_ms'] / raw['p50_ms']:.1f}× raw).")
    print()
    print("Markdown (README performance table):")
    print()
    print(format_markdown_table(rows))
    print()
    print(f"_{format_machine(facts)}; n={args.n} sequential calls per path after warm-up; "
          f"`make bench`, {time.strftime('%Y-%m-%d')}._")

    RESULT_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULT_PATH.write_text(json.dumps({
        "benchmark": "bone_age", "created_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "n": args.n, "machine": facts, "model": {"dir": str(version_dir.relative_to(REPO_ROOT)),
                                                  "plugin_config": plugin_config, "card": card},
        "poll_interval_ms": POLL_INTERVAL_S * 1e3,
        "summary": rows, "platform_breakdown": stages,
        "latencies_ms": {k: [v * 1e3 for v in values] for k, values in latencies.items()},
        "platform_assessments": [{k: (v * 1e3 if isinstance(v, float) else v) for k, v in r.items()}
                                 for r in records],
    }, indent=2) + "\n")
    print()
    print(f"Results written to {RESULT_PATH.relative_to(REPO_ROOT)}.")
    print("The stack is left running (web http://127.0.0.1:%d, model server %s); stop it with: make stop"
          % (run_platform.WEB_PORT, grpc_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
