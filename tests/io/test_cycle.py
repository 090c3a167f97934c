"""hydro run: rolling cycles with hot start (2N hours = N + restart + N, bit for bit), bad input, ensemble."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from hydro.core.errors import ConfigError, InputDataError
from hydro.pipeline.cycle import run_cycle, run_cycles

CONFIG = """
[cycle]
basin = "demo"
start = "2026-07-01T00:00:00"
hours = {hours}
forecast_hours = 2
nowcast_hours = 1
output_dir = "out"
state_dir = "state"
{extra}
[forcing]
setup = "demo_storm.toml"
"""


def _config(folder, hours=2, extra="", runoff=""):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cycle.toml"
    path.write_text(CONFIG.format(hours=hours, extra=extra) + runoff)
    return path


def test_two_cycles_equal_one_double_length_cycle_bit_for_bit(tmp_path):
    rolled = _config(tmp_path / "rolled", hours=2)
    run_cycles(rolled, cycles=2, cold=True, stage="forecast")
    double = _config(tmp_path / "double", hours=4)
    run_cycle(double, cold=True, stage="forecast")
    a1 = xr.open_dataset(tmp_path / "rolled/out/cycle_20260701T0200/analysis.nc")
    a2 = xr.open_dataset(tmp_path / "rolled/out/cycle_20260701T0400/analysis.nc")
    both = xr.open_dataset(tmp_path / "double/out/cycle_20260701T0400/analysis.nc")
    np.testing.assert_array_equal(np.concatenate([a1.streamflow.values, a2.streamflow.values]), both.streamflow.values)
    assert a2.attrs["start"].endswith("restart_2026-07-01T0200.nc")  # the second cycle started hot
    r_rolled = xr.open_dataset(tmp_path / "rolled/state/restart_2026-07-01T0400.nc")
    r_double = xr.open_dataset(tmp_path / "double/state/restart_2026-07-01T0400.nc")
    for name in r_double.data_vars:
        np.testing.assert_array_equal(r_rolled[name].values, r_double[name].values, err_msg=name)
    assert "reservoir_level" in r_double and float(r_double.reservoir_level.values[0]) > 0.0
    for ds in (a1, a2, both, r_rolled, r_double):
        ds.close()


def test_bad_configs_give_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="cycle.basin 'nowhere' not found"):
        run_cycle(_config(tmp_path / "a", extra="").parent / "cycle.toml", overrides={"basin": "nowhere"})
    bad = _config(tmp_path / "b", extra="colour = 'blue'")
    with pytest.raises(ConfigError, match=r"cycle.colour: unknown key"):
        run_cycle(bad)
    wrong = _config(tmp_path / "c").read_text().replace("hours = 2\n", "hours = 'two'\n", 1)
    (tmp_path / "c" / "cycle.toml").write_text(wrong)
    with pytest.raises(ConfigError, match=r"cycle.hours"):
        run_cycle(tmp_path / "c" / "cycle.toml")
    with pytest.raises(InputDataError, match="forcing covers .* the analysis window needs"):
        run_cycle(_config(tmp_path / "d"), overrides={"start": "2026-07-05T00:00"})
    missing = _config(tmp_path / "e").read_text().replace("demo_storm.toml", "no_such_forcing.toml")
    (tmp_path / "e" / "cycle.toml").write_text(missing)
    with pytest.raises(ConfigError, match="forcing.setup 'no_such_forcing.toml' not found"):
        run_cycle(tmp_path / "e" / "cycle.toml")


def test_restart_from_another_config_or_corrupt_is_refused_and_state_kept(tmp_path):
    path = _config(tmp_path / "r", hours=2)
    run_cycle(path, cold=True, stage="forecast")
    restart = tmp_path / "r/state/restart_2026-07-01T0200.nc"
    before = restart.read_bytes()
    other = _config(tmp_path / "r", hours=2, runoff="\n[runoff]\npet_mm_h = 0.2\n")
    with pytest.raises(InputDataError, match="another configuration"):
        run_cycle(other, stage="forecast", overrides={"start": "2026-07-01T02:00"})
    _config(tmp_path / "r", hours=2)
    restart.write_bytes(before[: len(before) // 2])  # a truncated file
    with pytest.raises(InputDataError, match="cannot be read"):
        run_cycle(path, stage="forecast", overrides={"start": "2026-07-01T02:00"})
    assert not (tmp_path / "r/state/restart_2026-07-01T0400.nc").exists()


def test_a_killed_run_leaves_the_previous_state_and_outputs(tmp_path, monkeypatch):
    path = _config(tmp_path / "k", hours=2)
    run_cycle(path, cold=True, stage="forecast")
    restart = tmp_path / "k/state/restart_2026-07-01T0200.nc"
    analysis = tmp_path / "k/out/cycle_20260701T0200/analysis.nc"
    saved = restart.read_bytes(), analysis.read_bytes()
    import hydro.pipeline.cycle as cycle

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(cycle, "write_restart", killed)
    assert (tmp_path / "k/out/cycle_20260701T0200/COMPLETE").is_file()
    with pytest.raises(KeyboardInterrupt):
        run_cycle(path, stage="forecast")  # the same cycle again, killed before its restart is written
    assert (restart.read_bytes(), analysis.read_bytes()) == saved
    folder = tmp_path / "k/out/cycle_20260701T0200"
    assert not (folder / "COMPLETE").exists() and not (folder / "report.html").exists()  # visibly incomplete
    assert not list((tmp_path / "k/state").glob("*.tmp*"))


def test_warning_stage_alone_needs_the_forecast(tmp_path):
    with pytest.raises(InputDataError, match="run the forecast stage of this cycle first"):
        run_cycle(_config(tmp_path / "w"), stage="warning")


def test_twenty_member_ensemble_on_a_local_cluster(tmp_path):
    """20 STEPS members as dask tasks (LocalCluster of one-thread worker processes); warnings carry probabilities."""
    path = _config(tmp_path / "ens", hours=4)
    result = subprocess.run([sys.executable, "-m", "hydro.cli", "run", str(path), "--cold", "--members", "20",
                             "--stage", "forecast"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    folder = tmp_path / "ens/out/cycle_20260701T0400"
    with xr.open_dataset(folder / "ensemble.nc") as ds:
        flows = ds.streamflow.values
    assert flows.shape[0] == 20 and np.isfinite(flows).all()
    assert np.ptp(flows.max(axis=1), axis=0).max() > 0  # the members differ
    summary = run_cycle(path, stage="warning")
    assert summary["warning"]["ensemble_members"] == 20
    header = (folder / "warnings.csv").read_text().splitlines()[0]
    assert "p_yellow" in header
    station = summary["warning"]["stations"][0]
    assert 0.0 <= station["p_yellow"] <= 1.0 and station["p_blue"] >= station["p_yellow"] >= station["p_red"]


def test_the_analysis_assimilates_gauge_flows_by_nudging(tmp_path):
    """A gauge at the demo outlet observing twice the modelled flow pulls the analysis there towards it."""
    import pandas as pd

    open_loop = _config(tmp_path / "open", hours=3)
    run_cycle(open_loop, cold=True, stage="forecast")
    with xr.open_dataset(tmp_path / "open/out/cycle_20260701T0300/analysis.nc") as ds:
        outlet = int(ds.feature_id.values[np.argmax(ds.streamflow.values[-1])])
        modelled = ds.streamflow.sel(feature_id=outlet).values
    times = pd.date_range("2026-07-01T00:15", "2026-07-01T03:00", freq="15min")
    observed = np.interp(np.arange(len(times)) / 4.0 + 0.25, np.arange(1, 4), 2.0 * modelled)
    pd.DataFrame({"time": times, "link": outlet, "discharge_m3s": observed, "quality": 100}).to_csv(
        tmp_path / "gauges.csv", index=False)
    nudged = _config(tmp_path / "nudged", hours=3, runoff="\n[assimilation]\nobservations = '../gauges.csv'\n")
    run_cycle(nudged, cold=True, stage="forecast")
    with xr.open_dataset(tmp_path / "nudged/out/cycle_20260701T0300/analysis.nc") as ds:
        analysed = ds.streamflow.sel(feature_id=outlet).values
    assert np.abs(analysed - 2.0 * modelled)[-1] < 0.05 * modelled[-1]  # on the observation at the hour's end


def test_independent_basins_as_dask_tasks(tmp_path):
    from hydro.pipeline.cycle import run_basins

    configs = [_config(tmp_path / name, hours=2) for name in ("north", "south")]
    summaries = run_basins(configs, dask=True, cold=True, stage="forecast")
    assert [s["config"] for s in summaries] == [str(c) for c in configs]
    for name in ("north", "south"):
        assert (tmp_path / name / "state" / "restart_2026-07-01T0200.nc").is_file()


def test_radar_forcing_on_the_basin_grid_matches_the_same_rain_given_directly(tmp_path):
    """A radar set-up (CF NetCDF, 5-minute frames, read -> QC -> regridded onto the basin grid -> 10-minute
    means) drives the same analysis as the storm it was made from."""
    from hydro.io.grid import read_d8
    from hydro.io.radar import RadarFrames, write_cf_netcdf
    from hydro.synthetic import synthetic_storm

    grid = read_d8(_basin_dir() / "flow_direction.tif")
    storm = synthetic_storm(grid.shape, 36, 1 / 6, seed=7, peak_mm_h=30.0, duration_h=10.0)  # mm per 10 min
    rate = np.repeat(storm * 6.0, 2, axis=0).astype(np.float32)  # 5-minute frames, mm h-1
    times = np.datetime64("2026-07-01T00:05") + np.arange(rate.shape[0]) * np.timedelta64(5, "m")
    write_cf_netcdf(tmp_path / "radar.nc", RadarFrames("test radar", rate, times.astype("datetime64[ns]"),
                                                       grid.crs, grid.transform))
    setup = tmp_path / "radar.toml"  # an absolute set-up path stands for itself, not under forcing/
    setup.write_text('kind = "radar"\nstart = "2026-07-01T00:00:00"\nhours = 6\npath = "radar.nc"\n')
    radar = _config(tmp_path / "radar", hours=2)
    radar.write_text(radar.read_text().replace("demo_storm.toml", str(setup)))
    run_cycle(radar, cold=True, stage="forecast")
    storm_cfg = _config(tmp_path / "storm", hours=2)
    run_cycle(storm_cfg, cold=True, stage="forecast")
    with xr.open_dataset(tmp_path / "radar/out/cycle_20260701T0200/analysis.nc") as a, \
            xr.open_dataset(tmp_path / "storm/out/cycle_20260701T0200/analysis.nc") as b:
        assert float(b.streamflow.max()) > 1.0
        np.testing.assert_allclose(a.streamflow.values, b.streamflow.values, rtol=1e-4, atol=1e-3)


def _basin_dir():
    from hydro.demo import demo_basin_dir

    return demo_basin_dir()  # generated into the user cache on first use


def test_the_rehearsal_starts_from_the_dams_carried_through_the_analysis(tmp_path):
    """The dam's level at the issue time comes from operating it through the analysis window (and through
    every earlier cycle), not from a reset to its flood-limit level, and the rehearsal's F1 starts there."""
    import json

    from hydro.io.restart import read_restart
    from hydro.pipeline.cycle import load_config

    path = _config(tmp_path / "dams", hours=8)
    summary = run_cycle(path, cold=True, stage="forecast")
    config = load_config(path)
    restart = read_restart(tmp_path / "dams/state/restart_2026-07-01T0800.nc", "demo", config.model_hash(),
                           np.datetime64("2026-07-01T08:00"))
    dam = restart.dams["demo_dam"]
    assert dam.level == pytest.approx(summary["forecast_stage"]["reservoirs_at_issue"]["demo_dam"]["level_m"], abs=1e-3)
    assert abs(dam.level - 110.0) > 1e-3 and dam.release > 0.0  # operated, not reset to the flood-limit level
    run_cycle(path, stage="rehearsal")  # a rerun from the files: the issue-time restart and forecast_qlat.nc
    f1 = json.loads((tmp_path / "dams/out/cycle_20260701T0800/rehearsal/summary.json").read_text())
    assert f1["initial_state"] == "issue-time state"
    assert f1["f1"]["reservoirs"][0]["peak_level"] >= dam.level - 1e-9


def _sections_and_dams(folder):
    """(F1 discharge per section, forecast.nc streamflow there, F1 release per dam, forecast.nc at the dam)."""
    import tomllib

    from hydro.demo import demo_basin_dir

    spec = tomllib.loads((demo_basin_dir() / "basin.toml").read_text())
    with xr.open_dataset(folder / "rehearsal/f1.nc") as f1, xr.open_dataset(folder / "forecast.nc") as fc:
        pairs = [(f1.discharge.sel(section=s["id"]).values, fc.streamflow.sel(feature_id=s["feature_id"]).values)
                 for s in spec["control_sections"]]
        pairs += [(f1.release.sel(reservoir=r["id"]).values, fc.streamflow.sel(feature_id=r["feature_id"]).values)
                  for r in spec["reservoirs"]]
        assert np.array_equal(fc.reservoir_release.values, f1.release.values)
    return pairs


def test_one_twin_f1_is_the_forecast_and_continues_the_analysis(tmp_path):
    """In a hot-started second cycle (`hydro run ... --cold --cycles 2`): F1 at every control section and dam
    equals forecast.nc (the forecast routes the dams under their rules; at the dam's segment it carries the
    release), the forecast's first hour continues the analysis' last hour (no drop to an empty river), and
    F2 of F1's own releases from the same issue-time state reproduces it bit for bit."""
    from hydro.cli import main
    from hydro.pipeline.cycle import load_basin, load_config
    from hydro.stages.rehearsal import forward

    path = _config(tmp_path / "twin", hours=2)
    path.write_text(path.read_text().replace("forecast_hours = 2", "forecast_hours = 6"))
    assert main(["run", str(path), "--cold", "--cycles", "2", "--hours", "2", "--output-dir", str(tmp_path / "D"),
                 "--state-dir", str(tmp_path / "D/state")]) == 0
    second = tmp_path / "D/cycle_20260701T0400"
    for f1, forecast in _sections_and_dams(second):
        np.testing.assert_allclose(f1, forecast, rtol=1e-6, atol=0.0)
    with xr.open_dataset(second / "analysis.nc") as a, xr.open_dataset(second / "forecast.nc") as f:
        last, first = a.streamflow.values[-1], f.streamflow.values[0]
        assert a.attrs["start"].endswith("restart_2026-07-01T0200.nc")
        assert f.attrs["routing_dt_s"] == 300.0 and "operated" in f.attrs["reservoirs"]
    wet = last > 10.0
    assert wet.sum() > 100
    # one hour on: the routed flow changes by at most what an hour of this storm can do, never drops to empty
    assert np.all(first[wet] > 0.5 * last[wet])
    config = load_config(path)
    config = config.model_copy(update={"cycle": config.cycle.model_copy(update={
        "start": np.datetime64("2026-07-01T02:00").astype(object), "output_dir": str(tmp_path / "D"),
        "state_dir": str(tmp_path / "D/state")})})
    from hydro.pipeline.cycle import inputs_from_files

    basin = load_basin(config, path)
    inputs = inputs_from_files(second, basin, config, path)
    f1 = inputs.forward()
    f2 = forward(inputs.network, inputs.basin, inputs.lateral, inputs.times, inputs.start, routing=inputs.routing,
                 initial=inputs.initial, interval_s=inputs.interval_s,
                 schedules={k: v.release for k, v in f1.reservoirs.items()})
    with xr.open_dataset(second / "forecast.nc") as fc:
        np.testing.assert_array_equal(f1.run.streamflow(), fc.streamflow.values)
    np.testing.assert_array_equal(f2.flow, f1.flow)


def test_config_numerics_reach_every_stage(tmp_path):
    """routing.dt_s = 600 and solver = "fast" route the forecast, the warnings' F1, the rehearsal and the plan;
    a step that would take hours is refused at load with the reason."""
    extra = "\n[routing]\ndt_s = 600\nsolver = \"fast\"\n[nowcast]\nlevels = 5\n"
    path = _config(tmp_path / "num", hours=3, runoff=extra)
    summary = run_cycle(path, cold=True)
    used = {"dt_s": 600.0, "solver": "fast"}
    assert summary["numerics"] == {stage: used for stage in ("forecast", "warning", "rehearsal", "plan")}
    folder = tmp_path / "num/out/cycle_20260701T0300"
    with xr.open_dataset(folder / "forecast.nc") as fc, xr.open_dataset(folder / "rehearsal/f1.nc") as f1:
        assert (fc.attrs["routing_dt_s"], fc.attrs["routing_solver"]) == (600.0, "fast")
        assert (f1.attrs["routing_dt_s"], f1.attrs["routing_solver"]) == (600.0, "fast")
    if (folder / "rehearsal/f2.nc").is_file():
        with xr.open_dataset(folder / "rehearsal/f2.nc") as f2:
            assert (f2.attrs["routing_dt_s"], f2.attrs["routing_solver"]) == (600.0, "fast")
    import json

    assert json.loads((folder / "plan/plan.json").read_text())["routing"] == used
    for bad, reason in (("0.001", r"outside \[10, 600\] s"), ("7", "outside"), ("250", "does not divide")):
        hang = _config(tmp_path / f"bad{bad}", runoff=f"\n[routing]\ndt_s = {bad}\n")
        with pytest.raises(ConfigError, match=f"routing.dt_s: .*{reason}"):
            run_cycle(hang, cold=True)
    nan = _config(tmp_path / "nan", runoff="\n[runoff]\npet_mm_h = nan\n")
    with pytest.raises(ConfigError, match="runoff.pet_mm_h"):
        run_cycle(nan, cold=True)


def test_the_repository_demo_config_is_the_packaged_one():
    """basins/demo/cycle.toml (for `hydro run`) and the packaged demo config (for `hydro demo`) describe one
    cycle; only where their outputs go differs."""
    from hydro.demo import demo_config
    from hydro.pipeline.cycle import load_config

    repo = load_config(Path(__file__).resolve().parents[2] / "basins/demo/cycle.toml").model_dump()
    packaged = load_config(demo_config()).model_dump()
    for config in (repo, packaged):
        del config["cycle"]["output_dir"], config["cycle"]["state_dir"]
    assert repo == packaged


def test_a_restart_that_does_not_fit_the_basin_is_refused(tmp_path):
    """A restart one segment short (it once corrupted the heap in a kernel) or with a reservoir off its
    curve is a one-line error naming the file; nothing is written."""
    path = _config(tmp_path / "fit", hours=2)
    run_cycle(path, cold=True, stage="forecast")
    restart = tmp_path / "fit/state/restart_2026-07-01T0200.nc"
    good = xr.load_dataset(restart)
    from hydro.io.restart import _checksum

    def write(ds):  # a restart as another basin or a bug would write it: consistent, with its own checksum
        ds.attrs["checksum_sha256"] = _checksum(ds)
        ds.to_netcdf(restart)

    write(good.isel(segment=slice(1, None)))
    with pytest.raises(ConfigError, match=r"restart_2026-07-01T0200.nc: routing state has shapes"):
        run_cycle(path, stage="forecast", overrides={"start": "2026-07-01T02:00"})
    flooded = good.copy()
    flooded["reservoir_storage"] = flooded["reservoir_storage"] * 1e6
    write(flooded)
    with pytest.raises(InputDataError, match="storage .* is outside its level-storage curve"):
        run_cycle(path, stage="forecast", overrides={"start": "2026-07-01T02:00"})
    assert not (tmp_path / "fit/state/restart_2026-07-01T0400.nc").exists()


def test_a_restart_with_flipped_bytes_is_refused_by_its_checksum(tmp_path):
    """64 flipped bytes inside a data chunk pass HDF5 unnoticed; the checksum refuses them."""
    path = _config(tmp_path / "flip", hours=2)
    run_cycle(path, cold=True, stage="forecast")
    restart = tmp_path / "flip/state/restart_2026-07-01T0200.nc"
    ds = xr.load_dataset(restart)
    ds["streamflow"].values[:16] += np.float32(1.0)  # the same file, its flows edited after it was written
    ds.to_netcdf(restart)
    with pytest.raises(InputDataError, match="restart checksum does not match"):
        run_cycle(path, stage="forecast", overrides={"start": "2026-07-01T02:00"})


def test_a_second_run_on_a_locked_state_folder_fails_at_once_and_old_restarts_are_pruned(tmp_path):
    import os

    from hydro.io.atomic import FolderLock

    path = _config(tmp_path / "lock", hours=1, extra="keep_restarts = 2")
    with FolderLock(tmp_path / "lock/state", "state folder"):
        (tmp_path / "lock/state/.restart_x.nc.abc.tmp").write_text("left by a killed run")
        with pytest.raises(InputDataError, match=rf"state folder is in use by pid {os.getpid()} since"):
            run_cycle(path, cold=True, stage="forecast")
    run_cycles(path, cycles=3, cold=True, stage="forecast")
    assert sorted(p.name for p in (tmp_path / "lock/state").glob("restart_*.nc")) == [
        "restart_2026-07-01T0200.nc", "restart_2026-07-01T0300.nc"]
    assert not list((tmp_path / "lock/state").glob("*.tmp"))  # the killed run's temporary file is gone
