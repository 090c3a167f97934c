"""Outputs other tools read (issue 17, item 6): every NetCDF of route, nowcast and a cycle passes the CF
checker, with one time encoding and one float fill value; the route output keeps every reach of the
RouteLink (lake-interior reaches flagged) with NWM's latitude/longitude/order/elevation; the nowcast
carries its grid mapping (pyproj ``CRS.to_cf()``); calibration's NetCDF is the calibrated set's run over the record.

The cfchecks part runs where ``cfchecks`` (PyPI ``cfchecker``, a test dependency) and UDUNITS-2 (Debian
``libudunits2-0``, which .ci/run installs) are installed, cfchecks on PATH, in the test's environment or in
/tmp/cfenv, with the offline tables of ../shared/data/cf (see its README); the attribute checks always run.
"""

from __future__ import annotations

import ctypes.util
import functools
import shutil
import subprocess
import sys
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

from hydro.cli import main
from hydro.core.variables import FLOAT_FILL_VALUE, TIME_ENCODING
from tests.helpers import DEMO_CYCLE_2H

REPO = Path(__file__).resolve().parents[2]
CF_TABLES = REPO.parent / "shared" / "data" / "cf"
CYCLE = DEMO_CYCLE_2H
# written by hydro/stages/rehearsal.py scheme_dataset (F1/F2 and the plan's schemes)
SCHEMES = ("rehearsal/f1.nc", "rehearsal/f2.nc", "plan/scheme_rules.nc")


@functools.cache  # find_library runs ldconfig; one look for the 11 parametrised tests
def _cfchecks() -> str | None:
    if ctypes.util.find_library("udunits2") is None:  # cfchecks (cfunits) loads UDUNITS-2 at start and fails without it
        return None
    found = shutil.which("cfchecks")
    if found:
        return found
    # installed into the test's own environment (make test runs .venv/bin/python without .venv/bin on PATH)
    for local in (Path(sys.executable).parent / "cfchecks", Path("/tmp/cfenv/bin/cfchecks")):
        if local.is_file():
            return str(local)
    return None


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, nwm_dir, radar_dir, catchments_dir) -> dict[str, Path]:
    """route.nc (real Lower Colorado, 2 h), nowcast.nc (+ 3 members), calibrate's simulation (real Sieve record,
    a short search) and one cold demo cycle's files."""
    tmp = tmp_path_factory.mktemp("cf")
    lc = nwm_dir / "original"
    assert main(["route", "--routelink", str(lc / "RouteLink.nc"), "--lakeparm", str(lc / "LAKEPARM.nc"),
                 "--lateral", str(lc / "channel_forcing"), "--dt", "300", "--hours", "2",
                 "--output", str(tmp / "route.nc"), "--no-progress"]) == 0
    for name, extra in (("nowcast.nc", []), ("nowcast_members.nc", ["--members", "3"])):
        assert main(["nowcast", "--radar", str(radar_dir / "knmi_20100826.nc"), "--issue-time", "2010-08-26T03:30",
                     "--lead-minutes", "30", "--output", str(tmp / name), *extra]) == 0
    record = catchments_dir / "sieve_fornacina_hourly" / "sieve_fornacina_hourly.nc"
    assert main(["calibrate", "--data", str(record), "--model", "xaj", "--warmup", "1992-01-01/1992-03-31",
                 "--calibration", "1992-04-01/1992-12-31", "--validation", "1993-01-01/1993-06-30",
                 "--evaluations", "16", "--no-plots", "--no-progress", "--output", str(tmp / "xaj.toml")]) == 0
    config = tmp / "cycle" / "cycle.toml"
    config.parent.mkdir()
    config.write_text(CYCLE)
    assert main(["run", str(config), "--cold"]) == 0
    folder = next((tmp / "cycle" / "out").glob("cycle_*"))
    files = {"route": tmp / "route.nc", "nowcast": tmp / "nowcast.nc", "nowcast_members": tmp / "nowcast_members.nc",
             "calibrate": tmp / "xaj_simulation.nc"}
    for name in ("analysis.nc", "forecast.nc", "forecast_qlat.nc", *SCHEMES):
        files[name] = folder / name
    files["restart"] = next((tmp / "cycle" / "state").glob("restart_*.nc"))
    return files


OURS = ("route", "nowcast", "nowcast_members", "calibrate", "analysis.nc", "forecast.nc", "forecast_qlat.nc", "restart")
ALL = [*OURS, *SCHEMES]


@pytest.mark.parametrize("name", ALL)
def test_cfchecks_finds_no_error(outputs, name, tmp_path):
    checker = _cfchecks()
    if checker is None:
        pytest.skip("cfchecks or UDUNITS-2 not installed (cfchecker is a test dependency; apt install libudunits2-0, "
                    "as .ci/run does; see ../shared/data/cf/README.md)")
    if not (CF_TABLES / "cf-standard-name-table-v83.xml").is_file():
        pytest.skip(f"offline CF tables not found in {CF_TABLES}")
    copy = tmp_path / Path(outputs[name]).name
    shutil.copyfile(outputs[name], copy)
    with netCDF4.Dataset(copy, "a") as ds:  # cfchecker 4.1 knows CF up to 1.8 (README of shared/data/cf)
        ds.Conventions = "CF-1.8"
    proc = subprocess.run([checker, "-s", str(CF_TABLES / "cf-standard-name-table-v83.xml"),
                           "-a", str(CF_TABLES / "area-type-table.xml"), "-r", str(CF_TABLES / "standardized-region-list.xml"),
                           "-v", "1.8", str(copy)], capture_output=True, text=True, timeout=300)
    report = proc.stdout + proc.stderr
    errors = [line for line in report.splitlines() if line.startswith("ERROR:") or "Traceback" in line]
    assert "ERRORS detected: 0" in report and not errors, "\n".join(errors) or report[-2000:]


@pytest.mark.parametrize("name", ALL)
def test_one_time_encoding_and_fill_value(outputs, name):
    with netCDF4.Dataset(outputs[name]) as ds:
        assert ds.getncattr("Conventions") == "CF-1.11"
        for var in ds.variables.values():
            if "calendar" in var.ncattrs():  # a time
                assert (var.units, var.calendar) == (TIME_ENCODING["units"], TIME_ENCODING["calendar"]), var.name
                assert var.dtype == (np.int32 if var.name == "time_bounds" else np.int64), var.name
            elif var.dtype.kind == "f" and var.name not in ds.dimensions and var.dimensions:
                assert "_FillValue" in var.ncattrs() and var._FillValue == FLOAT_FILL_VALUE, var.name
            assert not isinstance(var.datatype, netCDF4.VLType) and var.dtype is not str, f"{var.name}: vlen string"


def test_route_keeps_every_reach_with_nwm_feature_fields(outputs, nwm_dir):
    with netCDF4.Dataset(nwm_dir / "original" / "RouteLink.nc") as rl:
        link = rl["link"][:].astype(np.int64)
        lat, lon, order, alt = (np.ma.filled(rl[v][:], np.nan) for v in ("lat", "lon", "order", "alt"))
    out = xr.load_dataset(outputs["route"])
    fid = out.feature_id.values
    assert np.all(np.diff(fid) > 0)  # a CF coordinate variable: monotonic
    assert np.isin(link, fid).all()  # every reach of the input network
    assert set(fid) - set(link) == set(out.lake_id.values)  # plus one node per collapsed lake
    at = out.sel(feature_id=link)
    np.testing.assert_array_equal(at.latitude.values, lat.astype(np.float32))
    np.testing.assert_array_equal(at.longitude.values, lon.astype(np.float32))
    np.testing.assert_array_equal(at.order.values, order.astype(np.int32))
    np.testing.assert_array_equal(at.elevation.values, alt.astype(np.float32))
    interior = out.where(out.lake_interior == 1, drop=True)
    assert interior.sizes["feature_id"] > 300 and int(out.is_lake.sum()) == out.sizes["lake_id"]
    assert interior.velocity.isnull().all() and interior.depth.isnull().all()
    lake_flow = out.streamflow.sel(feature_id=interior.waterbody.values.astype(np.int64)).values
    np.testing.assert_array_equal(interior.streamflow.values, lake_flow)  # a lake-interior reach: its lake's outflow
    for name in ("latitude", "longitude"):
        assert out[name].attrs["standard_name"] == name
    with netCDF4.Dataset(outputs["route"]) as ds:  # as in NWM CHRTOUT: streamflow:coordinates = "latitude longitude"
        assert {"latitude", "longitude"} <= set(ds["streamflow"].coordinates.split())


def test_nowcast_has_the_grid_mapping_pyproj_gives(outputs):
    pyproj = pytest.importorskip("pyproj")
    for name in ("nowcast", "nowcast_members"):
        with xr.open_dataset(outputs[name]) as ds:
            crs_attrs = ds["crs"].attrs
            expected = pyproj.CRS.from_wkt(crs_attrs["crs_wkt"]).to_cf()
            for key in ("grid_mapping_name", "standard_parallel", "straight_vertical_longitude_from_pole",
                        "false_easting", "false_northing", "semi_major_axis"):
                if key in expected:
                    assert crs_attrs[key] == pytest.approx(expected[key]) if not isinstance(expected[key], str) \
                        else crs_attrs[key] == expected[key], key
            assert crs_attrs["grid_mapping_name"] == "polar_stereographic"
            for var in ds.data_vars.values():
                if var.dims[-2:] == ("y", "x"):
                    assert var.attrs["grid_mapping"] == "crs"
            assert ds.x.attrs["standard_name"] == "projection_x_coordinate"
            assert ds.y.attrs["standard_name"] == "projection_y_coordinate"
            assert ds.time.attrs["bounds"] == "time_bounds"
            if name == "nowcast_members":
                assert ds.member.attrs["standard_name"] == "realization"


def test_the_time_encoding_is_the_same_in_every_output(outputs):
    encodings = set()
    for name in OURS:
        with netCDF4.Dataset(outputs[name]) as ds:
            if "time" in ds.variables:
                encodings.add((ds["time"].units, ds["time"].calendar, ds["time"].dtype.str))
    assert encodings == {(TIME_ENCODING["units"], TIME_ENCODING["calendar"], np.dtype("int64").str)}, encodings
