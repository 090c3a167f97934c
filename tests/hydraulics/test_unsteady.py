"""The Preissmann solver: steady states (MacDonald-type profile, standard step), conservation of mass,
mixed flow on a steep reach, and a step that cannot converge."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.cli.hydraulics import synthetic_reach
from hydro.core.errors import NumericalError
from hydro.hydraulics.boundaries import Downstream, Lateral
from hydro.hydraulics.sections import Reach
from hydro.hydraulics.steady import steady_profile
from hydro.hydraulics.unsteady import SaintVenant, SolverOptions

from .cases import START, series, subcritical_case, trapezoid


def test_unsteady_solver_reaches_the_macdonald_profile():
    """Start from the steady profile of half the flow, ramp to the full flow, hold: the run settles on
    the exact depth profile (L1 within 0.5 %; measured 0.002 %) with Q uniform."""
    (sections, _, h), q = subcritical_case(101)
    reach = Reach(sections, max_dx=1e9)
    outlet = Downstream("stage", series=series([0, 12], [sections[-1].thalweg + h[-1]] * 2, "water_level_m"))
    result = SaintVenant(reach, SolverOptions(dt=60.0, output_interval=600.0)).run(
        series([0, 1, 8], [q / 2, q, q]), outlet)
    assert np.abs(result.depth[-1] - h).sum() / h.sum() < 1e-3
    np.testing.assert_allclose(result.discharge[-1], q, rtol=1e-5)


@pytest.fixture(scope="module")
def compound_reach():
    """12 irregular compound sections 500 m apart (channel, floodplains from 5.2 m), nodes every 250 m."""
    return Reach(synthetic_reach(12), max_dx=250.0)


def test_standard_step_equals_the_unsteady_solver_at_steady_state(compound_reach):
    """Overbank flow (1,500 m3/s) on irregular compound sections with interpolated nodes: the unsteady run,
    started at 800 m3/s, settles within 1 cm of the standard-step profile on 8 m of water (measured 6.6 mm:
    energy form with alpha vs momentum form with beta across abrupt changes of section)."""
    q = 1500.0
    outlet = Downstream("normal", slope=2e-4)
    result = SaintVenant(compound_reach, SolverOptions(dt=120.0, output_interval=3600.0)).run(
        series([0, 2, 30], [800.0, q, q]), outlet)
    steady = steady_profile(compound_reach, np.full(compound_reach.size, q), outlet, START)
    assert (result.depth[-1] > 5.3).any()  # the floodplains are wet
    np.testing.assert_allclose(result.discharge[-1], q, rtol=1e-5)
    assert np.abs(result.water_level[-1] - steady.water_level).max() < 0.01


def test_mass_balance_with_lateral_inflow_and_a_rating(compound_reach):
    """A flood wave onto the floodplains and out again, two tributaries, a rating at the outlet:
    inflow + lateral - outflow = storage change within 1e-6 relative (measured ~1e-12)."""
    hours = np.arange(0, 25.0, 0.5)
    upstream = series(hours, 400.0 + 1600.0 * np.exp(-0.5 * ((hours - 8) / 2.5) ** 2))
    times = upstream.time
    lateral = Lateral(times, np.array([1200.0, 4100.0]),
                      np.stack([50 + 300 * np.exp(-0.5 * ((hours - 10) / 2) ** 2), np.full(hours.size, 30.0)], 1), "test")
    levels = compound_reach.thalweg[-1] + np.linspace(0.5, 10.0, 40)
    rating = Downstream("rating", level=levels, discharge=np.array(
        [float(compound_reach.properties(np.full(compound_reach.size, z))["conveyance"][-1]) * np.sqrt(2e-4)
         for z in levels]), source="test")
    result = SaintVenant(compound_reach, SolverOptions(dt=30.0, output_interval=1800.0)).run(upstream, rating, lateral)
    mb = result.mass_balance
    assert mb["lateral_volume_m3"] > 0.1 * mb["inflow_volume_m3"]
    assert abs(mb["mass_balance_relative_error"]) < 1e-6
    assert result.discharge[:, -1].max() < upstream.values.max() + 350  # attenuated by the floodplain storage


def test_steep_reach_runs_through_mixed_flow():
    """A mild reach running onto a 2 km chute at 2 % (the outlet at its end): supercritical in the chute
    (Fr up to 1.4), subcritical above. LPI drops the inertia terms where Fr >= 1, so the run goes through a
    flood wave without stopping, from an initial profile with critical depth in the chute, and ends with Q
    uniform and mass conserved."""
    beds = np.concatenate([100 - 2e-4 * np.arange(0, 3001, 500), 99.4 - 0.02 * np.arange(500, 2001, 500)])
    sections = [trapezoid(f"s{k}", 500.0 * k, float(z), 15.0, 1.5, 0.03) for k, z in enumerate(beds)]
    reach = Reach(sections, max_dx=100.0)
    hours = np.arange(0, 13.0, 0.5)
    result = SaintVenant(reach, SolverOptions(dt=20.0, output_interval=600.0)).run(
        series(hours, 40 + 160 * np.exp(-0.5 * ((hours - 4) / 1.5) ** 2)), Downstream("normal"))
    props = reach.properties(result.water_level[-1])
    froude = result.discharge[-1] / props["area"] / np.sqrt(9.81 * props["area"] / props["top_width"])
    assert froude.max() > 1.2 and froude.min() < 0.3
    np.testing.assert_allclose(result.discharge[-1], 40.0, rtol=1e-4)
    assert abs(result.mass_balance["mass_balance_relative_error"]) < 1e-6


def test_a_step_that_cannot_converge_names_where_and_when():
    sections = [trapezoid(f"s{k}", 1000.0 * k, 10 - 1e-3 * k, 10.0, 1.0, 0.03) for k in range(6)]
    reach = Reach(sections, max_dx=1000.0)
    solver = SaintVenant(reach, SolverOptions(dt=600.0, output_interval=600.0, max_iterations=1, max_halvings=0,
                                              tol_level=1e-14, tol_discharge=1e-16))
    with pytest.raises(NumericalError, match=r"did not converge .*\(chainage \d+ m\) at 2026-07-01T00:10:00Z"):
        solver.run(series([0, 1, 2], [10.0, 300.0, 10.0]), Downstream("normal"))


def test_hydraulic_jump_below_a_chute_settles():
    """A 2 km chute at 2 % between two mild reaches: the flow leaves the chute supercritical (Fr 1.6) and
    jumps to the subcritical flow below. With the default LPI the run goes through the flood wave, the jump
    settles, and discharge is uniform through it at the end (the wave's tail still recedes downstream)."""
    beds = np.concatenate([100 - 2e-4 * np.arange(0, 3001, 500), 99.4 - 0.02 * np.arange(500, 2001, 500),
                           59.4 - 2e-4 * np.arange(500, 3001, 500)])
    sections = [trapezoid(f"s{k}", 500.0 * k, float(z), 15.0, 1.5, 0.03) for k, z in enumerate(beds)]
    reach = Reach(sections, max_dx=100.0)
    hours = np.arange(0, 13.0, 0.5)
    result = SaintVenant(reach, SolverOptions(dt=20.0, output_interval=600.0)).run(
        series(hours, 40 + 160 * np.exp(-0.5 * ((hours - 4) / 1.5) ** 2)), Downstream("normal"))
    props = reach.properties(result.water_level[-1])
    froude = result.discharge[-1] / props["area"] / np.sqrt(9.81 * props["area"] / props["top_width"])
    assert froude.max() > 1.4 and froude[-1] < 0.4
    np.testing.assert_allclose(result.discharge[-1], 40.0, rtol=0.005)
    assert abs(result.mass_balance["mass_balance_relative_error"]) < 1e-6


def _structure_reach(structure):
    sections = [trapezoid(f"s{k}", 2500.0 * k, 20 - 5e-4 * 2500 * k, 20.0, 2.0, 0.03, height=20.0) for k in range(5)]
    return Reach(sections, max_dx=250.0, structures=[structure])


def test_internal_weir():
    """A broad weir 4.7 km down (crest 2.3 m above the local bed): at the start the upstream level is the
    weir head for the flow given the level below (Villemonte submergence), Q passes it unchanged, mass is
    conserved with a tributary beside it, and after the flood the head again matches the weir law."""
    from hydro.hydraulics.sections import Structure
    from hydro.kernels.saint_venant import weir_flow

    reach = _structure_reach(Structure("weir", 4700.0, "weir", crest=17.8, width=20.0, coefficient=1.7, source="t"))
    j = int(np.flatnonzero(reach.reach_kind)[0])
    assert reach.chainage[j + 1] - reach.chainage[j] == pytest.approx(1.0)
    hours = np.arange(0, 25.0, 0.5)
    upstream = series(hours, 30 + 100 * np.exp(-0.5 * ((hours - 6) / 2) ** 2))
    lateral = Lateral(upstream.time, np.array([4700.0]), np.full((hours.size, 1), 5.0), "t")
    result = SaintVenant(reach, SolverOptions(dt=30.0, output_interval=1800.0)).run(upstream, Downstream("normal"), lateral)
    assert abs(result.mass_balance["mass_balance_relative_error"]) < 1e-6
    for k in (0, -1):
        z1, z2 = result.water_level[k, j], result.water_level[k, j + 1]
        assert result.discharge[k, j] == pytest.approx(result.discharge[k, j + 1], rel=1e-9)
        assert weir_flow(z1, z2, 17.8, 34.0) == pytest.approx(result.discharge[k, j], rel=1e-6)
        assert z1 > 17.8 + (result.discharge[k, j] / 34.0) ** (2 / 3) - 1e-9  # free flow or drowned, never less


def test_internal_gate_releases_its_schedule_and_stores_the_rest():
    """A gated dam releasing 10 m3/s while 30-130 m3/s arrive: the release is the schedule, and the reach
    above fills by exactly inflow - release (mass balance within 1e-6)."""
    from hydro.hydraulics.sections import Structure

    hours = np.arange(0, 25.0, 0.5)
    upstream = series(hours, 30 + 100 * np.exp(-0.5 * ((hours - 6) / 2) ** 2))
    gate = Structure("dam", 4700.0, "gate", release_time=upstream.time[[0, -1]], release=np.array([10.0, 10.0]),
                     initial_level=19.0, source="t")
    reach = _structure_reach(gate)
    j = int(np.flatnonzero(reach.reach_kind)[0])
    result = SaintVenant(reach, SolverOptions(dt=30.0, output_interval=1800.0)).run(upstream, Downstream("normal"))
    np.testing.assert_allclose(result.discharge[1:, j], 10.0, rtol=1e-9)
    np.testing.assert_allclose(result.discharge[1:, j + 1], 10.0, rtol=1e-9)
    assert np.all(np.diff(result.water_level[:, j]) > 0)  # the pond rises
    assert abs(result.mass_balance["mass_balance_relative_error"]) < 1e-6


def test_near_critical_subcritical_profile_by_default():
    """SWASHES's own subcritical MacDonald form (Fr up to 0.99 at the ends). The default (full inertia with the
    transcritical treatment) settles on it (L1 0.007 %, as --inertia full); LPI (sigma = 1 - Fr^4) drops most
    of the inertia near Fr 1 and settles 0.54 % off, which docs/hydraulics.md states."""
    from .cases import swashes_classic

    (sections, _, h), q = swashes_classic("subcritical", 101)
    reach = Reach(sections, max_dx=1e9)
    outlet = Downstream("stage", series=series([0, 4], [sections[-1].thalweg + h[-1]] * 2, "water_level_m"))
    inflow = series([0, 0.5, 3], [0.8 * q, q, q])
    default = SaintVenant(reach, SolverOptions(dt=5.0, output_interval=600.0)).run(inflow, outlet)
    assert np.abs(default.depth[-1] - h).sum() / h.sum() < 1e-3
    lpi = SaintVenant(reach, SolverOptions(dt=5.0, output_interval=600.0, inertia="lpi")).run(inflow, outlet)
    assert 2e-3 < np.abs(lpi.depth[-1] - h).sum() / h.sum() < 1e-2


def test_near_critical_reach_into_backwater_settles_without_oscillation():
    """A 4 km reach at 1 % (Fr 1.0) against a 52 m stage (a drowned jump where the near-critical flow meets
    the backwater), a flood through it: by default (transcritical treatment) the discharge is back to the
    base flow at every node after 24 h (measured 0.0 %); LPI (m = 4) keeps a node-to-node oscillation of
    8.2 % there (docs/hydraulics.md, "Not yet")."""
    mouth = 46.0
    steep = [trapezoid(f"t{k}", 500.0 * k, mouth + 0.01 * (4000 - 500.0 * k), 8.0, 1.5, 0.03) for k in range(9)]
    reach = Reach(steep, max_dx=100.0)
    hours = np.arange(0, 25.0, 0.5)
    inflow = series(hours, 30 + 120 * np.exp(-0.5 * ((hours - 4) / 1.5) ** 2))
    stage = Downstream("stage", series=series([0, 25], [52.0, 52.0], "water_level_m"))
    result = SaintVenant(reach, SolverOptions(dt=20.0, output_interval=600.0)).run(inflow, stage)
    np.testing.assert_allclose(result.discharge[-1], 30.0, rtol=1e-3)
    assert result.stats["steps_retried"] == 0
    assert abs(result.mass_balance["mass_balance_relative_error"]) < 1e-6
    lpi = SaintVenant(reach, SolverOptions(dt=20.0, output_interval=600.0, inertia="lpi")).run(inflow, stage)
    assert np.abs(lpi.discharge[-1] / 30.0 - 1).max() > 0.02
