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


def test_mixed_regime_puts_the_jump_at_the_foot_of_a_chute():
    """Mild - 2 km chute at 2 % - mild: the subcritical march finds no root on the chute (critical depth
    there); the mixed regime runs supercritical down the chute towards its normal depth (Manning) and
    jumps to the subcritical tailwater where the tailwater's specific force is the larger."""
    from scipy.optimize import brentq

    from .cases import trapezoid

    beds = np.concatenate([100 - 2e-4 * np.arange(0, 3001, 500), 99.4 - 0.02 * np.arange(500, 2001, 500),
                           59.4 - 2e-4 * np.arange(500, 3001, 500)])
    sections = [trapezoid(f"s{k}", 500.0 * k, float(z), 15.0, 1.5, 0.03) for k, z in enumerate(beds)]
    reach = Reach(sections, max_dx=100.0)
    profile = steady_profile(reach, np.full(reach.size, 40.0), Downstream("normal"), START, "mixed")
    chute = (reach.chainage > 3000) & (reach.chainage < 5000)  # below the critical control at its top
    assert profile.supercritical_nodes == chute.sum()
    props = reach.properties(profile.water_level)
    froude = 40.0 / props["area"] / np.sqrt(9.81 * props["area"] / props["top_width"])
    assert (froude[chute] > 1.1).all() and (froude[reach.chainage >= 5000] < 0.3).all()
    manning = lambda h: h * (15 + 1.5 * h) * (h * (15 + 1.5 * h) / (15 + 2 * h * np.sqrt(3.25))) ** (2 / 3) / 0.03 \
        * np.sqrt(0.02) - 40.0  # noqa: E731
    assert profile.depth[chute][-1] == pytest.approx(brentq(manning, 0.1, 3.0), rel=0.02)


@pytest.mark.parametrize("kind", ["subcritical", "supercritical"])
def test_swashes_macdonald_forms_near_critical_in_mixed_regime(kind):
    """The SWASHES forms proper, critical at the ends: the default mixed regime (normal depth at the outlet
    for the supercritical one, which the mixed march never needs) gives both within 0.5 %; measured
    0.007 % and 0.006 % at 10 m spacing."""
    from .cases import swashes_classic

    (sections, _, h), q = swashes_classic(kind, 101)
    reach = Reach(sections, max_dx=1e9)
    outlet = Downstream("stage", series=series([0, 1], [sections[-1].thalweg + h[-1]] * 2, "water_level_m")) \
        if kind == "subcritical" else Downstream("normal")
    profile = steady_profile(reach, np.full(reach.size, q), outlet, START, "mixed")
    assert l1(profile.depth, h) < 5e-4
