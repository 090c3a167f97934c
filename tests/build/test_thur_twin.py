"""The Thur at Andelfingen built from the Rhine DEM and run end to end on the real MeteoSwiss radar event
(examples/thur): the build's drainage area against BAFU's, the cycle's basin rain against the radar read directly,
and all four stages through ``hydro run``."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from hydro.cli import main

from .conftest import RHINE_DEM, SHARED

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "thur"
RADAR = SHARED / "radar" / "mch_20160711.nc"
THUR_BAFU_KM2 = 1696.0  # BAFU hydrodaten, station 2044 Thur - Andelfingen

pytestmark = [
    pytest.mark.skipif(not (RHINE_DEM.is_file() and RADAR.is_file()),
                       reason="../shared/data (rhine_elv0.tif, mch_20160711.nc) absent: the shared data is not mounted"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:pyflwdir.gis_utils"),
]


@pytest.fixture(scope="module")
def thur_run(tmp_path_factory):
    """Build as examples/thur/cycle.toml documents, then `hydro run` the example config (paths made absolute)."""
    root = tmp_path_factory.mktemp("thur")
    rc = main(["basin", "build", "--dem", str(RHINE_DEM), "--outlet", "8.681,47.596,1696", "--name", "thur",
               "--gauges", str(EXAMPLE / "gauges.csv"), "--stream-area-km2", "10", "--segment-length-km", "10",
               "--grid-km", "2", "--output", str(root / "thur"), "--no-map"])
    assert rc == 0
    setup = tomllib.loads((EXAMPLE / "radar.toml").read_text())
    setup["path"] = str(RADAR)
    (root / "radar.toml").write_text(tomli_w.dumps(setup))
    shutil.copy(EXAMPLE / "cycle.toml", root / "cycle.toml")
    return root


def test_thur_twin_runs_all_four_stages_on_the_radar_event(thur_run, capsys):
    capsys.readouterr()
    assert main(["run", str(thur_run / "cycle.toml"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    summary = summary[0] if isinstance(summary, list) else summary
    for stage in ("forecast_stage", "warning", "rehearsal", "plan"):
        assert stage in summary, stage
    assert "simulated (synthetic, not observed)" in summary["warning"]["climatology"]
    assert "nothing to dispatch" in summary["plan"]["nothing_to_dispatch"]  # no dams on the built Thur
    basin_rain = summary["forecast_stage"]["basin_rain_mm"]
    assert basin_rain == pytest.approx(_radar_basin_rain_mm(thur_run / "thur"), rel=0.05)
    import xarray as xr

    forecast = next((thur_run / "runs").glob("cycle_*/forecast.nc"))
    with xr.open_dataset(forecast) as ds:
        flow = ds["streamflow"].values
    assert np.isfinite(flow).all() and (flow >= 0).all() and flow.max() > 0


def test_thur_gauge_area_within_3_percent_of_bafu(thur_run, capsys):
    capsys.readouterr()
    assert main(["basin", "info", str(thur_run / "thur"), "--json"]) == 0
    gauge = json.loads(capsys.readouterr().out)["gauges"][0]
    assert gauge["upstream_area_km2"] == pytest.approx(THUR_BAFU_KM2, rel=0.03)


def _radar_basin_rain_mm(folder: Path) -> float:
    """Areal mean radar rain over the basin, 21:00-23:00 UTC (the analysis window), read straight from the radar
    file: each basin cell sampled at 9 x 9 points, each point taking the radar cell it falls in (1 km cells)."""
    import rasterio
    import xarray as xr
    from pyproj import CRS, Transformer

    with rasterio.open(folder / "flow_direction.tif") as src:
        inside = src.read(1) != src.nodata
        tr = src.transform
    rows, cols = np.nonzero(inside)
    sub = (np.arange(9) + 0.5) / 9.0
    dr, dc = np.meshgrid(sub, sub, indexing="ij")
    lon = tr.c + tr.a * (cols[:, None] + dc.ravel()[None, :])
    lat = tr.f + tr.e * (rows[:, None] + dr.ravel()[None, :])
    weight = np.cos(np.radians(lat))  # cell areas on the lat/lon grid
    with xr.open_dataset(RADAR) as ds:
        to_radar = Transformer.from_crs("EPSG:4326", CRS.from_wkt(ds["crs"].attrs["crs_wkt"]), always_xy=True)
        x, y = to_radar.transform(lon, lat)
        xs, ys = ds["x"].values, ds["y"].values
        ix = np.clip(np.round((x - xs[0]) / (xs[1] - xs[0])).astype(int), 0, xs.size - 1)
        iy = np.clip(np.round((y - ys[0]) / (ys[1] - ys[0])).astype(int), 0, ys.size - 1)
        window = ds["rainfall_rate"].sel(time=slice("2016-07-11T21:05", "2016-07-11T23:00")).values
    rate = np.nan_to_num(window[:, iy, ix], nan=0.0)  # unmeasured = dry, as the set-up says (missing = "zero")
    mm = rate.mean(axis=0) * 2.0  # mean rate [mm/h] over the 2 h window
    return float((mm * weight).sum() / weight.sum())
