"""The bone-age model build: IR layout, model card, config.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import openvino as ov

from model_repository.build_models import build_bone_age, write_config
from tests.fixtures_modelserver import small_model_repository  # noqa: F401


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_writes_ir_in_ovms_layout(small_model_repository):
    version_dir = small_model_repository / "bone_age" / "1"
    assert (version_dir / "model.xml").is_file() and (version_dir / "model.bin").is_file()
    model = ov.Core().read_model(version_dir / "model.xml")
    assert {p.get_any_name(): list(p.get_shape()) for p in model.inputs} == {
        "image": [1, 1, 512, 512], "sex": [1, 1]}
    assert [(p.get_any_name(), list(p.get_shape())) for p in model.outputs] == [("bone_age_months", [1, 1])]
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
    config = json.loads((small_model_repository / "config.json").read_text())
    assert config == {"model_config_list": [{"config": {
        "name": "bone_age",
        "base_path": "bone_age",
        "model_version_policy": {"latest": {"num_versions": 1}},
        "plugin_config": {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"},
    }}]}


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


def test_invalid_version_or_variant_is_rejected(tmp_path):
    import pytest

    with pytest.raises(ValueError):
        build_bone_age(tmp_path, version=0, variant="small")
    with pytest.raises(ValueError):
        build_bone_age(tmp_path, version=1, variant="huge")
