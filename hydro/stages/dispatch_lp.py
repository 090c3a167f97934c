"""The inverse dispatch's linear programme, solved by HiGHS (dual simplex) with lazy rows.

Some rows of the dispatch LP are almost never binding: a reservoir's discharge-capacity cuts (several per
dam and hour, 10,920 of 15,394 inequality rows on the 10,000-segment rehearsal bench, none binding there)
only bind where a schedule would release more than the gates pass at the level reached. They are left out
of the first solve; the solution is checked against them, those it violates are added and HiGHS goes on
from its last basis (a few dual simplex iterations), until none is violated. The answer is the optimum of
the whole LP: it is the optimum of a relaxation (fewer rows) and satisfies every row left out. A rehearsal's
later tries keep the solver (:class:`WarmLP`): only bounds change, and HiGHS goes on from the last basis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: a lazy row counts as violated beyond this (in its own units; the capacity cuts hold 1 m3 s-1 in hand)
LAZY_TOLERANCE = 1e-6
#: HiGHS's dual feasibility tolerance (see :func:`_highs`)
DUAL_TOLERANCE = 1e-10
#: HiGHS's simplex_scale_strategy "max value" and simplex_dual_edge_weight_strategy "devex" (see :func:`_highs`)
SCALE_MAX_VALUE, DUAL_EDGE_DEVEX = 4, 1


@dataclass
class LPSolution:
    status: str  # "optimal", "infeasible" or HiGHS's word for anything else
    x: NDArray[np.float64] | None
    marginals: NDArray[np.float64] | None  # per inequality row (0 for a lazy row never added)
    lazy_added: int = 0  # lazy rows the solution needed
    solves: int = 0
    reduced_costs: NDArray[np.float64] | None = None  # per column


def _highs_core():
    from highspy import _core

    return _core


def _highs():
    """A silent HiGHS instance. The bare binding: ``highspy.Highs()`` writes its banner on standard output
    before any option can silence it, which would corrupt a ``--json`` report."""
    _core = _highs_core()
    h = _core._Highs()
    h.setOptionValue("output_flag", False)
    # the objective's tie-breakers cost 1e-9 per m3 of storage (1e8 m3 and more): at HiGHS's default dual
    # tolerance (1e-7) a re-solve after lazy rows were added stopped 16 units of objective above the optimum (gate
    # changes and drawdown that buy nothing), "optimal" within that tolerance; at 1e-10 it reaches the optimum
    h.setOptionValue("dual_feasibility_tolerance", DUAL_TOLERANCE)
    # scaled by each row's and column's largest value, priced by devex: on the rehearsal bench's LPs (six, min_peak,
    # max_margin and min_storage, 5,000-20,000 segments) 25 % less time in all than equilibration and dual steepest
    # edge (the defaults), the same optima
    h.setOptionValue("simplex_scale_strategy", SCALE_MAX_VALUE)
    h.setOptionValue("simplex_dual_edge_weight_strategy", DUAL_EDGE_DEVEX)
    return h, _core


#: a solution may break a row or bound by this much, relative to the row's scale (right-hand side, at least 1:
#: m3 s-1 or m3), before it is refused
FEASIBILITY_CHECK = 1e-6


def _satisfies(x: NDArray, a_ub, b_ub: NDArray, rows: NDArray, a_eq, b_eq: NDArray, lower: NDArray,
               upper: NDArray) -> bool:
    """Whether ``x`` keeps the rows the solver was given (inequalities in ``rows``, equalities) and the bounds,
    each to :data:`FEASIBILITY_CHECK` of its scale: a guard against a solver that reports 'optimal' for a point
    that is not (seen with HiGHS's user_bound_scale after rows were added)."""
    given = rows[rows >= 0]
    slack = a_ub[given] @ x - b_ub[given]
    if np.any(slack > FEASIBILITY_CHECK * np.maximum(1.0, np.abs(b_ub[given]))):
        return False
    if a_eq is not None and np.any(np.abs(a_eq @ x - b_eq) > FEASIBILITY_CHECK * np.maximum(1.0, np.abs(b_eq))):
        return False
    scale = np.maximum(1.0, np.abs(np.where(np.isfinite(lower), lower, 0.0)))
    below = np.isfinite(lower) & (x < lower - FEASIBILITY_CHECK * scale)
    scale = np.maximum(1.0, np.abs(np.where(np.isfinite(upper), upper, 0.0)))
    above = np.isfinite(upper) & (x > upper + FEASIBILITY_CHECK * scale)
    return not (below.any() or above.any())


class WarmLP:
    """A HiGHS instance kept between solves of LPs of one shape (the same matrix, costs and lazy rows), as the
    rehearsal's tries are when F2 overshot: only right-hand sides and bounds change, so the next solve goes on
    from the last basis (the dual simplex stays dual feasible) instead of from scratch."""

    def __init__(self) -> None:
        self.h = None
        self.shape: tuple | None = None  # what a later LP must equal to reuse the instance
        self.rows: NDArray[np.int64] | None = None  # per HiGHS row: its inequality row, or -1 - its equality row
        self.waiting: NDArray[np.int64] | None = None  # lazy rows not in the model

    @staticmethod
    def shape_of(c, a_ub, lazy, a_eq) -> tuple:
        parts = [c, a_ub.indptr, a_ub.indices, a_ub.data, lazy]
        if a_eq is not None:
            parts += [a_eq.indptr, a_eq.indices, a_eq.data]
        return tuple(np.asarray(p).tobytes() for p in parts)


def solve_lp(c: NDArray, a_ub, b_ub: NDArray, lazy: NDArray[np.bool_], a_eq, b_eq: NDArray | None,
             lower: NDArray, upper: NDArray, warm: WarmLP | None = None) -> LPSolution:
    """Minimise ``c x`` subject to ``a_ub x <= b_ub`` (CSR; rows flagged ``lazy`` added only when violated),
    ``a_eq x = b_eq`` (or None) and ``lower <= x <= upper`` (inf for no bound). ``warm``: the instance of an
    earlier solve, reused when this LP has its shape (:class:`WarmLP`)."""
    import scipy.sparse as sp

    a_ub = sp.csr_matrix(a_ub)
    a_eq = sp.csr_matrix(a_eq) if a_eq is not None else None
    b_ub = np.asarray(b_ub, np.float64)
    b_eq = np.asarray(b_eq, np.float64) if a_eq is not None else np.zeros(0)
    shape = WarmLP.shape_of(c, a_ub, lazy, a_eq) if warm is not None else None
    if warm is not None and warm.h is not None and warm.shape == shape:
        h, core, rows, waiting = warm.h, _highs_core(), warm.rows, warm.waiting
        reused = True  # solved before: its basis is where HiGHS starts
        inf = core.kHighsInf
        hi = np.where(rows >= 0, b_ub[np.maximum(rows, 0)], b_eq[np.maximum(-1 - rows, 0)] if b_eq.size else 0.0)
        lo = np.where(rows >= 0, -inf, hi)
        everything = np.arange(rows.size, dtype=np.int32)
        h.changeRowsBounds(rows.size, everything, lo, hi)
        cols = np.arange(c.size, dtype=np.int32)
        h.changeColsBounds(c.size, cols, np.where(np.isfinite(lower), lower, -inf), np.where(np.isfinite(upper), upper, inf))
    else:
        h, core = _highs()
        reused = False
        inf = core.kHighsInf
        first = np.flatnonzero(~lazy)
        blocks, row_lo, row_hi = [a_ub[first]], [np.full(first.size, -inf)], [b_ub[first]]
        rows = first.astype(np.int64)
        if a_eq is not None:
            blocks.append(a_eq)
            row_lo.append(b_eq)
            row_hi.append(b_eq)
            rows = np.concatenate([rows, -1 - np.arange(a_eq.shape[0])])
        a = sp.vstack(blocks, format="csr")
        lp = core.HighsLp()
        lp.num_col_, lp.num_row_ = c.size, a.shape[0]
        lp.col_cost_ = np.asarray(c, np.float64)
        lp.col_lower_ = np.where(np.isfinite(lower), lower, -inf)
        lp.col_upper_ = np.where(np.isfinite(upper), upper, inf)
        lp.row_lower_, lp.row_upper_ = np.concatenate(row_lo), np.concatenate(row_hi)
        lp.a_matrix_.format_ = core.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(np.float64)
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = c.size, a.shape[0]
        h.passModel(lp)
        waiting = np.flatnonzero(lazy)
    added = 0
    solves = 0
    try:
        while True:
            h.run()
            solves += 1
            status = h.getModelStatus()
            if status not in (core.HighsModelStatus.kOptimal, core.HighsModelStatus.kInfeasible,
                              core.HighsModelStatus.kUnboundedOrInfeasible) and (reused or solves > 1):
                # a re-solve from the last basis can stall on the rows just added (HiGHS: "dual simplex ratio
                # test failed due to excessive dual values"): solve the same LP again from scratch
                h.clearSolver()
                h.run()
                status = h.getModelStatus()
            if status in (core.HighsModelStatus.kInfeasible, core.HighsModelStatus.kUnboundedOrInfeasible):
                return LPSolution("infeasible", None, None, added, solves)
            if status != core.HighsModelStatus.kOptimal:
                return LPSolution(h.modelStatusToString(status), None, None, added, solves)
            x = np.asarray(h.getSolution().col_value, np.float64)
            if not waiting.size:
                break
            violated = waiting[a_ub[waiting] @ x - b_ub[waiting] > LAZY_TOLERANCE]
            if not violated.size:
                break
            new = a_ub[violated]
            h.addRows(violated.size, np.full(violated.size, -inf), b_ub[violated], new.nnz,
                      new.indptr[:-1].astype(np.int32), new.indices.astype(np.int32), new.data.astype(np.float64))
            rows = np.concatenate([rows, violated])
            added += violated.size
            waiting = np.setdiff1d(waiting, violated)
    finally:
        if warm is not None:  # kept (its basis and the lazy rows it took) for the next LP of this shape
            warm.h, warm.shape, warm.rows, warm.waiting = h, shape, rows, waiting
    if not _satisfies(x, a_ub, b_ub, rows, a_eq, b_eq, lower, upper):  # never act on a point that breaks the LP
        return LPSolution("numerical trouble: the solver's point breaks rows of the LP", None, None, added, solves)
    solution = h.getSolution()
    duals = np.asarray(solution.row_dual, np.float64)
    marginals = np.zeros(a_ub.shape[0])
    on_ub = rows >= 0
    marginals[rows[on_ub]] = duals[on_ub]
    return LPSolution("optimal", x, marginals, added, solves, np.asarray(solution.col_dual, np.float64))
