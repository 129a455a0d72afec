"""INT8 build behind the accuracy gate, model cards and their check, and the model server refusing tampered files."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import openvino as ov
import ovmsclient
import pytest
import tritonclient.grpc as kserve

from model_repository import build_models, quantize
from model_repository.cards import verify_version_files
from modelserver import serve
from tests.fixtures_modelserver import bone_age_inputs, local_model_server, small_model_repository  # noqa: F401

MODEL = "bone_age"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_int8_card_reports_the_gate_precision_and_base(small_model_repository):
    card = json.loads((small_model_repository / MODEL / "2" / "model_card.json").read_text())
    assert card["precision"] == "INT8" and card["version"] == 2 and card["base_fp32_version"] == 1
    assert card["demo"] is True and "demo, not for diagnostic use" in card["intended_use"]
    gate = card["gate"]
    for key in ("mad_months", "max_abs_months", "p95_abs_months", "n_heldout", "threshold_months", "passed"):
        assert key in gate
    # The platform's real gate: the test repository is built with the default threshold, not a relaxed one.
    assert quantize.GATE_THRESHOLD_MONTHS == 0.5
    assert gate["passed"] is True and gate["mad_months"] < gate["threshold_months"] == quantize.GATE_THRESHOLD_MONTHS
    assert gate["max_abs_months"] >= gate["p95_abs_months"] >= 0 and gate["n_heldout"] >= 48
    assert card["quantization"]["subset_size"] == card["quantization"]["calibration_images"]
    assert verify_version_files(small_model_repository / MODEL / "2") == []
    # Quantized: the IR carries FakeQuantize layers; the FP32 one does not.
    assert "FakeQuantize" in (small_model_repository / MODEL / "2" / "model.xml").read_text()
    assert "FakeQuantize" not in (small_model_repository / MODEL / "1" / "model.xml").read_text()


def test_calibration_and_heldout_sets_are_deterministic_and_disjoint():
    a, b = quantize.calibration_set(count=3), quantize.calibration_set(count=3)
    h = quantize.heldout_set(count=3, include_real_hand=False)
    np.testing.assert_array_equal(a, b)
    assert not any(np.array_equal(x, y) for x in a for y in h)


def test_gate_failure_fails_loudly_and_leaves_the_repository_untouched(tmp_path, small_model_repository):
    repo = tmp_path / "repo"
    shutil.copytree(small_model_repository, repo)
    shutil.rmtree(repo / MODEL / "2")
    before = _tree(repo)
    with pytest.raises(quantize.QuantizationGateError, match="INT8 accuracy gate failed") as err:
        quantize.build_bone_age_int8(repo / MODEL / "1", repo, 2, quantize.calibration_set(count=4),
                                     quantize.heldout_set(count=2, include_real_hand=False), threshold_months=1e-6)
    assert err.value.metrics["passed"] is False and err.value.metrics["mad_months"] > 1e-6
    assert _tree(repo) == before
    assert sorted(p.name for p in (repo / MODEL).iterdir()) == ["1"]  # no staging directory left behind


def test_cli_exits_non_zero_on_gate_failure_and_writes_no_int8(tmp_path, small_model_repository, capsys):
    repo = tmp_path / "repo"
    shutil.copytree(small_model_repository, repo)
    shutil.rmtree(repo / MODEL / "2")
    config_before = (repo / "config.json").read_bytes()
    rc = build_models.main(["--variant", "small", "--output-dir", str(repo), "--only", "int8",
                            "--gate-threshold-months", "1e-6"])
    assert rc != 0 and "INT8 accuracy gate failed" in capsys.readouterr().err
    assert not (repo / MODEL / "2").exists() and (repo / "config.json").read_bytes() == config_before


def test_int8_build_of_the_small_variant_takes_seconds(tmp_path, small_model_repository):
    started = time.perf_counter()
    version_dir = quantize.build_bone_age_int8(small_model_repository / MODEL / "1", tmp_path, 2)
    assert time.perf_counter() - started < 30
    assert verify_version_files(version_dir) == []


def test_write_config_lists_exactly_the_versions_in_use(tmp_path):
    build_models.write_config(tmp_path, {MODEL: [2, 1, 2]}, plugin_config=build_models.plugin_config(streams=2))
    (entry,) = json.loads((tmp_path / "config.json").read_text())["model_config_list"]
    assert entry["config"]["model_version_policy"] == {"specific": {"versions": [1, 2]}}
    assert entry["config"]["plugin_config"]["NUM_STREAMS"] == "2"
    with pytest.raises(ValueError):
        build_models.write_config(tmp_path, {MODEL: []})


def test_verify_version_files_reports_tampering_and_missing_card(tmp_path, small_model_repository):
    version_dir = tmp_path / "2"
    shutil.copytree(small_model_repository / MODEL / "2", version_dir)
    assert verify_version_files(version_dir) == []
    with open(version_dir / "model.bin", "r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    (problem,) = verify_version_files(version_dir)
    assert "model.bin" in problem and "does not match the model card" in problem
    (version_dir / "model_card.json").unlink()
    assert "model card missing" in verify_version_files(version_dir)[0]
    assert verify_version_files(version_dir, require_card=False) == []


def test_model_server_refuses_a_tampered_version_and_serves_the_other(tmp_path, small_model_repository, caplog):
    repo = tmp_path / "repo"
    shutil.copytree(small_model_repository, repo)
    with open(repo / MODEL / "2" / "model.bin", "r+b") as fh:
        fh.seek(0, 2)
        fh.seek(fh.tell() // 2)
        fh.write(b"\x00\x01\x02\x03")
    with serve(repo / "config.json", port=0, bind_address="127.0.0.1") as handle:
        assert "version 2 REFUSED: files do not match the model card" in caplog.text
        ks = kserve.InferenceServerClient(handle.url)
        assert ks.is_model_ready(MODEL, "1")
        assert not ks.is_model_ready(MODEL, "2")
        tfs = ovmsclient.make_grpc_client(handle.url)
        assert tfs.get_model_status(MODEL, 1)[1]["state"] == "AVAILABLE"
        assert tfs.predict(bone_age_inputs(), MODEL, 1)["bone_age_months"].shape == (1, 1)
        with pytest.raises(ovmsclient.ModelNotFoundError):
            tfs.predict(bone_age_inputs(), MODEL, 2)
        ks.close()
        tfs.channel.close()


def test_model_server_refuses_a_version_without_card_unless_told_otherwise(tmp_path, small_model_repository):
    repo = tmp_path / "repo"
    shutil.copytree(small_model_repository, repo)
    (repo / MODEL / "2" / "model_card.json").unlink()
    for required, ready in ((True, False), (False, True)):
        with serve(repo / "config.json", port=0, bind_address="127.0.0.1", require_model_cards=required) as handle:
            ks = kserve.InferenceServerClient(handle.url)
            assert ks.is_model_ready(MODEL, "1") and ks.is_model_ready(MODEL, "2") is ready
            ks.close()


def test_int8_through_the_server_is_close_to_fp32(local_model_server):
    tfs = ovmsclient.make_grpc_client(local_model_server.url)
    ks = kserve.InferenceServerClient(local_model_server.url)
    try:
        diffs = []
        for seed in range(4):
            inputs = bone_age_inputs(seed=seed, sex=float(seed % 2))
            fp32 = tfs.predict(inputs, MODEL, 1)["bone_age_months"]
            int8 = tfs.predict(inputs, MODEL, 2)["bone_age_months"]
            tensors = []
            for name, array in inputs.items():
                t = kserve.InferInput(name, list(array.shape), "FP32")
                t.set_data_from_numpy(array)
                tensors.append(t)
            np.testing.assert_array_equal(ks.infer(MODEL, tensors, model_version="2").as_numpy("bone_age_months"),
                                          int8)
            assert 0.0 <= float(int8[0, 0]) <= 228.0
            diffs.append(abs(float(int8[0, 0]) - float(fp32[0, 0])))
        assert np.mean(diffs) < quantize.GATE_THRESHOLD_MONTHS
    finally:
        tfs.channel.close()
        ks.close()


def test_int8_version_runs_int8_kernels_under_the_f32_precision_hint(small_model_repository):
    compiled = ov.Core().compile_model(str(small_model_repository / MODEL / "2" / "model.xml"), "CPU",
                                       build_models.PLUGIN_CONFIG)
    precisions = {op.get_rt_info()["runtimePrecision"].astype(str) for op in compiled.get_runtime_model().get_ops()
                  if op.get_rt_info()["layerType"].astype(str) == "Convolution"}
    assert precisions & {"i8", "u8"}, precisions
