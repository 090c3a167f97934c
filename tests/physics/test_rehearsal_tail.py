"""The routing tail past the forecast horizon and the block-constant releases of the inverse.

A schedule that keeps the town safe until the horizon but not after it (a release raised in the last
hours, whose water reaches the town after the horizon) is rejected by F2; the LP's releases change at
most once per ``hold_hours`` and by at most the ramp, and F2 runs exactly what the order prints."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.io.basin import BasinSpec
from hydro.routing.operated import OperatedNetwork
from hydro.stages.rehearsal import (TAIL_MAX_HOURS, extend_f1, forward, forward_is_safe, inverse, rehearse,
                                    scheme_dataset, tail_summary, verify_schedule)
from tests.helpers import make_network

# headwater 1 -> dam 2 -> reach 3 -> reach 4 -> town 5: 60 km below the dam, hours of travel
NETWORK = make_network([1, 2, 3, 4, 5], [2, 3, 4, 5, 0], length=np.array([2000.0, 2000.0, 20000.0, 20000.0, 20000.0]),
                       bottom_width=np.full(5, 60.0), top_width=np.full(5, 90.0), top_width_cc=np.full(5, 300.0))
STORAGE = [0.0, 5e7, 1.5e8, 3e8, 5e8]
RESERVOIR = dict(id="dam", feature_id=2, level_m=[100, 110, 120, 130, 140], storage_m3=STORAGE,
                 capacity_m3s=[0, 5000, 10000, 15000, 20000], flood_limit_level=110.0, flood_control_high_level=115.0,
                 design_level=130.0, check_level=135.0, safe_release=5000.0, max_ramp_per_hour=800.0)
TOWN = dict(id="town", feature_id=5, safe_discharge=2000.0, warning_stage=20.0, guaranteed_stage=22.0,
            rating_stage_m=[15, 18, 21, 24], rating_discharge_m3s=[10, 800, 2500, 6000])


def _flood(hours: int = 48, peak_hour: float = 18.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(hours)
    lateral = np.zeros((hours, 5))
    lateral[:, 0] = 100.0 + 2500.0 * np.exp(-0.5 * ((t - peak_hour) / 5.0) ** 2)
    times = np.datetime64("2026-07-01T01:00") + t * np.timedelta64(1, "h")
    return lateral, times


def test_the_tail_lasts_until_a_release_has_passed_the_town():
    basin = BasinSpec(name="b", reservoirs=[RESERVOIR], control_sections=[TOWN])
    lateral, times = _flood()
    routing = OperatedNetwork(NETWORK, basin.reservoirs)
    f1 = forward(NETWORK, basin, lateral, times, routing=routing)
    tail = extend_f1(NETWORK, basin, routing, f1, lateral, 3600.0)
    assert 2 <= tail.hours <= TAIL_MAX_HOURS
    resp = tail.responses[("dam", "town")]
    assert resp.size == len(times) + tail.hours and abs(resp).sum() > 0.5  # the release arrives, attenuated
    # F1 is continued from its own final state: its horizon is F1 unchanged, bit for bit
    np.testing.assert_array_equal(tail.f1.section_discharge["town"][:len(times)], f1.section_discharge["town"])
    # and equals one run over horizon + tail with the tail's lateral inflow (the last hour held)
    whole = forward(NETWORK, basin, np.concatenate([lateral, tail.lateral]), tail.f1.times, routing=routing)
    np.testing.assert_array_equal(whole.section_discharge["town"], tail.f1.section_discharge["town"])
    np.testing.assert_array_equal(tail.lateral, np.repeat(lateral[-1:], tail.hours, axis=0).astype(np.float32))


def test_a_schedule_safe_until_the_horizon_but_not_in_the_tail_is_rejected():
    basin = BasinSpec(name="b", reservoirs=[RESERVOIR], control_sections=[TOWN])
    lateral, times = _flood()
    routing = OperatedNetwork(NETWORK, basin.reservoirs)
    f1 = forward(NETWORK, basin, lateral, times, routing=routing)
    tail = extend_f1(NETWORK, basin, routing, f1, lateral, 3600.0)
    T = len(times)
    # hold 600 m3/s (the dam stores the flood), then dump up to 3,800 m3/s in the last hours (as fast as
    # the ramp allows): the dump reaches the town only after the horizon
    release = np.full(T, 600.0)
    release[-4:] = [1400.0, 2200.0, 3000.0, 3800.0]
    dumped, safe = verify_schedule(NETWORK, basin, routing, lateral, tail, {"dam": release})
    town = dumped.section_discharge["town"]
    assert town[:T].max() <= TOWN["safe_discharge"]  # safe until the horizon ...
    assert town[T:].max() > TOWN["safe_discharge"]  # ... not in the tail
    assert not safe and not forward_is_safe(basin, dumped, 0.0)
    # the horizon alone would have accepted it
    horizon_only = forward(NETWORK, basin, lateral, times, schedules={"dam": release}, routing=routing)
    assert forward_is_safe(basin, horizon_only, 0.0)
    # the rehearsal never proposes such a schedule: its F2 keeps the town safe through the tail
    out = rehearse(NETWORK, basin, lateral, times, routing=routing, f1=f1, tail=tail)
    assert out.accepted and out.tail_hours == tail.hours
    assert out.f2.section_discharge["town"].max() <= TOWN["safe_discharge"]
    ds = scheme_dataset(out.f2, basin, "f2", out.horizon_hours)
    assert ds.sizes["tail_time"] == tail.hours and ds.attrs["tail_hours"] == tail.hours
    assert ds.sizes["time"] == len(times)  # the horizon reads as the forecast does, time for time
    np.testing.assert_array_equal(ds["discharge_tail"].sel(section="town").values,
                                  out.f2.section_discharge["town"][len(times):])
    # the summary gives the tail's peaks of both runs: F1 (the current rules) and F2
    summary = tail_summary(out, basin)
    assert summary["f2_peak_in_tail"]["town"] == round(float(out.f2.section_discharge["town"][T:].max()), 1)
    assert summary["f1_peak_in_tail"]["town"] == round(float(out.f1_tail.section_discharge["town"][T:].max()), 1)
    assert summary["f1_peak_stage_in_tail"]["town"] == round(float(out.f1_tail.section_stage["town"][T:].max()), 3)


@pytest.mark.parametrize("hold_hours", [1, 3, 4])
def test_releases_change_at_most_once_per_hold_hours_and_by_at_most_the_ramp(hold_hours):
    basin = BasinSpec(name="b", reservoirs=[{**RESERVOIR, "hold_hours": hold_hours}], control_sections=[TOWN])
    lateral, times = _flood(peak_hour=14.0)
    routing = OperatedNetwork(NETWORK, basin.reservoirs)
    f1 = forward(NETWORK, basin, lateral, times, routing=routing)
    assert f1.section_discharge["town"].max() > TOWN["safe_discharge"]
    tail = extend_f1(NETWORK, basin, routing, f1, lateral, 3600.0)
    T = len(times)
    lat = np.concatenate([lateral, tail.lateral])
    inv = inverse(NETWORK, basin, lat, tail.f1.times, tail.f1, routing=routing, responses=tail.responses, horizon=T)
    release = inv.schedule["dam"]
    assert release.size == T and inv.hold_hours == {"dam": hold_hours}
    changes = np.flatnonzero(np.diff(release)) + 1
    assert np.all(changes % hold_hours == 0)  # blocks from the issue time
    assert np.abs(np.diff(release)).max() <= RESERVOIR["max_ramp_per_hour"]
    np.testing.assert_array_equal(inv.tail_release["dam"], np.full(tail.hours, release[-1]))  # the last release held
    np.testing.assert_array_equal(release, np.round(release))  # whole m3/s: what the order prints
    out = rehearse(NETWORK, basin, lateral, times, routing=routing, f1=f1, tail=tail)
    assert out.accepted
    # F2 ran exactly the printed schedule, except where dam safety passed on water above the flood-control
    # high level that the linearisation did not foresee (under 1 m3/s here), and kept the town safe through the tail
    op = out.f2.reservoirs["dam"]
    followed = np.array([why != "dam safety" for why in op.binding])
    assert followed.mean() > 0.9
    np.testing.assert_array_equal(op.release[followed], out.inverse.full_schedule()["dam"][followed])
    assert np.abs(op.release - out.inverse.full_schedule()["dam"]).max() < 5.0
    assert out.f2.section_discharge["town"].max() <= TOWN["safe_discharge"]
