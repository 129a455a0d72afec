"""Smoke test of the bone-age benchmark's summary and formatting, on fixed fake latencies (no services, no
timing: the benchmark itself runs with `make bench`)."""
from __future__ import annotations

import pytest

from bench import bench_bone_age as bench

FAKE_S = {
    "raw": [0.010, 0.010, 0.010, 0.010, 0.020],  # p50 10 ms, p95 18 ms (linear interpolation)
    "tfs": [0.012] * 5,
    "kserve": [0.015] * 4 + [0.027],  # p50 15 ms, p95 24.6 ms
    "platform": [0.100] * 5,
}


def test_summary_ratios_and_overhead():
    rows = bench.summarise(FAKE_S)
    assert [r["key"] for r in rows] == ["raw", "tfs", "kserve", "platform"]
    by_key = {r["key"]: r for r in rows}
    assert by_key["raw"]["p50_ms"] == pytest.approx(10.0)
    assert by_key["raw"]["p95_ms"] == pytest.approx(18.0)
    assert by_key["raw"]["p50_ratio"] == pytest.approx(1.0)
    assert by_key["tfs"]["p50_ratio"] == pytest.approx(1.2)
    assert by_key["kserve"]["p95_ms"] == pytest.approx(24.6)
    assert by_key["kserve"]["p95_ratio"] == pytest.approx(24.6 / 18.0)
    assert by_key["platform"]["p50_ratio"] == pytest.approx(10.0)
    assert by_key["platform"]["p50_overhead_ms"] == pytest.approx(90.0)
    assert all(r["n"] == 5 for r in rows)


def test_markdown_table():
    table = bench.format_markdown_table(bench.summarise(FAKE_S)).splitlines()
    assert table[0] == "| Path | p50 (ms) | p95 (ms) | p50 vs raw | p95 vs raw |"
    assert table[1] == "|---|---:|---:|---:|---:|"
    assert len(table) == 2 + 4
    assert table[2] == "| Raw OpenVINO (in-process) | 10.0 | 18.0 | 1.00× | 1.00× |"
    assert table[3].endswith("| 12.0 | 12.0 | 1.20× | 0.67× |")
    assert table[5].endswith("| 100.0 | 100.0 | 10.00× | 5.56× |")
    assert "Raw OpenVINO" in bench.format_console_table(bench.summarise(FAKE_S))


def test_breakdown_and_missing_baseline():
    records = [{"post": 0.02, "ingest": 0.015, "queue": 0.005, "worker": 0.05, "seen": 0.004}] * 3
    stages = {s["key"]: s for s in bench.breakdown(records)}
    assert list(stages) == ["post", "ingest", "queue", "worker", "seen"]
    assert stages["worker"]["p50_ms"] == pytest.approx(50.0)
    assert "worker" in bench.format_breakdown(list(stages.values()))
    with pytest.raises(ValueError):
        bench.summarise({"tfs": [0.01]})
