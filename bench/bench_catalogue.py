"""Catalogue throughput: raw OpenVINO FP32 vs INT8 for every model at the ``full`` variant, on this machine.

    .venv/bin/python bench/bench_catalogue.py [--models a,b] [--seconds 4] [--repository DIR]

For each model (``model_repository/catalogue.py``), versions 1 (FP32) and 2 (INT8) are built at the ``full``
variant into ``--repository`` (default ``.run/bench/catalogue_repository``; versions already there with a
``full`` card are reused), through the platform's own build, card and gate (with smaller calibration and held-out
sets than ``build_models`` uses, to keep the run short: the bench measures speed, not the gate). Each version is
compiled with ``PERFORMANCE_HINT=THROUGHPUT`` on all cores (f32 precision hint, as served) and fed batch-1
requests of seeded synthetic phantoms through an ``AsyncInferQueue`` for ``--seconds``; items/s (slices, cubes,
frames, images) are printed side by side with the INT8/FP32 ratio, and normalised per core against the seed
systems' figures:

- CT anatomy (GE): 100 slices/s on four cores = 25 slices/s per core;
- cardiac (Siemens): 201 images/s INT8 on one 28-core socket = 7.2 images/s per core;
- lung nodule (Winning Health): a whole chest CT study in under 2 minutes (cores not stated); here a study is
  300 slices through lung_segmentation and nodule_candidates plus 50 candidate cubes through nodule_fp_reduction;
- bone age: 4 s per study (one radiograph);
- mammography (Huiying): no figure given.

Results also go to ``.run/bench/catalogue.json``. Not part of the test suite (own command; the machine is shared,
so the load average is printed with the figures).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402

from model_repository import build_models, catalogue, quantize  # noqa: E402
from model_repository.cards import read_card, verify_version_files  # noqa: E402

DEFAULT_REPOSITORY = REPO_ROOT / ".run" / "bench" / "catalogue_repository"
RESULTS = REPO_ROOT / ".run" / "bench" / "catalogue.json"
UNITS = {"bone_age": "studies", "ct_anatomy": "slices", "lung_segmentation": "slices",
         "nodule_candidates": "slices", "nodule_fp_reduction": "cubes", "cardiac_segmentation": "images",
         "mammography_detection": "images"}
# Seed figures per core (items/s/core), where the seed gave cores.
SEED_PER_CORE = {"ct_anatomy": (100.0 / 4, "GE: 100 slices/s on 4 cores"),
                 "cardiac_segmentation": (201.0 / 28, "Siemens: 201 images/s INT8 on one 28-core socket")}
STUDY_SLICES, STUDY_CANDIDATES, STUDY_SEED_SECONDS = 300, 50, 120.0
BONE_AGE_SEED_SECONDS = 4.0
# Smaller INT8 calibration / held-out sets than build_models' for the full variant: speed is measured here.
BENCH_CALIBRATION_ITEMS, BENCH_HELDOUT_ITEMS = 6, 6


def _is_full(version_dir: Path) -> bool:
    try:
        return not verify_version_files(version_dir) and read_card(version_dir).get("variant") == "full"
    except (OSError, ValueError):
        return False


def ensure_built(name: str, repository: Path) -> tuple[Path, Path]:
    """Versions 1 (FP32) and 2 (INT8) of ``name`` at the full variant under ``repository`` (built if missing)."""
    fp32, int8 = repository / name / "1", repository / name / "2"
    if not _is_full(fp32):
        started = time.perf_counter()
        build_models.build_model(name, repository, 1, "full", update_config=False)
        print(f"  built {name} FP32 in {time.perf_counter() - started:.0f}s", flush=True)
    if not _is_full(int8) or read_card(int8).get("base_fp32_files") != read_card(fp32).get("files"):
        started = time.perf_counter()
        if name == catalogue.BONE_AGE:
            quantize.build_bone_age_int8(fp32, repository, 2, quantize.calibration_set(count=16),
                                         quantize.heldout_set(count=8, include_real_hand=False))
        else:
            quantize.build_int8(name, fp32, repository, 2,
                                quantize.catalogue_calibration_items(name, count=BENCH_CALIBRATION_ITEMS),
                                quantize.catalogue_heldout_items(name, count=BENCH_HELDOUT_ITEMS))
        print(f"  built {name} INT8 (gate passed) in {time.perf_counter() - started:.0f}s", flush=True)
    return fp32, int8


def requests_for(name: str, count: int = 4) -> list[dict[str, np.ndarray]]:
    """Batch-1 requests of seeded phantoms for ``name``."""
    if name == catalogue.BONE_AGE:
        from model_repository.builders.bone_age import synthetic_radiographs

        images = synthetic_radiographs(np.random.default_rng(7), count)
        return [{"image": images[i:i + 1], "sex": np.array([[float(i % 2)]], np.float32)} for i in range(count)]
    return catalogue.builder(name).synthetic_inputs(np.random.default_rng(7), count)


def throughput(xml: Path, requests: list[dict[str, np.ndarray]], seconds: float, core: ov.Core) -> dict:
    """Items/s of ``xml`` compiled with the THROUGHPUT hint on all cores, fed ``requests`` round robin."""
    compiled = core.compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT",
                                                   "INFERENCE_PRECISION_HINT": "f32"})
    nireq = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    streams = int(compiled.get_property("NUM_STREAMS"))
    queue = ov.AsyncInferQueue(compiled, nireq)
    for i in range(nireq):  # warm-up
        queue.start_async(requests[i % len(requests)])
    queue.wait_all()
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or done < 2 * nireq:
        queue.start_async(requests[done % len(requests)])
        done += 1
    queue.wait_all()
    elapsed = time.perf_counter() - started
    return {"items_per_s": done / elapsed, "requests": done, "seconds": round(elapsed, 2), "nireq": nireq,
            "streams": streams}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated model names (default: all)")
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per model and precision")
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    args = parser.parse_args(argv)
    names = catalogue.parse_models(args.models)
    cores = os.cpu_count() or 1
    core = ov.Core()
    print(f"OpenVINO {ov.get_version()}, {cores} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    results = {}
    for name in names:
        fp32, int8 = ensure_built(name, args.repository)
        requests = requests_for(name)
        row = {"fp32": throughput(fp32 / "model.xml", requests, args.seconds, core),
               "int8": throughput(int8 / "model.xml", requests, args.seconds, core)}
        row["ratio"] = row["int8"]["items_per_s"] / row["fp32"]["items_per_s"]
        row["gate"] = read_card(int8)["gate"]
        results[name] = row
        print(f"  {name}: FP32 {row['fp32']['items_per_s']:.2f}, INT8 {row['int8']['items_per_s']:.2f} "
              f"{UNITS[name]}/s (x{row['ratio']:.2f})", flush=True)
    load = os.getloadavg()[0]

    print(f"\n| model | unit | FP32 /s | INT8 /s | INT8/FP32 | INT8 per core | seed per core | ours / seed |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in results.items():
        per_core = row["int8"]["items_per_s"] / cores
        seed, note = SEED_PER_CORE.get(name, (None, ""))
        row["int8_per_core"] = per_core
        seed_text = f"{seed:.1f} ({note})" if seed else "-"
        ratio = f"{per_core / seed:.2f}" if seed else "-"
        print(f"| {name} | {UNITS[name]} | {row['fp32']['items_per_s']:.2f} | {row['int8']['items_per_s']:.2f} | "
              f"{row['ratio']:.2f} | {per_core:.2f} | {seed_text} | {ratio} |")
    if all(n in results for n in ("lung_segmentation", "nodule_candidates", "nodule_fp_reduction")):
        for precision in ("fp32", "int8"):
            study = (STUDY_SLICES / results["lung_segmentation"][precision]["items_per_s"]
                     + STUDY_SLICES / results["nodule_candidates"][precision]["items_per_s"]
                     + STUDY_CANDIDATES / results["nodule_fp_reduction"][precision]["items_per_s"])
            results.setdefault("lung_nodule_study", {})[precision] = study
            print(f"lung nodule study ({STUDY_SLICES} slices, {STUDY_CANDIDATES} candidates), {precision.upper()}: "
                  f"{study:.1f} s on {cores} cores (seed: under {STUDY_SEED_SECONDS:.0f} s; "
                  f"{STUDY_SEED_SECONDS / study:.2f}x the target's speed)")
    if "bone_age" in results:
        for precision in ("fp32", "int8"):
            seconds = 1.0 / results["bone_age"][precision]["items_per_s"]
            print(f"bone age, {precision.upper()}: {seconds:.3f} s per study at saturation on {cores} cores "
                  f"(seed: {BONE_AGE_SEED_SECONDS:.0f} s)")
    print(f"load average {load:.1f} at the end (the machine is shared: figures are lower bounds)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cores": cores, "openvino": ov.get_version(), "load_average_end": load,
                                   "results": results}, indent=2, default=float))
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
