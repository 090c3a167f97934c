"""River cells -> segments from confluence to confluence, split at a maximum length, with NWM-style channels.

A reach runs from a source or a confluence down to the next confluence, an outlet, or a snapped point (a gauge,
section or reservoir ends its segment, so the segment's upstream area is the point's). A reach longer than the
maximum length is cut into equal pieces. Lengths follow the DEM river between the cells' outlet pixels; the slope
of a segment is the drop of the depression-filled DEM from its first cell to the cell below its last, over that
length, floored at ``min_slope`` (filled flats have none).

Channel geometry from the upstream area A [km2] (bankfull, the NWM RouteLink's trapezoid + compound channel):

* bankfull top width  Tw = 2.70 A^0.352 m and mean depth D = 0.30 A^0.213 m (so bankfull area Tw D, their
  A_bkf = 0.83 A^0.555): the all-US regional curves of Bieger, Rathjens, Allen & Arnold (2015), JAWRA 51(3)
  842-858, doi:10.1111/jawr.12282 (1,310 surveyed sites);
* side slope 0.5 (2 horizontal : 1 vertical); D is a MEAN depth, so the trapezoid's height h keeps the bankfull
  area: h (Tw - 2 h) = Tw D, h = (Tw - sqrt(Tw^2 - 8 Tw D)) / 4, bottom width Bw = Tw - 4 h (at least 0.1 Tw,
  where the channel would otherwise close: A < about 1 km2);
* floodplain (compound channel) width TwCC = 3 Tw, as the NWM v2.1 RouteLink sets it;
* Manning n 0.035 in the channel (Chow 1959, Table 5-6, natural minor stream, clean and winding: 0.033-0.045,
  normal 0.040; 0.035 as the lower-middle of that range for larger rivers) and 0.08 on the floodplain (Chow 1959,
  Table 5-6, floodplain with light brush and trees in summer: 0.060 normal, 0.080 maximum; the maximum, as
  NWM-style floodplains carry little flow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..network import RiverNetwork
from .terrain import RunoffGrid

SIDE_SLOPE = 0.5  # rise / run (network.side_slope convention)
MANNINGS_N = 0.035
MANNINGS_N_FLOODPLAIN = 0.08


def channel_geometry(area_km2: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Bankfull trapezoid and floodplain width from upstream area (module docstring)."""
    area = np.maximum(np.asarray(area_km2, np.float64), 0.01)
    top = 2.70 * area**0.352
    mean_depth = 0.30 * area**0.213
    z = 1.0 / SIDE_SLOPE  # horizontal per vertical
    # the trapezoid of top width Tw and height h whose area is Tw D: z h^2 - Tw h + Tw D = 0 (smaller root)
    disc = np.maximum(top * top - 4.0 * z * top * mean_depth, 0.0)
    depth = (top - np.sqrt(disc)) / (2.0 * z)
    bottom = np.maximum(top - 2.0 * z * depth, 0.1 * top)
    n = area.size
    return {"top_width": top, "bottom_width": bottom, "top_width_cc": 3.0 * top, "side_slope": np.full(n, SIDE_SLOPE),
            "mannings_n": np.full(n, MANNINGS_N), "mannings_n_cc": np.full(n, MANNINGS_N_FLOODPLAIN),
            "bankfull_depth": depth}


@dataclass
class Segments:
    segment_of_cell: NDArray[np.int64]  # flat runoff grid -> segment position (-1: not a river cell)
    feature_id: NDArray[np.int64]
    downstream: NDArray[np.int64]  # segment position, -1 outlet
    length_m: NDArray[np.float64]
    slope: NDArray[np.float64]
    upstream_area_km2: NDArray[np.float64]  # at the segment's last cell
    last_cell: NDArray[np.int64]
    mid_cell: NDArray[np.int64]

    @property
    def size(self) -> int:
        return self.feature_id.size


def segment_streams(grid: RunoffGrid, river: NDArray[np.bool_], ends: NDArray[np.int64], max_length_m: float,
                    min_slope: float, cell_size_m: float) -> Segments:
    """Cut the river cells (flat mask ``river``) into segments; ``ends`` are cells that must end a segment."""
    flw = grid.flw
    ds = flw.idxs_ds
    seq = flw.idxs_seq  # downstream first
    cells = seq[river[seq]][::-1].astype(np.int64)  # upstream first
    m = cells.size
    # work on the river cells only (a 1e8-cell grid has a few 1e5 of them): local index k of cell cells[k]
    local = np.full(river.size, -1, np.int32)
    local[cells] = np.arange(m, dtype=np.int32)
    step = grid.river_length_m[cells].astype(np.float64)
    step[step <= 0] = 0.5 * cell_size_m  # a pit has no river below
    below_cell = ds[cells].astype(np.int64)
    below = np.where(below_cell != cells, local[below_cell], -1)  # local index of the river cell below, or -1
    joins = below >= 0
    n_up = np.bincount(below[joins], minlength=m)
    up_of = np.full(m, -1, np.int64)
    up_of[below[joins]] = np.flatnonzero(joins)
    is_end = np.zeros(m, bool)
    ends = np.asarray(ends, np.int64)
    is_end[local[ends][local[ends] >= 0]] = True
    reach = np.empty(m, np.int64)
    dist_end = np.empty(m)
    n_reach = 0
    for k, n, u, length in zip(range(m), n_up.tolist(), up_of.tolist(), step.tolist(), strict=True):
        if n == 1 and not is_end[u]:
            reach[k] = reach[u]
            dist_end[k] = dist_end[u] + length
        else:
            reach[k] = n_reach
            n_reach += 1
            dist_end[k] = length
    reach_len = np.zeros(n_reach)
    np.maximum.at(reach_len, reach, dist_end)
    pieces = np.maximum(np.ceil(reach_len / max_length_m - 1e-9), 1).astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(pieces)[:-1]])
    mid = dist_end - 0.5 * step
    piece = np.minimum((mid / (reach_len[reach] / pieces[reach])).astype(np.int64), pieces[reach] - 1)
    _, pos = np.unique(offset[reach] + piece, return_inverse=True)  # drops pieces no cell fell into
    n = int(pos.max()) + 1
    by = np.lexsort((dist_end, pos))  # per segment, upstream to downstream
    first = by[np.searchsorted(pos[by], np.arange(n), side="left")]
    last = by[np.searchsorted(pos[by], np.arange(n), side="right") - 1]
    length = np.bincount(pos, weights=step, minlength=n)
    seg_start = dist_end[first] - step[first]
    centre = np.abs(mid - (seg_start[pos] + 0.5 * length[pos]))
    by_centre = np.lexsort((centre, pos))
    mid_k = by_centre[np.searchsorted(pos[by_centre], np.arange(n), side="left")]
    downstream = np.where(below[last] >= 0, pos[np.maximum(below[last], 0)], -1)
    top_cell, last_cell, below_last = cells[first], cells[last], below_cell[last]
    z_top = grid.elevation_m[top_cell]
    z_end = np.where(below_last != last_cell, grid.elevation_m[below_last], grid.elevation_m[last_cell])
    z_end = np.where(z_end <= -9999.0, grid.elevation_m[last_cell], z_end)  # ends on nodata: no drop below
    slope = np.maximum((z_top - z_end) / length, min_slope)
    # number the segments downstream first (the reverse of their last cells' upstream-first order), ids from 1
    order = np.argsort(-last, kind="stable")
    new_pos = np.empty(n, np.int64)
    new_pos[order] = np.arange(n)
    segment_of_cell = np.full(river.size, -1, np.int32)
    segment_of_cell[cells] = new_pos[pos]
    downstream = np.where(downstream[order] >= 0, new_pos[np.maximum(downstream[order], 0)], -1)
    return Segments(segment_of_cell, np.arange(1, n + 1, dtype=np.int64), downstream, length[order], slope[order],
                    np.asarray(grid.upstream_area_km2[last_cell[order]], np.float64), last_cell[order],
                    cells[mid_k][order])


def river_network(segments: Segments, lon: NDArray, lat: NDArray, source: str) -> RiverNetwork:
    """The RiverNetwork of the segments, with NWM-style geometry and each segment's mid-cell position."""
    geometry = channel_geometry(segments.upstream_area_km2)
    fid = segments.feature_id
    to = np.where(segments.downstream >= 0, fid[np.maximum(segments.downstream, 0)], 0)
    return RiverNetwork(feature_id=fid, to=to, length=segments.length_m, slope=segments.slope,
                        mannings_n=geometry["mannings_n"], mannings_n_cc=geometry["mannings_n_cc"],
                        bottom_width=geometry["bottom_width"], top_width=geometry["top_width"],
                        top_width_cc=geometry["top_width_cc"], side_slope=geometry["side_slope"],
                        latitude=lat, longitude=lon, source=source)
