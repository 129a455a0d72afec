"""The local model server against the unmodified ovmsclient (TFS API) and tritonclient (KServe API)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import openvino as ov
import ovmsclient
import pytest
import tritonclient.grpc as kserve
from tritonclient.utils import InferenceServerException

from modelserver import serve
from tests.fixtures_modelserver import bone_age_inputs, local_model_server, small_model_repository  # noqa: F401

MODEL = "bone_age"
OUTPUT = "bone_age_months"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tfs(local_model_server):
    client = ovmsclient.make_grpc_client(local_model_server.url)
    yield client
    client.channel.close()


@pytest.fixture(scope="module")
def ks(local_model_server):
    client = kserve.InferenceServerClient(local_model_server.url)
    yield client
    client.close()


def _raw_openvino(repo: Path, inputs: dict[str, np.ndarray], version: int = 1) -> np.ndarray:
    compiled = ov.Core().compile_model(str(repo / MODEL / str(version) / "model.xml"), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(inputs)[OUTPUT]


def _kserve_inputs(inputs: dict[str, np.ndarray], datatype: str = "FP32") -> list:
    tensors = []
    for name, array in inputs.items():
        t = kserve.InferInput(name, list(array.shape), datatype)
        t.set_data_from_numpy(array)
        tensors.append(t)
    return tensors


# --- TensorFlow-Serving API -------------------------------------------------------------------------------------


def test_tfs_status_reports_versions_1_and_2_available(tfs):
    available = {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}
    assert tfs.get_model_status(MODEL) == {1: available, 2: available}
    assert tfs.get_model_status(MODEL, 1)[1]["state"] == "AVAILABLE"


def test_tfs_metadata_describes_inputs_and_output(tfs):
    meta = tfs.get_model_metadata(MODEL, 1)
    assert meta["model_version"] == 1
    assert meta["inputs"] == {
        "image": {"shape": [1, 1, 512, 512], "dtype": "DT_FLOAT"},
        "sex": {"shape": [1, 1], "dtype": "DT_FLOAT"},
    }
    assert meta["outputs"] == {OUTPUT: {"shape": [1, 1], "dtype": "DT_FLOAT"},
                               "attention_map": {"shape": [1, 1, 16, 16], "dtype": "DT_FLOAT"}}


def test_tfs_predict_equals_raw_openvino(tfs, small_model_repository):
    inputs = bone_age_inputs(seed=1)
    outputs = tfs.predict(inputs, MODEL, 1)  # several outputs: ovmsclient returns them by name
    months = outputs[OUTPUT]
    assert outputs["attention_map"].shape == (1, 1, 16, 16)
    assert months.shape == (1, 1) and months.dtype == np.float32
    assert 0.0 <= float(months[0, 0]) <= 228.0
    np.testing.assert_allclose(months, _raw_openvino(small_model_repository, inputs), rtol=1e-5, atol=1e-4)


def test_tfs_default_version_predicts_with_latest(tfs):
    assert tfs.predict(bone_age_inputs(seed=2), MODEL)[OUTPUT].shape == (1, 1)


def test_tfs_output_depends_on_image_and_sex(tfs):
    a = float(tfs.predict(bone_age_inputs(seed=3), MODEL, 1)[OUTPUT][0, 0])
    b = float(tfs.predict(bone_age_inputs(seed=4), MODEL, 1)[OUTPUT][0, 0])
    c = float(tfs.predict(bone_age_inputs(seed=3, sex=0.0), MODEL, 1)[OUTPUT][0, 0])
    assert a != b and a != c


def test_tfs_unknown_model_is_not_found(tfs):
    with pytest.raises(ovmsclient.ModelNotFoundError, match="Model with requested name is not found"):
        tfs.get_model_status("no_such_model")
    with pytest.raises(ovmsclient.ModelNotFoundError, match="Model with requested name is not found"):
        tfs.predict(bone_age_inputs(), "no_such_model", 1)


def test_tfs_unknown_version_is_not_found(tfs):
    with pytest.raises(ovmsclient.ModelNotFoundError, match="Model with requested version is not found"):
        tfs.get_model_status(MODEL, 7)
    with pytest.raises(ovmsclient.ModelNotFoundError, match="Model with requested version is not found"):
        tfs.predict(bone_age_inputs(), MODEL, 7)
    with pytest.raises(ovmsclient.ModelNotFoundError):
        tfs.get_model_metadata(MODEL, 7)


def test_tfs_wrong_shape_is_invalid_argument_naming_the_input(tfs):
    inputs = bone_age_inputs()
    inputs["image"] = inputs["image"][:, :, :256, :256].copy()
    with pytest.raises(ovmsclient.InvalidInputError,
                       match=r"Invalid input shape - Expected: \(1,1,512,512\); Actual: \(1,1,256,256\); "
                             r"input name: image"):
        tfs.predict(inputs, MODEL, 1)


def test_tfs_wrong_rank_dtype_batch_and_missing_input_are_invalid_argument(tfs):
    good = bone_age_inputs()
    cases = [
        ({**good, "image": good["image"][0]}, "Invalid number of shape dimensions"),
        ({**good, "image": good["image"].astype(np.float64)}, "Invalid input precision - Expected: FP32; Actual: FP64"),
        ({**good, "sex": np.zeros((2, 1), np.float32)}, "Invalid input batch size - Expected: 1; Actual: 2"),
        ({"image": good["image"]}, "Invalid number of inputs - Expected: 2; Actual: 1"),
        ({"image": good["image"], "age": good["sex"]}, "Missing input with specific name - Required input: sex"),
    ]
    for inputs, message in cases:
        with pytest.raises(ovmsclient.InvalidInputError, match=message):
            tfs.predict(inputs, MODEL, 1)


def test_tfs_accepts_float_val_and_rejects_wrong_content_size(local_model_server, tfs):
    from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2

    inputs = bone_age_inputs(seed=5)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.version.value = 1
    request.inputs["image"].CopyFrom(ovmsclient.make_tensor_proto(inputs["image"]))
    sex = request.inputs["sex"]
    sex.dtype = 1  # DT_FLOAT
    sex.tensor_shape.dim.add(size=1)
    sex.tensor_shape.dim.add(size=1)
    sex.float_val.append(1.0)
    response = tfs.prediction_service_stub.Predict(request, 10.0)
    assert response.model_spec.name == MODEL and response.model_spec.version.value == 1
    via_content = tfs.predict(inputs, MODEL, 1)[OUTPUT]
    got = np.frombuffer(response.outputs[OUTPUT].tensor_content, np.float32).reshape(1, 1)
    np.testing.assert_array_equal(got, via_content)

    request.inputs["image"].tensor_content = request.inputs["image"].tensor_content[:-4]
    with pytest.raises(grpc.RpcError) as err:
        tfs.prediction_service_stub.Predict(request, 10.0)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Invalid content size of tensor proto - Expected: 1048576 bytes; Actual: 1048572 bytes" in err.value.details()


# --- KServe v2 API ----------------------------------------------------------------------------------------------


def test_kserve_server_live_ready_and_metadata(ks):
    assert ks.is_server_live()
    assert ks.is_server_ready()
    assert ks.get_server_metadata().name == "OpenVINO Model Server"


def test_kserve_model_ready(ks):
    assert ks.is_model_ready(MODEL)
    assert ks.is_model_ready(MODEL, "1")


def test_kserve_model_metadata(ks):
    meta = ks.get_model_metadata(MODEL, "1", as_json=True)
    assert meta["name"] == MODEL and meta["versions"] == ["1", "2"] and meta["platform"] == "OpenVINO"
    assert meta["inputs"] == [
        {"name": "image", "datatype": "FP32", "shape": ["1", "1", "512", "512"]},
        {"name": "sex", "datatype": "FP32", "shape": ["1", "1"]},
    ]
    assert meta["outputs"] == [{"name": OUTPUT, "datatype": "FP32", "shape": ["1", "1"]},
                               {"name": "attention_map", "datatype": "FP32", "shape": ["1", "1", "16", "16"]}]


def test_kserve_infer_equals_raw_openvino_and_tfs(ks, tfs, small_model_repository):
    inputs = bone_age_inputs(seed=6, sex=0.0)
    result = ks.infer(MODEL, _kserve_inputs(inputs), model_version="1", request_id="req-42")
    response = result.get_response()
    assert response.model_name == MODEL and response.model_version == "1" and response.id == "req-42"
    assert len(response.raw_output_contents) == 2  # bone_age_months and attention_map
    months = result.as_numpy(OUTPUT)
    np.testing.assert_allclose(months, _raw_openvino(small_model_repository, inputs), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(months, tfs.predict(inputs, MODEL, 1)[OUTPUT])


def test_kserve_infer_accepts_typed_contents(local_model_server, ks):
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    inputs = bone_age_inputs(seed=7)
    request = service_pb2.ModelInferRequest(model_name=MODEL, model_version="1")
    for name, array in inputs.items():
        t = request.inputs.add(name=name, datatype="FP32", shape=list(array.shape))
        t.contents.fp32_contents.extend(array.ravel().tolist())
    with grpc.insecure_channel(local_model_server.url, options=[
            ("grpc.max_send_message_length", 64 << 20)]) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    got = np.frombuffer(response.raw_output_contents[0], np.float32).reshape(1, 1)
    expected = ks.infer(MODEL, _kserve_inputs(inputs), model_version="1").as_numpy(OUTPUT)
    np.testing.assert_array_equal(got, expected)


def _kserve_error(call) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as err:
        call()
    return err.value


def test_kserve_unknown_model_and_version_are_not_found(ks):
    err = _kserve_error(lambda: ks.is_model_ready("no_such_model"))
    assert err.status() == "StatusCode.NOT_FOUND" and "Model with requested name is not found" in err.message()
    err = _kserve_error(lambda: ks.get_model_metadata(MODEL, "9"))
    assert err.status() == "StatusCode.NOT_FOUND" and "Model with requested version is not found" in err.message()
    err = _kserve_error(lambda: ks.infer(MODEL, _kserve_inputs(bone_age_inputs()), model_version="9"))
    assert err.status() == "StatusCode.NOT_FOUND"
    err = _kserve_error(lambda: ks.infer("no_such_model", _kserve_inputs(bone_age_inputs()), model_version="1"))
    assert err.status() == "StatusCode.NOT_FOUND"


def test_kserve_wrong_shape_and_datatype_are_invalid_argument(ks):
    inputs = bone_age_inputs()
    inputs["image"] = inputs["image"][:, :, :128, :128].copy()
    err = _kserve_error(lambda: ks.infer(MODEL, _kserve_inputs(inputs), model_version="1"))
    assert err.status() == "StatusCode.INVALID_ARGUMENT"
    assert "Invalid input shape - Expected: (1,1,512,512); Actual: (1,1,128,128); input name: image" in err.message()

    as_int = {k: v.astype(np.int32) for k, v in bone_age_inputs().items()}
    err = _kserve_error(lambda: ks.infer(MODEL, _kserve_inputs(as_int, "INT32"), model_version="1"))
    assert err.status() == "StatusCode.INVALID_ARGUMENT"
    assert "Invalid input precision - Expected: FP32; Actual: INT32; input name: image" in err.message()


# --- configuration ----------------------------------------------------------------------------------------------


def _repo_with_versions(tmp_path: Path, small_repo: Path, versions: list[int], policy: dict | None) -> Path:
    repo = tmp_path / "repo"
    for v in versions:
        shutil.copytree(small_repo / MODEL / "1", repo / "models" / MODEL / str(v))
        card_path = repo / "models" / MODEL / str(v) / "model_card.json"  # a card names its own version
        card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "version": v}))
    cfg: dict = {"name": MODEL, "base_path": "models/bone_age"}  # relative to config.json's directory
    if policy is not None:
        cfg["model_version_policy"] = policy
    (repo / "config.json").write_text(json.dumps({"model_config_list": [{"config": cfg}]}))
    return repo


@pytest.mark.parametrize(
    ("policy", "served"),
    [
        (None, [3]),
        ({"latest": {"num_versions": 1}}, [3]),
        ({"latest": {"num_versions": 2}}, [2, 3]),
        ({"specific": {"versions": [1, 3]}}, [1, 3]),
        ({"all": {}}, [1, 2, 3]),
    ],
)
def test_version_policy_from_config_is_honoured(tmp_path, small_model_repository, policy, served):
    repo = _repo_with_versions(tmp_path, small_model_repository, [1, 2, 3], policy)
    with serve(repo / "config.json", port=0, bind_address="127.0.0.1") as handle:
        client = ovmsclient.make_grpc_client(handle.url)
        assert sorted(client.get_model_status(MODEL)) == served
        assert client.get_model_metadata(MODEL)["model_version"] == max(served)
        for v in {1, 2, 3} - set(served):
            with pytest.raises(ovmsclient.ModelNotFoundError):
                client.predict(bone_age_inputs(), MODEL, v)
        client.channel.close()


def test_absolute_base_path_and_plugin_config(tmp_path, small_model_repository):
    config = tmp_path / "elsewhere" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"model_config_list": [{"config": {
        "name": "ba", "base_path": str(small_model_repository / MODEL),
        "plugin_config": {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}, "nireq": 3}}]}))
    with serve(config, port=0, bind_address="127.0.0.1") as handle:
        served = handle.registry.get("ba", 2)  # default policy: the latest version only
        assert served.nireq == 3
        assert str(served.compiled.get_property("PERFORMANCE_HINT")) == "THROUGHPUT"
        client = kserve.InferenceServerClient(handle.url)
        assert client.is_model_ready("ba", "2")
        client.close()


def test_concurrent_requests_share_the_infer_request_pool(local_model_server, tfs):
    from concurrent.futures import ThreadPoolExecutor

    inputs = [bone_age_inputs(seed=s) for s in range(4)]
    expected = [tfs.predict(i, MODEL, 1)[OUTPUT] for i in inputs]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda k: tfs.predict(inputs[k % 4], MODEL, 1)[OUTPUT], range(24)))
    for k, g in enumerate(got):
        np.testing.assert_array_equal(g, expected[k % 4])


def test_large_messages_are_accepted(tmp_path):
    """A 64 MiB input (beyond gRPC's 4 MiB default) reaches the model."""
    import openvino.opset13 as ops

    param = ops.parameter([16, 1024, 1024], np.float32, name="volume")
    model = ov.Model([ops.result(ops.reduce_mean(param, ops.constant(np.array([1, 2])), False), name="m")],
                     [param], "mean")
    model.outputs[0].get_tensor().set_names({"mean"})
    ov.save_model(model, tmp_path / "vol" / "1" / "model.xml")
    (tmp_path / "config.json").write_text(json.dumps({"model_config_list": [{"config": {
        "name": "vol", "base_path": "vol"}}]}))
    volume = np.random.default_rng(0).random((16, 1024, 1024), dtype=np.float32)
    with serve(tmp_path / "config.json", port=0, bind_address="127.0.0.1", require_model_cards=False) as handle:
        client = kserve.InferenceServerClient(handle.url, channel_args=[
            ("grpc.max_send_message_length", 256 << 20), ("grpc.max_receive_message_length", 256 << 20)])
        t = kserve.InferInput("volume", list(volume.shape), "FP32")
        t.set_data_from_numpy(volume)
        out = client.infer("vol", [t], model_version="1").as_numpy("mean")
        client.close()
    np.testing.assert_allclose(out, volume.mean(axis=(1, 2)), rtol=1e-4)


def test_stop_makes_the_server_unavailable(small_model_repository):
    handle = serve(small_model_repository / "config.json", port=0, bind_address="127.0.0.1")
    client = kserve.InferenceServerClient(handle.url)
    assert client.is_server_live()
    handle.stop()
    handle.stop()  # idempotent
    err = _kserve_error(lambda: client.is_server_live(client_timeout=2))
    assert err.status() in ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED")
    client.close()


@pytest.mark.slow
def test_command_line_server_serves_and_stops_on_sigterm(small_model_repository):
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelserver", "--config_path", str(small_model_repository / "config.json"),
         "--port", "0", "--bind_address", "127.0.0.1", "--log_level", "INFO"],
        cwd=REPO_ROOT, env={"PYTHONPATH": str(REPO_ROOT / "platform"), "PATH": "/usr/bin:/bin"},
        stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "listening on" in line:
                port = int(line.split("listening on ")[1].split(" ")[0].rsplit(":", 1)[1])
        assert port, "server did not start"
        client = ovmsclient.make_grpc_client(f"127.0.0.1:{port}")
        assert client.get_model_status(MODEL)[1]["state"] == "AVAILABLE"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "received SIGTERM" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- The catalogue models -----------------------------------------------------------------------------------------


def test_every_catalogue_model_is_served_at_both_versions(tfs, ks):
    from model_repository.catalogue import MODEL_NAMES

    for name in MODEL_NAMES:
        assert set(tfs.get_model_status(name)) == {1, 2}
        assert ks.is_model_ready(name, "1") and ks.is_model_ready(name, "2")


def test_dynamic_batch_of_three_slices_over_tfs_and_kserve_equals_raw_openvino(tfs, ks, small_model_repository):
    from tests.fixtures_modelserver import catalogue_inputs

    inputs = catalogue_inputs("ct_anatomy", count=3)
    assert inputs["slices"].shape == (3, 1, 256, 256)
    meta = tfs.get_model_metadata("ct_anatomy", 2)
    assert meta["inputs"]["slices"]["shape"] == [-1, 1, 256, 256]
    for version in (1, 2):
        compiled = ov.Core().compile_model(str(small_model_repository / "ct_anatomy" / str(version) / "model.xml"),
                                           "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        expected = compiled(inputs)["region_logits"]
        via_tfs = tfs.predict(inputs, "ct_anatomy", version)
        via_kserve = ks.infer("ct_anatomy", _kserve_inputs(inputs), model_version=str(version)).as_numpy(
            "region_logits")
        assert via_tfs.shape == via_kserve.shape == (3, 6)
        np.testing.assert_allclose(via_tfs, expected, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(via_kserve, via_tfs)
    # A batch of two lung-segmentation slices: each item's mask as if sent alone.
    pair = catalogue_inputs("lung_segmentation", count=2, seed=1)
    both = ks.infer("lung_segmentation", _kserve_inputs(pair), model_version="2").as_numpy("lung_logits")
    alone = tfs.predict({"slices": pair["slices"][1:]}, "lung_segmentation", 2)
    assert both.shape == (2, 1, 256, 256)
    np.testing.assert_allclose(both[1:], alone, rtol=1e-4, atol=1e-3)
