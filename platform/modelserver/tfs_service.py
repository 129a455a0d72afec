"""TensorFlow-Serving gRPC API (the OVMS "TFS" frontend): Predict, GetModelMetadata, GetModelStatus.

Uses the generated protos shipped in ovmsclient, so no TensorFlow install is needed.
"""

from __future__ import annotations

import logging

import grpc
import numpy as np
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
from ovmsclient.tfs_compat.protos.tensorflow.core.protobuf import meta_graph_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from modelserver import errors
from modelserver.dtypes import BY_TF, DType, tf_name
from modelserver.registry import ModelRegistry, RequestTensor, TensorSpec

log = logging.getLogger(__name__)

SIGNATURE_DEF = "signature_def"


def _requested_version(model_spec) -> int:
    # ModelSpec.version is a google.protobuf.Int64Value; unset and 0 both mean "default version".
    return int(model_spec.version.value) if model_spec.HasField("version") else 0


def _decode_tensor_proto(name: str, proto: tensor_pb2.TensorProto) -> RequestTensor:
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    row = BY_TF.get(int(proto.dtype))

    def decode(expected: DType, shp: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shp, dtype=np.int64))
        if proto.tensor_content:
            size = count * expected.numpy.itemsize
            if len(proto.tensor_content) != size:
                raise errors.invalid_argument(
                    "Invalid content size of tensor proto",
                    f"Expected: {size} bytes; Actual: {len(proto.tensor_content)} bytes; input name: {name}")
            return np.frombuffer(proto.tensor_content, dtype=expected.numpy).reshape(shp)
        values = getattr(proto, expected.tf_val_field)
        if len(values) == 0:
            # OVMS's message for FP32 etc. sent without tensor_content.
            raise errors.invalid_argument(
                "Invalid content size of tensor proto",
                f"Expected: {count * expected.numpy.itemsize} bytes; Actual: 0 bytes; input name: {name}")
        if len(values) != count:
            raise errors.invalid_argument(
                "Invalid number of values in tensor proto container",
                f"Expected: {count}; Actual: {len(values)}; input name: {name}")
        if expected.tf_val_field == "half_val":  # half_val carries the fp16 bit patterns
            return np.array(values, dtype=np.uint16).view(np.float16).reshape(shp)
        return np.array(values, dtype=expected.numpy).reshape(shp)

    return RequestTensor(name, row, tf_name(int(proto.dtype)), shape, decode)


def _encode_tensor_proto(array: np.ndarray, spec: TensorSpec) -> tensor_pb2.TensorProto:
    array = np.ascontiguousarray(array, dtype=spec.dtype.numpy)
    return tensor_pb2.TensorProto(
        dtype=spec.dtype.tf_enum,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in array.shape]),
        tensor_content=array.tobytes(),
    )


def _tensor_info(spec: TensorSpec):
    return meta_graph_pb2.TensorInfo(
        name=spec.name,
        dtype=spec.dtype.tf_enum,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in spec.shape]),
    )


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, registry: ModelRegistry):
        self.registry = registry

    def Predict(self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext):
        try:
            if not request.HasField("model_spec"):
                raise errors.invalid_argument("model_spec missing in request")
            served = self.registry.get(request.model_spec.name, _requested_version(request.model_spec))
            tensors = [_decode_tensor_proto(n, p) for n, p in request.inputs.items()]
            inputs = served.validate(tensors)
            outputs = served.infer(inputs, timeout_s=context.time_remaining())
            response = predict_pb2.PredictResponse()
            response.model_spec.name = served.name
            response.model_spec.version.value = served.version
            names = set(request.output_filter) or set(outputs)
            for out_name in names:
                if out_name not in served.outputs:
                    raise errors.invalid_argument("Invalid output name", f"Output: {out_name}")
                response.outputs[out_name].CopyFrom(_encode_tensor_proto(outputs[out_name], served.outputs[out_name]))
            log.debug("Predict %s version %d ok", served.name, served.version)
            return response
        except errors.ServingError as err:
            log.debug("Predict %s failed: %s", request.model_spec.name, err.message)
            err.abort(context)

    def GetModelMetadata(self, request, context: grpc.ServicerContext):
        try:
            if not request.HasField("model_spec"):
                raise errors.invalid_argument("model_spec missing in request")
            for f in request.metadata_field:
                if f != SIGNATURE_DEF:
                    raise errors.invalid_argument("Invalid signature name", f"Metadata field: {f}")
            served = self.registry.get(request.model_spec.name, _requested_version(request.model_spec))
            signature = get_model_metadata_pb2.SignatureDefMap()
            sig = signature.signature_def["serving_default"]
            sig.method_name = "tensorflow/serving/predict"
            for name, spec in served.inputs.items():
                sig.inputs[name].CopyFrom(_tensor_info(spec))
            for name, spec in served.outputs.items():
                sig.outputs[name].CopyFrom(_tensor_info(spec))
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = served.name
            response.model_spec.version.value = served.version
            response.metadata[SIGNATURE_DEF].Pack(signature)
            return response
        except errors.ServingError as err:
            err.abort(context)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, registry: ModelRegistry):
        self.registry = registry

    def GetModelStatus(self, request, context: grpc.ServicerContext):
        try:
            if not request.HasField("model_spec"):
                raise errors.invalid_argument("model_spec missing in request")
            model = self.registry.get_model(request.model_spec.name)
            version = _requested_version(request.model_spec)
            if version and version not in model.versions:
                raise errors.model_version_missing()
            response = get_model_status_pb2.GetModelStatusResponse()
            # Version 0 answers for every version OVMS knows of the model, as OVMS does.
            for v in ([version] if version else sorted(model.versions)):
                rec = model.versions[v]
                status = response.model_version_status.add()
                status.version = v
                status.state = rec.state
                status.status.error_code = rec.error_code
                status.status.error_message = rec.error_message
            return response
        except errors.ServingError as err:
            err.abort(context)

    def HandleReloadConfigRequest(self, request, context: grpc.ServicerContext):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Config reload is not supported by the local model server")
