"""The inverse dispatch's linear programme, solved by HiGHS (dual simplex) with lazy rows.

Some rows of the dispatch LP are almost never binding: a reservoir's discharge-capacity cuts (several per
dam and hour, 10,920 of 15,394 inequality rows on the 10,000-segment rehearsal bench, none binding there)
only bind where a schedule would release more than the gates pass at the level reached. They are left out
of the first solve; the solution is checked against them, those it violates are added and HiGHS goes on
from its last basis (a few dual simplex iterations), until none is violated. The answer is the optimum of
the whole LP: it is the optimum of a relaxation (fewer rows) and satisfies every row left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: a lazy row counts as violated beyond this (in its own units; the capacity cuts hold 1 m3 s-1 in hand)
LAZY_TOLERANCE = 1e-6
DUAL_TOLERANCE = 1e-10


@dataclass
class LPSolution:
    status: str  # "optimal", "infeasible" or HiGHS's word for anything else
    x: NDArray[np.float64] | None
    marginals: NDArray[np.float64] | None  # per inequality row (0 for a lazy row never added)
    lazy_added: int = 0  # lazy rows the solution needed
    solves: int = 0


def _highs():
    """A silent HiGHS instance. The bare binding: ``highspy.Highs()`` writes its banner on standard output
    before any option can silence it, which would corrupt a ``--json`` report."""
    from highspy import _core

    h = _core._Highs()
    h.setOptionValue("output_flag", False)
    # the objective's tie-breakers cost 1e-9 per m3 of storage (1e8 m3 and more): at HiGHS's default dual
    # tolerance (1e-7) a re-solve after lazy rows were added stopped 16 units of objective above the optimum (gate
    # changes and drawdown that buy nothing), "optimal" within that tolerance; at 1e-10 it reaches the optimum
    h.setOptionValue("dual_feasibility_tolerance", DUAL_TOLERANCE)
    return h, _core


def solve_lp(c: NDArray, a_ub, b_ub: NDArray, lazy: NDArray[np.bool_], a_eq, b_eq: NDArray | None,
             lower: NDArray, upper: NDArray) -> LPSolution:
    """Minimise ``c x`` subject to ``a_ub x <= b_ub`` (CSR; rows flagged ``lazy`` added only when violated),
    ``a_eq x = b_eq`` (or None) and ``lower <= x <= upper`` (inf for no bound)."""
    import scipy.sparse as sp

    h, core = _highs()
    inf = core.kHighsInf
    a_ub = sp.csr_matrix(a_ub)
    first = np.flatnonzero(~lazy)
    blocks, row_lo, row_hi = [a_ub[first]], [np.full(first.size, -inf)], [np.asarray(b_ub, np.float64)[first]]
    n_eq = 0
    if a_eq is not None:
        n_eq = a_eq.shape[0]
        blocks.append(sp.csr_matrix(a_eq))
        row_lo.append(np.asarray(b_eq, np.float64))
        row_hi.append(np.asarray(b_eq, np.float64))
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
    added: list[NDArray[np.int64]] = []
    solves = 0
    while True:
        h.run()
        solves += 1
        status = h.getModelStatus()
        if status in (core.HighsModelStatus.kInfeasible, core.HighsModelStatus.kUnboundedOrInfeasible):
            return LPSolution("infeasible", None, None, sum(b.size for b in added), solves)
        if status != core.HighsModelStatus.kOptimal:
            return LPSolution(h.modelStatusToString(status), None, None, sum(b.size for b in added), solves)
        x = np.asarray(h.getSolution().col_value, np.float64)
        if not waiting.size:
            break
        violated = waiting[a_ub[waiting] @ x - b_ub[waiting] > LAZY_TOLERANCE]
        if not violated.size:
            break
        rows = a_ub[violated]
        h.addRows(violated.size, np.full(violated.size, -inf), np.asarray(b_ub, np.float64)[violated], rows.nnz,
                  rows.indptr[:-1].astype(np.int32), rows.indices.astype(np.int32), rows.data.astype(np.float64))
        added.append(violated)
        waiting = np.setdiff1d(waiting, violated)
    duals = np.asarray(h.getSolution().row_dual, np.float64)
    marginals = np.zeros(a_ub.shape[0])
    marginals[first] = duals[:first.size]
    if added:
        marginals[np.concatenate(added)] = duals[first.size + n_eq:]
    return LPSolution("optimal", x, marginals, sum(b.size for b in added), solves)
