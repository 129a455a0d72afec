"""Build the platform's models into the OpenVINO Model Server repository layout.

    python -m model_repository.build_models [--variant full|small] [--output-dir DIR] [--version N]

writes ``DIR/bone_age/N/model.xml + model.bin + model_card.json`` and creates or refreshes ``DIR/config.json``
(OVMS ``model_config_list`` format; other models' entries in an existing config are kept). The weights are
deterministic demo weights: see ``model_repository/bone_age/MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import openvino as ov

from model_repository.builders import bone_age

DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent
DEFAULT_SEED = 20240611
MODEL_NAME = "bone_age"

# What OVMS gets in plugin_config for this model. f32 inference precision: CPUs with bf16/AMX would otherwise
# silently run in bf16 and the server's answers would stop matching raw FP32 OpenVINO.
PLUGIN_CONFIG = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
            }
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
        "files": {"model.xml": {"sha256": sha256_file(xml)}, "model.bin": {"sha256": sha256_file(bin_)}},
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


def write_config(output_dir: Path, model_name: str = MODEL_NAME) -> Path:
    """Create or refresh ``output_dir/config.json`` with the OVMS entry for ``model_name``.

    Entries for other models already in the file are kept; the entry for ``model_name`` is replaced.
    ``base_path`` is relative to the config's directory, which OVMS resolves against the config file location.
    Returns the config path. Raises ValueError if an existing config.json is not valid JSON.
    """
    config_path = Path(output_dir) / "config.json"
    config: dict = {"model_config_list": []}
    if config_path.exists():
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{config_path} is not valid JSON: {exc}") from exc
        config.setdefault("model_config_list", [])
    entry = {
        "config": {
            "name": model_name,
            "base_path": model_name,
            "model_version_policy": {"latest": {"num_versions": 1}},
            "plugin_config": dict(PLUGIN_CONFIG),
        }
    }
    others = [e for e in config["model_config_list"] if e.get("config", {}).get("name") != model_name]
    config["model_config_list"] = [*others, entry]
    _atomic_write_json(config_path, config)
    return config_path


def build_bone_age(output_dir: Path, version: int = 1, variant: str = "full", seed: int = DEFAULT_SEED) -> Path:
    """Build the bone-age demo model into ``output_dir/bone_age/<version>/`` and refresh ``config.json``.

    Parameters: ``output_dir`` the model repository root; ``version`` the positive integer version directory;
    ``variant`` "full" (ResNet-18 width) or "small" (CI); ``seed`` the NumPy RNG seed for the demo weights.
    Returns the version directory containing model.xml, model.bin and model_card.json.
    Raises ValueError for a non-positive version or unknown variant.
    """
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    if variant not in bone_age.VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(bone_age.VARIANTS)}")
    output_dir = Path(output_dir)
    version_dir = output_dir / MODEL_NAME / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)

    model, calibration = bone_age.make_bone_age_model_calibrated(variant=variant, seed=seed)
    model.set_rt_info(variant, ["model_info", "variant"])
    model.set_rt_info("demo, not for diagnostic use", ["model_info", "intended_use"])
    xml, bin_ = version_dir / "model.xml", version_dir / "model.bin"
    ov.save_model(model, xml, compress_to_fp16=False)

    card = _bone_age_card(version, variant, seed, xml, bin_, calibration)
    _atomic_write_json(version_dir / "model_card.json", card)
    write_config(output_dir)
    return version_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(bone_age.VARIANTS), default="full")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    version_dir = build_bone_age(args.output_dir, version=args.version, variant=args.variant, seed=args.seed)
    print(f"built {MODEL_NAME} ({args.variant}) -> {version_dir} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
