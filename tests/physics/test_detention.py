"""Detention basins (hydro.routing.detention) against answers known by hand: the trigger rule opens a basin at
the hour its section passes the trigger and takes exactly the excess; the inverse diverts exactly the volume
the reservoir cannot hold; with too little detention it reports the missing volume; F2 and the plan carry the
schedule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydro.io.basin import BasinSpec
from hydro.routing.operated import OperatedNetwork
from hydro.stages.rehearsal import extend_f1, forward, inverse, rehearse
from tests.helpers import make_network
from tests.physics.test_rehearsal_inverse import NETWORK, RESERVOIR, TOWN, _flood

# headwater 1 -> dam 2 -> town 3 (50 m long: what leaves the dam reaches the town within the hour); the
# dam's rule (safe release 5,000 m3/s) stores nothing, so under the rules the town sees the whole flood
POLDER = dict(id="polder", feature_id=3, capacity_hm3=50.0, max_intake_m3s=1500.0, trigger_section="town",
              trigger_discharge_m3s=2200.0, order=1, area_km2=12.5, population=3400)
# a dam with little room: flood-limit 110 m (the bottom of its curves: nothing to draw down ahead of the
# flood) to flood-control high level 110.4 m holds 4 hm3; its gates pass 5,000 m3/s at any level
SMALL_DAM = {**RESERVOIR, "level_m": [110, 111, 120, 130, 140], "storage_m3": [0.0, 1e7, 1.5e8, 3e8, 5e8],
             "capacity_m3s": [5000, 5000, 10000, 15000, 20000], "flood_control_high_level": 110.4, "hold_hours": 1}
ROOM = 4e6


def _basin(dam: dict = RESERVOIR, **polder) -> BasinSpec:
    return BasinSpec(name="b", reservoirs=[dam], control_sections=[TOWN], detention_basins=[{**POLDER, **polder}])


def test_the_trigger_opens_the_basin_at_the_right_hour_and_takes_the_excess():
    """F1: the basin opens in the first hour the town (without the basin) passes 2,200 m3/s, holds the town
    at 2,200 while it has room, stores exactly the excess volume above 2,200, and changes nothing before."""
    lateral, times = _flood()
    without = forward(NETWORK, BasinSpec(name="b", reservoirs=[RESERVOIR], control_sections=[TOWN]), lateral, times)
    q0 = without.section_discharge["town"]
    f1 = forward(NETWORK, _basin(), lateral, times)
    q1, record = f1.section_discharge["town"], f1.run.detention
    d = record.diversion["polder"]
    opens = int(np.flatnonzero(q0 > 2200.0)[0])
    assert int(np.flatnonzero(d > 0.0)[0]) == opens and 10 < opens < 30
    np.testing.assert_array_equal(q1[:opens], q0[:opens])
    np.testing.assert_allclose(q1, np.minimum(q0, 2200.0), rtol=1e-6)
    excess = np.clip(q0 - 2200.0, 0.0, None).sum() * 3600.0
    assert record.storage["polder"][-1] == pytest.approx(excess, rel=1e-9) and excess > 1e6
    np.testing.assert_allclose(np.diff(record.storage["polder"]), d * 3600.0)
    # the streamflow a user reads on the basin's segment is what passes the inlet
    np.testing.assert_allclose(f1.run.streamflow()[:, 2], q1, rtol=1e-6)

    # a full basin stops: 2 hm3 of room, then the town sees the flood again
    small = forward(NETWORK, _basin(capacity_hm3=2.0), lateral, times)
    assert small.run.detention.storage["polder"][-1] == pytest.approx(2e6)
    assert small.section_discharge["town"].max() == pytest.approx(q0.max())


def test_a_trigger_downstream_opens_an_upstream_basin_when_the_section_passes_it():
    """A basin on the headwater (above the dam) opens on the town's discharge: in the first hour the town
    passes its trigger; the dam's inflow loses what the basin took."""
    lateral, times = _flood()
    q0 = forward(NETWORK, BasinSpec(name="b", reservoirs=[RESERVOIR], control_sections=[TOWN]), lateral,
                 times).section_discharge["town"]
    f1 = forward(NETWORK, _basin(feature_id=1), lateral, times)
    d = f1.run.detention.diversion["polder"]
    assert int(np.flatnonzero(d > 0.0)[0]) == int(np.flatnonzero(q0 > 2200.0)[0])
    assert f1.section_discharge["town"].max() < q0.max() - 200.0


def test_basins_open_in_their_order():
    """Two basins on the town's trigger, no dam: the first in order (on the town's segment, inlet 100 m3/s)
    takes the excess first; the second (one segment up) takes only what the first's inlet cannot, so it
    never opens before the first and only while the first runs at its inlet capacity."""
    lateral, times = _flood()
    network = make_network([1, 2, 3], [2, 3, 0], length=np.array([2000.0, 2000.0, 50.0]),
                           bottom_width=np.full(3, 60.0), top_width=np.full(3, 90.0), top_width_cc=np.full(3, 300.0))
    basin = BasinSpec(name="b", control_sections=[TOWN], detention_basins=[
        {**POLDER, "id": "second", "feature_id": 2, "order": 2},
        {**POLDER, "id": "first", "feature_id": 3, "order": 1, "max_intake_m3s": 100.0}])
    q0 = forward(network, BasinSpec(name="b", control_sections=[TOWN]), lateral, times).section_discharge["town"]
    record = forward(network, basin, lateral, times).run.detention
    first, second = record.diversion["first"], record.diversion["second"]
    opens = int(np.flatnonzero(q0 > 2200.0)[0])
    assert int(np.flatnonzero(first > 0.0)[0]) == opens
    assert second.max() > 100.0 and int(np.flatnonzero(second > 0.0)[0]) >= opens
    np.testing.assert_allclose(first[second > 0.0], 100.0)


def test_the_inverse_diverts_exactly_what_the_reservoir_cannot_hold():
    """Safe discharge 2,000 m3/s, the dam holds 4 hm3, the basin never opens by its trigger (4,000 m3/s):
    the LP must store 4 hm3 in the dam and divert the rest of the flood volume above 2,000 m3/s, no more."""
    lateral, times = _flood()
    basin = _basin(SMALL_DAM, trigger_discharge_m3s=4000.0)
    routing = OperatedNetwork.for_basin(NETWORK, basin)
    f1 = forward(NETWORK, basin, lateral, times, routing=routing)
    assert not f1.run.detention.diversion["polder"].any()
    excess = np.clip(f1.section_discharge["town"] - 2000.0, 0.0, None).sum() * 3600.0
    needed = excess - ROOM
    assert needed > 5e6
    tail = extend_f1(NETWORK, basin, routing, f1, lateral, 3600.0)
    lateral_all = np.concatenate([lateral.astype(np.float32), tail.lateral])
    inv = inverse(NETWORK, basin, lateral_all, tail.f1.times, tail.f1, routing=routing, responses=tail.responses,
                  horizon=len(times))
    assert inv.feasible and inv.missing_volume_m3 == {"town": 0.0}
    assert inv.detention["polder"].sum() * 3600.0 == pytest.approx(needed, rel=1e-4)
    assert inv.detention["polder"].max() <= POLDER["max_intake_m3s"]

    # F2 runs the schedule and the diversions on the full model: the town stays safe, the dam is full, and the
    # volume diverted is the needed volume plus what the F2 margin adds (at most 1 %)
    out = rehearse(NETWORK, basin, lateral, times)
    assert out.accepted
    assert out.f2.section_discharge["town"].max() <= 2000.0
    diverted = out.f2.run.detention.storage["polder"][-1]
    assert needed * (1 - 1e-4) <= diverted <= needed * 1.01
    dam = out.f2.reservoirs["dam"]
    assert dam.storage.max() - dam.storage[0] == pytest.approx(ROOM, rel=0.01)


def test_too_little_detention_reports_the_missing_volume():
    """A 2 hm3 basin where the flood needs about 6: the LP fills dam and basin and reports the rest as the
    volume missing at the town."""
    lateral, times = _flood()
    basin = _basin(SMALL_DAM, trigger_discharge_m3s=4000.0, capacity_hm3=2.0)
    routing = OperatedNetwork.for_basin(NETWORK, basin)
    f1 = forward(NETWORK, basin, lateral, times, routing=routing)
    needed = np.clip(f1.section_discharge["town"] - 2000.0, 0.0, None).sum() * 3600.0 - ROOM
    out = rehearse(NETWORK, basin, lateral, times, routing=routing, f1=f1)
    inv = out.inverse
    assert not inv.feasible and not out.accepted
    assert inv.detention["polder"].sum() * 3600.0 == pytest.approx(2e6, rel=1e-4)
    assert inv.missing_volume_m3["town"] == pytest.approx(needed - 2e6, rel=1e-3)
    assert "detention basin polder full" in inv.binding


def test_without_a_reservoir_the_inverse_diverts_the_whole_excess():
    """No dam at all: the flood volume above the safe discharge at the inlet's own section is the volume the
    LP must divert, and F2 accepts it at once (diversions rounded up to 0.01 m3/s)."""
    lateral, times = _flood()
    basin = BasinSpec(name="b", control_sections=[TOWN], detention_basins=[{**POLDER, "trigger_discharge_m3s": 4000.0}])
    f1 = forward(NETWORK, basin, lateral, times)
    excess = np.clip(f1.section_discharge["town"] - 2000.0, 0.0, None).sum() * 3600.0
    out = rehearse(NETWORK, basin, lateral, times)
    assert out.accepted and out.iterations == 1 and out.f2.section_discharge["town"].max() <= 2000.0
    assert out.f2.run.detention.storage["polder"][-1] == pytest.approx(excess, rel=1e-4)


@settings(max_examples=8, deadline=None)
@given(split=st.integers(1, 59))
def test_a_run_with_an_open_basin_continues_bit_for_bit(split):
    """The trigger rule is causal and the basin's volume is carried: a run split anywhere equals one run."""
    lateral, _ = _flood()
    basin = _basin()
    net = OperatedNetwork.for_basin(NETWORK, basin)
    lat = lateral.astype(np.float32)
    whole = net.run(lat, 3600.0, 60)
    first = net.run(lat[:split], 3600.0, split)
    rest = net.run(lat[split:], 3600.0, 60 - split, first.final, first.final_dams, detention=first.detention.final)
    np.testing.assert_array_equal(whole.streamflow(), np.concatenate([first.streamflow(), rest.streamflow()]))
    np.testing.assert_array_equal(whole.detention.storage["polder"],
                                  np.concatenate([first.detention.storage["polder"], rest.detention.storage["polder"][1:]]))


def test_the_plan_reports_each_basin_used_after_the_reservoirs(tmp_path):
    """The plan's recommended scheme keeps the town safe with the dam full and the polder open: plan.json lists
    the polder (open time, volume, area, population) after the reservoir orders, plan.md says it, and the
    scheme file carries its diversion and stored volume, CF-encoded."""
    import json

    import xarray as xr

    from hydro.stages.plan import rank, rehearse_schemes, write_plan
    from hydro.stages.rehearsal import RehearsalInputs

    lateral, times = _flood()
    basin = _basin(SMALL_DAM, trigger_discharge_m3s=4000.0)
    ranked = rank(rehearse_schemes(RehearsalInputs.of(NETWORK, basin, lateral, times)), basin)
    best, best_impact = ranked[0]
    assert best.verified and best_impact.excess_volume_m3 == 0.0 and best_impact.detention_population == 3400
    summary = write_plan(tmp_path, ranked, basin, "forecast.nc")
    (used,) = summary["detention_order"]
    diverted = best.result.run.detention.diversion["polder"]
    first = int(np.flatnonzero(diverted > 0.0)[0])
    assert used["detention_basin"] == "polder" and used["area_km2"] == 12.5 and used["population"] == 3400
    assert used["opens_at"] == str(times[first] - np.timedelta64(1, "h"))[:16]
    assert used["volume_m3"] == pytest.approx(diverted.sum() * 3600.0, abs=1.0)
    assert json.loads((tmp_path / "plan.json").read_text())["detention_order"] == summary["detention_order"]
    md = (tmp_path / "plan.md").read_text()
    assert md.index("detention basin polder: opens") > md.index("## Dispatch order")
    assert "3,400 people" in md
    with xr.open_dataset(tmp_path / f"scheme_{best.name}.nc") as ds:
        assert ds["detention_diversion"].attrs["units"] == "m3 s-1" and ds["detention_storage"].attrs["units"] == "m3"
        assert list(ds["detention_basin"].values) == ["polder"]
        horizon = len(times)
        np.testing.assert_allclose(ds["detention_diversion"].values[:, 0], diverted[:horizon], rtol=1e-6)
