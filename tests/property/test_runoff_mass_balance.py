"""Every runoff model closes its water balance every step: P - ET - runoff (+ exchange) = change in storage."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hydro.runoff import GR4, Xinanjiang
from tests.strategies import forcing_series, runoff_parameters

STEPS_HOURS = st.sampled_from([1.0 / 6.0, 1.0, 24.0])


def _check_stepwise(model, values, precip, pet, extra=lambda state: 0.0):
    table = model.step_table(values[None, :])
    state = model.cold_state(table, 1, initial_flow_mm=0.5)
    for t in range(len(precip)):
        before = model.storage(table, state)[0]
        gained_before = extra(state)
        runoff, evaporation = model.run(precip[t:t + 1], pet[t:t + 1], table, state)
        after = model.storage(table, state)[0]
        residual = precip[t] - evaporation[0] - runoff[0, 0] + (extra(state) - gained_before) - (after - before)
        scale = max(precip[t], before, after, 1.0)
        assert abs(residual) <= 1e-9 * scale, f"step {t}: residual {residual:.3e} mm (scale {scale:.1f} mm)"
        assert runoff[0, 0] >= 0.0 and evaporation[0] >= 0.0


@settings(deadline=None, max_examples=150)
@given(data=st.data(), dt=STEPS_HOURS, forcing=forcing_series())
def test_xaj_mass_balance_every_step(data, dt, forcing):
    model = Xinanjiang(dt)
    values = data.draw(runoff_parameters(model))
    _check_stepwise(model, values, *forcing)


@settings(deadline=None, max_examples=150)
@given(data=st.data(), dt=STEPS_HOURS, forcing=forcing_series())
def test_gr4_mass_balance_every_step(data, dt, forcing):
    model = GR4(dt)
    values = data.draw(runoff_parameters(model))
    values[3] = max(values[3], dt / 2)  # X4 of at least half a step
    _check_stepwise(model, values, *forcing, extra=lambda state: state.arrays["exchange"][0])


@settings(deadline=None, max_examples=30)
@given(data=st.data(), forcing=forcing_series(max_steps=200))
def test_xaj_whole_run_equals_stepwise(data, forcing):
    """State carried between calls: one call over n steps equals n calls of one step, bit for bit."""
    model = Xinanjiang(1.0)
    table = model.step_table(data.draw(runoff_parameters(model))[None, :])
    precip, pet = forcing
    whole = model.cold_state(table, 1, 0.3)
    q_whole, _ = model.run(precip, pet, table, whole)
    stepped = model.cold_state(table, 1, 0.3)
    q_step = np.concatenate([model.run(precip[t:t + 1], pet[t:t + 1], table, stepped)[0] for t in range(len(precip))])
    np.testing.assert_array_equal(q_whole, q_step)
    np.testing.assert_array_equal(whole.arrays["state"], stepped.arrays["state"])
