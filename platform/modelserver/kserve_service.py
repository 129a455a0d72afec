"""KServe v2 gRPC API (``inference.GRPCInferenceService``) as OVMS implements it.

Uses the generated protos shipped in tritonclient. Inputs may arrive in ``raw_input_contents`` (one buffer per
input, in input order) or in the typed ``contents`` fields, never both; outputs are always returned in
``raw_output_contents``, as OVMS does.
"""

from __future__ import annotations

import logging

import grpc
import numpy as np
import openvino as ov
from tritonclient.grpc import service_pb2, service_pb2_grpc

from modelserver import errors
from modelserver.dtypes import BY_KSERVE, DType
from modelserver.registry import ModelRegistry, RequestTensor

log = logging.getLogger(__name__)

PLATFORM = "OpenVINO"
SERVER_NAME = "OpenVINO Model Server"
SERVER_VERSION = f"local-modelserver (OpenVINO {ov.get_version()})"


def _parse_version(raw: str) -> int:
    if not raw:
        return 0
    try:
        version = int(raw)
    except ValueError:
        raise errors.model_version_invalid_format(raw) from None
    if version < 0:
        raise errors.model_version_invalid_format(raw)
    return version


def _decode_input(index: int, tensor, request) -> RequestTensor:
    name = tensor.name
    shape = tuple(int(d) for d in tensor.shape)
    row = BY_KSERVE.get(tensor.datatype)

    def decode(expected: DType, shp: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shp, dtype=np.int64))
        if request.raw_input_contents:
            if index >= len(request.raw_input_contents):
                raise errors.invalid_argument(
                    "Invalid message structure",
                    f"Number of raw_input_contents buffers is smaller than the number of inputs; input name: {name}")
            raw = request.raw_input_contents[index]
            size = count * expected.numpy.itemsize
            if len(raw) != size:
                raise errors.invalid_argument(
                    "Invalid content size of tensor proto",
                    f"Expected: {size} bytes; Actual: {len(raw)} bytes; input name: {name}")
            return np.frombuffer(raw, dtype=expected.numpy).reshape(shp)
        values = getattr(tensor.contents, expected.kserve_contents) if expected.kserve_contents else []
        if len(values) != count:
            raise errors.invalid_argument(
                "Invalid number of values in tensor proto container",
                f"Expected: {count} values; Actual: {len(values)} values; input name: {name}")
        return np.array(values, dtype=expected.numpy).reshape(shp)

    return RequestTensor(name, row, tensor.datatype or "<empty>", shape, decode)


class InferenceService(service_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, registry: ModelRegistry, is_live=lambda: True):
        self.registry = registry
        self._is_live = is_live

    def ServerLive(self, request, context):
        return service_pb2.ServerLiveResponse(live=self._is_live())

    def ServerReady(self, request, context):
        return service_pb2.ServerReadyResponse(ready=self._is_live() and self.registry.ready)

    def ServerMetadata(self, request, context):
        return service_pb2.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION)

    def ModelReady(self, request, context):
        try:
            model = self.registry.get_model(request.name)
            version = _parse_version(request.version)
            if version == 0:
                served = model.default_version()
                if served is None:
                    raise errors.model_version_missing()
                return service_pb2.ModelReadyResponse(ready=True)
            rec = model.versions.get(version)
            if rec is None:
                raise errors.model_version_missing()
            return service_pb2.ModelReadyResponse(ready=rec.served is not None and rec.state == 30)
        except errors.ServingError as err:
            err.abort(context)

    def ModelMetadata(self, request, context):
        try:
            model = self.registry.get_model(request.name)
            served = self.registry.get(request.name, _parse_version(request.version))
            response = service_pb2.ModelMetadataResponse(name=served.name, platform=PLATFORM)
            response.versions.extend(
                str(v) for v, rec in sorted(model.versions.items()) if rec.served is not None)
            for spec in served.inputs.values():
                response.inputs.add(name=spec.name, datatype=spec.dtype.kserve, shape=list(spec.shape))
            for spec in served.outputs.values():
                response.outputs.add(name=spec.name, datatype=spec.dtype.kserve, shape=list(spec.shape))
            return response
        except errors.ServingError as err:
            err.abort(context)

    def ModelInfer(self, request, context):
        try:
            served = self.registry.get(request.model_name, _parse_version(request.model_version))
            if request.raw_input_contents:
                for tensor in request.inputs:
                    if tensor.HasField("contents"):
                        raise errors.invalid_argument(
                            "Invalid message structure",
                            "Passing buffers both in InferInputTensor contents and in raw_input_contents is not "
                            f"allowed. Detected buffer in InferInputTensor contents for input: {tensor.name}")
            tensors = [_decode_input(i, t, request) for i, t in enumerate(request.inputs)]
            inputs = served.validate(tensors)
            outputs = served.infer(inputs, timeout_s=context.time_remaining())
            requested = [o.name for o in request.outputs] or list(served.outputs)
            response = service_pb2.ModelInferResponse(
                model_name=served.name, model_version=str(served.version), id=request.id)
            for out_name in requested:
                spec = served.outputs.get(out_name)
                if spec is None:
                    raise errors.invalid_argument("Invalid output name", f"Output: {out_name}")
                array = np.ascontiguousarray(outputs[out_name], dtype=spec.dtype.numpy)
                response.outputs.add(name=out_name, datatype=spec.dtype.kserve, shape=list(array.shape))
                response.raw_output_contents.append(array.tobytes())
            log.debug("ModelInfer %s version %d ok", served.name, served.version)
            return response
        except errors.ServingError as err:
            log.debug("ModelInfer %s failed: %s", request.model_name, err.message)
            err.abort(context)
