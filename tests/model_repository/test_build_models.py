"""The bone-age model build: IR layout, model card, config.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from model_repository.build_models import build_bone_age, write_config
from tests.fixtures_modelserver import small_model_repository  # noqa: F401

# The real pediatric hand radiograph of the shared data set (outside the checkout: optional).
HAND_DX = Path(__file__).resolve().parents[3] / "shared" / "data" / "dicom" / "hand" / "hand_dx_left_pa_f.dcm"
MAX_MONTHS = 228.0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_writes_ir_in_ovms_layout(small_model_repository):
    version_dir = small_model_repository / "bone_age" / "1"
    assert (version_dir / "model.xml").is_file() and (version_dir / "model.bin").is_file()
    model = ov.Core().read_model(version_dir / "model.xml")
    assert {p.get_any_name(): list(p.get_shape()) for p in model.inputs} == {
        "image": [1, 1, 512, 512], "sex": [1, 1]}
    assert [(p.get_any_name(), list(p.get_shape())) for p in model.outputs] == [
        ("bone_age_months", [1, 1]), ("attention_map", [1, 1, 16, 16])]
    assert all(p.get_element_type() == ov.Type.f32 for p in [*model.inputs, *model.outputs])
    # FP32 weights (compress_to_fp16=False): no f16 constants in the IR.
    assert 'element_type="f16"' not in (version_dir / "model.xml").read_text()


def test_model_card_has_required_fields_and_correct_hashes(small_model_repository):
    version_dir = small_model_repository / "bone_age" / "1"
    card = json.loads((version_dir / "model_card.json").read_text())
    assert card["name"] == "bone_age" and card["version"] == 1 and card["variant"] == "small"
    assert card["task"] == "pediatric bone age regression"
    assert card["modality"] == "DX/CR left hand PA radiograph"
    assert card["precision"] == "FP32" and card["demo"] is True
    assert "demo, not for diagnostic use" in card["intended_use"]
    assert [i["name"] for i in card["inputs"]] == ["image", "sex"]
    assert card["outputs"][0]["name"] == "bone_age_months" and card["outputs"][0]["units"] == "months"
    prep = json.dumps(card["inputs"][0]["preprocessing"])
    for word in ("grayscale", "MONOCHROME2", "window", "letterbox", "512x512", "[0, 1]"):
        assert word in prep
    assert card["files"]["model.xml"]["sha256"] == _sha256(version_dir / "model.xml")
    assert card["files"]["model.bin"]["sha256"] == _sha256(version_dir / "model.bin")
    assert isinstance(card["build"]["seed"], int)


def test_config_json_is_ovms_format_with_relative_base_path(small_model_repository):
    from model_repository.catalogue import MODEL_NAMES

    config = json.loads((small_model_repository / "config.json").read_text())
    assert config == {"model_config_list": [{"config": {
        "name": name,
        "base_path": name,
        "model_version_policy": {"specific": {"versions": [1, 2]}},
        "plugin_config": {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_PRECISION_HINT": "f32"},
    }} for name in MODEL_NAMES]}


def test_write_config_keeps_other_models(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"model_config_list": [{"config": {"name": "other", "base_path": "other"}}]}))
    write_config(tmp_path)
    write_config(tmp_path)
    names = [e["config"]["name"] for e in json.loads((tmp_path / "config.json").read_text())["model_config_list"]]
    assert names == ["other", "bone_age"]


def test_build_is_deterministic_and_output_in_range(tmp_path, small_model_repository):
    from model_repository.builders.bone_age import synthetic_calibration_images

    build_bone_age(tmp_path, version=2, variant="small")
    a = small_model_repository / "bone_age" / "1" / "model.xml"
    b = tmp_path / "bone_age" / "2" / "model.xml"
    compiled_a = ov.Core().compile_model(a, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    compiled_b = ov.Core().compile_model(b, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    images = synthetic_calibration_images(np.random.default_rng(7), count=4)
    outs = []
    for i in range(4):
        inputs = {"image": images[i:i + 1], "sex": np.array([[i % 2]], np.float32)}
        ya, yb = compiled_a(inputs)[0], compiled_b(inputs)[0]
        np.testing.assert_allclose(ya, yb, rtol=1e-5, atol=1e-4)
        outs.append(float(ya[0, 0]))
    assert all(0.0 <= o <= 228.0 for o in outs)
    assert len({round(o, 3) for o in outs}) > 1, "output must vary with the image"
    # Same seed, same weights, bit for bit.
    assert _sha256(b.with_suffix(".bin")) == _sha256(a.with_suffix(".bin"))


def test_invalid_version_or_variant_is_rejected(tmp_path):
    import pytest

    with pytest.raises(ValueError):
        build_bone_age(tmp_path, version=0, variant="small")
    with pytest.raises(ValueError):
        build_bone_age(tmp_path, version=1, variant="huge")


# --- calibration: demo outputs land mid-range and vary with the image -------------------------------------------


@pytest.fixture(scope="module")
def full_model_repository(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("model_repository_full")
    build_bone_age(root, version=1, variant="full")
    return root


@pytest.fixture(params=["small", "full"])
def compiled_bone_age(request, small_model_repository):
    repo = small_model_repository if request.param == "small" else request.getfixturevalue("full_model_repository")
    xml = repo / "bone_age" / "1" / "model.xml"
    return ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def _months(compiled, image: np.ndarray, sex: float) -> float:
    return float(compiled({"image": image, "sex": np.array([[sex]], np.float32)})[0][0, 0])


def test_model_card_records_head_calibration(small_model_repository):
    card = json.loads((small_model_repository / "bone_age" / "1" / "model_card.json").read_text())
    calibration = card["calibration"]
    assert calibration["method"] and calibration["n_images"] >= 20
    assert abs(calibration["logit_mean"]) < 0.05
    assert abs(calibration["logit_std"] - 0.6) < 0.05
    low, high = calibration["months_range"]
    assert 1.0 < low < high < MAX_MONTHS - 1.0


@pytest.mark.slow
@pytest.mark.skipif(not HAND_DX.is_file(), reason=f"shared hand radiograph not present: {HAND_DX}")
def test_real_hand_radiograph_gives_plausible_bone_age(compiled_bone_age):
    from studies.imaging import parse_upload, preprocess_bone_age

    image = preprocess_bone_age(parse_upload(HAND_DX.read_bytes()).pixels)
    assert image.shape == (1, 1, 512, 512) and image.dtype == np.float32
    male, female = _months(compiled_bone_age, image, 1.0), _months(compiled_bone_age, image, 0.0)
    assert 24.0 < male < 216.0 and 24.0 < female < 216.0, (male, female)
    # Sex moves the answer by a few months (boys read older for the same image), not by years.
    assert 1.0 < male - female < 12.0, (male, female)


@pytest.mark.slow
def test_distinct_synthetic_images_give_spread_out_unsaturated_ages(compiled_bone_age):
    from model_repository.builders.bone_age import synthetic_calibration_images, synthetic_radiographs

    # Seeds the build does not calibrate on.
    images = np.concatenate([synthetic_radiographs(np.random.default_rng(4242), 12),
                             synthetic_calibration_images(np.random.default_rng(4243), 4)])
    months = np.array([_months(compiled_bone_age, images[i:i + 1], float(i % 2)) for i in range(len(images))])
    assert months.std() > 5.0, months
    assert np.all((months > 1.0) & (months < MAX_MONTHS - 1.0)), months


def test_fp32_output_is_stable_under_tiny_perturbations(small_model_repository):
    """Like a trained network's, the demo output follows large-scale image structure, not the last bit of a pixel:
    input noise of SD 0.001 and bf16 execution move it by well under the INT8 gate's 0.5 month."""
    from model_repository.builders.bone_age import synthetic_radiographs

    xml = small_model_repository / "bone_age" / "1" / "model.xml"
    f32 = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    images = synthetic_radiographs(np.random.default_rng(777), 6)
    noisy = images + np.random.default_rng(778).normal(0.0, 0.001, images.shape).astype(np.float32)
    ref = np.array([_months(f32, images[i:i + 1], float(i % 2)) for i in range(len(images))])
    moved = np.array([_months(f32, noisy[i:i + 1], float(i % 2)) for i in range(len(images))])
    assert np.abs(moved - ref).mean() < 0.1, (ref, moved)
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        bf16 = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
        low = np.array([_months(bf16, images[i:i + 1], float(i % 2)) for i in range(len(images))])
        assert np.abs(low - ref).mean() < 0.2, (ref, low)
