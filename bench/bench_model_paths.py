"""Latency of the bone-age model through three paths: raw OpenVINO, OVMS TFS gRPC, OVMS KServe gRPC.

The functions are importable and print nothing; each returns per-call latencies in seconds (after warm-up).
``python bench/bench_model_paths.py [--n 50] [--variant full]`` builds a fresh model, serves it with the local model
server and prints p50/p95 and the gRPC overhead ratios.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

MODEL = "bone_age"
VERSION = 1
WARMUP = 3


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100, linear interpolation) of ``values``; raises ValueError when empty."""
    if not values:
        raise ValueError("percentile of an empty list")
    return float(np.percentile(np.asarray(values, dtype=np.float64), p))


def _inputs(seed: int = 0) -> dict[str, np.ndarray]:
    from model_repository.builders.bone_age import synthetic_calibration_images

    return {"image": synthetic_calibration_images(np.random.default_rng(seed), count=1),
            "sex": np.array([[1.0]], np.float32)}


def _timed(call, n: int) -> list[float]:
    for _ in range(WARMUP):
        call()
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    return latencies


def bench_raw_openvino(model_dir: str | Path, n: int) -> list[float]:
    """Latencies of ``n`` synchronous inferences of ``model_dir/model.xml`` (a version directory) in-process.

    Compiled with the server's plugin config (LATENCY hint, f32 inference precision) for a like-for-like baseline.
    """
    import openvino as ov

    compiled = ov.Core().compile_model(str(Path(model_dir) / "model.xml"), "CPU",
                                       {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    inputs = _inputs()
    return _timed(lambda: request.infer(inputs), n)


def bench_tfs_grpc(url: str, n: int, version: int = VERSION) -> list[float]:
    """Latencies of ``n`` Predict calls through ovmsclient (TensorFlow-Serving API) to ``url`` (host:port)."""
    import ovmsclient

    client = ovmsclient.make_grpc_client(url)
    inputs = _inputs()
    try:
        return _timed(lambda: client.predict(inputs, MODEL, version, timeout=60.0), n)
    finally:
        client.channel.close()


def bench_kserve_grpc(url: str, n: int, version: int = VERSION) -> list[float]:
    """Latencies of ``n`` ModelInfer calls through tritonclient (KServe v2 API) to ``url`` (host:port)."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url)
    tensors = []
    for name, array in _inputs().items():
        t = grpcclient.InferInput(name, list(array.shape), "FP32")
        t.set_data_from_numpy(array)
        tensors.append(t)
    try:
        return _timed(lambda: client.infer(MODEL, tensors, model_version=str(version), client_timeout=60.0), n)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys
    import tempfile

    root = Path(__file__).resolve().parents[1]
    for p in (str(root), str(root / "platform")):
        if p not in sys.path:
            sys.path.insert(0, p)
    from model_repository.build_models import build_bone_age
    from modelserver import serve

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--variant", choices=["full", "small"], default="full")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_models_") as tmp:
        started = time.perf_counter()
        version_dir = build_bone_age(Path(tmp), version=VERSION, variant=args.variant)
        build_s = time.perf_counter() - started
        raw = bench_raw_openvino(version_dir, args.n)
        with serve(Path(tmp) / "config.json", port=0, bind_address="127.0.0.1") as handle:
            tfs = bench_tfs_grpc(handle.url, args.n)
            kserve = bench_kserve_grpc(handle.url, args.n)

    print(f"bone_age {args.variant}: build {build_s:.1f}s, n={args.n}")
    base = percentile(raw, 50)
    for label, lat in (("raw OpenVINO", raw), ("TFS gRPC", tfs), ("KServe gRPC", kserve)):
        p50, p95 = percentile(lat, 50), percentile(lat, 95)
        print(f"  {label:13s} p50 {p50 * 1e3:8.2f} ms  p95 {p95 * 1e3:8.2f} ms  p50/raw {p50 / base:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
