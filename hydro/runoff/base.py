"""Runoff-model interface shared by Xinanjiang and GR4: parameters, step conversion, state, run.

A model is built for one time step (``dt_hours``). Parameter values are given in step-independent
units (each model's ``PARAMETERS`` table says which) and converted to the step once, by
``step_table``; a table converted for another step is refused. ``run`` takes forcing as
[n_steps, n_columns] in mm per step and returns runoff [n_steps, n_cells] in mm per step, updating a
``RunoffState`` (never mutating the caller's state unless asked to).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..kernels.checks import bad_per_row


@dataclass(frozen=True)
class Parameter:
    """One model parameter: units, physical range (inclusive unless ``open_high``), meaning."""

    units: str
    valid: tuple[float, float]
    description: str
    open_high: bool = False


@dataclass
class StepTable:
    """Parameter rows converted to one time step [n_rows, n_params]."""

    values: NDArray[np.float64]
    dt_hours: float
    model: str


@dataclass
class RunoffState:
    """Model state per cell; ``arrays`` holds the named float64 arrays, first axis = cell."""

    arrays: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    def copy(self) -> RunoffState:
        return RunoffState({k: v.copy() for k, v in self.arrays.items()})


class RunoffModel(ABC):
    """A lumped or gridded runoff-generation model for one time step."""

    name: ClassVar[str]
    PARAMETERS: ClassVar[dict[str, Parameter]]

    def __init__(self, dt_hours: float):
        if not (dt_hours > 0 and np.isfinite(dt_hours)):
            raise ConfigError(f"{self.name}: time step must be positive, got {dt_hours!r} h")
        self.dt_hours = float(dt_hours)

    @property
    def parameter_names(self) -> list[str]:
        return list(self.PARAMETERS)

    def check_parameters(self, values: NDArray[np.float64], where: str = "") -> None:
        """Raise ConfigError naming the parameter, row and range for any value outside its range."""
        values = np.atleast_2d(np.asarray(values, dtype=np.float64))
        if values.shape[1] != len(self.PARAMETERS):
            raise ConfigError(f"{self.name}{where}: expected {len(self.PARAMETERS)} parameters "
                              f"({', '.join(self.PARAMETERS)}), got {values.shape[1]}")
        for j, (name, spec) in enumerate(self.PARAMETERS.items()):
            lo, hi = spec.valid
            col = values[:, j]
            bad = ~np.isfinite(col) | (col < lo) | ((col >= hi) if spec.open_high else (col > hi))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                bracket = ")" if spec.open_high else "]"
                raise ConfigError(f"{self.name}{where}: parameter {name} = {col[row]:g} (row {row}) is outside "
                                  f"its physical range [{lo:g}, {hi:g}{bracket} [{spec.units}]; {spec.description}")
        self._check_joint(values, where)

    def _check_joint(self, values: NDArray[np.float64], where: str) -> None:
        """Constraints between parameters (override)."""

    def step_table(self, values: NDArray[np.float64]) -> StepTable:
        """Check ``values`` [n_rows, n_params] and convert them to this model's time step."""
        values = np.atleast_2d(np.asarray(values, dtype=np.float64))
        self.check_parameters(values)
        return StepTable(self._convert(values), self.dt_hours, self.name)

    def _table_for_this_step(self, table: StepTable) -> NDArray[np.float64]:
        if table.model != self.name or abs(table.dt_hours - self.dt_hours) > 1e-9:
            raise ConfigError(f"{self.name}: parameters were converted for {table.model} at {table.dt_hours:g} h "
                              f"but the model runs at {self.dt_hours:g} h; convert them with step_table() for this step")
        return table.values

    def _run_inputs(self, precip, pet, table: StepTable, state: RunoffState, forcing_col, param_row):
        """Checked inputs of ``run``: (per-step parameters, precip, pet, n_cells, forcing columns, parameter rows)."""
        p = self._table_for_this_step(table)
        precip = check_forcing("precipitation", precip)
        pet = check_forcing("pet", pet)
        n_cells = state.arrays["state"].shape[0]
        col = indices(n_cells, forcing_col, precip.shape[1], "forcing columns")
        row = indices(n_cells, param_row, len(p), "parameter rows")
        return p, precip, pet, n_cells, col, row

    @abstractmethod
    def _convert(self, values: NDArray[np.float64]) -> NDArray[np.float64]: ...

    @abstractmethod
    def cold_state(self, table: StepTable, n_cells: int, initial_flow_mm: float | NDArray[np.float64] = 0.0,
                   param_row: NDArray[np.int64] | None = None) -> RunoffState:
        """A start state; slow stores are set so their outflow is ``initial_flow_mm`` per step."""

    @abstractmethod
    def run(self, precip: NDArray[np.float64], pet: NDArray[np.float64], table: StepTable, state: RunoffState,
            forcing_col: NDArray[np.int64] | None = None, param_row: NDArray[np.int64] | None = None
            ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Advance ``state`` in place over the forcing; return (runoff [n_steps, n_cells], actual ET [n_cells])."""

    @abstractmethod
    def storage(self, table: StepTable, state: RunoffState, param_row: NDArray[np.int64] | None = None
                ) -> NDArray[np.float64]:
        """Water held per cell [mm over the cell]."""


def indices(n_cells: int, given: NDArray[np.int64] | None, n_available: int, what: str) -> NDArray[np.int64]:
    """Default cell -> row mapping: row c for cell c, or row 0 for every cell when only one exists."""
    if given is None:
        if n_available == 1:
            return np.zeros(n_cells, dtype=np.int64)
        if n_available != n_cells:
            raise ConfigError(f"{n_available} {what} for {n_cells} cells; give one, one per cell, or an index")
        return np.arange(n_cells, dtype=np.int64)
    given = np.ascontiguousarray(given, dtype=np.int64)
    if given.shape != (n_cells,) or (given.size and (given.min() < 0 or given.max() >= n_available)):
        raise ConfigError(f"{what} index must have {n_cells} entries in [0, {n_available}); "
                          f"got shape {given.shape} and range [{given.min() if given.size else '-'}, "
                          f"{given.max() if given.size else '-'}]")
    return given


def check_forcing(name: str, values: NDArray[np.float64], times: NDArray | None = None, source: str = "forcing",
                  cells: NDArray | None = None) -> NDArray[np.float64]:
    """Return ``values`` as float64 [n_steps, n_columns]; raise naming time and cell for NaN or negative values."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    arr = np.ascontiguousarray(arr)
    counts = bad_per_row(arr)
    if counts.any():
        t = int(np.flatnonzero(counts)[0])
        c = int(np.flatnonzero(~(np.isfinite(arr[t]) & (arr[t] >= 0.0)))[0])
        when = str(times[t]) if times is not None else f"step {t}"
        cell = str(cells[c]) if cells is not None else str(c)
        kind = "NaN" if not np.isfinite(arr[t, c]) else "negative"
        raise InputDataError(f"{source}: {name} is {kind} ({arr[t, c]!r}) at {when}, cell {cell} "
                             f"({int(counts.sum())} bad values in all); fill or remove them before running the model")
    return arr
