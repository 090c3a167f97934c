"""Main stems joined at a junction in the twin (hydro/hydraulics/network_coupling.py JoinedMainStems): a main
stem whose last segment drains into a segment of another runs with it as one network.

Network: a chain 1 -> 2 -> 3 -> 4 -> 5 -> 6 -> outlet and a tributary 8 -> 7 -> 4; main stem "lower" on
3..6, main stem "side" on 7 (fed by 8) joining "lower" at the top of segment 4 (chainage 2000 m); and
the same with "lower" starting at segment 4, joined at its head."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.hydraulics.boundaries import Downstream
from hydro.hydraulics.network_coupling import CoupledMainStem, MainStemDefinition, run_main_stems
from hydro.io.basin import read_basin
from hydro.io.hydraulics import read_sections
from hydro.routing.operated import OperatedNetwork
from hydro.stages.rehearsal import coupled_main_stems, score
from tests.helpers import make_network

IDS = [1, 2, 3, 4, 5, 6, 7, 8]
TO = [2, 3, 4, 5, 6, 0, 4, 7]
SEGMENT_M, SLOPE, INTERVAL = 2000.0, 1e-3, 600.0
START = np.datetime64("2026-07-01T00:00", "ns")


def network():
    n = len(IDS)
    return make_network(IDS, TO, length=np.full(n, SEGMENT_M), slope=np.full(n, SLOPE), mannings_n=np.full(n, 0.035),
                        bottom_width=np.full(n, 10.0), side_slope=np.full(n, 2.0), top_width=np.full(n, 40.0),
                        top_width_cc=np.full(n, 200.0))


def write_sections(path, segments, mouth_bed):
    """Trapezoid (10 m bottom, 2H:1V, 8 m deep) at the top and each segment's end; bed ``mouth_bed`` at the end."""
    rows = ["section,chainage_m,station_m,elevation_m,manning_n"]
    for k in range(segments + 1):
        x = k * SEGMENT_M
        z = mouth_bed + SLOPE * (segments * SEGMENT_M - x)
        for st, el in ((0.0, z + 8), (16.0, z), (26.0, z), (42.0, z + 8)):
            rows.append(f"XS{k},{x:g},{st:g},{el:g},0.035")
    path.write_text("\n".join(rows) + "\n")
    return path


def stems(tmp_path, lower_segments):
    """(lower, side) as CoupledMainStem; "side" (segment 7) ends where segment 4 starts."""
    mouth = 100.0 - SLOPE * SEGMENT_M * len(lower_segments)
    lower_sections = read_sections(write_sections(tmp_path / "lower.csv", len(lower_segments), mouth))
    junction_bed = lower_sections[lower_segments.index(4)].thalweg
    side_sections = read_sections(write_sections(tmp_path / "side.csv", 1, junction_bed))
    common = dict(downstream=Downstream("normal"), dt_s=30.0, max_dx_m=250.0, source="basin.toml")
    lower = MainStemDefinition("lower", tuple(lower_segments), lower_sections, other_stem_segments=((7, "side"),), **common)
    side = MainStemDefinition("side", (7,), side_sections, other_stem_segments=tuple((f, "lower") for f in lower_segments),
                              **common)
    net = network()
    return net, [CoupledMainStem(net, lower), CoupledMainStem(net, side)]


def lateral_series(hours, local, pulse=None):
    steps = hours * int(3600 / INTERVAL)
    t = (np.arange(steps) + 0.5) * INTERVAL / 3600.0
    lat = np.full((steps, len(IDS)), local, np.float32)
    if pulse is not None:
        lat[:, 7] += pulse(t)  # a flood down the tributary (8 -> 7 -> 4)
        lat[:, 0] += 0.5 * pulse(t - 3.0)
    return lat


def routed(net, lateral, warm_lateral):
    routing = OperatedNetwork(net, dt=300.0)
    warm = routing.run(warm_lateral, INTERVAL, warm_lateral.shape[0] * int(INTERVAL) // 3600)
    hours = lateral.shape[0] * int(INTERVAL) // 3600
    run = routing.run(lateral, INTERVAL, hours, warm.final)
    return warm.final, run, START + np.arange(1, hours + 1) * np.timedelta64(1, "h")


@pytest.mark.parametrize("lower_segments", [[3, 4, 5, 6], [4, 5, 6]], ids=["inner junction", "head junction"])
def test_joined_main_stems_conserve_the_network_water_and_meet_at_one_level(tmp_path, lower_segments):
    """Over a flood down the tributary the two main stems, solved as one network, are given exactly the water
    the operated network delivers (upstream, tributary, local lateral) and return it as outflow plus storage
    change (1e-4; the solver's own balance 1e-6); the side stem's mouth and the lower stem at the junction
    stand at one level; at the end (back to steady flow) each segment carries MC's discharge (1e-3)."""
    net, coupled = stems(tmp_path, lower_segments)
    lower, side = coupled
    assert side.joins == ("lower", 4) and lower.joins is None
    pulse = lambda t: 30.0 * np.exp(-(((t - 8.0) / 3.0) ** 2))  # noqa: E731
    initial, run, times = routed(net, lateral_series(48, 2.0, pulse), lateral_series(48, 2.0))
    results = run_main_stems(coupled, run, times, initial.streamflow)
    r_low, r_side = results["lower"], results["side"]
    mb = r_low.hydraulics.mass_balance
    assert r_side.hydraulics.mass_balance is mb  # one network, one balance
    flow = np.vstack([initial.streamflow[None, :], run.flow]).astype(np.float64)
    hourly = lambda q: float(np.sum(0.5 * (q[1:] + q[:-1])) * 3600.0)  # noqa: E731
    first = net.index_of([lower_segments[0]])[0]
    above = [j for j in range(len(IDS)) if net.downstream_index[j] == first and IDS[j] != 7]
    segments = net.index_of(lower_segments + [7])
    delivered = (sum(hourly(flow[:, j]) for j in above) + hourly(flow[:, net.index_of([8])[0]])
                 + float(run.lateral[:, segments].astype(np.float64).sum() * INTERVAL))
    assert r_low.inflow_volume_m3 + r_side.inflow_volume_m3 == pytest.approx(delivered, rel=1e-9)
    assert mb["inflow_volume_m3"] + mb["lateral_volume_m3"] == pytest.approx(delivered, rel=1e-4)
    assert abs(mb["outflow_volume_m3"] + mb["storage_change_m3"] - delivered) / delivered < 1e-4
    assert abs(mb["mass_balance_relative_error"]) < 1e-6
    # one level at the junction: the side stem's mouth and the lower stem's node there
    k = lower_segments.index(4)
    junction_x = lower.start_chainage[k]
    at = np.flatnonzero(np.isclose(r_low.hydraulics.chainage, junction_x))
    assert at.size == (1 if k == 0 else 2)
    np.testing.assert_allclose(r_side.water_level[:, -1], r_low.hydraulics.water_level[1:, at[0]], atol=1e-9)
    mc = run.flow[-1].astype(np.float64)
    np.testing.assert_allclose(r_low.discharge[-1], mc[net.index_of(lower_segments)], rtol=1e-3)
    np.testing.assert_allclose(r_side.discharge[-1], mc[net.index_of([7])], rtol=1e-3)
    assert r_side.discharge[:, -1].max() > 1.5 * r_side.discharge[-1, -1]  # the flood did pass


BASIN = """
name = "joined"
[[main_stems]]
id = "lower"
segments = [3, 4, 5, 6]
sections = "lower.csv"
[[main_stems]]
id = "side"
segments = [7]
sections = "side.csv"
"""


def test_basin_file_with_joined_main_stems_runs_in_the_rehearsal_scoring(tmp_path):
    """Two [[main_stems]], one ending in the other: accepted (one-way coupling used to refuse the side one)
    and scored by the rehearsal's forward run as one network."""
    write_sections(tmp_path / "lower.csv", 4, 100.0 - SLOPE * SEGMENT_M * 4)
    write_sections(tmp_path / "side.csv", 1, 100.0 - SLOPE * SEGMENT_M * 4 + SLOPE * SEGMENT_M * 3)
    (tmp_path / "basin.toml").write_text(BASIN)
    spec = read_basin(tmp_path / "basin.toml")
    net = network()
    initial, run, times = routed(net, lateral_series(12, 2.0), lateral_series(24, 2.0))
    routing = OperatedNetwork.for_basin(net, spec, None, 300.0)
    assert [s.joins for s in coupled_main_stems(spec, routing)] == [None, ("lower", 4)]
    f1 = score(spec, routing, run, times, initial)
    assert set(f1.main_stems) == {"lower", "side"}
    np.testing.assert_allclose(f1.main_stems["lower"].discharge[-1, -1], float(run.flow[-1, 5]), rtol=1e-3)
