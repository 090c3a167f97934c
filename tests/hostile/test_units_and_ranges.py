"""Units attributes are read and converted (pint) or refused; values outside the plausible range of
core.variables.INPUT_VARIABLES are refused with one line naming the file, variable, where and the value."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

from hydro.core.variables import INPUT_VARIABLES, unit_factor

from .conftest import assert_refused, listing, run_cli

ROUTE = ["route", "--network", "net.nc", "--output", "out/out.nc", "--no-progress"]
NOWCAST = ["nowcast", "--issue-time", "2026-01-01T00:30", "--lead-minutes", "10", "--method", "persistence"]
FT3 = 0.3048**3


@pytest.fixture
def in_workspace(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    return workspace


def _edit(path, variable, units=None, scale=1.0, at=None, value=None):
    with netCDF4.Dataset(path, "a") as ds:
        var = ds[variable]
        if units is not None:
            var.units = units
        if scale != 1.0:
            var[:] = var[:] * scale
        if at is not None:
            var[at] = value


def test_units_table_parses_with_pint():
    for name, spec in INPUT_VARIABLES.items():
        assert unit_factor(spec.units, spec.units) == 1.0, name
        assert spec.action in ("refuse", "qc") and spec.valid_range[0] < spec.valid_range[1], name


@pytest.mark.parametrize("units,factor", [("m3 s-1", 1.0), ("m3/s", 1.0), ("ft3 s-1", FT3), ("cfs", FT3),
                                          ("kg m-2 s-1", None), ("mm h-1", None)])
def test_unit_factors(units, factor):
    assert unit_factor(units, "m3 s-1") == (pytest.approx(factor, rel=1e-12) if factor else None)
    assert unit_factor("kg m-2 s-1", "mm h-1") == pytest.approx(3600.0)  # water: 1 kg m-2 = 1 mm


def _route(capsys, lateral):
    code, err = run_cli(capsys, *ROUTE, "--lateral", lateral)
    assert code == 0, err
    with xr.open_dataset("out/out.nc") as ds:
        flow = ds["streamflow"].values
    Path("out/out.nc").unlink()
    return flow


def test_lateral_inflow_in_cubic_feet_is_converted(in_workspace, capsys):
    reference = _route(capsys, "qlat.nc")
    _edit("qlat.nc", "qlat", units="ft3 s-1", scale=1.0 / FT3)
    np.testing.assert_allclose(_route(capsys, "qlat.nc"), reference, rtol=1e-5)
    assert reference.max() > 1.0  # the network carries the 1 m3 s-1 per segment, not 0.028 of it


def test_chrtout_in_cubic_feet_is_converted(in_workspace, capsys):
    reference = _route(capsys, "chrtout")
    for path in sorted((in_workspace / "chrtout").iterdir()):
        for name in ("qBucket", "qSfcLatRunoff"):
            _edit(path, name, units="ft3 s-1", scale=1.0 / FT3)
    np.testing.assert_allclose(_route(capsys, "chrtout"), reference, rtol=1e-5)


@pytest.mark.parametrize("units", ["mm", "m s-1", "degC", "furlongs per fortnight", ""])
def test_lateral_inflow_in_wrong_units_is_refused(units, in_workspace, capsys):
    _edit("qlat.nc", "qlat", units=units)
    code, err = run_cli(capsys, *ROUTE, "--lateral", "qlat.nc")
    assert_refused(code, err, ["qlat.nc", "qlat", "m3 s-1"], expected_codes=(3,))
    assert listing(in_workspace / "out") == {}


@pytest.mark.parametrize("value", [1e30, 2e5, np.inf])
def test_implausible_lateral_inflow_is_refused(value, in_workspace, capsys):
    _edit("qlat.nc", "qlat", at=(2, 1), value=value)
    code, err = run_cli(capsys, *ROUTE, "--lateral", "qlat.nc")
    assert_refused(code, err, ["qlat.nc", "lateral inflow", "feature_id 2", "2026-01-01T02:00", f"{value:g}"],
                   expected_codes=(3,))
    assert listing(in_workspace / "out") == {}


def test_implausible_chrtout_value_is_refused_whatever_the_policy(in_workspace, capsys):
    _edit(in_workspace / "chrtout" / "202601010100.CHRTOUT_DOMAIN1", "qBucket", at=0, value=1e30)
    code, err = run_cli(capsys, *ROUTE, "--lateral", "chrtout", "--bad-lateral", "zero")
    assert_refused(code, err, ["chrtout", "feature_id 1", "2026-01-01T01:00", "1e+30"], expected_codes=(3,))


def _nowcast(capsys, name):
    code, err = run_cli(capsys, *NOWCAST, "--radar", "radar.nc", "--output", f"out/{name}")
    assert code == 0, err
    with xr.open_dataset(f"out/{name}") as ds:
        return ds["rainfall_rate"].values


def test_radar_mass_flux_is_converted_to_a_rate(in_workspace, capsys):
    reference = _nowcast(capsys, "a.nc")
    _edit("radar.nc", "rainfall_rate", units="kg m-2 s-1", scale=1.0 / 3600.0)
    np.testing.assert_allclose(_nowcast(capsys, "b.nc"), reference, rtol=1e-5)


@pytest.mark.parametrize("units", ["mm", "m3 s-1", "dBZ"])
def test_radar_in_wrong_units_is_refused(units, in_workspace, capsys):
    _edit("radar.nc", "rainfall_rate", units=units)
    code, err = run_cli(capsys, *NOWCAST, "--radar", "radar.nc", "--output", "out/now.nc")
    assert_refused(code, err, ["radar.nc", "rainfall_rate", "mm h-1"], expected_codes=(3,))
    assert listing(in_workspace / "out") == {}


def test_negative_radar_rain_is_refused(in_workspace, capsys):
    _edit("radar.nc", "rainfall_rate", at=(1, 5, 7), value=-3.0)
    code, err = run_cli(capsys, *NOWCAST, "--radar", "radar.nc", "--output", "out/now.nc")
    assert_refused(code, err, ["radar.nc", "rainfall_rate = -3", "y 5, x 7"], expected_codes=(3,))


CALIBRATE = ["calibrate", "--data", "record.nc", "--model", "gr4j", "--warmup", "2020-01-01/2020-01-10",
             "--calibration", "2020-01-11/2020-02-28", "--bounds", "bounds.toml", "--evaluations", "16",
             "--no-plots", "--no-catchment", "--output", "out/p.toml"]


def test_catchment_discharge_in_cubic_feet_is_converted(in_workspace):
    from hydro.io.catchment import read_catchment

    reference = read_catchment(in_workspace / "record.nc").discharge
    _edit(in_workspace / "record.nc", "discharge", units="ft3 s-1", scale=1.0 / FT3)
    np.testing.assert_allclose(read_catchment(in_workspace / "record.nc").discharge, reference, rtol=1e-12)


@pytest.mark.parametrize("edit,needles", [
    (dict(variable="precipitation", units="mm h-1"), ["precipitation", "mm h-1"]),  # a rate: the step is the record's
    (dict(variable="precipitation", units="m", scale=1.0), ["precipitation", "plausible"]),  # mm values read as m
    (dict(variable="pet", at=100, value=1e30), ["pet", "1e+30"]),
    (dict(variable="discharge", at=50, value=5e6), ["discharge", "5e+06", "2020-01-03T02:00"]),
    (dict(variable="discharge", units="m"), ["discharge", "'m'"]),
])
def test_bad_catchment_record_is_refused(edit, needles, in_workspace, capsys):
    if edit.get("units") == "m":  # values in mm stamped as m: 1000 times too much rain
        _edit("record.nc", "precipitation", at=10, value=5.0)
    _edit("record.nc", **edit)
    code, err = run_cli(capsys, *CALIBRATE)
    assert_refused(code, err, ["record.nc", *needles], expected_codes=(3,))
    assert listing(in_workspace / "out") == {}


def test_zero_catchment_area_is_refused(in_workspace, capsys):
    with netCDF4.Dataset("record.nc", "a") as ds:
        ds.catchment_area_km2 = 0.0
    code, err = run_cli(capsys, *CALIBRATE)
    assert_refused(code, err, ["record.nc", "catchment_area_km2"], expected_codes=(3,))


@pytest.mark.parametrize("line,replacement,key", [
    ("storage_m3 = [0.0, 50e6, 150e6, 300e6, 500e6]", "storage_m3 = [0.0, 50e6, 150e6, 300e6, 5e15]", "storage_m3"),
    ("level_m = [100.0, 110.0, 120.0, 130.0, 140.0]", "level_m = [100.0, 110.0, 120.0, 130.0, 14000.0]", "level_m"),
    ("capacity_m3s = [0.0, 800.0, 2500.0, 5000.0, 8000.0]", "capacity_m3s = [0.0, 800.0, 2500.0, 5000.0, 8e9]",
     "capacity_m3s"),
    ("safe_release = 1500.0", "safe_release = 1.5e9", "safe_release"),
])
def test_implausible_reservoir_curve_is_refused(line, replacement, key, in_workspace, capsys):
    text = (in_workspace / "res.toml").read_text()
    (in_workspace / "res.toml").write_text(text.replace(line, replacement))
    code, err = run_cli(capsys, "reservoir", "route", "res.toml", "--inflow", "inflow.csv", "--output", "out/o.csv")
    assert_refused(code, err, ["res.toml", key, "plausible"], expected_codes=(2,))
    assert listing(in_workspace / "out") == {}


@pytest.mark.parametrize("variable,value", [("length", 1e30), ("length", 1e-30), ("slope", 1e30),
                                            ("mannings_n", 1e-30), ("side_slope", 1e30)])
def test_implausible_network_geometry_is_refused(variable, value, in_workspace, capsys):
    _edit("net.nc", variable, at=1, value=value)
    code, err = run_cli(capsys, *ROUTE, "--lateral", "qlat.nc")
    assert_refused(code, err, ["net.nc", variable, "feature_id 2", f"{value:g}"], expected_codes=(3,))
    assert listing(in_workspace / "out") == {}


def test_implausible_initial_state_is_refused(in_workspace, capsys):
    code, err = run_cli(capsys, *ROUTE, "--lateral", "qlat.nc")
    assert code == 0, err
    _edit("out/out.nc", "streamflow", at=(-1, 2), value=1e12)
    (in_workspace / "out/out.nc").rename(in_workspace / "state.nc")
    code, err = run_cli(capsys, *ROUTE, "--lateral", "qlat.nc", "--initial-state", "state.nc")
    assert_refused(code, err, ["state.nc", "initial streamflow", "feature_id 3", "1e+12"], expected_codes=(3,))
    assert listing(in_workspace / "out") == {}


@pytest.mark.parametrize("variable,value", [("Length", 1e30), ("So", 1e30), ("n", 1e-30), ("ChSlp", 1e30),
                                            ("TopWdth", 1e30)])
def test_implausible_routelink_geometry_is_refused(variable, value, in_workspace, capsys):
    _edit("RouteLink.nc", variable, at=1, value=value)
    code, err = run_cli(capsys, "route", "--routelink", "RouteLink.nc", "--lateral", "qlat.nc", "--output", "out/out.nc")
    assert_refused(code, err, ["RouteLink.nc", variable, "feature_id 2", f"{value:g}"], expected_codes=(3,))
    assert listing(in_workspace / "out") == {}
