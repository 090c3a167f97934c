"""One-dimensional Saint-Venant kernels on tabulated cross-sections: property lookup, the steady
standard-step profile and the Preissmann four-point implicit scheme with a Newton iteration.

Geometry comes in as per-node property tables on a uniform stage grid (the caller builds them from the
surveyed station-elevation tables, hydro/hydraulics/sections.py): ``table[i, k, p]`` holds property ``p``
of node ``i`` at stage ``z0[i] + k * dz`` [m], ``k < nlev[i]``, with

    p = 0 flow area A [m2], 1 top width B [m] (limit from above), 2 conveyance K [m3 s-1],
        3 momentum coefficient beta [1], 4 energy coefficient alpha [1].

Between two levels A is the quadratic that matches A at both levels and B at the lower one (so dA/dz is the
width the Jacobian uses and storage is A itself), K, beta and alpha are linear. Above the last level the
section is extended by vertical walls (A grows with the top width, K with its last slope). Below ``z0`` the
caller's table holds a narrow slot, so A > 0 for every stage above ``z0``.

Unsteady equations (conservative form, x increasing downstream, Q > 0 downstream):

    dA/dt + dQ/dx = q_l
    sigma (dQ/dt + d(beta Q^2 / A)/dx) + g A dZ/dx + g A Q|Q| / K^2 = 0

Z the water level. sigma is the local partial inertia factor of Fread, Jin & Lewis (1996): sigma =
1 - Fr^m for Fr < 1, 0 for Fr >= 1 (m = ``lpi_m``; m = 0: full inertia, sigma = 1; m < 0: no inertia,
sigma = 0, the diffusive wave), evaluated per reach at the start of each step from the larger Froude
number of its two nodes (a reach touching supercritical flow, such as a hydraulic jump's toe, has no
inertia terms). Preissmann box scheme on each reach j (nodes j, j+1, length dx_j), weight theta in time
and 1/2 in space; reach averages A = (A_j + A_j+1)/2, Q likewise, K = (K_j + K_j+1)/2.
Both equations are multiplied by dx_j; summed over the reaches, continuity gives exactly
storage(n+1) - storage(n) = dt (theta-weighted inflow + lateral - outflow), storage = sum dx_j (A_j +
A_j+1)/2, so mass is conserved to the Newton tolerance. The 2N x 2N Newton system is banded (2 below,
2 above the diagonal) and solved by Gaussian elimination with partial pivoting in O(N).

References: Cunge, Holly & Verwey (1980) Practical aspects of computational river hydraulics, ch. 3-4;
Fread, Jin & Lewis (1996) doi:10.1061/(ASCE)0733-9437(1996)122:5(308) (LPI);
HEC-RAS Hydraulic Reference Manual (2016), ch. 2 (standard step) and ch. 3 (unsteady).
"""

from __future__ import annotations

import math

import numba
import numpy as np

AREA, WIDTH, CONVEYANCE, BETA, ALPHA = 0, 1, 2, 3, 4
N_PROPERTIES = 5

# unsteady status codes (the model layer turns them into NumericalError)
OK, NO_CONVERGENCE, DRY_BELOW_SLOT, SINGULAR = 0, 1, 2, 3
DS_STAGE, DS_RATING, DS_NORMAL = 0, 1, 2
CHANNEL, WEIR, GATE = 0, 1, 2  # what joins two nodes: a reach of channel or an internal structure
BREAK = 3  # networks: two consecutive nodes in different branches (no equation joins them)
# lpi_m values that are not LPI exponents: full inertia, none (diffusive wave), and full inertia with the
# transcritical treatment (``_regimes``: one reach only)
FULL_INERTIA, NO_INERTIA, TRANSCRITICAL = 0.0, -1.0, -2.0
SUPER_FROUDE = 1.0 + 1e-6  # a node is supercritical above this Froude number (a critical control sits at 1)
# a jump moves to the next reach only where the branch it would give way to has this much more specific
# force: where the two are about equal (a jump at a node) it stays put rather than hop between two reaches
JUMP_HYSTERESIS = 1.01
KL_REACH = 3  # sub-diagonals of the one-reach Newton system (the transcritical row shift adds one)


@numba.njit(cache=True, nogil=True)
def weir_flow(z1, z2, crest, cw):
    """Broad weir between levels z1 (upstream face) and z2 [m]: Q = cw h1^1.5 (1 - (h2/h1)^1.5)^0.385
    (Villemonte 1947 submergence; h above the crest; cw = coefficient x width [m1.5 s-1]), flowing from
    the higher side, negative when z2 > z1. Above 98 % submergence the factor falls linearly to 0 at
    equal levels, so the Newton iteration sees a finite slope."""
    sign = 1.0
    if z2 > z1:
        z1, z2 = z2, z1
        sign = -1.0
    h1 = z1 - crest
    if h1 <= 0.0:
        return 0.0
    r = max(z2 - crest, 0.0) / h1
    if r <= 0.98:
        f = (1.0 - r**1.5) ** 0.385
    else:
        f = (1.0 - 0.98**1.5) ** 0.385 * (1.0 - r) / 0.02
    return sign * cw * h1**1.5 * f


@numba.njit(cache=True, nogil=True)
def lookup(table, z0, nlev, dz, i, z):
    """Properties of node ``i`` at stage ``z`` [m]: (A, B = dA/dz, K, dK/dz, beta, dbeta/dz, alpha)."""
    f = (z - z0[i]) / dz
    last = nlev[i] - 1
    if f < 0.0:  # below the slot bottom: A goes negative, the caller refuses it
        b = table[i, 0, WIDTH]
        return (table[i, 0, AREA] + b * (z - z0[i]), b, 0.0, 0.0, table[i, 0, BETA], 0.0, table[i, 0, ALPHA])
    if f >= last:  # above the surveyed top: vertical walls
        d = z - (z0[i] + last * dz)
        b = table[i, last, WIDTH]
        dk = (table[i, last, CONVEYANCE] - table[i, last - 1, CONVEYANCE]) / dz
        return (table[i, last, AREA] + b * d, b, table[i, last, CONVEYANCE] + dk * d, dk,
                table[i, last, BETA], 0.0, table[i, last, ALPHA])
    k = int(f)
    d = (f - k) * dz
    a0 = table[i, k, AREA]
    b0 = table[i, k, WIDTH]
    c = (table[i, k + 1, AREA] - a0 - b0 * dz) / (dz * dz)
    w = d / dz
    k0 = table[i, k, CONVEYANCE]
    dk = (table[i, k + 1, CONVEYANCE] - k0) / dz
    be0 = table[i, k, BETA]
    dbe = (table[i, k + 1, BETA] - be0) / dz
    al = table[i, k, ALPHA] + w * (table[i, k + 1, ALPHA] - table[i, k, ALPHA])
    return a0 + b0 * d + c * d * d, b0 + 2.0 * c * d, k0 + dk * d, dk, be0 + dbe * d, dbe, al


@numba.njit(cache=True, nogil=True)
def storage_volume(table, z0, nlev, dz, dx, z, reach_kind):
    """Water volume [m3] between the nodes: sum of dx_j (A_j + A_j+1) / 2 over the channel reaches (a
    structure's 1 m between its faces stores nothing)."""
    total = 0.0
    a_prev = lookup(table, z0, nlev, dz, 0, z[0])[0]
    for j in range(dx.shape[0]):
        a_next = lookup(table, z0, nlev, dz, j + 1, z[j + 1])[0]
        if reach_kind[j] == CHANNEL:
            total += 0.5 * dx[j] * (a_prev + a_next)
        a_prev = a_next
    return total


@numba.njit(cache=True, nogil=True)
def _specific_energy(table, z0, nlev, dz, i, z, q, g):
    a, _, _, _, _, _, al = lookup(table, z0, nlev, dz, i, z)
    return z + al * q * q / (2.0 * g * a * a)


@numba.njit(cache=True, nogil=True)
def critical_stage(table, z0, nlev, dz, i, q, g):
    """Stage [m] of minimum specific energy Z + alpha Q^2 / (2 g A^2) at node ``i`` for discharge ``q``:
    a scan of the stage grid, then a golden-section refinement around the lowest level."""
    q = abs(q)
    best_k = 1
    best_e = np.inf
    for k in range(1, nlev[i]):
        e = _specific_energy(table, z0, nlev, dz, i, z0[i] + k * dz, q, g)
        if e < best_e:
            best_e = e
            best_k = k
    lo = z0[i] + (best_k - 1) * dz + 1e-9
    hi = z0[i] + (best_k + 1) * dz
    if best_k == nlev[i] - 1:  # minimum at the top: search on up the vertical walls
        hi = z0[i] + (best_k + 50) * dz
    r = 0.5 * (math.sqrt(5.0) - 1.0)
    for _ in range(80):
        m1 = hi - r * (hi - lo)
        m2 = lo + r * (hi - lo)
        if _specific_energy(table, z0, nlev, dz, i, m1, q, g) < _specific_energy(table, z0, nlev, dz, i, m2, q, g):
            hi = m2
        else:
            lo = m1
        if hi - lo < 1e-9:
            break
    return 0.5 * (lo + hi)


@numba.njit(cache=True, nogil=True)
def _energy_residual(table, z0, nlev, dz, i_new, z, q_new, head_known, q_known, k_known, length, sign, g):
    """Energy balance between a known section (total head, discharge, conveyance) and node ``i_new`` at
    stage ``z``: E_new - head_known - sign * L * Sf, Sf = ((Q1 + Q2) / (K1 + K2))^2 (average conveyance)."""
    a, _, k, _, _, _, al = lookup(table, z0, nlev, dz, i_new, z)
    sf = ((q_new + q_known) / (k + k_known)) ** 2
    return z + al * q_new * q_new / (2.0 * g * a * a) - head_known - sign * length * sf


@numba.njit(cache=True, nogil=True)
def standard_step(table, z0, nlev, dz, dx, q, thalweg, z_boundary, supercritical, g, z_out, reach_kind,
                  reach_crest, reach_cw, reach_level, critical_out):
    """Steady gradually varied flow by the standard-step method (energy equation between adjacent nodes,
    average-conveyance friction slope, velocity-head coefficient alpha from the subdivided conveyance).

    Subcritical: march upstream from ``z_boundary`` at the last node; supercritical: march downstream from
    ``z_boundary`` at the first node. ``q`` [m3 s-1] per node, ``dx`` [m] per reach. Where the energy
    equation has no root on the requested side of critical depth the node is set to critical depth
    (HEC-RAS practice). Across a structure (subcritical only) the upstream face's level is the weir's head
    for the discharge (given the level below) or a gate's ``reach_level``. Writes ``z_out`` [m] and
    ``critical_out`` (1 where set to critical depth); returns the number of such nodes.
    """
    n = z_out.shape[0]
    n_critical = 0
    critical_out[:] = 0
    if not supercritical:
        z_out[n - 1] = z_boundary
        for i in range(n - 2, -1, -1):
            if reach_kind[i] == GATE:
                z_out[i] = reach_level[i]
                continue
            if reach_kind[i] == WEIR:
                lo = max(z_out[i + 1], reach_crest[i])
                hi = lo + 1.0
                while weir_flow(hi, z_out[i + 1], reach_crest[i], reach_cw[i]) < q[i]:
                    hi += 2.0 * (hi - lo)
                for _ in range(200):
                    mid = 0.5 * (lo + hi)
                    if weir_flow(mid, z_out[i + 1], reach_crest[i], reach_cw[i]) < q[i]:
                        lo = mid
                    else:
                        hi = mid
                    if hi - lo < 1e-10:
                        break
                z_out[i] = 0.5 * (lo + hi)
                continue
            z_out[i], crit = _subcritical_step(table, z0, nlev, dz, dx, q, g, i, z_out[i + 1])
            critical_out[i] = crit
            n_critical += crit
    else:
        z_out[0] = z_boundary
        critical_out[0] = 0
        for i in range(1, n):
            z_out[i], crit = _supercritical_step(table, z0, nlev, dz, dx, q, thalweg, g, i, z_out[i - 1])
            critical_out[i] = crit
            n_critical += crit
    return n_critical


@numba.njit(cache=True, nogil=True)
def _subcritical_step(table, z0, nlev, dz, dx, q, g, i, z_next):
    """Subcritical stage at node ``i`` from node i + 1 at ``z_next`` by the energy equation; critical depth
    where no subcritical root exists. Returns (stage, 1 if set to critical else 0)."""
    a, _, k, _, _, _, al = lookup(table, z0, nlev, dz, i + 1, z_next)
    head = z_next + al * q[i + 1] ** 2 / (2.0 * g * a * a)
    zc = critical_stage(table, z0, nlev, dz, i, q[i], g)
    f_lo = _energy_residual(table, z0, nlev, dz, i, zc, q[i], head, q[i + 1], k, dx[i], 1.0, g)
    if f_lo >= 0.0:
        return zc, 1
    lo, hi = zc, max(zc, z_next) + 1.0
    f_hi = _energy_residual(table, z0, nlev, dz, i, hi, q[i], head, q[i + 1], k, dx[i], 1.0, g)
    while f_hi < 0.0:
        hi += 2.0 * (hi - lo)
        f_hi = _energy_residual(table, z0, nlev, dz, i, hi, q[i], head, q[i + 1], k, dx[i], 1.0, g)
    return _bracketed_root(table, z0, nlev, dz, i, q[i], head, q[i + 1], k, dx[i], 1.0, g, lo, hi, f_lo, f_hi), 0


@numba.njit(cache=True, nogil=True)
def _supercritical_step(table, z0, nlev, dz, dx, q, thalweg, g, i, z_prev):
    """Supercritical stage at node ``i`` from node i - 1 at ``z_prev`` by the energy equation; critical
    depth where no supercritical root exists. Returns (stage, 1 if set to critical else 0)."""
    a, _, k, _, _, _, al = lookup(table, z0, nlev, dz, i - 1, z_prev)
    head = z_prev + al * q[i - 1] ** 2 / (2.0 * g * a * a)
    zc = critical_stage(table, z0, nlev, dz, i, q[i], g)
    f_hi = _energy_residual(table, z0, nlev, dz, i, zc, q[i], head, q[i - 1], k, dx[i - 1], -1.0, g)
    if f_hi >= 0.0:
        return zc, 1
    lo = thalweg[i]
    f_lo = _energy_residual(table, z0, nlev, dz, i, lo, q[i], head, q[i - 1], k, dx[i - 1], -1.0, g)
    # the residual falls with the stage on the supercritical branch: the root lies between thalweg and critical
    return _bracketed_root(table, z0, nlev, dz, i, q[i], head, q[i - 1], k, dx[i - 1], -1.0, g, lo, zc, f_lo, f_hi), 0


@numba.njit(cache=True, nogil=True)
def specific_force(table, z0, nlev, dz, i, z, q, g):
    """Specific force [m3] at node ``i``: beta Q^2 / (g A) + the first moment of the flow area about the
    water surface, integral of A(eta) d eta from the table's bottom to ``z``."""
    a, _, _, _, be, _, _ = lookup(table, z0, nlev, dz, i, z)
    moment = 0.0
    top = (z - z0[i]) / dz
    k = 0
    while k + 1 <= top and k + 1 < nlev[i]:
        moment += 0.5 * dz * (table[i, k, AREA] + table[i, k + 1, AREA])
        k += 1
    zk = z0[i] + k * dz
    moment += 0.5 * (z - zk) * (lookup(table, z0, nlev, dz, i, zk)[0] + a)
    return be * q * q / (g * a) + moment


@numba.njit(cache=True, nogil=True)
def mixed_regime(table, z0, nlev, dz, dx, q, thalweg, g, reach_kind, z_sub, critical_sub, z_out):
    """Mixed-regime steady profile from a subcritical one (HEC-RAS's mixed mode): wherever the subcritical
    march fell back to critical depth (a control), a supercritical march starts downstream; at each node it
    is kept while its specific force exceeds the subcritical profile's, else the hydraulic jump lies
    upstream of that node and the subcritical profile resumes. Returns the number of supercritical nodes."""
    n = z_out.shape[0]
    for i in range(n):
        z_out[i] = z_sub[i]
    active = False
    n_super = 0
    for i in range(n):
        if not active:
            active = critical_sub[i] == 1
            continue
        if reach_kind[i - 1] != CHANNEL:
            active = critical_sub[i] == 1
            continue
        z_sup, crit = _supercritical_step(table, z0, nlev, dz, dx, q, thalweg, g, i, z_out[i - 1])
        if critical_sub[i] == 1 or specific_force(table, z0, nlev, dz, i, z_sup, q[i], g) > \
                specific_force(table, z0, nlev, dz, i, z_sub[i], q[i], g):
            z_out[i] = z_sup
            n_super += 1 - crit
        else:
            active = False
    return n_super


@numba.njit(cache=True, nogil=True)
def _bracketed_root(table, z0, nlev, dz, i, q_new, head, q_known, k_known, length, sign, g, lo, hi, f_lo, f_hi):
    """Root of the energy residual in [lo, hi] (f_lo, f_hi of opposite signs): Illinois regula falsi,
    falling back to bisection; converges to 1e-10 m."""
    side = 0
    for _ in range(200):
        z = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        if not (lo < z < hi):
            z = 0.5 * (lo + hi)
        f = _energy_residual(table, z0, nlev, dz, i, z, q_new, head, q_known, k_known, length, sign, g)
        if (f > 0.0) == (f_hi > 0.0):
            hi, f_hi = z, f
            if side == 1:
                f_lo *= 0.5
            side = 1
        else:
            lo, f_lo = z, f
            if side == -1:
                f_hi *= 0.5
            side = -1
        if hi - lo < 1e-10 or f == 0.0:
            return z
    return 0.5 * (lo + hi)


@numba.njit(cache=True, nogil=True)
def _interp(ts, vs, t):
    """Linear interpolation in a time series (held at the ends)."""
    m = ts.shape[0]
    if t <= ts[0]:
        return vs[0]
    if t >= ts[m - 1]:
        return vs[m - 1]
    k = np.searchsorted(ts, t) - 1
    w = (t - ts[k]) / (ts[k + 1] - ts[k])
    return vs[k] + w * (vs[k + 1] - vs[k])


@numba.njit(cache=True, nogil=True)
def _rating(rz, rq, z):
    """Discharge and dQ/dZ of a rating curve, linear between points, extended with the end slopes."""
    m = rz.shape[0]
    k = np.searchsorted(rz, z) - 1
    k = min(max(k, 0), m - 2)
    slope = (rq[k + 1] - rq[k]) / (rz[k + 1] - rz[k])
    return rq[k] + slope * (z - rz[k]), slope


@numba.njit(cache=True, nogil=True)
def _lateral_at(lat_t, lat_q, t, out):
    m = lat_t.shape[0]
    if m == 0:
        out[:] = 0.0
        return
    if t <= lat_t[0]:
        out[:] = lat_q[0]
        return
    if t >= lat_t[m - 1]:
        out[:] = lat_q[m - 1]
        return
    k = np.searchsorted(lat_t, t) - 1
    w = (t - lat_t[k]) / (lat_t[k + 1] - lat_t[k])
    for j in range(out.shape[0]):
        out[j] = lat_q[k, j] + w * (lat_q[k + 1, j] - lat_q[k, j])


@numba.njit(cache=True, nogil=True)
def _band_solve(ab, rhs, n, x, kl):
    """Solve a banded system (``kl`` sub-, 2 super-diagonals, ``kl`` more for pivot fill) by Gaussian
    elimination with partial pivoting. ``ab[r, c - r + kl]`` holds entry (r, c). Returns False on a zero
    pivot."""
    span = kl + 2  # kl + ku: how far right a pivot row reaches after fill
    for k in range(n):
        p = k
        big = abs(ab[k, kl])
        for r in range(k + 1, min(k + kl + 1, n)):
            v = abs(ab[r, k - r + kl])
            if v > big:
                big = v
                p = r
        if big == 0.0:
            return False
        last = min(k + span, n - 1)
        if p != k:
            for c in range(k, last + 1):
                tmp = ab[k, c - k + kl]
                ab[k, c - k + kl] = ab[p, c - p + kl]
                ab[p, c - p + kl] = tmp
            tmp = rhs[k]
            rhs[k] = rhs[p]
            rhs[p] = tmp
        piv = ab[k, kl]
        for r in range(k + 1, min(k + kl + 1, n)):
            f = ab[r, k - r + kl] / piv
            if f != 0.0:
                for c in range(k, last + 1):
                    ab[r, c - r + kl] -= f * ab[k, c - k + kl]
                rhs[r] -= f * rhs[k]
    for k in range(n - 1, -1, -1):
        s = rhs[k]
        for c in range(k + 1, min(k + span, n - 1) + 1):
            s -= ab[k, c - k + kl] * x[c]
        x[k] = s / ab[k, kl]
    return True


@numba.njit(cache=True, nogil=True)
def _reach_terms(a1, b1, k1, dk1, be1, dbe1, a2, b2, k2, dk2, be2, dbe2, z1, z2, q1, q2, dx, sigma, g):
    """Spatial momentum terms of one reach, G = sigma (M2 - M1) + g A (Z2 - Z1) + g A dx Q|Q| / K^2
    (M = beta Q^2 / A, reach averages A, Q, K), and dG / d(Z1, Q1, Z2, Q2)."""
    a = 0.5 * (a1 + a2)
    qm = 0.5 * (q1 + q2)
    km = 0.5 * (k1 + k2)
    sf = qm * abs(qm) / (km * km)
    m1 = be1 * q1 * q1 / a1
    m2 = be2 * q2 * q2 / a2
    dzs = z2 - z1
    gterm = sigma * (m2 - m1) + g * a * dzs + g * a * dx * sf
    dsf_dk = -2.0 * sf / km  # d sf / d km
    d_z1 = (-sigma * q1 * q1 * (dbe1 / a1 - be1 * b1 / (a1 * a1)) + g * 0.5 * b1 * dzs - g * a
            + g * 0.5 * b1 * dx * sf + g * a * dx * dsf_dk * 0.5 * dk1)
    d_z2 = (sigma * q2 * q2 * (dbe2 / a2 - be2 * b2 / (a2 * a2)) + g * 0.5 * b2 * dzs + g * a
            + g * 0.5 * b2 * dx * sf + g * a * dx * dsf_dk * 0.5 * dk2)
    dsf_dq = abs(qm) / (km * km)  # d sf / d q1 = d sf / d q2 = 2 |qm| / km^2 * 1/2
    d_q1 = -sigma * 2.0 * be1 * q1 / a1 + g * a * dx * dsf_dq
    d_q2 = sigma * 2.0 * be2 * q2 / a2 + g * a * dx * dsf_dq
    return gterm, d_z1, d_q1, d_z2, d_q2


@numba.njit(cache=True, nogil=True)
def _node_properties(table, z0, nlev, dz, z, work):
    """Tabulated properties of every node at levels ``z`` into ``work`` (A, B, K, dK, beta, dbeta). Returns
    the first node whose level lies below its slot (A <= 0), or -1."""
    for i in range(z.shape[0]):
        a, b, k, dk, be, dbe, _ = lookup(table, z0, nlev, dz, i, z[i])
        if a <= 0.0:
            return i
        work[i, 0] = a
        work[i, 1] = b
        work[i, 2] = k
        work[i, 3] = dk
        work[i, 4] = be
        work[i, 5] = dbe
    return -1


@numba.njit(cache=True, nogil=True)
def _old_level_terms(work, zo, qo, dx, reach_kind, lpi_m, g, sigma, g_old):
    """Per reach at the old time level (``work`` holds the old node properties): the LPI factor and the
    spatial momentum terms. A structure or a break between branches has neither."""
    for j in range(dx.shape[0]):
        if reach_kind[j] != CHANNEL:
            sigma[j] = 0.0
            g_old[j] = 0.0
            continue
        if lpi_m > 0.0:
            # the larger Froude number of the reach's two nodes: a reach touching supercritical flow
            # (a jump's toe) loses its inertia terms
            fr1 = abs(qo[j]) / work[j, 0] * math.sqrt(work[j, 1] / (g * work[j, 0]))
            fr2 = abs(qo[j + 1]) / work[j + 1, 0] * math.sqrt(work[j + 1, 1] / (g * work[j + 1, 0]))
            fr = max(fr1, fr2)
            sigma[j] = 1.0 - fr ** lpi_m if fr < 1.0 else 0.0
        elif lpi_m == FULL_INERTIA or lpi_m == TRANSCRITICAL:
            sigma[j] = 1.0
        else:
            sigma[j] = 0.0
        g_old[j] = _reach_terms(work[j, 0], work[j, 1], work[j, 2], work[j, 3], work[j, 4], work[j, 5],
                                work[j + 1, 0], work[j + 1, 1], work[j + 1, 2], work[j + 1, 3], work[j + 1, 4],
                                work[j + 1, 5], zo[j], zo[j + 1], qo[j], qo[j + 1], dx[j], sigma[j], g)[0]


@numba.njit(cache=True, nogil=True)
def _assemble_reaches(work, a_old, z, q, zo, qo, dx, h, t, theta, g, sigma, g_old, lat_old, lat_new, reach_kind,
                      reach_crest, reach_cw, reach_gate, gate_t, gate_q, ab, rhs, kl, row, drop):
    """Rows row[j] and row[j] + 1 (2j+1 and 2j+2 but where the transcritical treatment shifts them) of the
    Newton system for every reach j, stored with ``kl`` sub-diagonals: the Preissmann continuity and
    momentum equations of a channel reach (the momentum one left out where ``drop[j]``: the reach holding a
    hydraulic jump), or a structure's Q_j = Q_j+1 and its flow law; nothing for a break between two
    branches (their ends get boundary or junction rows)."""
    for j in range(dx.shape[0]):
        if reach_kind[j] == BREAK:
            continue
        if reach_kind[j] != CHANNEL:
            # structure: no storage, Q_j = Q_j+1; Q_j = weir flow or the gate's scheduled release
            r = row[j]
            rhs[r] = -(q[j + 1] - q[j])
            ab[r, 2 * j + 1 - r + kl] = -1.0
            ab[r, 2 * j + 3 - r + kl] = 1.0
            r = row[j] + 1
            ab[r, 2 * j + 1 - r + kl] = 1.0
            if reach_kind[j] == WEIR:
                f = weir_flow(z[j], z[j + 1], reach_crest[j], reach_cw[j])
                eps = 1e-6
                ab[r, 2 * j - r + kl] = -(weir_flow(z[j] + eps, z[j + 1], reach_crest[j], reach_cw[j])
                                         - weir_flow(z[j] - eps, z[j + 1], reach_crest[j], reach_cw[j])) / (2 * eps)
                ab[r, 2 * j + 2 - r + kl] = -(weir_flow(z[j], z[j + 1] + eps, reach_crest[j], reach_cw[j])
                                             - weir_flow(z[j], z[j + 1] - eps, reach_crest[j], reach_cw[j])) / (2 * eps)
                rhs[r] = -(q[j] - f)
            else:
                rhs[r] = -(q[j] - _interp(gate_t, gate_q[:, reach_gate[j]], t + h))
            continue
        c = 0.5 * dx[j] / h
        a1 = work[j, 0]
        a2 = work[j + 1, 0]
        # continuity (times dx), row 2j+1, columns 2j .. 2j+3
        lat = theta * lat_new[j] + (1.0 - theta) * lat_old[j]
        r = row[j]
        cont = (c * (a1 + a2 - a_old[j] - a_old[j + 1]) + theta * (q[j + 1] - q[j]) + (1.0 - theta) * (qo[j + 1] - qo[j]) - lat)
        rhs[r] = -cont
        ab[r, 2 * j - r + kl] = c * work[j, 1]
        ab[r, 2 * j + 1 - r + kl] = -theta
        ab[r, 2 * j + 2 - r + kl] = c * work[j + 1, 1]
        ab[r, 2 * j + 3 - r + kl] = theta
        if drop[j]:
            continue
        # momentum (times dx), row 2j+2
        gt, d_z1, d_q1, d_z2, d_q2 = _reach_terms(
            a1, work[j, 1], work[j, 2], work[j, 3], work[j, 4], work[j, 5],
            a2, work[j + 1, 1], work[j + 1, 2], work[j + 1, 3], work[j + 1, 4], work[j + 1, 5],
            z[j], z[j + 1], q[j], q[j + 1], dx[j], sigma[j], g)
        s = sigma[j]
        r = row[j] + 1
        mom = s * c * (q[j] + q[j + 1] - qo[j] - qo[j + 1]) + theta * gt + (1.0 - theta) * g_old[j]
        rhs[r] = -mom
        ab[r, 2 * j - r + kl] = theta * d_z1
        ab[r, 2 * j + 1 - r + kl] = s * c + theta * d_q1
        ab[r, 2 * j + 2 - r + kl] = theta * d_z2
        ab[r, 2 * j + 3 - r + kl] = s * c + theta * d_q2


@numba.njit(cache=True, nogil=True)
def _outlet_row(ab, rhs, last, z, q, work, ds_kind, ds_x, ds_y, z_ds, normal_root_slope, kl):
    """Row 2 last + 1: the downstream boundary on (Z, Q) of node ``last`` (``kl`` sub-diagonals)."""
    r = 2 * last + 1
    if ds_kind == DS_STAGE:
        ab[r, 2 * last - r + kl] = 1.0
        rhs[r] = -(z[last] - z_ds)
    elif ds_kind == DS_RATING:
        qr, slope = _rating(ds_x, ds_y, z[last])
        ab[r, 2 * last - r + kl] = -slope
        ab[r, 2 * last + 1 - r + kl] = 1.0
        rhs[r] = -(q[last] - qr)
    else:  # normal depth: Q = K(Z) sqrt(S0)
        ab[r, 2 * last - r + kl] = -work[last, 3] * normal_root_slope
        ab[r, 2 * last + 1 - r + kl] = 1.0
        rhs[r] = -(q[last] - work[last, 2] * normal_root_slope)


@numba.njit(cache=True, nogil=True)
def _apply_update(z, q, z0, dz, dzs, dqs, first, last):
    """Add the Newton update (dzs, dqs) to nodes first .. last; returns (largest |dZ|, its node, largest
    |dQ|), the node < 0 (-1 - node) where an update is not finite."""
    max_dz = 0.0
    max_dq = 0.0
    worst = first
    for i in range(first, last + 1):
        dzi = dzs[i]
        dqi = dqs[i]
        if not (math.isfinite(dzi) and math.isfinite(dqi)):
            return 0.0, -1 - i, 0.0
        z_new = z[i] + dzi
        if z_new < z0[i] + 0.25 * dz:  # an overshoot below the slot: go halfway down instead (damping)
            z_new = 0.5 * (z[i] + z0[i] + 0.25 * dz)
        z[i] = z_new
        q[i] += dqi
        if abs(dzi) > max_dz:
            max_dz = abs(dzi)
            worst = i
        max_dq = max(max_dq, abs(dqi))
    return max_dz, worst, max_dq


@numba.njit(cache=True, nogil=True)
def _regimes(table, z0, nlev, dz, dx, zo, qo, z, work, reach_kind, g, z_low, z_up, supercritical, row, drop,
             control):
    """The transcritical treatment (after Sart, Baume, Malaterre & Guinot 2010): which equations hold the
    Newton system's rows for a step, from the flow regime at its start (``work`` holds the old nodes'
    properties). A supercritical region takes two conditions at its upstream end and none at its
    downstream end, so:

    * a node is supercritical where Fr = Q sqrt(B / (g A^3)) > SUPER_FROUDE (never next to a structure);
    * where subcritical flow turns supercritical (node i subcritical, i + 1 supercritical) node i is a
      critical control: Fr = 1 there (``control[i]`` = 1) takes the row 2i + 1, and the reaches below it
      (rows shifted down by one: each reach's equations then give its downstream node) march downstream;
      a supercritical first node takes Z = ``z_up`` (``control`` = 2; critical depth where ``z_up`` is NaN);
    * where supercritical flow meets subcritical flow (node i supercritical, i + 1 subcritical: a hydraulic
      jump in reach i) the reach keeps its continuity equation (mass is conserved) and drops its momentum
      equation (``drop[i]``), and the rows below go back to their places; the jump moves one reach down
      when the supercritical continuation of node i (energy equation) has the larger specific force at
      i + 1, or one reach up when the subcritical continuation of node i + 1 has it at i (HEC-RAS's
      mixed-regime test), and the Newton iterate of the node that changes side starts on its new branch;
    * a supercritical last node takes no downstream condition.

    Writes the row of each reach's first equation into ``row``; returns the number of rows before the
    outlet's: 2n - 1 (the outlet row follows) or 2n (a supercritical outlet)."""
    n = zo.shape[0]
    limit = SUPER_FROUDE * SUPER_FROUDE
    for i in range(n):
        a = work[i, 0]
        supercritical[i] = 1 if qo[i] > 0.0 and qo[i] * qo[i] * work[i, 1] > limit * g * a * a * a else 0
        control[i] = 0
    if not math.isnan(z_up):  # the given inflow level decides the inflow's regime
        a, b, _, _, _, _, _ = lookup(table, z0, nlev, dz, 0, z_up)
        supercritical[0] = 1 if qo[0] > 0.0 and qo[0] * qo[0] * b > limit * g * a * a * a else 0
    for j in range(n - 1):
        if reach_kind[j] != CHANNEL:
            supercritical[j] = 0
            supercritical[j + 1] = 0
    # a supercritical island of one or two nodes inside subcritical flow (a transient's overshoot past Fr 1
    # in near-critical flow) is drowned where the subcritical profile passes it: the energy equation has a
    # subcritical root at each of its nodes and at the node above, marching up from the node below; its
    # nodes then start on that profile (a critical control and a jump around it would not wash out)
    i = 1
    while i < n - 1:
        if supercritical[i] == 0 or supercritical[i - 1] == 1:
            i += 1
            continue
        last = i
        while last + 1 < n and supercritical[last + 1] == 1:
            last += 1
        if last - i <= 1 and last + 1 < n:
            z_next = zo[last + 1]
            passes = True
            for k in range(last, i - 2, -1):
                if reach_kind[k] != CHANNEL:
                    passes = False
                    break
                z_next, no_root = _subcritical_step(table, z0, nlev, dz, dx, qo, g, k, z_next)
                if no_root == 1:
                    passes = False
                    break
            if passes:
                z_next = zo[last + 1]
                for k in range(last, i - 1, -1):
                    z_next, _ = _subcritical_step(table, z0, nlev, dz, dx, qo, g, k, z_next)
                    supercritical[k] = 0
                    z[k] = z_next
        i = last + 1
    j = 0
    while j < n - 1:
        if supercritical[j] == 1 and supercritical[j + 1] == 0:
            # the two branches at the jump's nodes, continued from the nodes beside them (the jump's own two
            # nodes may hold intermediate, smeared values)
            s_j, s_crit = zo[j], 0
            if j >= 1:
                s_j, s_crit = _supercritical_step(table, z0, nlev, dz, dx, qo, z_low, g, j, zo[j - 1])
            s_next, s_next_crit = _supercritical_step(table, z0, nlev, dz, dx, qo, z_low, g, j + 1, s_j)
            u_next, u_next_crit = zo[j + 1], 0
            if j + 2 <= n - 1:
                u_next, u_next_crit = _subcritical_step(table, z0, nlev, dz, dx, qo, g, j + 1, zo[j + 2])
            u_j, u_crit = _subcritical_step(table, z0, nlev, dz, dx, qo, g, j, u_next)
            # the hysteresis grows with the jump's strength (upstream Fr 1 .. 1.2): a weak, near-critical
            # "jump" (a transient's leftover) moves freely and washes out
            a, b, _, _, _, _, _ = lookup(table, z0, nlev, dz, j, s_j)
            strength = min(1.0, max(0.0, (abs(qo[j]) * math.sqrt(b / (g * a * a * a)) - 1.0) / 0.2))
            hysteresis = 1.0 + (JUMP_HYSTERESIS - 1.0) * strength
            if s_next_crit == 0 and specific_force(table, z0, nlev, dz, j + 1, s_next, qo[j + 1], g) > \
                    hysteresis * specific_force(table, z0, nlev, dz, j + 1, u_next, qo[j + 1], g):
                supercritical[j + 1] = 1  # the jump moves one reach down
                z[j + 1] = s_next
            elif u_crit == 0 and specific_force(table, z0, nlev, dz, j, u_j, qo[j], g) > \
                    hysteresis * specific_force(table, z0, nlev, dz, j, s_j, qo[j], g):
                supercritical[j] = 0  # one reach up
                z[j] = u_j
            j += 2
        else:
            j += 1
    # a critical control (subcritical node k, supercritical k + 1) moves one node up where the subcritical
    # flow cannot reach it (no subcritical root of the energy equation at k - 1 from k), one node down where
    # the supercritical flow cannot leave it (no supercritical root at k + 1): the standard step's controls
    k = 1
    while k < n - 1:
        if supercritical[k] == 0 and supercritical[k + 1] == 1 and supercritical[k - 1] == 0 \
                and reach_kind[k - 1] == CHANNEL:
            _, no_root = _subcritical_step(table, z0, nlev, dz, dx, qo, g, k - 1, zo[k])
            if no_root == 1:
                supercritical[k] = 1
                k += 2
                continue
            _, no_root = _supercritical_step(table, z0, nlev, dz, dx, qo, z_low, g, k + 1, zo[k])
            if no_root == 1 and (k + 2 > n - 1 or supercritical[k + 2] == 1):
                supercritical[k + 1] = 0
                k += 2
                continue
        k += 1
    r = 1
    if supercritical[0] == 1:
        control[0] = 1 if math.isnan(z_up) else 2
        r = 2
    for j in range(n - 1):
        if supercritical[j] == 0 and supercritical[j + 1] == 1:
            control[j] = 1
            r += 1
        row[j] = r
        drop[j] = 1 if supercritical[j] == 1 and supercritical[j + 1] == 0 else 0
        r += 2 - drop[j]
    return r


@numba.njit(cache=True, nogil=True)
def _control_rows(ab, rhs, control, z, q, work, g, z_up, kl):
    """Row 2i + 1 at each control node i: critical flow, Fr^2 = Q^2 B / (g A^3) = 1 (dB/dZ left out of the
    Jacobian), or the given inflow level Z = ``z_up``."""
    for i in range(control.shape[0]):
        if control[i] == 0:
            continue
        r = 2 * i + 1
        if control[i] == 2:
            ab[r, 2 * i - r + kl] = 1.0
            rhs[r] = -(z[i] - z_up)
            continue
        a = work[i, 0]
        b = work[i, 1]
        fr2 = q[i] * q[i] * b / (g * a * a * a)
        ab[r, 2 * i - r + kl] = -3.0 * fr2 * b / a
        ab[r, 2 * i + 1 - r + kl] = 2.0 * q[i] * b / (g * a * a * a)
        rhs[r] = -(fr2 - 1.0)


@numba.njit(cache=True, nogil=True)
def _advance(table, z0, nlev, dz, dx, zo, qo, z, q, t, h, in_t, in_q, lat_t, lat_q, ds_kind, ds_x, ds_y,
             normal_root_slope, theta, lpi_m, g, tol_z, tol_q, max_iter, work, a_old, lat_old, lat_new, sigma,
             g_old, ab, rhs, sol, stats, reach_kind, reach_crest, reach_cw, reach_gate, gate_t, gate_q, z_low, z_up,
             supercritical, row, drop, control):
    """One Preissmann step of length ``h`` from state (zo, qo) at time ``t``; the Newton iterate is (z, q),
    started from the caller's predictor. Returns (status, worst node)."""
    n = zo.shape[0]
    _lateral_at(lat_t, lat_q, t, lat_old)
    _lateral_at(lat_t, lat_q, t + h, lat_new)
    dry = _node_properties(table, z0, nlev, dz, zo, work)
    if dry >= 0:
        return DRY_BELOW_SLOT, dry
    for i in range(n):
        a_old[i] = work[i, 0]
    _old_level_terms(work, zo, qo, dx, reach_kind, lpi_m, g, sigma, g_old)
    n_rows = 2 * n - 1
    if lpi_m == TRANSCRITICAL:
        n_rows = _regimes(table, z0, nlev, dz, dx, zo, qo, z, work, reach_kind, g, z_low, z_up, supercritical, row,
                          drop, control)
    q_up = _interp(in_t, in_q, t + h)
    z_ds = _interp(ds_x, ds_y, t + h) if ds_kind == DS_STAGE else 0.0
    worst = 0
    for it in range(max_iter):
        stats[0] += 1.0
        dry = _node_properties(table, z0, nlev, dz, z, work)
        if dry >= 0:
            return DRY_BELOW_SLOT, dry
        ab[:, :] = 0.0
        # upstream boundary: Q_0 = inflow
        ab[0, 1 + KL_REACH] = 1.0
        rhs[0] = -(q[0] - q_up)
        _assemble_reaches(work, a_old, z, q, zo, qo, dx, h, t, theta, g, sigma, g_old, lat_old, lat_new, reach_kind,
                          reach_crest, reach_cw, reach_gate, gate_t, gate_q, ab, rhs, KL_REACH, row, drop)
        if lpi_m == TRANSCRITICAL:
            _control_rows(ab, rhs, control, z, q, work, g, z_up, KL_REACH)
        if n_rows == 2 * n - 1:
            _outlet_row(ab, rhs, n - 1, z, q, work, ds_kind, ds_x, ds_y, z_ds, normal_root_slope, KL_REACH)
        if not _band_solve(ab, rhs, 2 * n, sol, KL_REACH):
            return SINGULAR, 0
        max_dz, worst, max_dq = _apply_update(z, q, z0, dz, sol[0::2], sol[1::2], 0, n - 1)
        if worst < 0:
            return NO_CONVERGENCE, -1 - worst
        if max_dz <= tol_z and max_dq <= tol_q:
            if it + 1 > stats[1]:
                stats[1] = it + 1
            return OK, worst
    return NO_CONVERGENCE, worst


@numba.njit(cache=True, nogil=True)
def preissmann(table, z0, nlev, dz, dx, z, q, in_t, in_q, lat_t, lat_q, ds_kind, ds_x, ds_y, normal_slope,
               theta, lpi_m, g, dt, n_steps, out_every, tol_z, tol_q, max_iter, max_halvings, z_out, q_out,
               volumes, stats, failure, reach_kind, reach_crest, reach_cw, reach_gate, gate_t, gate_q, z_prev, q_prev,
               warm, z_up):
    """Integrate the Saint-Venant equations by the Preissmann scheme over ``n_steps`` steps of ``dt`` [s].

    Parameters
    ----------
    table, z0, nlev, dz : property tables (module docstring), one row per node, upstream first.
    dx : [m] reach lengths (n_nodes - 1).
    z, q : [m], [m3 s-1] initial water level and discharge per node; hold the final state on return.
    in_t, in_q : upstream discharge hydrograph, times [s from start] and values [m3 s-1], linear between.
    lat_t, lat_q : lateral inflow per reach [m3 s-1] at times lat_t [s], shape (len(lat_t), n_nodes - 1).
    ds_kind : 0 stage hydrograph (ds_x times [s], ds_y levels [m]), 1 rating (ds_x levels [m] increasing,
        ds_y discharges [m3 s-1]), 2 normal depth Q = K sqrt(normal_slope).
    theta : Preissmann time weight (0.5 .. 1); lpi_m : LPI exponent > 0, or FULL_INERTIA (sigma = 1),
        NO_INERTIA (sigma = 0, the diffusive wave) or TRANSCRITICAL (sigma = 1 and the regime-dependent
        equations of ``_regimes``: critical controls, supercritical reaches marching downstream, jumps).
    z_up : [m] level imposed at the first node while the inflow there is supercritical (TRANSCRITICAL; NaN:
        critical depth).
    out_every : steps between output records; z_out, q_out (n_steps // out_every + 1, n_nodes) get the
        state at t = 0 and every out_every steps.
    tol_z [m], tol_q [m3 s-1] : Newton convergence on the largest update; max_iter per step; a step that
        does not converge is retried as 2, 4, .. 2^max_halvings sub-steps before giving up.
    reach_kind : per reach, CHANNEL, WEIR (crest reach_crest [m], reach_cw = coefficient x width) or GATE
        (release = column reach_gate of gate_q [m3 s-1] at times gate_t [s]); a structure's two equations
        are Q_j = Q_j+1 and Q_j = its flow, replacing the reach's continuity and momentum.

    z_prev, q_prev : the state one step (dt) before (z, q), used by the predictor of the first step when
        ``warm`` (a run continuing from a saved state: then it continues bit for bit); on return, the state one
        step before the final one (what a continuation needs).

    Writes volumes = [upstream inflow, lateral inflow, outflow] [m3] (theta-weighted, as the scheme
    integrates them), stats = [Newton iterations, most in one step, sub-steps taken, steps retried] and on
    failure failure = [node, time s]. Returns 0 (OK) or the status code of the failing step.
    """
    n = z.shape[0]
    work = np.empty((n, 6))
    a_old = np.empty(n)
    lat_old = np.zeros(n - 1)
    lat_new = np.zeros(n - 1)
    sigma = np.empty(n - 1)
    g_old = np.empty(n - 1)
    ab = np.zeros((2 * n, 2 * KL_REACH + 3))
    rhs = np.empty(2 * n)
    sol = np.empty(2 * n)
    z_low = z0 + 0.25 * dz  # where a supercritical energy step brackets its root from below
    supercritical = np.zeros(n, np.int64)
    control = np.zeros(n, np.int64)
    row = 2 * np.arange(n - 1) + 1
    drop = np.zeros(n - 1, np.int64)
    zo = z.copy()
    qo = q.copy()
    zs = z.copy()
    qs = q.copy()
    zp = z_prev.copy() if warm else z.copy()  # state one step back, for the predictor
    qp = q_prev.copy() if warm else q.copy()
    root_slope = math.sqrt(normal_slope) if normal_slope > 0.0 else 0.0
    k_out = 0
    for i in range(n):
        z_out[0, i] = z[i]
        q_out[0, i] = q[i]
    for step in range(n_steps):
        t0 = step * dt
        for i in range(n):
            zs[i] = z[i]
            qs[i] = q[i]
        n_sub = 1
        while True:
            status = OK
            worst = 0
            h = dt / n_sub
            vin = 0.0
            vlat = 0.0
            vout = 0.0
            for s in range(n_sub):
                t = t0 + s * h
                for i in range(n):
                    zo[i] = z[i]
                    qo[i] = q[i]
                if n_sub == 1 and (step > 0 or warm):
                    # predictor: linear extrapolation of the last two steps; on a smooth wave the first Newton
                    # update is then below the tolerance and one iteration does
                    for i in range(n):
                        z[i] = 2.0 * zo[i] - zp[i]
                        q[i] = 2.0 * qo[i] - qp[i]
                status, worst = _advance(table, z0, nlev, dz, dx, zo, qo, z, q, t, h, in_t, in_q, lat_t, lat_q,
                                         ds_kind, ds_x, ds_y, root_slope, theta, lpi_m, g, tol_z, tol_q, max_iter,
                                         work, a_old, lat_old, lat_new, sigma, g_old, ab, rhs, sol, stats,
                                         reach_kind, reach_crest, reach_cw, reach_gate, gate_t, gate_q, z_low, z_up,
                                         supercritical, row, drop, control)
                if status != OK:
                    failure[0] = worst
                    failure[1] = t + h
                    break
                stats[2] += 1.0
                vin += h * (theta * q[0] + (1.0 - theta) * qo[0])
                vout += h * (theta * q[n - 1] + (1.0 - theta) * qo[n - 1])
                for j in range(n - 1):
                    if reach_kind[j] == CHANNEL:
                        vlat += h * (theta * lat_new[j] + (1.0 - theta) * lat_old[j])
            if status == OK:
                for i in range(n):
                    zp[i] = zs[i]
                    qp[i] = qs[i]
                volumes[0] += vin
                volumes[1] += vlat
                volumes[2] += vout
                break
            if n_sub >= 2 ** max_halvings:
                return status
            stats[3] += 1.0
            n_sub *= 2
            for i in range(n):
                z[i] = zs[i]
                q[i] = qs[i]
        if (step + 1) % out_every == 0:
            k_out += 1
            for i in range(n):
                z_out[k_out, i] = z[i]
                q_out[k_out, i] = q[i]
    for i in range(n):
        z_prev[i] = zp[i]
        q_prev[i] = qp[i]
    return OK


@numba.njit(cache=True, nogil=True)
def _band_solve_columns(ab, rhs, n, x):
    """As ``_band_solve``, for the columns of ``rhs`` (n, m) at once (one elimination): ``x`` (n, m)."""
    kl = 2
    span = 4
    m = rhs.shape[1]
    for k in range(n):
        p = k
        big = abs(ab[k, kl])
        for r in range(k + 1, min(k + kl + 1, n)):
            v = abs(ab[r, k - r + kl])
            if v > big:
                big = v
                p = r
        if big == 0.0:
            return False
        last = min(k + span, n - 1)
        if p != k:
            for c in range(k, last + 1):
                tmp = ab[k, c - k + kl]
                ab[k, c - k + kl] = ab[p, c - p + kl]
                ab[p, c - p + kl] = tmp
            for col in range(m):
                tmp = rhs[k, col]
                rhs[k, col] = rhs[p, col]
                rhs[p, col] = tmp
        piv = ab[k, kl]
        for r in range(k + 1, min(k + kl + 1, n)):
            f = ab[r, k - r + kl] / piv
            if f != 0.0:
                for c in range(k, last + 1):
                    ab[r, c - r + kl] -= f * ab[k, c - k + kl]
                for col in range(m):
                    rhs[r, col] -= f * rhs[k, col]
    for k in range(n - 1, -1, -1):
        for col in range(m):
            s = rhs[k, col]
            for c in range(k + 1, min(k + span, n - 1) + 1):
                s -= ab[k, c - k + kl] * x[c, col]
            x[k, col] = s / ab[k, kl]
    return True


@numba.njit(cache=True, nogil=True)
def _dense_solve(a, b, x):
    """Solve the small dense system a x = b (Gaussian elimination, partial pivoting; a, b overwritten).
    Returns False on a zero pivot."""
    n = b.shape[0]
    for k in range(n):
        p = k
        for r in range(k + 1, n):
            if abs(a[r, k]) > abs(a[p, k]):
                p = r
        if a[p, k] == 0.0:
            return False
        if p != k:
            for c in range(n):
                tmp = a[k, c]
                a[k, c] = a[p, c]
                a[p, c] = tmp
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
        for r in range(k + 1, n):
            f = a[r, k] / a[k, k]
            if f != 0.0:
                for c in range(k, n):
                    a[r, c] -= f * a[k, c]
                b[r] -= f * b[k]
    for k in range(n - 1, -1, -1):
        s = b[k]
        for c in range(k + 1, n):
            s -= a[k, c] * x[c]
        x[k] = s / a[k, k]
    return True


@numba.njit(cache=True, nogil=True)
def junction_head(table, z0, nlev, dz, i, z, q, g, energy):
    """The head a junction equalises at node ``i``: the water level (``energy`` False), or the energy head
    Z + alpha Q|Q| / (2 g A^2); with its derivatives in Z and Q (dalpha/dZ neglected)."""
    if not energy:
        return z, 1.0, 0.0
    a, b, _, _, _, _, al = lookup(table, z0, nlev, dz, i, z)
    v2 = al * q * abs(q) / (2.0 * g * a * a)
    return z + v2, 1.0 - 2.0 * v2 * b / a, al * abs(q) / (g * a * a)


@numba.njit(cache=True, nogil=True)
def _advance_network(table, z0, nlev, dz, dx, zo, qo, z, q, t, h, in_t, in_q, lat_t, lat_q, ds_kind, ds_x, ds_y,
                     normal_root_slope, theta, lpi_m, g, tol_z, tol_q, max_iter, work, a_old, lat_old, lat_new,
                     sigma, g_old, ab, rhs, rhs3, sol3, stats, reach_kind, reach_crest, reach_cw, reach_gate, gate_t,
                     gate_q, br_start, br_end, br_up, br_down, br_source, jn_ref, jmat, jrhs, jsol, q_src, dzs, dqs,
                     junction_energy, row, drop):
    """One Preissmann step of a dendritic network of branches (see ``preissmann_network``), Newton on the
    whole system: each branch's linearised equations are solved with its end stages as parameters (three
    right-hand sides: the residual and a unit change of the stage at either end), which expresses its end
    discharges as linear functions of the stages of the junctions at its ends; the junctions' mass balances
    then give those stages (a small dense system), and every branch is back-substituted. Returns (status,
    worst node)."""
    n = zo.shape[0]
    nb = br_start.shape[0]
    nj = jn_ref.shape[0]
    _lateral_at(lat_t, lat_q, t, lat_old)
    _lateral_at(lat_t, lat_q, t + h, lat_new)
    dry = _node_properties(table, z0, nlev, dz, zo, work)
    if dry >= 0:
        return DRY_BELOW_SLOT, dry
    for i in range(n):
        a_old[i] = work[i, 0]
    _old_level_terms(work, zo, qo, dx, reach_kind, lpi_m, g, sigma, g_old)
    for k in range(q_src.shape[0]):
        q_src[k] = _interp(in_t, in_q[:, k], t + h)
    z_ds = _interp(ds_x, ds_y, t + h) if ds_kind == DS_STAGE else 0.0
    worst = 0
    for it in range(max_iter):
        stats[0] += 1.0
        dry = _node_properties(table, z0, nlev, dz, z, work)
        if dry >= 0:
            return DRY_BELOW_SLOT, dry
        ab[:, :] = 0.0
        _assemble_reaches(work, a_old, z, q, zo, qo, dx, h, t, theta, g, sigma, g_old, lat_old, lat_new, reach_kind,
                          reach_crest, reach_cw, reach_gate, gate_t, gate_q, ab, rhs, 2, row, drop)
        rhs3[:, :] = 0.0
        for b in range(nb):
            s = br_start[b]
            e = br_end[b]
            r = 2 * s
            if br_up[b] < 0:  # an upstream boundary: Q = its inflow
                ab[r, 3] = 1.0
                rhs[r] = -(q[s] - q_src[br_source[b]])
            else:  # the junction above: H_s + dH_s = H_J, H_J = its reference's head + its unknown change
                ref = jn_ref[br_up[b]]
                h_ref = junction_head(table, z0, nlev, dz, ref, z[ref], q[ref], g, junction_energy)[0]
                h_s, dh_dz, dh_dq = junction_head(table, z0, nlev, dz, s, z[s], q[s], g, junction_energy)
                ab[r, 2] = dh_dz
                ab[r, 3] = dh_dq
                rhs[r] = h_ref - h_s
                rhs3[r, 1] = 1.0
            r = 2 * e + 1
            if br_down[b] < 0:
                _outlet_row(ab, rhs, e, z, q, work, ds_kind, ds_x, ds_y, z_ds, normal_root_slope, 2)
            else:
                ref = jn_ref[br_down[b]]
                h_ref = junction_head(table, z0, nlev, dz, ref, z[ref], q[ref], g, junction_energy)[0]
                h_e, dh_dz, dh_dq = junction_head(table, z0, nlev, dz, e, z[e], q[e], g, junction_energy)
                ab[r, 1] = dh_dz
                ab[r, 2] = dh_dq
                rhs[r] = h_ref - h_e
                rhs3[r, 2] = 1.0
            for i in range(2 * s, 2 * e + 2):
                rhs3[i, 0] = rhs[i]
            if not _band_solve_columns(ab[2 * s:2 * e + 2], rhs3[2 * s:2 * e + 2], 2 * (e - s + 1),
                                       sol3[2 * s:2 * e + 2]):
                return SINGULAR, s
        # junctions: sum of the discharges in = the discharge out, each linear in the junction stages
        jmat[:, :] = 0.0
        jrhs[:] = 0.0
        for b in range(nb):
            s = br_start[b]
            e = br_end[b]
            ju = br_up[b]
            jd = br_down[b]
            if jd >= 0:  # the branch ends into junction jd
                r = 2 * e + 1
                jrhs[jd] -= q[e] + sol3[r, 0]
                jmat[jd, jd] += sol3[r, 2]
                if ju >= 0:
                    jmat[jd, ju] += sol3[r, 1]
            if ju >= 0:  # the branch leaves junction ju
                r = 2 * s + 1
                jrhs[ju] += q[s] + sol3[r, 0]
                jmat[ju, ju] -= sol3[r, 1]
                if jd >= 0:
                    jmat[ju, jd] -= sol3[r, 2]
        if nj > 0 and not _dense_solve(jmat, jrhs, jsol):
            return SINGULAR, jn_ref[0]
        for b in range(nb):
            s = br_start[b]
            e = br_end[b]
            du = jsol[br_up[b]] if br_up[b] >= 0 else 0.0
            dd = jsol[br_down[b]] if br_down[b] >= 0 else 0.0
            for i in range(s, e + 1):
                dzs[i] = sol3[2 * i, 0] + du * sol3[2 * i, 1] + dd * sol3[2 * i, 2]
                dqs[i] = sol3[2 * i + 1, 0] + du * sol3[2 * i + 1, 1] + dd * sol3[2 * i + 1, 2]
        # every branch end at a junction moves to the same level: its reference's old level + the junction's change
        max_dz = 0.0
        max_dq = 0.0
        for b in range(nb):
            mz, wb, mq = _apply_update(z, q, z0, dz, dzs, dqs, br_start[b], br_end[b])
            if wb < 0:
                return NO_CONVERGENCE, -1 - wb
            if mz > max_dz:
                max_dz = mz
                worst = wb
            max_dq = max(max_dq, mq)
        if max_dz <= tol_z and max_dq <= tol_q:
            if it + 1 > stats[1]:
                stats[1] = it + 1
            return OK, worst
    return NO_CONVERGENCE, worst


@numba.njit(cache=True, nogil=True)
def preissmann_network(table, z0, nlev, dz, dx, z, q, in_t, in_q, lat_t, lat_q, ds_kind, ds_x, ds_y, normal_slope,
                       theta, lpi_m, g, dt, n_steps, out_every, tol_z, tol_q, max_iter, max_halvings, z_out, q_out,
                       volumes, stats, failure, reach_kind, reach_crest, reach_cw, reach_gate, gate_t, gate_q,
                       br_start, br_end, br_up, br_down, br_source, jn_ref, z_prev, q_prev, warm, junction_energy):
    """``preissmann`` on a dendritic network of branches, all solved together every step.

    The nodes of all branches are concatenated (branch b: nodes br_start[b] .. br_end[b], upstream first);
    ``reach_kind`` is BREAK between two branches (``dx`` there is unused). A branch starts at an upstream
    boundary (br_up = -1; discharge = column br_source of in_q, at times in_t) or at junction br_up, and ends
    at the outlet (br_down = -1; the downstream condition as in ``preissmann``; exactly one branch) or at
    junction br_down. A junction has one outgoing branch, whose first node ``jn_ref[J]`` is its reference, and
    any number of incoming ones. Junction conditions: equal water levels at every branch end meeting there
    (``junction_energy`` False) or equal energy heads Z + alpha Q|Q| / (2 g A^2) (True: no junction loss), and
    the discharges in summing to the discharge out (no storage).

    Other arguments (z_prev, q_prev, warm included) as ``preissmann``; ``lat_q`` has a column per link (zero at
    breaks), volumes = [upstream inflows, lateral inflow, outflow] [m3]. Returns 0 (OK) or the failing step's status.
    """
    n = z.shape[0]
    nb = br_start.shape[0]
    nj = jn_ref.shape[0]
    work = np.empty((n, 6))
    a_old = np.empty(n)
    lat_old = np.zeros(n - 1)
    lat_new = np.zeros(n - 1)
    sigma = np.empty(n - 1)
    g_old = np.empty(n - 1)
    ab = np.zeros((2 * n, 7))
    rhs = np.zeros(2 * n)
    rhs3 = np.zeros((2 * n, 3))
    sol3 = np.zeros((2 * n, 3))
    jmat = np.zeros((nj, nj))
    jrhs = np.zeros(nj)
    jsol = np.zeros(nj)
    q_src = np.zeros(in_q.shape[1])
    dzs = np.zeros(n)
    dqs = np.zeros(n)
    row = 2 * np.arange(n - 1) + 1  # the network keeps every reach's rows in place (LPI, no transcritical rows)
    drop = np.zeros(n - 1, np.int64)
    zo = z.copy()
    qo = q.copy()
    zs = z.copy()
    qs = q.copy()
    zp = z_prev.copy() if warm else z.copy()
    qp = q_prev.copy() if warm else q.copy()
    outlet = 0
    for b in range(nb):
        if br_down[b] < 0:
            outlet = br_end[b]
    root_slope = math.sqrt(normal_slope) if normal_slope > 0.0 else 0.0
    k_out = 0
    for i in range(n):
        z_out[0, i] = z[i]
        q_out[0, i] = q[i]
    for step in range(n_steps):
        t0 = step * dt
        for i in range(n):
            zs[i] = z[i]
            qs[i] = q[i]
        n_sub = 1
        while True:
            status = OK
            worst = 0
            h = dt / n_sub
            vin = 0.0
            vlat = 0.0
            vout = 0.0
            for s in range(n_sub):
                t = t0 + s * h
                for i in range(n):
                    zo[i] = z[i]
                    qo[i] = q[i]
                if n_sub == 1 and (step > 0 or warm):
                    for i in range(n):
                        z[i] = 2.0 * zo[i] - zp[i]
                        q[i] = 2.0 * qo[i] - qp[i]
                status, worst = _advance_network(
                    table, z0, nlev, dz, dx, zo, qo, z, q, t, h, in_t, in_q, lat_t, lat_q, ds_kind, ds_x, ds_y,
                    root_slope, theta, lpi_m, g, tol_z, tol_q, max_iter, work, a_old, lat_old, lat_new, sigma, g_old,
                    ab, rhs, rhs3, sol3, stats, reach_kind, reach_crest, reach_cw, reach_gate, gate_t, gate_q,
                    br_start, br_end, br_up, br_down, br_source, jn_ref, jmat, jrhs, jsol, q_src, dzs, dqs,
                    junction_energy, row, drop)
                if status != OK:
                    failure[0] = worst
                    failure[1] = t + h
                    break
                stats[2] += 1.0
                for b in range(nb):
                    if br_up[b] < 0:
                        i = br_start[b]
                        vin += h * (theta * q[i] + (1.0 - theta) * qo[i])
                vout += h * (theta * q[outlet] + (1.0 - theta) * qo[outlet])
                for j in range(n - 1):
                    if reach_kind[j] == CHANNEL:
                        vlat += h * (theta * lat_new[j] + (1.0 - theta) * lat_old[j])
            if status == OK:
                for i in range(n):
                    zp[i] = zs[i]
                    qp[i] = qs[i]
                volumes[0] += vin
                volumes[1] += vlat
                volumes[2] += vout
                break
            if n_sub >= 2 ** max_halvings:
                return status
            stats[3] += 1.0
            n_sub *= 2
            for i in range(n):
                z[i] = zs[i]
                q[i] = qs[i]
        if (step + 1) % out_every == 0:
            k_out += 1
            for i in range(n):
                z_out[k_out, i] = z[i]
                q_out[k_out, i] = q[i]
    for i in range(n):
        z_prev[i] = zp[i]
        q_prev[i] = qp[i]
    return OK
