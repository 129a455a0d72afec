"""Loaded models: one compiled OpenVINO model and a pool of infer requests per served version."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import openvino as ov

from model_repository.cards import verify_version_files
from modelserver import errors
from modelserver.config import ModelConfig
from modelserver.dtypes import DType, from_ov

log = logging.getLogger(__name__)

# tensorflow.serving ModelVersionStatus.State values.
STATE_LOADING = 20
STATE_AVAILABLE = 30
STATE_END = 50


@dataclass(frozen=True)
class TensorSpec:
    """Name, element type and static shape of a model input or output (-1 for a dynamic dimension)."""

    name: str
    dtype: DType
    shape: tuple[int, ...]

    def shape_string(self) -> str:
        return "(" + ",".join(str(d) if d >= 0 else "-1" for d in self.shape) + ")"


@dataclass
class RequestTensor:
    """A request input after protocol decoding but before validation.

    ``dtype`` is None when the wire type is not one the server knows; ``precision`` is the wire type's name for
    messages. ``decode`` returns the values as a NumPy array or raises ServingError (content size mismatch).
    """

    name: str
    dtype: DType | None
    precision: str
    shape: tuple[int, ...]
    decode: Callable[[DType, tuple[int, ...]], np.ndarray]


def shape_string(shape) -> str:
    return "(" + ",".join(str(d) for d in shape) + ")"


class ServedVersion:
    """One loaded model version. ``infer`` is thread-safe: each call borrows an InferRequest from a pool."""

    def __init__(self, name: str, version: int, compiled: ov.CompiledModel, nireq: int):
        self.name = name
        self.version = version
        self.compiled = compiled
        self.state = STATE_AVAILABLE
        self.inputs = {spec.name: spec for spec in (self._spec(p) for p in compiled.inputs)}
        self.outputs = {spec.name: spec for spec in (self._spec(p) for p in compiled.outputs)}
        if nireq <= 0:
            nireq = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.nireq = max(1, nireq)
        # One InferRequest is not thread-safe; gRPC worker threads take one from the pool and give it back.
        self._pool: queue.Queue[ov.InferRequest] = queue.Queue()
        for _ in range(self.nireq):
            self._pool.put(compiled.create_infer_request())

    @staticmethod
    def _spec(port) -> TensorSpec:
        shape = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
        return TensorSpec(port.get_any_name(), from_ov(port.get_element_type()), shape)

    def validate(self, tensors: list[RequestTensor]) -> dict[str, np.ndarray]:
        """Validate request tensors in the order OVMS does and return decoded inputs by name.

        Raises ServingError(INVALID_ARGUMENT) with OVMS's message for the first failed check.
        """
        if not tensors or len(tensors) != len(self.inputs):
            raise errors.invalid_argument(
                "Invalid number of inputs", f"Expected: {len(self.inputs)}; Actual: {len(tensors)}")
        by_name = {t.name: t for t in tensors}
        decoded: dict[str, np.ndarray] = {}
        # OVMS iterates its input map, i.e. in name order.
        for name in sorted(self.inputs):
            spec = self.inputs[name]
            t = by_name.get(name)
            if t is None:
                raise errors.invalid_argument("Missing input with specific name", f"Required input: {name}")
            if any(d <= 0 for d in t.shape):
                raise errors.invalid_argument(
                    "Invalid input shape",
                    f"Negative or zero dimension size is not acceptable: {shape_string(t.shape)}; input name: {name}")
            if t.dtype is None or t.dtype.ov_type != spec.dtype.ov_type:
                raise errors.invalid_argument(
                    "Invalid input precision",
                    f"Expected: {spec.dtype.ovms}; Actual: {t.precision}; input name: {name}")
            if len(t.shape) != len(spec.shape):
                raise errors.invalid_argument(
                    "Invalid number of shape dimensions",
                    f"Expected: {spec.shape_string()}; Actual: {shape_string(t.shape)}; input name: {name}")
            # Batch is dimension 0 (OVMS default layout N...).
            if spec.shape and spec.shape[0] >= 0 and spec.shape[0] != t.shape[0]:
                raise errors.invalid_argument(
                    "Invalid input batch size",
                    f"Expected: {spec.shape[0]}; Actual: {t.shape[0]}; input name: {name}")
            if any(e >= 0 and e != a for e, a in zip(spec.shape, t.shape)):
                raise errors.invalid_argument(
                    "Invalid input shape",
                    f"Expected: {spec.shape_string()}; Actual: {shape_string(t.shape)}; input name: {name}")
            decoded[name] = t.decode(spec.dtype, t.shape)
        return decoded

    def infer(self, inputs: Mapping[str, np.ndarray], timeout_s: float | None = None) -> dict[str, np.ndarray]:
        """Run one inference; returns outputs by tensor name (arrays owned by the caller).

        ``timeout_s`` bounds the wait for a free infer request (the caller's remaining gRPC deadline).
        Raises ServingError(DEADLINE_EXCEEDED) if none frees up in time, ServingError(INTERNAL) on runtime errors.
        """
        try:
            request = self._pool.get(timeout=timeout_s) if timeout_s is not None else self._pool.get()
        except queue.Empty:
            raise errors.ServingError(
                errors.grpc.StatusCode.DEADLINE_EXCEEDED, "Timeout while waiting for a free infer request") from None
        try:
            # share_outputs=False copies outputs out of the request's buffers before the request is reused.
            result = request.infer(dict(inputs), share_inputs=False, share_outputs=False)
            return {port.get_any_name(): np.asarray(value) for port, value in result.items()}
        except Exception as exc:  # noqa: BLE001 - report as OVMS does, without tensor contents
            log.error("inference failed for %s version %s: %s", self.name, self.version, type(exc).__name__)
            raise errors.internal("Internal inference error", type(exc).__name__) from exc
        finally:
            self._pool.put(request)


@dataclass
class VersionRecord:
    version: int
    state: int
    error_code: int = 0          # google.rpc / tensorflow error code, 0 = OK
    error_message: str = "OK"
    served: ServedVersion | None = None


@dataclass
class ServedModel:
    name: str
    config: ModelConfig
    versions: dict[int, VersionRecord] = field(default_factory=dict)

    def default_version(self) -> ServedVersion | None:
        """Highest AVAILABLE version (OVMS default when the request names version 0 / none)."""
        for v in sorted(self.versions, reverse=True):
            rec = self.versions[v]
            if rec.state == STATE_AVAILABLE and rec.served is not None:
                return rec.served
        return None


class ModelRegistry:
    """All models from config.json. Lookups raise OVMS-equivalent ServingErrors."""

    def __init__(self, models: list[ModelConfig], core: ov.Core | None = None, *, require_model_cards: bool = True):
        self.core = core or ov.Core()
        # A version whose files do not match its model_card.json (or, when required, that has none) is refused.
        self.require_model_cards = require_model_cards
        self.models: dict[str, ServedModel] = {}
        self._lock = threading.Lock()
        for cfg in models:
            self.models[cfg.name] = self._load(cfg)

    def _load(self, cfg: ModelConfig) -> ServedModel:
        model = ServedModel(cfg.name, cfg)
        available = cfg.available_versions()
        if not available:
            log.error("model %s: no numeric version directory with an IR under %s", cfg.name, cfg.base_path)
        for version in cfg.version_policy.select(available):
            version_dir = cfg.base_path / str(version)
            xml = version_dir / "model.xml"
            if not xml.exists():
                xml = sorted(version_dir.glob("*.xml"))[0]
            problems = verify_version_files(version_dir, require_card=self.require_model_cards)
            if problems:
                # Not served, the others still are: OVMS leaves such a version LOADING with error UNKNOWN.
                model.versions[version] = VersionRecord(version, STATE_LOADING, 2, "UNKNOWN")
                log.error("model %s version %d REFUSED: files do not match the model card: %s",
                          cfg.name, version, "; ".join(problems))
                continue
            try:
                compiled = self.core.compile_model(str(xml), cfg.target_device, dict(cfg.plugin_config))
                served = ServedVersion(cfg.name, version, compiled, cfg.nireq)
                model.versions[version] = VersionRecord(version, STATE_AVAILABLE, served=served)
                log.info("model %s version %d AVAILABLE (nireq=%d, device=%s)",
                         cfg.name, version, served.nireq, cfg.target_device)
            except Exception as exc:  # noqa: BLE001 - a broken version must not take the others down
                # OVMS leaves a version that failed to load in LOADING with error UNKNOWN.
                model.versions[version] = VersionRecord(version, STATE_LOADING, 2, "UNKNOWN")
                log.error("model %s version %d failed to load: %s", cfg.name, version, exc)
        return model

    @property
    def ready(self) -> bool:
        """True when every configured model has a servable default version."""
        return all(m.default_version() is not None for m in self.models.values())

    def get_model(self, name: str) -> ServedModel:
        model = self.models.get(name)
        if model is None:
            raise errors.model_name_missing()
        return model

    def get(self, name: str, version: int = 0) -> ServedVersion:
        """The served version ``version`` of ``name`` (0 = default, the highest available).

        Raises ServingError NOT_FOUND for an unknown name or version, as OVMS does.
        """
        model = self.get_model(name)
        if version == 0:
            served = model.default_version()
            if served is None:
                raise errors.model_version_missing()
            return served
        rec = model.versions.get(version)
        if rec is None:
            raise errors.model_version_missing()
        if rec.served is None or rec.state != STATE_AVAILABLE:
            raise errors.model_version_not_loaded_yet()
        return rec.served

    def close(self) -> None:
        for model in self.models.values():
            for rec in model.versions.values():
                rec.state = STATE_END
                rec.served = None
