"""INT8 versions: NNCF post-training quantization of an FP32 IR, accepted only through an accuracy gate.

The gate compares the INT8 model with its FP32 base on a held-out set that the calibration never saw. bone_age
(``build_bone_age_int8``): other synthetic radiographs, both sexes, plus the real hand radiograph of the shared
data set when it is present; the mean absolute difference in months must stay under ``GATE_THRESHOLD_MONTHS``.
The catalogue models (``build_int8``): seeded synthetic phantoms from their builder, and the builder's own metric
(top-1 agreement, Dice between masks, probability difference, heatmap detection agreement; ``gates.py``). The
INT8 version is built in a temporary directory and renamed into the repository only after the gate passes; a
failure raises ``QuantizationGateError`` and leaves the repository untouched.

NNCF is imported only here (``pip install nncf``): serving and the FP32 build do not need it.
"""

from __future__ import annotations

import copy
import shutil
import time
from pathlib import Path

import numpy as np
import openvino as ov

from model_repository import build_models
from model_repository.builders import bone_age
from model_repository.cards import file_checksums, read_card

GATE_THRESHOLD_MONTHS = 0.5
CALIBRATION_IMAGES = 32
HELDOUT_IMAGES = 24
# Seed offsets from the build seed. The FP32 build uses seed+1 (backbone) and seed+2 (head calibration);
# the INT8 calibration and the held-out set use their own streams, so no image is in two sets.
CALIBRATION_SEED_OFFSET = 101
HELDOUT_SEED_OFFSET = 202
# The real pediatric hand radiograph of the shared data set (outside the checkout: optional).
HAND_DX = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom" / "hand" / "hand_dx_left_pa_f.dcm"
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


class QuantizationGateError(RuntimeError):
    """The INT8 model is not close enough to its FP32 base; ``metrics`` holds the gate figures."""

    def __init__(self, message: str, metrics: dict):
        super().__init__(message)
        self.metrics = metrics


def calibration_set(seed: int = build_models.DEFAULT_SEED, count: int = CALIBRATION_IMAGES) -> np.ndarray:
    """Deterministic INT8 calibration images, [count, 1, 512, 512] float32 in [0, 1]."""
    return bone_age.synthetic_radiographs(np.random.default_rng(seed + CALIBRATION_SEED_OFFSET), count)


def heldout_set(seed: int = build_models.DEFAULT_SEED, count: int = HELDOUT_IMAGES,
                include_real_hand: bool = True) -> np.ndarray:
    """Deterministic held-out images (disjoint from calibration), plus the real hand radiograph if present."""
    images = bone_age.synthetic_radiographs(np.random.default_rng(seed + HELDOUT_SEED_OFFSET), count)
    if include_real_hand and HAND_DX.is_file():
        try:
            from studies.imaging import parse_upload, preprocess_bone_age
        except ImportError:  # platform/ not on sys.path: the synthetic set alone
            return images
        hand = preprocess_bone_age(parse_upload(HAND_DX.read_bytes()).pixels)
        images = np.concatenate([images, hand.astype(np.float32)])
    return images


def _inputs(image: np.ndarray, sex: float) -> dict[str, np.ndarray]:
    return {bone_age.INPUT_IMAGE: np.ascontiguousarray(image[None] if image.ndim == 3 else image),
            bone_age.INPUT_SEX: np.array([[sex]], np.float32)}


def _predict(compiled: ov.CompiledModel, images: np.ndarray) -> np.ndarray:
    """Months for every image at both sexes: [female..., male...]."""
    request = compiled.create_infer_request()
    out = []
    for sex in (0.0, 1.0):
        for image in images:
            out.append(float(request.infer(_inputs(image[None], sex))[0][0, 0]))
    return np.array(out)


def _metrics(reference: np.ndarray, candidate: np.ndarray, threshold: float) -> dict:
    diff = np.abs(candidate - reference)
    return {"mad_months": round(float(diff.mean()), 4), "max_abs_months": round(float(diff.max()), 4),
            "p95_abs_months": round(float(np.percentile(diff, 95)), 4), "n_heldout": int(diff.size),
            "threshold_months": threshold, "passed": bool(diff.mean() < threshold)}


def evaluate_gate(fp32_xml: Path, int8_model: ov.Model | Path, heldout: np.ndarray, threshold_months: float,
                  core: ov.Core | None = None) -> dict:
    """Gate figures of INT8 against FP32 over ``heldout`` images at both sexes.

    FP32 runs with ``INFERENCE_PRECISION_HINT`` f32 (the reference). INT8 is measured twice: compiled with the
    CPU plugin's defaults (bf16 for its non-quantized ops on CPUs that have it) and with the served plugin
    config (f32 hint); the gate figures are the worse of the two, so it holds however the model server is set up.
    """
    core = core or ov.Core()
    reference = _predict(core.compile_model(str(fp32_xml), "CPU", F32), heldout)
    int8 = int8_model if isinstance(int8_model, ov.Model) else str(int8_model)
    default = _metrics(reference, _predict(core.compile_model(int8, "CPU"), heldout), threshold_months)
    served = _metrics(reference, _predict(core.compile_model(int8, "CPU", F32), heldout), threshold_months)
    worst = default if default["mad_months"] >= served["mad_months"] else served
    return {**worst, "int8_default_compile": default, "int8_f32_hint": served,
            "reference": "FP32 base with INFERENCE_PRECISION_HINT f32",
            "heldout": f"{len(heldout)} images (synthetic radiographs disjoint from calibration"
                       + (", plus the real hand radiograph" if len(heldout) > HELDOUT_IMAGES else "") + ") x 2 sexes"}


def quantize_model(fp32_xml: Path, calibration: np.ndarray):
    """NNCF post-training quantization of the FP32 IR at ``fp32_xml``; returns (INT8 ov.Model, settings dict).

    Preset MIXED (symmetric weights, asymmetric activations: ReLU outputs and the letterboxed image are
    non-negative); the MLP head's MatMuls stay in floating point (a few thousand MACs, and the place where the
    standardised features are amplified). Calibration items alternate sex; subset_size = calibration set size.
    """
    import nncf

    model = ov.Core().read_model(str(fp32_xml))
    items = [_inputs(calibration[i:i + 1], float(i % 2)) for i in range(len(calibration))]
    settings = {
        "tool": f"nncf {nncf.__version__} quantize (post-training, min-max ranges + fast bias correction)",
        "preset": "MIXED",
        "model_type": None,
        "subset_size": len(items),
        "ignored_scope": {"types": ["MatMul"]},
        "activations_range_estimator": "MINMAX (min / max over all calibration images)",
    }
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    # Activation ranges: the min / max over the whole calibration set. NNCF's default (the mean of per-image
    # minima / maxima) clips every image brighter or more contrasted than the average calibration image.
    advanced = AdvancedQuantizationParameters(activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
    quantized = nncf.quantize(model, nncf.Dataset(items), preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(items), ignored_scope=nncf.IgnoredScope(types=["MatMul"]),
                              advanced_parameters=advanced)
    return quantized, settings


def _checked_fp32_base(fp32_version_dir, version) -> tuple[Path, dict]:
    """The FP32 version an INT8 build starts from, checked: a positive target version, files matching the base's
    card, and an FP32 card. Returns (directory, card); raises ValueError otherwise."""
    from model_repository.cards import verify_version_files

    if not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    fp32_version_dir = Path(fp32_version_dir)
    problems = verify_version_files(fp32_version_dir)
    if problems:
        raise ValueError("FP32 base does not match its model card: " + "; ".join(problems))
    base_card = read_card(fp32_version_dir)
    if base_card.get("precision") != "FP32":
        raise ValueError(f"{fp32_version_dir} is not an FP32 version (precision {base_card.get('precision')!r})")
    return fp32_version_dir, base_card


def _write_int8_version(quantized, output_dir, name: str, version: int, base_card: dict, gate: dict,
                        update_config: bool, *, quantization: dict) -> Path:
    """Save a gated INT8 model as `<output_dir>/<name>/<version>` with its card (the FP32 base's, updated),
    staged and moved into place atomically; refresh config.json when asked. Returns the version directory."""
    output_dir = Path(output_dir)
    staged = build_models.staging_dir(output_dir, name, version)
    try:
        quantized.set_rt_info("demo, not for diagnostic use", ["model_info", "intended_use"])
        ov.save_model(quantized, staged / "model.xml", compress_to_fp16=False)
        card = copy.deepcopy(base_card)
        card.update({
            "version": version,
            "precision": "INT8",
            "base_fp32_version": base_card["version"],
            "base_fp32_files": base_card["files"],
            "quantization": quantization,
            "gate": gate,
            "files": file_checksums(staged),
        })
        card["build"] = {**base_card.get("build", {}), "builder": "model_repository.quantize",
                         "openvino_version": ov.get_version(), "built_at_unix": int(time.time())}
        build_models._atomic_write_json(staged / "model_card.json", card)
        version_dir = build_models.move_into_place(staged, output_dir / name / str(version))
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    if update_config:
        build_models.write_config(output_dir)
    return version_dir


def build_bone_age_int8(fp32_version_dir: Path, output_dir: Path, version: int = 2,
                        calibration_set: np.ndarray | None = None, heldout_set: np.ndarray | None = None, *,
                        threshold_months: float = GATE_THRESHOLD_MONTHS, seed: int = build_models.DEFAULT_SEED,
                        update_config: bool = False) -> Path:
    """Quantize the FP32 version in ``fp32_version_dir`` to INT8 as ``output_dir/bone_age/<version>``, gated.

    ``calibration_set`` / ``heldout_set``: [N, 1, 512, 512] float32 images (defaults: ``calibration_set()`` and
    ``heldout_set()`` of this module, disjoint). The gate: mean |INT8 - FP32| in months over the held-out set at
    both sexes < ``threshold_months``. Returns the version directory (model.xml, model.bin, model_card.json with
    the gate figures). Raises QuantizationGateError when the gate fails (nothing is written to ``output_dir``),
    ValueError for a bad version or a base that fails its own card check.
    """
    fp32_version_dir, base_card = _checked_fp32_base(fp32_version_dir, version)
    calibration = calibration_set if calibration_set is not None else globals()["calibration_set"](seed)
    heldout = heldout_set if heldout_set is not None else globals()["heldout_set"](seed)

    started = time.perf_counter()
    quantized, settings = quantize_model(fp32_version_dir / "model.xml", calibration)
    quantize_s = time.perf_counter() - started
    gate = evaluate_gate(fp32_version_dir / "model.xml", quantized, heldout, threshold_months)
    if not gate["passed"]:
        raise QuantizationGateError(
            f"INT8 accuracy gate failed for {build_models.MODEL_NAME} version {version} (base "
            f"{fp32_version_dir}): mean |INT8 - FP32| = {gate['mad_months']:.3f} months >= threshold "
            f"{threshold_months} (max {gate['max_abs_months']:.3f}, p95 {gate['p95_abs_months']:.3f}, "
            f"n={gate['n_heldout']}); nothing was written to {output_dir}", gate)

    return _write_int8_version(
        quantized, output_dir, build_models.MODEL_NAME, version, base_card, gate, update_config,
        quantization={**settings, "calibration_images": int(len(calibration)),
                      "calibration": "synthetic letterboxed hand radiographs (seeded, disjoint from the held-out "
                                     "set), alternating sex",
                      "seconds": round(quantize_s, 2)})


# --- The catalogue models (everything but bone_age) ------------------------------------------------------------

# INT8 calibration and gate held-out requests per model (seeded synthetic phantoms, disjoint streams).
CATALOGUE_CALIBRATION_ITEMS = 12
CATALOGUE_HELDOUT_ITEMS = 12


def catalogue_calibration_items(name: str, seed: int = build_models.DEFAULT_SEED,
                                count: int = CATALOGUE_CALIBRATION_ITEMS) -> list[dict[str, np.ndarray]]:
    """Deterministic INT8 calibration requests of catalogue model ``name`` (``synthetic_inputs`` of its builder)."""
    from model_repository import catalogue

    return catalogue.builder(name).synthetic_inputs(np.random.default_rng(seed + CALIBRATION_SEED_OFFSET), count)


def catalogue_heldout_items(name: str, seed: int = build_models.DEFAULT_SEED,
                            count: int = CATALOGUE_HELDOUT_ITEMS) -> list[dict[str, np.ndarray]]:
    """Deterministic held-out requests of catalogue model ``name`` (a seed stream disjoint from calibration)."""
    from model_repository import catalogue

    return catalogue.builder(name).synthetic_inputs(np.random.default_rng(seed + HELDOUT_SEED_OFFSET), count)


def _run_items(compiled: ov.CompiledModel, items: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    request = compiled.create_infer_request()
    outputs = []
    for item in items:
        result = request.infer(item)
        outputs.append({port.get_any_name(): np.array(value) for port, value in result.items()})
    return outputs


def evaluate_catalogue_gate(name: str, fp32_xml: Path, int8_model: ov.Model | Path,
                            heldout: list[dict[str, np.ndarray]], core: ov.Core | None = None) -> dict:
    """Gate figures of INT8 against FP32 for catalogue model ``name`` over ``heldout`` requests.

    The metric is the builder's ``gate_metrics`` (top-1 agreement, Dice, probability difference or peak
    agreement). FP32 runs with the f32 precision hint (the reference); INT8 with the CPU plugin's defaults and
    with the served f32 hint: the figures reported are the served ones, and the gate passes only if both pass.
    """
    from model_repository import catalogue

    module = catalogue.builder(name)
    core = core or ov.Core()
    reference = _run_items(core.compile_model(str(fp32_xml), "CPU", F32), heldout)
    int8 = int8_model if isinstance(int8_model, ov.Model) else str(int8_model)
    default = module.gate_metrics(reference, _run_items(core.compile_model(int8, "CPU"), heldout))
    served = module.gate_metrics(reference, _run_items(core.compile_model(int8, "CPU", F32), heldout))
    return {**served, "passed": bool(served["passed"] and default["passed"]), "int8_default_compile": default,
            "reference": "FP32 base with INFERENCE_PRECISION_HINT f32",
            "heldout": f"{len(heldout)} seeded synthetic requests (disjoint from calibration)"}


def quantize_catalogue_model(fp32_xml: Path, items: list[dict[str, np.ndarray]]):
    """NNCF post-training quantization of a catalogue FP32 IR; returns (INT8 ov.Model, settings dict).

    Preset MIXED (symmetric weights, asymmetric activations); fully connected MatMuls stay in floating point (the
    heads: a few thousand MACs, and where the pooled fractions are compared); activation ranges min/max over the
    whole calibration set, as for bone_age.
    """
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    model = ov.Core().read_model(str(fp32_xml))
    advanced = AdvancedQuantizationParameters(activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
    quantized = nncf.quantize(model, nncf.Dataset(items), preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(items), ignored_scope=nncf.IgnoredScope(types=["MatMul"], validate=False),
                              advanced_parameters=advanced)
    settings = {
        "tool": f"nncf {nncf.__version__} quantize (post-training, min-max ranges + fast bias correction)",
        "preset": "MIXED",
        "subset_size": len(items),
        "ignored_scope": {"types": ["MatMul"]},
        "activations_range_estimator": "MINMAX (min / max over all calibration requests)",
    }
    return quantized, settings


def build_int8(name: str, fp32_version_dir: Path, output_dir: Path, version: int = 2,
               calibration_items: list[dict[str, np.ndarray]] | None = None,
               heldout_items: list[dict[str, np.ndarray]] | None = None, *,
               seed: int = build_models.DEFAULT_SEED, update_config: bool = False) -> Path:
    """Quantize catalogue model ``name``'s FP32 version to INT8 as ``output_dir/<name>/<version>``, gated.

    bone_age goes to ``build_bone_age_int8``. Otherwise: calibration and held-out requests default to the
    builder's seeded phantoms (disjoint streams); the gate is the builder's metric (``evaluate_catalogue_gate``).
    Returns the version directory (model.xml, model.bin, model_card.json with quantization settings and gate
    figures). Raises QuantizationGateError when the gate fails (nothing is written), ValueError for a bad
    version or a base that fails its own card check.
    """
    from model_repository import catalogue

    if name == catalogue.BONE_AGE:
        return build_bone_age_int8(fp32_version_dir, output_dir, version, seed=seed, update_config=update_config)
    fp32_version_dir, base_card = _checked_fp32_base(fp32_version_dir, version)
    calibration = calibration_items if calibration_items is not None else catalogue_calibration_items(name, seed)
    heldout = heldout_items if heldout_items is not None else catalogue_heldout_items(name, seed)

    started = time.perf_counter()
    quantized, settings = quantize_catalogue_model(fp32_version_dir / "model.xml", calibration)
    quantize_s = time.perf_counter() - started
    gate = evaluate_catalogue_gate(name, fp32_version_dir / "model.xml", quantized, heldout)
    if not gate["passed"]:
        raise QuantizationGateError(
            f"INT8 accuracy gate failed for {name} version {version} (base {fp32_version_dir}): {gate['metric']} "
            f"{ {k: v for k, v in gate.items() if isinstance(v, (int, float))} }; nothing was written to "
            f"{output_dir}", gate)

    return _write_int8_version(
        quantized, output_dir, name, version, base_card, gate, update_config,
        quantization={**settings, "calibration_items": int(len(calibration)),
                      "calibration": "seeded synthetic phantoms (disjoint from the held-out set)",
                      "seconds": round(quantize_s, 2)})
