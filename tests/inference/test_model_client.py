"""The platform's model client against the local model server, over both OVMS gRPC APIs (real gRPC, no mocks)."""

from __future__ import annotations

import socket

import numpy as np
import openvino as ov
import pytest

from inference.model_client import (
    MalformedResponse,
    ModelInputError,
    ModelNotFound,
    ModelServerError,
    ModelServerUnavailable,
    PredictResult,
    make_model_client,
)
from tests.fixtures_modelserver import bone_age_inputs, local_model_server, small_model_repository  # noqa: F401

MODEL = "bone_age"
OUTPUT = "bone_age_months"
APIS = ["tfs", "kserve"]


@pytest.fixture(params=APIS)
def model_client(request, local_model_server):
    c = make_model_client(request.param, local_model_server.url, timeout_s=10.0)
    yield c
    c.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_predict_returns_named_outputs_with_model_and_version(model_client, small_model_repository):
    inputs = bone_age_inputs(seed=11)
    result = model_client.predict(MODEL, 1, inputs)
    assert isinstance(result, PredictResult)
    assert result.model_name == MODEL and result.model_version == 1
    assert set(result.outputs) == {OUTPUT, "attention_map"}
    months = result.outputs[OUTPUT]
    assert months.shape == (1, 1) and months.dtype == np.float32
    compiled = ov.Core().compile_model(str(small_model_repository / MODEL / "1" / "model.xml"), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(months, compiled(inputs)[OUTPUT], rtol=1e-5, atol=1e-4)


def test_both_apis_give_identical_results(local_model_server):
    inputs = bone_age_inputs(seed=12, sex=0.0)
    with make_model_client("tfs", local_model_server.url, 10) as tfs, \
            make_model_client("kserve", local_model_server.url, 10) as ks:
        np.testing.assert_array_equal(tfs.predict(MODEL, 1, inputs).outputs[OUTPUT],
                                      ks.predict(MODEL, 1, inputs).outputs[OUTPUT])


def test_is_model_ready_true_for_served_version_false_for_unknown(model_client):
    assert model_client.is_model_ready(MODEL, 1) is True
    assert model_client.is_model_ready(MODEL, 99) is False
    assert model_client.is_model_ready("no_such_model", 1) is False


def test_unknown_model_or_version_raises_model_not_found(model_client):
    with pytest.raises(ModelNotFound) as err:
        model_client.predict("no_such_model", 1, bone_age_inputs())
    assert err.value.code == "NOT_FOUND" and "Model with requested name is not found" in str(err.value)
    with pytest.raises(ModelNotFound, match="Model with requested version is not found"):
        model_client.predict(MODEL, 99, bone_age_inputs())


def test_wrong_shape_or_dtype_raises_model_input_error(model_client):
    inputs = bone_age_inputs()
    with pytest.raises(ModelInputError, match="Invalid input shape") as err:
        model_client.predict(MODEL, 1, {**inputs, "image": inputs["image"][:, :, :100, :100]})
    assert err.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ModelInputError, match="Invalid input precision"):
        model_client.predict(MODEL, 1, {**inputs, "sex": inputs["sex"].astype(np.float64)})
    with pytest.raises(ModelInputError, match="Missing input|Invalid number of inputs"):
        model_client.predict(MODEL, 1, {"image": inputs["image"]})


def test_model_errors_are_model_server_errors():
    for cls in (ModelServerUnavailable, ModelNotFound, ModelInputError, MalformedResponse):
        assert issubclass(cls, ModelServerError)


@pytest.mark.parametrize("api", APIS)
def test_server_down_raises_model_server_unavailable(api):
    with make_model_client(api, f"127.0.0.1:{_free_port()}", timeout_s=2.0) as c:
        with pytest.raises(ModelServerUnavailable):
            c.predict(MODEL, 1, bone_age_inputs())
        with pytest.raises(ModelServerUnavailable):
            c.is_model_ready(MODEL, 1)


def test_deadline_exceeded_raises_model_server_unavailable(model_client):
    with pytest.raises(ModelServerUnavailable) as err:
        model_client.predict(MODEL, 1, bone_age_inputs(), timeout_s=0.000_01)
    assert err.value.code == "DEADLINE_EXCEEDED"


def test_version_and_name_must_be_explicit(model_client):
    with pytest.raises(ValueError):
        model_client.predict(MODEL, 0, bone_age_inputs())
    with pytest.raises(ValueError):
        model_client.predict("", 1, bone_age_inputs())
    with pytest.raises(TypeError):
        model_client.predict(MODEL, 1, {"image": [[0.0]]})


def test_unknown_api_is_rejected():
    with pytest.raises(ValueError, match="unknown model server api"):
        make_model_client("rest", "127.0.0.1:9000", 1.0)


def test_response_for_another_version_is_malformed(tmp_path, small_model_repository):
    """A server answering with a different version than asked must not be trusted silently."""
    import grpc
    from concurrent import futures
    from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    class WrongVersionTfs(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            response = predict_pb2.PredictResponse()
            response.model_spec.name = request.model_spec.name
            response.model_spec.version.value = request.model_spec.version.value + 1
            return response

    class GarbledKServe(service_pb2_grpc.GRPCInferenceServiceServicer):
        def ModelInfer(self, request, context):
            response = service_pb2.ModelInferResponse(model_name=request.model_name,
                                                      model_version=request.model_version)
            response.outputs.add(name=OUTPUT, datatype="FP32", shape=[1, 1])
            response.raw_output_contents.append(b"\x00\x01")  # 2 bytes for a 4-byte float
            return response

    server = grpc.server(futures.ThreadPoolExecutor(2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(WrongVersionTfs(), server)
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(GarbledKServe(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        for api in APIS:
            with make_model_client(api, f"127.0.0.1:{port}", 5.0) as c:
                with pytest.raises(MalformedResponse):
                    c.predict(MODEL, 1, bone_age_inputs())
    finally:
        server.stop(0)
