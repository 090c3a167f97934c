"""Radar rainfall in one layout, the nowcast's input data type.

``RadarFrames`` = rainfall_rate(time, y, x) [mm h-1] with CRS and grid. ``rate`` is float32; NaN means
*not measured* (no coverage, missing data), 0 means *measured dry* (ODIM ``undetect``). ``times`` are the
ends of the accumulation intervals (the NetCDF events) or the nominal scan times (instantaneous
products). ``transform`` maps (col, row) of cell corners to projection coordinates [m].

The type lives in the model layer so that QC, regridding and the nowcast can take it without importing
``hydro.io``; the readers and writers in ``hydro.io.radar`` and ``hydro.io.radar_formats`` build and write
it (``hydro.io.radar.RadarFrames`` remains as an alias). No file access and no rasterio import here: the
CRS and affine transform are whatever objects the reader supplies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InputDataError

if TYPE_CHECKING:
    from rasterio.crs import CRS
    from rasterio.transform import Affine


@dataclass
class RadarFrames:
    source: str
    rate: NDArray[np.float32]  # [time, y, x] mm h-1, NaN = not measured
    times: NDArray[np.datetime64]
    crs: CRS | None
    transform: Affine
    quantity: str = "RATE"

    @property
    def shape(self) -> tuple[int, int]:
        return self.rate.shape[1], self.rate.shape[2]

    def check_order(self) -> None:
        """Raise unless there are at least two frames in strictly increasing time."""
        if len(self.times) < 2:
            raise InputDataError(f"{self.source}: need at least two frames, found {len(self.times)}")
        diffs = np.diff(self.times)
        if (diffs <= np.timedelta64(0, "s")).any():
            i = int(np.flatnonzero(diffs <= np.timedelta64(0, "s"))[0])
            raise InputDataError(f"{self.source}: frames out of order at {self.times[i]} -> {self.times[i + 1]}; "
                                 "sort the frames by time")

    @property
    def step(self) -> np.timedelta64:
        """Spacing of the frames; raise if they are not strictly increasing and evenly spaced."""
        self.check_order()
        diffs = np.diff(self.times)
        if (diffs != diffs[0]).any():
            i = int(np.flatnonzero(diffs != diffs[0])[0])
            raise InputDataError(f"{self.source}: gap in the frames after {self.times[i]} (next {self.times[i + 1]}, "
                                 f"step {diffs[0].astype('timedelta64[m]')}); fill it (QC missing_frames policy) or "
                                 "choose an issue time after the gap")
        return diffs[0]

    @property
    def cell_km(self) -> float:
        """Cell side in km, the geometric mean of the two sides: projected grids by their linear unit
        (metres when the CRS is unknown), geographic ones at the grid's central latitude."""
        t = self.transform
        area = abs(t.a * t.e)
        if self.crs is not None and self.crs.is_geographic:
            lat = t.f + t.e * self.shape[0] / 2.0
            return 111.32 * float(np.sqrt(area * abs(np.cos(np.radians(lat)))))
        factor = self.crs.linear_units_factor[1] if self.crs is not None and self.crs.is_projected else 1.0
        return float(np.sqrt(area)) * factor / 1000.0

    def coords(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cell-centre projection coordinates (y, x)."""
        ny, nx = self.shape
        t = self.transform
        x = t.c + t.a * (np.arange(nx) + 0.5)
        y = t.f + t.e * (np.arange(ny) + 0.5)
        return y, x

    def select(self, end: np.datetime64, count: int) -> RadarFrames:
        """The ``count`` frames ending at ``end`` (inclusive)."""
        hit = np.flatnonzero(self.times == end)
        if hit.size == 0:
            raise InputDataError(f"{self.source}: no frame at {end}; frames run {self.times[0]} .. {self.times[-1]} "
                                 f"every {self.step.astype('timedelta64[m]')}")
        i = int(hit[0])
        if i + 1 < count:
            raise InputDataError(f"{self.source}: {count} frames up to {end} are needed, only {i + 1} exist")
        return replace(self, rate=self.rate[i + 1 - count:i + 1], times=self.times[i + 1 - count:i + 1])
