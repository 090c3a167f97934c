"""Reservoir operation: mass balance, every zone of the rule, and each limit binding when it should."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.core.errors import ConfigError, InputDataError
from hydro.reservoir.operation import OperatingRules, ReservoirCurves, operate

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
    assert res.binding[0] == "capacity"
    for t in range(len(res.release)):  # release equals the capacity at the end-of-step storage
        assert res.release[t] == pytest.approx(CURVES.capacity_at_storage(res.storage[t + 1]), rel=1e-9)
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
