"""The benchmark commands keep working as the code grows: each runs at a tiny size and reports its keys
(figures are not asserted: a benchmark reports, it is not a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys


def _bench(*args: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "hydro.cli", "bench", *args, "--json"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_bench_cycle_reports_wall_time_and_stages():
    (row,) = _bench("cycle", "--segments", "3000", "--cells", "10000", "--hours", "3")
    assert row["wall_s"] > 0 and {"nowcast", "runoff", "hillslope", "routing", "warnings"} <= set(row["stages_s"])


def test_bench_rehearse_reports_wall_time_and_verdict():
    (row,) = _bench("rehearse", "--segments", "500", "--reservoirs", "3", "--hours", "24")
    assert row["wall_s"] > 0 and isinstance(row["verified"], bool)


def test_bench_route_reports_every_method():
    rows = _bench("route", "--segments", "2000", "--steps", "24")
    assert {(r["method"], r["solver"]) for r in rows} == {("muskingum_cunge", "nwm"), ("muskingum_cunge", "fast"),
                                                          ("muskingum", "linear")}
    assert all(r["ns_per_segment_step"] > 0 and r["memory_floor_ns"] > 0 for r in rows)


def test_bench_runoff_reports_ns_per_cell_step():
    rows = _bench("runoff", "--cells", "10000", "--steps", "6")
    grid = [r for r in rows if r["benchmark"] == "grid"]
    assert {r["model"] for r in grid} == {"xaj", "gr4j"} and all(r["ns_per_cell_step"] > 0 for r in grid)
