"""DEM kernels for the basin builder: depression filling with D8 directions, and the distance to the outlet.

Both reproduce pyflwdir 0.5.12 (the library ``hydro basin build`` derives its flow routines from) bit for bit,
only faster; tests/build/test_fill.py compares them with pyflwdir on random and real DEMs.

Depression filling (``priority_flood``).

The algorithm is the priority flood of Wang & Liu (2006, IJGIS 20(2) 193-213, doi:10.1080/13658810500433453) as
pyflwdir 0.5.12 implements it (``pyflwdir.dem.fill_depressions``, outlets at every edge of the valid cells, all
depths filled, 8 neighbours); see Barnes, Lehman & Mulla (2014, Computers & Geosciences 62, 117-127,
doi:10.1016/j.cageo.2013.04.024, "Priority-Flood: An optimal depression-filling and watershed-labeling algorithm",
Algorithm 1) for the family. The result is pyflwdir's, bit for bit (tests/build/test_fill.py): the same cells are
taken in the same order, because the queue orders them by the same key, (elevation, on-the-edge flag, row, column),
which is unique per cell, so any exact priority queue pops the same sequence. Only the queue is different:
pyflwdir's ``heapq`` of tuples (a numba reflected list); here a sorted array of the edge cells beside a 4-ary heap
of uint64 keys for the inner cells.

Barnes et al.'s faster variant (Algorithm 2/3, "+plain queue": cells raised inside a depression go on a FIFO queue
instead of the heap) fills the same surface but takes the cells of a filled flat in another order, so it would
give other D8 directions there (which neighbour reaches a flat cell first), hence other rivers on flats than
pyflwdir's; it is not used, so the build's output does not change.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# the ESRI D8 code pointing from a cell at offset (dr, dc) of a popped cell back to it: _UPSTREAM[dr + 1, dc + 1]
# (pyflwdir.core_d8._us)
UPSTREAM_D8 = np.array([[2, 4, 8], [1, 0, 16], [128, 64, 32]], dtype=np.uint8)
D8_NODATA = np.uint8(247)  # pyflwdir's code for cells without elevation
MAX_CELLS = 2**32  # a queue key holds the flat cell index in 32 bits
_DR = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)  # pyflwdir's neighbour order (np.where(struct))
_DC = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)
_SIGN = np.uint64(0x80000000)
_LOW32 = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)
_ARITY = 4  # a 4-ary heap: half the depth of a binary one, its four children in one cache line


@numba.njit(cache=True, inline="always")
def _key(bits, idx):
    """Queue key of a cell: its elevation's float32 ``bits`` mapped to an unsigned integer that sorts as the float
    does (no -0.0 here), then the flat index; so keys sort as pyflwdir's (elevation, row, column) tuples."""
    u = np.uint64(bits)
    u = (~u) & _LOW32 if u & _SIGN else u | _SIGN
    return (u << _32) | np.uint64(idx)


@numba.njit(cache=True)
def _grow(heap):
    """The heap array at twice its size (the front of the flood outgrew it)."""
    grown = np.empty(2 * heap.size, heap.dtype)
    grown[:heap.size] = heap
    return grown


@numba.njit(cache=True)
def priority_flood(elevation, nodata, upstream_d8):
    """Fill every depression of ``elevation`` (2-D float32, ``nodata`` where not valid, fewer than MAX_CELLS
    cells) from outlets at all edges of the valid cells; returns (filled elevation float32, D8 uint8 with 0 at pits
    and 247 on nodata).

    A cell is reached from the first popped neighbour, gets the D8 code pointing to it, and is raised to that
    neighbour's (filled) elevation when lower. Edge cells (on the raster's border or next to nodata) are queued
    with their own elevation, after inner cells of the same elevation; an edge cell reached from a neighbour before
    it is popped takes that neighbour's direction (and elevation), one popped first stays a pit (an outlet):
    pyflwdir's neighbourhood includes the popped cell itself, which marks it done.

    The queue: edge cells are queued only at the start, so they wait in one sorted array; inner cells go on a
    4-ary min-heap of uint64 keys (``_key``); the next cell is the lesser of the two heads, an inner cell first at
    equal elevation.
    """
    nrow, ncol = elevation.shape
    if nrow * ncol >= MAX_CELLS:
        raise ValueError("priority_flood: too many cells for 32-bit cell indices")
    filled = elevation + np.float32(0.0)  # as pyflwdir's elevtn + delv (-0.0 becomes 0.0)
    bits = filled.view(np.uint32)
    d8 = np.zeros((nrow, ncol), np.uint8)
    # state: 0 not reached, 1 reached (done), 2 queued but not reached (an edge cell), 3 queued and reached
    state = np.zeros((nrow, ncol), np.uint8)
    n_edge = 0
    for r in range(nrow):
        for c in range(ncol):
            if elevation[r, c] == nodata:
                state[r, c] = 1
                d8[r, c] = D8_NODATA
                continue
            edge = r == 0 or r == nrow - 1 or c == 0 or c == ncol - 1  # pyflwdir.gis_utils.get_edge
            if not edge:
                for k in range(8):
                    if elevation[r + _DR[k], c + _DC[k]] == nodata:
                        edge = True
                        break
            if edge:
                state[r, c] = 2
                n_edge += 1
    edges = np.empty(n_edge, np.uint64)
    j = 0
    for r in range(nrow):
        for c in range(ncol):
            if state[r, c] == 2:
                edges[j] = _key(bits[r, c], r * ncol + c)
                j += 1
    edges.sort()
    next_edge = 0
    heap = np.empty(1024 + 2 * (nrow + ncol), np.uint64)
    size = 0
    while size > 0 or next_edge < n_edge:
        if size > 0 and (next_edge == n_edge or (heap[0] >> _32) <= (edges[next_edge] >> _32)):
            key = heap[0]
            size -= 1
            if size > 0:  # move the last entry down from the root
                last = heap[size]
                k = 0
                while True:
                    first = _ARITY * k + 1
                    if first >= size:
                        break
                    best = first
                    for child in range(first + 1, min(first + _ARITY, size)):
                        if heap[child] < heap[best]:
                            best = child
                    if heap[best] < last:
                        heap[k] = heap[best]
                        k = best
                    else:
                        break
                heap[k] = last
            idx0 = np.int64(key & _LOW32)
            r0 = idx0 // ncol
            c0 = idx0 - r0 * ncol
            z0 = filled[r0, c0]  # its queued elevation: an inner cell is never changed once queued
        else:
            idx0 = np.int64(edges[next_edge] & _LOW32)
            next_edge += 1
            r0 = idx0 // ncol
            c0 = idx0 - r0 * ncol
            z0 = elevation[r0, c0] + np.float32(0.0)  # its queued elevation, though a neighbour may have raised it
            if state[r0, c0] == 2:  # popped before any neighbour reached it: an outlet (D8 0)
                state[r0, c0] = 1
        for k in range(8):
            r = r0 + _DR[k]
            c = c0 + _DC[k]
            if r < 0 or r == nrow or c < 0 or c == ncol:
                continue
            s = state[r, c]
            if s == 1 or s == 3:
                continue
            z1 = filled[r, c]
            dz = z0 - z1
            if dz > 0:  # in a depression: raised to the pour point (pyflwdir: elevtn + (z0 - elevtn))
                z1 = z1 + dz
                filled[r, c] = z1
            if s == 0:
                if size == heap.size:
                    heap = _grow(heap)
                new = _key(bits[r, c], r * ncol + c)
                m = size
                while m > 0:
                    parent = (m - 1) // _ARITY
                    if new < heap[parent]:
                        heap[m] = heap[parent]
                        m = parent
                    else:
                        break
                heap[m] = new
                size += 1
                state[r, c] = 1
            else:
                state[r, c] = 3
            d8[r, c] = upstream_d8[_DR[k] + 1, _DC[k] + 1]
    return filled, d8


@numba.njit(cache=True)
def _degree_metres_y(lat):
    """Length [m] of a degree of latitude at ``lat`` (pyflwdir.gis_utils.degree_metres_y)."""
    radlat = np.radians(lat)
    return 111132.92 + (-559.82 * np.cos(2.0 * radlat)) + (1.175 * np.cos(4.0 * radlat)) + (-0.0023 * np.cos(6.0 * radlat))


@numba.njit(cache=True)
def _degree_metres_x(lat):
    """Length [m] of a degree of longitude at ``lat`` (pyflwdir.gis_utils.degree_metres_x)."""
    radlat = np.radians(lat)
    return (111412.84 * np.cos(radlat)) + (-93.5 * np.cos(3.0 * radlat)) + (0.118 * np.cos(5.0 * radlat))


@numba.njit(cache=True)
def distance_to_outlet(idxs_ds, seq, ncol, latlon, xres, yres, north):
    """Length [m] along the D8 path from every cell to its outlet (pit), float32, -9999 where not in ``seq``.

    ``idxs_ds``: flat index of the downstream cell (itself at a pit); ``seq``: the cells from down- to upstream;
    ``xres``, ``yres``, ``north``: the grid's transform (a, e, f). A step is the distance between the two cells'
    centres; on a lat/lon grid in metres from the length of a degree at their mean latitude. This is
    ``pyflwdir.streams.stream_distance(..., real_length=True)`` with its step ``pyflwdir.gis_utils.distance``, the
    same arithmetic in the same order, so the same float32 values: pyflwdir 0.5.12 runs that loop in the
    interpreter (about 1.5 us a cell) and hands its affine.Affine transform to numba, which cannot type it.
    """
    dist = np.full(idxs_ds.size, np.float32(-9999.0), np.float32)
    for k in range(seq.size):
        dist[seq[k]] = 0.0
    for k in range(seq.size):  # down- to upstream: the cell below is done first
        idx0 = seq[k]
        idx_ds = idxs_ds[idx0]
        if idx0 == idx_ds:
            continue
        r0 = idx0 // ncol
        r1 = idx_ds // ncol
        dr = abs(r1 - r0)
        dc = abs(idx_ds % ncol - idx0 % ncol)
        if latlon:
            lat = north + (r0 + r1) / 2.0 * yres
            dy = 0.0 if dr == 0 else _degree_metres_y(lat) * yres
            dx = 0.0 if dc == 0 else _degree_metres_x(lat) * xres
        else:  # pyflwdir's naming: x resolution times rows, y resolution times columns (square cells: the same)
            dy = xres
            dx = yres
        step = math.hypot(dy * dr, dx * dc)
        # pyflwdir adds a Python float to a float32 element: NumPy 2 rounds the float to float32 and adds in float32
        dist[idx0] = dist[idx_ds] + np.float32(step)
    return dist
