"""Client for the model server (OpenVINO Model Server, or the local ``modelserver`` stand-in).

A thin wrapper over the two official gRPC clients, so the rest of the platform sees one interface and one set of
typed errors whichever OVMS API a deployment exposes:

- ``api="tfs"``: TensorFlow-Serving API via ``ovmsclient`` (OVMS <= 2026.2.x);
- ``api="kserve"``: KServe v2 API via ``tritonclient.grpc`` (OVMS >= 2026.3).

Model name and version are always explicit: the platform records which version produced each result, so it never
asks for "the default version". The client does not retry: ``ModelServerUnavailable`` marks the transient cases
(server down, UNAVAILABLE, deadline exceeded) and the caller (a Celery task) retries those with backoff.
"""

from __future__ import annotations

import abc
import functools
from dataclasses import dataclass, field

import grpc
import numpy as np

# gRPC's 4 MiB default would reject CT/MR volumes; match the server-side cap.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0

__all__ = [
    "MalformedResponse",
    "ModelClient",
    "ModelInputError",
    "ModelNotFound",
    "ModelServerError",
    "ModelServerUnavailable",
    "PredictResult",
    "make_model_client",
]


# ---------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------


class ModelServerError(Exception):
    """Base class. ``code`` is the gRPC status name (e.g. ``"INTERNAL"``) when the server answered, else None."""

    def __init__(self, message: str, *, code: str | None = None, model_name: str = "", model_version: int = 0):
        super().__init__(message)
        self.code = code
        self.model_name = model_name
        self.model_version = model_version


class ModelServerUnavailable(ModelServerError):
    """The server is down, unreachable, overloaded (UNAVAILABLE) or the deadline passed. Transient: retry."""


class ModelNotFound(ModelServerError):
    """The server does not serve this model name or version (NOT_FOUND). Not transient."""


class ModelInputError(ModelServerError):
    """The inputs do not match the model (INVALID_ARGUMENT: name, shape or dtype). Not transient."""


class MalformedResponse(ModelServerError):
    """The server answered OK but outputs are missing, undecodable, or for another model/version."""


_TRANSIENT_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED"}


def _error_from_code(code: str | None, details: str, model_name: str, model_version: int) -> ModelServerError:
    kwargs = {"code": code, "model_name": model_name, "model_version": model_version}
    message = f"{model_name} v{model_version}: {code or 'error'}: {details}"
    if code in _TRANSIENT_CODES:
        return ModelServerUnavailable(message, **kwargs)
    if code == "NOT_FOUND":
        return ModelNotFound(message, **kwargs)
    if code == "INVALID_ARGUMENT":
        return ModelInputError(message, **kwargs)
    return ModelServerError(message, **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# Interface
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class PredictResult:
    """Outputs of one inference by output name, and the model name and version that produced them."""

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    model_name: str = ""
    model_version: int = 0


def _check_target(model_name: str, model_version: int) -> None:
    if not isinstance(model_name, str) or not model_name:
        raise ValueError("model_name must be a non-empty string")
    if isinstance(model_version, bool) or not isinstance(model_version, int) or model_version < 1:
        raise ValueError(f"model_version must be an explicit positive integer, got {model_version!r}")


def _check_inputs(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(inputs, dict) or not inputs:
        raise ValueError("inputs must be a non-empty dict of name -> numpy array")
    checked = {}
    for name, value in inputs.items():
        if not isinstance(value, np.ndarray):
            raise TypeError(f"input {name!r} must be a numpy array, got {type(value).__name__}")
        checked[name] = np.ascontiguousarray(value)
    return checked


class ModelClient(abc.ABC):
    """Talks to one model server. Thread-safe (gRPC channels are); ``close()`` releases the channel."""

    api: str

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S):
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.url = url
        self.timeout_s = timeout_s
        self._closed = False

    @abc.abstractmethod
    def predict(
        self,
        model_name: str,
        model_version: int,
        inputs: dict[str, np.ndarray],
        timeout_s: float | None = None,
    ) -> PredictResult:
        """Run one inference.

        Parameters: ``model_name``; ``model_version`` an explicit positive version; ``inputs`` input name ->
        numpy array (dtype and shape as the model declares); ``timeout_s`` overrides the client's default deadline.
        Returns a PredictResult with every output the server sent, keyed by output name.
        Raises ModelServerUnavailable (transient: retry), ModelNotFound, ModelInputError, MalformedResponse,
        ModelServerError (other server errors); ValueError/TypeError for bad arguments before any call.
        """

    @abc.abstractmethod
    def is_model_ready(self, model_name: str, model_version: int, timeout_s: float | None = None) -> bool:
        """True if the server reports ``model_name`` version ``model_version`` ready (AVAILABLE) for inference.

        Returns False when the server does not know the model or version. Raises ModelServerUnavailable when the
        server cannot be reached, ModelServerError for other server errors.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Close the gRPC channel (idempotent). The client must not be used afterwards."""

    def __enter__(self) -> ModelClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _deadline(self, timeout_s: float | None) -> float:
        return self.timeout_s if timeout_s is None else timeout_s


# ---------------------------------------------------------------------------------------------------------------
# TensorFlow-Serving API (ovmsclient)
# ---------------------------------------------------------------------------------------------------------------


class TfsModelClient(ModelClient):
    """TFS API through ``ovmsclient.make_grpc_client`` (which already sets 1 GiB channel message caps).

    ``predict`` sends a PredictRequest through the ovmsclient client's own prediction stub, with tensors built by
    ``ovmsclient.make_tensor_proto``: ovmsclient's ``predict()`` returns a bare array for single-output models and
    drops the answering model version, both of which the platform needs. Status and readiness use ovmsclient's
    public ``get_model_status``.
    """

    api = "tfs"

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S):
        super().__init__(url, timeout_s)
        import ovmsclient

        self._ovmsclient = ovmsclient
        self._client = ovmsclient.make_grpc_client(url)

    @staticmethod
    def _code_of(exc: BaseException) -> tuple[str | None, str]:
        if isinstance(exc, grpc.RpcError):
            return exc.code().name, exc.details() or ""
        # ovmsclient re-raises its own exception inside ``except RpcError``: the original is the context.
        ctx = exc.__context__
        if isinstance(ctx, grpc.RpcError):
            return ctx.code().name, ctx.details() or ""
        return None, str(exc)

    def predict(self, model_name, model_version, inputs, timeout_s=None) -> PredictResult:
        from ovmsclient.tfs_compat.grpc.tensors import make_ndarray
        from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2

        _check_target(model_name, model_version)
        inputs = _check_inputs(inputs)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.version.value = model_version
        for name, array in inputs.items():
            try:
                request.inputs[name].CopyFrom(self._ovmsclient.make_tensor_proto(array))
            except (TypeError, ValueError) as exc:
                raise ModelInputError(f"input {name!r} cannot be encoded: {exc}", model_name=model_name,
                                      model_version=model_version) from exc
        try:
            response = self._client.prediction_service_stub.Predict(request, timeout=self._deadline(timeout_s))
        except grpc.RpcError as exc:
            code, details = self._code_of(exc)
            raise _error_from_code(code, details, model_name, model_version) from exc

        if response.model_spec.name and response.model_spec.name != model_name:
            raise MalformedResponse(f"asked {model_name}, answer is for {response.model_spec.name}",
                                    model_name=model_name, model_version=model_version)
        answered_version = int(response.model_spec.version.value) if response.model_spec.HasField("version") else 0
        if answered_version and answered_version != model_version:
            raise MalformedResponse(f"asked {model_name} v{model_version}, answered by v{answered_version}",
                                    model_name=model_name, model_version=model_version)
        if not response.outputs:
            raise MalformedResponse(f"{model_name} v{model_version}: response has no outputs",
                                    model_name=model_name, model_version=model_version)
        outputs = {}
        for name, proto in response.outputs.items():
            try:
                outputs[name] = make_ndarray(proto)
            except Exception as exc:  # noqa: BLE001 - any decode failure means a garbled tensor
                raise MalformedResponse(f"{model_name} v{model_version}: output {name!r} undecodable: {exc}",
                                        model_name=model_name, model_version=model_version) from exc
        return PredictResult(outputs=outputs, model_name=model_name, model_version=model_version)

    def is_model_ready(self, model_name, model_version, timeout_s=None) -> bool:
        _check_target(model_name, model_version)
        try:
            status = self._client.get_model_status(model_name, model_version, timeout=self._deadline(timeout_s))
        except (self._ovmsclient.ModelServerError, ConnectionError, TimeoutError) as exc:
            code, details = self._code_of(exc)
            if code is None and isinstance(exc, (ConnectionError, TimeoutError)):
                code = "UNAVAILABLE"
            err = _error_from_code(code, details, model_name, model_version)
            if isinstance(err, ModelNotFound):
                return False
            raise err from exc
        entry = status.get(model_version)
        return bool(entry) and entry.get("state") == "AVAILABLE"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.channel.close()


# ---------------------------------------------------------------------------------------------------------------
# KServe v2 API (tritonclient)
# ---------------------------------------------------------------------------------------------------------------


@functools.cache
def _kserve_grpc_client_class() -> type:
    """tritonclient's ``InferenceServerClient`` with an idempotent ``close()`` and a ``__del__`` that never raises.

    tritonclient's ``__del__`` closes the channel again even after ``close()``. For a client still alive at
    interpreter shutdown (a cached client, a fixture value) grpc's module globals are already gone by then and the
    interpreter prints "Exception ignored in: InferenceServerClient.__del__ ... AttributeError: 'NoneType' object
    has no attribute 'StatusCode'". Nothing is left to release at that point, so the error is dropped.
    """
    import tritonclient.grpc as grpcclient

    class _KServeGrpcClient(grpcclient.InferenceServerClient):
        _closed = False

        def close(self) -> None:
            if self._closed:
                return
            self._closed = True
            super().close()

        def __del__(self) -> None:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown or a half-built client: nothing to release
                pass

    return _KServeGrpcClient


class KServeModelClient(ModelClient):
    """KServe v2 API through ``tritonclient.grpc.InferenceServerClient`` with raised message caps."""

    api = "kserve"

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S):
        super().__init__(url, timeout_s)
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException, np_to_triton_dtype

        self._grpcclient = grpcclient
        self._exc_type = InferenceServerException
        self._np_to_triton_dtype = np_to_triton_dtype
        self._client = _kserve_grpc_client_class()(
            url,
            channel_args=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )

    @staticmethod
    def _code_of(exc) -> str | None:
        status = exc.status()  # "StatusCode.NOT_FOUND", or None for client-side errors
        return status.split(".", 1)[-1] if status else None

    def predict(self, model_name, model_version, inputs, timeout_s=None) -> PredictResult:
        _check_target(model_name, model_version)
        inputs = _check_inputs(inputs)
        infer_inputs = []
        for name, array in inputs.items():
            datatype = self._np_to_triton_dtype(array.dtype)
            if datatype is None:
                raise ModelInputError(f"input {name!r}: unsupported dtype {array.dtype}",
                                      model_name=model_name, model_version=model_version)
            tensor = self._grpcclient.InferInput(name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)  # binary: goes in raw_input_contents
            infer_inputs.append(tensor)
        try:
            result = self._client.infer(model_name, infer_inputs, model_version=str(model_version),
                                        client_timeout=self._deadline(timeout_s))
        except self._exc_type as exc:
            code = self._code_of(exc)
            if code is None:  # raised by tritonclient itself before the call
                raise ModelInputError(f"{model_name} v{model_version}: {exc.message()}", model_name=model_name,
                                      model_version=model_version) from exc
            raise _error_from_code(code, exc.message() or "", model_name, model_version) from exc

        response = result.get_response()
        if response.model_name and response.model_name != model_name:
            raise MalformedResponse(f"asked {model_name}, answer is for {response.model_name}",
                                    model_name=model_name, model_version=model_version)
        if response.model_version and response.model_version != str(model_version):
            raise MalformedResponse(f"asked {model_name} v{model_version}, answered by v{response.model_version}",
                                    model_name=model_name, model_version=model_version)
        if not response.outputs:
            raise MalformedResponse(f"{model_name} v{model_version}: response has no outputs",
                                    model_name=model_name, model_version=model_version)
        outputs = {}
        for out in response.outputs:
            try:
                array = result.as_numpy(out.name)
            except Exception as exc:  # noqa: BLE001 - garbled buffer / shape mismatch
                raise MalformedResponse(f"{model_name} v{model_version}: output {out.name!r} undecodable: {exc}",
                                        model_name=model_name, model_version=model_version) from exc
            if array is None:
                raise MalformedResponse(f"{model_name} v{model_version}: output {out.name!r} has no data",
                                        model_name=model_name, model_version=model_version)
            outputs[out.name] = array
        return PredictResult(outputs=outputs, model_name=model_name, model_version=model_version)

    def is_model_ready(self, model_name, model_version, timeout_s=None) -> bool:
        _check_target(model_name, model_version)
        try:
            return bool(self._client.is_model_ready(model_name, str(model_version),
                                                    client_timeout=self._deadline(timeout_s)))
        except self._exc_type as exc:
            err = _error_from_code(self._code_of(exc) or "UNAVAILABLE", exc.message() or "", model_name,
                                   model_version)
            if isinstance(err, ModelNotFound):
                return False
            raise err from exc

    def close(self) -> None:
        self._closed = True
        self._client.close()  # idempotent itself (see _kserve_grpc_client_class)


# ---------------------------------------------------------------------------------------------------------------
# Factory
# ---------------------------------------------------------------------------------------------------------------


_APIS = {"tfs": TfsModelClient, "kserve": KServeModelClient}


def make_model_client(api: str, url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> ModelClient:
    """Build the client for the model server's gRPC API.

    Parameters: ``api`` "tfs" (TensorFlow-Serving API, ovmsclient) or "kserve" (KServe v2, tritonclient);
    ``url`` ``host:port`` of the gRPC endpoint; ``timeout_s`` default per-call deadline in seconds.
    Returns a ModelClient. Raises ValueError for an unknown api or a non-positive timeout. Connecting is lazy:
    an unreachable server surfaces as ModelServerUnavailable on the first call.
    """
    try:
        cls = _APIS[api]
    except KeyError:
        raise ValueError(f"unknown model server api {api!r}; expected one of {sorted(_APIS)}") from None
    return cls(url, timeout_s)
