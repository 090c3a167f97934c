"""GR4J (daily) / GR4H (sub-daily) around ``kernels.runoff.gr4_run``.

Time-step rule: X1 and X3 are store capacities [mm] and do not depend on the step; X2 is the
exchange coefficient per day (X2_dt = X2 dt/24); X4 is the unit-hydrograph base in hours
(X4_dt = X4/dt steps). Steps of 24 h use the GR4J constants (percolation 9/4, S-curve exponent 5/2,
Perrin et al. 2003); shorter steps use GR4H's (21/4 and 5/4, Mathevet 2005, as in airGR).
"""

from __future__ import annotations

import math

import numpy as np

from ..core.registry import register
from ..kernels import runoff as kr
from .base import Parameter, RunoffModel, RunoffState, StepTable, indices


@register("runoff", "gr4j")
@register("runoff", "gr4h")
class GR4(RunoffModel):
    """Four-parameter GR model: production store, percolation, two unit hydrographs, exchange, routing store."""

    name = "gr4j"
    PARAMETERS = {
        "X1": Parameter("mm", (1.0, 5000.0), "production store capacity"),
        "X2": Parameter("mm day-1", (-50.0, 50.0), "groundwater exchange coefficient"),
        "X3": Parameter("mm", (1.0, 5000.0), "routing store capacity"),
        "X4": Parameter("h", (0.5, 2400.0), "unit hydrograph time base"),
    }

    @property
    def daily(self) -> bool:
        return self.dt_hours >= 24.0

    @property
    def constants(self) -> tuple[float, float]:
        """(percolation factor, S-curve exponent) for this step."""
        return (9.0 / 4.0, 2.5) if self.daily else (21.0 / 4.0, 1.25)

    def _convert(self, values):
        out = values.copy()
        out[:, kr.GR4_X2] = values[:, 1] * self.dt_hours / 24.0
        out[:, kr.GR4_X4] = values[:, 3] / self.dt_hours
        return out

    def cold_state(self, table: StepTable, n_cells: int, initial_flow_mm=0.0, param_row=None) -> RunoffState:
        """Production store 30 % full; routing store at the level whose outflow is ``initial_flow_mm``."""
        p = self._table_for_this_step(table)[indices(n_cells, param_row, len(table.values), "parameter rows")]
        state = np.zeros((n_cells, kr.GR4_NSTATE))
        state[:, kr.GR4_PROD] = 0.3 * p[:, kr.GR4_X1]
        # invert Qr = R (1 - (1 + (R/X3)^4)^-1/4) by bisection on R in [0, 10 X3]
        target = np.broadcast_to(np.asarray(initial_flow_mm, dtype=np.float64), (n_cells,))
        lo, hi = np.zeros(n_cells), 10.0 * p[:, kr.GR4_X3]
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            q = mid * (1.0 - (1.0 + (mid / p[:, kr.GR4_X3]) ** 4) ** -0.25)
            lo, hi = np.where(q < target, mid, lo), np.where(q < target, hi, mid)
        state[:, kr.GR4_ROUT] = np.minimum(lo, p[:, kr.GR4_X3])
        return RunoffState({"state": state, "uh": np.zeros((n_cells, 2 * self._n_uh(p))),
                            "exchange": np.zeros(n_cells)})

    @staticmethod
    def _n_uh(p) -> int:
        return int(math.ceil(2.0 * p[:, kr.GR4_X4].max())) + 1

    def run(self, precip, pet, table, state, forcing_col=None, param_row=None):
        p, precip, pet, n_cells, col, row = self._run_inputs(precip, pet, table, state, forcing_col, param_row)
        arrays = state.arrays
        n_uh = max(self._n_uh(p[row]), arrays["uh"].shape[1] // 2)
        if arrays["uh"].shape[1] != 2 * n_uh:
            old = arrays["uh"].shape[1] // 2
            grown = np.zeros((n_cells, 2 * n_uh))
            grown[:, :old] = arrays["uh"][:, :old]
            grown[:, n_uh:n_uh + old] = arrays["uh"][:, old:]
            arrays["uh"] = grown
        runoff = np.empty((precip.shape[0], n_cells))
        evaporation = np.zeros(n_cells)
        perc, expo = self.constants
        # "exchange" accumulates the net groundwater exchange [mm], the one flux outside P - ET - Q
        kr.gr4_run(precip, pet, col, p, row, perc, expo, arrays["state"], arrays["uh"], runoff, evaporation,
                   arrays["exchange"])
        return runoff, evaporation

    def storage(self, table, state, param_row=None):
        self._table_for_this_step(table)
        return state.arrays["state"].sum(axis=1) + state.arrays["uh"].sum(axis=1)
