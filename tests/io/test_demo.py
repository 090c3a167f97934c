"""The embedded demo: generated grid basin -> storm -> gridded XAJ -> lateral inflow -> routed NetCDF + PNG."""

from __future__ import annotations

import numpy as np
import xarray as xr

from hydro.demo import run_demo


def test_demo_runs_end_to_end(tmp_path):
    summary = run_demo(tmp_path / "basin", tmp_path / "out")
    for name in ("flow_direction.tif", "channel_segments.tif", "network.nc", "basin.toml"):
        assert (tmp_path / "basin" / name).is_file()
    assert (tmp_path / "out" / "demo_outlet_hydrograph.png").stat().st_size > 10_000
    with xr.open_dataset(tmp_path / "out" / "demo_chrtout.nc") as ds:
        assert ds.streamflow.attrs["units"] == "m3 s-1"
        assert np.isfinite(ds.streamflow.values).all() and float(ds.streamflow.max()) > 0
    with xr.open_dataset(tmp_path / "out" / "demo_lateral_inflow.nc") as lat:
        assert float(lat.qlat.min()) >= 0.0
    assert 0.2 < summary["runoff_ratio"] < 1.0 and summary["basin_rain_mm"] > 20
    # the rehearsal finds risk under the current rule and a verified schedule that removes it
    rehearsal = summary["rehearsal"]
    assert rehearsal["f1_peak"] > 3000.0 and rehearsal["accepted"] and rehearsal["f2_peak"] <= 3000.0
    assert rehearsal["binding"] > 0
    for name in ("f1.nc", "f2.nc", "f1.png", "f2.png", "summary.json"):
        assert (tmp_path / "out" / "rehearsal" / name).is_file()
