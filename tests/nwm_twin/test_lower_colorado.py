"""The Lower Colorado NWM network as a twin, end to end: `hydro basin from-nwm` then `hydro run` of
examples/lower_colorado/cycle.toml (forecast, warning, rehearsal, plan).

Truth: the shared data's own files (README of ../shared/data/nwm_lower_colorado). The basin keeps every
RouteLink reach (10,877 routed segments + 371 in 30 lakes); its gauges are the RouteLink's; the lateral inflow
the cycle routes is the CHRTOUT qBucket + qSfcLatRunoff (lateral_inflow.nc qlat, extracted independently);
on every segment no gauge feeds, the analysis is t-route's warm-start run (reference_flow_troute_mc.nc,
warm_shortts: the same warm start from NWM streamflow, level pools from LAKEPARM); at the nudged gauges it is
close to the USGS observations and far closer than that open-loop run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.cli import main
from hydro.core.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lower_colorado" / "cycle.toml"


@pytest.fixture(scope="module")
def twin(nwm_dir, tmp_path_factory):
    """The basin built by `hydro basin from-nwm` and one cycle of the example config on it."""
    from hydro.pipeline.cycle import run_cycle

    root = tmp_path_factory.mktemp("lower_colorado")
    basin = root / "basin"
    rc = main(["basin", "from-nwm", "--routelink", str(nwm_dir / "original/RouteLink.nc"),
               "--lakeparm", str(nwm_dir / "original/LAKEPARM.nc"),
               "--lateral", str(nwm_dir / "original/channel_forcing"),
               "--observations", str(nwm_dir / "usgs_observations.parquet"),
               "--name", "lower_colorado", "--output", str(basin)])
    assert rc == 0
    # the example config as it is, pointed at the folder just built (and at tmp outputs)
    config = root / "cycle.toml"
    text = EXAMPLE.read_text().replace('basin = "basin"', f'basin = "{basin}"')
    text = text.replace('observations = "basin/observations.csv"', f'observations = "{basin / "observations.csv"}"')
    text = text.replace('setup = "forcing.toml"', f'setup = "{EXAMPLE.parent / "forcing.toml"}"')
    text = text.replace('thresholds = "thresholds.csv"', f'thresholds = "{EXAMPLE.parent / "thresholds.csv"}"')
    config.write_text(text.replace('"runs/state"', f'"{root / "state"}"').replace('"runs"', f'"{root / "runs"}"'))
    summary = run_cycle(config)
    return {"basin": basin, "summary": summary, "out": Path(summary["folder"]), "config": config}


def test_basin_keeps_every_reach_lake_and_gauge(twin, nwm_dir):
    ds = xr.load_dataset(twin["basin"] / "network.nc")
    table = pd.read_parquet(nwm_dir / "channel_network.parquet")
    lakes = pd.read_parquet(nwm_dir / "lakes.parquet")
    routed = table[table.lake_id < 0]  # segments in a modelled lake are collapsed into its node
    assert int(ds.is_lake.sum()) == 30 and ds.sizes["feature_id"] == len(routed) + 30 == 10_907
    assert set(ds.feature_id.values[ds.is_lake.values == 0]) == set(routed.link)
    assert set(ds.lake_id.values) == set(lakes.lake_id)
    outlet = lakes.set_index("lake_id").outlet_link  # the shared data's own lake -> outlet-segment table
    assert dict(zip(ds.lake_id.values.tolist(), ds.lake_outlet_link.values.tolist())) == outlet.to_dict()
    gauges = pd.read_csv(twin["basin"] / "gauges.csv", dtype={"station_id": str})
    expected = table[table.gage != ""].set_index("gage").link  # 76 gauged segments (none inside a lake)
    assert len(gauges) == len(expected) == 76
    assert dict(zip(gauges.station_id, gauges.feature_id)) == expected.to_dict()
    # the USGS timeslices placed by the RouteLink crosswalk land where the data's own `link` column says
    observed = pd.read_csv(twin["basin"] / "observations.csv", dtype={"station_id": str})
    usgs = pd.read_parquet(nwm_dir / "usgs_observations.parquet")
    assert observed.station_id.nunique() == usgs.station_id.nunique() == 65
    assert dict(zip(observed.station_id, observed.link)) == dict(zip(usgs.station_id, usgs.link))
    assert len(observed) == len(usgs)


def test_all_four_stages_ran(twin):
    s, out = twin["summary"], twin["out"]
    assert json.loads((out / "COMPLETE").read_text())["stages"] == ["forecast", "warning", "rehearsal", "plan"]
    fc = s["forecast_stage"]
    assert fc["start"].startswith("cold; channels warm-started from the NWM streamflow")
    assert "NWM lateral inflow" in fc["forcing"] and "65 gauges on the network" in fc["assimilation"]
    updates = int(re.search(r"(\d+) gauge-step updates", fc["assimilation"]).group(1))
    assert 0 < updates <= 65 * 6 * 12  # at most every gauge at every 5-minute step of the analysis
    assert "forecast: the last observation of" in fc["assimilation"] and "exp(-age / 120 min)" in fc["assimilation"]
    # no dams: both stages ran and say why there is nothing to dispatch
    for stage in ("rehearsal", "plan"):
        assert s[stage]["nothing_to_dispatch"].startswith("nothing to dispatch: basin lower_colorado has no operated")
        assert "30 lake(s) are uncontrolled level pools" in s[stage]["nothing_to_dispatch"]
    assert (out / "rehearsal" / "f1.nc").is_file()
    plan = (out / "plan" / "plan.md").read_text()
    assert "No dispatch plan: nothing to dispatch" in plan and "uncontrolled level-pool lake" in plan
    assert json.loads((out / "plan" / "plan.json").read_text())["dispatch_order"] == []
    assert "nothing to dispatch" in (out / "report.html").read_text()


def test_routes_the_chrtout_lateral_inflow(twin, nwm_dir):
    """forecast_qlat.nc (10-minute steps) is the CHRTOUT qBucket + qSfcLatRunoff of each hour, repeated."""
    with xr.open_dataset(twin["out"] / "forecast_qlat.nc") as q, \
            xr.open_dataset(nwm_dir / "lateral_inflow.nc") as ref:
        assert q.sizes["time"] == 22 * 6
        hourly = ref.qlat.sel(time=slice("2021-08-23T19:00", "2021-08-24T16:00"))
        routed = q.feature_id.values[np.isin(q.feature_id.values, ref.feature_id.values)]
        expected = np.repeat(hourly.sel(feature_id=routed).values, 6, axis=0)
        np.testing.assert_array_equal(q.qlat.sel(feature_id=routed).values, expected)
        lake_nodes = q.feature_id.values[~np.isin(q.feature_id.values, ref.feature_id.values)]
        assert lake_nodes.size == 30 and float(q.qlat.sel(feature_id=lake_nodes).max()) == 0.0


def test_analysis_is_troute_where_no_gauge_feeds_and_nudged_at_the_gauges(twin, nwm_dir):
    from hydro.io.netcdf import read_network

    network, _ = read_network(twin["basin"] / "network.nc")
    obs = pd.read_parquet(nwm_dir / "usgs_observations.parquet")
    gauged = np.isin(network.feature_id, obs.link.unique()).astype(float)
    fed_by_gauge = network.accumulate(gauged) > 0  # the gauge itself and everything below it
    with xr.open_dataset(twin["out"] / "analysis.nc") as a, \
            xr.open_dataset(nwm_dir / "reference_flow_troute_mc.nc") as ref:
        assert a.sizes["time"] == 6
        # hour ends 14:00 .. 19:00 = reference steps 12, 24, .. 72 (index 0 is the initial state)
        hourly = ref.flow.isel(time=slice(12, 73, 12)).load()
        free = network.feature_id[~fed_by_gauge]
        assert free.size > 5000
        got = a.streamflow.sel(feature_id=free).values
        np.testing.assert_allclose(got, hourly.sel(feature_id=free).values, rtol=1e-6, atol=1e-4)
        # at the nudged gauges: close to the observations at the hour ends, far closer than open loop
        obs = obs[obs.link.isin(network.feature_id)]
        at_hours = obs[obs.time.isin(pd.to_datetime(a.time.values))]
        model = a.streamflow.sel(time=at_hours.time.values, feature_id=at_hours.link.values).values.diagonal()
        k = (at_hours.time.values - np.datetime64("2021-08-23T14:00")) // np.timedelta64(1, "h")
        open_loop = hourly.sel(feature_id=at_hours.link.values).values[k.astype(int), np.arange(len(at_hours))]
    observed = at_hours.discharge_m3s.to_numpy(float)
    rmse = np.sqrt(np.mean((model - observed) ** 2))
    rmse_open = np.sqrt(np.mean((open_loop - observed) ** 2))
    print(f"gauges at hour ends: RMSE nudged {rmse:.2f} vs open loop {rmse_open:.2f} m3/s ({len(observed)} values)")
    assert rmse < 0.1 * rmse_open


@pytest.fixture(scope="module")
def forgotten(twin, tmp_path_factory):
    """The twin's forecast stage again with the gauges forgotten at the issue time (forecast_decay_minutes = 0):
    the same analysis and issue-time state, the same 22-hour forecast window, no carried nudging."""
    from hydro.pipeline.cycle import run_cycle

    root = tmp_path_factory.mktemp("lower_colorado_forget")
    config = root / "forget.toml"
    config.write_text(twin["config"].read_text().replace("forecast_decay_minutes = 120", "forecast_decay_minutes = 0")
                      .replace(str(twin["out"].parent), str(root / "runs"))
                      .replace(str(twin["config"].parent / "state"), str(root / "state")))
    return run_cycle(config, stage="forecast")


def test_forecast_carries_the_nudging_and_beats_forgetting_it(twin, forgotten):
    """At the gauges, the forecast from the nudged issue-time state against the USGS flows after the issue time
    (never seen by the cycle): carrying the last correction (t-route's decay, 120 min) against forgetting the
    gauges at the issue time (forecast_decay_minutes = 0), by lead time."""
    forget = forgotten
    assert "forecast: not nudged (forecast_decay_minutes = 0" in forget["forecast_stage"]["assimilation"]
    obs = pd.read_csv(twin["basin"] / "observations.csv", parse_dates=["time"])
    rmse = {}
    for name, folder in (("carried", twin["out"]), ("forgotten", Path(forget["folder"]))):
        with xr.open_dataset(folder / "forecast.nc") as fc:
            seen = obs[obs.time.isin(pd.to_datetime(fc.time.values[:4]))]  # observations end at 23:45: leads 1-4 h
            model = fc.streamflow.sel(time=xr.DataArray(seen.time.values),
                                      feature_id=xr.DataArray(seen.link.values)).values
        error = (model - seen.discharge_m3s.to_numpy(float)) ** 2
        lead = ((seen.time - pd.Timestamp("2021-08-23T19:00")) // pd.Timedelta("1h")).to_numpy()
        rmse[name] = np.array([np.sqrt(error[lead == h].mean()) for h in (1, 2, 3, 4)])
        assert np.bincount(lead)[1:].tolist() == [65] * 4
    print("gauge RMSE by lead 1-4 h [m3/s]: carried", np.round(rmse["carried"], 2), "forgotten",
          np.round(rmse["forgotten"], 2))
    assert rmse["carried"][0] < 0.2 * rmse["forgotten"][0]  # measured 1.62 against 16.58 m3/s at 1 h
    assert np.all(rmse["carried"] < rmse["forgotten"])  # and better at every lead the observations cover
    assert np.all(np.diff(rmse["carried"]) > 0)  # the gain fades as the correction decays


def test_forecast_water_balance_counts_the_carried_nudging(twin, forgotten):
    """The forecast's channel balance with the water the carried nudging put in (nudging_added_m3: each
    correction's change of the carried Muskingum-Cunge storage at the 65 gauges, hydro.stages.water_balance.
    nudging_water_m3) leaves the residual the same window has without it. Measured: nudging -1.08e7 m3 (the
    corrections times the step: -7.2e5), residual -7.5e5 m3 (-26.1 % of the 2.88e6 m3 lateral inflow; +1.0e7,
    +350 %, before the nudging was counted) against -4.8e5 (-16.5 %) with the gauges forgotten: 2.6 % of the
    nudging water apart. What is left is Muskingum-Cunge's own residual on this window (-20.3 % with no nudging
    at all), mostly the 1e-5-slope main-stem segments where K is hours (docs/robustness.md)."""
    nudged = twin["summary"]["forecast_stage"]["water_balance"]["channels"]
    forget = forgotten["forecast_stage"]["water_balance"]["channels"]
    print("forecast channel balance [m3]: nudged", {k: round(v) for k, v in nudged.items()}, "forgotten",
          {k: round(v) for k, v in forget.items()})
    assert "nudging_added_m3" not in forget and nudged["lateral_inflow_m3"] == forget["lateral_inflow_m3"]
    added = nudged["nudging_added_m3"]
    assert added < -0.5 * abs(nudged["channel_storage_change_m3"])  # the carried corrections lower the flows
    assert abs(nudged["residual_m3"] - forget["residual_m3"]) < 0.05 * abs(added)  # measured 2.6 %
    assert abs(nudged["residual_percent_of_inflow"]) < 30.0  # was +350 %; -16.5 % without the carried nudging


def test_a_stage_rerun_routes_f1_with_the_carried_nudging(twin):
    """`--stage warning` (or rehearsal, plan) rebuilds F1 from the issue-time restart and forecast_qlat.nc: with
    the carried nudging it is forecast.nc again, bit for bit."""
    from hydro.io.config import load_config
    from hydro.pipeline.cycle import inputs_from_files, load_basin

    config = load_config(twin["config"])
    basin = load_basin(config, twin["config"])
    f1 = inputs_from_files(twin["out"], basin, config, twin["config"]).forward()
    with xr.open_dataset(twin["out"] / "forecast.nc") as fc:
        np.testing.assert_array_equal(f1.run.flow, fc.streamflow.values)


def test_user_thresholds_graded_with_their_source(twin):
    out = twin["out"]
    levels = pd.read_csv(EXAMPLE.parent / "thresholds.csv", comment="#", dtype={"id": str})
    rows = pd.read_csv(out / "warnings.csv", dtype={"id": str})
    stations = rows[rows.kind == "threshold"].set_index("id")
    assert set(stations.index) == set(levels.id)
    with xr.open_dataset(out / "forecast.nc") as fc:
        for _, th in levels.iterrows():
            peak = float(fc.streamflow.sel(feature_id=th.feature_id).max())
            reached = [c for c in ("blue", "yellow", "orange", "red") if peak >= th[c]]
            row = stations.loc[th.id]
            assert row.grade == (reached[-1] if reached else "none")
            assert row.peak_m3s == pytest.approx(peak, abs=0.01)
            assert row.threshold_source.startswith("example values, not official")
    points = json.loads((out / "warnings.geojson").read_text())["features"]
    assert {f["properties"]["id"]: f["properties"]["grade"] for f in points} == stations.grade.to_dict()
    assert all(-101 < f["geometry"]["coordinates"][0] < -96 for f in points)  # lon/lat of the RouteLink (Texas)
    warnings = json.loads((out / "warnings.json").read_text())
    # no climatology for a basin without a runoff grid: said so, and no segment graded by return period
    assert warnings["climatology"].startswith("none: basin lower_colorado is forced by lateral inflow")
    assert warnings["segments_graded"] == 0 and sum(warnings["segment_counts"].values()) == 0


def test_outlet_subset_and_no_partial_folder(nwm_dir, tmp_path):
    from hydro.pipeline.nwm_basin import build_nwm_basin

    table = pd.read_parquet(nwm_dir / "channel_network.parquet")
    austin = 5781917  # USGS 08158000 Colorado Rv at Austin
    upstream, todo = {austin}, [austin]
    feeders = table.groupby("to").link.apply(list).to_dict()
    while todo:
        for up in feeders.get(todo.pop(), []):
            upstream.add(up)
            todo.append(up)
    summary = build_nwm_basin(nwm_dir / "original/RouteLink.nc", tmp_path / "austin",
                              nwm_dir / "original/LAKEPARM.nc", outlets=[austin],
                              lateral=nwm_dir / "lateral_inflow.nc")
    sub = table[table.link.isin(upstream)]
    assert summary["segments"] == int((sub.lake_id < 0).sum())
    assert summary["lakes"] == sub.lake_id[sub.lake_id > 0].nunique()
    assert "outlet_feature_id = 5781917" in (tmp_path / "austin" / "basin.toml").read_text()
    # its own cycle.toml as written, forced by the qlat NetCDF and warm-started from its nwm_streamflow: with no
    # observations it is open loop, and upstream of Austin nothing below matters, so every node is t-route's
    from hydro.pipeline.cycle import run_cycle

    summary = run_cycle(tmp_path / "austin" / "cycle.toml", stage="forecast", overrides={"forecast_hours": 1})
    assert summary["forecast_stage"]["assimilation"] == "none"
    with xr.open_dataset(Path(summary["folder"]) / "analysis.nc") as a, \
            xr.open_dataset(nwm_dir / "reference_flow_troute_mc.nc") as ref:
        hourly = ref.flow.isel(time=slice(12, 73, 12)).sel(feature_id=a.feature_id.values).values
        np.testing.assert_allclose(a.streamflow.values, hourly, rtol=1e-6, atol=1e-4)
    (tmp_path / "austin" / "runs").rename(tmp_path / "runs")  # keep the folder check below about the build
    # an outlet inside a lake is refused, and nothing is left behind
    in_lake = int(table[table.lake_id > 0].link.iloc[0])
    with pytest.raises(ConfigError, match="inside a LAKEPARM lake"):
        build_nwm_basin(nwm_dir / "original/RouteLink.nc", tmp_path / "bad", nwm_dir / "original/LAKEPARM.nc",
                        outlets=[in_lake], lateral=nwm_dir / "lateral_inflow.nc")
    assert not (tmp_path / "bad").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["austin", "runs"]  # no temporary folder either


def test_info_says_the_nwm_network_has_no_areas_and_counts_what_it_has(twin, nwm_dir, capsys):
    """The NWM RouteLink carries no catchment areas: `hydro basin info` says "not available" (never a blank or a
    guess) and gives, for every point, the routed segments and channel length above it (lake members collapsed)."""
    assert main(["basin", "info", str(twin["basin"]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["upstream_area_source"].startswith("not available: network.nc has no upstream_area")
    table = pd.read_parquet(nwm_dir / "channel_network.parquet")
    routed = table[table.lake_id < 0]
    (outlet,) = info["outlets"]
    assert outlet["upstream_area_km2"] is None and outlet["upstream_segments"] == len(routed) == 10_877
    assert outlet["upstream_length_km"] == pytest.approx(routed.length_m.sum() / 1000.0, abs=0.1)
    assert len(info["gauges"]) == 76 and all(g["upstream_area_km2"] is None for g in info["gauges"])
    assert main(["basin", "info", str(twin["basin"])]) == 0
    text = capsys.readouterr().out
    assert "upstream area: not available" in text and " n/a km2" in text and "?" not in text


def test_routelink_areas_are_accumulated_when_it_carries_them(nwm_dir, tmp_path, capsys):
    """A RouteLink with NHDPlus catchment areas (AreaSqKM): from-nwm accumulates them over its reaches (here
    1 km2 per reach, so the area is the count of RouteLink reaches above, lake members included); a damaged
    area is one line and leaves no folder."""
    from hydro.core.errors import InputDataError
    from hydro.pipeline.nwm_basin import build_nwm_basin

    ds = xr.load_dataset(nwm_dir / "original/RouteLink.nc")
    ds["AreaSqKM"] = ("feature_id", np.ones(ds.sizes["feature_id"]), {"units": "km2"})
    ds.to_netcdf(tmp_path / "RouteLink.nc")
    austin = 5781917
    build_nwm_basin(tmp_path / "RouteLink.nc", tmp_path / "austin", nwm_dir / "original/LAKEPARM.nc",
                    outlets=[austin], lateral=nwm_dir / "lateral_inflow.nc")
    assert main(["basin", "info", str(tmp_path / "austin"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "catchment areas AreaSqKM accumulated" in info["upstream_area_source"]
    table = pd.read_parquet(nwm_dir / "channel_network.parquet")
    feeders = table.groupby("to").link.apply(list).to_dict()

    def reaches_above(link):
        count, todo = 0, [link]
        while todo:
            count += 1
            todo += feeders.get(todo.pop(), [])
        return count
    assert info["outlets"][0]["upstream_area_km2"] == reaches_above(austin) > info["outlets"][0]["upstream_segments"]
    for gauge in info["gauges"]:
        assert gauge["upstream_area_km2"] == reaches_above(gauge["feature_id"])
    ds["AreaSqKM"][5] = np.nan
    ds.to_netcdf(tmp_path / "damaged.nc")
    with pytest.raises(InputDataError, match=r"AreaSqKM = nan at link \d+ \(1 reach\(es\)\)"):
        build_nwm_basin(tmp_path / "damaged.nc", tmp_path / "bad", outlets=[austin], lateral=nwm_dir / "lateral_inflow.nc")
    assert not (tmp_path / "bad").exists()


def test_two_cycles_of_3_hours_equal_one_of_6(twin, tmp_path):
    """The restart contract on the NWM basin: warm start, nudging and level pools carried bit for bit."""
    from hydro.pipeline.cycle import run_cycles

    runs = {name: run_cycles(twin["config"], cycles=cycles, hours=hours, cold=True, stage="forecast", folders={
        "output_dir": str(tmp_path / name), "state_dir": str(tmp_path / name / "state"), "forecast_hours": 1})
        for name, cycles, hours in (("a", 2, 3), ("b", 1, 6))}
    assert runs["a"][0]["forecast_stage"]["start"].startswith("cold; channels warm-started")
    assert runs["a"][1]["forecast_stage"]["start"].endswith("restart_2021-08-23T1600.nc")  # hot start
    a = xr.load_dataset(tmp_path / "a" / "state" / "restart_2021-08-23T1900.nc")
    b = xr.load_dataset(tmp_path / "b" / "state" / "restart_2021-08-23T1900.nc")
    for name in ("streamflow", "depth", "water_sfc_elev"):
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_bad_builds_and_forcings_are_one_line_errors(twin, nwm_dir, tmp_path):
    from hydro.core.errors import InputDataError
    from hydro.pipeline.cycle import run_cycle
    from hydro.pipeline.nwm_basin import build_nwm_basin

    routelink = nwm_dir / "original/RouteLink.nc"
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    with pytest.raises(ConfigError, match="exists and is not an empty folder"):
        build_nwm_basin(routelink, tmp_path / "taken")
    with pytest.raises(ConfigError, match=r"outlet feature_id\(s\) \[123\] not in the RouteLink"):
        build_nwm_basin(routelink, tmp_path / "b1", outlets=[123])
    obs = tmp_path / "usgs.csv"
    obs.write_text("time,station_id,discharge_m3s\n2021-08-23T13:00,99999999,1.0\n")
    with pytest.raises(InputDataError, match="none of its 1 stations is a gauge of the network"):
        build_nwm_basin(routelink, tmp_path / "b2", observations=obs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken", "usgs.csv"]  # nothing half-written
    # a rain forcing on a basin without a runoff grid is refused, naming the fix
    rain = tmp_path / "storm.toml"
    rain.write_text('kind = "synthetic_storm"\nstart = "2021-08-23T13:00:00"\nhours = 28\n')
    config = tmp_path / "cycle.toml"
    config.write_text(twin["config"].read_text().replace(
        f'setup = "{EXAMPLE.parent / "forcing.toml"}"', f'setup = "{rain}"').replace(
        str(twin["out"].parent), str(tmp_path / "runs")))
    with pytest.raises(ConfigError, match='basin lower_colorado has none .* use kind = "nwm_lateral"'):
        run_cycle(config, stage="forecast")


def test_cli_errors_are_one_line_with_exit_codes(nwm_dir, tmp_path, capsys):
    args = ["basin", "from-nwm", "--routelink", str(nwm_dir / "original/RouteLink.nc")]
    assert main([*args, "--outlet", "123", "--output", str(tmp_path / "b")]) == 2  # configuration
    assert main([*args, "--lateral", str(tmp_path / "none.nc"), "--output", str(tmp_path / "b")]) == 3  # input data
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not in the RouteLink" in err[0] and "none.nc" in err[1]
    assert not (tmp_path / "b").exists()
