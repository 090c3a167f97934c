"""Runoff models against what can be worked out by hand: recessions, step conversion, saturation, GR4 UH."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from hydro.core.errors import ConfigError, InputDataError
from hydro.kernels import runoff as kr
from hydro.runoff import GR4, Xinanjiang

XAJ_SET = np.array([0.9, 15, 70, 40, 0.15, 0.3, 0.02, 30, 1.2, 0.35, 0.30, 0.8, 0.98, 0.5, 2.0])


def test_groundwater_recession_is_cg_to_the_step_power():
    """No rain, no PET, empty free water: outflow recedes geometrically by CG^(dt/24) per step."""
    for dt in (1.0, 24.0):
        model = Xinanjiang(dt)
        values = XAJ_SET.copy()
        values[13] = 0.0  # CS = 0: the channel reservoir passes water through
        values[14] = 0.0  # no lag
        table = model.step_table(values[None, :])
        state = model.cold_state(table, 1, initial_flow_mm=2.0)
        q, _ = model.run(np.zeros(50), np.zeros(50), table, state)
        ratio = q[1:, 0] / q[:-1, 0]
        np.testing.assert_allclose(ratio, 0.98 ** (dt / 24.0), rtol=1e-12)
        assert q[0, 0] == pytest.approx(2.0, rel=1e-12)  # the start state drains the given flow


def test_free_water_drainage_per_day_does_not_depend_on_the_step():
    """The stated KI/KG rule: 24 hourly steps drain free water exactly as one daily step does."""
    remaining = {}
    for dt, n in ((1.0, 24), (24.0, 1), (1.0 / 6.0, 144)):
        model = Xinanjiang(dt)
        table = model.step_table(XAJ_SET[None, :])
        state = model.cold_state(table, 1)
        state.arrays["state"][0, kr.XAJ_S] = 20.0
        state.arrays["state"][0, kr.XAJ_FR] = 0.5
        model.run(np.zeros(n), np.zeros(n), table, state)
        remaining[dt] = state.arrays["state"][0, kr.XAJ_S]
    expected = 20.0 * (1.0 - 0.35 - 0.30)
    for dt, s in remaining.items():
        assert s == pytest.approx(expected, rel=1e-12), dt


def test_saturated_soil_turns_all_net_rain_into_runoff():
    """With tension water at capacity and free water full, every mm of net rain leaves as surface runoff."""
    model = Xinanjiang(1.0)
    values = XAJ_SET.copy()
    values[[13, 14]] = 0.0
    values[[11, 12]] = 0.0  # interflow / groundwater reservoirs drain within the step
    table = model.step_table(values[None, :])
    state = model.cold_state(table, 1)
    s = state.arrays["state"][0]
    s[kr.XAJ_WU], s[kr.XAJ_WL], s[kr.XAJ_WD] = 15, 70, 40
    s[kr.XAJ_S], s[kr.XAJ_FR] = 30.0, 1.0
    before = model.storage(table, state)[0]
    q, e = model.run(np.array([[50.0]]), np.array([[0.0]]), table, state)
    assert e[0] == 0.0
    after = model.storage(table, state)[0]
    assert q[0, 0] + (after - before) == pytest.approx(50.0, rel=1e-12)
    assert state.arrays["state"][0, kr.XAJ_WU] + state.arrays["state"][0, kr.XAJ_WL] + \
        state.arrays["state"][0, kr.XAJ_WD] == pytest.approx(125.0)


def test_zero_lag_is_allowed_and_fractional_lag_splits_water():
    """LAG = 0 delays nothing (a peer's default range forced one step); LAG = 1.5 steps splits 50/50."""
    for lag, expected in ((0.0, [1.0, 0.0, 0.0]), (1.5, [0.0, 0.5, 0.5])):
        model = Xinanjiang(1.0)
        values = XAJ_SET.copy()
        values[[1, 2, 3]] = [0.0, 1.0, 0.0]  # almost no tension storage
        values[[6, 13, 14]] = [0.0, 0.0, lag]
        table = model.step_table(values[None, :])
        state = model.cold_state(table, 1)
        state.arrays["state"][0, [kr.XAJ_WU, kr.XAJ_WL, kr.XAJ_WD]] = [0.0, 1.0, 0.0]
        state.arrays["state"][0, kr.XAJ_S] = 30.0
        state.arrays["state"][0, kr.XAJ_FR] = 1.0
        # saturated everywhere: a 1 mm pulse becomes 1 mm of surface runoff, then only lag shapes it
        q, _ = model.run(np.array([1.0, 0, 0]), np.zeros(3), table, state)
        surface = q[:, 0] - q[:, 0].min()
        np.testing.assert_allclose(surface[: len(expected)] / surface.sum(), expected, atol=0.02)


def test_gr4_unit_hydrographs_sum_to_one_and_gr4h_constants_follow_the_step():
    assert GR4(24.0).constants == (9 / 4, 2.5)
    assert GR4(1.0).constants == (21 / 4, 1.25)
    for x4 in (0.7, 1.0, 3.3, 17.0):
        for d in (2.5, 1.25):
            n = int(np.ceil(2 * x4)) + 1
            uh1 = [kr._s_curve_uh1(j + 1.0, x4, d) - kr._s_curve_uh1(float(j), x4, d) for j in range(n)]
            uh2 = [kr._s_curve_uh2(j + 1.0, x4, d) - kr._s_curve_uh2(float(j), x4, d) for j in range(n)]
            assert sum(uh1) == pytest.approx(1.0) and sum(uh2) == pytest.approx(1.0)


def test_gr4_one_step_by_hand():
    """GR4J first step from an empty routing store, worked through the published equations."""
    x1, x2, x3, x4 = 320.0, 0.0, 70.0, 1.0
    model = GR4(24.0)
    table = model.step_table(np.array([[x1, x2, x3, x4 * 24]]))
    state = model.cold_state(table, 1)
    s0 = 0.3 * x1
    p, e = 20.0, 2.0
    pn = p - e
    ps = x1 * (1 - (s0 / x1) ** 2) * np.tanh(pn / x1) / (1 + s0 / x1 * np.tanh(pn / x1))
    s1 = s0 + ps
    perc = s1 * (1 - (1 + (4 / 9 * s1 / x1) ** 4) ** -0.25)
    pr = perc + pn - ps
    # X4 = 1 day: UH1 delivers everything in step 1, UH2 half in step 1
    q9, q1 = 0.9 * pr, 0.1 * pr * 0.5
    r = q9
    qr = r * (1 - (1 + (r / x3) ** 4) ** -0.25)
    q, _ = model.run(np.array([p]), np.array([e]), table, state)
    assert q[0, 0] == pytest.approx(qr + q1, rel=1e-12)


def test_parallel_equals_serial():
    rng = np.random.default_rng(3)
    precip = rng.gamma(0.3, 4.0, size=(300, 1))
    pet = np.full((300, 1), 0.1)
    values = np.repeat(XAJ_SET[None, :], 64, axis=0)
    values[:, 7] = np.linspace(5, 90, 64)
    out = {}
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        for model, vals in ((Xinanjiang(1.0), values), (GR4(1.0), np.tile([300.0, -1.0, 80.0, 20.0], (64, 1)))):
            table = model.step_table(vals)
            state = model.cold_state(table, 64, 0.2)
            out[(threads, model.name)] = model.run(precip, pet, table, state, forcing_col=np.zeros(64, np.int64))[0]
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for name in ("xaj", "gr4j"):
        np.testing.assert_array_equal(out[(1, name)], out[(numba.config.NUMBA_NUM_THREADS, name)])


def test_bad_parameters_and_forcing_are_named():
    model = Xinanjiang(1.0)
    bad = XAJ_SET.copy()
    bad[6] = 1.5
    with pytest.raises(ConfigError, match=r"parameter IM = 1.5 \(row 0\) is outside"):
        model.step_table(bad[None, :])
    both = XAJ_SET.copy()
    both[[9, 10]] = [0.6, 0.5]
    with pytest.raises(ConfigError, match="KI \\+ KG = 1.1"):
        model.step_table(both[None, :])
    table = model.step_table(XAJ_SET[None, :])
    with pytest.raises(ConfigError, match="converted for xaj at 1 h but the model runs at 24 h"):
        Xinanjiang(24.0).run(np.zeros(3), np.zeros(3), table, model.cold_state(table, 1))
    precip = np.array([[0.0, 1.0], [np.nan, 0.0]])
    with pytest.raises(InputDataError, match="precipitation is NaN .* at step 1, cell 0"):
        model.run(precip, np.zeros((2, 2)), table, model.cold_state(table, 2))
    with pytest.raises(InputDataError, match="pet is negative"):
        model.run(np.zeros(2), np.array([0.0, -1.0]), table, model.cold_state(table, 1))


def test_grid_with_parameter_fields_equals_cells_run_alone():
    """One call over a grid with a parameter row per cell equals each cell run as its own lumped basin."""
    rng = np.random.default_rng(5)
    n_cells, n_steps = 12, 60
    precip = rng.gamma(0.4, 3.0, size=(n_steps, n_cells))
    pet = rng.uniform(0.0, 0.3, size=(n_steps, n_cells))
    fields = np.repeat(XAJ_SET[None, :], n_cells, axis=0)
    fields[:, 7] = rng.uniform(10, 60, n_cells)  # SM varies across the grid
    fields[:, 5] = rng.uniform(0.1, 0.8, n_cells)  # so does B
    model = Xinanjiang(1.0 / 6.0)
    table = model.step_table(fields)
    grid_state = model.cold_state(table, n_cells, 0.01)
    grid_q, grid_e = model.run(precip, pet, table, grid_state)
    for c in range(n_cells):
        one = model.step_table(fields[c:c + 1])
        q, e = model.run(precip[:, c], pet[:, c], one, model.cold_state(one, 1, 0.01))
        np.testing.assert_array_equal(grid_q[:, c], q[:, 0])
        assert grid_e[c] == e[0]
