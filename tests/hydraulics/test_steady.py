"""Standard-step steady profiles against MacDonald-type exact solutions (SWASHES forms)."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.hydraulics.boundaries import Downstream
from hydro.hydraulics.sections import Reach
from hydro.hydraulics.steady import steady_profile

from .cases import START, series, subcritical_case, supercritical_case


def l1(depth, exact):
    return float(np.abs(depth - exact).sum() / np.abs(exact).sum())


@pytest.mark.parametrize("nodes", [26, 101])
def test_subcritical_macdonald_profile(nodes):
    """Measured: 0.010 % (26 nodes, 200 m), 0.0017 % (101 nodes, 50 m); the issue asks 0.5 %."""
    (sections, _, h), q = subcritical_case(nodes)
    reach = Reach(sections, max_dx=1e9)
    outlet = Downstream("stage", series=series([0, 1], [sections[-1].thalweg + h[-1]] * 2, "water_level_m"))
    profile = steady_profile(reach, np.full(reach.size, q), outlet, START)
    assert profile.critical_nodes == 0
    assert l1(profile.depth, h) < (1e-3 if nodes == 26 else 1e-4)


@pytest.mark.parametrize("nodes", [26, 101])
def test_supercritical_macdonald_profile(nodes):
    """Marching downstream from the exact upstream level; measured 0.017 % / 0.011 % (the table's 2 cm stage
    step on a 0.4 m deep flow dominates at fine spacing)."""
    (sections, _, h), q = supercritical_case(nodes)
    reach = Reach(sections, max_dx=1e9)
    profile = steady_profile(reach, np.full(reach.size, q), None, START, "supercritical", sections[0].thalweg + h[0])
    assert profile.critical_nodes == 0
    assert l1(profile.depth, h) < 1e-3


def test_normal_depth_outlet_and_critical_depth_where_no_subcritical_root():
    """A uniform channel gives normal depth everywhere; a reach far too steep for subcritical flow falls
    back to critical depth (counted), as HEC-RAS does."""
    from .cases import trapezoid

    flat = [trapezoid(f"s{k}", 500.0 * k, 10.0 - 1e-4 * 500 * k, 20.0, 1.0, 0.03) for k in range(11)]
    reach = Reach(flat, max_dx=500.0)
    profile = steady_profile(reach, np.full(reach.size, 40.0), Downstream("normal"), START)
    np.testing.assert_allclose(profile.depth, profile.depth[-1], rtol=1e-6)
    steep = [trapezoid(f"s{k}", 500.0 * k, 100.0 - 0.05 * 500 * k, 20.0, 1.0, 0.03) for k in range(11)]
    reach = Reach(steep, max_dx=500.0)
    profile = steady_profile(reach, np.full(reach.size, 40.0), Downstream("normal", slope=1e-4), START)
    assert profile.critical_nodes == reach.size - 1
