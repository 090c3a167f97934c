"""Four-colour flood warnings: every grade, stage and return-period triggers, and which one fired."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.core.errors import ConfigError
from hydro.stages.warning import StationThresholds, grade

TIMES = np.datetime64("2026-07-01T01:00") + np.arange(48) * np.timedelta64(1, "h")
STATION = StationThresholds("town", warning_stage=20.0, guaranteed_stage=22.0, historical_max_stage=24.0,
                            flow_5yr=800.0, flow_20yr=1500.0, flow_50yr=2500.0)


def _wave(peak, base=15.0):
    return base + (peak - base) * np.exp(-0.5 * ((np.arange(48) - 20) / 5.0) ** 2)


@pytest.mark.parametrize("peak, expected, trigger", [
    (19.0, "none", "no criterion met"),
    (19.8, "blue", "stage approaching the warning stage"),
    (21.0, "yellow", "stage >= warning stage"),
    (23.0, "orange", "stage >= guaranteed stage"),
    (24.5, "red", "stage >= historical maximum"),
])
def test_stage_grades(peak, expected, trigger):
    w = grade(TIMES, STATION, stage=_wave(peak))
    assert w.grade == expected and w.trigger == trigger
    assert w.peak == pytest.approx(peak) and w.peak_time == "2026-07-01T21:00"


def test_return_period_trigger_can_raise_the_grade_and_is_named():
    stage = _wave(21.0)  # yellow by stage
    flow = 100 + 1600 * np.exp(-0.5 * ((np.arange(48) - 20) / 5.0) ** 2)  # above the 20-year flow
    w = grade(TIMES, STATION, stage=stage, discharge=flow)
    assert w.grade == "orange" and w.trigger == "discharge >= 20-year flow"
    first = np.argmax(flow >= 1500.0)
    assert w.first_crossing == str(TIMES[first])[:16] and w.hours_at_grade == float((flow >= 1500.0).sum())


def test_thresholds_must_rise():
    with pytest.raises(ConfigError, match="must rise"):
        StationThresholds("x", warning_stage=22.0, guaranteed_stage=20.0)


@pytest.mark.parametrize("method, dist", [("pearson3", "pearson3"), ("gev", "genextreme"), ("gumbel", "gumbel_r")])
def test_return_period_flows_recover_known_distributions(method, dist):
    from scipy import stats

    from hydro.stages.warning import return_period_flows

    params = {"pearson3": (1.2, 1000.0, 400.0), "genextreme": (-0.1, 900.0, 300.0), "gumbel_r": (900.0, 300.0)}[dist]
    sample = getattr(stats, dist).rvs(*params, size=5000, random_state=np.random.default_rng(7))
    fitted = return_period_flows(sample, (5, 20, 50), method)
    for years, value in fitted.items():
        truth = getattr(stats, dist).ppf(1 - 1 / years, *params)
        assert value == pytest.approx(truth, rel=0.04), years
    assert fitted[5] < fitted[20] < fitted[50]
    with pytest.raises(ConfigError, match="at least 10"):
        return_period_flows(sample[:5])


def test_nws_categories():
    from hydro.stages.warning import grade_nws

    for peak, category in ((17.0, "none"), (18.5, "action"), (20.5, "minor"), (22.5, "moderate"), (25.0, "major")):
        w = grade_nws(TIMES, _wave(peak), action=18.0, minor=20.0, moderate=22.0, major=24.0, station="town")
        assert w.grade == category
    with pytest.raises(ConfigError, match="must rise"):
        grade_nws(TIMES, _wave(20.0), 18.0, 22.0, 20.0, 24.0)
