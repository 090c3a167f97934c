"""Xinanjiang (XAJ) saturation-excess runoff model around ``kernels.runoff.xaj_run``.

Time-step rule (parameters are given once, in step-independent units, and converted by ``step_table``):

* K, UM, LM, DM, C, B, IM, SM, EX are depths or ratios and do not depend on the step.
* KI, KG are daily drainage fractions of free water (KI + KG < 1). A step of dt hours drains the same
  total over a day: (KI+KG)_dt = 1 - (1 - (KI+KG))^(dt/24), split in the ratio KI : KG. The kernel
  applies the same rule again to its <= 5 mm rainfall pieces.
* CI, CG are daily recession constants: C_dt = C^(dt/24).
* CS is the channel recession constant per hour: CS_dt = CS^dt.
* LAG is the channel lag in hours (fractional allowed, 0 allowed): LAG_dt = LAG / dt steps.

So a set calibrated at one step is the same physical model at another step, up to the rainfall
sub-division. Units: mm, hours, ratios; see ``PARAMETERS``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError
from ..core.registry import register
from ..kernels import runoff as kr
from .base import Parameter, RunoffModel, RunoffState, StepTable, indices


@register("runoff", "xinanjiang")
@register("runoff", "xaj")
class Xinanjiang(RunoffModel):
    """Three-layer ET, tension-water curve, free water with three sources, linear reservoirs, lag-and-route."""

    name = "xaj"
    PARAMETERS = {
        "K": Parameter("1", (0.0, 3.0), "ratio of basin potential ET to the given PET"),
        "UM": Parameter("mm", (0.0, 100.0), "upper-layer tension water capacity"),
        "LM": Parameter("mm", (1.0, 300.0), "lower-layer tension water capacity"),
        "DM": Parameter("mm", (0.0, 300.0), "deep-layer tension water capacity"),
        "C": Parameter("1", (0.0, 1.0), "deep-layer evapotranspiration coefficient"),
        "B": Parameter("1", (0.0, 3.0), "exponent of the tension water capacity curve"),
        "IM": Parameter("1", (0.0, 1.0), "impervious fraction", open_high=True),
        "SM": Parameter("mm", (0.1, 500.0), "areal mean free water capacity"),
        "EX": Parameter("1", (0.0, 5.0), "exponent of the free water capacity curve"),
        "KI": Parameter("day-1", (0.0, 1.0), "daily outflow fraction of free water to interflow", open_high=True),
        "KG": Parameter("day-1", (0.0, 1.0), "daily outflow fraction of free water to groundwater", open_high=True),
        "CI": Parameter("1", (0.0, 1.0), "daily interflow recession constant", open_high=True),
        "CG": Parameter("1", (0.0, 1.0), "daily groundwater recession constant", open_high=True),
        "CS": Parameter("1", (0.0, 1.0), "hourly channel-network recession constant", open_high=True),
        "LAG": Parameter("h", (0.0, 240.0), "channel-network lag"),
    }

    def _check_joint(self, values: NDArray[np.float64], where: str) -> None:
        drain = values[:, 9] + values[:, 10]
        if (drain >= 1.0).any():
            row = int(np.flatnonzero(drain >= 1.0)[0])
            raise ConfigError(f"{self.name}{where}: KI + KG = {drain[row]:g} (row {row}) must be < 1 "
                              "(daily free-water drainage); lower KI or KG")

    def _convert(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        out = values.copy()
        dt = self.dt_hours
        drain = values[:, 9] + values[:, 10]
        drain_dt = 1.0 - (1.0 - drain) ** (dt / 24.0)
        share = np.divide(values[:, 9], drain, out=np.zeros_like(drain), where=drain > 0)
        out[:, kr.XAJ_KI] = drain_dt * share
        out[:, kr.XAJ_KG] = drain_dt - out[:, kr.XAJ_KI]
        out[:, kr.XAJ_CI] = values[:, 11] ** (dt / 24.0)
        out[:, kr.XAJ_CG] = values[:, 12] ** (dt / 24.0)
        out[:, kr.XAJ_CS] = values[:, 13] ** dt
        out[:, kr.XAJ_LAG] = values[:, 14] / dt
        return out

    def cold_state(self, table: StepTable, n_cells: int, initial_flow_mm: float | NDArray[np.float64] = 0.0,
                   param_row: NDArray[np.int64] | None = None, tension_fraction: float = 0.5) -> RunoffState:
        """Tension layers ``tension_fraction`` full, free water empty, groundwater draining ``initial_flow_mm``
        per step."""
        if not 0.0 <= tension_fraction <= 1.0:
            raise ConfigError(f"{self.name}: tension_fraction must be in [0, 1], got {tension_fraction}")
        p = self._table_for_this_step(table)[indices(n_cells, param_row, len(table.values), "parameter rows")]
        state = np.zeros((n_cells, kr.XAJ_NSTATE))
        state[:, kr.XAJ_WU] = tension_fraction * p[:, kr.XAJ_UM]
        state[:, kr.XAJ_WL] = tension_fraction * p[:, kr.XAJ_LM]
        state[:, kr.XAJ_WD] = tension_fraction * p[:, kr.XAJ_DM]
        state[:, kr.XAJ_FR] = kr.FR_FLOOR
        state[:, kr.XAJ_U] = -1.0
        state[:, kr.XAJ_SG] = np.asarray(initial_flow_mm, dtype=np.float64) / (1.0 - p[:, kr.XAJ_CG])
        n_lag = int(math.floor(p[:, kr.XAJ_LAG].max())) + 2
        return RunoffState({"state": state, "lag": np.zeros((n_cells, n_lag))})

    def run(self, precip, pet, table, state, forcing_col=None, param_row=None):
        p, precip, pet, n_cells, col, row = self._run_inputs(precip, pet, table, state, forcing_col, param_row)
        arrays = state.arrays
        needed = int(math.floor(p[row, kr.XAJ_LAG].max())) + 2 if n_cells else 2
        if arrays["lag"].shape[1] < needed:
            grown = np.zeros((n_cells, needed))
            grown[:, : arrays["lag"].shape[1]] = arrays["lag"]
            arrays["lag"] = grown
        runoff = np.empty((precip.shape[0], n_cells))
        evaporation = np.zeros(n_cells)
        kr.xaj_run(precip, pet, col, p, row, arrays["state"], arrays["lag"], runoff, evaporation)
        return runoff, evaporation

    def storage(self, table, state, param_row=None):
        p = self._table_for_this_step(table)
        n_cells = state.arrays["state"].shape[0]
        out = np.empty(n_cells)
        kr.xaj_storage(p, indices(n_cells, param_row, len(p), "parameter rows"), state.arrays["state"],
                       state.arrays["lag"], out)
        return out
