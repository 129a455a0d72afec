"""Smoke test of the tenant-scale benchmark's summary, formatting and plan reading, on fixed numbers (no database,
no timing: the benchmark itself runs with `.venv/bin/python bench/bench_tenant_scale.py`)."""
from __future__ import annotations

import pytest

from bench import bench_tenant_scale as bench

SMALL_S = {
    "list": [0.010, 0.010, 0.010, 0.010, 0.020],  # p50 10 ms, p95 18 ms (linear interpolation)
    "detail": [0.005] * 5,
    "orm_list": [0.004] * 5,
}
LARGE_S = {
    "list": [0.012] * 4 + [0.024],  # p50 12 ms, p95 21.6 ms
    "detail": [0.010] * 5,
    "orm_list": [0.004] * 5,
}

PLAN = """Limit  (cost=93.86..93.86 rows=1 width=1335) (actual time=0.307..0.311 rows=20 loops=1)
  ->  Sort  (cost=93.86..93.86 rows=1 width=1335) (actual time=0.306..0.308 rows=20 loops=1)
        ->  Nested Loop  (cost=5.01..93.85 rows=1 width=1335) (actual time=0.037..0.259 rows=20 loops=1)
              ->  Bitmap Heap Scan on inference_assessment  (cost=4.44..79.04 rows=1 width=734)
                    Filter: ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid) OR (current_setting('app.operator'::text, true) = 'on'::text))
                    ->  Bitmap Index Scan on assessment_tenant_recent  (cost=0.00..4.44 rows=20 width=0)
              ->  Seq Scan on studies_study  (cost=0.00..7.13 rows=6 width=94)
                    Rows Removed by Filter: 145
Planning Time: 1.087 ms
Execution Time: 0.376 ms"""


def test_percentile_matches_linear_interpolation():
    assert bench.percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert bench.percentile([0.010] * 4 + [0.020], 95) == pytest.approx(0.018)
    with pytest.raises(ValueError):
        bench.percentile([], 50)


def test_summary_ratios_and_verdict():
    rows = bench.summarise(SMALL_S, LARGE_S)
    assert [r["key"] for r in rows] == ["list", "detail", "orm_list"]
    by_key = {r["key"]: r for r in rows}
    assert by_key["list"]["small_p50_ms"] == pytest.approx(10.0)
    assert by_key["list"]["small_p95_ms"] == pytest.approx(18.0)
    assert by_key["list"]["large_p95_ms"] == pytest.approx(21.6)
    assert by_key["list"]["p50_ratio"] == pytest.approx(1.2)
    assert by_key["list"]["p95_ratio"] == pytest.approx(1.2)
    assert by_key["detail"]["p50_ratio"] == pytest.approx(2.0)
    assert all(r["n_small"] == r["n_large"] == 5 for r in rows)
    assert bench.verdict(rows) == {"kept": True, "list_p50_ratio": pytest.approx(1.2), "threshold": 1.5}
    assert bench.verdict(rows, threshold=1.1)["kept"] is False


def test_tables():
    rows = bench.summarise(SMALL_S, LARGE_S)
    table = bench.format_markdown_table(rows, 10, 1000).splitlines()
    assert table[0].startswith("| Endpoint (one hospital) | p50, 10 hospitals (ms) |")
    assert "p95, 1,000 hospitals (ms)" in table[0]
    assert table[1] == "|---|---:|---:|---:|---:|---:|---:|"
    assert len(table) == 2 + 3
    assert table[2] == "| GET /api/v1/assessments (list, limit 50) | 10.00 | 18.00 | 12.00 | 21.60 | 1.20× | 1.20× |"
    console = bench.format_console_table(rows, 10, 1000)
    assert "1,000 hosp. p50" in console and "2.00×" in console
    counts = bench.format_counts([{"hospitals": 10, "assessments": 200}, {"hospitals": 1000, "assessments": 20000}])
    assert counts.splitlines()[2].split() == ["assessments", "200", "20,000"]


def test_plan_findings_reads_bitmap_index_and_rls_filter():
    found = bench.plan_findings(PLAN)
    assert found["uses_index"] is True
    assert found["table_scans"] == ["Bitmap Index Scan on assessment_tenant_recent"]
    assert found["seq_scan_on_table"] is False
    assert found["seq_scans"] == ["studies_study"]
    assert found["explicit_sort"] is True
    assert found["rls_filter"] is True
    assert found["rows_removed_by_filter"] == 145
    assert found["execution_ms"] == pytest.approx(0.376)
    assert "USED" in bench.format_findings(found)
    seq = bench.plan_findings("Seq Scan on inference_assessment  (cost=0.00..1.00 rows=1 width=8)")
    assert seq["uses_index"] is False and seq["seq_scan_on_table"] is True
