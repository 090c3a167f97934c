"""Runoff-generation kernels: Xinanjiang (XAJ) and GR4J/GR4H, one cell loop for a basin or a grid.

Both kernels run independent "cells" (grid cells, lumped basins, or parameter sets of a calibration
batch) over all time steps of the call, in parallel over cells. Cell ``c`` reads forcing column
``forcing_col[c]`` and parameter row ``param_row[c]``, so a calibration batch shares one forcing
column and a uniform grid shares one parameter row. Parameters arrive already converted to the step
(see hydro.runoff.xaj / hydro.runoff.gr4); kernels never see a time step. Depths are mm per step,
float64. State arrays are updated in place; results go to caller-allocated ``runoff`` [mm per step]
and ``evaporation`` (accumulated actual evapotranspiration per cell, mm), so the caller can close
the water balance: sum(P) - evaporation - sum(runoff) - (storage_after - storage_before) = 0.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# Xinanjiang parameter columns (per-step values) -----------------------------------------------
XAJ_K, XAJ_UM, XAJ_LM, XAJ_DM, XAJ_C, XAJ_B, XAJ_IM, XAJ_SM, XAJ_EX = range(9)
XAJ_KI, XAJ_KG, XAJ_CI, XAJ_CG, XAJ_CS, XAJ_LAG = range(9, 15)
XAJ_NPARAM = 15
# Xinanjiang state columns: tension water per layer, free water S (depth over the runoff area FR),
# FR, interflow / groundwater / channel linear-reservoir storage (mm over the cell).
# XAJ_U caches the tension-curve ordinate u = (1 - W/WM)^(1/(1+B)) = 1 - A/WMM after a wet step
# (-1 = recompute from W): saturation-excess infiltration moves along the curve, u -> u - PE/WMM,
# so consecutive wet steps need one power instead of two. W stays the authoritative storage.
XAJ_WU, XAJ_WL, XAJ_WD, XAJ_S, XAJ_FR, XAJ_SI, XAJ_SG, XAJ_SC, XAJ_U = range(9)
XAJ_NSTATE = 9
FR_FLOOR = 1e-4  # smallest runoff-area fraction, as the SMS_3 code: keeps S * FR0 / FR finite
SUBSTEP_MM = 5.0  # net rainfall is applied in equal pieces of at most this depth


@numba.njit(cache=True, nogil=True, inline="always")
def _tension_runoff(pe, w, wm, inv_wm, inv_wmm, b1, b_exp, u):
    """Saturation-excess runoff R [mm] from net rainfall ``pe`` on mean tension storage ``w``.

    ``u`` is the cached curve ordinate (1 - W/WM)^(1/(1+B)) or -1; returns (R, ordinate after the
    infiltration, or -1 when the curve was left: saturation or a round-off clamp)."""
    deficit = wm - w
    if deficit <= 0.0:
        return pe, -1.0
    if u < 0.0:
        u = (deficit * inv_wm) ** b1
    v = u - pe * inv_wmm
    if v > 0.0:
        r = pe - deficit + wm * v**b_exp
    else:
        r = pe - deficit
        v = -1.0
    # round-off guard: 0 <= R and the infiltrated part must fit into the deficit
    lo = max(pe - deficit, 0.0)
    if r < lo or r > pe:
        r = min(max(r, lo), pe)
        v = -1.0
    return r, v


@numba.njit(cache=True, nogil=True, inline="always")
def _fill_layers(x, wu, wl, wd, um, lm, dm):
    """Add ``x`` mm top-down to the three tension layers; return the layers and what did not fit."""
    add = min(x, um - wu)
    wu += add
    x -= add
    add = min(x, lm - wl)
    wl += add
    x -= add
    add = min(x, dm - wd)
    wd += add
    x -= add
    return wu, wl, wd, x


@numba.njit(cache=True, nogil=True, inline="always")
def _holds_water(buf):
    for v in buf:
        if v != 0.0:
            return True
    return False


@numba.njit(cache=True, nogil=True, parallel=True)
def xaj_run(precip, pet, forcing_col, params, param_row, state, lag_buffer, runoff, evaporation):
    """Run the Xinanjiang model (Zhao 1992) on independent cells over ``precip.shape[0]`` steps.

    Equations (see shared/domain/runoff-xaj.md): three-layer evapotranspiration EP = K*EM; tension
    water capacity curve f/F = 1 - (1 - W'/WMM)^B with WMM = (1+B) WM on the pervious area; net
    rainfall applied in equal pieces <= 5 mm; free water S with capacity curve exponent EX over the
    runoff area FR = R/PE, split into surface RS, interflow KI*S*FR and groundwater KG*S*FR (KI, KG
    re-derived for the piece count so the per-step drainage is unchanged); interflow and groundwater
    linear reservoirs (recession CI, CG); impervious fraction IM returns P - min(P, EP); the total
    passes a lag of LAG steps (fractional: split between two steps) and a channel linear reservoir CS.

    Parameters
    ----------
    precip, pet : float64 [n_steps, n_columns]
        Precipitation and potential (pan/reference) evapotranspiration [mm per step], finite, >= 0.
    forcing_col, param_row : int64 [n_cells]
        Forcing column and parameter row of each cell.
    params : float64 [n_rows, XAJ_NPARAM]
        Per-step parameters (K, UM, LM, DM [mm], C, B, IM, SM [mm], EX, KI, KG, CI, CG, CS, LAG [steps]).
    state : float64 [n_cells, XAJ_NSTATE]
        WU, WL, WD, S [mm], FR [1], SI, SG, SC [mm], cached curve ordinate U; updated in place.
    lag_buffer : float64 [n_cells, n_lag]
        Water in transit through the lag [mm]; n_lag >= floor(max LAG) + 2; updated in place.
    runoff : float64 [n_steps, n_cells]
        Out: channel outflow [mm per step].
    evaporation : float64 [n_cells]
        Accumulated actual evapotranspiration [mm]; incremented.

    References
    ----------
    Zhao, R.-J. (1992), The Xinanjiang model applied in China, J. Hydrol. 135, 371-381,
    doi:10.1016/0022-1694(92)90096-E.
    """
    n_steps = precip.shape[0]
    n_cells = state.shape[0]
    n_lag = lag_buffer.shape[1]
    for c in numba.prange(n_cells):
        p = params[param_row[c]]
        k, um, lm, dm, cd = p[XAJ_K], p[XAJ_UM], p[XAJ_LM], p[XAJ_DM], p[XAJ_C]
        b, im, sm, ex = p[XAJ_B], p[XAJ_IM], p[XAJ_SM], p[XAJ_EX]
        ki, kg, ci, cg, cs = p[XAJ_KI], p[XAJ_KG], p[XAJ_CI], p[XAJ_CG], p[XAJ_CS]
        wm = um + lm + dm
        wmm = (1.0 + b) * wm
        b1 = 1.0 / (1.0 + b)
        b_exp = 1.0 + b
        smm = (1.0 + ex) * sm
        # reciprocals of the capacities: the step has enough divisions that depend on the state
        inv_wm, inv_wmm, inv_sm, inv_smm = 1.0 / wm, 1.0 / wmm, 1.0 / sm, 1.0 / smm
        ex1 = 1.0 / (1.0 + ex)
        ex_exp = 1.0 + ex
        drain = ki + kg
        ki_share = ki / drain if drain > 0.0 else 0.0
        lag_whole = int(math.floor(p[XAJ_LAG]))
        lag_frac = p[XAJ_LAG] - lag_whole
        has_lag = p[XAJ_LAG] > 0.0 or _holds_water(lag_buffer[c])
        pervious = 1.0 - im
        col = forcing_col[c]
        s = state[c]
        wu, wl, wd, sf, fr = s[XAJ_WU], s[XAJ_WL], s[XAJ_WD], s[XAJ_S], s[XAJ_FR]
        si, sg, sc, u = s[XAJ_SI], s[XAJ_SG], s[XAJ_SC], s[XAJ_U]
        buf = lag_buffer[c]
        evap_sum = 0.0
        for t in range(n_steps):
            pr = precip[t, col]
            ep = k * pet[t, col]
            # three-layer evapotranspiration on the pervious area
            if wu + pr >= ep:
                eu, el, ed = ep, 0.0, 0.0
            else:
                eu = wu + pr
                demand = ep - eu
                if wl >= cd * lm:
                    el = min(demand * wl / lm, wl)
                    ed = 0.0
                elif wl >= cd * demand:
                    el = cd * demand
                    ed = 0.0
                else:
                    el = wl
                    ed = min(cd * demand - wl, wd)
            e_perv = eu + el + ed
            pe = pr - e_perv
            rs = 0.0
            ri = 0.0
            rg = 0.0
            if pe > 0.0:
                # E == EP here, taken from the rain; runoff in pieces of <= 5 mm
                n_pieces = int(math.ceil(pe * (1.0 / SUBSTEP_MM)))
                piece = pe if n_pieces == 1 else pe / n_pieces
                if n_pieces == 1:
                    ki_p = ki
                    kg_p = kg
                else:
                    drain_p = 1.0 - (1.0 - drain) ** (1.0 / n_pieces)
                    ki_p = drain_p * ki_share
                    kg_p = drain_p - ki_p
                for _ in range(n_pieces):
                    r, u = _tension_runoff(piece, wu + wl + wd, wm, inv_wm, inv_wmm, b1, b_exp, u)
                    wu, wl, wd, spill = _fill_layers(piece - r, wu, wl, wd, um, lm, dm)
                    if spill > 0.0:
                        r += spill
                        u = -1.0
                    if r > 0.0:
                        fr_new = r / piece
                        depth = piece  # water entering the runoff area, r / fr_new
                        if fr_new < FR_FLOOR:
                            fr_new = FR_FLOOR
                            depth = r / FR_FLOOR
                        sf = sf * fr / fr_new
                        fr = fr_new
                        if sf > sm:  # a shrinking runoff area pushes free water out as surface runoff
                            rs += (sf - sm) * fr
                            sf = sm
                        if sf < sm:
                            au = smm * (1.0 - (1.0 - sf * inv_sm) ** ex1)
                        else:
                            au = smm
                        if depth + au < smm:
                            rs_p = fr * (depth + sf - sm + sm * (1.0 - (depth + au) * inv_smm) ** ex_exp)
                        else:
                            rs_p = fr * (depth + sf - sm)
                        rs_p = min(max(rs_p, 0.0), r)
                        rs += rs_p
                        sf += (r - rs_p) / fr
                        if sf > sm:
                            rs += (sf - sm) * fr
                            sf = sm
                    ri += ki_p * sf * fr
                    rg += kg_p * sf * fr
                    sf *= 1.0 - ki_p - kg_p
            else:
                wu = max(wu + pr - eu, 0.0)
                u = -1.0
                wl -= el
                wd -= ed
                ri = ki * sf * fr
                rg = kg * sf * fr
                sf *= 1.0 - drain
            # impervious area: rain minus what evaporates, straight to the channel
            e_imp = min(pr, ep)
            evap_sum += im * e_imp + pervious * e_perv
            si += pervious * ri
            sg += pervious * rg
            qi = (1.0 - ci) * si
            qg = (1.0 - cg) * sg
            si -= qi
            sg -= qg
            total = im * (pr - e_imp) + pervious * rs + qi + qg
            # fractional lag (mass-exact split between two steps), then the channel reservoir;
            # grid cells (no lag: the network routes) skip the buffer, which then stays empty
            if has_lag:
                buf[lag_whole] += (1.0 - lag_frac) * total
                buf[lag_whole + 1] += lag_frac * total
                lagged = buf[0]
                for j in range(n_lag - 1):
                    buf[j] = buf[j + 1]
                buf[n_lag - 1] = 0.0
            else:
                lagged = total
            sc += lagged
            q = (1.0 - cs) * sc
            sc -= q
            runoff[t, c] = q
        s[XAJ_WU], s[XAJ_WL], s[XAJ_WD], s[XAJ_S], s[XAJ_FR] = wu, wl, wd, sf, fr
        s[XAJ_SI], s[XAJ_SG], s[XAJ_SC], s[XAJ_U] = si, sg, sc, u
        evaporation[c] += evap_sum


@numba.njit(cache=True, nogil=True)
def xaj_storage(params, param_row, state, lag_buffer, out):
    """Water held by each cell [mm over the cell]: tension + free water on the pervious area,
    the linear reservoirs, the channel reservoir and the lag."""
    for c in range(state.shape[0]):
        s = state[c]
        pervious = 1.0 - params[param_row[c], XAJ_IM]
        held = pervious * (s[XAJ_WU] + s[XAJ_WL] + s[XAJ_WD] + s[XAJ_S] * s[XAJ_FR])
        out[c] = held + s[XAJ_SI] + s[XAJ_SG] + s[XAJ_SC] + lag_buffer[c].sum()


# GR4J / GR4H --------------------------------------------------------------------------------------
GR4_X1, GR4_X2, GR4_X3, GR4_X4 = range(4)
GR4_NPARAM = 4
GR4_PROD, GR4_ROUT = range(2)
GR4_NSTATE = 2


@numba.njit(cache=True, nogil=True, inline="always")
def _s_curve_uh1(t, x4, d):
    if t <= 0.0:
        return 0.0
    if t < x4:
        return (t / x4) ** d
    return 1.0


@numba.njit(cache=True, nogil=True, inline="always")
def _s_curve_uh2(t, x4, d):
    if t <= 0.0:
        return 0.0
    if t <= x4:
        return 0.5 * (t / x4) ** d
    if t < 2.0 * x4:
        return 1.0 - 0.5 * (2.0 - t / x4) ** d
    return 1.0


@numba.njit(cache=True, nogil=True, parallel=True)
def gr4_run(precip, pet, forcing_col, params, param_row, perc_factor, uh_exponent, state, uh_buffer,
            runoff, evaporation, exchange):
    """Run GR4J (Perrin et al. 2003) or, with its constants, GR4H (Mathevet 2005) on independent cells.

    Production store X1 [mm] with tanh-form infiltration and evaporation, percolation
    S (1 - (1 + (S / (perc_factor X1))^4)^-1/4) (9/4 daily, 21/4 hourly), split 90/10 into unit
    hydrographs UH1 (base X4) and UH2 (base 2 X4) with S-curve exponent ``uh_exponent`` (5/2 daily,
    5/4 hourly), groundwater exchange F = X2 (R/X3)^3.5, routing store X3 [mm].

    Parameters
    ----------
    precip, pet : float64 [n_steps, n_columns]  [mm per step]
    forcing_col, param_row : int64 [n_cells]
    params : float64 [n_rows, 4]  X1 [mm], X2 [mm per step], X3 [mm], X4 [steps]
    state : float64 [n_cells, 2]  production and routing store [mm]; updated in place
    uh_buffer : float64 [n_cells, 2 * n_uh]  water in the two unit hydrographs [mm]; n_uh >= 2 max X4 + 1
    runoff : float64 [n_steps, n_cells]  out: streamflow [mm per step]
    evaporation, exchange : float64 [n_cells]  accumulated actual ET and net groundwater exchange [mm]

    References
    ----------
    Perrin, C., Michel, C., Andreassian, V. (2003), Improvement of a parsimonious model for streamflow
    simulation, J. Hydrol. 279, 275-289, doi:10.1016/S0022-1694(03)00225-7.
    """
    n_steps = precip.shape[0]
    n_uh = uh_buffer.shape[1] // 2
    n_cells = state.shape[0]
    for c in numba.prange(n_cells):
        p = params[param_row[c]]
        x1, x2, x3, x4 = p[GR4_X1], p[GR4_X2], p[GR4_X3], p[GR4_X4]
        n1 = min(int(math.ceil(x4)), n_uh)  # UH1 ordinates that can be non-zero
        n2 = min(int(math.ceil(2.0 * x4)), n_uh)
        ord1 = np.zeros(n_uh)
        ord2 = np.zeros(n_uh)
        for j in range(n_uh):
            ord1[j] = _s_curve_uh1(j + 1.0, x4, uh_exponent) - _s_curve_uh1(float(j), x4, uh_exponent)
            ord2[j] = _s_curve_uh2(j + 1.0, x4, uh_exponent) - _s_curve_uh2(float(j), x4, uh_exponent)
        col = forcing_col[c]
        prod, rout = state[c, GR4_PROD], state[c, GR4_ROUT]
        uh1 = uh_buffer[c, :n_uh]
        uh2 = uh_buffer[c, n_uh:]
        evap_sum = 0.0
        exch_sum = 0.0
        inv_perc = 1.0 / (perc_factor * x1)
        for t in range(n_steps):
            pr = precip[t, col]
            ev = pet[t, col]
            if pr >= ev:
                pn = pr - ev
                evap_sum += ev
                tw = math.tanh(pn / x1)
                ratio = prod / x1
                ps = x1 * (1.0 - ratio * ratio) * tw / (1.0 + ratio * tw)
                ps = min(ps, pn)
                prod += ps
            else:
                en = ev - pr
                evap_sum += pr
                pn = 0.0
                ps = 0.0
                tw = math.tanh(en / x1)
                ratio = prod / x1
                es = prod * (2.0 - ratio) * tw / (1.0 + (1.0 - ratio) * tw)
                es = min(es, prod)
                prod -= es
                evap_sum += es
            ratio = prod * inv_perc
            r4 = ratio * ratio
            r4 *= r4
            perc = prod * (1.0 - (1.0 + r4) ** -0.25)
            prod -= perc
            pr_eff = perc + (pn - ps)
            for j in range(n1):
                uh1[j] += 0.9 * pr_eff * ord1[j]
            for j in range(n2):
                uh2[j] += 0.1 * pr_eff * ord2[j]
            q9 = uh1[0]
            q1 = uh2[0]
            for j in range(n1 - 1):
                uh1[j] = uh1[j + 1]
            uh1[n1 - 1] = 0.0
            for j in range(n2 - 1):
                uh2[j] = uh2[j + 1]
            uh2[n2 - 1] = 0.0
            f = x2 * (rout / x3) ** 3.5
            new_rout = max(0.0, rout + q9 + f)
            exch_sum += new_rout - rout - q9
            rout = new_rout
            ratio = rout / x3
            r4 = ratio * ratio
            r4 *= r4
            qr = rout * (1.0 - (1.0 + r4) ** -0.25)
            rout -= qr
            qd = max(0.0, q1 + f)
            exch_sum += qd - q1
            runoff[t, c] = qr + qd
        state[c, GR4_PROD] = prod
        state[c, GR4_ROUT] = rout
        evaporation[c] += evap_sum
        exchange[c] += exch_sum
