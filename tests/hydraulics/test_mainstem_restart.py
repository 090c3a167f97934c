"""The twin's hydraulic restart: the cycle's restart carries each main stem's Saint-Venant state, the analysis
continues it and the forecast starts from the issue-time state; two cycles equal one cycle twice as long bit
for bit, main stems included (as the Muskingum-Cunge side does). A copy of the demo basin with a main stem
on its last 9 segments, as tests/hydraulics/test_mainstem_coupling.py builds it."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import xarray as xr

from hydro.core.errors import InputDataError

from .test_mainstem_coupling import demo_with_main_stem

CYCLE = """
[cycle]
basin = "basin"
start = "{start}"
hours = {hours}
forecast_hours = 3
nowcast_hours = 1
output_dir = "out"
state_dir = "state"
[forcing]
setup = "demo_storm.toml"
"""
WARM = "restart_2026-07-01T0300.nc"  # the warm-up cycle's: where both runs start
MIDDLE = "restart_2026-07-01T0600.nc"
END = "restart_2026-07-01T0900.nc"


def _cycle(folder, hours, start="2026-07-01T03:00:00"):
    path = folder / "cycle.toml"
    path.write_text(CYCLE.format(hours=hours, start=start))
    return path


@pytest.fixture(scope="module")
def cycles(tmp_path_factory):
    """A warm-up cycle from a cold start to 03:00 (its main stem started an hour before, from a steady profile);
    from its restart, two 3-hour cycles rolled, and one 6-hour cycle."""
    from hydro.pipeline.cycle import run_cycle, run_cycles

    warm = tmp_path_factory.mktemp("warm")
    demo_with_main_stem(warm)
    run_cycle(_cycle(warm, 3, "2026-07-01T00:00:00"), cold=True, stage="forecast")
    rolled, double = tmp_path_factory.mktemp("rolled"), tmp_path_factory.mktemp("double")
    for folder in (rolled, double):
        shutil.copytree(warm / "basin", folder / "basin")
        shutil.copytree(warm / "state", folder / "state")
    run_cycles(_cycle(rolled, 3), cycles=2, stage="forecast")
    run_cycle(_cycle(double, 6), stage="forecast")
    return warm, rolled, double


def test_two_cycles_equal_one_cycle_twice_as_long_bit_for_bit(cycles):
    warm, rolled, double = cycles
    with xr.open_dataset(rolled / "state" / END) as r, xr.open_dataset(double / "state" / END) as d, \
            xr.open_dataset(warm / "state" / WARM) as w:
        assert list(d.main_stem.values) == ["town_reach"] and d.main_stem_water_level.size > 50
        for name in d.data_vars:  # the routing state and the main stem's hydraulic state alike
            np.testing.assert_array_equal(r[name].values, d[name].values, err_msg=name)
        # the state moved: the analyses continued the warm-up's hydraulics through the storm
        assert np.abs(d.main_stem_discharge.values - w.main_stem_discharge.values).max() > 1.0
    a = xr.open_dataset(rolled / "out" / "cycle_20260701T0900" / "forecast.nc")
    b = xr.open_dataset(double / "out" / "cycle_20260701T0900" / "forecast.nc")
    with a, b:
        for name in ("main_stem_discharge", "main_stem_water_level", "streamflow"):
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_the_forecast_starts_from_the_issue_time_hydraulic_state(cycles):
    """F1 run from the restart's state (a --stage rerun) equals forecast.nc's main stem (the cycle's F1) and
    differs from an F1 started from a steady profile of the issue-time flows (the twin before restarts carried
    the hydraulics); F2 of F1's releases starts from the same state."""
    from hydro.hydraulics.network_coupling import run_main_stems
    from hydro.io.config import load_config
    from hydro.pipeline.cycle import inputs_from_files, load_basin
    from hydro.stages.rehearsal import coupled_main_stems, forward

    _, rolled, _ = cycles
    path = _cycle(rolled, 3, "2026-07-01T06:00:00")
    config = load_config(path)
    basin = load_basin(config, path)
    out = rolled / "out" / "cycle_20260701T0900"
    inputs = inputs_from_files(out, basin, config, path)
    f1 = inputs.forward()
    assert set(inputs.initial.main_stems) == {"town_reach"}
    with xr.open_dataset(out / "forecast.nc") as ds:
        np.testing.assert_array_equal(f1.main_stems["town_reach"].water_level, ds.main_stem_water_level.values)
    steady = run_main_stems(coupled_main_stems(basin.spec, basin.routing), f1.run, f1.times,
                            inputs.initial.streamflow)["town_reach"]
    assert np.abs(steady.water_level[0] - f1.main_stems["town_reach"].water_level[0]).max() > 1e-3
    # F2 of F1's own releases (the rehearsal's forward run of a schedule) starts the main stem where F1 does
    f2 = forward(inputs.network, inputs.basin, inputs.lateral, inputs.times, inputs.start, routing=inputs.routing,
                 initial=inputs.initial, interval_s=inputs.interval_s,
                 schedules={k: v.release for k, v in f1.reservoirs.items()})
    np.testing.assert_array_equal(f2.main_stems["town_reach"].water_level, f1.main_stems["town_reach"].water_level)


def _rewrite(path, edit):
    """Apply ``edit`` to the restart's dataset and write it back with a valid checksum (a state that is whole
    but does not fit: what the semantic checks must catch)."""
    from hydro.io.netcdf import cf_encode, write_dataset
    from hydro.io.restart import _checksum

    with xr.open_dataset(path) as ds:
        ds = ds.load()
    ds = edit(ds)
    ds.attrs.pop("checksum_sha256", None)
    cf_encode(ds)
    ds.attrs["checksum_sha256"] = _checksum(ds)
    path.unlink()
    write_dataset(path, ds)


def _continue(folder):
    from hydro.pipeline.cycle import run_cycle

    return run_cycle(_cycle(folder, 3, "2026-07-01T06:00:00"), stage="forecast")


@pytest.fixture
def rolled_copy(cycles, tmp_path):
    """The rolled folder after its first cycle only (the 06:00 restart), to continue from."""
    work = tmp_path / "work"
    shutil.copytree(cycles[1], work)
    (work / "state" / END).unlink()
    shutil.rmtree(work / "out" / "cycle_20260701T0900")
    return work


def test_a_restart_without_main_stem_state_falls_back_with_a_warning(rolled_copy, caplog):
    drop = ["main_stem", "main_stem_node", "main_stem_of_node", "main_stem_chainage", "main_stem_water_level",
            "main_stem_discharge", "main_stem_water_level_previous_step", "main_stem_discharge_previous_step",
            "main_stem_dt", "main_stem_discharge_scale", "main_stem_geometry", "main_stem_segment",
            "main_stem_of_segment", "main_stem_lateral"]
    _rewrite(rolled_copy / "state" / MIDDLE, lambda ds: ds.drop_vars([v for v in drop if v in ds.variables]))
    with caplog.at_level(logging.WARNING, logger="hydro"):
        _continue(rolled_copy)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "main stem" in r.getMessage()]
    assert said and MIDDLE in said[0] and "town_reach" in said[0] and "steady profile" in said[0]
    with xr.open_dataset(rolled_copy / "state" / END) as r:  # the next restart carries it again
        assert list(r.main_stem.values) == ["town_reach"]


def _nan_level(ds):
    ds["main_stem_water_level"].values[3] = np.nan
    return ds


def _fewer_nodes(ds):
    return ds.isel(main_stem_node=slice(1, None))


def _other_dt(ds):
    ds["main_stem_dt"].values[:] = 60.0
    return ds


@pytest.mark.parametrize("edit, message", [(_nan_level, "NaN"), (_fewer_nodes, "nodes"), (_other_dt, "dt")])
def test_a_main_stem_state_that_does_not_fit_is_refused(rolled_copy, edit, message, capsys):
    from hydro.cli import main

    _rewrite(rolled_copy / "state" / MIDDLE, edit)
    before = sorted(p.name for p in (rolled_copy / "state").iterdir())
    config = _cycle(rolled_copy, 3, "2026-07-01T06:00:00")
    code = main(["run", str(config), "--stage", "forecast"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert MIDDLE in err[-1] and "town_reach" in err[-1] and message in err[-1]
    assert sorted(p.name for p in (rolled_copy / "state").iterdir()) == before


def test_changed_sections_refuse_the_saved_state(rolled_copy):
    sections = rolled_copy / "basin" / "sections.csv"
    lines = sections.read_text().splitlines()
    head, first = lines[0], lines[1].split(",")
    first[3] = f"{float(first[3]) + 0.5:.4f}"  # the first section's left end half a metre higher
    sections.write_text("\n".join([head, ",".join(first), *lines[2:]]) + "\n")
    with pytest.raises(InputDataError) as err:
        _continue(rolled_copy)
    text = str(err.value)
    assert MIDDLE in text and "town_reach" in text and "another geometry" in text and "\n" not in text


def test_ensemble_members_grade_a_main_stem_section_by_the_hydraulics(cycles):
    """A member runs the main stems on its own run from the issue-time hydraulic state, as F1 does: a member with
    F1's rain gives F1's hydraulic stage bit for bit (not the rating's), and the warning grades its members by that
    stage (and says so)."""
    from hydro.basin import advance
    from hydro.hydraulics.network_coupling import with_main_stems
    from hydro.io.config import load_config
    from hydro.io.restart import read_restart
    from hydro.pipeline.cycle import load_basin
    from hydro.stages.ensemble import _member
    from hydro.stages.rehearsal import score
    from hydro.stages.warning import grade_forecast

    warm, _, _ = cycles
    path = _cycle(warm, 3, "2026-07-01T03:00:00")
    config = load_config(path)
    basin = load_basin(config, path)
    state = read_restart(warm / "state" / WARM, basin.name, config.model_hash(), np.datetime64("2026-07-01T03:00", "m"))
    assert state.main_stems
    rain = np.full((18,) + basin.grid.shape, 4.0, np.float32)  # 3 h of 24 mm/h over the basin
    flow, stages = _member(basin, state, rain, 0.0)
    f1 = advance(basin, state, rain, 0.0)[0]
    scored = score(basin.spec, basin.routing, f1.run, f1.times, with_main_stems(state.routing, state.main_stems))
    town = basin.spec.control_sections[0]
    assert list(stages) == [town.id]
    np.testing.assert_array_equal(stages[town.id], scored.section_stage[town.id])
    np.testing.assert_array_equal(flow, f1.streamflow)
    j = int(np.flatnonzero(basin.network.feature_id == town.feature_id)[0])
    by_rating = town.stage(flow[:, j])
    assert np.abs(stages[town.id] - by_rating).max() > 0.05  # the hydraulics, not the rating
    members_flow = np.stack([flow, flow])
    common = ("mwr", "gev", 0.8, basin.spec, basin.network.feature_id, f1.times, flow, None,
              scored.section_discharge, scored.section_stage, members_flow, scored.stage_source)
    by_hydraulics = grade_forecast(*common, members_stage={town.id: np.stack([stages[town.id]] * 2)}).stations[0]
    rated = grade_forecast(*common).stations[0]
    # members equal to F1: each grade's probability is 1 up to F1's own grade, 0 above it
    grades = ["blue", "yellow", "orange", "red"]
    reached = grades.index(by_hydraulics["grade"]) + 1 if by_hydraulics["grade"] in grades else 0
    assert [by_hydraulics[f"p_{g}"] for g in grades] == [1.0] * reached + [0.0] * (4 - reached)
    assert "by the rating" not in by_hydraulics["stage_source"] and "by the rating" in rated["stage_source"]
