"""Regressions of the independent hostile sweep's `hydro route` failures (route_qlat_*, route_lk_area_units_ha,
route_rl_length_units_km, route_init_*, route_nudge_*, route_out_is_input, route_cli_hours_half), on small
synthetic networks: each refusal is one line naming the file, variable and where, with no traceback and nothing
written; each conversion gives the result of the same data in canonical units."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import netCDF4
import numpy as np
import pytest
import xarray as xr

from hydro.core.errors import NumericalError
from hydro.io.netcdf import lateral_dataset

from .conftest import assert_refused, listing, run_cli

TIMES = np.datetime64("2026-01-01T00", "ns") + np.arange(6) * np.timedelta64(1, "h")
FT3 = 0.3048**3


def _lake_network(folder: Path) -> None:
    """RouteLink 1 -> 2 -> 3 -> 4 with reach 2 in lake 77 (LAKEPARM), and 5 m3 s-1 lateral inflow per reach."""
    with netCDF4.Dataset(folder / "RouteLink.nc", "w") as ds:
        ds.createDimension("feature_id", 4)
        values = {"link": [1, 2, 3, 4], "to": [2, 3, 4, 0], "Length": [1000.0] * 4, "So": [0.01] * 4, "n": [0.05] * 4,
                  "nCC": [0.1] * 4, "BtmWdth": [5.0] * 4, "TopWdth": [10.0] * 4, "TopWdthCC": [30.0] * 4,
                  "ChSlp": [0.5] * 4, "NHDWaterbodyComID": [-9999, 77, -9999, -9999]}
        for name, v in values.items():
            kind = "i8" if name in ("link", "to", "NHDWaterbodyComID") else "f4"
            ds.createVariable(name, kind, ("feature_id",))[:] = v
    with netCDF4.Dataset(folder / "LAKEPARM.nc", "w") as ds:
        ds.createDimension("feature_id", 1)
        values = {"lake_id": 77, "LkArea": 2.0, "LkMxE": 110.0, "WeirE": 105.0, "WeirC": 0.4, "WeirL": 10.0,
                  "Dam_Length": 100.0, "OrificeE": 100.0, "OrificeC": 0.1, "OrificeA": 1.0, "ifd": 0.9}
        for name, v in values.items():
            ds.createVariable(name, "i8" if name == "lake_id" else "f8", ("feature_id",))[:] = [v]
        ds["Dam_Length"].units = "Meters"  # as NWM's own LAKEPARM spells it: read as metres
    lateral_dataset(np.full((TIMES.size, 4), 5.0, np.float32), np.array([1, 2, 3, 4]), TIMES).to_netcdf(folder / "qlat.nc")
    lines = ["time,link,discharge_m3s"] + [f"2026-01-01T{h:02d}:00:00,3,{20 + h}" for h in range(1, 6)]
    (folder / "obs.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def lake_inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sweep_route")
    _lake_network(folder)
    return folder


@pytest.fixture
def work(lake_inputs, tmp_path, monkeypatch) -> Path:
    work = tmp_path / "work"
    shutil.copytree(lake_inputs, work)
    (work / "out").mkdir()
    monkeypatch.chdir(work)
    return work


ROUTE = ["route", "--routelink", "RouteLink.nc", "--lakeparm", "LAKEPARM.nc", "--output", "out/route.nc", "--no-progress"]


def _route(capsys, *extra) -> tuple[int, str]:
    args = list(ROUTE) + list(extra)
    if "--lateral" not in args:
        args += ["--lateral", "qlat.nc"]
    return run_cli(capsys, *args)


def _streamflow(capsys, *extra) -> np.ndarray:
    code, err = _route(capsys, *extra)
    assert code == 0, err
    with xr.open_dataset("out/route.nc") as ds:
        flow = ds["streamflow"].values
    Path("out/route.nc").unlink()
    return flow


def _edit_qlat(edit) -> None:
    with xr.open_dataset("qlat.nc") as ds:
        ds = edit(ds.load())
    Path("qlat.nc").unlink()
    ds.to_netcdf("qlat.nc", unlimited_dims=["time"])  # a fixed zero-length dimension cannot be written


def _set_time_units(units: str) -> None:
    with netCDF4.Dataset("qlat.nc", "a") as ds:
        ds["time"].units = units


def _symlink_loop() -> None:
    os.symlink("loop_b.nc", "loop_a.nc")
    os.symlink("loop_a.nc", "loop_b.nc")


# --------------------------------------------------------------------------- lateral inflow (io/nwm read_lateral)
LATERAL_CASES = {
    # sweep case: (damage, lateral argument, words the error line must hold)
    "route_qlat_time_units_garbage": (lambda: _set_time_units("fortnights after the flood"), "qlat.nc",
                                      ["qlat.nc", "time units", "fortnights after the flood", "since"]),
    "route_qlat_dup_ids": (lambda: _edit_qlat(lambda ds: ds.assign_coords(feature_id=[1, 1, 3, 4])), "qlat.nc",
                           ["qlat.nc", "feature_id 1", "appears 2 times"]),
    "route_qlat_dup_time": (lambda: _edit_qlat(lambda ds: ds.assign_coords(time=np.r_[TIMES[:1], TIMES[:-1]])), "qlat.nc",
                            ["qlat.nc", "time 2026-01-01T00:00:00 appears twice", "records 1 and 2"]),
    "route_qlat_reversed_time": (lambda: _edit_qlat(lambda ds: ds.isel(time=slice(None, None, -1))), "qlat.nc",
                                 ["qlat.nc", "time 2026-01-01T04:00:00 (record 2) is earlier than", "increasing order"]),
    "route_qlat_zero_steps": (lambda: _edit_qlat(lambda ds: ds.isel(time=slice(0, 0))), "qlat.nc",
                              ["qlat.nc", "0 time record(s)", "empty"]),
    "route_lateral_symlink_loop": (_symlink_loop, "loop_a.nc", ["loop_a.nc", "symbolic link", "loop"]),
    # flows written as text parse, but no model writes them so: refused (round 4 flagged it as accepted)
    "route_qlat_string_var": (lambda: _edit_qlat(lambda ds: ds.assign(qlat=ds["qlat"].astype(str).assign_attrs(
        units="m3 s-1"))), "qlat.nc", ["qlat.nc", "qlat is stored as text"]),
}


@pytest.mark.parametrize("case", LATERAL_CASES)
def test_damaged_lateral_inflow_is_one_line(case, work, capsys):
    damage, lateral, names = LATERAL_CASES[case]
    damage()
    code, err = _route(capsys, "--lateral", lateral)
    assert_refused(code, err, names, expected_codes=(3,))
    assert len(err.strip().splitlines()) == 1, err  # no warnings from xarray's engine guessing either
    assert listing(work / "out") == {}


# --------------------------------------------------------------------------- units attributes (RouteLink, LAKEPARM)
def _units(path: str, variable: str, units: str, scale: float = 1.0) -> None:
    with netCDF4.Dataset(path, "a") as ds:
        ds[variable].units = units
        ds[variable][:] = ds[variable][:] * scale


@pytest.mark.parametrize("path,variable,units,scale", [
    ("LAKEPARM.nc", "LkArea", "ha", 100.0),  # route_lk_area_units_ha: 2 km2 given as 200 ha
    ("RouteLink.nc", "Length", "km", 1e-3),  # route_rl_length_units_km: 1000 m given as 1 km
    ("LAKEPARM.nc", "WeirL", "ft", 1 / 0.3048),
])
def test_units_attributes_are_converted(path, variable, units, scale, work, capsys):
    reference = _streamflow(capsys)
    _units(path, variable, units, scale)
    converted = _streamflow(capsys)
    np.testing.assert_allclose(converted, reference, rtol=1e-5)


def test_a_units_attribute_that_changes_the_values_changes_the_result(work, capsys):
    reference = _streamflow(capsys)
    _units("LAKEPARM.nc", "LkArea", "ha")  # 2 ha: a lake 100 times smaller, the same inflow
    assert not np.allclose(_streamflow(capsys), reference, rtol=1e-3)


@pytest.mark.parametrize("path,variable,units,names", [
    ("RouteLink.nc", "Length", "km", ["RouteLink.nc", "Length (converted from units 'km')", "1e+06", "feature_id 1"]),
    ("RouteLink.nc", "BtmWdth", "m3 s-1", ["RouteLink.nc: BtmWdth", "m3 s-1", "cannot be converted"]),
    ("LAKEPARM.nc", "LkArea", "furlongs of joy", ["LAKEPARM.nc: LkArea", "furlongs of joy"]),
])
def test_units_attributes_that_cannot_hold_are_refused(path, variable, units, names, work, capsys):
    _units(path, variable, units, 1000.0 if variable == "Length" else 1.0)  # 1,000,000 m read as km: 1e9 m
    code, err = _route(capsys)
    assert_refused(code, err, names, expected_codes=(3,))
    assert listing(work / "out") == {}


def test_an_orifice_above_the_lake_is_refused(work, capsys):
    """route_lk_orificee_above_max: the level pool's head over the orifice made the lake level NaN."""
    with netCDF4.Dataset("LAKEPARM.nc", "a") as ds:
        ds["OrificeE"][:] = [115.0]
    code, err = _route(capsys)
    assert_refused(code, err, ["LAKEPARM.nc", "OrificeE = 115 m at lake_id 77", "LkMxE 110 m"], expected_codes=(3,))
    assert listing(work / "out") == {}


@pytest.mark.parametrize("path,variable,key", [("RouteLink.nc", "lat", "feature_id 2"), ("LAKEPARM.nc", "lon", "lake_id 77")])
def test_coordinates_off_the_globe_are_refused(path, variable, key, work, capsys):
    """route_rl_lat_999: a latitude of 999 was published in the output."""
    with netCDF4.Dataset(path, "a") as ds:
        n = ds.dimensions["feature_id"].size
        values = np.full(n, 30.0)
        values[1 if n > 1 else 0] = 999.0
        ds.createVariable(variable, "f4", ("feature_id",))[:] = values
    code, err = _route(capsys)
    assert_refused(code, err, [path, f"{variable} = 999 degrees", key], expected_codes=(3,))
    assert listing(work / "out") == {}


def test_a_lakeparm_matching_no_waterbody_is_warned(work, capsys, caplog):
    """route_lk_ids_unmatched: the LAKEPARM was ignored with no word but the lake count."""
    with netCDF4.Dataset("LAKEPARM.nc", "a") as ds:
        ds["lake_id"][:] = [78]
    caplog.set_level(logging.INFO, logger="hydro")
    code, err = _route(capsys)
    assert code == 0, err
    assert "LAKEPARM.nc: none of its 1 lake_id(s) is a waterbody of the network" in caplog.text, caplog.text


# --------------------------------------------------------------------------- --initial-state
def _initial_state(capsys, edit) -> None:
    """init.nc: a route output (its last time is the state), edited by ``edit(ds)``."""
    code, err = _route(capsys)
    assert code == 0, err
    with xr.open_dataset("out/route.nc") as ds:
        ds = edit(ds.load())
    Path("out/route.nc").unlink()
    ds.to_netcdf("init.nc")


def _last(ds, name):
    return ds[name].isel(time=-1)


INITIAL_CASES = {
    "route_init_lake_huge": (lambda ds: ds.assign(water_sfc_elev=_last(ds, "water_sfc_elev") + 1e6),
                             ["init.nc", "initial water_sfc_elev", "lake_id 77", "1e+06"], 3),
    "route_init_units_cfs": (lambda ds: ds.assign(streamflow=_last(ds, "streamflow")), ["init.nc", "initial depth",
                                                                                       "('time', 'feature_id') while streamflow has ('feature_id',)"], 3),
    "route_init_empty": (None, ["init.nc", "empty"], 3),
    "route_init_negative_depth": (lambda ds: ds.isel(time=-1).assign(depth=-_last(ds, "depth") - 1.0),
                                  ["init.nc", "initial depth", "feature_id 1"], 3),
    # a lake level within the plausible range but 7,900 m above its weir: the routing must not write what it makes
    "lake_level_blows_up_the_routing": (lambda ds: ds.isel(time=-1).assign(water_sfc_elev=_last(ds, "water_sfc_elev") + 7900.0),
                                        ["routing:", "nothing written"], 4),
}


@pytest.mark.parametrize("case", INITIAL_CASES)
def test_bad_initial_state_is_one_line(case, work, capsys):
    edit, names, exit_code = INITIAL_CASES[case]
    if edit is None:
        Path("init.nc").write_bytes(b"")
    else:
        _initial_state(capsys, edit)
    code, err = _route(capsys, "--initial-state", "init.nc")
    assert_refused(code, err, names, expected_codes=(exit_code,))
    assert len(err.strip().splitlines()) == 1, err
    assert listing(work / "out") == {}


def test_initial_streamflow_in_cubic_feet_is_converted(work, capsys):
    _initial_state(capsys, lambda ds: ds.isel(time=-1))
    reference = _streamflow(capsys, "--initial-state", "init.nc")
    with xr.open_dataset("init.nc") as ds:
        ds = ds.load()
    ds["streamflow"] = (ds["streamflow"] / FT3).assign_attrs(units="ft3 s-1")
    Path("init.nc").unlink()
    ds.to_netcdf("init.nc")
    np.testing.assert_allclose(_streamflow(capsys, "--initial-state", "init.nc"), reference, rtol=1e-5)


@pytest.mark.parametrize("field,value,names", [
    ("streamflow", 6.9e9, ["streamflow = 6.9e+09", "feature_id 3", "output record 2"]),
    ("streamflow", np.nan, ["streamflow = nan", "feature_id 3"]),
    ("water_sfc_elev", np.nan, ["lake water_sfc_elev = nan", "lake_id 77"]),
])
def test_routed_result_is_checked_before_writing(field, value, names):
    from hydro.stages.pipeline import _check_routed
    from tests.helpers import make_network

    network = make_network([1, 2, 3], [3, 3, 0])
    result = SimpleNamespace(streamflow=np.ones((3, 3), np.float32), water_sfc_elev=np.full((3, 1), 105.0, np.float32))
    _check_routed(network, result.streamflow, np.array([77]), result.water_sfc_elev)  # a sound result passes
    getattr(result, field)[1, -1] = value
    with pytest.raises(NumericalError) as info:
        _check_routed(network, result.streamflow, np.array([77]), result.water_sfc_elev)
    assert all(name in str(info.value) for name in names), str(info.value)


# --------------------------------------------------------------------------- --nudge observations
def test_an_observation_given_twice_with_different_discharges_is_refused(work, capsys):
    with open("obs.csv", "a") as f:
        f.write("2026-01-01T02:00:00,3,99\n2026-01-01T03:00:00,3,23\n")  # row 6 contradicts row 2; row 7 repeats row 3
    code, err = _route(capsys, "--nudge", "obs.csv")
    assert_refused(code, err, ["obs.csv", "link 3 at 2026-01-01T02:00:00", "twice", "22 at row 2 (line 3)",
                               "99 at row 6 (line 7)", "1 such"], expected_codes=(3,))
    assert listing(work / "out") == {}


def test_an_observation_repeated_with_the_same_value_is_used_once(work, capsys):
    nudged = _streamflow(capsys, "--nudge", "obs.csv")
    with open("obs.csv", "a") as f:
        f.write("2026-01-01T03:00:00,3,23\n")
    np.testing.assert_array_equal(_streamflow(capsys, "--nudge", "obs.csv"), nudged)


def test_observations_outside_the_run_are_refused(work, capsys):
    Path("obs.csv").write_text(Path("obs.csv").read_text().replace("2026-01-01", "2024-01-01"))
    code, err = _route(capsys, "--nudge", "obs.csv")
    assert_refused(code, err, ["obs.csv", "none of its observations", "2024-01-01T01:00:00 .. 2024-01-01T05:00:00",
                               "2026-01-01T00:00:00 .. 2026-01-01T06:00:00", "--nudge-tau"], expected_codes=(3,))
    assert listing(work / "out") == {}


def test_gauges_without_observations_in_the_run_are_warned(work, capsys, caplog):
    with open("obs.csv", "a") as f:
        f.write("2024-01-01T03:00:00,4,7\n")  # gauge 4: one observation, two years before the run
    caplog.set_level(logging.INFO, logger="hydro")
    code, err = _route(capsys, "--nudge", "obs.csv")
    assert code == 0, err
    assert "obs.csv: 1 of 2 gauged segments have no observation within the run" in caplog.text, caplog.text
    assert "nudging 1 gauged segments towards obs.csv (5 observations within the run)" in caplog.text, caplog.text


# --------------------------------------------------------------------------- doubtful cases
@pytest.mark.parametrize("option", ["--lateral", "--lakeparm", "--nudge"])
def test_an_output_naming_an_input_is_refused(option, work, capsys):
    given = {"--lateral": "qlat.nc", "--lakeparm": "LAKEPARM.nc", "--nudge": "obs.csv"}[option]
    before = listing(work)
    args = [a for a in ROUTE if a not in ("--output", "out/route.nc")] + ["--output", given, "--lateral", "qlat.nc"]
    if option == "--nudge":
        args += ["--nudge", "obs.csv"]
    code, err = run_cli(capsys, *args)
    assert_refused(code, err, [given, f"the output is also the {option} input"], expected_codes=(2,))
    assert listing(work) == before


def test_an_output_reaching_an_input_through_a_link_is_refused(work, capsys):
    os.symlink("../qlat.nc", "out/route.nc")
    code, err = _route(capsys)
    assert_refused(code, err, ["out/route.nc", "--lateral input (qlat.nc)"], expected_codes=(2,))


def test_reservoir_output_naming_its_inflow_is_refused(workspace, monkeypatch, capsys):
    monkeypatch.chdir(workspace)
    before = listing(workspace)
    code, err = run_cli(capsys, "reservoir", "route", "res.toml", "--inflow", "inflow.csv",
                        "--output", "inflow.csv")
    assert_refused(code, err, ["inflow.csv", "--inflow input"], expected_codes=(2,))
    assert listing(workspace) == before


def test_a_run_shorter_than_one_output_interval_names_both_options(work, capsys):
    code, err = _route(capsys, "--hours", "0.5")
    assert_refused(code, err, ["--hours 0.5", "--output-interval of 3600 s"], expected_codes=(2,))
    assert listing(work / "out") == {}


@pytest.mark.parametrize("args,names", [
    (["verify", "--radar", "radar.nc", "--issue-times", "", "--methods", "persistence"],
     ["--issue-times ''", "radar.nc", "no issue time"]),  # verify_times_empty: numpy's ValueError escaped
    (["verify", "--radar", "radar.nc", "--issue-times", "2026-01-01T00:30,2026-01-01T00:30", "--methods", "persistence"],
     ["radar.nc", "2026-01-01T00:30 is given 2 times"]),  # verify_dup_times: scored and pooled twice
    (["demo", "--output-dir", "res.toml"], ["res.toml", "is a file, not a folder", "--output-dir"]),  # demo_out_is_file
    (["calibrate", "--data", "record.nc", "--model", "gr4j", "--warmup", "2020-01-01/2020-01-10", "--calibration",
      "2020-01-11/2020-02-28", "--evaluations", "50", "--batch", "500", "--no-plots", "--output", "out/p.toml"],
     ["--batch 500 is more than --evaluations 50"]),  # calibrate_cli_batch_gt_evals: the defaults came back
])
def test_other_commands_refuse_before_any_work(args, names, workspace, monkeypatch, capsys):
    monkeypatch.chdir(workspace)
    before = listing(workspace)
    code, err = run_cli(capsys, *args)
    assert_refused(code, err, names)
    assert listing(workspace) == before


@pytest.mark.parametrize("start,names", [
    ("dam=1000", ["--initial-level dam=1000", "level-storage curve", "basin.toml"]),  # rehearse_cli_init_1000
    ("dam=113:-5", ["--initial-level dam=113:-5", "gate release", "0 .. "]),  # rehearse_cli_init_release_neg
    ("dam=113:1e9", ["--initial-level dam=113:1e+09", "gate release"]),  # rehearse_cli_init_release_huge
])
def test_dam_start_off_its_curves_is_refused(start, names, whatif_basin, capsys):
    code, err = run_cli(capsys, "rehearse", whatif_basin / "basin.toml", "--forecast", whatif_basin / "forecast.nc",
                        "--initial-level", start, "--output-dir", whatif_basin / "out")
    assert_refused(code, err, names, expected_codes=(2,))
    assert not (whatif_basin / "out").exists()


@pytest.fixture
def whatif_basin(tmp_path):
    from tests.io.test_cli_whatif import basin

    return basin.__wrapped__(tmp_path)


@pytest.mark.parametrize("schemes,names", [
    (["../../escape=hold.csv"], ["--scheme ../../escape", "scheme name"]),  # plan_scheme_path_traversal
    (["a=hold.csv", "a=hold.csv"], ["--scheme a=", "given 2 times"]),  # plan_scheme_dup_names
    (["--scheduler", "tcp://127.0.0.1:9"], ["--scheduler tcp://127.0.0.1:9", "no dask scheduler"]),  # plan_scheduler_dead
])
def test_plan_scheme_names_that_cannot_name_a_file_are_refused(schemes, names, whatif_basin, capsys):
    (whatif_basin / "hold.csv").write_text("time,reservoir,release_m3s\n2026-07-01T00:00,dam,250\n")
    args = ["plan", whatif_basin / "basin.toml", "--forecast", whatif_basin / "forecast.nc", "--output-dir",
            whatif_basin / "plan"]
    for scheme in schemes:
        args += ["--scheme", scheme] if "=" in scheme else [scheme]
    code, err = run_cli(capsys, *args)
    assert_refused(code, err, names, expected_codes=(2,))
    assert not (whatif_basin / "plan").exists()
