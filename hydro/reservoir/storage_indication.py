"""Level-pool reservoir routing with a storage-outflow table (storage-indication / modified Puls).

The reservoir's outflow is a unique function of its storage, given as a table (for an uncontrolled
spillway: storage from the level-storage curve, outflow from the level-discharge curve at the same
levels, :meth:`StorageOutflowTable.from_curves`). ``route`` returns outflow and storage at every inflow
time; leaving the table is an error. :func:`hydro.reservoir.operation.operate` integrates the same
equation (trapezoidal in time) for gated and free outlets; with the outlet wide open the two agree to
rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InputDataError, NumericalError
from ..kernels.reservoir import storage_indication
from .operation import ReservoirCurves


@dataclass(frozen=True)
class StorageOutflowTable:
    storage_m3: NDArray[np.float64]
    outflow_m3s: NDArray[np.float64]
    name: str = "reservoir"

    def __post_init__(self) -> None:
        s, o = np.asarray(self.storage_m3, float), np.asarray(self.outflow_m3s, float)
        if s.shape != o.shape or s.ndim != 1 or s.size < 2:
            raise InputDataError(f"{self.name}: storage and outflow tables need the same length >= 2, got {s.shape}, {o.shape}")
        if not (np.all(np.diff(s) > 0) and np.all(np.diff(o) >= 0)):
            raise InputDataError(f"{self.name}: storage must increase strictly and outflow must not decrease along the table")
        if not (np.isfinite(s).all() and np.isfinite(o).all()) or o[0] < 0:
            raise InputDataError(f"{self.name}: storage/outflow table holds NaN or negative outflow")
        object.__setattr__(self, "storage_m3", s)
        object.__setattr__(self, "outflow_m3s", o)

    @classmethod
    def from_curves(cls, curves: ReservoirCurves) -> StorageOutflowTable:
        """An ungated outlet: storage from the level-storage curve, outflow = discharge capacity at the
        same levels (both linear in level between the tabulated levels, so outflow is linear in storage)."""
        return cls(curves.storage_m3, curves.capacity_m3s, name=curves.name)

    def route(self, inflow_m3s: NDArray, dt_s: float, initial_storage_m3: float) -> tuple[NDArray, NDArray]:
        """Outflow [m3 s-1] and storage [m3] at each inflow time (index 0 = the initial state)."""
        inflow = np.asarray(inflow_m3s, dtype=np.float64)
        if not np.isfinite(inflow).all() or (inflow < 0).any():
            raise InputDataError(f"{self.name}: inflow holds NaN or negative values")
        if not self.storage_m3[0] <= initial_storage_m3 <= self.storage_m3[-1]:
            raise InputDataError(f"{self.name}: initial storage {initial_storage_m3:g} m3 is outside the table "
                                 f"[{self.storage_m3[0]:g}, {self.storage_m3[-1]:g}]")
        outflow, storage = np.empty_like(inflow), np.empty_like(inflow)
        off = storage_indication(inflow, float(dt_s), self.storage_m3, self.outflow_m3s, float(initial_storage_m3),
                                 outflow, storage)
        if off:
            raise NumericalError(f"{self.name}: storage left the storage-outflow table in {off} step(s); "
                                 "extend the table (levels above the check flood level) or check the inflow")
        return outflow, storage
