"""The inverse dispatch LP with lazy rows (hydro.stages.dispatch_lp): the optimum of the whole LP, silently."""

import numpy as np
import scipy.sparse as sp

import hydro.stages.rehearsal as rehearsal
from hydro.stages.dispatch_lp import solve_lp
from hydro.synthetic import synthetic_dam_basin


def test_a_lazy_row_is_added_when_the_solution_breaks_it(capfd):
    """min -x - y with x <= 4, y <= 8 and x + y <= 10 left lazy: the first solve (x + y = 12) breaks the lazy row,
    which is added; the answer is the whole LP's (-10), with the lazy row's dual. HiGHS writes nothing on stdout."""
    a_ub = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    out = solve_lp(np.array([-1.0, -1.0]), a_ub, np.array([4.0, 8.0, 10.0]), np.array([False, False, True]), None, None,
                   np.zeros(2), np.full(2, np.inf))
    assert out.status == "optimal" and out.lazy_added == 1 and out.solves == 2
    assert np.isclose(out.x.sum(), 10.0) and np.all(out.x <= [4.0 + 1e-9, 8.0 + 1e-9])
    assert np.isclose(out.marginals[2], -1.0)
    infeasible = solve_lp(np.array([1.0]), sp.csr_matrix(np.array([[1.0]])), np.array([3.0]), np.array([False]),
                          sp.csr_matrix(np.array([[1.0]])), np.array([5.0]), np.zeros(1), np.full(1, np.inf))
    assert infeasible.status == "infeasible" and infeasible.x is None
    assert capfd.readouterr().out == ""


def _targets_out_of_reach():
    """A 600-segment basin with 4 dams whose sections must stay at 60 % of their F1 peaks: the dams press on
    their limits, and F2 overshoots the linearisation."""
    case = synthetic_dam_basin(600, 4, 24, seed=1)
    f1 = rehearsal.forward(case.network, case.basin, case.lateral, case.times)
    sections = [s.model_copy(update={"safe_discharge": round(0.6 * float(f1.section_discharge[s.id].max()), 1)})
                for s in case.basin.control_sections]
    return case, case.basin.model_copy(update={"control_sections": sections})


def test_the_dispatch_lp_with_lazy_capacity_cuts_is_the_whole_lps_optimum(monkeypatch):
    """A rehearsal whose schedule presses on the dams' discharge capacity (pre-release, storage minimised, targets
    out of reach): the capacity cuts the first solve broke are added, and the answer has the objective of the LP
    solved with every row from the start and breaks none of its rows."""
    case, basin = _targets_out_of_reach()
    calls = []

    def spy(*args):
        calls.append((args, solve_lp(*args)))
        return calls[-1][1]

    monkeypatch.setattr(rehearsal, "solve_lp", spy)
    rehearsal.rehearse(case.network, basin, case.lateral, case.times, objective="min_storage", pre_release=True)
    (c, a_ub, b_ub, lazy, a_eq, b_eq, lower, upper, _), lazy_out = calls[0]
    assert lazy.sum() > 100 and lazy_out.lazy_added > 0 and lazy_out.status == "optimal"
    whole = solve_lp(c, a_ub, b_ub, np.zeros_like(lazy), a_eq, b_eq, lower, upper)
    assert abs(c @ lazy_out.x - c @ whole.x) <= 1e-7 * max(1.0, abs(c @ whole.x))
    x = lazy_out.x
    assert np.all(a_ub @ x - b_ub <= 1e-6)
    assert np.allclose(a_eq @ x, b_eq, rtol=1e-9, atol=1e-3)  # storage balances in m3
    assert np.all(x >= lower - 1e-7) and np.all(x <= upper + 1e-7)


def test_a_rehearsals_later_tries_go_on_from_the_last_basis(monkeypatch):
    """When F2 overshoots, the next try's LP differs only by right-hand sides and bounds: it reuses the solver
    (dispatch_lp.WarmLP) and reaches the optimum a solve from scratch gives."""
    case, basin = _targets_out_of_reach()
    tries = []

    def spy(*args):
        warm = args[8]
        reused = warm.h is not None
        out = solve_lp(*args)
        cold = solve_lp(*args[:8])
        tries.append((reused, args[0] @ out.x, args[0] @ cold.x))
        return out

    monkeypatch.setattr(rehearsal, "solve_lp", spy)
    out = rehearsal.rehearse(case.network, basin, case.lateral, case.times, objective="max_margin")
    assert out.iterations >= 3 and len(tries) == out.iterations
    assert [reused for reused, *_ in tries] == [False] + [True] * (len(tries) - 1)
    for _, warm_objective, cold_objective in tries:
        assert abs(warm_objective - cold_objective) <= 1e-7 * max(1.0, abs(cold_objective))


def test_a_point_that_breaks_the_lp_is_never_passed_on_as_optimal():
    """The guard behind every 'optimal': the point must keep the rows the solver was given and the bounds."""
    import scipy.sparse as sp

    from hydro.stages.dispatch_lp import _satisfies

    a_ub, b_ub = sp.csr_matrix(np.array([[1.0, 1.0]])), np.array([10.0])  # x + y <= 10
    a_eq, b_eq = sp.csr_matrix(np.array([[1.0, -1.0]])), np.array([0.0])  # x = y
    lower, upper, rows = np.zeros(2), np.array([8.0, np.inf]), np.array([0])
    assert _satisfies(np.array([5.0, 5.0]), a_ub, b_ub, rows, a_eq, b_eq, lower, upper)
    assert not _satisfies(np.array([6.0, 6.0]), a_ub, b_ub, rows, a_eq, b_eq, lower, upper)  # x + y = 12
    assert not _satisfies(np.array([4.0, 5.0]), a_ub, b_ub, rows, a_eq, b_eq, lower, upper)  # x != y
    assert not _satisfies(np.array([-1.0, -1.0]), a_ub, b_ub, rows, a_eq, b_eq, lower, upper)  # below 0
    assert _satisfies(np.array([6.0, 6.0]), a_ub, b_ub, np.array([], np.int64), a_eq, b_eq, lower, upper)  # row not given
