"""``hydro run`` refuses what an independent hostile sweep fed it (restart values edited with their checksum
recomputed, a symlink loop, a zeroed file, a cold start beside a roll's later restarts, string or absurd config
values) with one line naming the file, the variable, where and the value; and a refused run writes nothing: no
new cycle or state folder, the state folder and an earlier complete cycle folder unchanged byte for byte.

The damaged files of test_restart_damage (cut, flipped, empty, a folder) are not repeated here."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import xarray as xr

from tests.helpers import DEMO_CYCLE_2H

from .conftest import listing, run_cli

CONFIG = DEMO_CYCLE_2H
RESTART = "restart_2026-07-01T0200.nc"
DONE = "out/cycle_20260701T0200"  # the complete cycle folder the cold run made


@pytest.fixture(scope="module")
def rolled(tmp_path_factory):
    """The demo basin (one dam) after one cold 2-hour cycle's forecast stage: its complete cycle folder and the
    restart at 02:00 that the next cycle starts from."""
    from hydro.cli import main

    folder = tmp_path_factory.mktemp("rolled_demo")
    (folder / "cycle.toml").write_text(CONFIG)
    assert main(["run", str(folder / "cycle.toml"), "--stage", "forecast", "--cold"]) == 0
    assert (folder / "state" / RESTART).is_file() and (folder / DONE / "COMPLETE").is_file()
    return folder


def snapshot(work) -> dict:
    """Every file under the work folder, but the state folder's lock (it names the last run's pid)."""
    return {k: v for k, v in listing(work).items() if not k.endswith(".hydro.lock")}


def assert_one_line_refusal(code: int, stderr: str, names: list[str], codes=(3,)) -> None:
    assert code in codes, f"exit {code}: {stderr}"
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and ": error:" in lines[0], stderr  # one line: no log before it, no text after it
    for name in names:
        assert name in lines[0], f"{name!r} not in {lines[0]!r}"


def rewrite(path, edit) -> None:
    """The restart as a knowledgeable editor (or a bug) would leave it: ``edit``ed, its checksum recomputed."""
    from hydro.io.restart import _checksum

    ds = xr.load_dataset(path)
    ds = edit(ds) or ds
    ds.attrs["checksum_sha256"] = _checksum(ds)
    ds.to_netcdf(path)


def setvalue(name, index, value):
    def edit(ds):
        values = ds[name].values.copy()
        values[index] = value
        ds[name] = (ds[name].dims, values, ds[name].attrs)
    return edit


def storage_of_level(level):  # the dam's storage at ``level`` (the demo's curve), level left as it was
    def edit(ds):
        ds["reservoir_storage"] = ds["reservoir_storage"] * 0 + level
    return edit


# id: (edit, what the error line must name besides the file)
EDITED = {
    "hillslope_negative": (setvalue("hillslope_water", (10, 3), -1e7), ["hillslope_water", "segment #10", "-1e+07"]),
    "hillslope_nan": (setvalue("hillslope_water", (10, 3), np.nan), ["hillslope_water", "segment #10", "nan"]),
    "hillslope_slots_short": (lambda ds: ds.isel(slot=slice(0, 20)), ["hillslope_water", "20 travel-time slots"]),
    "release_negative": (setvalue("reservoir_release", 0, -500.0), ["reservoir_release", "demo_dam", "-500"]),
    "release_1e12": (setvalue("reservoir_release", 0, 1e12), ["reservoir_release", "demo_dam", "1e+12"]),
    "soil_1e30": (setvalue("runoff_state", (500, 1), 1e30), ["runoff_state", "cell 500", "1e+30"]),
    "soil_negative": (setvalue("runoff_state", (500, 0), -80.0), ["runoff_state", "cell 500", "-80"]),
    "lag_nan": (setvalue("runoff_lag", (7, 0), np.nan), ["runoff_lag", "cell 7", "nan"]),
    "level_1000": (setvalue("reservoir_level", 0, 1000.0), ["reservoir_level", "demo_dam", "1000"]),
    "level_50": (setvalue("reservoir_level", 0, 50.0), ["reservoir_level", "demo_dam", "50"]),
    "level_inf": (setvalue("reservoir_level", 0, np.inf), ["reservoir_level", "demo_dam", "inf"]),
    "storage_negative": (setvalue("reservoir_storage", 0, -1e6), ["reservoir_storage", "demo_dam", "-1e+06"]),
    "storage_not_the_level": (setvalue("reservoir_storage", 0, 6.5e8), ["reservoir_storage", "demo_dam", "6.5e+08",
                                                                       "reservoir_level"]),
    "depth_negative": (setvalue("depth", 100, -3.0), ["depth", "segment #100", "-3"]),
    "depth_nan": (setvalue("depth", 100, np.nan), ["depth", "segment #100", "nan"]),
    "depth_missing": (lambda ds: ds.drop_vars("depth"), ["'depth'"]),
    "streamflow_negative": (setvalue("streamflow", 100, -50.0), ["streamflow", "segment #100", "-50"]),
    "streamflow_nan": (setvalue("streamflow", 100, np.nan), ["streamflow", "segment #100", "nan"]),
    "streamflow_1e9": (setvalue("streamflow", 100, 1e9), ["streamflow", "segment #100", "1e+09"]),
    "reservoir_renamed": (lambda ds: ds.assign_coords(reservoir=["other_dam"]), ["other_dam", "demo_dam"]),
    "version_string": (lambda ds: ds.attrs.update(hydro_restart_version="2"), ["version '2'"]),
}


@pytest.fixture
def work(rolled, tmp_path):
    folder = tmp_path / "work"
    shutil.copytree(rolled, folder)
    return folder


def run_next(capsys, work, start="2026-07-01T02:00", *more):
    capsys.readouterr()
    return run_cli(capsys, "run", work / "cycle.toml", "--stage", "forecast", "--start", start, *more)


@pytest.mark.parametrize("case", list(EDITED))
def test_an_edited_restart_is_refused_naming_variable_place_and_value(case, work, capsys):
    edit, names = EDITED[case]
    rewrite(work / "state" / RESTART, edit)
    before = snapshot(work)
    code, err = run_next(capsys, work)
    assert_one_line_refusal(code, err, [RESTART, *names])
    assert snapshot(work) == before, "the refused run wrote or changed files"
    assert not (work / "out/cycle_20260701T0400").exists()


def test_a_restart_with_its_storage_on_the_curve_and_level_consistent_is_accepted(rolled):
    """The check's tolerance against the level stored: the intact restart passes, and 1 cm is the limit."""
    from hydro.io.config import load_config
    from hydro.io.restart import read_restart
    from hydro.io.restart_checks import LEVEL_TOLERANCE_M, check_restart_against_basin
    from hydro.pipeline.cycle import load_basin

    config = load_config(rolled / "cycle.toml")
    basin = load_basin(config, rolled / "cycle.toml")
    state = read_restart(rolled / "state" / RESTART, "demo", config.model_hash(), np.datetime64("2026-07-01T02:00"))
    check_restart_against_basin(state, basin, "r.nc")  # intact
    curves = basin.routing.dams[0].curves()
    assert curves.level(state.dams["demo_dam"].storage) == pytest.approx(state.dams["demo_dam"].level, abs=1e-9)
    assert LEVEL_TOLERANCE_M <= 0.01


@pytest.mark.parametrize("damage", ["zeroed", "symlink_loop"])
def test_a_restart_that_is_no_file_is_refused_in_one_line(damage, work, capsys):
    path = work / "state" / RESTART
    if damage == "zeroed":
        path.write_bytes(bytes(path.stat().st_size))
    else:
        path.unlink()
        path.symlink_to(path.name)  # points at itself
    before = {k: v for k, v in snapshot(work).items() if not k.endswith(RESTART)}
    code, err = run_next(capsys, work)
    assert_one_line_refusal(code, err, [RESTART, "not a NetCDF file" if damage == "zeroed" else "cannot be opened"])
    assert {k: v for k, v in snapshot(work).items() if not k.endswith(RESTART)} == before
    assert path.is_symlink() == (damage == "symlink_loop")


def test_a_damaged_rerun_keeps_the_earlier_complete_cycle_folder(work, capsys):
    """Rerunning the complete 00:00 cycle from a damaged 00:00 restart: its folder keeps COMPLETE and its report."""
    data = (work / "state" / RESTART).read_bytes()
    (work / "state/restart_2026-07-01T0000.nc").write_bytes(data[: len(data) // 2])
    before = snapshot(work)
    code, err = run_next(capsys, work, "2026-07-01T00:00")
    assert_one_line_refusal(code, err, ["restart_2026-07-01T0000.nc", "cannot be read"])
    assert snapshot(work) == before
    assert (work / DONE / "COMPLETE").is_file() and (work / DONE / "report.html").is_file()


def test_no_silent_cold_start_where_a_warm_cycle_lost_its_restart(work, capsys):
    """The 00:00 cycle, as its summary says, last started from restart_2026-07-01T0000.nc, which is gone; the
    state folder holds the roll's later 02:00 restart. A cold start would replace that warm cycle and the 02:00
    state: refused unless --cold says so. (A rerun of a roll's first, cold, cycle stays allowed: tests/io.)"""
    import json

    summary = work / DONE / "summary.json"
    record = json.loads(summary.read_text())
    record["forecast_stage"]["start"] = str(work / "state/restart_2026-07-01T0000.nc")
    summary.write_text(json.dumps(record))
    before = snapshot(work)
    code, err = run_next(capsys, work, "2026-07-01T00:00")
    assert_one_line_refusal(code, err, ["restart_2026-07-01T0000.nc", RESTART, "--cold"])
    assert snapshot(work) == before


@pytest.mark.parametrize("edit, names, code", [
    (lambda t: t.replace("hours = 2\n", 'hours = "2"\n', 1), ["cycle.hours", "'2'"], 2),
    (lambda t: t + "\n[runoff]\npet_mm_h = 1e6\n", ["runoff.pet_mm_h", "1000000"], 2),
    (lambda t: t.replace('basin = "demo"', 'basin = "no_such_basin"'), ["no_such_basin"], 2),
    (lambda t: t.replace("demo_storm.toml", "no_storm.toml"), ["no_storm.toml"], 2),
], ids=["hours_string", "pet_huge", "basin_missing", "forcing_missing"])
def test_a_bad_cycle_config_is_refused_before_any_folder_is_made(edit, names, code, tmp_path, capsys):
    (tmp_path / "cycle.toml").write_text(edit(CONFIG))
    capsys.readouterr()
    got, err = run_cli(capsys, "run", tmp_path / "cycle.toml", "--stage", "forecast")
    assert_one_line_refusal(got, err, ["cycle.toml", *names], codes=(code,))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cycle.toml"], "the refused run made folders"
