"""Channel routing kernels (numba only: explicit arrays, no I/O).

Muskingum-Cunge as in the US National Water Model (WRF-Hydro SUBMUSKINGCUNGE; NOAA-OWP t-route
``MCsingleSegStime_f2py_NOLOOP.f90``), written out in ``shared/domain/routing-nwm-mc.md``:

* trapezoid main channel + rectangular compound channel above bankfull, Manning normal flow
  ``Qn(h) = (1/n_eff) (A + Ac) R^(2/3) sqrt(S0)``;
* kinematic celerity ``Ck``, ``K = max(dt, dx/Ck)``, Cunge ``X = 0.5 (1 - Q / (2 W S0 Ck dx))``;
* ``C1 = (K X + dt/2)/D``, ``C2 = (dt/2 - K X)/D``, ``C3 = (K (1-X) - dt/2)/D``, ``C4 = ql dt/D``,
  ``D = K (1-X) + dt/2``; outflow ``Q = C1 qup + C2 quc + C3 qdp + C4``;
* the depth h solves ``C1 qup + C2 quc + C3 qdp + C4 - Qn(h) = 0``.

Cunge, J.A. (1969), J. Hydraul. Res. 7(2), doi:10.1080/00221686909500264; Gochis et al. (2020),
The WRF-Hydro modeling system technical description (v5.1.1), section 3.7.

Two depth solvers share t-route's float32 secant iteration (same starting guesses, tolerances,
retries and float32 operation order; ``Qj_0`` zero-initialised as in WRF-Hydro):

* ``nwm`` (``SOLVER_NWM``) uses libm ``powf`` as NWM does and reproduces t-route bit for bit;
* ``fast`` (``SOLVER_FAST``) derives R^(5/3) = R R^(2/3) (one powf per evaluation fewer). A
  ``cbrt``-based R^(2/3) was measured slower than glibc's powf here and dropped.

Why not a more accurate solver: on flat segments (S0 ~ 1e-5) the residual is nearly flat in h and
NWM's secant stops at a 1 % step far from the true root; Newton to the true root moved flows by
up to 0.8 % per step there and ~20 % (99th percentile) after 28 h on Lower Colorado. Matching the
NWM means following its iteration, so the fast solver saves arithmetic, not iterations.

Units: discharge m3 s-1, lengths/widths/depths m, dt s, slope m m-1, Manning n s m-1/3.
Networks come in as arrays in upstream-first order: ``up_ptr``/``up_idx`` list each node's
upstream nodes (CSR); ``lake_slot[i] >= 0`` marks a level-pool lake node (row of the lake arrays).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .constants import F0, F1, F2
from .reservoir import levelpool_step

SOLVER_NWM = 0
SOLVER_FAST = 1

F05 = np.float32(0.5)
F025 = np.float32(0.25)
F5_3 = np.float32(np.float32(5.0) / np.float32(3.0))
F2_3 = np.float32(np.float32(2.0) / np.float32(3.0))
F1E5 = np.float32(0.00001)
F001 = np.float32(0.01)
F09 = np.float32(0.9)
F133 = np.float32(1.33)
F067 = np.float32(0.67)
MINDEPTH = np.float32(0.01)


# --------------------------------------------------------------------------- NWM float32 secant
@numba.njit(cache=True, nogil=True, inline="always")
def _pow53(r, r23, fast):
    """r^(5/3): libm powf as NWM, or r * r^(2/3) when ``fast`` (one powf fewer)."""
    if fast:
        return r * r23
    return r**F5_3


@numba.njit(cache=True, nogil=True, inline="always")
def _geometry32(h, bfd, bw, twcc, z, sqrt_1z2):
    """Trapezoid + compound geometry at depth h: (twl, R, A, Ac, P, Pc), float32."""
    twl = bw + F2 * z * h
    h_gt = max(h - bfd, F0)
    h_lt = min(bfd, h)
    if h_gt > F0 and twcc <= F0:  # NWM 3.0: no floodplain -> extend the trapezoid upward
        h_gt = F0
        h_lt = h
    area = (bw + h_lt * z) * h_lt
    wp = bw + F2 * h_lt * sqrt_1z2
    areac = twcc * h_gt
    wpc = twcc + (F2 * h_gt) if h_gt > F0 else F0
    r = (area + areac) / (wp + wpc)
    return twl, r, area, areac, wp, wpc


@numba.njit(cache=True, nogil=True, inline="always")
def _secant_eval32(h, upper, qj_prev, c1, c2, c3, c4, z, sqrt_1z2, bw, bfd, twcc, s0, sqrt_s0, n, ncc, dt, dx, qdp, ql, qup, quc, fast):
    """Residual of the depth equation at h (t-route ``secant2_h``).

    ``upper`` selects the first evaluation (X from ``qj_prev``, clamp [0, 0.5]) or the second
    (X from the C's passed in, clamp [0.25, 0.5]). Returns (Qj, C1, C2, C3, C4, X).
    """
    twl, r, area, areac, wp, wpc = _geometry32(h, bfd, bw, twcc, z, sqrt_1z2)
    overbank = (h > bfd) and (twcc > F0) and (ncc > F0)
    r23 = r**F2_3
    if overbank:
        ck = max(
            F0,
            (
                (sqrt_s0 / n)
                * ((F5_3 * r23) - ((F2_3 * _pow53(r, r23, fast)) * (F2 * sqrt_1z2 / (bw + F2 * bfd * z))))
                * area
                + ((sqrt_s0 / ncc) * F5_3 * (h - bfd) ** F2_3) * areac
            )
            / (area + areac),
        )
    elif h > F0:
        ck = max(
            F0,
            (sqrt_s0 / n) * ((F5_3 * r23) - ((F2_3 * _pow53(r, r23, fast)) * (F2 * sqrt_1z2 / (bw + F2 * h * z)))),
        )
    else:
        ck = F0
    km = max(dt, dx / ck) if ck > F0 else dt

    if ck > F0:
        width = twcc if overbank else twl
        if upper:
            x = min(F05, max(F0, F05 * (F1 - (qj_prev / (F2 * width * s0 * ck * dx)))))
        else:
            qref = ((c1 * qup) + (c2 * quc) + (c3 * qdp)) + c4
            x = min(F05, max(F025, F05 * (F1 - (qref / (F2 * width * s0 * ck * dx)))))
    else:
        x = F05

    half_dt = dt / F2
    d = km * (F1 - x) + half_dt
    c1 = (km * x + half_dt) / d
    c2 = (half_dt - km * x) / d
    c3 = (km * (F1 - x) - half_dt) / d
    c4 = (ql * dt) / d
    if not upper:
        routed = ((c1 * qup) + (c2 * quc)) + (c3 * qdp)
        if c4 < F0 and abs(c4) > routed:
            c4 = -routed
    if (wp + wpc) > F0:
        qn = ((F1 / (((wp * n) + (wpc * ncc)) / (wp + wpc))) * (area + areac) * r23) * sqrt_s0
        qj = ((((c1 * qup) + (c2 * quc)) + (c3 * qdp)) + c4) - qn
    else:
        qj = F0
    return qj, c1, c2, c3, c4, x


@numba.njit(cache=True, nogil=True, inline="always")
def _bankfull_depth32(bw, tw, z):
    if bw > tw:
        return bw / F1E5  # effectively infinitely deep bankful channel
    if bw == tw:
        return bw / (F2 * z)
    return (tw - bw) / (F2 * z)


@numba.njit(cache=True, nogil=True)
def mc_secant(dt, qup, quc, qdp, ql, dx, bw, tw, twcc, n, ncc, cs, s0, depthp, fast):
    """One NWM Muskingum-Cunge segment update, float32, t-route's secant step for step.

    Arguments are float32: dt [s], qup/quc upstream inflow at t-1/t, qdp own outflow at t-1, ql
    lateral inflow [m3 s-1], dx, bw, tw, twcc [m], n, ncc, cs (side slope), s0, depthp [m].
    ``fast=False`` reproduces t-route to the bit; ``fast=True`` takes R^(5/3) as R R^(2/3)
    (a few float32 ulps apart, one powf fewer per evaluation).
    Returns (qdc [m3 s-1], depth [m], converged, secant evaluations used).
    """
    z = F1 if cs == F0 else F1 / cs
    sqrt_1z2 = math.sqrt(F1 + z * z)  # loop invariants: hoisting them leaves every float32 result unchanged
    sqrt_s0 = math.sqrt(s0)
    bfd = _bankfull_depth32(bw, tw, z)
    depthc = max(depthp, F0)
    h = (depthc * F133) + MINDEPTH
    h_0 = depthc * F067
    if not (ql > F0 or qup > F0 or quc > F0 or qdp > F0):
        return F0, F0, True, 0
    rerror = F1
    aerror = F001
    maxiter = 100
    tries = 0
    qj_0 = F0  # zero-initialised each call: WRF-Hydro semantics (t-route built -finit-local-zero)
    c1 = F0
    c2 = F0
    c3 = F0
    c4 = F0
    evaluations = 0
    converged = True
    while True:
        it = 0
        while rerror > F001 and aerror >= MINDEPTH and it <= maxiter:
            qj_0, c1, c2, c3, c4, x = _secant_eval32(
                h_0, True, qj_0, c1, c2, c3, c4, z, sqrt_1z2, bw, bfd, twcc, s0, sqrt_s0, n, ncc, dt, dx, qdp, ql, qup, quc, fast
            )
            qj, c1, c2, c3, c4, x = _secant_eval32(
                h, False, qj_0, c1, c2, c3, c4, z, sqrt_1z2, bw, bfd, twcc, s0, sqrt_s0, n, ncc, dt, dx, qdp, ql, qup, quc, fast
            )
            evaluations += 2
            if qj_0 - qj != F0:
                h_1 = h - ((qj * (h_0 - h)) / (qj_0 - qj))
                if h_1 < F0:
                    h_1 = h
            else:
                h_1 = h
            if h > F0:
                rerror = abs((h_1 - h) / h)
                aerror = abs(h_1 - h)
            else:
                rerror = F0
                aerror = F09
            h_0 = max(F0, h)
            h = max(F0, h_1)
            it += 1
            if h < MINDEPTH:
                break
        if it >= maxiter:
            tries += 1
            if tries <= 4:  # expand the search and allow more iterations, as NWM
                h = h * F133
                h_0 = h_0 * F067
                maxiter += 25
                continue
            converged = False
        break
    routed = ((c1 * qup) + (c2 * quc)) + (c3 * qdp)
    if routed + c4 < F0:
        if c4 < F0 and abs(c4) > routed:
            qdc = F0
        else:
            qdc = max((c1 * qup) + (c2 * quc) + c4, (c1 * qup) + (c3 * qdp) + c4)
    else:
        qdc = routed + c4
    return qdc, h, converged, evaluations


@numba.njit(cache=True, nogil=True)
def velocity_nwm(h, bw, cs, n, s0):
    """NWM velocity [m s-1] at depth h [m] (float32 arguments): Manning on the extended trapezoid
    only, floodplain ignored, as NWM reports it."""
    if h <= F0:
        return F0
    z = F1 if cs == F0 else F1 / cs
    twl = bw + F2 * z * h
    half = (twl - bw) / F2
    r = (h * (bw + twl) / F2) / (bw + F2 * math.sqrt(half * half + h * h))
    return (F1 / n) * (r**F2_3) * math.sqrt(s0)


# --------------------------------------------------------------------------- network loops
@numba.njit(cache=True, nogil=True, inline="always")
def _node_update(i, solver, dt, qup, quc, q_prev, d_prev, ql, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake):
    """New (flow, depth-or-elevation, converged, evaluations) of node i."""
    slot = lake_slot[i]
    if slot >= 0:
        # NWM: the reservoir gets the summed upstream inflow (quc: the current step's, or the
        # previous step's under the NWM convention) as both previous and current inflow, and no
        # lateral inflow; its 'depth' slot holds the water surface elevation.
        h_new, q_out = levelpool_step(
            quc, quc, F0, dt, d_prev[i], lake[slot, 0], lake[slot, 1], lake[slot, 2], lake[slot, 3],
            lake[slot, 4], lake[slot, 5], lake[slot, 6], lake[slot, 7], lake[slot, 8],
        )
        return q_out, h_new, True, 0
    return mc_secant(
        dt, qup, quc, q_prev[i], ql, dx[i], bw[i], tw[i], twcc[i], n[i], ncc[i], cs[i], s0[i], d_prev[i], solver == SOLVER_FAST
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _upstream_sum(i, up_ptr, up_idx, q):
    s = F0
    for k in range(up_ptr[i], up_ptr[i + 1]):
        s += q[up_idx[k]]
    return s


@numba.njit(cache=True, nogil=True)
def _sweep_serial(upstream_current, solver, dt, q_prev, d_prev, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new, status):
    """One step over all nodes in upstream-first order. With ``upstream_current`` the current
    step's upstream outflow is already in ``q_new`` when a node is reached (Gauss-Seidel)."""
    bad = 0
    evals = 0
    for i in range(q_prev.size):
        qup = _upstream_sum(i, up_ptr, up_idx, q_prev)
        quc = _upstream_sum(i, up_ptr, up_idx, q_new) if upstream_current else qup
        q, h, ok, ev = _node_update(i, solver, dt, qup, quc, q_prev, d_prev, ql[i], dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake)
        q_new[i] = q
        d_new[i] = h
        bad += not ok
        evals += ev
    status[0] += bad
    status[1] += evals


@numba.njit(cache=True, nogil=True, parallel=True)
def _sweep_previous_parallel(solver, dt, q_prev, d_prev, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new, status):
    bad = 0
    evals = 0
    for i in numba.prange(q_prev.size):
        qup = _upstream_sum(i, up_ptr, up_idx, q_prev)
        q, h, ok, ev = _node_update(i, solver, dt, qup, qup, q_prev, d_prev, ql[i], dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake)
        q_new[i] = q
        d_new[i] = h
        bad += not ok
        evals += ev
    status[0] += bad
    status[1] += evals


@numba.njit(cache=True, nogil=True)
def route_mc(solver, upstream_current, parallel, dt, first_step, substeps, qlat, q, d, up_ptr, up_idx,
             dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, out_q, out_d, out_every, status):
    """Route ``out_q.shape[0] * out_every`` steps of Muskingum-Cunge + level pool on a network.

    Parameters
    ----------
    solver : SOLVER_NWM or SOLVER_FAST.
    upstream_current : bool. False: upstream inflow of the previous step for both qup and quc
        (NWM / WRF-Hydro); True: quc is the current step's upstream outflow (t-route default).
    parallel : bool. Use the threaded sweep (only with ``upstream_current == False``).
    dt : float32 [s]. first_step : global index of the first step (selects the forcing column).
    substeps : routing steps per forcing interval; step k uses ``qlat[(first_step + k) // substeps]``.
    qlat : float32 [n_intervals, n] lateral inflow [m3 s-1], held constant over each interval.
    q, d : float32 [n] state (outflow; depth, or water elevation on lake nodes), updated in place.
    out_q, out_d : float32 [n_out, n] filled every ``out_every`` steps.
    status : int64 [2] accumulates (non-converged depth solves, secant evaluations).
    """
    q_new = np.empty_like(q)
    d_new = np.empty_like(d)
    n_out = out_q.shape[0]
    for k in range(n_out * out_every):
        ql = qlat[(first_step + k) // substeps]
        if parallel and not upstream_current:
            _sweep_previous_parallel(solver, dt, q, d, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new, status)
        else:
            _sweep_serial(upstream_current, solver, dt, q, d, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new, status)
        q[:] = q_new
        d[:] = d_new
        if (k + 1) % out_every == 0:
            j = (k + 1) // out_every - 1
            out_q[j, :] = q
            out_d[j, :] = d


@numba.njit(cache=True, nogil=True)
def velocity_field(d, bw, cs, n, s0, lake_slot, out_v):
    """NWM velocity of every channel node from its depth (0 on lake nodes)."""
    for i in range(d.size):
        out_v[i] = F0 if lake_slot[i] >= 0 else velocity_nwm(d[i], bw[i], cs[i], n[i], s0[i])


# --------------------------------------------------------------------------- linear Muskingum
@numba.njit(cache=True, nogil=True)
def muskingum_coefficients(k, x, dt, c0, c1, c2):
    """Linear Muskingum weights ``c0 = (dt - 2kx)/D``, ``c1 = (dt + 2kx)/D``, ``c2 = (2k - 2kx - dt)/D``,
    ``D = 2k - 2kx + dt`` (Chow, Maidment & Mays 1988, Applied Hydrology, eq. 8.4.7).

    k [s], x [1], dt [s]. Writes c0, c1, c2 (sum 1); returns the number of reaches with a negative
    weight (0 = stable: needs 2kx <= dt <= 2k(1-x)).
    """
    n_unstable = 0
    for i in range(k.size):
        two_kx = 2.0 * k[i] * x[i]
        denom = 2.0 * k[i] - two_kx + dt
        c0[i] = (dt - two_kx) / denom
        c1[i] = (dt + two_kx) / denom
        c2[i] = (2.0 * k[i] - two_kx - dt) / denom
        n_unstable += (c0[i] < 0.0) or (c2[i] < 0.0)
    return n_unstable


@numba.njit(cache=True, nogil=True)
def muskingum_step(q_in_prev, q_out_prev, lateral, c0, c1, c2, down, q_in, q_out):
    """One step of linear Muskingum on an upstream-first sorted network (float64, m3 s-1).

    ``O_t = c0 I_t + c1 I_{t-1} + c2 O_{t-1}``, ``I`` = upstream outflow of the same step plus
    lateral inflow. ``down[i] == -1`` marks an outlet. Writes q_in and q_out in place.
    """
    q_in[:] = 0.0
    for i in range(q_in.size):
        q_in[i] += lateral[i]
        q_out[i] = c0[i] * q_in[i] + c1[i] * q_in_prev[i] + c2[i] * q_out_prev[i]
        if down[i] >= 0:
            q_in[down[i]] += q_out[i]


@numba.njit(cache=True, nogil=True, parallel=True)
def stream_floor(c0, c1, c2, a, b, lateral, down, out_a, out_b):
    """Memory-bandwidth floor: touch the bytes a linear Muskingum step touches, with no dependency."""
    for i in numba.prange(a.size):
        out_a[i] = lateral[i] + (down[i] >= 0)
        out_b[i] = c0[i] * out_a[i] + c1[i] * a[i] + c2[i] * b[i]


@numba.njit(cache=True, nogil=True)
def muskingum_tiles(down, max_tile):
    """Cut an upstream-first depth-first network (each sub-basin a contiguous range, e.g.
    ``RiverNetwork.dfs_layout``) into tiles: the largest sub-basins of at most ``max_tile`` nodes.
    Returns (tile_start, tile_root) arrays and the trunk (the nodes in no tile, ascending)."""
    n = down.size
    size = np.ones(n, np.int64)
    for i in range(n):  # upstream first: a node's size is final when reached
        if down[i] >= 0:
            size[down[i]] += size[i]
    n_tiles = 0
    for i in range(n):
        if size[i] <= max_tile and (down[i] < 0 or size[down[i]] > max_tile):
            n_tiles += 1
    tile_start = np.empty(n_tiles, np.int64)
    tile_root = np.empty(n_tiles, np.int64)
    in_tile = np.zeros(n, np.bool_)
    k = 0
    for i in range(n):
        if size[i] <= max_tile and (down[i] < 0 or size[down[i]] > max_tile):
            tile_start[k], tile_root[k] = i - size[i] + 1, i
            in_tile[i - size[i] + 1:i + 1] = True
            k += 1
    return tile_start, tile_root, np.flatnonzero(~in_tile)


@numba.njit(cache=True, nogil=True)
def muskingum_rows(down, tile_start, tile_root, trunk):
    """The inflow row each node accumulates in, so that only live rows exist (a few per tile, not one per
    node) and stay in cache. In a depth-first layout a node's row is live from its first upstream node to
    itself, and these spans nest, so a row per nesting depth suffices inside a tile; row 0 of each tile
    (no node pushes into it) serves its headwaters. Trunk nodes, which the tile roots feed all at once,
    get a row each. Returns (row per node, number of rows)."""
    n = down.size
    row = np.zeros(n, np.int64)
    opened = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    base = 0
    for k in range(tile_start.size):
        depth = 0
        deepest = 0
        for i in range(tile_start[k], tile_root[k] + 1):
            row[i] = base + row[i] if opened[i] else base  # headwater: the tile's zero row
            if depth > 0 and stack[depth - 1] == i:
                depth -= 1
            d = down[i]
            if i != tile_root[k] and not opened[d]:
                opened[d] = True
                stack[depth] = d
                depth += 1
                deepest = max(deepest, depth)
                row[d] = depth  # relative to the tile's base, fixed up when d is reached
        base += deepest + 1
    for i in trunk:
        row[i] = base
        base += 1
    return row, base


@numba.njit(cache=True, nogil=True, inline="always")
def _muskingum_rows(i, r, d, block, step0, substeps, grouped, interval, qlat, q_in, q_out, c0, c1, c2, buf):
    """Node i over one block of steps from ``step0``: reads (and clears) its inflow row ``buf[r]`` and adds
    its outflow to row ``d`` (the row of the node below, or ``r`` itself to keep it there; -1: none).
    ``grouped``: the forcing interval never changes inside a group of four steps; ``interval[g]`` is
    the forcing interval of group g (an integer division per group costs more than the group's work).

    ``O_t = c2 O_{t-1} + x_t`` with ``x_t = c0 I_t + c1 I_{t-1}`` is a chain of one multiply and one add
    per step; taken four steps at a time from ``O_{t-1}`` (``O_{t+k} = c2^(k+1) O_{t-1} + ...``) the chain
    is one multiply-add per four steps and the rest runs in parallel. The rounding differs from the
    step-by-step sweep by ~1e-15 relative (tests/physics/test_muskingum_tiled.py)."""
    i_prev, o_prev = q_in[i], q_out[i]
    a, b, c = c0[i], c1[i], c2[i]
    cc = c * c
    ccc = cc * c
    cccc = cc * cc
    s = 0
    while grouped and s + 4 <= block:  # the row's inflow is replaced by the outflow, in place
        lateral = qlat[interval[s >> 2], i]
        in0 = buf[r, s] + lateral
        in1 = buf[r, s + 1] + lateral
        in2 = buf[r, s + 2] + lateral
        in3 = buf[r, s + 3] + lateral
        x0 = a * in0 + b * i_prev
        x1 = a * in1 + b * in0
        x2 = a * in2 + b * in1
        x3 = a * in3 + b * in2
        y1 = c * x0 + x1
        y2 = c * y1 + x2
        y3 = c * y2 + x3
        buf[r, s] = c * o_prev + x0
        buf[r, s + 1] = cc * o_prev + y1
        buf[r, s + 2] = ccc * o_prev + y2
        o_prev = cccc * o_prev + y3
        buf[r, s + 3] = o_prev
        i_prev = in3
        s += 4
    while s < block:
        inflow = buf[r, s] + qlat[(step0 + s) // substeps, i]
        o_prev = a * inflow + b * i_prev + c * o_prev
        i_prev = inflow
        buf[r, s] = o_prev
        s += 1
    if d != r:  # hand the outflow row to the node below (vectorised) and clear this one
        if d >= 0:
            for s in range(block):
                buf[d, s] += buf[r, s]
        for s in range(block):
            buf[r, s] = 0.0
    q_in[i], q_out[i] = i_prev, o_prev


@numba.njit(cache=True, nogil=True, parallel=True)
def route_muskingum_tiled(first_step, substeps, qlat, q_in, q_out, c0, c1, c2, down, tile_start, tile_root, trunk,
                          row, out_q, out_every, buf):
    """Linear Muskingum (same equations as ``muskingum_step``: this step's upstream outflow), node by node
    over blocks of ``buf.shape[1]`` steps (a divisor of ``out_every``). Each node's coefficients stay in
    registers for the block and its inflow row (``row``, from ``muskingum_rows``) is written by its
    upstream nodes just before it is read, so the work is cache-resident and latency-bound, not
    memory-bound. Tiles (independent sub-basins) run in parallel, each tile root keeping its outflow in
    its own row; the roots then feed the trunk, which runs in order. ``buf`` is zero on entry and on
    exit. The summation order is fixed by the layout, so results do not depend on the thread count."""
    block = buf.shape[1]
    n_blocks = out_q.shape[0] * out_every // block
    grouped = substeps % 4 == 0 and block % 4 == 0 and first_step % 4 == 0
    interval = np.empty(max(block // 4, 1), np.int64)
    for b in range(n_blocks):
        step0 = first_step + b * block
        for g in range(interval.size):
            interval[g] = (step0 + 4 * g) // substeps
        record = ((b + 1) * block) % out_every == 0
        j = (b + 1) * block // out_every - 1
        for k in numba.prange(tile_start.size):
            root = tile_root[k]
            for i in range(tile_start[k], root + 1):
                r = row[i]
                _muskingum_rows(i, r, row[down[i]] if i != root else r, block, step0, substeps, grouped, interval,
                                qlat, q_in, q_out, c0, c1, c2, buf)
                if record:
                    out_q[j, i] = q_out[i]
        for k in range(tile_root.size):  # the tiles' outflow (kept in the roots' rows) into the trunk
            r, d = row[tile_root[k]], down[tile_root[k]]
            for s in range(block):
                if d >= 0:
                    buf[row[d], s] += buf[r, s]
                buf[r, s] = 0.0
        for i in trunk:
            _muskingum_rows(i, row[i], row[down[i]] if down[i] >= 0 else -1, block, step0, substeps, grouped,
                            interval, qlat, q_in, q_out, c0, c1, c2, buf)
            if record:
                out_q[j, i] = q_out[i]


@numba.njit(cache=True, nogil=True, parallel=True)
def gather_columns(values, index, out):
    """``out[k, i] = values[k, index[i]]`` (cast to out's dtype), rows in parallel: forcing from network order
    into a kernel's layout (numpy's fancy indexing plus cast took as long as the linear routing itself)."""
    for k in numba.prange(out.shape[0]):
        row = values[k]
        for i in range(index.size):
            out[k, i] = row[index[i]]
