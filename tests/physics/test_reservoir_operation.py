"""Reservoir operation: mass balance, every zone of the rule, each limit binding when it should, and the
level-pool integration against storage-indication routing (Chow, Maidment & Mays 1988, section 8.2)."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.core.errors import ConfigError, InputDataError
from hydro.reservoir.operation import SUB_STEPS, OperatingRules, ReservoirCurves, operate

CURVES = ReservoirCurves(level_m=np.array([100.0, 110.0, 120.0, 130.0, 140.0]),
                         storage_m3=np.array([0.0, 50e6, 150e6, 300e6, 500e6]),
                         capacity_m3s=np.array([0.0, 800.0, 2500.0, 5000.0, 8000.0]), name="test dam")
RULES = OperatingRules(flood_limit_level=112.0, flood_control_high_level=125.0, design_level=132.0,
                       check_level=136.0, safe_release=1500.0, min_release=50.0)
DT = 3600.0


def _balance(result, inflow):
    mean_in = 0.5 * (inflow[:-1] + inflow[1:])
    return result.storage[-1] - result.storage[0] - DT * (mean_in - result.release).sum()


def test_below_flood_limit_the_level_is_held():
    inflow = np.full(25, 600.0)
    res = operate(CURVES, RULES, inflow, DT, initial_level=112.0)
    np.testing.assert_allclose(res.level, 112.0, atol=1e-9)
    np.testing.assert_allclose(res.release, 600.0)
    assert set(res.binding) == {"rule"} and _balance(res, inflow) == pytest.approx(0.0, abs=1e-3)


def test_flood_zone_caps_release_at_the_safe_discharge_and_stores_the_rest():
    inflow = np.concatenate([np.linspace(600, 4000, 13), np.linspace(4000, 600, 25)[1:], np.full(120, 600.0)])
    res = operate(CURVES, RULES, inflow, DT, initial_level=112.0)
    assert res.release.max() == pytest.approx(1500.0)  # the safe discharge, not the 4000 inflow
    assert res.level.max() > 115.0 and res.level.max() < RULES.flood_control_high_level
    assert abs(_balance(res, inflow)) < 1e-3
    # after the flood the storage is evacuated at the safe discharge, back to the flood-limit level
    assert res.level[-1] == pytest.approx(RULES.flood_limit_level, abs=1e-6)
    assert res.release[40] == pytest.approx(1500.0)


def test_above_flood_control_high_level_releases_capacity_and_limits_bind():
    inflow = np.full(13, 9000.0)
    res = operate(CURVES, RULES, inflow, DT, initial_level=126.0)
    assert set(res.binding) == {"capacity"}
    for t in range(len(res.release)):  # gates wide open: the release varies linearly between the capacities
        cap = [CURVES.capacity_at_storage(res.storage[t + k]) for k in (0, 1)]  # at the step's two ends
        assert res.release[t] == pytest.approx(0.5 * sum(cap), rel=1e-9)
        assert res.outflow[t + 1] == pytest.approx(cap[1], rel=1e-9)
    assert abs(_balance(res, inflow)) < 1e-3
    ramped = operate(CURVES, OperatingRules(**{**RULES.__dict__, "max_ramp_per_hour": 200.0}),
                     np.full(13, 3000.0), DT, initial_level=112.0, initial_release=600.0)
    assert "ramp" in ramped.binding and np.all(np.abs(np.diff(ramped.release)) <= 200.0 + 1e-9)
    low = operate(CURVES, RULES, np.zeros(5), DT, initial_level=112.0)
    assert low.binding == ["minimum"] * 4 and np.allclose(low.release, 50.0)


def test_schedule_override_and_bad_input():
    inflow = np.full(7, 1000.0)
    res = operate(CURVES, RULES, inflow, DT, initial_level=115.0, schedule=np.full(6, 700.0))
    np.testing.assert_allclose(res.release, 700.0)
    assert res.binding == ["schedule"] * 6 and res.storage[-1] > res.storage[0]
    with pytest.raises(ConfigError, match="characteristic levels must rise"):
        operate(CURVES, OperatingRules(130.0, 125.0, 132.0, 136.0, 1500.0), inflow, DT, 115.0)
    with pytest.raises(InputDataError, match="schedule needs 6"):
        operate(CURVES, RULES, inflow, DT, 115.0, schedule=np.full(3, 1.0))
    with pytest.raises(InputDataError, match="overtops"):
        operate(CURVES, RULES, np.full(400, 20000.0), DT, 126.0)


# --- free spill against storage-indication (modified Puls) routing of the same curves ---------------------

# Chow, Maidment & Mays (1988), Applied Hydrology, Example 8.2.1-8.2.2: a 1-acre (43,560 ft2) detention
# pond with vertical walls, outflow through a 5-ft pipe tabulated every 0.5 ft of head, inflow every 10 min
# (US units throughout; the method does not care). Textbook step 10 min.
EX_822_HEAD = np.arange(0.0, 10.01, 0.5)
EX_822 = ReservoirCurves(EX_822_HEAD, 43560.0 * EX_822_HEAD,
                         np.array([0, 3, 8, 17, 30, 43, 60, 78, 97, 117, 137, 156, 173, 190, 205, 218, 231, 242, 253,
                                   264, 275], dtype=float), name="Chow Ex. 8.2.2")
EX_822_INFLOW = np.array(list(range(0, 361, 60)) + list(range(320, -1, -40)) + [0] * 6, dtype=float)
# Problems 8.2.1-8.2.2: storage 75-110.2e6 m3 against outflow 57-2270 m3/s, 2-hour inflow, textbook step 2 h;
# the table gives storage and outflow only, so the "levels" are the table's index.
PROB_822 = ReservoirCurves(np.arange(5.0), np.array([75.0, 81.0, 87.5, 100.0, 110.2]) * 1e6,
                           np.array([57.0, 227.0, 519.0, 1330.0, 2270.0]), name="Chow Prob. 8.2.2")
PROB_822_INFLOW = np.array([60, 100, 232, 300, 520, 1310, 1930, 1460, 930, 650] + [0] * 9, dtype=float)


def _open_rules(curves):
    """Rules that never bind: every level above the flood-control high level (all gates open)."""
    z = curves.level_m
    return OperatingRules(z[0], z[0], z[-1], z[-1], safe_release=1e12)


def _storage_indication(curves, inflow, dt, s0):
    """Storage-indication routing written out independently of hydro (Chow et al. 1988, eq. 8.2.3):
    2 S2/dt + O2 = I1 + I2 + 2 S1/dt - O1, O2 read off the (2S/dt + O, O) table by linear interpolation."""
    table = 2.0 * curves.storage_m3 / dt + curves.capacity_m3s
    o, s = [np.interp(s0, curves.storage_m3, curves.capacity_m3s)], [s0]
    for j in range(1, inflow.size):
        si = inflow[j - 1] + inflow[j] + 2.0 * s[-1] / dt - o[-1]
        o.append(np.interp(si, table, curves.capacity_m3s))
        s.append(0.5 * dt * (si - o[-1]))
    return np.array(o), np.array(s)


@pytest.mark.parametrize("curves, inflow, dt", [(EX_822, EX_822_INFLOW, 600.0), (PROB_822, PROB_822_INFLOW, 7200.0)],
                         ids=["chow-example-8.2.2-10min", "chow-problem-8.2.2-2h"])
@pytest.mark.parametrize("how", ["free_spill", "above_flood_control_high"])
def test_free_spill_equals_storage_indication_on_chow_examples(curves, inflow, dt, how):
    """At the textbook steps the release (instantaneous, at the step ends) equals storage-indication to
    0.1 % of the peak and the level to 1 cm (the first-order integration this replaces was 4.4 % and 7.7 %
    low at the peak). Both an ungated outlet and the zone rule above the flood-control high level."""
    z0 = curves.level_m[0]
    if how == "free_spill":
        res = operate(curves, _open_rules(curves), inflow, dt, z0, free_spill=True)
    else:
        rules = _open_rules(curves)
        res = operate(curves, rules, inflow, dt, z0, initial_storage=curves.storage_m3[0] + 1e-6)
    o_ref, s_ref = _storage_indication(curves, inflow, dt, curves.storage(z0))
    peak = o_ref.max()
    assert np.abs(res.outflow - o_ref).max() <= 1e-3 * peak
    assert res.outflow.max() == pytest.approx(peak, rel=1e-6)
    z_ref = np.interp(s_ref, curves.storage_m3, curves.level_m)
    assert np.abs(res.level - z_ref).max() < 0.01
    # the mean release over each step is the trapezoid of the end values, and the water balance closes
    np.testing.assert_allclose(res.release, 0.5 * (res.outflow[:-1] + res.outflow[1:]), rtol=1e-12)
    assert res.storage[-1] - res.storage[0] == pytest.approx(dt * (0.5 * (inflow[:-1] + inflow[1:]) - res.release).sum(),
                                                             abs=1e-6 * res.storage.max())


def test_chow_problem_8_2_2_published_peak():
    """The published storage-indication solution of Problem 8.2.2: peak outflow 1,148 m3/s at 16 h."""
    res = operate(PROB_822, _open_rules(PROB_822), PROB_822_INFLOW, 7200.0, 0.0, free_spill=True)
    assert int(np.argmax(res.outflow)) == 8 and res.outflow.max() == pytest.approx(1147.9, abs=0.1)
    assert res.storage.max() == pytest.approx(97.193e6, rel=1e-5)


def test_free_spill_at_the_rehearsal_step_matches_storage_indication():
    """A large reservoir at the rehearsal's 1-hour step on a 3-day flood."""
    hours = np.arange(73.0)
    inflow = 300.0 + 5700.0 * np.exp(-0.5 * ((hours - 20.0) / 6.0) ** 2)
    res = operate(CURVES, RULES, inflow, DT, 112.0, free_spill=True)
    o_ref, s_ref = _storage_indication(CURVES, inflow, DT, CURVES.storage(112.0))
    assert np.abs(res.outflow - o_ref).max() <= 1e-3 * o_ref.max()
    assert np.abs(res.level - np.interp(s_ref, CURVES.storage_m3, CURVES.level_m)).max() < 0.01
    assert set(res.binding) == {"capacity"} and res.cannot_follow == []


def test_constant_schedule_above_capacity_is_reported_not_silently_capped():
    inflow = np.full(13, 1000.0)
    wanted = 3000.0  # the capacity is 800 m3/s at 110 m and 2500 at 120 m: the schedule drains the lake
    res = operate(CURVES, RULES, inflow, DT, initial_level=114.0, schedule=np.full(12, wanted))
    assert res.cannot_follow, "a schedule above capacity must be reported"
    steps = [e.step for e in res.cannot_follow]
    assert steps == list(range(12))  # every step: capacity at 114 m is 1480 m3/s, below the order
    for e in res.cannot_follow:
        assert e.limit == "capacity" and e.wanted == wanted and e.released < wanted
        assert e.released <= e.capacity * (1 + 1e-9) or e.released == pytest.approx(res.release[e.step])
        assert "cannot release 3,000.0 m3/s" in e.message and "capacity at" in e.message
    # never above the capacity at the levels reached: the instantaneous release at each step end
    for t in range(13):
        assert res.outflow[t] <= CURVES.capacity_at_storage(res.storage[t]) * (1 + 1e-12)
    assert set(res.binding) == {"capacity"} and abs(_balance(res, inflow)) < 1e-3
    # a schedule within capacity is followed exactly and records nothing
    ok = operate(CURVES, RULES, inflow, DT, initial_level=114.0, schedule=np.full(12, 1200.0))
    assert ok.cannot_follow == [] and np.allclose(ok.release, 1200.0)


def test_release_is_capped_where_the_level_dips_within_the_step():
    """Inflow rising through a held order near the crest: the storage dips within the step below both ends;
    the step is sub-stepped so the order never exceeds the capacity at the level reached. Compared with
    the same held order integrated on 1-second steps."""
    curves = ReservoirCurves(np.array([100.0, 101.0, 102.0, 110.0]), np.array([0.0, 1e6, 2e6, 12e6]),
                             np.array([0.0, 0.0, 400.0, 4000.0]), name="dip")
    rules = OperatingRules(101.0, 110.0, 110.0, 110.0, safe_release=5000.0)
    inflow, order = np.array([0.0, 700.0]), 200.0
    v0 = 1.5e6 + 1200.0  # capacity 200.5: just above the order at the start
    res = operate(curves, rules, inflow, DT, 0.0, schedule=np.array([order]), initial_storage=v0)
    v, vol, h = v0, 0.0, 1.0
    for k in range(3600):
        i = 700.0 * (k + 0.5) / 3600.0
        o = min(order, curves.capacity_at_storage(v))
        v += h * (i - o)
        vol += h * o
    assert res.release[0] < order and res.binding == ["capacity"] and res.cannot_follow[0].limit == "capacity"
    assert res.release[0] == pytest.approx(vol / 3600.0, rel=2e-3)
    assert abs(_balance(res, inflow)) < 1e-3
    assert SUB_STEPS >= 8


@pytest.mark.parametrize("split", [1, 7, 20])
def test_a_run_split_anywhere_continues_bit_for_bit(split):
    hours = np.arange(49.0)
    inflow = 600.0 + 5000.0 * np.exp(-0.5 * ((hours - 15.0) / 5.0) ** 2)
    rules = OperatingRules(**{**RULES.__dict__, "max_ramp_per_hour": 300.0})
    sched = np.where(hours[:-1] < 25, 1400.0, 2600.0)
    for kw in ({}, {"schedule": sched}):
        whole = operate(CURVES, rules, inflow, DT, 112.0, **kw)
        first = operate(CURVES, rules, inflow[:split + 1], DT, 112.0,
                        **({"schedule": sched[:split]} if kw else {}))
        second = operate(CURVES, rules, inflow[split:], DT, float(first.level[-1]),
                         **({"schedule": sched[split:]} if kw else {}), initial_release=float(first.release[-1]),
                         initial_storage=float(first.storage[-1]))
        np.testing.assert_array_equal(np.concatenate([first.release, second.release]), whole.release)
        np.testing.assert_array_equal(np.concatenate([first.storage, second.storage[1:]]), whole.storage)
        assert first.binding + second.binding == whole.binding
