"""The catalogue models: the I/O contract of docs/catalogue.md, cards and gates, and outputs that follow content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from model_repository.builders import phantoms
from model_repository.cards import verify_version_files
from model_repository.catalogue import BUILDERS, MODEL_NAMES
from model_repository.gates import dice, heatmap_peaks
from tests.fixtures_modelserver import small_model_repository  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
# docs/catalogue.md, "Model inputs and outputs" (-1: dynamic batch).
CONTRACT = {
    "bone_age": ({"image": [1, 1, 512, 512], "sex": [1, 1]},
                 {"bone_age_months": [1, 1], "attention_map": [1, 1, 16, 16]}),
    "ct_anatomy": ({"slices": [-1, 1, 256, 256]}, {"region_logits": [-1, 6]}),
    "lung_segmentation": ({"slices": [-1, 1, 256, 256]}, {"lung_logits": [-1, 1, 256, 256]}),
    "nodule_candidates": ({"slices": [-1, 2, 256, 256]}, {"candidate_heatmap": [-1, 1, 64, 64]}),
    "nodule_fp_reduction": ({"patches": [-1, 1, 32, 32, 32]}, {"nodule_probability": [-1, 1]}),
    "cardiac_segmentation": ({"image": [-1, 1, 192, 192]}, {"mask_logits": [-1, 4, 192, 192]}),
    "mammography_detection": ({"image": [1, 1, 1024, 832]},
                              {"heatmap": [1, 1, 128, 104], "box_size": [1, 2, 128, 104]}),
}
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def _shape(port) -> list[int]:
    return [d.get_length() if d.is_static else -1 for d in port.get_partial_shape()]


@pytest.fixture(scope="module")
def compiled(small_model_repository):
    core = ov.Core()
    return {name: core.compile_model(str(small_model_repository / name / "1" / "model.xml"), "CPU", F32)
            for name in BUILDERS}


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("version", [1, 2])
def test_every_version_matches_the_catalogue_contract(small_model_repository, name, version):
    model = ov.Core().read_model(small_model_repository / name / str(version) / "model.xml")
    inputs, outputs = CONTRACT[name]
    assert {p.get_any_name(): _shape(p) for p in model.inputs} == inputs
    assert {p.get_any_name(): _shape(p) for p in model.outputs} == outputs
    assert all(p.get_element_type() == ov.Type.f32 for p in [*model.inputs, *model.outputs])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_has_cards_with_checksums_and_a_passed_int8_gate(small_model_repository, name):
    fp32 = json.loads((small_model_repository / name / "1" / "model_card.json").read_text())
    int8 = json.loads((small_model_repository / name / "2" / "model_card.json").read_text())
    assert fp32["precision"] == "FP32" and int8["precision"] == "INT8" and int8["base_fp32_version"] == 1
    for card in (fp32, int8):
        assert card["name"] == name and card["demo"] is True and card["variant"] == "small"
        assert "demo, not for diagnostic use" in card["intended_use"]
    assert int8["base_fp32_files"] == fp32["files"]
    assert int8["gate"]["passed"] is True
    for version in ("1", "2"):
        assert verify_version_files(small_model_repository / name / version) == []
    assert "FakeQuantize" in (small_model_repository / name / "2" / "model.xml").read_text()
    assert "FakeQuantize" not in (small_model_repository / name / "1" / "model.xml").read_text()
    if name != "bone_age":
        assert "not trained" in fp32["weights"] and fp32["gate_metric"] and int8["gate"]["threshold"]


def test_committed_config_and_dev_rollout_serve_every_model_at_int8():
    config = json.loads((REPO / "model_repository" / "config.json").read_text())
    entries = {e["config"]["name"]: e["config"] for e in config["model_config_list"]}
    assert list(entries) == list(MODEL_NAMES)
    assert all(e["model_version_policy"] == {"specific": {"versions": [1, 2]}} and e["base_path"] == n
               for n, e in entries.items())
    rollout = json.loads((REPO / "model_repository" / "rollout.dev.json").read_text())["models"]
    assert {n: r["active"] for n, r in rollout.items()} == {n: 2 for n in MODEL_NAMES}
    assert all((REPO / "model_repository" / n / "MODEL_CARD.md").is_file() for n in MODEL_NAMES)


def _constants(model: ov.Model) -> list[bytes]:
    return [op.get_data().tobytes() for op in model.get_ordered_ops() if op.get_type_name() == "Constant"]


def test_builds_are_deterministic_for_a_seed_and_differ_between_seeds():
    for name, module in BUILDERS.items():
        assert _constants(module.make_model("small", seed=5)) == _constants(module.make_model("small", seed=5)), name
        assert _constants(module.make_model("small", seed=5)) != _constants(module.make_model("small", seed=6)), name


def test_a_catalogue_int8_that_fails_its_gate_is_not_written(tmp_path, small_model_repository, monkeypatch):
    from model_repository import quantize
    from model_repository.builders import nodule_fp_reduction

    shutil.copytree(small_model_repository / "nodule_fp_reduction" / "1", tmp_path / "nodule_fp_reduction" / "1")
    monkeypatch.setattr(nodule_fp_reduction, "GATE_MAX_DIFF", -1.0)  # no INT8 can be that close
    with pytest.raises(quantize.QuantizationGateError, match="INT8 accuracy gate failed for nodule_fp_reduction"):
        quantize.build_int8("nodule_fp_reduction", tmp_path / "nodule_fp_reduction" / "1", tmp_path, 2,
                            quantize.catalogue_calibration_items("nodule_fp_reduction", count=3),
                            quantize.catalogue_heldout_items("nodule_fp_reduction", count=3))
    assert sorted(p.name for p in (tmp_path / "nodule_fp_reduction").iterdir()) == ["1"]


def test_cli_builds_the_named_models_and_lists_them_in_config(tmp_path):
    from model_repository import build_models

    assert build_models.main(["--variant", "small", "--models", "nodule_fp_reduction", "--output-dir",
                              str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "nodule_fp_reduction"]
    (entry,) = json.loads((tmp_path / "config.json").read_text())["model_config_list"]
    assert entry["config"]["name"] == "nodule_fp_reduction"
    assert entry["config"]["model_version_policy"] == {"specific": {"versions": [1, 2]}}


def test_lung_segmentation_marks_air_density_inside_the_body(compiled):
    ct = phantoms.chest_ct(np.random.default_rng(1), slices=4)
    lung = compiled["lung_segmentation"]({0: ct.volume[:, None]})[0][:, 0] > 0
    assert dice(lung, ct.lung_mask) > 0.9
    others = phantoms.ct_slices(np.random.default_rng(2), 6)[0]  # head .. lower limbs: no lung but the chest
    fractions = (compiled["lung_segmentation"]({0: others})[0][:, 0] > 0).mean(axis=(1, 2))
    assert fractions[2] > 0.1 and np.delete(fractions, 2).max() < 0.01


def test_nodule_candidates_fire_on_compact_bright_blobs_inside_the_lung(compiled):
    ct = phantoms.chest_ct(np.random.default_rng(3), slices=16, n_nodules=2)
    for (z, y, x), _ in ct.nodules:
        z = int(round(z))
        slices = np.stack([ct.volume[z], ct.lung_mask[z].astype(np.float32)])[None]
        heat = compiled["nodule_candidates"]({0: slices})[0][0, 0]
        assert heat[int(y) // 4, int(x) // 4] > 0.9
        assert (heat > 0.5).mean() < 0.02  # a few cells, not the lung
    empty = np.stack([ct.volume[0] * 0 - 0.85, np.ones((256, 256), np.float32)])[None]  # plain lung
    assert compiled["nodule_candidates"]({0: empty})[0].max() < 0.1


def test_fp_reduction_scores_spheres_high_and_tubes_low(compiled):
    cubes, labels = phantoms.nodule_cubes(np.random.default_rng(4), 24)
    p = compiled["nodule_fp_reduction"]({0: cubes})[0][:, 0]
    assert p[labels == 1].min() > 0.8
    assert np.median(p[labels == 0]) < 0.1 and p[labels == 0].mean() < 0.3


def test_cardiac_segmentation_marks_the_pool_as_lv_with_a_myocardial_ring(compiled):
    scores = []
    for seed, radius in enumerate((12, 16, 20)):
        image, truth = phantoms.cardiac_mr(np.random.default_rng(10 + seed), lv_radius=radius)
        pred = compiled["cardiac_segmentation"]({0: image[None, None]})[0][0].argmax(0)
        scores.append([dice(pred == k, truth == k) for k in (1, 2, 3)])
    scores = np.array(scores)
    assert scores[:, 0].min() > 0.85 and scores[:, 1].min() > 0.6 and scores[:, 2].mean() > 0.4


def test_mammography_detection_fires_on_compact_dense_blobs(compiled):
    hits = 0
    for seed in range(3):
        image, boxes = phantoms.mammogram(np.random.default_rng(20 + seed), n_lesions=2)
        result = compiled["mammography_detection"]({0: image[None, None]})
        heat = result["heatmap"][0, 0]
        peaks = heatmap_peaks(heat)
        for x0, y0, x1, y1 in boxes:
            cy, cx = (y0 + y1) / 16, (x0 + x1) / 16
            hits += any(abs(r - cy) <= 3 and abs(c - cx) <= 3 for r, c in peaks)
        assert result["box_size"].min() >= 0
    assert hits >= 5  # of 6 lesions


def test_ct_anatomy_region_follows_content(compiled):
    images, labels = phantoms.ct_slices(np.random.default_rng(30), 24)
    logits = compiled["ct_anatomy"]({0: images})[0]
    assert np.mean(logits.argmax(1) == labels) >= 0.9
    chest = phantoms.chest_ct(np.random.default_rng(31), slices=3).volume[:, None]
    assert set(compiled["ct_anatomy"]({0: chest})[0].argmax(1)) == {phantoms.CT_REGIONS.index("chest")}


def test_bone_age_attention_map_is_a_unit_range_map_over_the_hand(small_model_repository):
    from model_repository.builders.bone_age import synthetic_radiographs

    compiled = ov.Core().compile_model(str(small_model_repository / "bone_age" / "1" / "model.xml"), "CPU", F32)
    image = synthetic_radiographs(np.random.default_rng(40), 1)
    attention = compiled({"image": image, "sex": np.array([[1.0]], np.float32)})["attention_map"]
    assert attention.shape == (1, 1, 16, 16) and attention.min() == 0.0 and 0.99 < attention.max() <= 1.0
    coarse = image[0, 0].reshape(16, 32, 16, 32).mean(axis=(1, 3))
    assert np.corrcoef(coarse.ravel(), attention.ravel())[0, 1] > 0.2


def _cube(volume: np.ndarray, centre, size: int = 32) -> np.ndarray:
    """A size^3 cube of ``volume`` centred on ``centre`` (z, y, x), padded with -1 (air) outside it."""
    padded = np.pad(volume, size, constant_values=-1.0)
    z, y, x = (int(round(c)) + size - size // 2 for c in centre)
    return padded[z:z + size, y:y + size, x:x + size]


def test_the_three_lung_nodule_stages_find_the_phantoms_nodules_and_drop_vessels(compiled):
    from model_repository.builders.nodule_candidates import lung_probability

    ct = phantoms.chest_ct(np.random.default_rng(50), slices=40, n_nodules=2, n_vessels=6)
    lung = lung_probability(compiled["lung_segmentation"]({0: ct.volume[:, None]})[0][:, 0])
    heat = compiled["nodule_candidates"]({0: np.stack([ct.volume, lung], axis=1)})[0][:, 0]
    candidates = []
    for z in range(len(heat)):
        for r, c in heatmap_peaks(heat[z], 0.5):
            candidates.append((z, 4 * r + 2, 4 * c + 2))
    cubes = np.stack([_cube(ct.volume, c) for c in candidates])[:, None]
    probability = compiled["nodule_fp_reduction"]({0: cubes})[0][:, 0]
    kept = [c for c, p in zip(candidates, probability) if p >= 0.5]
    for (z, y, x), radius in ct.nodules:
        assert any(abs(k[0] - z) <= radius and np.hypot(k[1] - y, k[2] - x) <= radius + 4 for k in kept)
    # Most candidates are vessel cross-sections; the 3-D stage drops most of them.
    assert len(kept) < 0.5 * len(candidates)
