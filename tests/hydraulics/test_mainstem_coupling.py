"""Main stems in the twin (hydro/hydraulics/network_coupling.py): a Saint-Venant reach driven by the operated
network. A chain of 6 segments (1 -> 2 -> ... -> 6 -> outlet) with a tributary 7 -> 4; the main stem
replaces segments 3..6 on a prismatic trapezoid with the network's own width, side slope and bed slope."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.core.errors import ConfigError, InputDataError
from hydro.hydraulics.boundaries import Downstream
from hydro.hydraulics.network_coupling import CoupledMainStem, MainStemDefinition
from hydro.hydraulics.steady import node_discharge, steady_profile
from hydro.io.basin import read_basin
from hydro.io.hydraulics import read_sections
from hydro.routing.operated import OperatedNetwork
from hydro.stages.rehearsal import coupled_main_stems, score
from hydro.stages.warning import grade_forecast
from tests.helpers import make_network

IDS = [1, 2, 3, 4, 5, 6, 7]
TO = [2, 3, 4, 5, 6, 0, 4]
STEM = [3, 4, 5, 6]
SEGMENT_M, SLOPE = 2000.0, 1e-3
INTERVAL = 600.0
START = np.datetime64("2026-07-01T00:00", "ns")


def network():
    return make_network(IDS, TO, length=np.full(7, SEGMENT_M), slope=np.full(7, SLOPE), mannings_n=np.full(7, 0.035),
                        bottom_width=np.full(7, 10.0), side_slope=np.full(7, 2.0), top_width=np.full(7, 40.0),
                        top_width_cc=np.full(7, 200.0))


def write_sections(path, n=0.035):
    """Trapezoid: 10 m bottom, 2H:1V sides, 8 m deep, at each segment's downstream end (and the top)."""
    rows = ["section,chainage_m,station_m,elevation_m,manning_n"]
    for k in range(len(STEM) + 1):
        x = k * SEGMENT_M
        z = 100.0 - SLOPE * x
        for st, el in ((0.0, z + 8), (16.0, z), (26.0, z), (42.0, z + 8)):
            rows.append(f"XS{k},{x:g},{st:g},{el:g},{n}")
    path.write_text("\n".join(rows) + "\n")
    return path


def definition(tmp_path, **kw):
    args = dict(id="lower", segments=tuple(STEM), sections=read_sections(write_sections(tmp_path / "sections.csv")),
                downstream=Downstream("normal"), dt_s=30.0, max_dx_m=250.0, source="basin.toml")
    args.update(kw)
    return MainStemDefinition(**args)


def lateral_series(hours, local, tributary, pulse=None):
    """[intervals, 7]: ``local`` m3/s on each chain segment, ``tributary`` on segment 7; ``pulse(t_h)`` adds."""
    steps = hours * int(3600 / INTERVAL)
    lat = np.zeros((steps, 7), np.float32)
    t = (np.arange(steps) + 0.5) * INTERVAL / 3600.0
    extra = np.zeros(steps) if pulse is None else pulse(t)
    lat[:, :6] = local + extra[:, None] * 0.1
    lat[:, 6] = tributary + extra
    return lat


def routed(net, lateral, warm_lateral):
    """Warm the network to steady state on ``warm_lateral``, then route ``lateral`` from there."""
    routing = OperatedNetwork(net, dt=300.0)
    warm_hours = warm_lateral.shape[0] * int(INTERVAL) // 3600
    warm = routing.run(warm_lateral, INTERVAL, warm_hours)
    hours = lateral.shape[0] * int(INTERVAL) // 3600
    run = routing.run(lateral, INTERVAL, hours, warm.final)
    times = START + np.arange(1, hours + 1) * np.timedelta64(1, "h")
    return routing, warm.final, run, times


def test_mass_conserved_over_a_flood(tmp_path):
    net = network()
    pulse = lambda t: 40.0 * np.exp(-(((t - 8.0) / 3.0) ** 2))  # noqa: E731 - a flood on the tributary
    _, initial, run, times = routed(net, lateral_series(60, 2.0, 10.0, pulse), lateral_series(48, 2.0, 10.0))
    stem = CoupledMainStem(net, definition(tmp_path))
    r = stem.run(run, times, initial.streamflow)
    mb = r.hydraulics.mass_balance
    # what the network delivered, counted from the operated run independently of the coupling's series
    flow = np.vstack([initial.streamflow[None, :], run.flow]).astype(np.float64)
    hourly = lambda q: float(np.sum(0.5 * (q[1:] + q[:-1])) * 3600.0)  # noqa: E731
    delivered = hourly(flow[:, 1]) + hourly(flow[:, 6]) + float(run.lateral[:, 2:6].astype(np.float64).sum() * INTERVAL)
    assert r.inflow_volume_m3 == pytest.approx(delivered, rel=1e-9)
    given = mb["inflow_volume_m3"] + mb["lateral_volume_m3"]
    assert given == pytest.approx(delivered, rel=1e-4)  # the series the solver integrated carry that volume
    assert abs(mb["outflow_volume_m3"] + mb["storage_change_m3"] - delivered) / delivered < 1e-4
    # back near the base flow after 60 h: the outflow itself carries the water in
    assert abs(mb["storage_change_m3"]) / delivered < 2e-3
    assert r.discharge.max() > 1.5 * r.discharge[0, -1]  # the flood did pass


def test_steady_state_matches_network_and_standard_step(tmp_path):
    net = network()
    _, initial, run, times = routed(net, lateral_series(36, 2.0, 10.0), lateral_series(48, 1.0, 5.0))
    stem = CoupledMainStem(net, definition(tmp_path))
    r = stem.run(run, times, initial.streamflow)
    mc = run.flow[-1, net.index_of(STEM)].astype(np.float64)
    # the same water: at steady state each segment's downstream end carries the network's flow there
    np.testing.assert_allclose(r.discharge[-1], mc, rtol=1e-4)
    np.testing.assert_allclose(mc, [3 * 2.0, 4 * 2.0 + 10.0, 5 * 2.0 + 10.0, 6 * 2.0 + 10.0], rtol=1e-4)
    # and the water level is the standard-step profile of that flow (lateral placed as the coupling places it)
    q_nodes = node_discharge(stem.reach, float(r.upstream.values[-1]), _reach_lateral(stem, r.lateral.discharge[-1]))
    profile = steady_profile(stem.reach, q_nodes, Downstream("normal"), times[-1], "mixed")
    diff = r.hydraulics.water_level[-1] - profile.water_level
    x = stem.reach.chainage
    # below the last inflow and at the upstream end (through four inflows' backwater): the same profile
    assert np.abs(diff[x > stem.mid_chainage[-1]]).max() < 1e-3 and abs(diff[0]) < 1e-3
    # within 1 km above a point inflow the unsteady level stands up to 3.5 cm higher (measured): Saint-Venant's
    # momentum balance accelerates the entering water (it brings no momentum), the energy equation has no term
    # for it; the difference stays local (none below the inflow, gone 1 km above it)
    assert np.abs(diff).max() < 0.04
    above = [(x > m - 1000.0) & (x <= m) for m in stem.mid_chainage]
    assert np.abs(diff[~np.any(above, axis=0)]).max() < 0.011
    assert r.depth()[-1].min() > 0.3


def _reach_lateral(stem, values):
    from hydro.hydraulics.boundaries import Lateral

    one = Lateral(np.array([START, START + np.timedelta64(1, "h")]), stem.mid_chainage, np.vstack([values, values]))
    return one.reach_matrix(stem.reach)[0]


BASIN = """
name = "chain"
[[main_stems]]
id = "lower"
segments = [3, 4, 5, 6]
sections = "sections.csv"
downstream = "normal"

[[control_sections]]
id = "town"
feature_id = 5
safe_discharge = 500.0
warning_stage = {warning}
guaranteed_stage = {guaranteed}
bed_datum_m = 10.0
rating_stage_m = [10.0, 20.0]
rating_discharge_m3s = [0.0, 10000.0]
"""


def test_control_section_stage_from_hydraulics(tmp_path):
    write_sections(tmp_path / "sections.csv")
    (tmp_path / "basin.toml").write_text(BASIN.format(warning=10.8, guaranteed=12.0))
    spec = read_basin(tmp_path / "basin.toml")
    net = network()
    _, initial, run, times = routed(net, lateral_series(24, 2.0, 10.0), lateral_series(48, 2.0, 10.0))
    routing = OperatedNetwork.for_basin(net, spec, None, 300.0)
    f1 = score(spec, routing, run, times, initial)
    r = f1.main_stems["lower"]
    k = STEM.index(5)
    np.testing.assert_allclose(f1.section_stage["town"], 10.0 + r.depth()[:, k])
    np.testing.assert_allclose(f1.section_discharge["town"], r.discharge[:, k])
    assert f1.stage_source["town"].startswith("hydraulics (main stem lower)")
    depth = float(r.depth()[-1, k])
    assert 0.9 < depth < 2.0  # ~22 m3/s on a 10 m trapezoid at 1e-3
    spec_section = spec.control_sections[0]
    rating_stage = spec_section.stage(f1.section_discharge["town"])
    assert rating_stage.max() < 10.1  # the (deliberately flat) rating would say nothing happens
    wrn = grade_forecast("mwr", "pearson3", 0.9, spec, net.feature_id, times, run.flow, None,
                         f1.section_discharge, f1.section_stage, None, f1.stage_source)
    station = wrn.stations[0]
    assert station["grade"] == "yellow" and station["stage_source"].startswith("hydraulics")
    by_rating = grade_forecast("mwr", "pearson3", 0.9, spec, net.feature_id, times, run.flow, None,
                               f1.section_discharge, {"town": rating_stage}, None)
    assert by_rating.stations[0]["grade"] == "none" and "stage_source" not in by_rating.stations[0]
    assert coupled_main_stems(spec, routing) is coupled_main_stems(spec, routing)  # built once


@pytest.mark.parametrize("kw, message", [
    (dict(segments=(3, 5, 6)), "segments not contiguous: 3 drains into 4, not into 5"),
    (dict(segments=(3, 4, 99)), "segment feature_id 99 is not in the network"),
    (dict(segments=(3, 4, 5, 6), segment_chainage=(2000.0, 4000.0, 3000.0, 8000.0)), "chainage_of_segments"),
    (dict(max_dx_m=5000.0), "less than two computational reaches"),
])
def test_bad_main_stem_one_line(tmp_path, kw, message):
    with pytest.raises(ConfigError) as err:
        CoupledMainStem(network(), definition(tmp_path, **kw))
    text = str(err.value)
    assert message in text and "basin.toml: main stem 'lower'" in text and "\n" not in text


def test_dam_and_lake_inside_refused(tmp_path):
    with pytest.raises(ConfigError, match="segment 5 is a reservoir's segment"):
        CoupledMainStem(network(), definition(tmp_path), dam_feature_ids=[5])
    lake = make_network(IDS, TO, length=np.full(7, SEGMENT_M), is_lake=np.array([0, 0, 0, 1, 0, 0, 0], bool))
    with pytest.raises(ConfigError, match="segment 4 is a lake"):
        CoupledMainStem(lake, definition(tmp_path))


@pytest.mark.parametrize("edit, error, message", [
    (("sections.csv", "nowhere.csv"), ConfigError, "sections file"),
    (('downstream = "normal"', 'downstream = "stage:s.csv"'), ConfigError, "a stage series cannot follow a forecast"),
    (('id = "lower"', 'id = "lower"\nwidth = 3'), ConfigError, "main_stems.0.width: unknown key"),
    (("BAD_SECTIONS", ""), InputDataError, "chainage_m decreases through the file"),
])
def test_bad_basin_file_one_line(tmp_path, edit, error, message):
    write_sections(tmp_path / "sections.csv")
    text = BASIN.format(warning=10.8, guaranteed=12.0)
    if edit[0] == "BAD_SECTIONS":
        lines = (tmp_path / "sections.csv").read_text().splitlines()
        sections = [lines[1 + 4 * k: 5 + 4 * k] for k in range(len(STEM) + 1)]  # four points each, order reversed
        (tmp_path / "sections.csv").write_text("\n".join([lines[0], *sum(reversed(sections), [])]) + "\n")
    else:
        text = text.replace(*edit)
    (tmp_path / "basin.toml").write_text(text)
    with pytest.raises(error) as err:
        read_basin(tmp_path / "basin.toml")
    assert message in str(err.value) and str(tmp_path / "basin.toml") in str(err.value)
    assert "\n" not in str(err.value)


DEMO_CYCLE = """
[cycle]
basin = "basin"
start = "2026-07-01T00:00:00"
hours = 6
forecast_hours = 6
nowcast_hours = 1
output_dir = "out"
state_dir = "state"
[forcing]
setup = "demo_storm.toml"
"""
DEMO_STEM = [2794, 2823, 2849, 2875, 2899, 2922, 2944, 2945, 2961]  # the last 9 segments, down to the outlet town


def _demo_sections(path, net, segments=DEMO_STEM):
    """A compound section on the demo network's own bed slopes: a 60 m channel 10 m deep (n 0.055, as the
    network's), 400 m floodplains rising 1 m outwards (n 0.08), walls to 25 m; the banks given, so the
    conveyance is subdivided (without them the wetted floodplain lowers K(Z) and normal depth is ambiguous)."""
    idx = net.index_of(list(segments))
    x = np.concatenate([[0.0], np.cumsum(net.length[idx])])
    z = 100.0 - np.concatenate([[0.0], np.cumsum(net.length[idx] * net.slope[idx])])
    rows = ["section,chainage_m,station_m,elevation_m,manning_n,left_bank_m,right_bank_m"]
    for k, (xk, zk) in enumerate(zip(x, z, strict=True)):
        for st, el, n in ((0, 25, 0.08), (20, 11, 0.08), (420, 10, 0.055), (430, 0, 0.055), (490, 0, 0.055),
                          (500, 10, 0.08), (900, 11, 0.08), (920, 25, "")):
            rows.append(f"XS{k},{xk:.3f},{st},{zk + el:.4f},{n},420,500")  # banks: overbanks subdivided
    path.write_text("\n".join(rows) + "\n")


def demo_with_main_stem(folder, stem_extra: str = "", segments=DEMO_STEM):
    """``folder``/basin: the demo basin with a main stem on ``segments`` (default: down to its outlet town)."""
    import shutil

    from hydro.core.workspace import demo_basin_folder
    from hydro.io.netcdf import read_network
    from hydro.synthetic import ensure_demo_basin

    demo = demo_basin_folder()
    if not (demo / "basin.toml").is_file():
        ensure_demo_basin(demo)
    basin = folder / "basin"
    shutil.copytree(demo, basin)
    net, _ = read_network(basin / "network.nc")
    _demo_sections(basin / "sections.csv", net, segments)
    text = (basin / "basin.toml").read_text().replace("guaranteed_stage = 7.5\n", "guaranteed_stage = 7.5\nbed_datum_m = 0.5\n")
    (basin / "basin.toml").write_text(text + f"""
[[main_stems]]
id = "town_reach"
segments = {list(segments)}
sections = "sections.csv"
{stem_extra}""")
    return basin


def test_demo_cycle_with_a_main_stem(tmp_path):
    """The demo basin (a copy) with a main stem down to its outlet town: forecast.nc carries the hydraulics,
    the town's stage and its warning come from them (the warning stage run on its own, from forecast.nc), and
    the rehearsal's F2 judges the guaranteed stage by them."""
    import xarray as xr

    from hydro.pipeline.cycle import run_cycle

    demo_with_main_stem(tmp_path)
    (tmp_path / "cycle.toml").write_text(DEMO_CYCLE)
    run_cycle(tmp_path / "cycle.toml", cold=True, stage="forecast")
    summary = run_cycle(tmp_path / "cycle.toml", stage="warning")  # reads forecast.nc back: F1 scored again
    out = next((tmp_path / "out").glob("cycle_*"))
    with xr.open_dataset(out / "forecast.nc") as ds:
        q, z = ds.main_stem_discharge.values, ds.main_stem_water_level.values
        assert list(ds.main_stem_feature_id.values) == DEMO_STEM and np.isfinite(q).all() and np.isfinite(z).all()
        np.testing.assert_allclose(ds.streamflow.sel(feature_id=DEMO_STEM).values, q, rtol=1e-6)
        town_depth = ds.main_stem_depth.values[:, -1]
    station = summary["warning"]["stations"][0]
    assert station["stage_source"].startswith("hydraulics (main stem town_reach)")
    assert station["peak_stage_m"] == pytest.approx(0.5 + town_depth.max(), abs=2e-3)
    # the rehearsal (F1, I, F2) scores through the hydraulics too: on this narrow made-up channel the town
    # stays above its guaranteed stage even at the discharge the inverse holds, so F2 is not accepted
    rehearsal = run_cycle(tmp_path / "cycle.toml", stage="rehearsal")["rehearsal"]
    f2_town = rehearsal["f2"]["control_sections"][0]
    assert f2_town["peak_discharge"] <= 3000.0 and f2_town["peak_stage"] > 7.5
    assert rehearsal["verdict"]["accepted"] is False
