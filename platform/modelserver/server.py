"""gRPC server wiring: one port, both the TFS and the KServe API, started in-process or from ``__main__``."""

from __future__ import annotations

import logging
import os
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
import openvino as ov
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
from tritonclient.grpc import service_pb2_grpc

from modelserver.config import ModelConfig, load_config
from modelserver.kserve_service import InferenceService
from modelserver.registry import ModelRegistry
from modelserver.tfs_service import ModelService, PredictionService

log = logging.getLogger(__name__)

# gRPC's 4 MiB default is far too small for CT/MR volumes (a 512x512x300 float32 volume is 300 MiB).
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024


def _log_is_writable(logger: logging.Logger) -> bool:
    """False when a record from ``logger`` would reach a handler whose stream is already closed.

    That happens when ``stop()`` runs from an atexit hook or finalizer: a StreamHandler created while pytest captured
    stderr still points at pytest's capture file, closed at the end of the session, and logging would print
    "--- Logging error --- ValueError: I/O operation on closed file" with a traceback.
    """
    if sys.is_finalizing():
        return False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            stream = getattr(handler, "stream", None)
            if stream is not None and getattr(stream, "closed", False):
                return False
        if not current.propagate:
            break
        current = current.parent
    return True


class ServerHandle:
    """A running local model server. ``port`` is the bound port; ``stop()`` is idempotent."""

    def __init__(self, server: grpc.Server, port: int, bind_address: str, registry: ModelRegistry):
        self._server = server
        self.port = port
        self.bind_address = bind_address
        self.registry = registry
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``host:port`` to give to clients (loopback when bound to all interfaces)."""
        host = "127.0.0.1" if self.bind_address in ("0.0.0.0", "", "[::]", "::") else self.bind_address
        return f"{host}:{self.port}"

    @property
    def live(self) -> bool:
        return not self._stopped.is_set()

    def stop(self, grace_s: float | None = 5.0) -> None:
        """Stop accepting RPCs, let in-flight ones finish for up to ``grace_s`` seconds, then release models."""
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        if _log_is_writable(log):  # stop() may run at interpreter exit, after log streams were closed
            log.info("stopping model server on port %d (grace %ss)", self.port, grace_s)
        self._server.stop(grace_s).wait()
        self.registry.close()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the server terminates (or ``timeout_s`` passes); returns True if it terminated."""
        return self._server.wait_for_termination(timeout_s)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _format_address(bind_address: str, port: int) -> str:
    if ":" in bind_address and not bind_address.startswith("["):
        bind_address = f"[{bind_address}]"
    return f"{bind_address}:{port}"


def serve(
    config_path: str | Path | None = None,
    port: int = 9000,
    bind_address: str = "0.0.0.0",
    *,
    models: list[ModelConfig] | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_workers: int | None = None,
    core: ov.Core | None = None,
    require_model_cards: bool = True,
) -> ServerHandle:
    """Load the models of an OVMS ``config.json`` and start serving them over gRPC in this process.

    Parameters: ``config_path`` the OVMS config.json (or pass ``models`` directly); ``port`` the gRPC port, 0 picks
    a free one; ``bind_address`` the interface; ``max_message_bytes`` the gRPC send/receive cap;
    ``max_workers`` the gRPC thread-pool size (default: 4 x CPUs, at least 8); ``core`` a shared ov.Core;
    ``require_model_cards`` refuse versions without a model_card.json (a version whose files do not match its
    card is always refused).
    Returns a started ServerHandle (models are loaded before it returns).
    Raises ConfigError for an invalid config and RuntimeError if the port cannot be bound.
    """
    if models is None:
        if config_path is None:
            raise ValueError("serve() needs config_path or models")
        models = load_config(config_path)
    registry = ModelRegistry(models, core=core, require_model_cards=require_model_cards)
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        # Refuse a second server on the same port instead of silently sharing it (SO_REUSEPORT).
        ("grpc.so_reuseport", 0),
    ]
    workers = max_workers or max(8, 4 * (os.cpu_count() or 1))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelserver"),
                         options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(registry), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(registry), server)
    handle_box: list[ServerHandle] = []
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceService(registry, is_live=lambda: bool(handle_box) and handle_box[0].live), server)
    try:
        bound = server.add_insecure_port(_format_address(bind_address, port))
    except RuntimeError as exc:
        registry.close()
        raise RuntimeError(f"cannot bind {_format_address(bind_address, port)}: {exc}") from exc
    if bound == 0:
        registry.close()
        raise RuntimeError(f"cannot bind {_format_address(bind_address, port)}")
    server.start()
    handle = ServerHandle(server, bound, bind_address, registry)
    handle_box.append(handle)
    log.info("model server listening on %s (TFS + KServe gRPC), models: %s",
             _format_address(bind_address, bound), ", ".join(registry.models) or "none")
    return handle
