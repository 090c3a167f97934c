"""The embedded demo: the complete cycle on the generated demo basin, with its report, writing only under its
output folder and the cache (the wheel installed elsewhere: test_wheel.py)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from hydro.demo import run_demo


def test_demo_runs_the_complete_cycle(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    summary = run_demo(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out"]
    assert (tmp_path / "cache" / "basins_v2" / "demo" / "basin.toml").is_file()  # the demo basin: in the cache
    folder = tmp_path / "out" / "cycle_20260701T0400"
    for name in ("analysis.nc", "forecast.nc", "forecast_qlat.nc", "warnings.csv", "warnings.geojson",
                 "warnings_map.png", "warnings_hydrographs.png", "report.html", "summary.json",
                 "rehearsal/f1.nc", "rehearsal/f2.nc", "rehearsal/f2.png", "plan/plan.html", "plan/plan.md"):
        assert (folder / name).stat().st_size > 0, name
    assert (tmp_path / "out" / "state" / "restart_2026-07-01T0400.nc").is_file()
    with xr.open_dataset(folder / "forecast.nc") as ds:
        assert ds.streamflow.attrs["units"] == "m3 s-1" and ds.streamflow.dims == ("time", "feature_id")
        assert np.isfinite(ds.streamflow.values).all() and float(ds.streamflow.max()) > 0
    # at least one yellow-or-higher warning, and a rehearsal with a binding constraint
    station = summary["warning"]["stations"][0]
    assert station["grade"] in ("yellow", "orange", "red")
    assert sum(summary["warning"]["segment_counts"][g] for g in ("yellow", "orange", "red")) > 0
    rehearsal = summary["rehearsal"]
    assert rehearsal["verdict"]["accepted"] and rehearsal["binding"]
    assert rehearsal["f2"]["control_sections"][0]["peak_discharge"] <= 3000.0
    geo = json.loads((folder / "warnings.geojson").read_text())
    assert geo["features"] and geo["features"][0]["geometry"]["type"] == "LineString"
    html = (folder / "report.html").read_text()
    assert "Warnings" in html and "Rehearsal" in html and "warnings_map.png" in html
