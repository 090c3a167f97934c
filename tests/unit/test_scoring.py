"""NSE, KGE and GB/T 22482-2008 event scoring on hydrographs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.scoring import GBT22482, kge, kge_batch, nse, nse_batch, score_events


def test_nse_kge_known_values():
    obs = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    assert nse(obs, obs) == 1.0 and kge(obs, obs) == pytest.approx(1.0)
    assert nse(np.full(5, 2.5), obs) == pytest.approx(0.0)
    # a simulation twice the observations: r = 1, alpha = 2, beta = 2 -> KGE = 1 - sqrt(2)
    assert kge(2 * obs, obs) == pytest.approx(1 - np.sqrt(2))
    sims = np.stack([obs, 2 * obs, np.full(5, 2.5)], axis=1)
    np.testing.assert_allclose(nse_batch(sims, obs), [nse(s, obs) for s in sims.T])
    np.testing.assert_allclose(kge_batch(sims[:, :2], obs), [kge(s, obs) for s in sims[:, :2].T])


def test_event_rules_and_grade():
    hours = np.arange(100)
    times = np.datetime64("2020-01-01T00") + hours * np.timedelta64(1, "h")
    obs = 10 + 90 * np.exp(-0.5 * ((hours - 40) / 6.0) ** 2)
    ok_sim = 10 + 100 * np.exp(-0.5 * ((hours - 42) / 6.0) ** 2)  # +10 % peak, 2 h late
    bad_sim = 10 + 60 * np.exp(-0.5 * ((hours - 47) / 6.0) ** 2)  # -33 % peak, 7 h late
    win = [("e1", times[0], times[-1])]
    area = 100.0
    good = score_events(times, ok_sim, obs, win, area, 1.0)
    e = good.events[0]
    assert e.peak_error == pytest.approx(0.1, abs=1e-9) and e.peak_time_error_h == 2.0
    assert e.peak_ok and e.peak_time_ok
    bad = score_events(times, bad_sim, obs, win, area, 1.0).events[0]
    assert not bad.peak_ok and not bad.peak_time_ok
    # runoff depth tolerance: 20 % of observed, clipped to [3, 20] mm
    depth_o = obs.sum() * 3.6 / area
    assert e.depth_obs_mm == pytest.approx(depth_o)
    assert e.depth_ok == (abs(e.depth_sim_mm - depth_o) <= min(max(0.2 * depth_o, 3.0), 20.0))
    rules = GBT22482()
    assert rules.grade(90, 0.95) == "A" and rules.grade(90, 0.8) == "B" and rules.grade(65, 0.95) == "C"
    assert rules.grade(50, 0.95) == "-"
