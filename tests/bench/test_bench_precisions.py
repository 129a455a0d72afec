"""Smoke test of the precision benchmark's pure summary, ratio and table functions on fixed fake runs (no
torch, ONNX Runtime, NNCF or timing: the benchmark runs with `make bench-precision` and needs the bench extra)."""
from __future__ import annotations

import sys

import pytest

from bench import bench_precisions as bench


def _run(latencies_s, count=None, elapsed_s=1.0):
    count = len(latencies_s) if count is None else count
    return {"latencies_s": latencies_s, "elapsed_s": elapsed_s, "count": count}


RUNS = {
    "pt_fp32": {"latency": _run([0.100] * 4 + [0.200], count=8), "throughput": _run([0.200] * 10, count=10)},
    "ort_int8": {"latency": _run([0.025] * 5, count=40), "throughput": _run([0.050] * 5, count=40)},
    "ov_int8": {"latency": _run([0.0125] * 5, count=80), "throughput": _run([0.020] * 5, count=100)},
}


def test_pure_helpers_need_no_runtime():
    # Importing the benchmark module must not pull in the bench extra (CI does not install it).
    import subprocess

    code = ("import sys; from bench import bench_precisions; "
            "print(','.join(m for m in ('torch', 'onnxruntime', 'nncf', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(bench.REPO_ROOT)).stdout.strip()
    assert out == ""
    assert bench.percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    with pytest.raises(ValueError):
        bench.percentile([], 50)


def test_summary_and_ratios():
    rows = bench.summarise(RUNS)
    assert [r["key"] for r in rows] == ["pt_fp32", "ort_int8", "ov_int8"]
    by_key = {r["key"]: r for r in rows}
    base = by_key["pt_fp32"]
    assert base["latency"]["p50_ms"] == pytest.approx(100.0)
    assert base["latency"]["p95_ms"] == pytest.approx(180.0)
    assert base["latency"]["throughput_ips"] == pytest.approx(8.0)
    assert base["latency"]["p50_speedup"] == pytest.approx(1.0)
    ov = by_key["ov_int8"]
    assert ov["latency"]["p50_speedup"] == pytest.approx(8.0)
    assert ov["throughput"]["throughput_ratio"] == pytest.approx(10.0)
    assert ov["throughput"]["p50_speedup"] == pytest.approx(10.0)
    assert bench.ratio(rows, "ov_int8", "ort_int8", "throughput") == pytest.approx(2.5)
    assert bench.ratio(rows, "ov_int8", "ort_int8", "latency", "p50_ms") == pytest.approx(2.0)
    assert bench.ratio(rows, "ov_int8", "ov_fp32", "latency") is None
    with pytest.raises(ValueError):
        bench.summarise({"ov_int8": RUNS["ov_int8"]})
    with pytest.raises(ValueError):
        bench.summarise({"pt_fp32": {"latency": RUNS["pt_fp32"]["latency"]}, "ov_int8": RUNS["ov_int8"]})


def test_verdict():
    v = bench.verdict(bench.summarise(RUNS))
    assert v["throughput_throughput_vs_pytorch_fp32"] == pytest.approx(10.0)
    assert v["latency_throughput_vs_ort_int8"] == pytest.approx(2.0)
    assert v["held"] is True
    assert bench.verdict(bench.summarise(RUNS), vs_ort=2.1)["held"] is False
    assert bench.verdict(bench.summarise({"pt_fp32": RUNS["pt_fp32"]}))["held"] is False


def test_agreement_and_accuracy_helpers():
    outputs = {"pt": [[100.0], [50.0]], "ort": [[100.05], [50.0]], "ov": [[100.0], [49.9]]}
    agreement = bench.relative_agreement(outputs, "pt")
    assert agreement["ort"] == pytest.approx(5e-4)
    assert agreement["ov"] == pytest.approx(2e-3)
    assert bench.mean_abs_difference([1.0, 2.0], [1.5, 1.0]) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        bench.relative_agreement({"pt": [[1.0]], "ov": []}, "pt")


def test_tables():
    rows = bench.summarise(RUNS, labels={"ov_int8": "OpenVINO INT8 (test)"})
    table = bench.format_markdown_table(rows).splitlines()
    assert table[0].startswith("| Runtime, precision | Latency mode p50 (ms) |")
    assert table[1] == "|---|---:|---:|---:|---:|---:|---:|"
    assert len(table) == 2 + 3
    assert table[2] == "| PyTorch eager FP32 | 100.0 | 8.0 | 1.00× | 10.0 | 200.0 | 1.00× |"
    assert table[4] == "| OpenVINO INT8 (test) | 12.5 | 80.0 | 8.00× | 100.0 | 20.0 | 10.00× |"
    acc = bench.format_accuracy_table([{"label": "OV INT8", "reference": "OV FP32", "mean_abs_diff": 0.1234,
                                        "max_abs_diff": 0.5, "n": 33}], "months").splitlines()
    assert acc[0].startswith("| Precision | Against | Mean abs difference (months)")
    assert acc[2] == "| OV INT8 | OV FP32 | 0.123 | 0.500 | 33 |"
    assert "OpenVINO INT8 (test)" in bench.format_console_table(rows)
    load = bench.outside_load({"busy_s": 10.0, "self_s": 5.0, "wall": 0.0}, {"busy_s": 20.0, "self_s": 13.0,
                                                                             "wall": 10.0}, 2)
    assert load == {"wall_s": 10.0, "other_core_s": 2.0, "other_share": 0.1}


def test_rounds_pooled_and_best():
    rounds = {"pt_fp32": {"latency": [_run([0.1] * 4), _run([0.2] * 2)]}}
    merged = bench.merge_rounds(rounds)["pt_fp32"]["latency"]
    assert merged["count"] == 6 and len(merged["latencies_s"]) == 6
    assert merged["elapsed_s"] == pytest.approx(2.0)
    assert merged["rounds"] == [4.0, 2.0]
    best = bench.best_rounds(rounds)["pt_fp32"]["latency"]
    assert best["count"] == 4


def _tiny_ir_and_module(rng, shortcut_channels=8):
    """A builder-shaped OpenVINO graph (conv+bias stem, basic block with a 1x1/2 projection shortcut, GAP, sex
    concatenated, MLP head, scale * sigmoid) with random weights, and an empty torch module of the same layout."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops
    import torch
    from torch import nn

    def conv(x, cout, cin, k, stride):
        w = rng.normal(0, 0.3, (cout, cin, k, k)).astype(np.float32)
        y = ops.convolution(x, ops.constant(w), [stride, stride], [k // 2] * 2, [k // 2] * 2, [1, 1])
        return ops.add(y, ops.constant(rng.normal(0, 0.1, (1, cout, 1, 1)).astype(np.float32)))

    image = ops.parameter([1, 1, 32, 32], np.float32, name="image")
    sex = ops.parameter([1, 1], np.float32, name="sex")
    x = ops.max_pool(ops.relu(conv(image, 4, 1, 7, 2)), [2, 2], [1, 1], [1, 1], [1, 1], [3, 3]).output(0)
    h = conv(ops.relu(conv(x, 8, 4, 3, 2)), 8, 8, 3, 1)
    x = ops.relu(ops.add(h, conv(x, 8, 4, 1, 2)))
    pooled = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    h = ops.concat([pooled, sex], axis=1)
    h = ops.relu(ops.add(ops.matmul(h, ops.constant(rng.normal(0, 0.3, (9, 5)).astype(np.float32)), False, False),
                         ops.constant(rng.normal(0, 0.1, 5).astype(np.float32))))
    logit = ops.add(ops.matmul(h, ops.constant(rng.normal(0, 0.3, (5, 1)).astype(np.float32)), False, False),
                    ops.constant(np.array([0.1], np.float32)))
    out = ops.multiply(ops.sigmoid(logit), ops.constant(np.array(228.0, np.float32)))
    model = ov.Model([ops.result(out)], [image, sex], "tiny")

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(4, 8, 3, 2, 1), nn.Conv2d(8, 8, 3, 1, 1)
            self.shortcut = nn.Conv2d(4, shortcut_channels, 1, 2, 0)

        def forward(self, x):
            return torch.relu(self.conv2(torch.relu(self.conv1(x))) + self.shortcut(x))

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.pool, self.block = nn.Conv2d(1, 4, 7, 2, 3), nn.MaxPool2d(3, 2, 1), Block()
            self.fc1, self.fc2 = nn.Linear(9, 5), nn.Linear(5, 1)
            self.register_buffer("scale", torch.tensor(float("nan")))

        def forward(self, image, sex):
            feats = self.block(self.pool(torch.relu(self.stem(image)))).mean(dim=(2, 3))
            return torch.sigmoid(self.fc2(torch.relu(self.fc1(torch.cat([feats, sex], 1))))) * self.scale

    return model, Tiny().eval()


def test_ir_weights_copied_into_the_module():
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    ov = pytest.importorskip("openvino")
    rng = np.random.default_rng(0)
    model, module = _tiny_ir_and_module(rng)
    mapping = bench.load_ir_weights(module, model)
    assert [m["torch"] for m in mapping][:4] == ["stem.weight", "stem.bias", "block.conv1.weight", "block.conv1.bias"]
    assert mapping[-1]["torch"] == "scale" and len(mapping) == 4 * 2 + 2 * 2 + 1
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for _ in range(3):
        image = rng.uniform(0, 1, (1, 1, 32, 32)).astype(np.float32)
        sex = np.array([[1.0]], np.float32)
        expected = compiled([image, sex])[0]
        with torch.inference_mode():
            got = module(torch.from_numpy(image), torch.from_numpy(sex)).numpy()
        assert np.allclose(got, expected, rtol=1e-4, atol=1e-3)

    # A module whose layout differs from the IR's is refused, not half-loaded.
    model, wrong = _tiny_ir_and_module(np.random.default_rng(1), shortcut_channels=4)
    with pytest.raises(ValueError, match="mismatch|constants"):
        bench.load_ir_weights(wrong, model)
