"""hydro run: rolling cycles with hot start (2N hours = N + restart + N, bit for bit), bad input, ensemble."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from hydro.core.errors import ConfigError, InputDataError
from hydro.stages.cycle import run_cycle, run_cycles

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
    with pytest.raises(ConfigError, match="forcing set-up not found"):
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
    import hydro.stages.cycle as cycle

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(cycle, "write_restart", killed)
    with pytest.raises(KeyboardInterrupt):
        run_cycle(path, stage="forecast")  # the same cycle again, killed before its restart is written
    assert (restart.read_bytes(), analysis.read_bytes()) == saved
    assert not list((tmp_path / "k/state").glob("*.tmp*"))


def test_warning_stage_alone_needs_the_forecast(tmp_path):
    with pytest.raises(InputDataError, match="run the forecast stage first"):
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
    from hydro.stages.cycle import run_basins

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
    from hydro.core.paths import BASINS_DIR
    from hydro.demo import ensure_demo_basin

    ensure_demo_basin(BASINS_DIR / "demo")  # generated on first use (a fresh clone has none)
    return BASINS_DIR / "demo"


def test_the_rehearsal_starts_from_the_dams_carried_through_the_analysis(tmp_path):
    """The dam's level at the issue time comes from operating it through the analysis window (and through
    every earlier cycle), not from a reset to its flood-limit level."""
    from hydro.io.restart import read_restart
    from hydro.stages.cycle import dam_start, load_basin, load_config

    path = _config(tmp_path / "dams", hours=8)
    summary = run_cycle(path, cold=True, stage="forecast")
    config = load_config(path)
    start = dam_start(config, path, load_basin(config, path))
    state = summary["forecast_stage"]["reservoirs_at_issue"]["demo_dam"]
    assert start["demo_dam"].level == pytest.approx(state["level_m"], abs=1e-3)
    assert abs(start["demo_dam"].level - 110.0) > 1e-3  # operated, not reset to the flood-limit level
    assert start["demo_dam"].release > 0.0
    run_cycle(path, stage="rehearsal")
    import json

    f1 = json.loads((tmp_path / "dams/out/cycle_20260701T0800/rehearsal/summary.json").read_text())["f1"]
    restart = read_restart(tmp_path / "dams/state/restart_2026-07-01T0800.nc", "demo", config.model_hash(),
                           np.datetime64("2026-07-01T08:00"))
    assert f1["reservoirs"][0]["peak_level"] >= restart.dams["demo_dam"].level - 1e-9
