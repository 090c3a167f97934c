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
retries and stopping rules; ``Qj_0`` zero-initialised as in WRF-Hydro):

* ``nwm`` (``SOLVER_NWM``) keeps NWM's float32 operation order and libm ``powf``'s bits (glibc's
  algorithm inlined, ``hydro.kernels.libm``), and reproduces t-route bit for bit;
* ``fast`` (``SOLVER_FAST``) takes R^(2/3) from a division-free inverse cube root (``_pow23``, ~2 ulp)
  and one reciprocal for the four Cunge coefficients (float32 noise from ``nwm``).

One segment's secant is a chain of dependent divisions and powers, latency-bound. Under the NWM
upstream convention the segments of a step are independent, so both solvers run ``LANES`` segments
side by side (``_lanes_iteration``), written so
that LLVM turns the lanes into SIMD vectors: one float32 buffer for the lane state (fields at constant
offsets, so no aliasing), selects instead of branches. ``nwm`` takes its powers from glibc's powf
algorithm in vector loops (``hydro.kernels.libm``, libm's bits); ``fast`` vectorises ``_pow23``. A lane
whose secant has stopped takes the next segment (``_lanes_block``); lake nodes and the rare solve still
going after ``LANE_ITERATIONS`` iterations take the scalar path (``mc_secant``). With t-route's current-step
upstream inflow the sweep is sequential and scalar.

Why not a more accurate solver: on flat segments (S0 ~ 1e-5) the residual is nearly flat in h and
NWM's secant stops at a 1 % step far from the true root; Newton to the true root moved flows by
up to 0.8 % per step there and ~20 % (99th percentile) after 28 h on Lower Colorado. Matching the
NWM means following its iteration, so the fast solver saves arithmetic, not iterations.

Units: discharge m3 s-1, lengths/widths/depths m, dt s, slope m m-1, Manning n s m-1/3.
Networks come in as arrays in upstream-first order: ``up_ptr``/``up_idx`` list each node's
upstream nodes (CSR); ``lake_slot[i] >= 0`` marks a level-pool lake node (row of the lake arrays),
``FORCED_NODE`` a node whose outflow ``route_mc`` imposes (not solved).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .constants import F0, F1, F2
from .libm import POW_LANES_SCRATCH_F64, POW_LANES_SCRATCH_U64, bits_float32, float32_bits, powf_23, powf_23_53, powf_23_53_lanes
from .reservoir import levelpool_step

SOLVER_NWM = 0
SOLVER_FAST = 1
FORCED_NODE = -2  # lake_slot of a channel node whose outflow is imposed (route_mc's forced_node): not solved

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


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _geometry32(h, z, sqrt_1z2, bw, bfd, twcc):
    """Trapezoid + compound geometry at depth h, float32: (twl, h_gt, area, wp, areac, wpc, R). Written
    with selects, not branches, so that the lane loops vectorise; the scalar secant uses it too."""
    twl = bw + F2 * z * h
    no_cc = twcc <= F0  # NWM 3.0: no floodplain -> extend the trapezoid upward
    h_gt = F0 if no_cc else max(h - bfd, F0)
    h_lt = h if no_cc else min(bfd, h)
    area = (bw + h_lt * z) * h_lt
    wp = bw + F2 * h_lt * sqrt_1z2
    areac = twcc * h_gt
    wpc = twcc + (F2 * h_gt) if h_gt > F0 else F0
    return twl, h_gt, area, wp, areac, wpc, (area + areac) / (wp + wpc)


@numba.njit(cache=True, nogil=True, inline="always")
def _secant_eval32(h, upper, qj_prev, c1, c2, c3, c4, z, sqrt_1z2, bw, bfd, twcc, s0, sqrt_s0, n, ncc, dt, dx, qdp, ql, qup, quc, fast):
    """Residual of the depth equation at h (t-route ``secant2_h``).

    ``upper`` selects the first evaluation (X from ``qj_prev``, clamp [0, 0.5]) or the second
    (X from the C's passed in, clamp [0.25, 0.5]). Returns (Qj, C1, C2, C3, C4, X).
    """
    twl, _, area, wp, areac, wpc, r = _geometry32(h, z, sqrt_1z2, bw, bfd, twcc)
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
    return _mc_outflow(c1, c2, c3, c4, qup, quc, qdp), h, converged, evaluations


@numba.njit(cache=True, nogil=True, inline="always")
def _mc_outflow(c1, c2, c3, c4, qup, quc, qdp):
    """Outflow from the converged Cunge coefficients; a negative lateral inflow never makes it negative (NWM)."""
    routed = ((c1 * qup) + (c2 * quc)) + (c3 * qdp)
    if routed + c4 < F0:
        if c4 < F0 and abs(c4) > routed:
            return F0
        return max((c1 * qup) + (c2 * quc) + c4, (c1 * qup) + (c3 * qdp) + c4)
    return routed + c4


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


# --------------------------------------------------------------------------- lanes: segments side by side
LANES = 32  # segments side by side (first fast-solver version, 328k segments: 16 to 64 alike, 8 slower by 14 %)
SCALAR_GROUP = 8  # a block of at most this many nodes is solved node by node (measured: 2 nodes 1.6 ms against 5.7 over 72 h; from 12 the lanes win)
LANE_ITERATIONS = 12  # secant iterations in a lane; a solve still going continues on the scalar path
LANE_BLOCK = 4096  # segments per parallel task at most (its lane buffer allocated once)
PARALLEL_BLOCKS = 32  # a smaller network is cut into this many blocks, so the threads share the work evenly
F4 = np.float32(4.0)
F1_3 = np.float32(1.0 / 3.0)
INV_CBRT_MAGIC = np.int32(0x54A2FA8C)  # float32 bits of ~x^(-1/3) = 4/3 bits(1) - bits(x)/3
# Field offsets in a lane buffer: one float32 array with fields at constant offsets, so that LLVM
# can prove the stores do not alias the loads and vectorise the lane loop.
(L_BW, L_TWCC, L_S0, L_N, L_NCC, L_DX, L_QDP, L_QL, L_QUP, L_Z, L_SQRT_1Z2, L_BFD, L_SQRT_S0,  # inputs
 L_H, L_H0, L_QJ0, L_C1, L_C2, L_C3, L_C4, L_ACTIVE,  # secant state
 L_R, L_HGT, L_R23, L_R53, L_HGT23, L_QA, L_A1, L_A2, L_A3, L_A4) = [k * LANES for k in range(31)]  # scratch
LANE_FIELDS = 31


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _pow23(x):
    """x^(2/3) for float32 x >= 0 within ~2 ulp of powf: x * x^(-1/3), the inverse cube root from a
    bit-level first guess (error < 4 %) and three Newton steps ``y (4 - x y^3) / 3`` (no division)."""
    y = bits_float32(INV_CBRT_MAGIC - np.int32(np.float32(float32_bits(x)) * F1_3))
    y = y * (F4 - x * y * y * y) * F1_3
    y = y * (F4 - x * y * y * y) * F1_3
    y = y * (F4 - x * y * y * y) * F1_3
    return x * y if x > F0 else F0


@numba.njit(cache=True, nogil=True)
def _pow23_vector(x):
    """``_pow23`` over an array (for tests)."""
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = _pow23(x[i])
    return out


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _lane_powers(w, at, exact, wd, wu):
    """R^(2/3), R^(5/3) and (h - bfd)^(2/3) of every lane at the depths in field ``at``. ``exact``: libm
    powf's bits as NWM, R's two powers from glibc's algorithm in vector loops (``powf_23_53_lanes``, scratch
    ``wd``/``wu``), the overbank power where there is one; else ``_pow23``, vectorised. An inactive lane's
    powers are stale, and unused."""
    for j in range(LANES):
        _, h_gt, _, _, _, _, r = _geometry32(w[at + j], w[L_Z + j], w[L_SQRT_1Z2 + j], w[L_BW + j], w[L_BFD + j], w[L_TWCC + j])
        w[L_R + j] = r
        w[L_HGT + j] = h_gt
    if exact:
        powf_23_53_lanes(w, L_R, L_R23, L_R53, LANES, wd, wu)
        for j in range(LANES):  # overbank lanes only (0 otherwise, and unused where inactive)
            if w[L_ACTIVE + j] > F0:
                w[L_HGT23 + j] = powf_23(w[L_HGT + j]) if w[L_HGT + j] > F0 else F0
    else:
        for j in range(LANES):
            r23 = _pow23(w[L_R + j])
            w[L_R23 + j] = r23
            w[L_R53 + j] = w[L_R + j] * r23
            w[L_HGT23 + j] = _pow23(w[L_HGT + j])


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _lane_eval(w, j, h, upper, exact, qj_prev, c1, c2, c3, c4, dt):
    """``_secant_eval32`` (NWM upstream convention: qup = quc) for lane j at depth h, with the powers
    from ``_lane_powers``. Both sides of every branch are computed and a select drops the unused one
    (possibly inf or NaN). ``exact`` keeps NWM's float32 operation order; else one reciprocal
    serves the four coefficients."""
    bw, twcc, s0, n, ncc, dx = w[L_BW + j], w[L_TWCC + j], w[L_S0 + j], w[L_N + j], w[L_NCC + j], w[L_DX + j]
    qdp, ql, qup = w[L_QDP + j], w[L_QL + j], w[L_QUP + j]
    z, sqrt_1z2, bfd, sqrt_s0 = w[L_Z + j], w[L_SQRT_1Z2 + j], w[L_BFD + j], w[L_SQRT_S0 + j]
    r23, r53 = w[L_R23 + j], w[L_R53 + j]
    twl, _, area, wp, areac, wpc, _ = _geometry32(h, z, sqrt_1z2, bw, bfd, twcc)
    overbank = (h > bfd) and (twcc > F0) and (ncc > F0)
    ck_main = (sqrt_s0 / n) * ((F5_3 * r23) - ((F2_3 * r53) * (F2 * sqrt_1z2 / (bw + F2 * (bfd if overbank else h) * z))))
    ck_over = (ck_main * area + ((sqrt_s0 / ncc) * F5_3 * w[L_HGT23 + j]) * areac) / (area + areac)
    ck = max(F0, ck_over if overbank else ck_main) if h > F0 else F0
    km = max(dt, dx / ck) if ck > F0 else dt
    width = twcc if overbank else twl
    if upper:
        x = min(F05, max(F0, F05 * (F1 - (qj_prev / (F2 * width * s0 * ck * dx)))))
    else:
        qref = ((c1 * qup) + (c2 * qup)) + (c3 * qdp) + c4
        x = min(F05, max(F025, F05 * (F1 - (qref / (F2 * width * s0 * ck * dx)))))
    x = x if ck > F0 else F05
    half_dt = dt / F2
    d = km * (F1 - x) + half_dt
    if exact:
        c1 = (km * x + half_dt) / d
        c2 = (half_dt - km * x) / d
        c3 = (km * (F1 - x) - half_dt) / d
        c4 = (ql * dt) / d
    else:
        rd = F1 / d
        c1 = (km * x + half_dt) * rd
        c2 = (half_dt - km * x) * rd
        c3 = (km * (F1 - x) - half_dt) * rd
        c4 = (ql * dt) * rd
    routed = ((c1 * qup) + (c2 * qup)) + (c3 * qdp)
    if not upper:
        c4 = -routed if (c4 < F0 and abs(c4) > routed) else c4
    perimeter = wp + wpc
    if exact:
        qn = ((F1 / (((wp * n) + (wpc * ncc)) / perimeter)) * (area + areac) * r23) * sqrt_s0
    else:
        qn = (perimeter / ((wp * n) + (wpc * ncc))) * (area + areac) * r23 * sqrt_s0
    qj = (routed + c4) - qn if perimeter > F0 else F0
    return qj, c1, c2, c3, c4


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _lane_start_powers(w, j, exact):
    """The powers of lane j at its first depth h_0 (``_lane_powers`` for one lane, as a segment enters it)."""
    _, h_gt, _, _, _, _, r = _geometry32(w[L_H0 + j], w[L_Z + j], w[L_SQRT_1Z2 + j], w[L_BW + j], w[L_BFD + j], w[L_TWCC + j])
    if exact:
        w[L_R23 + j], w[L_R53 + j] = powf_23_53(r)
        w[L_HGT23 + j] = powf_23(h_gt) if h_gt > F0 else F0
    else:
        r23 = _pow23(r)
        w[L_R23 + j] = r23
        w[L_R53 + j] = r * r23
        w[L_HGT23 + j] = _pow23(h_gt)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _lanes_iteration(w, dt, exact, wd, wu):
    """One secant iteration (mc_secant's loop body) of every active lane in buffer w; an inactive lane keeps its
    state. The powers at h_0 are in the lanes' fields: put there as the segment entered the lane, or, later, those
    of the previous iteration's depth h, which is now h_0 (h >= 0, so max(0, h) = h): the same numbers without
    computing them again."""
    for j in range(LANES):  # first evaluation, at h_0
        qj_0, c1, c2, c3, c4 = _lane_eval(w, j, w[L_H0 + j], True, exact, w[L_QJ0 + j], w[L_C1 + j], w[L_C2 + j],
                                          w[L_C3 + j], w[L_C4 + j], dt)
        w[L_QA + j], w[L_A1 + j], w[L_A2 + j], w[L_A3 + j], w[L_A4 + j] = qj_0, c1, c2, c3, c4
    _lane_powers(w, L_H, exact, wd, wu)
    for j in range(LANES):  # second evaluation, at h, and the secant step
        active = w[L_ACTIVE + j] > F0
        h, h_0, qj_0 = w[L_H + j], w[L_H0 + j], w[L_QA + j]
        qj, c1, c2, c3, c4 = _lane_eval(w, j, h, False, exact, qj_0, w[L_A1 + j], w[L_A2 + j], w[L_A3 + j], w[L_A4 + j], dt)
        dq = qj_0 - qj
        h_1 = h - ((qj * (h_0 - h)) / (dq if dq != F0 else F1))
        h_1 = h if (dq == F0 or h_1 < F0) else h_1
        h_new = max(F0, h_1)
        # mc_secant goes on while rerror > 1 % and aerror >= MINDEPTH (h > 0), and stops below MINDEPTH
        going = (h > F0) and (h_new >= MINDEPTH) and abs((h_1 - h) / (h if h > F0 else F1)) > F001 and abs(h_1 - h) >= MINDEPTH
        w[L_QJ0 + j] = qj_0 if active else w[L_QJ0 + j]
        w[L_C1 + j] = c1 if active else w[L_C1 + j]
        w[L_C2 + j] = c2 if active else w[L_C2 + j]
        w[L_C3 + j] = c3 if active else w[L_C3 + j]
        w[L_C4 + j] = c4 if active else w[L_C4 + j]
        w[L_H0 + j] = max(F0, h) if active else h_0
        w[L_H + j] = h_new if active else h
        w[L_ACTIVE + j] = F1 if (active and going) else F0


@numba.njit(cache=True, nogil=True, inline="always")
def _lane_enter(w, j, i, qup, q_prev, d_prev, ql, dx, bw, tw, twcc, n, ncc, cs, s0):
    """Node i's inputs and first secant state into lane j (active)."""
    z = F1 if cs[i] == F0 else F1 / cs[i]
    w[L_BW + j], w[L_TWCC + j], w[L_S0 + j], w[L_N + j], w[L_NCC + j], w[L_DX + j] = bw[i], twcc[i], s0[i], n[i], ncc[i], dx[i]
    w[L_QDP + j], w[L_QL + j], w[L_QUP + j] = q_prev[i], ql[i], qup
    w[L_Z + j] = z
    w[L_SQRT_1Z2 + j] = math.sqrt(F1 + z * z)
    w[L_BFD + j] = _bankfull_depth32(bw[i], tw[i], z)
    w[L_SQRT_S0 + j] = math.sqrt(s0[i])
    depth = max(d_prev[i], F0)
    w[L_H + j] = (depth * F133) + MINDEPTH
    w[L_H0 + j] = depth * F067
    w[L_QJ0 + j] = w[L_C1 + j] = w[L_C2 + j] = w[L_C3 + j] = w[L_C4 + j] = F0
    w[L_ACTIVE + j] = F1


@numba.njit(cache=True, nogil=True, error_model="numpy")  # the inlined lane code divides speculatively
def _lanes_block(solver, b, block, dt, q_prev, d_prev, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new):
    """Block b (``block`` nodes) through one step, NWM upstream convention; returns (non-converged, evaluations).

    The block's segments stream through LANES lanes: a lane whose secant has stopped writes its segment's result
    and takes the next segment, so no lane waits for the slowest of a group (in lockstep groups 43 % of the lane
    evaluations were such waits). Each segment's iteration is its own whatever lane or company it has, so the
    numbers are those of ``mc_secant``, and the blocks' size changes none. Lakes take the scalar path; so does a
    solve still going after LANE_ITERATIONS iterations (from its start), and, under ``nwm``, a block of at most
    SCALAR_GROUP nodes (the lanes' vector work is for LANES lanes whatever is in them; ``fast`` lanes take
    ``_pow23``, not powf, so stay lanes)."""
    lo = b * block
    hi = min(q_prev.size, lo + block)
    bad = 0
    evals = 0
    if hi - lo <= SCALAR_GROUP and solver == SOLVER_NWM:
        for i in range(lo, hi):
            qup = _upstream_sum(i, up_ptr, up_idx, q_prev)
            q, h, ok, ev = _node_update(i, solver, dt, qup, qup, q_prev, d_prev, ql[i], dx, bw, tw, twcc, n, ncc, cs, s0,
                                        lake_slot, lake)
            q_new[i], d_new[i] = q, h
            bad += not ok
            evals += ev
        return bad, evals
    exact = solver == SOLVER_NWM
    w = np.zeros(LANE_FIELDS * LANES, np.float32)
    wd = np.empty(POW_LANES_SCRATCH_F64 * LANES, np.float64)
    wu = np.empty(POW_LANES_SCRATCH_U64 * LANES, np.uint64)
    node = np.full(LANES, -1, np.int64)  # the segment in each lane (-1: none)
    iterations = np.zeros(LANES, np.int64)
    nxt = lo
    while True:
        for j in range(LANES):  # empty lanes take the next segments that need a secant
            while node[j] < 0 and nxt < hi:
                i = nxt
                nxt += 1
                qup = _upstream_sum(i, up_ptr, up_idx, q_prev)
                if lake_slot[i] >= 0:  # a lake: level pool
                    q, h, ok, ev = _node_update(i, solver, dt, qup, qup, q_prev, d_prev, ql[i], dx, bw, tw, twcc, n, ncc,
                                                cs, s0, lake_slot, lake)
                    q_new[i], d_new[i] = q, h
                    bad += not ok
                    evals += ev
                elif lake_slot[i] != -1 or not (ql[i] > F0 or qup > F0 or q_prev[i] > F0):
                    q_new[i], d_new[i] = F0, F0  # forced (route_mc imposes its outflow), or no inflow at all
                else:
                    _lane_enter(w, j, i, qup, q_prev, d_prev, ql, dx, bw, tw, twcc, n, ncc, cs, s0)
                    _lane_start_powers(w, j, exact)
                    node[j] = i
                    iterations[j] = 0
        busy = 0
        for j in range(LANES):
            busy += 1 if node[j] >= 0 else 0
        if busy == 0:
            break
        if exact:  # constant arguments, so each inlined copy is specialised
            _lanes_iteration(w, dt, True, wd, wu)
        else:
            _lanes_iteration(w, dt, False, wd, wu)
        evals += 2 * busy
        for j in range(LANES):
            i = node[j]
            if i < 0:
                continue
            iterations[j] += 1
            if w[L_ACTIVE + j] == F0:  # the secant stopped: the outflow from its Cunge coefficients
                q_new[i] = _mc_outflow(w[L_C1 + j], w[L_C2 + j], w[L_C3 + j], w[L_C4 + j], w[L_QUP + j], w[L_QUP + j], q_prev[i])
                d_new[i] = w[L_H + j]
                node[j] = -1
            elif iterations[j] >= LANE_ITERATIONS:  # the rare long solve: the scalar path, from its start
                qup = w[L_QUP + j]
                q, h, ok, ev = _node_update(i, solver, dt, qup, qup, q_prev, d_prev, ql[i], dx, bw, tw, twcc, n, ncc, cs, s0,
                                            lake_slot, lake)
                q_new[i], d_new[i] = q, h
                bad += not ok
                evals += ev
                w[L_ACTIVE + j] = F0
                node[j] = -1
    return bad, evals


@numba.njit(cache=True, nogil=True)
def _sweep_lanes_serial(solver, dt, q_prev, d_prev, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new, status):
    for b in range((q_prev.size + LANE_BLOCK - 1) // LANE_BLOCK):
        nb, ne = _lanes_block(solver, b, LANE_BLOCK, dt, q_prev, d_prev, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new)
        status[0] += nb
        status[1] += ne


@numba.njit(cache=True, nogil=True, parallel=True)
def _sweep_lanes_parallel(solver, dt, q_prev, d_prev, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new, status):
    bad = 0
    evals = 0
    # at least PARALLEL_BLOCKS blocks (a flood's costly segments lie together in the network's order: with one
    # block per thread a thread sat idle), at most LANE_BLOCK nodes each, whole lane groups
    block = min(LANE_BLOCK, max(LANES, ((q_prev.size + PARALLEL_BLOCKS - 1) // PARALLEL_BLOCKS + LANES - 1) // LANES * LANES))
    for b in numba.prange((q_prev.size + block - 1) // block):
        nb, ne = _lanes_block(solver, b, block, dt, q_prev, d_prev, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new)
        bad += nb
        evals += ne
    status[0] += bad
    status[1] += evals


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
def _sweep_current(solver, dt, q_prev, d_prev, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new, status):
    """One step over all nodes in upstream-first order, each taking the current step's upstream
    outflow (already in ``q_new`` when it is reached: Gauss-Seidel, t-route's default)."""
    bad = 0
    evals = 0
    for i in range(q_prev.size):
        qup = _upstream_sum(i, up_ptr, up_idx, q_prev)
        quc = _upstream_sum(i, up_ptr, up_idx, q_new)
        q, h, ok, ev = _node_update(i, solver, dt, qup, quc, q_prev, d_prev, ql[i], dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake)
        q_new[i] = q
        d_new[i] = h
        bad += not ok
        evals += ev
    status[0] += bad
    status[1] += evals


@numba.njit(cache=True, nogil=True)
def route_mc(solver, upstream_current, parallel, dt, first_step, substeps, qlat, q, d, up_ptr, up_idx,
             dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, out_q, out_d, out_every, status,
             record_node, record_q, forced_node, forced_q):
    """Route ``out_q.shape[0] * out_every`` steps of Muskingum-Cunge + level pool on a network.

    Parameters
    ----------
    solver : SOLVER_NWM or SOLVER_FAST.
    upstream_current : bool. False: upstream inflow of the previous step for both qup and quc
        (NWM / WRF-Hydro); True: quc is the current step's upstream outflow (t-route default).
    parallel : bool. Lane groups on numba threads (only with ``upstream_current == False``; results identical).
    dt : float32 [s]. first_step : global index of the first step (selects the forcing column).
    substeps : routing steps per forcing interval; step k uses ``qlat[(first_step + k) // substeps]``.
    qlat : float32 [n_intervals, n] lateral inflow [m3 s-1], held constant over each interval.
    q, d : float32 [n] state (outflow; depth, or water elevation on lake nodes), updated in place.
    out_q, out_d : float32 [n_out, n] filled every ``out_every`` steps.
    status : int64 [2] accumulates (non-converged depth solves, secant evaluations).
    record_node, record_q : int64 [r], float32 [steps, r]: the outflow of nodes ``record_node`` after every
        step k of this call goes to ``record_q[k]`` (the inflow a later partial run of the network needs).
    forced_node, forced_q : int64 [m], float32 [steps, m]: after every step k the outflow of nodes
        ``forced_node`` is set to ``forced_q[k]`` (nodes that stand for an unchanged upstream network, whose
        outflow an earlier run recorded; under the previous-step convention their downstream nodes then see,
        step for step, exactly what they saw in that run). Empty arrays: neither.
    """
    q_new = np.empty_like(q)
    d_new = np.empty_like(d)
    n_out = out_q.shape[0]
    for k in range(n_out * out_every):
        ql = qlat[(first_step + k) // substeps]
        if not upstream_current:
            if parallel:
                _sweep_lanes_parallel(solver, dt, q, d, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new, status)
            else:
                _sweep_lanes_serial(solver, dt, q, d, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new, status)
        else:
            _sweep_current(solver, dt, q, d, ql, up_ptr, up_idx, dx, bw, tw, twcc, n, ncc, cs, s0, lake_slot, lake, q_new, d_new, status)
        for f in range(forced_node.size):
            q_new[forced_node[f]] = forced_q[k, f]
        q[:] = q_new
        d[:] = d_new
        for r in range(record_node.size):
            record_q[k, r] = q[record_node[r]]
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


@numba.njit(cache=True, nogil=True)
def gather_columns_serial(values, index, out):
    """:func:`gather_columns` on the calling thread: for models routed on worker threads (numba's workqueue
    threading layer must not be entered from several threads at once, and small pieces gain nothing)."""
    for k in range(out.shape[0]):
        row = values[k]
        for i in range(index.size):
            out[k, i] = row[index[i]]
