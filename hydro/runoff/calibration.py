"""Split-sample calibration of a runoff model on a lumped catchment record.

Optimiser: Dynamically Dimensioned Search (Tolson & Shoemaker 2007, doi:10.1029/2005WR004723), made
batch-parallel: each iteration draws ``batch`` candidates around the current best with DDS's
shrinking perturbation probability, and the whole batch runs as one call of the parallel kernel
(parameter sets are independent cells that share the forcing column). DDS scales its search to
the evaluation budget, which suits a fixed budget of model runs.

The model runs continuously from the warm-up start; warm-up steps are never scored. The
calibration objective (NSE or KGE) is computed on the calibration period only; the validation
period is simulated by continuing the same run, as split-sample testing requires.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError
from ..scoring import kge_batch, nse_batch
from .base import RunoffModel
from .parameter_space import ParameterSpace
from .record import CatchmentRecord

OBJECTIVES: dict[str, Callable[[NDArray, NDArray], NDArray]] = {"nse": nse_batch, "kge": kge_batch}


@dataclass
class Periods:
    """Step ranges (slices) of the record: warm-up, calibration, validation (validation optional)."""

    warmup: slice
    calibration: slice
    validation: slice | None

    def check(self, source: str) -> None:
        if self.warmup.stop > self.calibration.start:
            raise ConfigError(f"{source}: the warm-up must end before the calibration period starts")
        if self.validation is not None and self.calibration.stop > self.validation.start:
            raise ConfigError(f"{source}: the calibration period must end before the validation period starts")


class BatchSimulator:
    """Discharge [m3 s-1] of many parameter sets at once, from the warm-up start to ``stop``."""

    def __init__(self, model: RunoffModel, record: CatchmentRecord, start: int, initial_flow_mm: float):
        self.model = model
        self.record = record
        self.start = start
        self.initial_flow_mm = initial_flow_mm

    def __call__(self, values: NDArray[np.float64], stop: int) -> NDArray[np.float64]:
        values = np.atleast_2d(values)
        table = self.model.step_table(values)
        state = self.model.cold_state(table, len(values), self.initial_flow_mm)
        sl = slice(self.start, stop)
        runoff_mm, _ = self.model.run(self.record.precipitation[sl], self.record.pet[sl], table, state,
                                      forcing_col=np.zeros(len(values), dtype=np.int64))
        return runoff_mm / (self.record.dt_hours * 3.6 / self.record.area_km2)


def dds(score: Callable[[NDArray], NDArray], space: ParameterSpace, budget: int, batch: int, seed: int,
        r: float = 0.2, progress: Callable[[int, float], None] | None = None) -> tuple[NDArray, float, int]:
    """Maximise ``score`` (a batch [n, n_params] -> [n]) within ``space`` using ``budget`` evaluations.

    Returns the best parameter vector, its score and the evaluations used.
    """
    rng = np.random.default_rng(seed)
    free = np.flatnonzero(space.free)
    if free.size == 0:
        raise ConfigError(f"{space.source}: every parameter is fixed (low == high); nothing to calibrate")
    lo, hi = space.low, space.high
    width = hi - lo
    n_init = min(max(2 * batch, 5), budget)
    init = np.repeat(space.default[None, :], n_init, axis=0)
    init[1:, free] = lo[free] + rng.random((n_init - 1, free.size)) * width[free]
    scores = score(init)
    best_i = int(np.nanargmax(np.where(np.isfinite(scores), scores, -np.inf)))
    best, best_score = init[best_i].copy(), float(scores[best_i])
    used = n_init
    total_iters = max(budget - n_init, 1)
    while used < budget:
        n = min(batch, budget - used)
        p_select = 1.0 - np.log(max(used - n_init, 1)) / np.log(total_iters)
        cand = np.repeat(best[None, :], n, axis=0)
        for k in range(n):
            chosen = free[rng.random(free.size) < p_select]
            if chosen.size == 0:
                chosen = rng.choice(free, 1)
            x = cand[k, chosen] + r * width[chosen] * rng.standard_normal(chosen.size)
            # reflect once at the bounds, clip if still outside (as DDS does)
            x = np.where(x < lo[chosen], 2 * lo[chosen] - x, x)
            x = np.where(x > hi[chosen], 2 * hi[chosen] - x, x)
            cand[k, chosen] = np.clip(x, lo[chosen], hi[chosen])
        s = score(cand)
        s = np.where(np.isfinite(s), s, -np.inf)
        i = int(np.argmax(s))
        if s[i] >= best_score:
            best, best_score = cand[i].copy(), float(s[i])
        used += n
        if progress is not None:
            progress(n, best_score)
    return best, best_score, used


@dataclass
class CalibrationResult:
    values: NDArray[np.float64]
    objective: str
    objective_value: float
    evaluations: int
    seconds: float
    simulated: NDArray[np.float64]  # m3 s-1 from the warm-up start to the end of the last period


def calibrate(model: RunoffModel, record: CatchmentRecord, space: ParameterSpace, periods: Periods,
              objective: str = "nse", budget: int = 10_000, batch: int = 16, seed: int = 1,
              progress: Callable[[int, float], None] | None = None,
              scored_steps: NDArray[np.bool_] | None = None) -> CalibrationResult:
    """Calibrate ``model`` on ``record`` and simulate every period with the best set.

    ``scored_steps`` (one flag per record step) restricts the objective to those steps of the
    calibration period, e.g. flood-event windows for event calibration in Chinese practice.
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    periods.check(record.source)
    model.check_parameters(space.low[None, :], where=f" ({space.source}, low bounds)")
    model.check_parameters(space.high[None, :], where=f" ({space.source}, high bounds)")
    start = periods.warmup.start
    q0 = record.discharge[start:periods.calibration.start]
    q0 = q0[np.isfinite(q0)]
    # slow stores start draining the flow observed at the start of the warm-up
    initial_flow_mm = float(record.to_mm(q0[: max(int(24 / record.dt_hours), 1)].mean())) if q0.size else 0.0
    simulate = BatchSimulator(model, record, start, initial_flow_mm)
    cal = slice(periods.calibration.start - start, periods.calibration.stop - start)
    obs = record.discharge[periods.calibration].copy()
    if scored_steps is not None:
        obs[~scored_steps[periods.calibration]] = np.nan  # the metrics skip missing observations
        if np.isfinite(obs).sum() < 2:
            raise ConfigError(f"{record.source}: no scored steps with observations in the calibration period")
    metric = OBJECTIVES[objective]

    def score(values: NDArray) -> NDArray:
        return metric(simulate(values, periods.calibration.stop)[cal], obs)

    t0 = time.perf_counter()
    best, best_score, used = dds(score, space, budget, batch, seed, progress=progress)
    seconds = time.perf_counter() - t0
    end = (periods.validation or periods.calibration).stop
    simulated = simulate(best, end)[:, 0]
    return CalibrationResult(best, objective, best_score, used, seconds, simulated)
