"""The forecast carries the analysis' nudging, decaying (hydro.routing.nudging.PersistedNudging), as t-route does
(``simple_da`` / ``obs_persist_shift``: q <- q + exp(-age / da_decay_coefficient) * (q_last_obs - q)).

Truth: the formula itself, step by step, on a synthetic gauge; and, routed through NWM Muskingum-Cunge on a
three-segment chain at steady state, a forecast that starts at the observation, relaxes to the model and carries
the correction downstream."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.core.errors import ConfigError
from hydro.routing.nudging import GaugeObservations, PersistedNudging

ISSUE = np.datetime64("2021-01-01T06:00", "s")


def _observations() -> GaugeObservations:
    """Gauge 7: 20 m3/s at 05:50 (quality 80 %) and 999 at 06:05, after the issue time (never to be used);
    gauge 8: only an unusable observation (quality 0) before the issue; gauge 9: only one after it."""
    times = np.array(["2021-01-01T05:00", "2021-01-01T05:50", "2021-01-01T06:05", "2021-01-01T06:30"],
                     dtype="datetime64[s]")
    nan = np.nan
    flow = np.array([[nan, 3.0, nan], [20.0, nan, nan], [999.0, nan, nan], [nan, nan, 4.0]])
    quality = np.array([[0.0, 0.0, 0.0], [0.8, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    return GaugeObservations(np.array([7, 8, 9]), times, flow, quality, "synthetic")


def test_carried_increment_decays_exactly_by_the_formula():
    dt, gain, decay_min, model = 300.0, 0.5, 90.0, 5.0
    nudging = PersistedNudging(_observations(), np.array([5, 7, 8, 9]), ISSUE, dt, gain, decay_min)
    assert nudging.carried == 1  # gauge 7 only: 8 has no usable observation, 9 none before the issue
    increments = []
    for step in range(1, 49):
        q = np.array([1.0, model, 2.0, 3.0], np.float32)
        nudging(step, q)
        age_s = 600.0 + step * dt  # the 05:50 observation at the step's end
        expected = model + gain * 0.8 * np.exp(-age_s / (60.0 * decay_min)) * (20.0 - model)
        assert q[1] == pytest.approx(expected, rel=2e-7)  # float32 state
        assert (q[0], q[2], q[3]) == (1.0, 2.0, 3.0)  # no carried observation: untouched
        increments.append(nudging.increments[-1][nudging.positions == 1][0])
    ratio = np.array(increments[1:]) / np.array(increments[:-1])
    np.testing.assert_allclose(ratio, np.exp(-dt / (60.0 * decay_min)), rtol=1e-5)  # e-fold every decay_min
    # each application is recorded (outflow before and after, depth) for the water balance (nudging_water_m3)
    recorded = [float(after[0]) - float(before[0]) for before, after, _ in nudging.corrections]
    np.testing.assert_allclose(recorded, increments, rtol=1e-9)
    with pytest.raises(ConfigError, match="da_decay_coefficient"):
        PersistedNudging(_observations(), np.array([7]), ISSUE, dt, gain, 0.0)


def _chain():
    from hydro.network import RiverNetwork

    n = 3  # 1 -> 2 -> 3 (outlet), NWM-like trapezoids
    one = np.ones(n)
    return RiverNetwork(feature_id=np.array([1, 2, 3]), to=np.array([2, 3, 0]), length=2000.0 * one,
                        slope=0.001 * one, mannings_n=0.05 * one, mannings_n_cc=0.1 * one, bottom_width=10.0 * one,
                        top_width=16.0 * one, top_width_cc=48.0 * one, side_slope=0.5 * one)


def test_forecast_starts_at_the_observation_relaxes_to_the_model_and_corrects_downstream():
    from hydro.routing.channel import MuskingumCunge

    model = MuskingumCunge(_chain(), dt=300.0, parallel=False)
    lateral = np.array([[4.0, 1.0, 1.0]], np.float32)
    spin = model.run(np.repeat(lateral, 48, axis=0), 3600.0, 48 * 12)  # 48 h to steady state
    steady = spin.streamflow[-1].astype(float)
    assert steady == pytest.approx([4.0, 5.0, 6.0], rel=1e-3)
    # the gauge on segment 1 saw 12 m3/s at the issue time (full quality, G = 1)
    obs = GaugeObservations(np.array([1]), np.array([ISSUE]), np.array([[12.0]]), np.array([[1.0]]))
    nudging = PersistedNudging(obs, model.network.feature_id, ISSUE, 300.0, 1.0, 60.0)
    hours = 12
    run = model.run(np.repeat(lateral, hours, axis=0), 3600.0, hours * 12, spin.final_state, output_every=1,
                    nudging=nudging)
    open_loop = model.run(np.repeat(lateral, hours, axis=0), 3600.0, hours * 12, spin.final_state, output_every=1)
    gauge = run.streamflow[:, 0].astype(float)
    # each step: the routed value pulled toward 12 by exp(-age / 60 min), age = the step's end - issue
    routed = gauge - np.array([i[0] for i in nudging.increments])
    steps = np.arange(1, hours * 12 + 1)
    weight = np.exp(-300.0 * steps / 3600.0)
    np.testing.assert_allclose(gauge, routed + weight * (12.0 - routed), rtol=1e-6)
    assert gauge[0] > 11.3  # starts at the observation (weight exp(-5/60) after 5 minutes)...
    # ...stays between the model and the observation and relaxes to the model hour by hour (within an hour the
    # routed value swings a little: the nudged flow does not carry its depth, in t-route as here)
    assert np.all(gauge < 12.0) and np.all(gauge > steady[0] - 1e-4)
    assert np.all(np.diff(gauge.reshape(hours, 12).mean(axis=1)) < 0)
    assert abs(gauge[-1] - open_loop.streamflow[-1, 0]) < 1e-3 * steady[0]  # and is the model again at 12 h
    # the correction travels downstream (segments 2 and 3 carry the extra water for a while)
    extra = run.streamflow[:, 1:].astype(float) - open_loop.streamflow[:, 1:]
    assert extra.max(axis=0).min() > 1.0 and np.all(extra > -1e-4)
