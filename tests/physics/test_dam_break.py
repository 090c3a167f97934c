"""Dynamic wave against the classic dam-break solutions: Ritter (dry bed) and Stoker (wet bed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from hydro.kernels.hydraulics import G, dynamic_wave


def _grid(n=2000, length=2000.0):
    dx = length / n
    x = (np.arange(n) + 0.5) * dx - length / 2.0  # dam at x = 0
    return x, dx


def test_ritter_dry_bed():
    """Ritter (1892): h = (2 c0 - x / t)^2 / (9 g) for -c0 t <= x <= 2 c0 t, with c0 = sqrt(g h0)."""
    h0, t_end = 10.0, 30.0
    x, dx = _grid()
    h = np.where(x < 0, h0, 0.0)
    q = np.zeros_like(h)
    dynamic_wave(h, q, dx, t_end, 0.45, G, 1e-8)
    c0 = np.sqrt(G * h0)
    exact = np.where(x < -c0 * t_end, h0, np.clip(2 * c0 - x / t_end, 0.0, None) ** 2 / (9 * G))
    exact[x > 2 * c0 * t_end] = 0.0
    inner = (x > -c0 * t_end + 20) & (x < 2 * c0 * t_end - 150)  # away from the corners and the wet front
    assert np.abs(h - exact)[inner].max() < 0.015 * h0  # measured 0.0098 h0
    assert h.sum() * dx == pytest.approx(h0 * 1000.0, rel=1e-9)  # mass, nothing reached the ends


def _stoker(h0, h1):
    """Middle depth h2, velocity u2 and bore speed of the wet-bed dam break (Stoker 1957): the
    rarefaction gives u2 = 2 (c0 - c2), the bore into still water h1 gives
    u2 = (h2 - h1) sqrt(g (h2 + h1) / (2 h2 h1)); mass across the bore gives its speed."""
    c0 = np.sqrt(G * h0)
    h2 = brentq(lambda h2: 2 * (c0 - np.sqrt(G * h2)) - (h2 - h1) * np.sqrt(0.5 * G * (h2 + h1) / (h2 * h1)),
                h1 * (1 + 1e-9), h0)
    u2 = 2 * (c0 - np.sqrt(G * h2))
    return h2, u2, h2 * u2 / (h2 - h1)


def test_stoker_wet_bed():
    h0, h1, t_end = 10.0, 1.0, 30.0
    x, dx = _grid()
    h = np.where(x < 0, h0, h1)
    q = np.zeros_like(h)
    dynamic_wave(h, q, dx, t_end, 0.45, G, 1e-8)
    h2, u2, shock = _stoker(h0, h1)
    c0, c2 = np.sqrt(G * h0), np.sqrt(G * h2)
    plateau = (x > (u2 - c2) * t_end + 20) & (x < shock * t_end - 20)
    assert np.abs(h[plateau] - h2).max() < 0.001 * h0  # measured 0.00044 h0
    front = x[np.argmax(h < 0.5 * (h2 + h1))]  # where the bore is
    assert front == pytest.approx(shock * t_end, abs=2 * dx)
    rare = (x > -c0 * t_end + 20) & (x < (u2 - c2) * t_end - 20)
    exact = (2 * c0 - x[rare] / t_end) ** 2 / (9 * G)
    assert np.abs(h[rare] - exact).max() < 0.02 * h0
