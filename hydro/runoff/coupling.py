"""Grid-to-network coupling: which grid cells feed which river segment, and how late.

A ``CellMapping`` lists (cell, segment, contributing area, hillslope travel time) entries, sorted by
segment. Built from a D8 flow-direction grid plus the channel cells' segment ids (each cell feeds the
first channel cell downstream of it, after a travel time = flow-path length / hillslope velocity), or
from catchment masks (a raster of segment ids, optionally with per-cell fractions). ``lateral`` turns
grid runoff [mm per step] into segment lateral inflow [m3 s-1] in the network's feature order, the
``qlat(time, feature_id)`` layout that ``hydro route`` reads. Water that leaves the grid without
reaching a channel is reported, never silently dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..core.ids import lookup
from ..kernels import grid as kg

log = logging.getLogger("hydro")


def _positions(feature_id: NDArray[np.int64], ids: NDArray[np.int64], who: str) -> NDArray[np.int64]:
    """Positions of raster segment ids in the network; raise listing the ids it does not hold."""
    pos, found = lookup(np.asarray(feature_id, np.int64), ids)
    if not found.all():
        unknown = np.unique(ids[~found])
        raise InputDataError(f"{who} name segment ids not in the network: "
                             f"{', '.join(map(str, unknown[:10]))}{' ...' if unknown.size > 10 else ''}")
    return pos


@dataclass
class CellMapping:
    feature_id: NDArray[np.int64]  # segments, in output order
    grid_shape: tuple[int, int]
    seg_ptr: NDArray[np.int64]
    cell: NDArray[np.int64]
    area_m2: NDArray[np.float64]
    travel_time_s: NDArray[np.float64]
    unmapped_area_m2: float = 0.0  # basin cells that leave the grid without reaching a channel
    pending: NDArray[np.float64] | None = field(default=None, repr=False)  # hillslope water [m3]

    @property
    def n_cells(self) -> int:
        return self.grid_shape[0] * self.grid_shape[1]

    @property
    def entry_segment(self) -> NDArray[np.int64]:
        """Segment position of each mapping entry (entries are sorted by segment)."""
        return np.repeat(np.arange(len(self.feature_id)), np.diff(self.seg_ptr))

    def segment_area_m2(self) -> NDArray[np.float64]:
        return np.bincount(self.entry_segment, weights=self.area_m2, minlength=len(self.feature_id))

    @classmethod
    def build(cls, feature_id, grid_shape, cell, segment, area_m2, travel_time_s, unmapped_area_m2=0.0):
        order = np.argsort(segment, kind="stable")
        counts = np.bincount(segment, minlength=len(feature_id))
        seg_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(np.asarray(feature_id, np.int64), tuple(grid_shape), seg_ptr, cell[order].astype(np.int64),
                   area_m2[order].astype(np.float64), travel_time_s[order].astype(np.float64), unmapped_area_m2)

    @classmethod
    def from_d8(cls, down: NDArray[np.int64], grid_shape: tuple[int, int], channel_ids: NDArray[np.int64],
                feature_id: NDArray[np.int64], cell_size_m: tuple[float, float], cell_area_m2: NDArray | float,
                hillslope_velocity: float = 0.2, source: str = "flow direction") -> CellMapping:
        """Map every basin cell to the segment of the first channel cell downstream of it.

        ``channel_ids`` holds the feature_id of the segment in each channel cell and 0 elsewhere;
        ``hillslope_velocity`` [m s-1] turns flow-path length into travel time.
        """
        if channel_ids.size != down.size:
            raise InputDataError(f"{source}: channel raster has {channel_ids.size} cells but the flow-direction grid "
                                 f"{grid_shape} has {down.size}; use rasters on the same grid")
        if hillslope_velocity <= 0:
            raise ConfigError(f"hillslope velocity must be positive, got {hillslope_velocity} m s-1")
        order, n_ordered = kg.upstream_first_order(down)
        if n_ordered < int((down != kg.OUTSIDE).sum()):
            raise InputDataError(f"{source}: the D8 directions contain a loop; repair the flow-direction grid")
        flat_ids = channel_ids.ravel().astype(np.int64)
        is_channel = flat_ids > 0
        seg_index = np.full(down.size, -1, dtype=np.int64)
        seg_index[is_channel] = _positions(feature_id, flat_ids[is_channel], f"{source}: channel cells")
        step = kg.d8_step_length(down, grid_shape[1], float(cell_size_m[0]), float(cell_size_m[1]))
        target, distance = kg.trace_to_channel(down, order, seg_index, step)
        area = np.broadcast_to(np.asarray(cell_area_m2, dtype=np.float64), (down.size,))
        basin = down != kg.OUTSIDE
        mapped = basin & (target >= 0)
        unmapped = float(area[basin & (target < 0)].sum())
        if unmapped > 0:
            log.warning("%s: %.3g km2 of the basin leaves the grid without reaching a channel; its runoff is "
                        "reported as unmapped", source, unmapped / 1e6)
        cells = np.flatnonzero(mapped)
        return cls.build(feature_id, grid_shape, cells, target[cells], area[cells],
                         distance[cells] / hillslope_velocity, unmapped)

    @classmethod
    def from_catchment_raster(cls, catchment_ids: NDArray[np.int64], feature_id: NDArray[np.int64],
                              cell_area_m2: NDArray | float, travel_time_s: NDArray | float = 0.0,
                              fraction: NDArray | None = None, source: str = "catchment raster") -> CellMapping:
        """Catchment masks: each cell belongs to the segment id it holds (0 = outside), weighted by ``fraction``."""
        flat = catchment_ids.ravel().astype(np.int64)
        inside = flat > 0
        pos = _positions(feature_id, flat[inside], f"{source}: cells")
        cells = np.flatnonzero(inside)
        area = np.broadcast_to(np.asarray(cell_area_m2, np.float64), (flat.size,))[cells]
        if fraction is not None:
            area = area * np.asarray(fraction, np.float64).ravel()[cells]
        tt = np.broadcast_to(np.asarray(travel_time_s, np.float64), (flat.size,))[cells]
        return cls.build(feature_id, catchment_ids.shape, cells, pos, area, tt)

    def lateral(self, runoff_mm: NDArray[np.float64], dt_s: float) -> NDArray[np.float64]:
        """Lateral inflow [m3 s-1] per step and segment [n_steps, n_segments] from grid runoff [n_steps, n_cells].

        Hillslope water still in transit at the end stays in ``pending`` for the next call."""
        runoff_mm = np.ascontiguousarray(runoff_mm, dtype=np.float64)
        if runoff_mm.ndim != 2 or runoff_mm.shape[1] != self.n_cells:
            raise InputDataError(f"grid runoff has shape {runoff_mm.shape}, expected (n_steps, {self.n_cells}) for the "
                                 f"mapping's grid {self.grid_shape}; run the runoff model on the mapping's grid")
        lag = self.travel_time_s / dt_s
        lag_whole = np.floor(lag).astype(np.int64)
        n_pending = int(lag_whole.max(initial=0)) + 2
        if self.pending is None:
            self.pending = np.zeros((len(self.feature_id), n_pending))
        elif self.pending.shape[1] < n_pending:
            grown = np.zeros((len(self.feature_id), n_pending))
            grown[:, : self.pending.shape[1]] = self.pending
            self.pending = grown
        volume = np.empty((runoff_mm.shape[0], len(self.feature_id)))
        kg.lateral_from_runoff(runoff_mm, self.seg_ptr, self.cell, self.area_m2 / 1000.0, lag_whole,
                               lag - lag_whole, self.pending, volume)
        return volume / dt_s
