"""Interval records onto 10-minute steps: totals kept, stepwise within a record, gaps refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydro.core.errors import InputDataError
from hydro.stages.forcing import steps_from_intervals


@settings(deadline=None, max_examples=60)
@given(minutes=st.sampled_from([5, 10, 15, 30, 60, 180, 1440]), n_records=st.integers(1, 12), seed=st.integers(0, 999))
def test_totals_are_kept_and_each_record_is_uniform_over_its_interval(minutes, n_records, seed):
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-07-01T00:00")
    length = np.timedelta64(minutes, "m")
    ends = start + np.arange(1, n_records + 1) * length
    rate = rng.gamma(0.7, 2.0, n_records)  # mm h-1
    n_steps = int(n_records * minutes // 10)
    if n_steps == 0:
        return
    steps = steps_from_intervals(ends - length, ends, rate, start, n_steps, "test")
    covered = n_steps * 10 / minutes  # records fully or partly inside the steps
    expected = (rate[: int(covered)] * minutes / 60).sum() + (covered % 1) * rate[int(covered) % n_records] * minutes / 60
    assert steps.sum() / 6.0 == pytest.approx(expected, rel=1e-12)
    if minutes % 10 == 0:  # every step lies inside one record and has its rate
        record = (np.arange(n_steps) * 10) // minutes
        np.testing.assert_allclose(steps, rate[record], rtol=1e-12)


def test_a_step_outside_the_records_is_an_error():
    ends = np.array(["2026-07-01T01:00", "2026-07-01T03:00"], "datetime64[m]")
    with pytest.raises(InputDataError, match=r"f.csv: no data for the 10 minutes ending 2026-07-01T01:10"):
        steps_from_intervals(ends - np.timedelta64(1, "h"), ends, np.ones(2), np.datetime64("2026-07-01T00:00"), 18,
                             "f.csv")
