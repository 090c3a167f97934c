"""Main-stem hydrodynamics kernels: the diffusive wave on a prismatic rectangular reach (finite volume).

Continuity  dA/dt + dQ/dx = 0  in conservative form on cells of length dx (area A, depth h = A/B).
Momentum (diffusive wave): friction slope = water-surface slope,
    Q = (B h_f^(5/3) / n) sqrt(|S_f|) sign(S_f),   S_f = -d(z + h)/dx,
with Manning n, width B and h_f the face depth (upwind in the flow direction). Explicit in time with
the step chosen inside the kernel for stability (advective and diffusive limits); boundary conditions:
a discharge hydrograph upstream, normal depth (dh/dx = 0) downstream. Because every face flux leaves
one cell and enters the next, mass is conserved to round-off: the change in storage equals the inflow
minus the outflow volume.

Reference: Hayami (1951), for the linear limit: c = 5/3 v, D = Q / (2 B S0).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _face_flux(h_up, h_dn, z_up, z_dn, dx, width, manning):
    sf = ((z_up + h_up) - (z_dn + h_dn)) / dx  # water-surface slope = friction slope (diffusive wave)
    h_face = h_up if sf >= 0.0 else h_dn
    return width * h_face ** (5.0 / 3.0) / manning * math.sqrt(abs(sf)) * (1.0 if sf >= 0.0 else -1.0)


@numba.njit(cache=True, nogil=True)
def diffusive_wave(depth, bed, inflow, lateral, inflow_dt, dx, width, manning, slope, n_out, out_every_s, outflow,
                   stage_out, volume, probe_face):
    """Route ``inflow`` [m3 s-1, one value per ``inflow_dt`` s, linear in between] through cells of length
    ``dx`` [m] and bed elevation ``bed`` [m] starting from ``depth`` [m] (updated in place); ``slope`` is
    the bed slope the outlet's normal-depth condition uses. ``lateral`` [n_times, n_cells] (same times as
    ``inflow``) adds tributary inflow [m3 s-1] to each cell. Writes ``outflow`` [n_out] (the flux through
    face ``probe_face``: 0 = inflow, n_cells = the outlet) and ``stage_out`` [n_out, n_cells] depths every
    ``out_every_s`` s; ``volume`` [3] gets the inflow (upstream + lateral) and outlet volumes [m3] and the
    number of internal steps. Returns 0, or -1 if depth went negative (a step too long for the wave; never silently clipped)."""
    n = depth.shape[0]
    t = 0.0
    t_end = n_out * out_every_s
    next_out = out_every_s
    k_out = 0
    vin = 0.0
    vout = 0.0
    steps = 0
    flux = np.empty(n + 1)
    while t < t_end - 1e-9:
        # stable step: advective (c = 5/3 v) and diffusive (D = q / (2 S)) limits, with a safety factor
        dt = out_every_s
        for i in range(n):
            h = max(depth[i], 1e-6)
            if i + 1 < n:
                s_local = max(abs((bed[i] + depth[i] - bed[i + 1] - depth[i + 1]) / dx), 1e-5)
            else:
                s_local = slope
            v = h ** (2.0 / 3.0) * math.sqrt(s_local) / manning
            c = 5.0 / 3.0 * v
            diff = v * h / (2.0 * s_local)
            dt = min(dt, 0.5 * dx / max(c, 1e-9), 0.4 * dx * dx / max(diff, 1e-9))
        dt = min(dt, next_out - t)
        k = int(t / inflow_dt)
        w = t / inflow_dt - k
        q_in = inflow[min(k, inflow.shape[0] - 1)] * (1.0 - w) + inflow[min(k + 1, inflow.shape[0] - 1)] * w
        flux[0] = q_in
        k0 = min(k, inflow.shape[0] - 1)
        k1 = min(k + 1, inflow.shape[0] - 1)
        for i in range(n - 1):
            flux[i + 1] = _face_flux(depth[i], depth[i + 1], bed[i], bed[i + 1], dx, width, manning)
        flux[n] = width * max(depth[n - 1], 0.0) ** (5.0 / 3.0) / manning * math.sqrt(slope)  # normal depth
        q_lat = 0.0
        for i in range(n):
            lat = lateral[k0, i] * (1.0 - w) + lateral[k1, i] * w
            q_lat += lat
            depth[i] += dt * (flux[i] - flux[i + 1] + lat) / (width * dx)
            if depth[i] < 0.0:
                return -1
        vin += dt * (flux[0] + q_lat)
        vout += dt * flux[n]
        t += dt
        steps += 1
        if t >= next_out - 1e-9:
            outflow[k_out] = flux[probe_face]
            for i in range(n):
                stage_out[k_out, i] = depth[i]
            k_out += 1
            next_out += out_every_s
    volume[0] = vin
    volume[1] = vout
    volume[2] = steps
    return 0


G = 9.81


@numba.njit(cache=True, nogil=True)
def _hll_flux(hl, ql, hr, qr, g, dry):
    """HLL flux of the 1-D shallow-water equations (per unit width) between two states."""
    ul = ql / hl if hl > dry else 0.0
    ur = qr / hr if hr > dry else 0.0
    cl = math.sqrt(g * max(hl, 0.0))
    cr = math.sqrt(g * max(hr, 0.0))
    sl = min(ul - cl, ur - cr)
    sr = max(ul + cl, ur + cr)
    fl_h, fl_q = ql, ql * ul + 0.5 * g * hl * hl
    fr_h, fr_q = qr, qr * ur + 0.5 * g * hr * hr
    if sl >= 0.0:
        return fl_h, fl_q
    if sr <= 0.0:
        return fr_h, fr_q
    inv = 1.0 / (sr - sl)
    return ((sr * fl_h - sl * fr_h + sl * sr * (hr - hl)) * inv,
            (sr * fl_q - sl * fr_q + sl * sr * (qr - ql)) * inv)


@numba.njit(cache=True, nogil=True)
def dynamic_wave(h, q, dx, t_end, cfl, g, dry):
    """Full dynamic wave (Saint-Venant, frictionless horizontal bed, per unit width) by a finite-volume
    HLL scheme, explicit, CFL-limited; transmissive ends. ``h`` [m] and ``q`` [m2 s-1] are updated in
    place to time ``t_end`` [s]. Returns the number of steps. Used for the Ritter / Stoker dam breaks."""
    n = h.shape[0]
    fh = np.empty(n + 1)
    fq = np.empty(n + 1)
    t = 0.0
    steps = 0
    while t < t_end - 1e-12:
        smax = 1e-9
        for i in range(n):
            if h[i] > dry:
                smax = max(smax, abs(q[i] / h[i]) + math.sqrt(g * h[i]))
        dt = min(cfl * dx / smax, t_end - t)
        for i in range(n + 1):
            il = max(i - 1, 0)
            ir = min(i, n - 1)
            fh[i], fq[i] = _hll_flux(h[il], q[il], h[ir], q[ir], g, dry)
        for i in range(n):
            h[i] -= dt / dx * (fh[i + 1] - fh[i])
            q[i] -= dt / dx * (fq[i + 1] - fq[i])
            if h[i] <= dry:
                h[i] = max(h[i], 0.0)
                q[i] = 0.0
        t += dt
        steps += 1
    return steps
