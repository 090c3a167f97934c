"""Grid kernels: D8 flow graphs on a raster, and grid runoff -> segment lateral inflow.

A D8 grid is given as ``down[c]``: the flat index of the cell that cell ``c`` drains to, -1 for a
cell that leaves the grid (or the basin) and -2 for a cell outside the basin (nodata).
"""

from __future__ import annotations

import heapq
import math

import numba
import numpy as np

OUTSIDE = -2
LEAVES = -1
# D8 neighbour offsets (dy, dx) and the ESRI direction codes that point to them
D8_DY = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
D8_DX = np.array([1, 1, 0, -1, -1, -1, 0, 1], dtype=np.int64)
ESRI_CODES = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def upstream_first_order(down):
    """Cells ordered so every cell comes before the cell it drains to (Kahn). Returns (order, n_ordered);
    n_ordered < number of basin cells means the D8 graph has a cycle."""
    n = down.shape[0]
    indegree = np.zeros(n, dtype=np.int64)
    n_basin = 0
    for c in range(n):
        if down[c] != OUTSIDE:
            n_basin += 1
            if down[c] >= 0:
                indegree[down[c]] += 1
    order = np.empty(n_basin, dtype=np.int64)
    head = 0
    tail = 0
    for c in range(n):
        if down[c] != OUTSIDE and indegree[c] == 0:
            order[tail] = c
            tail += 1
    while head < tail:
        c = order[head]
        head += 1
        d = down[c]
        if d >= 0:
            indegree[d] -= 1
            if indegree[d] == 0:
                order[tail] = d
                tail += 1
    return order, tail


@numba.njit(cache=True, nogil=True)
def accumulate(down, order, weight):
    """Sum of ``weight`` over each cell and everything upstream of it."""
    acc = weight.copy()
    for c in order:
        d = down[c]
        if d >= 0:
            acc[d] += acc[c]
    return acc


@numba.njit(cache=True, nogil=True)
def trace_to_channel(down, order, segment_of_cell, step_length):
    """For every basin cell: the segment (index) it first reaches downstream, and the path length to it [m].

    ``segment_of_cell`` is the segment index of channel cells and -1 elsewhere; ``step_length[c]`` is the
    distance from cell c to the cell it drains to. A channel cell reaches its own segment at distance 0;
    a cell that leaves the grid before reaching a channel gets -1.
    """
    n = down.shape[0]
    target = np.full(n, -1, dtype=np.int64)
    distance = np.zeros(n)
    for k in range(order.shape[0] - 1, -1, -1):  # downstream first
        c = order[k]
        if segment_of_cell[c] >= 0:
            target[c] = segment_of_cell[c]
        elif down[c] >= 0:
            target[c] = target[down[c]]
            distance[c] = distance[down[c]] + step_length[c]
    return target, distance


@numba.njit(cache=True, nogil=True)
def priority_flood_d8(elevation, inside, outlet):
    """D8 directions (as ``down``) of a pit-free drainage tree grown from ``outlet`` over ``inside`` cells,
    lowest first (Barnes et al. 2014, doi:10.1016/j.cageo.2013.04.024): every cell drains to the neighbour
    it was reached from, so depressions are filled and every inside cell reaches the outlet."""
    ny, nx = elevation.shape
    down = np.full(ny * nx, OUTSIDE, dtype=np.int64)
    done = np.zeros(ny * nx, dtype=np.bool_)
    heap = [(elevation.flat[outlet], outlet)]
    done[outlet] = True
    down[outlet] = LEAVES
    while len(heap) > 0:
        z, c = heapq.heappop(heap)
        y, x = c // nx, c % nx
        for k in range(8):
            yy, xx = y + D8_DY[k], x + D8_DX[k]
            if 0 <= yy < ny and 0 <= xx < nx:
                nb = yy * nx + xx
                if inside.flat[nb] and not done[nb]:
                    done[nb] = True
                    down[nb] = c
                    heapq.heappush(heap, (max(elevation.flat[nb], z), nb))
    return down


@numba.njit(cache=True, nogil=True, parallel=True)
def lateral_from_runoff(runoff, seg_ptr, cell, volume_per_mm, lag_whole, lag_frac, pending, lateral):
    """Route grid runoff to segments through hillslope delays; conservative, parallel over segments.

    ``runoff`` [n_steps, n_cells] mm per step; mapping entries of segment s are
    ``seg_ptr[s]:seg_ptr[s+1]`` with ``cell``, ``volume_per_mm`` [m3 mm-1 = contributing area / 1000],
    and a delay of ``lag_whole + lag_frac`` steps, split between the two neighbouring steps.
    ``pending`` [n_segments, n_pending] holds volume [m3] still on the hillslopes (slot 0 arrives next)
    and is updated in place. ``lateral`` [n_steps, n_segments] receives volume per step [m3].
    """
    n_steps = runoff.shape[0]
    n_seg = seg_ptr.shape[0] - 1
    n_pending = pending.shape[1]
    for s in numba.prange(n_seg):
        buf = pending[s]
        for t in range(n_steps):
            for e in range(seg_ptr[s], seg_ptr[s + 1]):
                v = runoff[t, cell[e]] * volume_per_mm[e]
                j = lag_whole[e]
                buf[j] += (1.0 - lag_frac[e]) * v
                buf[j + 1] += lag_frac[e] * v
            lateral[t, s] = buf[0]
            for j in range(n_pending - 1):
                buf[j] = buf[j + 1]
            buf[n_pending - 1] = 0.0


@numba.njit(cache=True, nogil=True)
def d8_step_length(down, nx, dx, dy):
    """Distance [m] from each cell to the cell it drains to (dx, dy cell sizes [m]; 0 at outlets)."""
    out = np.zeros(down.shape[0])
    diag = math.sqrt(dx * dx + dy * dy)
    for c in range(down.shape[0]):
        d = down[c]
        if d >= 0:
            same_row = (c // nx) == (d // nx)
            same_col = (c % nx) == (d % nx)
            out[c] = dx if same_row else (dy if same_col else diag)
    return out
