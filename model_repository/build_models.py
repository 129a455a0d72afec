"""Build the platform's models into the OpenVINO Model Server repository layout.

    python -m model_repository.build_models [--variant full|small] [--models a,b] [--output-dir DIR]
        [--only fp32|int8] [--fp32-version 1] [--int8-version 2] [--gate-threshold-months 0.5] [--streams 1]

builds, for every model of the catalogue (``model_repository/catalogue.py``; ``--models`` picks some),
``DIR/<model>/1`` (FP32) and ``DIR/<model>/2`` (INT8, NNCF post-training quantization of version 1, accepted
only if it passes the model's accuracy gate against FP32, see ``model_repository/quantize.py``), each with
model.xml + model.bin + model_card.json, and writes ``DIR/config.json`` (OVMS ``model_config_list``; other
models' entries are kept) serving exactly the versions in use. Every version is built in a temporary directory
and renamed into place only when complete (and, for INT8, gated): a failed build leaves the repository as it was
and exits non-zero. The weights are deterministic demo weights: see ``model_repository/bone_age/MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import openvino as ov

from model_repository import catalogue
from model_repository.builders import bone_age
from model_repository.cards import file_checksums, sha256_file  # noqa: F401 - sha256_file re-exported

DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent
DEFAULT_SEED = 20240611
MODEL_NAME = "bone_age"

DEFAULT_STREAMS = 1  # latency: one stream, all cores on one request


def plugin_config(streams: int = DEFAULT_STREAMS) -> dict:
    """What OVMS gets in ``plugin_config`` for every model (per model, so it applies to FP32 and INT8 versions).

    ``INFERENCE_PRECISION_HINT`` f32: CPUs with bf16 (AVX512-BF16/AMX) would otherwise silently run the FP32
    version's floating-point ops in bf16 and the server's answers would stop matching raw FP32 OpenVINO. The hint
    only concerns floating-point execution: the INT8 version's quantized convolutions still run in INT8 under it
    (checked with the runtime model's per-layer precisions, see MODEL_CARD.md); its few non-quantized ops (the
    head, the sigmoid) then run in f32 instead of bf16, which is closer to the FP32 reference, not further.
    """
    if not isinstance(streams, int) or streams < 1:
        raise ValueError(f"streams must be a positive integer, got {streams!r}")
    return {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": str(streams), "INFERENCE_PRECISION_HINT": "f32"}


PLUGIN_CONFIG = plugin_config()


def _bone_age_card(version: int, variant: str, seed: int, xml: Path, bin_: Path, calibration: dict) -> dict:
    return {
        "name": MODEL_NAME,
        "version": version,
        "task": "pediatric bone age regression",
        "modality": "DX/CR left hand PA radiograph",
        "inputs": [
            {
                "name": bone_age.INPUT_IMAGE,
                "shape": [1, 1, bone_age.IMAGE_SIZE, bone_age.IMAGE_SIZE],
                "dtype": "float32",
                "layout": "NCHW",
                "preprocessing": {
                    "color": "grayscale, single channel",
                    "photometric_interpretation": "MONOCHROME2 (MONOCHROME1 inverted first)",
                    "window": "DICOM VOI LUT / window center-width applied before scaling",
                    "resize": "aspect-preserving letterbox to 512x512, zero (black) padding",
                    "scaling": "scaled to [0, 1] float32",
                },
            },
            {
                "name": bone_age.INPUT_SEX,
                "shape": [1, 1],
                "dtype": "float32",
                "encoding": "1.0 = male, 0.0 = female",
            },
        ],
        "outputs": [
            {
                "name": bone_age.OUTPUT_NAME,
                "shape": [1, 1],
                "dtype": "float32",
                "units": "months",
                "range": [0.0, bone_age.MAX_MONTHS],
            },
            {
                "name": bone_age.ATTENTION_NAME,
                "shape": [1, 1, bone_age.ATTENTION_SIZE, bone_age.ATTENTION_SIZE],
                "dtype": "float32",
                "range": [0.0, 1.0],
                "meaning": "class-activation map of the last convolution stage (each 32x32-pixel cell of the "
                           "512x512 input), channels weighted by |d logit / d pooled feature|, min-max scaled",
            },
        ],
        "precision": "FP32",
        "variant": variant,
        "architecture": "ResNet-18-class backbone (conv+folded BN bias, ReLU, basic residual blocks, GAP) "
        "+ sex concatenated + MLP head, 228*sigmoid output",
        "demo": True,
        "intended_use": "Deterministic random-weight network for integration testing and benchmarking: "
        "demo, not for diagnostic use. Outputs carry no clinical meaning.",
        # How the demo head was calibrated so outputs land mid-range (see builders/bone_age.py).
        "calibration": calibration,
        "files": file_checksums(xml.parent),
        "build": {
            "builder": "model_repository.build_models",
            "seed": seed,
            "variant_params": bone_age.variant_params(variant),
            "openvino_version": ov.get_version(),
            "built_at_unix": int(time.time()),
        },
    }


def _atomic_write_json(path: Path, data: dict) -> None:
    # Write-then-rename: a model server polling config.json must never read half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def versions_on_disk(output_dir: Path, model_name: str = MODEL_NAME) -> list[int]:
    """Integer version directories of ``model_name`` under ``output_dir`` that hold a model.xml."""
    base = Path(output_dir) / model_name
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir()
                  if p.is_dir() and p.name.isdigit() and int(p.name) > 0 and (p / "model.xml").is_file())


def write_config(output_dir: Path, models: Mapping[str, list[int]] | None = None,
                 plugin_config: Mapping[str, str] | None = None) -> Path:
    """Create or refresh ``output_dir/config.json`` so OVMS serves exactly the versions in use.

    ``models`` maps a model name to its versions in use (the registry passes its list); each entry gets
    ``model_version_policy`` ``{"specific": {"versions": [...]}}``. Default: every catalogue model with the
    versions built under ``output_dir`` (``bone_age`` version 1 when none is built yet). ``plugin_config`` defaults to ``PLUGIN_CONFIG``. Entries for other models already in the
    file are kept; ``base_path`` is relative to the config's directory (OVMS resolves it against the file).
    Returns the config path. Raises ValueError if an existing config.json is not valid JSON or a model has no
    version in use.
    """
    output_dir = Path(output_dir)
    if models is None:
        models = {name: versions for name in catalogue.MODEL_NAMES
                  if (versions := versions_on_disk(output_dir, name))} or {MODEL_NAME: [1]}
    config_path = output_dir / "config.json"
    config: dict = {"model_config_list": []}
    if config_path.exists():
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{config_path} is not valid JSON: {exc}") from exc
        config.setdefault("model_config_list", [])
    entries = []
    for name, versions in models.items():
        versions = sorted({int(v) for v in versions})
        if not versions or versions[0] < 1:
            raise ValueError(f"{name}: versions in use must be positive integers, got {versions!r}")
        entries.append({"config": {
            "name": name,
            "base_path": name,
            "model_version_policy": {"specific": {"versions": versions}},
            "plugin_config": dict(plugin_config if plugin_config is not None else PLUGIN_CONFIG),
        }})
    others = [e for e in config["model_config_list"] if e.get("config", {}).get("name") not in models]
    config["model_config_list"] = [*others, *entries]
    _atomic_write_json(config_path, config)
    return config_path


def staging_dir(output_dir: Path, model_name: str, version: int) -> Path:
    """A fresh temporary directory beside the version directories (same file system: the final rename is atomic)."""
    base = Path(output_dir) / model_name
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=base, prefix=f".building-{version}-"))


def move_into_place(staged: Path, version_dir: Path) -> Path:
    """Rename a complete ``staged`` version directory to ``version_dir``, replacing an existing one.

    A model server scanning the repository sees either the old or the new directory, never a half-written one
    (it ignores the dot-named staging directories: not integers).
    """
    staged.chmod(0o755)
    old = None
    if version_dir.exists():
        old = version_dir.with_name(f".old-{version_dir.name}-{os.getpid()}")
        os.replace(version_dir, old)
    os.replace(staged, version_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return version_dir


def build_bone_age(output_dir: Path, version: int = 1, variant: str = "full", seed: int = DEFAULT_SEED,
                   *, update_config: bool = True) -> Path:
    """Build the FP32 bone-age demo model into ``output_dir/bone_age/<version>/``.

    Parameters: ``output_dir`` the model repository root; ``version`` the positive integer version directory;
    ``variant`` "full" (ResNet-18 width) or "small" (CI); ``seed`` the NumPy RNG seed for the demo weights;
    ``update_config`` also refresh ``config.json`` to serve every version on disk.
    Returns the version directory containing model.xml, model.bin and model_card.json (written to a temporary
    directory first and renamed into place). Raises ValueError for a non-positive version or unknown variant.
    """
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    if variant not in bone_age.VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(bone_age.VARIANTS)}")
    output_dir = Path(output_dir)
    staged = staging_dir(output_dir, MODEL_NAME, version)
    try:
        model, calibration = bone_age.make_bone_age_model_calibrated(variant=variant, seed=seed)
        model.set_rt_info(variant, ["model_info", "variant"])
        model.set_rt_info("demo, not for diagnostic use", ["model_info", "intended_use"])
        xml, bin_ = staged / "model.xml", staged / "model.bin"
        ov.save_model(model, xml, compress_to_fp16=False)
        card = _bone_age_card(version, variant, seed, xml, bin_, calibration)
        _atomic_write_json(staged / "model_card.json", card)
        version_dir = move_into_place(staged, output_dir / MODEL_NAME / str(version))
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    if update_config:
        write_config(output_dir)
    return version_dir


def _catalogue_card(name: str, version: int, variant: str, seed: int, version_dir: Path,
                    calibration: dict | None) -> dict:
    module = catalogue.builder(name)
    card = {
        "name": name,
        "version": version,
        **{k: module.CARD[k] for k in ("task", "modality", "inputs", "outputs")},
        "precision": "FP32",
        "variant": variant,
        "architecture": module.CARD["architecture"],
        "demo": True,
        "intended_use": "Hand-set demo weights, not trained, for integration testing and benchmarking: demo, not "
                        "for diagnostic use. Outputs follow simple image content on synthetic phantoms and carry "
                        "no clinical meaning.",
        "weights": module.CARD["weights"],
        "gate_metric": module.CARD["gate_metric"],
        "files": file_checksums(version_dir),
        "build": {
            "builder": "model_repository.build_models",
            "seed": seed,
            "variant_params": module.variant_params(variant),
            "openvino_version": ov.get_version(),
            "built_at_unix": int(time.time()),
        },
    }
    if calibration is not None:
        card["calibration"] = calibration
    return card


def build_model(name: str, output_dir: Path, version: int = 1, variant: str = "full", seed: int = DEFAULT_SEED,
                *, update_config: bool = True) -> Path:
    """Build the FP32 demo model ``name`` (any catalogue model) into ``output_dir/<name>/<version>/``.

    As ``build_bone_age`` (which it calls for bone_age): written to a temporary directory and renamed into
    place, with its model card. Returns the version directory. Raises ValueError for a non-positive version,
    an unknown variant or model.
    """
    if name == catalogue.BONE_AGE:
        return build_bone_age(output_dir, version, variant, seed, update_config=update_config)
    if name not in catalogue.BUILDERS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(catalogue.MODEL_NAMES)}")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    module = catalogue.builder(name)
    if variant not in module.VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(module.VARIANTS)}")
    output_dir = Path(output_dir)
    staged = staging_dir(output_dir, name, version)
    try:
        if hasattr(module, "make_model_calibrated"):
            model, calibration = module.make_model_calibrated(variant=variant, seed=seed)
        else:
            model, calibration = module.make_model(variant=variant, seed=seed), None
        model.set_rt_info(variant, ["model_info", "variant"])
        model.set_rt_info("demo, not for diagnostic use", ["model_info", "intended_use"])
        ov.save_model(model, staged / "model.xml", compress_to_fp16=False)
        _atomic_write_json(staged / "model_card.json",
                           _catalogue_card(name, version, variant, seed, staged, calibration))
        version_dir = move_into_place(staged, output_dir / name / str(version))
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    if update_config:
        write_config(output_dir)
    return version_dir


def _gate_summary(gate: dict) -> str:
    if "mad_months" in gate:
        return (f"MAD {gate['mad_months']:.3f} months (max {gate['max_abs_months']:.3f}, "
                f"p95 {gate['p95_abs_months']:.3f}, n={gate['n_heldout']}, threshold {gate['threshold_months']})")
    figures = ", ".join(f"{k} {v}" for k, v in gate.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "threshold")
    return f"{gate.get('metric', 'gate')}: {figures} (threshold {gate.get('threshold')})"


def main(argv: list[str] | None = None) -> int:
    from model_repository import quantize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=list(catalogue.VARIANTS), default="full")
    parser.add_argument("--models", help="comma-separated model names (default: every model: "
                                         + ",".join(catalogue.MODEL_NAMES) + ")")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--only", choices=["fp32", "int8"], help="build one version (default: both)")
    parser.add_argument("--fp32-version", "--version", dest="fp32_version", type=int, default=1)
    parser.add_argument("--int8-version", type=int, default=2)
    parser.add_argument("--gate-threshold-months", type=float, default=quantize.GATE_THRESHOLD_MONTHS,
                        help="bone_age INT8 accuracy gate: max mean |INT8 - FP32| on the held-out set, months")
    parser.add_argument("--streams", type=int, default=DEFAULT_STREAMS, help="NUM_STREAMS in plugin_config")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    try:
        names = catalogue.parse_models(args.models)
    except ValueError as exc:
        parser.error(str(exc))
    config = plugin_config(args.streams)
    in_use: dict[str, list[int]] = {}
    for name in names:
        fp32_dir = args.output_dir / name / str(args.fp32_version)
        try:
            if args.only in (None, "fp32"):
                started = time.perf_counter()
                build_model(name, args.output_dir, version=args.fp32_version, variant=args.variant, seed=args.seed,
                            update_config=False)
                print(f"built {name} FP32 ({args.variant}) -> {fp32_dir} in {time.perf_counter() - started:.1f}s")
            if args.only in (None, "int8"):
                started = time.perf_counter()
                if name == catalogue.BONE_AGE:
                    int8_dir = quantize.build_bone_age_int8(
                        fp32_dir, args.output_dir, args.int8_version, threshold_months=args.gate_threshold_months,
                        seed=args.seed)
                else:
                    int8_dir = quantize.build_int8(name, fp32_dir, args.output_dir, args.int8_version,
                                                   seed=args.seed)
                gate = json.loads((int8_dir / "model_card.json").read_text())["gate"]
                print(f"built {name} INT8 ({args.variant}) -> {int8_dir} in {time.perf_counter() - started:.1f}s; "
                      f"gate passed: {_gate_summary(gate)}")
        except quantize.QuantizationGateError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        in_use[name] = [v for v in (args.fp32_version, args.int8_version)
                        if v in versions_on_disk(args.output_dir, name)]
    in_use = {name: versions for name, versions in in_use.items() if versions}
    if in_use:
        path = write_config(args.output_dir, in_use, plugin_config=config)
        for name, versions in in_use.items():
            print(f"wrote {path}: {name} versions {versions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
