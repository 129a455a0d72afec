"""`make bench-precision`: one model, six runtime/precision pairs, latency and throughput modes, side by side.

On the SAME architecture, the SAME weights and the same cores, in one process, one after the other:

=============  ==============================================================================================
pt_fp32        PyTorch eager FP32 (``torch.inference_mode``), the baseline of every ratio
ort_fp32       ONNX Runtime FP32 (CPU EP, graph optimisations on), the ``torch.onnx.export`` of the module
ort_int8       ONNX Runtime INT8: static post-training quantisation, QDQ format, per-channel S8 weights,
               U8 activations (the fast U8S8 path of MLAS on x86), MinMax ranges from a calibration set
ov_fp32        OpenVINO FP32: ``ov.convert_model(torch_module)``, ``INFERENCE_PRECISION_HINT=f32``
ov_default     OpenVINO with the CPU plugin's default inference precision (bf16 where the CPU has bf16
               support); the precision the compiled model reports is printed
ov_int8        OpenVINO INT8: NNCF post-training quantisation on the same calibration set as ORT, compiled with
               default properties. bone_age: the served INT8 recipe itself, ``model_repository.quantize.
               quantize_model`` (preset MIXED, MINMAX activation ranges, MatMuls kept FP32) of the served FP32
               IR; resnet50: ``nncf.quantize`` (preset PERFORMANCE, MatMuls kept FP32) of the OpenVINO FP32 model
=============  ==============================================================================================

Modes:

* latency: one request at a time, batch 1. OpenVINO ``PERFORMANCE_HINT=LATENCY`` (1 stream, all cores);
  PyTorch and ONNX Runtime with intra-op threads = cores.
* throughput: OpenVINO ``PERFORMANCE_HINT=THROUGHPUT`` with an ``AsyncInferQueue`` of
  ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` requests (the plugin's streams, each on its own cores). PyTorch and ONNX
  Runtime get the same shape of parallelism: as many concurrent batch-1 requests as cores, from Python threads,
  each with 1 intra-op thread (both release the GIL while computing). Batch-1 keeps the per-request latency
  comparable across runtimes; the count of inferences over the wall time is the throughput.

Architectures (``--arch``): ``bone_age`` (default) is the network the platform serves, as a PyTorch module:
ResNet-18-class backbone on a 1x1x512x512 radiograph (7x7/2 stem, 3x3/2 max-pool, four stages of basic blocks,
convolutions with a per-channel bias = folded batch norm), global average pooling, the patient's sex concatenated,
a two-layer MLP and ``scale * sigmoid``, its layout from ``builders.bone_age.VARIANTS``. It has no initialisation of
its own: every constant (conv kernels and biases, head matrices and biases, the output scale) is copied from the
served FP32 OpenVINO IR (``model_repository/bone_age/1`` when its model card says the same variant and seed and
its checksums hold, else built with ``model_repository.build_models.build_bone_age`` into the work directory;
``--rebuild`` forces that), walking the IR's ops in topological order and matching the module's parameters by
order, kind and shape. Calibration and held-out images are the INT8 build's own
(``model_repository.quantize.calibration_set`` / ``heldout_set``); with the default ``--calib`` the OV INT8 model
is the served INT8 version's recipe on the same images. ``resnet50`` is a hand-written ResNet-50 (bottlenecks
[3, 4, 6, 3], batch norm, 1000-way FC) on 1x3x224x224 with seeded random weights and batch-norm statistics from
synthetic images, to check the issue's reference point on the same class of model.

Every runtime runs the same network: ONNX is exported from the module, OpenVINO converts the module itself, and the
run checks that PyTorch, ORT FP32 and OV FP32 agree within 1e-3 (max abs difference / max abs output) on the
held-out set; for bone_age it also checks that PyTorch reproduces the served FP32 IR (OpenVINO, f32 hint) within
1e-3. Either check failing stops the run before any timing. INT8 accuracy is measured against its own runtime's
FP32 (OV INT8 on bone_age: the served FP32 IR) on held-out synthetic radiographs (plus the real hand radiograph
through the platform's own parse/preprocess when present).

    .venv/bin/python bench/bench_precisions.py [--arch bone_age|resnet50] [--variant full] [--seconds 10]

Results go to ``.run/bench/precisions.json`` (one entry per architecture, merged across runs). Needs the ``bench``
extra (torch, onnx, onnxruntime, onnxscript, nncf). The pure summary/format functions at the top import nothing
beyond the standard library, so the smoke test runs without the extra.
"""
from __future__ import annotations

import argparse
import json
import os
import platform as _stdlib_platform
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_PATH = REPO_ROOT / ".run" / "bench" / "precisions.json"
WORK_DIR = REPO_ROOT / ".run" / "bench" / "precisions"
HAND_DICOM = Path("/work/shared/data/dicom/hand/hand_dx_left_pa_f.dcm")

BASELINE = "pt_fp32"
# (key, label) in table order.
CONFIGS = [
    ("pt_fp32", "PyTorch eager FP32"),
    ("ort_fp32", "ONNX Runtime FP32"),
    ("ort_int8", "ONNX Runtime INT8 (static QDQ)"),
    ("ov_fp32", "OpenVINO FP32 (f32 hint)"),
    ("ov_default", "OpenVINO default precision"),
    ("ov_int8", "OpenVINO INT8 (NNCF PTQ)"),
]
MODES = ("latency", "throughput")
# The issue's reference point (ResNet-50-class model): OV INT8 >= 7x PyTorch eager FP32 and >= 1.5x ORT INT8.
TARGET_VS_PYTORCH = 7.0
TARGET_VS_ORT_INT8 = 1.5
AGREEMENT_TOLERANCE = 1e-3


# --------------------------------------------------------------------------------------------------
# Summaries and formatting (pure, standard library only; tested without the bench extra)
# --------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100, linear interpolation) of ``values``; raises ValueError when empty."""
    if not values:
        raise ValueError("percentile of an empty list")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    lo = int(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def summarise_run(run: dict) -> dict:
    """``run`` = {"latencies_s": [...], "elapsed_s": wall time, "count": inferences} -> p50/p95 ms, inferences/s."""
    lat = run["latencies_s"]
    if not lat or run["elapsed_s"] <= 0:
        raise ValueError("a run needs latencies and a positive elapsed time")
    return {
        "n": len(lat),
        "p50_ms": percentile(lat, 50) * 1000.0,
        "p95_ms": percentile(lat, 95) * 1000.0,
        "throughput_ips": run["count"] / run["elapsed_s"],
    }


def summarise(runs: dict[str, dict[str, dict]], baseline: str = BASELINE, labels: dict | None = None) -> list[dict]:
    """One row per configuration (CONFIGS order, then others), both modes, with the ratios to ``baseline``.

    ``runs[key][mode]`` is a run as in ``summarise_run``. Ratios are speed-ups (higher is better): latency
    ``baseline p50 / p50`` and throughput ``throughput / baseline throughput``, each against the baseline in the
    same mode. Raises ValueError if the baseline is missing a mode another configuration has.
    """
    if baseline not in runs:
        raise ValueError(f"the baseline {baseline!r} has no runs")
    names = dict(CONFIGS)
    names.update(labels or {})
    order = [k for k, _ in CONFIGS if k in runs] + [k for k in runs if k not in dict(CONFIGS)]
    base = {mode: summarise_run(run) for mode, run in runs[baseline].items()}
    rows = []
    for key in order:
        row: dict = {"key": key, "label": names.get(key, key)}
        for mode, run in runs[key].items():
            if mode not in base:
                raise ValueError(f"the baseline has no {mode!r} run")
            s = summarise_run(run)
            s["p50_speedup"] = base[mode]["p50_ms"] / s["p50_ms"]
            s["throughput_ratio"] = s["throughput_ips"] / base[mode]["throughput_ips"]
            row[mode] = s
        rows.append(row)
    return rows


def merge_rounds(round_runs: dict[str, dict[str, list[dict]]]) -> dict[str, dict[str, dict]]:
    """All rounds of each configuration and mode pooled into one run; ``rounds`` keeps each round's inf/s."""
    merged: dict[str, dict[str, dict]] = {}
    for key, modes in round_runs.items():
        for mode, rounds in modes.items():
            merged.setdefault(key, {})[mode] = {
                "latencies_s": [x for r in rounds for x in r["latencies_s"]],
                "elapsed_s": sum(r["elapsed_s"] for r in rounds),
                "count": sum(r["count"] for r in rounds),
                "rounds": [round(r["count"] / r["elapsed_s"], 2) for r in rounds],
            }
    return merged


def best_rounds(round_runs: dict[str, dict[str, list[dict]]]) -> dict[str, dict[str, dict]]:
    """Each configuration and mode's round with the highest throughput (its least disturbed window)."""
    return {key: {mode: max(rounds, key=lambda r: r["count"] / r["elapsed_s"]) for mode, rounds in modes.items()}
            for key, modes in round_runs.items()}


def ratio(rows: list[dict], key: str, other: str, mode: str, metric: str = "throughput_ips") -> float | None:
    """``key``'s ``metric`` over ``other``'s in ``mode`` as a speed-up (p50_ms is inverted), None if missing."""
    by_key = {r["key"]: r for r in rows}
    if key not in by_key or other not in by_key or mode not in by_key[key] or mode not in by_key[other]:
        return None
    a, b = by_key[key][mode][metric], by_key[other][mode][metric]
    return b / a if metric == "p50_ms" else a / b


def verdict(rows: list[dict], vs_pytorch: float = TARGET_VS_PYTORCH, vs_ort: float = TARGET_VS_ORT_INT8) -> dict:
    """OV INT8 against the reference point, per mode: throughput and p50 speed-ups over PyTorch FP32 and ORT INT8."""
    out: dict = {"target_vs_pytorch_fp32": vs_pytorch, "target_vs_ort_int8": vs_ort}
    held = True
    for mode in MODES:
        for metric, name in (("throughput_ips", "throughput"), ("p50_ms", "p50")):
            r_pt = ratio(rows, "ov_int8", "pt_fp32", mode, metric)
            r_ort = ratio(rows, "ov_int8", "ort_int8", mode, metric)
            out[f"{mode}_{name}_vs_pytorch_fp32"] = r_pt
            out[f"{mode}_{name}_vs_ort_int8"] = r_ort
            if r_pt is None or r_ort is None or r_pt < vs_pytorch or r_ort < vs_ort:
                held = False
    out["held"] = held
    return out


def relative_agreement(outputs: dict[str, list[list[float]]], reference: str) -> dict[str, float]:
    """Max over samples of max|out - ref| / max|ref| for every runtime's outputs against ``reference``'s."""
    ref = outputs[reference]
    result = {}
    for key, outs in outputs.items():
        if key == reference:
            continue
        if len(outs) != len(ref):
            raise ValueError(f"{key} has {len(outs)} outputs, {reference} has {len(ref)}")
        worst = 0.0
        for a, b in zip(outs, ref):
            scale = max(abs(v) for v in b) or 1.0
            worst = max(worst, max(abs(x - y) for x, y in zip(a, b)) / scale)
        result[key] = worst
    return result


def mean_abs_difference(values: list[float], reference: list[float]) -> float:
    if len(values) != len(reference) or not values:
        raise ValueError("mean_abs_difference needs two non-empty lists of the same length")
    return sum(abs(a - b) for a, b in zip(values, reference)) / len(values)


def _x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}×"


def format_markdown_table(rows: list[dict]) -> str:
    """The README table: p50 and throughput in both modes, ratios to PyTorch eager FP32."""
    lines = [
        "| Runtime, precision | Latency mode p50 (ms) | Latency mode (inf/s) | p50 vs PyTorch FP32 "
        "| Throughput mode (inf/s) | Throughput mode p50 (ms) | Throughput vs PyTorch FP32 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lat, tput = r.get("latency"), r.get("throughput")
        cells = [r["label"]]
        cells += [f"{lat['p50_ms']:.1f}", f"{lat['throughput_ips']:.1f}", _x(lat["p50_speedup"])] if lat else ["n/a"] * 3
        cells += ([f"{tput['throughput_ips']:.1f}", f"{tput['p50_ms']:.1f}", _x(tput["throughput_ratio"])]
                  if tput else ["n/a"] * 3)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_accuracy_table(accuracy: list[dict], unit: str) -> str:
    """``accuracy`` rows: label, reference, mean_abs_diff, max_abs_diff, n (and optional relative_to_sd)."""
    lines = [f"| Precision | Against | Mean abs difference ({unit}) | Max abs difference ({unit}) | Held-out n |",
             "|---|---|---:|---:|---:|"]
    for a in accuracy:
        lines.append(f"| {a['label']} | {a['reference']} | {a['mean_abs_diff']:.3f} | {a['max_abs_diff']:.3f} "
                     f"| {a['n']} |")
    return "\n".join(lines)


def format_console_table(rows: list[dict]) -> str:
    head = (f"{'runtime, precision':<44} {'lat p50 ms':>10} {'lat inf/s':>9} {'x PT':>6}   "
            f"{'tput inf/s':>10} {'tput p50 ms':>11} {'x PT':>6}   n(lat/tput)")
    lines = [head, "-" * len(head)]
    for r in rows:
        lat, tput = r.get("latency") or {}, r.get("throughput") or {}
        lines.append(
            f"{r['label']:<44} {lat.get('p50_ms', float('nan')):>10.1f} {lat.get('throughput_ips', float('nan')):>9.1f} "
            f"{lat.get('p50_speedup', float('nan')):>5.2f}x   {tput.get('throughput_ips', float('nan')):>10.1f} "
            f"{tput.get('p50_ms', float('nan')):>11.1f} {tput.get('throughput_ratio', float('nan')):>5.2f}x   "
            f"{lat.get('n', 0)}/{tput.get('n', 0)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Machine facts
# --------------------------------------------------------------------------------------------------

ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16")


def _amx_permitted() -> bool | None:
    """Whether the kernel offers AMX tile state to this process (arch_prctl ARCH_GET_XCOMP_SUPP, bit 18)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        mask = ctypes.c_uint64(0)
        if libc.syscall(158, 0x1022, ctypes.byref(mask)) != 0:  # SYS_arch_prctl, ARCH_GET_XCOMP_SUPP
            return None
        return bool(mask.value >> 18 & 1)
    except Exception:  # noqa: BLE001 - a fact, not a requirement
        return None


def cpu_snapshot() -> dict | None:
    """Busy CPU seconds of the whole machine (/proc/stat) and of this process, to tell outside load apart."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(v) for v in fields]
        hz = os.sysconf("SC_CLK_TCK")
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        t = os.times()
        return {"busy_s": (sum(ticks[:8]) - idle) / hz, "self_s": t.user + t.system, "wall": time.monotonic()}
    except (OSError, ValueError, IndexError):
        return None


def outside_load(before: dict | None, after: dict | None, cores: int) -> dict | None:
    """CPU used by other processes between two snapshots, in core-seconds and as a share of the machine."""
    if not before or not after or after["wall"] <= before["wall"]:
        return None
    wall = after["wall"] - before["wall"]
    other = max(0.0, (after["busy_s"] - before["busy_s"]) - (after["self_s"] - before["self_s"]))
    return {"wall_s": round(wall, 1), "other_core_s": round(other, 1), "other_share": round(other / (wall * cores), 3)}


def machine_facts() -> dict:
    facts: dict = {"os_cpu_count": os.cpu_count(), "python": sys.version.split()[0],
                   "kernel": _stdlib_platform.release()}
    try:
        facts["cores_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        facts["cores_usable"] = os.cpu_count()
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags: set[str] = set()
        for line in text.splitlines():
            low = line.lower()
            if low.startswith("model name") and "cpu_model" not in facts:
                facts["cpu_model"] = line.split(":", 1)[1].strip()
            elif low.startswith("model") and ":" in line and "cpu_model_number" not in facts and "name" not in low:
                facts["cpu_model_number"] = line.split(":", 1)[1].strip()
            elif low.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
        facts["isa"] = {f: f in flags for f in ISA_FLAGS}
    except OSError:
        pass
    facts["amx_tile_state_permitted_by_kernel"] = _amx_permitted()
    try:
        facts["loadavg_before"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        facts["loadavg_before"] = None
    return facts


def runtime_versions() -> dict:
    import nncf
    import onnx
    import onnxruntime
    import openvino as ov
    import torch

    core = ov.Core()
    return {
        "openvino": ov.__version__,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "nncf": nncf.__version__,
        "ov_cpu_optimization_capabilities": list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")),
        "ov_cpu_name": str(core.get_property("CPU", "FULL_DEVICE_NAME")),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_amx_tile_supported": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: None)()),
        "torch_float32_matmul_precision": torch.get_float32_matmul_precision(),
        "torch_threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def real_hand_image():
    """The real hand radiograph through the platform's parse_upload + preprocess_bone_age, or None if absent."""
    if not HAND_DICOM.exists():
        return None
    if str(REPO_ROOT / "platform") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "platform"))
    from studies.imaging import parse_upload, preprocess_bone_age

    parsed = parse_upload(HAND_DICOM.read_bytes(), HAND_DICOM.name)
    sex = {"M": 1.0, "F": 0.0}.get(parsed.patient_sex or "", 0.0)
    return preprocess_bone_age(parsed.pixels), sex


def radiographs(seed: int, count: int):
    """Synthetic letterboxed hand radiographs [count, 1, 512, 512] in [0, 1] (the model builder's generator)."""
    import numpy as np

    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from model_repository.builders.bone_age import synthetic_radiographs

    return synthetic_radiographs(np.random.default_rng(seed), count)


# --------------------------------------------------------------------------------------------------
# Architectures (PyTorch), seeded and data-initialised
# --------------------------------------------------------------------------------------------------


class Arch:
    """A built PyTorch module with its input names/samples: everything the runtimes need."""

    name: str
    input_names: list[str]
    output_name: str
    unit: str
    module: object
    calibration: list  # samples (tuples of numpy arrays, batch 1) for INT8 calibration
    heldout: list  # samples for accuracy and agreement
    timing_sample: tuple
    notes: dict
    ir_xml = None  # Path of the served FP32 IR whose weights the module carries (bone_age), else None
    ov_quantize = None  # () -> (INT8 ov.Model, settings): the served INT8 recipe (bone_age), else None


def _he_conv_(conv, rng) -> None:
    import numpy as np
    import torch

    w = conv.weight
    fan_in = w.shape[1] * w.shape[2] * w.shape[3]
    w.data = torch.from_numpy(rng.normal(0.0, np.sqrt(2.0 / fan_in), tuple(w.shape)).astype(np.float32))
    if conv.bias is not None:
        conv.bias.data.zero_()


def served_fp32_ir(variant: str, seed: int, work_dir: Path, rebuild: bool = False) -> tuple[Path, str]:
    """The FP32 OpenVINO IR of ``variant``/``seed`` the platform serves: (model.xml path, where it came from).

    ``model_repository/bone_age/1`` when its model card says FP32, the same variant (architecture parameters
    included) and seed, and its files match the card's checksums; otherwise (or with ``rebuild``) the IR is built
    by ``model_repository.build_models.build_bone_age`` into ``work_dir`` (the builder's own code, nothing mirrored).
    """
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from model_repository import build_models
    from model_repository.builders import bone_age as builder
    from model_repository.cards import read_card, verify_version_files

    served = REPO_ROOT / "model_repository" / build_models.MODEL_NAME / "1"
    if not rebuild and (served / "model.xml").is_file():
        try:
            card = read_card(served)
        except (OSError, ValueError):
            card = {}
        build = card.get("build") or {}
        if (card.get("precision") == "FP32" and card.get("variant") == variant and build.get("seed") == seed
                and build.get("variant_params") == builder.variant_params(variant)
                and not verify_version_files(served)):
            return served / "model.xml", f"model_repository/bone_age/1 (card: variant {variant}, seed {seed})"
    version_dir = build_models.build_bone_age(work_dir, 1, variant, seed, update_config=False)
    return version_dir / "model.xml", f"built by model_repository.build_models.build_bone_age into {work_dir}"


# (kind of IR constant, the op type that consumes it): what the torch module's parameters are loaded from.
_IR_WEIGHT_OPS = {"Convolution": "conv_weight", "Add": "bias", "MatMul": "fc_weight", "Multiply": "scale"}


def ir_constants(model) -> list[dict]:
    """Every constant operand of the weight-carrying ops of ``model`` in topological order.

    One entry per constant input of a Convolution (kernel), Add (folded-BN / FC bias), MatMul (FC matrix, turned
    into torch's [out, in] layout) or Multiply (the output scale): ``kind``, ``value`` (float32 array), ``op``
    (friendly name) and, for convolutions, ``strides`` / ``pads``. Raises ValueError if such an op takes a weight
    from anything other than a plain f32 Constant (e.g. a compressed FP16 IR), so nothing is silently skipped.
    """
    import numpy as np

    found = []
    for op in model.get_ordered_ops():
        kind = _IR_WEIGHT_OPS.get(op.get_type_name())
        if kind is None:
            continue
        for inp in op.inputs():
            src = inp.get_source_output().get_node()
            if src.get_type_name() != "Constant":
                # Activations are input 0; the weight operand of a Convolution/MatMul/Multiply must be a Constant.
                if kind != "bias" and inp.get_index() == 1:
                    raise ValueError(f"{op.get_friendly_name()}: weight from {src.get_type_name()}, not a Constant")
                continue
            value = np.array(src.get_data(), copy=True)
            if value.dtype != np.float32:
                raise ValueError(f"{op.get_friendly_name()}: constant of type {value.dtype}, expected float32")
            entry = {"kind": kind, "value": value, "op": op.get_friendly_name()}
            if kind == "conv_weight":
                attrs = op.get_attributes()
                entry["strides"] = list(attrs["strides"])
                entry["pads"] = (list(attrs["pads_begin"]), list(attrs["pads_end"]))
            elif kind == "fc_weight":
                attrs = op.get_attributes()
                if attrs.get("transpose_a"):
                    raise ValueError(f"{op.get_friendly_name()}: MatMul with transpose_a, not a fully connected layer")
                if inp.get_index() != 1:
                    raise ValueError(f"{op.get_friendly_name()}: FC matrix on the left of the MatMul")
                entry["value"] = value if attrs.get("transpose_b") else np.ascontiguousarray(value.T)
            found.append(entry)
    return found


def load_ir_weights(module, ir_model) -> list[dict]:
    """Copy every weight of ``ir_model`` into ``module`` (the bone-age torch module), by order and shape.

    The module's slots, in its own order (stem, then each block's conv1, conv2, shortcut, then fc1, fc2, the output
    scale), are matched one to one with ``ir_constants(ir_model)`` in topological order: same kind, same shape
    (an IR conv bias [1, C, 1, 1] fills a torch bias [C]), same strides and paddings. Raises ValueError on any
    mismatch or leftover, so a change of the builder's graph fails here instead of benchmarking another network.
    Returns the mapping (torch name <- IR op) for the record.
    """
    import torch
    from torch import nn

    slots = []  # (torch name, tensor, kind, IR shape, conv module or None)
    for name, mod in module.named_modules():
        if isinstance(mod, nn.Conv2d):
            slots.append((f"{name}.weight", mod.weight, "conv_weight", tuple(mod.weight.shape), mod))
            slots.append((f"{name}.bias", mod.bias, "bias", (1, mod.out_channels, 1, 1), None))
        elif isinstance(mod, nn.Linear):
            slots.append((f"{name}.weight", mod.weight, "fc_weight", tuple(mod.weight.shape), None))
            slots.append((f"{name}.bias", mod.bias, "bias", (mod.out_features,), None))
    slots.append(("scale", module.scale, "scale", (), None))
    consts = ir_constants(ir_model)
    if len(consts) != len(slots):
        raise ValueError(f"the IR has {len(consts)} weight constants, the torch module {len(slots)} slots: "
                         f"IR {[c['kind'] for c in consts]} vs torch {[s[0] for s in slots]}")
    mapping = []
    with torch.no_grad():
        for (name, tensor, kind, ir_shape, conv), c in zip(slots, consts):
            shape = tuple(c["value"].shape)
            if c["kind"] != kind or shape != ir_shape:
                raise ValueError(f"{name} ({kind} {ir_shape}) <- IR {c['op']} ({c['kind']} {shape}): mismatch")
            if conv is not None:
                want = (list(conv.stride), ([conv.padding[0], conv.padding[1]], [conv.padding[0], conv.padding[1]]))
                if (c["strides"], c["pads"]) != want:
                    raise ValueError(f"{name}: IR {c['op']} strides/pads {c['strides']}/{c['pads']}, torch {want}")
            tensor.copy_(torch.from_numpy(c["value"]).reshape(tensor.shape))
            mapping.append({"torch": name, "ir_op": c["op"], "shape": list(tensor.shape)})
    return mapping


def build_bone_age(variant: str, seed: int, n_calib: int, n_heldout: int, work_dir: Path,
                   rebuild: bool = False) -> Arch:
    """The served bone-age network as a torch.nn.Module: builder's FP32 IR, its constants copied into the module.

    The architecture comes from ``builders.bone_age.VARIANTS``; every weight (conv kernels and folded-BN biases, the
    head's matrices and biases, the output scale) is copied from the FP32 IR the platform serves
    (``served_fp32_ir``), so there is no second implementation of the weight initialisation. Calibration and
    held-out images are the INT8 build's own streams (``model_repository.quantize.calibration_set`` /
    ``heldout_set``, disjoint), plus the real hand radiograph when present.
    """
    import numpy as np
    import openvino as ov
    import torch
    from torch import nn

    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from model_repository import quantize
    from model_repository.builders import bone_age as builder

    spec = builder.VARIANTS[variant]

    def conv(cin, cout, k, stride):
        return nn.Conv2d(cin, cout, k, stride, k // 2, bias=True)

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = conv(cin, cout, 3, stride)
            self.conv2 = conv(cout, cout, 3, 1)
            self.shortcut = conv(cin, cout, 1, stride) if (stride != 1 or cin != cout) else None

        def forward(self, x):
            h = self.conv2(torch.relu(self.conv1(x)))
            return torch.relu(h + (x if self.shortcut is None else self.shortcut(x)))

    class BoneAgeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = conv(1, spec.stem_channels, 7, 2)
            self.pool = nn.MaxPool2d(3, 2, 1)
            blocks, cin = [], spec.stem_channels
            for stage, (ch, n) in enumerate(zip(spec.stage_channels, spec.blocks_per_stage)):
                for b in range(n):
                    blocks.append(BasicBlock(cin, ch, 2 if (stage > 0 and b == 0) else 1))
                    cin = ch
            self.blocks = nn.Sequential(*blocks)
            self.fc1 = nn.Linear(cin + 1, spec.head_hidden)
            self.fc2 = nn.Linear(spec.head_hidden, 1)
            self.register_buffer("scale", torch.tensor(float("nan")))  # the IR's output scale (228 months)

        def forward(self, image, sex):
            x = self.pool(torch.relu(self.stem(image)))
            feats = self.blocks(x).mean(dim=(2, 3))
            h = torch.relu(self.fc1(torch.cat([feats, sex], dim=1)))
            return torch.sigmoid(self.fc2(h)) * self.scale

    net = BoneAgeNet().eval()
    with torch.no_grad():  # NaN everywhere first: a slot the IR did not fill would poison every output
        for p in net.parameters():
            p.fill_(float("nan"))
    ir_xml, ir_source = served_fp32_ir(variant, seed, work_dir / "ir", rebuild)
    ir_model = ov.Core().read_model(str(ir_xml))
    mapping = load_ir_weights(net, ir_model)

    def samples(images, sexes):
        return [(np.ascontiguousarray(images[i:i + 1]), np.array([[sexes[i]]], np.float32)) for i in range(len(images))]

    calib_images = quantize.calibration_set(seed, n_calib)
    held_images = quantize.heldout_set(seed, n_heldout, include_real_hand=False)
    arch = Arch()
    arch.name, arch.unit = f"bone_age_{variant}", "months"
    arch.input_names, arch.output_name = [builder.INPUT_IMAGE, builder.INPUT_SEX], builder.OUTPUT_NAME
    arch.module = net
    arch.ir_xml = ir_xml
    arch.calibration = samples(calib_images, [float(i % 2) for i in range(n_calib)])  # quantize_model's sexes
    arch.heldout = samples(held_images, [float((i + 1) % 2) for i in range(n_heldout)])

    def ov_quantize():
        """The served INT8 recipe: ``model_repository.quantize.quantize_model`` on the served FP32 IR."""
        model, settings = quantize.quantize_model(ir_xml, calib_images)
        return model, {**settings, "function": "model_repository.quantize.quantize_model",
                       "base": f"the served FP32 IR ({ir_source})",
                       "calibration": f"{len(calib_images)} images (quantize.calibration_set; the same set as ORT)"}

    arch.ov_quantize = ov_quantize
    hand = real_hand_image()
    arch.notes = {"variant": variant, "params": builder.variant_params(variant), "seed": seed,
                  "weights": f"copied from the served FP32 IR: {ir_source}", "ir_xml": str(ir_xml),
                  "weights_mapped": len(mapping),
                  "calibration_images": f"quantize.calibration_set(seed={seed}, count={n_calib})",
                  "heldout_images": f"quantize.heldout_set(seed={seed}, count={n_heldout}) + real hand if present",
                  "input": "image [1,1,512,512] f32 + sex [1,1] f32", "real_hand_in_heldout": hand is not None}
    if hand is not None:
        arch.heldout.append((np.ascontiguousarray(hand[0], np.float32), np.array([[hand[1]]], np.float32)))
        arch.timing_sample = arch.heldout[-1]
    else:
        arch.timing_sample = arch.heldout[0]
    with torch.inference_mode():
        months = np.array([float(net(torch.from_numpy(a), torch.from_numpy(b))) for a, b in arch.heldout])
    if not np.all(np.isfinite(months)):
        raise ValueError("the torch module gives non-finite outputs: a weight was not copied from the IR")
    arch.notes["heldout_months_range"] = [round(float(months.min()), 1), round(float(months.max()), 1)]
    arch.notes["heldout_months_mean_sd"] = [round(float(months.mean()), 1), round(float(months.std()), 1)]
    if hand is not None:
        arch.notes["real_hand_months"] = round(float(months[-1]), 2)
    return arch


def build_resnet50(seed: int, n_calib: int, n_heldout: int) -> Arch:
    """A hand-written ResNet-50 (torchvision layout, no torchvision) with seeded weights, BN stats from data."""
    import numpy as np
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, mid, stride):
            super().__init__()
            cout = mid * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid)
            self.conv2, self.bn2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid)
            self.conv3, self.bn3 = nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            h = torch.relu(self.bn2(self.conv2(h)))
            h = self.bn3(self.conv3(h))
            return torch.relu(h + (x if self.downsample is None else self.downsample(x)))

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            layers, cin = [], 64
            for i, (mid, n) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
                for b in range(n):
                    layers.append(Bottleneck(cin, mid, 2 if (i > 0 and b == 0) else 1))
                    cin = mid * 4
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(2048, 1000)

        def forward(self, x):
            x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
            return self.fc(self.layers(x).mean(dim=(2, 3)))

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net = ResNet50()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            _he_conv_(m, rng)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(1.0)
            m.bias.data = torch.from_numpy(rng.normal(0.0, 0.1, m.num_features).astype(np.float32))
            m.momentum = None  # cumulative average: one train-mode pass sets the running stats to the batch's
    for block in net.layers:  # residual branches at half gain so the identity path stays bounded
        block.bn3.weight.data.fill_(0.5)
    net.fc.weight.data = torch.from_numpy(rng.normal(0.0, np.sqrt(1.0 / 2048), (1000, 2048)).astype(np.float32))
    net.fc.bias.data.zero_()

    def to_rgb224(images):
        t = torch.nn.functional.interpolate(torch.from_numpy(images), size=(224, 224), mode="bilinear",
                                            antialias=True, align_corners=False)
        return ((t.repeat(1, 3, 1, 1) - 0.45) / 0.226).numpy().astype(np.float32)

    bn_images = to_rgb224(radiographs(seed + 1, 16))
    net.train()
    with torch.no_grad():
        net(torch.from_numpy(bn_images))
    net.eval()
    calib = to_rgb224(radiographs(seed + 50, n_calib))
    held = to_rgb224(radiographs(seed + 100, n_heldout))
    arch = Arch()
    arch.name, arch.unit = "resnet50", "logit"
    arch.input_names, arch.output_name = ["input"], "logits"
    arch.module = net
    arch.calibration = [(np.ascontiguousarray(calib[i:i + 1]),) for i in range(len(calib))]
    arch.heldout = [(np.ascontiguousarray(held[i:i + 1]),) for i in range(len(held))]
    arch.timing_sample = arch.heldout[0]
    arch.notes = {"input": "input [1,3,224,224] f32 (synthetic radiographs, resized, 3 channels, normalised)",
                  "seed": seed, "layout": "torchvision ResNet-50 v1.5 (stride on the 3x3), BN, 1000-way FC"}
    return arch


# --------------------------------------------------------------------------------------------------
# Runtimes
# --------------------------------------------------------------------------------------------------


def measure_sync(fn, seconds: float, warmup: int, min_n: int = 10) -> dict:
    """Call ``fn()`` back to back for ``seconds`` (at least ``min_n`` times) after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    lat = []
    start = time.perf_counter()
    end = start + seconds
    while True:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        lat.append(t1 - t0)
        if t1 >= end and len(lat) >= min_n:
            break
    return {"latencies_s": lat, "elapsed_s": time.perf_counter() - start, "count": len(lat)}


def measure_parallel(fn, workers: int, seconds: float, warmup: int, setup=None, min_n: int = 10) -> dict:
    """``workers`` Python threads each calling ``fn()`` back to back; ``setup()`` runs first in every thread."""
    lat: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(workers + 1)
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker():
        try:
            ctx = setup() if setup else None
            if ctx is not None:
                ctx.__enter__()
            for _ in range(warmup):
                fn()
            barrier.wait()
            mine = []
            while not stop.is_set() or len(mine) * workers < min_n:
                t0 = time.perf_counter()
                fn()
                mine.append(time.perf_counter() - t0)
            with lock:
                lat.extend(mine)
            if ctx is not None:
                ctx.__exit__(None, None, None)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return {"latencies_s": lat, "elapsed_s": elapsed, "count": len(lat)}


def measure_ov_async(compiled, inputs: dict, seconds: float, warmup_rounds: int = 3) -> tuple[dict, int]:
    """AsyncInferQueue of OPTIMAL_NUMBER_OF_INFER_REQUESTS; per-request latency from the request's own clock."""
    import openvino as ov

    nireq = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    queue = ov.AsyncInferQueue(compiled, nireq)
    lat: list[float] = []
    queue.set_callback(lambda request, _userdata: lat.append(request.latency / 1000.0))
    for _ in range(warmup_rounds * nireq):
        queue.start_async(inputs)
    queue.wait_all()
    lat.clear()
    start = time.perf_counter()
    end = start + seconds
    submitted = 0
    while time.perf_counter() < end:
        queue.start_async(inputs)  # blocks until a request is idle
        submitted += 1
    queue.wait_all()
    elapsed = time.perf_counter() - start
    return {"latencies_s": list(lat), "elapsed_s": elapsed, "count": submitted}, nireq


def export_onnx(arch: Arch, path: Path) -> str:
    """torch.onnx.export of the module (dynamo exporter, opset 18; the TorchScript exporter as a fallback)."""
    import torch

    example = tuple(torch.from_numpy(a) for a in arch.timing_sample)
    try:
        torch.onnx.export(arch.module, example, str(path), input_names=arch.input_names,
                          output_names=[arch.output_name], opset_version=18, dynamo=True, external_data=False)
        return "dynamo, opset 18"
    except Exception as exc:  # noqa: BLE001 - reported, then the other exporter
        print(f"  dynamo exporter failed ({type(exc).__name__}: {str(exc)[:200]}); using the TorchScript exporter")
        torch.onnx.export(arch.module, example, str(path), input_names=arch.input_names,
                          output_names=[arch.output_name], opset_version=17, dynamo=False)
        return "torchscript, opset 17"


def quantize_onnx(arch: Arch, fp32_path: Path, int8_path: Path) -> dict:
    """ORT static quantisation: pre-processing, QDQ, per-channel S8 weights, U8 activations, MinMax."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prep = fp32_path.with_name(fp32_path.stem + "_prep.onnx")
    quant_pre_process(str(fp32_path), str(prep))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([dict(zip(arch.input_names, s)) for s in arch.calibration])

        def get_next(self):
            return next(self._it, None)

    import onnx

    # The fully connected layers stay FP32 in both INT8 builds (NNCF: IgnoredScope of the MatMuls): negligible
    # compute, and per-tensor INT8 on the pooled features is where most of the error came from.
    head = [n.name for n in onnx.load(str(prep)).graph.node if n.op_type in ("Gemm", "MatMul")]
    # MinMax calibration adds ReduceMin/ReduceMax outputs only, so memory stays small without batching options.
    quantize_static(str(prep), str(int8_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=head)
    return {"format": "QDQ", "weights": "S8 per-channel", "activations": "U8 per-tensor (asymmetric)",
            "calibration": f"MinMax on {len(arch.calibration)} images", "pre_process": "quant_pre_process",
            "kept_fp32": head}


def _type_name(value) -> str:
    """``ov.Type`` -> "f32"/"bf16"/..., anything else -> str."""
    return value.get_type_name() if hasattr(value, "get_type_name") else str(value)


def ov_compiled_facts(compiled) -> dict:
    """What the compiled model says about itself, and the primitives its runtime graph executes."""
    facts = {}
    for prop in ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT",
                 "OPTIMAL_NUMBER_OF_INFER_REQUESTS", "EXECUTION_DEVICES", "ENABLE_CPU_PINNING"):
        try:
            value = compiled.get_property(prop)
            facts[prop] = value if isinstance(value, (int, float, bool, list)) else _type_name(value)
        except Exception:  # noqa: BLE001 - not every property exists in every version
            pass
    prims: dict[str, int] = {}
    precisions: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        keys = set(rt.keys())

        def info(name: str) -> str:
            return rt[name].astype(str) if name in keys else "?"

        layer = info("layerType")
        if layer not in ("Convolution", "FullyConnected", "MatMul"):
            continue
        prim = f"{layer}:{info('primitiveType')}"
        prims[prim] = prims.get(prim, 0) + 1
        prec = f"{layer}:{info('runtimePrecision')}"
        precisions[prec] = precisions.get(prec, 0) + 1
    facts["primitives"] = prims
    facts["runtime_precisions"] = precisions
    return facts


def run_benchmark(arch: Arch, seconds: float, warmup: int, cores: int, work_dir: Path, rounds: int = 5,
                  summary: str = "best") -> dict:
    import nncf
    import numpy as np
    import onnxruntime as ort
    import openvino as ov
    import torch

    work_dir.mkdir(parents=True, exist_ok=True)
    out: dict = {"configs": {}, "runs": {}}
    names = arch.input_names
    timing = arch.timing_sample
    t_inputs = tuple(torch.from_numpy(a) for a in timing)
    feeds = dict(zip(names, timing))

    # --- models
    t0 = time.perf_counter()
    onnx_fp32 = work_dir / f"{arch.name}_fp32.onnx"
    onnx_int8 = work_dir / f"{arch.name}_int8.onnx"
    out["configs"]["onnx_export"] = export_onnx(arch, onnx_fp32)
    print(f"  ONNX export ({out['configs']['onnx_export']}): {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    out["configs"]["ort_int8"] = quantize_onnx(arch, onnx_fp32, onnx_int8)
    print(f"  ORT static quantisation: {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    ov_model = ov.convert_model(arch.module, example_input=t_inputs)
    for port, name in zip(ov_model.inputs, names):
        port.get_tensor().set_names({name})
    ov_model.outputs[0].get_tensor().set_names({arch.output_name})
    print(f"  ov.convert_model: {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    if arch.ov_quantize is not None:  # bone_age: the served INT8 recipe on the served FP32 IR
        ov_int8_model, out["configs"]["ov_int8"] = arch.ov_quantize()
    else:
        ov_int8_model = nncf.quantize(
            ov_model, nncf.Dataset([dict(zip(names, s)) for s in arch.calibration]),
            preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(arch.calibration),
            ignored_scope=nncf.IgnoredScope(types=["MatMul"]))
        out["configs"]["ov_int8"] = {
            "nncf": "quantize, preset PERFORMANCE, fast bias correction, MatMuls (FC) kept FP32",
            "calibration": f"{len(arch.calibration)} images (the same set as ORT)"}
    print(f"  NNCF quantisation: {time.perf_counter() - t0:.1f} s")

    core = ov.Core()
    ov_models = {"ov_fp32": (ov_model, {"INFERENCE_PRECISION_HINT": "f32"}),
                 "ov_default": (ov_model, {}),
                 "ov_int8": (ov_int8_model, {})}

    def ort_session(path: Path, threads: int):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    # --- agreement and accuracy on the held-out set (f32 where it matters)
    torch.set_num_threads(cores)
    outputs: dict[str, list[list[float]]] = {}
    with torch.inference_mode():
        outputs["pt_fp32"] = [arch.module(*(torch.from_numpy(a) for a in s)).numpy().ravel().tolist()
                              for s in arch.heldout]
    for key, path in (("ort_fp32", onnx_fp32), ("ort_int8", onnx_int8)):
        sess = ort_session(path, cores)
        outputs[key] = [sess.run(None, dict(zip(names, s)))[0].ravel().tolist() for s in arch.heldout]
    compiled_lat = {}
    for key, (model, props) in ov_models.items():
        compiled_lat[key] = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", **props})
        outputs[key] = [compiled_lat[key](dict(zip(names, s)))[0].ravel().tolist() for s in arch.heldout]
    ov_int8_f32 = core.compile_model(ov_int8_model, "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                            "INFERENCE_PRECISION_HINT": "f32"})
    outputs["ov_int8_f32hint"] = [ov_int8_f32(dict(zip(names, s)))[0].ravel().tolist() for s in arch.heldout]
    del ov_int8_f32
    fp32_ref = "ov_fp32"  # what the OV INT8 accuracy is measured against: its own FP32 base
    if arch.ir_xml is not None:  # the served FP32 IR itself (f32 hint): the module must reproduce it
        ir_compiled = core.compile_model(str(arch.ir_xml), "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                                   "INFERENCE_PRECISION_HINT": "f32"})
        outputs["ov_ir_fp32"] = [ir_compiled(dict(zip(names, s)))[0].ravel().tolist() for s in arch.heldout]
        del ir_compiled
        fp32_ref = "ov_ir_fp32"
    agreement = relative_agreement({k: outputs[k] for k in ("pt_fp32", "ort_fp32", "ov_fp32")}, "pt_fp32")
    out["agreement"] = {"max_rel_diff_vs_pytorch": agreement, "tolerance": AGREEMENT_TOLERANCE,
                        "ok": all(v <= AGREEMENT_TOLERANCE for v in agreement.values()),
                        "n": len(arch.heldout)}
    if arch.ir_xml is not None:
        same = relative_agreement({k: outputs[k] for k in ("ov_ir_fp32", "pt_fp32")}, "ov_ir_fp32")["pt_fp32"]
        out["same_weights_as_served_ir"] = {"ir_xml": str(arch.ir_xml), "max_rel_diff_pytorch_vs_ir": same,
                                            "tolerance": AGREEMENT_TOLERANCE, "ok": same <= AGREEMENT_TOLERANCE,
                                            "n": len(arch.heldout)}
    checks = [out["agreement"]] + ([out["same_weights_as_served_ir"]] if arch.ir_xml is not None else [])
    if not all(c["ok"] for c in checks):
        raise RuntimeError("not the same network: " + json.dumps(
            {k: v for k, v in out.items() if k in ("agreement", "same_weights_as_served_ir")}, default=str)
            + " -- the torch module, its exports and the served IR must agree before anything is timed")
    default_precision = _type_name(compiled_lat["ov_default"].get_property("INFERENCE_PRECISION_HINT"))
    int8_precision = _type_name(compiled_lat["ov_int8"].get_property("INFERENCE_PRECISION_HINT"))

    def acc_row(label, key, ref_key, ref_label):
        a = np.array(outputs[key], np.float64)
        b = np.array(outputs[ref_key], np.float64)
        row = {"key": key, "label": label, "reference": ref_label, "n": len(a),
               "mean_abs_diff": float(np.abs(a - b).mean()), "max_abs_diff": float(np.abs(a - b).max()),
               "reference_sd": float(b.std())}
        if a.shape[1] > 1:  # classifier: top-1 agreement too
            row["top1_agreement"] = float((a.argmax(1) == b.argmax(1)).mean())
        return row

    ov_ref_label = "OpenVINO FP32 (served IR)" if fp32_ref == "ov_ir_fp32" else "OpenVINO FP32"
    out["accuracy"] = [
        acc_row("ONNX Runtime INT8", "ort_int8", "ort_fp32", "ONNX Runtime FP32"),
        acc_row(f"OpenVINO INT8 (rest in {int8_precision})", "ov_int8", fp32_ref, ov_ref_label),
        acc_row("OpenVINO INT8 (rest in f32)", "ov_int8_f32hint", fp32_ref, ov_ref_label),
        acc_row(f"OpenVINO default ({default_precision})", "ov_default", "ov_fp32", "OpenVINO FP32"),
    ]
    out["outputs_heldout"] = {k: [v[0] for v in vals] for k, vals in outputs.items()} if arch.unit == "months" else {}

    labels = {"ov_default": f"OpenVINO default precision ({default_precision})",
              "ov_int8": f"OpenVINO INT8 (NNCF PTQ; rest {int8_precision})"}
    ov_facts: dict[str, dict] = {}

    # --- timers: every configuration in both modes, kept alive and run round-robin in ``rounds`` rounds so that
    # load from outside this process (the two cores are shared) spreads over all of them instead of one.
    module = arch.module

    def pt_call():
        module(*t_inputs)

    def pt_latency(sec):
        torch.set_num_threads(cores)
        with torch.inference_mode():
            return measure_sync(pt_call, sec, warmup)

    def pt_throughput(sec):
        torch.set_num_threads(1)  # global: every worker thread computes on one thread
        try:
            return measure_parallel(pt_call, cores, sec, warmup, setup=torch.inference_mode)
        finally:
            torch.set_num_threads(cores)

    timers: dict[str, dict] = {"pt_fp32": {"latency": pt_latency, "throughput": pt_throughput}}
    out["configs"]["pt_fp32"] = {"latency": f"1 request at a time, torch threads {cores}",
                                 "throughput": f"{cores} concurrent requests (threads), torch threads 1 each"}
    for key, path in (("ort_fp32", onnx_fp32), ("ort_int8", onnx_int8)):
        sess, sess1 = ort_session(path, cores), ort_session(path, 1)
        timers[key] = {
            "latency": lambda sec, s=sess: measure_sync(lambda: s.run(None, feeds), sec, warmup),
            "throughput": lambda sec, s=sess1: measure_parallel(lambda: s.run(None, feeds), cores, sec, warmup),
        }
        out["configs"].setdefault(key, {}).update({
            "latency": f"intra_op_num_threads {cores}, 1 request at a time",
            "throughput": f"{cores} concurrent requests (threads) on one session, intra_op_num_threads 1"})
    for key, (model, props) in ov_models.items():
        compiled = compiled_lat.pop(key)
        req = compiled.create_infer_request()
        compiled_tp = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", **props})
        ov_facts[key] = {"latency": ov_compiled_facts(compiled), "throughput": ov_compiled_facts(compiled_tp)}
        nireq = ov_facts[key]["throughput"].get("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        timers[key] = {
            "latency": lambda sec, r=req, c=compiled: measure_sync(lambda: r.infer(feeds), sec, warmup),
            "throughput": lambda sec, c=compiled_tp: measure_ov_async(c, feeds, sec)[0],
        }
        out["configs"][key] = {"properties": props or "(defaults)", "latency": "PERFORMANCE_HINT LATENCY",
                               "throughput": f"PERFORMANCE_HINT THROUGHPUT, AsyncInferQueue of {nireq} requests"}

    round_runs: dict[str, dict[str, list[dict]]] = {k: {m: [] for m in v} for k, v in timers.items()}
    snap = cpu_snapshot()
    per_round = seconds / rounds
    for r in range(rounds):
        print(f"  timing round {r + 1}/{rounds} ({per_round:.1f} s per runtime and mode) ...", flush=True)
        for key, modes in timers.items():
            for mode, timer in modes.items():
                round_runs[key][mode].append(timer(per_round))
    del timers
    runs, best_runs = merge_rounds(round_runs), best_rounds(round_runs)
    out["outside_load_during_timing"] = outside_load(snap, cpu_snapshot(), cores)
    out["runs"] = runs
    out["rows_all_rounds"] = summarise(runs, labels=labels)
    out["rows_best_round"] = summarise(best_runs, labels=labels)
    out["rows"] = out["rows_best_round"] if summary == "best" else out["rows_all_rounds"]
    out["summary"] = summary
    out["ov_compiled"] = ov_facts
    out["ov_default_precision"] = default_precision
    out["ov_int8_inference_precision_hint"] = int8_precision
    out["verdict"] = verdict(out["rows"])
    return out


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def _print_report(arch: Arch, facts: dict, versions: dict, res: dict) -> None:
    isa = facts.get("isa", {})
    print()
    print(f"CPU: {facts.get('cpu_model')} (model {facts.get('cpu_model_number')}), {facts.get('cores_usable')} "
          f"usable cores, kernel {facts.get('kernel')}")
    print("ISA flags: " + ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in isa.items())
          + f"; AMX tile state permitted by kernel: {facts.get('amx_tile_state_permitted_by_kernel')}")
    print(f"OpenVINO {versions['openvino']} (CPU capabilities {versions['ov_cpu_optimization_capabilities']}), "
          f"torch {versions['torch']} ({versions['torch_cpu_capability']}, AMX {versions['torch_amx_tile_supported']}, "
          f"fp32 matmul precision {versions['torch_float32_matmul_precision']}), onnxruntime {versions['onnxruntime']}, "
          f"onnx {versions['onnx']}, NNCF {versions['nncf']}")
    print(f"Load average before {facts.get('loadavg_before')}, after {facts.get('loadavg_after')}")
    load = res.get("outside_load_during_timing")
    if load:
        print(f"CPU used by OTHER processes during the timed rounds: {load['other_core_s']} core-s over "
              f"{load['wall_s']} s = {100 * load['other_share']:.1f}% of the {facts.get('cores_usable')} cores"
              + (" -- the cores were shared; expect noisy numbers" if load["other_share"] > 0.05 else ""))
    print(f"Model: {arch.name} -- {arch.notes}")
    print(f"OpenVINO default inference precision reported by the compiled model: {res['ov_default_precision']}; "
          f"INT8 model compiled with INFERENCE_PRECISION_HINT={res['ov_int8_inference_precision_hint']}")
    for key, modes in res["ov_compiled"].items():
        for mode, f in modes.items():
            print(f"  {key:<10} {mode:<10} streams={f.get('NUM_STREAMS')} threads={f.get('INFERENCE_NUM_THREADS')} "
                  f"nireq={f.get('OPTIMAL_NUMBER_OF_INFER_REQUESTS')} precision={f.get('INFERENCE_PRECISION_HINT')} "
                  f"devices={f.get('EXECUTION_DEVICES')} primitives={f.get('primitives')}")
    ag = res["agreement"]
    print(f"Same network check (max |out - PyTorch| / max |PyTorch| over {ag['n']} held-out inputs, tolerance "
          f"{ag['tolerance']:g}): " + ", ".join(f"{k} {v:.2e}" for k, v in ag["max_rel_diff_vs_pytorch"].items())
          + (" -- OK" if ag["ok"] else " -- MISMATCH"))
    sw = res.get("same_weights_as_served_ir")
    if sw:
        print(f"Same weights check (max |PyTorch - served FP32 IR (OV, f32 hint)| / max |IR| over {sw['n']} held-out "
              f"inputs, tolerance {sw['tolerance']:g}): {sw['max_rel_diff_pytorch_vs_ir']:.2e}"
              + (" -- OK" if sw["ok"] else " -- MISMATCH") + f"; IR {sw['ir_xml']}")
    print()
    which = "each configuration's best round" if res["summary"] == "best" else "all rounds pooled"
    print(f"Summary from {which}:")
    print(format_console_table(res["rows"]))
    other = "rows_all_rounds" if res["summary"] == "best" else "rows_best_round"
    print(f"\nFor comparison, {'all rounds pooled' if res['summary'] == 'best' else 'best rounds'}:")
    print(format_console_table(res[other]))
    print("Throughput per round (inf/s): " + "; ".join(
        f"{k} " + "/".join(f"{m[0]}:{','.join(str(x) for x in run['rounds'])}" for m, run in modes.items())
        for k, modes in res["runs"].items()))
    v = res["verdict"]
    print()
    print("OV INT8 vs reference point (>= {:.1f}x PyTorch FP32, >= {:.1f}x ORT INT8):".format(
        v["target_vs_pytorch_fp32"], v["target_vs_ort_int8"]))
    for mode in MODES:
        print(f"  {mode:<10}: throughput {_x(v[f'{mode}_throughput_vs_pytorch_fp32'])} PyTorch FP32, "
              f"{_x(v[f'{mode}_throughput_vs_ort_int8'])} ORT INT8; p50 {_x(v[f'{mode}_p50_vs_pytorch_fp32'])} "
              f"PyTorch FP32, {_x(v[f'{mode}_p50_vs_ort_int8'])} ORT INT8")
    print("  held" if v["held"] else "  NOT held in every mode/metric (see above)")
    print()
    print("INT8 (and OV default precision) accuracy vs its own runtime's FP32, held-out set:")
    for a in res["accuracy"]:
        extra = f", top-1 agreement {a['top1_agreement']:.3f}" if "top1_agreement" in a else ""
        print(f"  {a['label']:<42} mean |diff| {a['mean_abs_diff']:.4f} {arch.unit}, max {a['max_abs_diff']:.4f} "
              f"(FP32 output SD {a['reference_sd']:.3f}{extra}, n={a['n']})")
    print()
    print("Markdown (README):")
    print()
    print(format_markdown_table(res["rows"]))
    print()
    print(format_accuracy_table(res["accuracy"], arch.unit))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=("bone_age", "resnet50"), default="bone_age")
    parser.add_argument("--variant", choices=("full", "small"), default="full", help="bone_age variant")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per runtime and mode (total)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up calls per runtime, mode and round")
    parser.add_argument("--rounds", type=int, default=5, help="round-robin rounds the timed seconds are split into")
    parser.add_argument("--summary", choices=("best", "all"), default="best",
                        help="tables from each configuration's best round (robust to outside load; default) or all")
    parser.add_argument("--calib", type=int, default=None,
                        help="INT8 calibration images (ORT and NNCF); default: the served INT8 build's count "
                             "(model_repository.quantize.CALIBRATION_IMAGES) for bone_age, 64 for resnet50")
    parser.add_argument("--rebuild", action="store_true",
                        help="bone_age: build the FP32 IR with model_repository into the work directory even when "
                             "model_repository/bone_age/1 matches the variant and seed")
    parser.add_argument("--heldout", type=int, default=32, help="synthetic held-out images (+ the real hand)")
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)

    missing = []
    for mod in ("torch", "onnx", "onnxruntime", "onnxscript", "nncf", "openvino"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        print(f"missing {', '.join(missing)}: install the bench extra (.venv/bin/pip install '.[bench]')",
              file=sys.stderr)
        return 2
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))

    facts = machine_facts()
    versions = runtime_versions()
    cores = int(facts.get("cores_usable") or os.cpu_count() or 1)
    print(f"Building {args.arch} ...", flush=True)
    t0 = time.perf_counter()
    if args.arch == "bone_age":
        if args.calib is None:
            from model_repository.quantize import CALIBRATION_IMAGES

            args.calib = CALIBRATION_IMAGES
        arch = build_bone_age(args.variant, args.seed, args.calib, args.heldout, WORK_DIR / f"bone_age_{args.variant}",
                              args.rebuild)
    else:
        arch = build_resnet50(args.seed, args.calib or 64, args.heldout)
    print(f"  built in {time.perf_counter() - t0:.1f} s", flush=True)
    res = run_benchmark(arch, args.seconds, args.warmup, cores, WORK_DIR / arch.name, args.rounds, args.summary)
    try:
        facts["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        facts["loadavg_after"] = None
    _print_report(arch, facts, versions, res)

    record = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "arch": arch.name, "notes": arch.notes, "args": vars(args), "machine": facts, "versions": versions,
        "cores": cores, **{k: v for k, v in res.items() if k != "runs"},
        "latencies_ms": {k: {m: [round(x * 1000, 3) for x in run["latencies_s"]] for m, run in modes.items()}
                         for k, modes in res["runs"].items()},
    }
    RESULT_PATH.parent.mkdir(parents=True, exist_ok=True)
    existing = {}
    if RESULT_PATH.exists():
        try:
            existing = json.loads(RESULT_PATH.read_text())
        except ValueError:
            existing = {}
    existing[arch.name] = record
    RESULT_PATH.write_text(json.dumps(existing, indent=1, default=str))
    print(f"\nResults: {RESULT_PATH.relative_to(REPO_ROOT)} (key {arch.name!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
