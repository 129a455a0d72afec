"""Shared pytest fixtures: a small model repository of every catalogue model and a local model server serving it.

Import the fixtures into a conftest.py or test module (``from tests.fixtures_modelserver import *``). The build
and the server are cached per process, so importing the fixtures in several places still builds and serves once.

Everything is released in fixture teardown, never at interpreter exit: by then pytest has closed the streams its
log capture wrote to (a stop message would print "--- Logging error ---") and grpc's module globals may be gone
(a gRPC client finalised then prints "Exception ignored in ... __del__").
"""

from __future__ import annotations

import atexit
import functools
import gc
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

__all__ = ["bone_age_inputs", "catalogue_inputs", "local_model_server", "small_model_repository"]


@functools.cache
def _small_repository() -> Path:
    """Build every model at the ``small`` variant, FP32 (1) and INT8 (2), through the platform's own build, cards
    and gates (bone_age: GATE_THRESHOLD_MONTHS, 0.5 month; the others: their builder's gate). Once per process:
    ~30 s on two idle cores."""
    from model_repository.build_models import build_model, write_config
    from model_repository.catalogue import MODEL_NAMES
    from model_repository.quantize import build_int8

    root = Path(tempfile.mkdtemp(prefix="model_repository_small_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for name in MODEL_NAMES:
        fp32 = build_model(name, root, version=1, variant="small", update_config=False)
        build_int8(name, fp32, root, 2)
    write_config(root, {name: [1, 2] for name in MODEL_NAMES})
    return root


@functools.cache
def _server():
    from modelserver import serve

    # No atexit stop: the local_model_server fixture stops it in its teardown (see module docstring).
    return serve(_small_repository() / "config.json", port=0, bind_address="127.0.0.1")


def _release_platform_model_clients() -> None:
    """Drop the platform's cached model-server clients (``inference.tasks``), if that module was used.

    The cache holds the only references, so the clients are finalised (their channels closed) right here, while
    grpc is fully alive, instead of at interpreter exit.
    """
    import sys

    tasks = sys.modules.get("inference.tasks")
    cached = getattr(tasks, "_model_client", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()
        gc.collect()


def bone_age_inputs(seed: int = 0, sex: float = 1.0) -> dict[str, np.ndarray]:
    """Bone-age model inputs: a synthetic letterboxed hand radiograph, as the platform's preprocessing sends them
    (the distribution the INT8 version is calibrated and gated on)."""
    from model_repository.builders.bone_age import synthetic_radiographs

    image = synthetic_radiographs(np.random.default_rng(1000 + seed), count=1)
    return {"image": image, "sex": np.array([[sex]], np.float32)}


def catalogue_inputs(name: str, count: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs of catalogue model ``name`` (not bone_age): ``count`` synthetic phantom requests stacked into one
    batch (models with a dynamic batch dimension) as the platform's preprocessing sends them."""
    from model_repository.catalogue import builder

    items = builder(name).synthetic_inputs(np.random.default_rng(2000 + seed), count)
    return {key: np.ascontiguousarray(np.concatenate([item[key] for item in items])) for key in items[0]}


@pytest.fixture(scope="session")
def small_model_repository() -> Path:
    """Root of a model repository: every catalogue model (small variant), version 1 FP32 and version 2 INT8,
    config.json serving both."""
    return _small_repository()


@pytest.fixture(scope="session")
def local_model_server(small_model_repository):
    """A running local model server (port chosen by the OS) serving ``small_model_repository``.

    Yields the ServerHandle: ``.url`` / ``.port`` for clients.
    """
    handle = _server()
    try:
        yield handle
    finally:
        # Here, not at exit: pytest's log capture streams are closed by then (see module docstring).
        _release_platform_model_clients()
        handle.stop(1.0)
        _server.cache_clear()
