"""NWM level-pool lake parameters (LAKEPARM) and their validation."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InputDataError
from ..core.ids import lookup

# Order of the columns handed to the kernel (hydro.kernels.routing._node_update).
KERNEL_COLUMNS = (
    "area_km2",
    "weir_elevation",
    "max_elevation",
    "weir_coefficient",
    "weir_length",
    "dam_length",
    "orifice_elevation",
    "orifice_coefficient",
    "orifice_area",
)


@dataclass(frozen=True, eq=False)
class LevelPoolParameters:
    """Level-pool lakes, one entry per lake (NWM LAKEPARM names in comments).

    Units: area [km2] (LkArea), elevations [m] (LkMxE, WeirE, OrificeE), lengths [m] (WeirL,
    Dam_Length), orifice area [m2] (OrificeA), coefficients [1] (WeirC, OrificeC), initial
    fractional depth [1] (ifd).
    """

    lake_id: NDArray[np.int64]
    area_km2: NDArray[np.float64]
    max_elevation: NDArray[np.float64]
    weir_elevation: NDArray[np.float64]
    weir_coefficient: NDArray[np.float64]
    weir_length: NDArray[np.float64]
    dam_length: NDArray[np.float64]
    orifice_elevation: NDArray[np.float64]
    orifice_coefficient: NDArray[np.float64]
    orifice_area: NDArray[np.float64]
    initial_fraction_depth: NDArray[np.float64]
    source: str = "lakes"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lake_id", np.asarray(self.lake_id, np.int64))
        n = self.lake_id.size
        for f in fields(self):
            if f.name in ("lake_id", "source"):
                continue
            value = np.asarray(getattr(self, f.name), np.float64)
            object.__setattr__(self, f.name, value)
            if value.shape != (n,):
                raise InputDataError(f"{self.source}: {f.name} has shape {value.shape}, expected ({n},)")
            bad = np.isnan(value)
            if bad.any():
                raise InputDataError(f"{self.source}: {f.name} is NaN for lake(s) {self.lake_id[bad][:8].tolist()}; "
                                     "every lake needs a value: correct the file")
        bad = self.area_km2 <= 0
        if bad.any():
            raise InputDataError(f"{self.source}: LkArea must be > 0; lake(s) {self.lake_id[bad][:8].tolist()}")
        bad = self.weir_elevation > self.max_elevation
        if bad.any():
            raise InputDataError(
                f"{self.source}: WeirE above LkMxE for lake(s) {self.lake_id[bad][:8].tolist()}; check LAKEPARM"
            )

    @property
    def size(self) -> int:
        return int(self.lake_id.size)

    def select(self, lake_ids: NDArray[np.int64]) -> LevelPoolParameters:
        """Parameters of ``lake_ids`` in that order; raises naming lakes that are missing."""
        lake_ids = np.asarray(lake_ids, np.int64)
        idx, found = lookup(self.lake_id, lake_ids)
        if not found.all():
            raise InputDataError(f"{self.source}: no parameters for lake(s) {lake_ids[~found][:8].tolist()}")
        kwargs = {f.name: getattr(self, f.name)[idx] for f in fields(self) if f.name != "source"}
        return LevelPoolParameters(source=self.source, **kwargs)

    def initial_elevation(self) -> NDArray[np.float32]:
        """NWM cold-start water elevation ``OrificeE + ifd (LkMxE - OrificeE)`` [m], in float32 as NWM."""
        oe, mx = self.orifice_elevation.astype(np.float32), self.max_elevation.astype(np.float32)
        return oe + self.initial_fraction_depth.astype(np.float32) * (mx - oe)

    def kernel_table(self) -> NDArray[np.float32]:
        """float32 [n_lakes, 9] in :data:`KERNEL_COLUMNS` order, for the routing kernel."""
        return np.ascontiguousarray(np.stack([getattr(self, c) for c in KERNEL_COLUMNS], axis=1), np.float32)
