"""Two-way coupling: a main stem ending inside the network feeds the segments below it
(hydro/hydraulics/network_coupling.py StemOutlet, hydro/routing/operated.py attach_main_stems). The chain of
tests/hydraulics/test_mainstem_coupling.py (1 -> 2 -> ... -> 6 -> outlet, tributary 7 -> 4) with the main stem on
segments 2..5, so segment 6 lies below it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hydro.core.errors import ConfigError
from hydro.hydraulics.network_coupling import ChannelState, CoupledMainStem, run_main_stems, stem_outlets
from hydro.routing.channel import RoutingState
from hydro.routing.operated import OperatedNetwork, Reusable
from tests.helpers import make_network

from .test_mainstem_coupling import INTERVAL, START, definition, lateral_series, network

SEGMENTS = (2, 3, 4, 5)
BELOW = 5  # network position of segment 6


def _pulse(t):
    return 400.0 * np.exp(-(((t - 2.0) / 0.7) ** 2))


def _times(start, hours):
    return start + np.arange(1, hours + 1) * np.timedelta64(1, "h")


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """The network with the main stem attached, warmed to steady state by Muskingum-Cunge alone, the main stem's
    state at the warm run's end (run afterwards on the warm run, one-way, as a cold start builds it), and the
    network without the main stem attached."""
    net = network()
    stem = CoupledMainStem(net, definition(tmp_path_factory.mktemp("feedback"), segments=SEGMENTS))
    two_way = OperatedNetwork(net, dt=300.0)
    two_way.attach_main_stems(stem_outlets([stem], 300.0))
    one_way = OperatedNetwork(net, dt=300.0)
    warm = one_way.run(lateral_series(6, 5.0, 40.0), INTERVAL, 6)
    last = run_main_stems([stem], warm, _times(START, 6))  # from the steady profile of the first hour's flows
    start = ChannelState(warm.final.streamflow, warm.final.depth, warm.final.water_sfc_elev,
                         {stem.id: last[stem.id].final_state})
    return net, stem, two_way, one_way, start


def test_the_segment_below_gets_the_main_stems_outflow(twin):
    """Routed in place, the main stem gives the same numbers as run afterwards on the same run (the coupling
    changes only what the segments below see), and segment 6 follows the hydraulics' outflow (its peak in the
    same or the next hour), not Muskingum-Cunge's through the same 8 km; its volume is what the main stem
    delivered plus its own lateral inflow."""
    net, stem, two_way, one_way, start = twin
    lateral = lateral_series(8, 5.0, 40.0, _pulse)
    run = two_way.run(lateral, INTERVAL, 8, start)
    mc = one_way.run(lateral, INTERVAL, 8, start)
    stem_start = START + np.timedelta64(6, "h")
    after = run_main_stems([stem], run, _times(stem_start, 8), start.streamflow, start.main_stems)[stem.id]
    r = run.main_stems[stem.id]
    np.testing.assert_array_equal(r.discharge, after.discharge)
    np.testing.assert_array_equal(r.water_level, after.water_level)
    np.testing.assert_array_equal(r.final_state.hydraulic.discharge, run.final.main_stems[stem.id].hydraulic.discharge)
    # upstream of the main stem's end nothing changes; below it the flow is the hydraulics', one segment later
    np.testing.assert_array_equal(run.flow[:, :BELOW], mc.flow[:, :BELOW])
    assert np.abs(run.flow[:, BELOW] - mc.flow[:, BELOW]).max() > 5.0
    outflow = r.outflow  # every routing step
    assert outflow.size == 8 * 12 and outflow[11::12] == pytest.approx(r.discharge[:, -1], abs=0)
    hyd_peak, below_peak = int(np.argmax(r.discharge[:, -1])), int(np.argmax(run.flow[:, BELOW]))
    assert below_peak - hyd_peak in (0, 1)
    # water: segment 6 passes what the main stem delivered plus its own lateral inflow (hour ends interpolated;
    # it stores little and ends near where it started)
    delivered = float(outflow.sum() * 300.0) + float(lateral[:, BELOW].sum() * INTERVAL)
    passed = float(np.interp(np.arange(1, 97) * 300.0, np.arange(0, 9) * 3600.0,
                             np.concatenate([[start.streamflow[BELOW]], run.flow[:, BELOW]])).sum() * 300.0)
    assert passed == pytest.approx(delivered, rel=1e-3)


def test_a_run_continued_from_its_final_state_equals_one_run(twin):
    """Two 4-hour runs, the second from the first's final state (main stem state included), equal one 8-hour
    run bit for bit: the segment below, the main stem and the final states."""
    net, stem, two_way, _, start = twin
    lateral = lateral_series(8, 5.0, 40.0, _pulse)
    whole = two_way.run(lateral, INTERVAL, 8, start)
    first = two_way.run(lateral[:24], INTERVAL, 4, start)
    second = two_way.run(lateral[24:], INTERVAL, 4, first.final)
    np.testing.assert_array_equal(np.vstack([first.flow, second.flow]), whole.flow)
    np.testing.assert_array_equal(np.concatenate([first.main_stems[stem.id].discharge, second.main_stems[stem.id].discharge]),
                                  whole.main_stems[stem.id].discharge)
    for name in ("streamflow", "depth", "water_sfc_elev"):
        np.testing.assert_array_equal(getattr(second.final, name), getattr(whole.final, name))
    a, b = second.final.main_stems[stem.id].hydraulic, whole.final.main_stems[stem.id].hydraulic
    for name in ("water_level", "discharge", "previous_water_level", "previous_discharge"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_a_what_if_reusing_the_run_copies_it(twin):
    """A later run from the same start with the same inflow copies the earlier run, main stem included; another
    inflow routes again (and differs)."""
    net, stem, two_way, _, start = twin
    lateral = lateral_series(8, 5.0, 40.0, _pulse)
    run = two_way.run(lateral, INTERVAL, 8, start)
    again = two_way.run(lateral, INTERVAL, 8, start, reuse=Reusable(run, start))
    assert again.main_stems[stem.id] is run.main_stems[stem.id]
    np.testing.assert_array_equal(again.flow, run.flow)
    other = two_way.run(lateral * np.float32(1.1), INTERVAL, 8, start, reuse=Reusable(run, start))
    assert np.abs(other.flow[:, BELOW] - run.flow[:, BELOW]).max() > 1.0
    moved = dataclasses.replace(start, streamflow=start.streamflow * np.float32(1.01))
    assert not Reusable(run, start).fits(lateral.shape, 8, moved, 300.0, two_way.cold_state())


def test_without_the_hydraulic_state_the_network_routes_it_by_muskingum_cunge(twin):
    """A run that starts without the main stem's state (a cold start's analysis window) routes the whole network
    by Muskingum-Cunge, exactly as without the main stem."""
    net, _, two_way, one_way, start = twin
    lateral = lateral_series(4, 5.0, 40.0, _pulse)
    plain = RoutingState(start.streamflow, start.depth, start.water_sfc_elev)
    a, b = two_way.run(lateral, INTERVAL, 4, plain), one_way.run(lateral, INTERVAL, 4, plain)
    np.testing.assert_array_equal(a.flow, b.flow)
    assert not a.main_stems


def test_the_twin_with_a_main_stem_above_its_town(tmp_path):
    """The demo basin (a copy) with its main stem ending three segments above the outlet town: after a warm-up
    cycle from a cold start, two 3-hour cycles equal one 6-hour cycle bit for bit (the main stem runs in place
    in the analysis and the forecast); the town's forecast flow is the network's routing of the hydraulics'
    outflow (not Muskingum-Cunge's through the main stem), and the rehearsal's F1 is the forecast."""
    import shutil

    import xarray as xr

    from hydro.pipeline.cycle import run_cycle, run_cycles

    from .test_mainstem_coupling import DEMO_STEM, demo_with_main_stem
    from .test_mainstem_restart import END, _cycle

    warm = tmp_path / "warm"
    demo_with_main_stem(warm, segments=DEMO_STEM[:6])
    run_cycle(_cycle(warm, 3, "2026-07-01T00:00:00"), cold=True, stage="forecast")
    rolled, double = tmp_path / "rolled", tmp_path / "double"
    for folder in (rolled, double):
        shutil.copytree(warm / "basin", folder / "basin")
        shutil.copytree(warm / "state", folder / "state")
    run_cycles(_cycle(rolled, 3), cycles=2, stage="forecast")
    run_cycle(_cycle(double, 6), stage="forecast")
    with xr.open_dataset(rolled / "state" / END) as r, xr.open_dataset(double / "state" / END) as d:
        for name in d.data_vars:
            np.testing.assert_array_equal(r[name].values, d[name].values, err_msg=name)
    out = double / "out" / "cycle_20260701T0900"
    with xr.open_dataset(rolled / "out" / out.name / "forecast.nc") as a, xr.open_dataset(out / "forecast.nc") as b:
        np.testing.assert_array_equal(a.streamflow.values, b.streamflow.values)
        town = b.streamflow.sel(feature_id=DEMO_STEM[-1]).values
        stem_out = b.main_stem_discharge.values[:, -1]
        np.testing.assert_array_equal(b.streamflow.sel(feature_id=DEMO_STEM[5]).values, stem_out.astype(np.float32))
    with xr.open_dataset(out / "analysis.nc") as an:  # the analysis window's main stem (run in place) likewise
        np.testing.assert_array_equal(an.streamflow.sel(feature_id=DEMO_STEM[:6]).values,
                                      an.main_stem_discharge.values.astype(np.float32))
    rehearsal = run_cycle(double / "cycle.toml", stage="rehearsal")["rehearsal"]
    f1_town = rehearsal["f1"]["control_sections"][0]
    assert f1_town["peak_discharge"] == pytest.approx(float(town.max()), rel=1e-6)
    # one-way (the main stem not fed back), the town would see Muskingum-Cunge's flow through the main stem
    from hydro.routing.operated import OperatedNetwork

    one_way = tmp_path / "one_way"
    shutil.copytree(warm / "basin", one_way / "basin")
    shutil.copytree(warm / "state", one_way / "state")
    attach = OperatedNetwork.attach_main_stems
    try:
        OperatedNetwork.attach_main_stems = lambda self, outlets: None
        run_cycle(_cycle(one_way, 6), stage="forecast")
    finally:
        OperatedNetwork.attach_main_stems = attach
    with xr.open_dataset(one_way / "out" / out.name / "forecast.nc") as c:
        assert np.abs(c.streamflow.sel(feature_id=DEMO_STEM[-1]).values - town).max() > 10.0


def test_a_main_stem_step_not_dividing_the_routing_step_is_refused(tmp_path):
    stem = CoupledMainStem(network(), definition(tmp_path, segments=SEGMENTS, dt_s=45.0))
    with pytest.raises(ConfigError) as err:
        stem_outlets([stem], 300.0)
    assert "basin.toml: main stem 'lower': dt_s 45 s does not divide the routing step 300 s" in str(err.value)


def test_a_tributary_joining_below_the_main_stem_continues_bit_for_bit(tmp_path):
    """Chain 1 -> ... -> 8 -> outlet with tributary 9 -> 7, the main stem on 2..5: segment 7 takes segment 6
    (routed after the main stem) and the tributary (routed before it, its outflow replayed); two 4-hour runs
    equal one 8-hour run (each stage starts from the run's initial state, not from what an earlier stage wrote)."""
    ids, to = [1, 2, 3, 4, 5, 6, 7, 8, 9], [2, 3, 4, 5, 6, 7, 8, 0, 7]
    net = make_network(ids, to, length=np.full(9, 2000.0), slope=np.full(9, 1e-3), mannings_n=np.full(9, 0.035),
                       bottom_width=np.full(9, 10.0), side_slope=np.full(9, 2.0), top_width=np.full(9, 40.0),
                       top_width_cc=np.full(9, 200.0))
    stem = CoupledMainStem(net, definition(tmp_path, segments=SEGMENTS))
    routing = OperatedNetwork(net, dt=300.0)
    routing.attach_main_stems(stem_outlets([stem], 300.0))

    def lateral(hours, pulse):
        t = (np.arange(hours * 6) + 0.5) / 6
        lat = np.full((hours * 6, 9), 5.0, np.float32)
        lat[:, 0] = 40.0 + pulse * 300.0 * np.exp(-(((t - 1.5) / 0.7) ** 2))
        lat[:, 8] = 30.0 + pulse * 200.0 * np.exp(-(((t - 2.0) / 0.7) ** 2))
        return lat

    warm = routing.run(lateral(6, 0.0), INTERVAL, 6)
    states = run_main_stems([stem], warm, _times(START, 6))
    start = ChannelState(warm.final.streamflow, warm.final.depth, warm.final.water_sfc_elev,
                         {stem.id: states[stem.id].final_state})
    lat = lateral(8, 1.0)
    whole = routing.run(lat, INTERVAL, 8, start)
    first = routing.run(lat[:24], INTERVAL, 4, start)
    second = routing.run(lat[24:], INTERVAL, 4, first.final)
    np.testing.assert_array_equal(np.vstack([first.flow, second.flow]), whole.flow)
    np.testing.assert_array_equal(second.final.streamflow, whole.final.streamflow)
    assert whole.flow[:, 6].max() > whole.flow[:, 5].max() + 100.0  # the tributary's pulse is in segment 7


def test_a_dam_between_two_main_stems(tmp_path):
    """The demo basin (a copy) with a main stem ending at its dam (its outflow is the reservoir's inflow) and
    another starting below it (the release, with its first segment's local inflow, enters at its top): a cold
    start builds both states, the next cycle runs both in place; the lower main stem's upstream inflow is the
    dam's release plus the local inflow, and the rehearsal runs on them."""
    import xarray as xr

    from hydro.io.netcdf import read_network
    from hydro.pipeline.cycle import run_cycle

    from .test_mainstem_coupling import _demo_sections, demo_with_main_stem
    from .test_mainstem_restart import _cycle

    above, below = [2000, 2047, 2083, 2115, 2148], [2220, 2255, 2288, 2314, 2342, 2372]  # the dam is 2185
    basin = demo_with_main_stem(tmp_path, segments=above)
    net, _ = read_network(basin / "network.nc")
    _demo_sections(basin / "sections_below.csv", net, below)
    (basin / "basin.toml").write_text((basin / "basin.toml").read_text() + f"""
[[main_stems]]
id = "below_dam"
segments = {below}
sections = "sections_below.csv"
""")
    run_cycle(_cycle(tmp_path, 3, "2026-07-01T00:00:00"), cold=True, stage="forecast")
    run_cycle(_cycle(tmp_path, 3, "2026-07-01T03:00:00"), stage="forecast")
    summary = run_cycle(tmp_path / "cycle.toml", stage="rehearsal")
    out = tmp_path / "out" / "cycle_20260701T0600"
    with xr.open_dataset(out / "forecast.nc") as ds:
        release = ds.streamflow.sel(feature_id=2185).values.astype(np.float64)
        q = ds.main_stem_discharge.values
        stems = list(ds.main_stem.values)
        top = q[:, stems.index("below_dam")]  # its first segment's downstream end
        local = ds.streamflow.sel(feature_id=below[0]).values
        assert np.isfinite(q).all() and np.array_equal(local, top.astype(np.float32))
    # the release passes the first 1.4 km within the hour: the first segment carries about the release
    assert np.abs(top - release).max() < 0.15 * release.max()
    assert summary["rehearsal"]["verdict"]["accepted"]


def _chain_with_tributary_below(tmp_path):
    """Chain 1 -> ... -> 8 -> outlet, tributary 9 -> 7, the main stem on 2..5 run in place from a warm state."""
    ids, to = [1, 2, 3, 4, 5, 6, 7, 8, 9], [2, 3, 4, 5, 6, 7, 8, 0, 7]
    net = make_network(ids, to, length=np.full(9, 2000.0), slope=np.full(9, 1e-3), mannings_n=np.full(9, 0.035),
                       bottom_width=np.full(9, 10.0), side_slope=np.full(9, 2.0), top_width=np.full(9, 40.0),
                       top_width_cc=np.full(9, 200.0))
    stem = CoupledMainStem(net, definition(tmp_path, segments=SEGMENTS))
    two_way, one_way = OperatedNetwork(net, dt=300.0), OperatedNetwork(net, dt=300.0)
    two_way.attach_main_stems(stem_outlets([stem], 300.0))
    lat = np.full((36, 9), 5.0, np.float32)
    lat[:, 0], lat[:, 8] = 40.0, 30.0
    warm = one_way.run(lat, INTERVAL, 6)
    states = run_main_stems([stem], warm, _times(START, 6))
    start = ChannelState(warm.final.streamflow, warm.final.depth, warm.final.water_sfc_elev,
                         {stem.id: states[stem.id].final_state})
    return stem, two_way, one_way, start, lat[:24]


def test_a_nudged_tributary_below_the_main_stem_passes_its_correction_on(tmp_path):
    """A gauge on the tributary joining below the main stem: the later stage is forced with the nudged outflow
    (recorded after the nudge), so the segment below gets the whole correction, as routing the piece whole does
    (it got about half before)."""
    from hydro.routing.nudging import GaugeObservations, Nudging

    stem, two_way, one_way, start, lat = _chain_with_tributary_below(tmp_path)
    issue = START + np.timedelta64(6, "h")
    times = (issue + np.arange(0, 49) * np.timedelta64(300, "s")).astype("datetime64[s]")
    obs = GaugeObservations(np.array([9]), times, np.full((times.size, 1), 500.0), np.ones((times.size, 1)))

    def nudging_for(fids, hour):
        return Nudging(obs, fids, issue, 300.0) if np.isin(9, fids) else None

    for routing in (one_way, two_way):
        plain = routing.run(lat, INTERVAL, 4, start)
        nudged = routing.run(lat, INTERVAL, 4, start, nudging_for=nudging_for)
        pushed = nudged.flow[:, 8] - plain.flow[:, 8]
        assert pushed.min() > 400.0
        np.testing.assert_allclose(nudged.flow[1:, 6] - plain.flow[1:, 6], pushed[1:], rtol=1e-3)


def test_a_what_if_copy_needs_equal_states_not_the_same_objects(tmp_path):
    """A dask worker holds an equal copy of the start state: the earlier run is still reused."""
    import copy

    stem, two_way, _, start, lat = _chain_with_tributary_below(tmp_path)
    run = two_way.run(lat, INTERVAL, 4, start)
    copied = copy.deepcopy(start)
    assert Reusable(run, start).fits(lat.shape, 4, copied, 300.0, two_way.cold_state())
    again = two_way.run(lat, INTERVAL, 4, copied, reuse=Reusable(run, start))
    assert again.main_stems[stem.id] is run.main_stems[stem.id]


def test_a_detention_basin_on_a_main_stem_is_refused(tmp_path):
    """Its trigger and intake would read the network flow the hydraulics replace there."""
    from hydro.io.basin import BasinSpec
    from hydro.stages.rehearsal import coupled_main_stems

    net = network()
    basin = BasinSpec(name="b", control_sections=[dict(id="town", feature_id=6, safe_discharge=500.0, warning_stage=3.0,
                                                       guaranteed_stage=4.0, rating_stage_m=[0, 5],
                                                       rating_discharge_m3s=[0, 1000])],
                      detention_basins=[dict(id="polder", feature_id=4, capacity_hm3=10.0, max_intake_m3s=100.0,
                                             trigger_section="town", trigger_discharge_m3s=300.0, order=1)])
    spec = basin.model_copy(update={"main_stems": []})
    routing = OperatedNetwork.for_basin(net, spec)
    stems = [CoupledMainStem(net, definition(tmp_path, segments=SEGMENTS))]
    from hydro.stages.rehearsal import _check_detention_off_main_stems

    with pytest.raises(ConfigError, match="detention basin 'polder': its inlet segment \\(4\\) is on main stem 'lower'"):
        _check_detention_off_main_stems(basin, stems)
    assert coupled_main_stems(spec, routing) == []


def test_the_balance_counts_the_water_between_the_main_stem_and_the_segment_below(twin, monkeypatch):
    """The segment below takes, each routing step, the main stem's outflow of the step before, while the
    hydraulics count their outflow as it leaves: on a rising pulse dt/2 x (Q_end - Q_start) is on its way at the
    end. The water balance holds it as channel storage (it was counted nowhere: review of the coupling)."""
    import types

    from hydro.stages.water_balance import water_balance

    net, stem, two_way, one_way, start = twin
    lateral = lateral_series(8, 5.0, 40.0, _pulse)[:2 * 6]
    run = two_way.run(lateral, INTERVAL, 2, start)
    r = run.main_stems[stem.id]
    q0 = two_way.stem_outlets[0].start_outflow(start.main_stems)
    received = 300.0 * (q0 + float(r.outflow[:-1].sum()))  # what segment 6 took in over the 24 steps
    in_transit = r.hydraulics.mass_balance["outflow_volume_m3"] - received
    assert in_transit > 1e4 and in_transit == pytest.approx(150.0 * (r.outflow[-1] - q0), rel=0.02)

    def balance():
        basin = types.SimpleNamespace(network=net, routing=two_way, model=None, mapping=None)
        ends = [types.SimpleNamespace(routing=s, dams={}) for s in (start, run.final)]
        return water_balance(basin, *ends, None, types.SimpleNamespace(run=run, lateral=lateral))["channels"]

    counted = balance()["channel_storage_change_m3"]
    monkeypatch.setattr(two_way, "stem_outlets", [])  # the balance as it was, without the water in transit
    assert counted - balance()["channel_storage_change_m3"] == pytest.approx(150.0 * (r.outflow[-1] - q0), rel=1e-9)


def test_a_stage_rerun_of_a_nudged_cycle_runs_the_main_stem_in_place(tmp_path):
    """A --stage rerun routes F1 again from the issue-time restart with the forecast's carried gauge corrections;
    it started the channels without their main stems' states, so the main stem ran one-way and the town saw
    Muskingum-Cunge's flow through it instead of the hydraulics' (review). F1 must be the forecast again."""
    import pandas as pd
    import xarray as xr

    from hydro.pipeline.cycle import run_cycle

    from .test_mainstem_coupling import DEMO_STEM, demo_with_main_stem
    from .test_mainstem_restart import _cycle

    demo_with_main_stem(tmp_path, segments=DEMO_STEM[:6])
    run_cycle(_cycle(tmp_path, 3, "2026-07-01T00:00:00"), cold=True, stage="forecast")
    times = pd.date_range("2026-07-01T03:15", "2026-07-01T06:00", freq="15min")
    pd.DataFrame({"time": times, "link": DEMO_STEM[-1], "discharge_m3s": 600.0, "quality": 100}).to_csv(
        tmp_path / "gauges.csv", index=False)
    config = _cycle(tmp_path, 3)
    config.write_text(config.read_text() + "[assimilation]\nobservations = 'gauges.csv'\n")
    run_cycle(config, stage="forecast")
    with xr.open_dataset(tmp_path / "out" / "cycle_20260701T0600" / "forecast.nc") as fc:
        town = fc.streamflow.sel(feature_id=DEMO_STEM[-1]).values
    f1 = run_cycle(config, stage="rehearsal")["rehearsal"]["f1"]["control_sections"][0]
    assert f1["peak_discharge"] == pytest.approx(float(town.max()), rel=1e-6)
