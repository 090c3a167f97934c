"""Diffusive-wave main-stem kernel against Hayami's analytical solution and conservation of mass."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.kernels.hydraulics import diffusive_wave

B, N, S0, Q0 = 50.0, 0.03, 1e-4, 100.0
H0 = (Q0 * N / (B * np.sqrt(S0))) ** 0.6  # normal depth of the base flow


def _run(inflow, dx, n_cells, hours, probe=None, lateral=None):
    depth = np.full(n_cells, H0)
    outflow = np.empty(hours * 6)
    stage = np.empty((hours * 6, n_cells))
    volume = np.zeros(3)
    v0 = depth.sum() * B * dx
    bed = -S0 * dx * np.arange(n_cells)
    lateral = np.zeros((len(inflow), n_cells)) if lateral is None else lateral
    status = diffusive_wave(depth, bed, inflow, lateral, 600.0, dx, B, N, S0, hours * 6, 600.0, outflow, stage,
                            volume, n_cells if probe is None else probe)
    assert status == 0
    return outflow, stage, volume, depth.sum() * B * dx - v0


def test_steady_flow_stays_at_normal_depth():
    outflow, stage, _, change = _run(np.full(200, Q0), 500.0, 40, 6)
    np.testing.assert_allclose(outflow, Q0, rtol=1e-9)
    np.testing.assert_allclose(stage, H0, rtol=1e-9)


def test_mass_balance_to_round_off():
    """Upstream hydrograph plus two tributaries entering mid-reach: storage change = in - out."""
    t = np.arange(200) * 600.0
    inflow = Q0 + 400.0 * np.exp(-0.5 * ((t - 4 * 3600) / 3000.0) ** 2)
    lateral = np.zeros((200, 60))
    lateral[:, 20] = 150.0 * np.exp(-0.5 * ((t - 6 * 3600) / 2000.0) ** 2)
    lateral[:, 45] = 60.0
    _, _, volume, change = _run(inflow, 500.0, 60, 24, lateral=lateral)
    assert change == pytest.approx(volume[0] - volume[1], rel=1e-9, abs=1e-6 * volume[0])


def test_small_wave_follows_hayami():
    """Linear limit: celerity c = 5/3 v0, diffusivity D = Q0 / (2 B S0). The outflow perturbation equals
    the inflow perturbation convolved with Hayami's kernel L / (2 sqrt(pi D t^3)) exp(-(L - c t)^2 / (4 D t))."""
    dx, n_cells, hours = 250.0, 120, 24
    length = dx * n_cells
    t = np.arange(hours * 6 + 1) * 600.0
    pulse = 3.0 * np.exp(-0.5 * ((t - 3 * 3600) / 1800.0) ** 2)
    # the reach runs on to 2 L so the normal-depth outlet condition cannot act on the wave at L
    outflow, _, _, _ = _run(Q0 + pulse, dx, 2 * n_cells, hours, probe=n_cells)
    v0 = Q0 / (B * H0)
    c, d = 5.0 / 3.0 * v0, Q0 / (2.0 * B * S0)
    tau = np.arange(1, 24 * 360 + 1) * 10.0  # 10 s kernel resolution
    kernel = length / (2.0 * np.sqrt(np.pi * d * tau**3)) * np.exp(-((length - c * tau) ** 2) / (4.0 * d * tau))
    fine_t = np.arange(0, t[-1] + 10.0, 10.0)
    fine_in = np.interp(fine_t, t, pulse)
    analytic = np.convolve(fine_in, kernel)[: fine_t.size] * 10.0
    expected = np.interp(t[1:], fine_t, analytic)
    numeric = outflow - Q0
    assert abs(int(np.argmax(numeric)) - int(np.argmax(expected))) <= 1  # peak within one 10-minute output
    assert numeric.max() == pytest.approx(expected.max(), rel=0.01)  # measured 0.2 %
    assert np.abs(numeric - expected).max() < 0.02 * expected.max()  # measured 1.1 %


def test_macdonald_type_steady_profile():
    """MacDonald-type benchmark: choose a smooth depth profile h(x), derive the bed that makes it the exact
    steady diffusive-wave solution for Q (S_f(x) = (Q n / (B h^(5/3)))^2 = -d(z + h)/dx), start flat and
    run to steady state; the computed depths must return to h(x)."""
    n_cells, dx, q = 200, 100.0, 80.0
    x = (np.arange(n_cells) + 0.5) * dx
    h_exact = 2.0 + 0.6 * np.exp(-((x - 8000.0) / 3000.0) ** 2)
    friction = (q * N / (B * h_exact ** (5.0 / 3.0))) ** 2
    # integrate d(z + h)/dx = -S_f between cell centres (trapezoid), then z = surface - h
    surface = np.concatenate([[10.0], 10.0 - np.cumsum(0.5 * (friction[1:] + friction[:-1]) * dx)])
    bed = surface - h_exact
    outlet_slope = friction[-1]  # normal depth at the outlet = the exact depth there
    depth = np.full(n_cells, 2.0)
    hours = 48
    outflow, stage, volume = np.empty(hours * 6), np.empty((hours * 6, n_cells)), np.zeros(3)
    status = diffusive_wave(depth, bed, np.full(hours * 6 + 1, q), np.zeros((hours * 6 + 1, n_cells)), 600.0, dx, B,
                            N, outlet_slope, hours * 6, 600.0, outflow, stage, volume, n_cells)
    assert status == 0
    assert outflow[-1] == pytest.approx(q, rel=1e-4)
    assert np.abs(depth - h_exact).max() < 0.01  # measured 0.004 m; upwind face depths are first order in dx
