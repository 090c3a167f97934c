"""Nowcast kernels: semi-Lagrangian extrapolation of a field along a steady motion field.

Grids are [ny, nx]; motion (u, v) is in cells per time step (u along x = columns, v along y = rows,
positive towards larger indices). Backward scheme: the value arriving at x after k steps left from
x - D_k(x), with D_k(x) = D_{k-1}(x) + V(x - D_{k-1}(x)) (the trajectory follows the motion field),
as in Germann & Zawadzki (2002), doi:10.1175/1520-0493(2002)130<2859:SDOTPO>2.0.CO;2.
"""

from __future__ import annotations

import math

import numba


@numba.njit(cache=True, nogil=True, inline="always")
def _bilinear(field, y, x, outside):
    ny, nx = field.shape
    if not (0.0 <= y <= ny - 1.0 and 0.0 <= x <= nx - 1.0):
        return outside
    y0 = min(int(y), ny - 2) if ny > 1 else 0
    x0 = min(int(x), nx - 2) if nx > 1 else 0
    fy = y - y0
    fx = x - x0
    a = field[y0, x0]
    b = field[y0, x0 + 1] if nx > 1 else a
    c = field[y0 + 1, x0] if ny > 1 else a
    d = field[y0 + 1, x0 + 1] if (nx > 1 and ny > 1) else a
    return (1.0 - fy) * ((1.0 - fx) * a + fx * b) + fy * ((1.0 - fx) * c + fx * d)


@numba.njit(cache=True, nogil=True, parallel=True)
def advance_displacement(u, v, disp_y, disp_x, du=0.0, dv=0.0):
    """One step of the backward trajectory: D += V(x - D) + (du, dv), in place (cells). The uniform
    offset (an ensemble member's motion perturbation) is added here, not to a copy of the field."""
    ny, nx = u.shape
    for i in numba.prange(ny):
        for j in range(nx):
            y = i - disp_y[i, j]
            x = j - disp_x[i, j]
            yc = min(max(y, 0.0), ny - 1.0)
            xc = min(max(x, 0.0), nx - 1.0)
            disp_y[i, j] += _bilinear(v, yc, xc, 0.0) + dv
            disp_x[i, j] += _bilinear(u, yc, xc, 0.0) + du


@numba.njit(cache=True, nogil=True, parallel=True)
def warp(field, disp_y, disp_x, outside, out):
    """out(x) = field(x - D(x)) by bilinear interpolation; ``outside`` where the source leaves the grid
    or touches a NaN cell."""
    ny, nx = field.shape
    for i in numba.prange(ny):
        for j in range(nx):
            value = _bilinear(field, i - disp_y[i, j], j - disp_x[i, j], outside)
            out[i, j] = outside if math.isnan(value) else value
