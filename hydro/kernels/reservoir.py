"""Level-pool reservoir kernel (numba), float32 as the NWM / t-route run it.

Storage-indication level pool on a vertically walled lake (area ``LkArea``), outflow through an
orifice ``Q = Co Ao sqrt(2 g (H - Eo))``, a weir ``Q = Cw Lw (H - Ew)^1.5`` (weir head capped at
``LkMxE - WeirE``) and dam overtopping ``Cw (Lw Ld) (H - LkMxE)^1.5``, integrated over one routing
period with the third-order Runge-Kutta scheme of WRF-Hydro's LEVELPOOL (LAKE_OPT = 2), after
Chow, Maidment & Mays (1988), Applied Hydrology, section 8.2 (p. 252). Operation order and float32
constants follow the NWM code so the results match t-route to float32 round-off.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .constants import F0, F2

F3 = np.float32(3.0)
F4 = np.float32(4.0)
G = np.float32(9.81)
F1_5 = np.float32(1.5)
F033 = np.float32(0.33)
F067 = np.float32(0.67)
F0667 = np.float32(0.667)
F075 = np.float32(0.75)
KM2_TO_M2 = np.float32(1.0e6)


@numba.njit(cache=True, nogil=True)
def _levelpool_discharge(h_trial, h_start, weir_e, max_weir_depth, max_e, weir_c, weir_l, dam_l, orif_e, orif_c, orif_a):
    """Outflow [m3 s-1] at trial elevation ``h_trial``; overtopping is decided on ``h_start`` (as NWM)."""
    dh = h_trial - weir_e
    if dh > max_weir_depth:
        dh = max_weir_depth
    if h_start > max_e:
        orifice = orif_c * orif_a * math.sqrt(F2 * G * (h_trial - orif_e))
        weir = weir_c * weir_l * (dh**F1_5)
        return orifice + weir + (weir_c * (weir_l * dam_l) * (h_start - max_e) ** F1_5)
    if dh > F0:
        orifice = orif_c * orif_a * math.sqrt(F2 * G * (h_trial - orif_e))
        return orifice + weir_c * weir_l * (dh**F1_5)
    if h_trial > orif_e:
        return orif_c * orif_a * math.sqrt(F2 * G * (h_trial - orif_e))
    return F0


@numba.njit(cache=True, nogil=True)
def levelpool_step(inflow_prev, inflow, lateral, dt, h, area_km2, weir_e, max_e, weir_c, weir_l, dam_l, orif_e, orif_c, orif_a):
    """One level-pool routing period (all arguments float32).

    Parameters: inflow_prev, inflow, lateral [m3 s-1]; dt [s]; h water elevation [m]; area_km2 [km2];
    weir_e, max_e, orif_e elevations [m]; weir_l, dam_l [m]; orif_a [m2]; coefficients [1].
    Returns (new elevation [m], outflow [m3 s-1]).
    """
    it0 = inflow_prev
    it_1_3 = inflow_prev + ((inflow + lateral - inflow_prev) * F033)
    it_2_3 = inflow_prev + ((inflow + lateral - inflow_prev) * F067)
    max_weir_depth = max_e - weir_e
    sap = area_km2 * KM2_TO_M2

    q = _levelpool_discharge(h, h, weir_e, max_weir_depth, max_e, weir_c, weir_l, dam_l, orif_e, orif_c, orif_a)
    dh1 = ((it0 - q) / sap) * dt if sap > F0 else F0
    q = _levelpool_discharge(h + dh1 / F3, h, weir_e, max_weir_depth, max_e, weir_c, weir_l, dam_l, orif_e, orif_c, orif_a)
    dh2 = ((it_1_3 - q) / sap) * dt if sap > F0 else F0
    q = _levelpool_discharge(h + dh2 * F0667, h, weir_e, max_weir_depth, max_e, weir_c, weir_l, dam_l, orif_e, orif_c, orif_a)
    dh3 = ((it_2_3 - q) / sap) * dt if sap > F0 else F0
    h_new = h + ((dh1 / F4) + (F075 * dh3))
    q = _levelpool_discharge(h_new, h_new, weir_e, max_weir_depth, max_e, weir_c, weir_l, dam_l, orif_e, orif_c, orif_a)
    return h_new, q


@numba.njit(cache=True, nogil=True)
def _interp(x, xs, ys):
    """Linear interpolation in a strictly increasing table (clamped at the ends)."""
    n = xs.shape[0]
    if x <= xs[0]:
        return ys[0]
    if x >= xs[n - 1]:
        return ys[n - 1]
    lo, hi = 0, n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid
    w = (x - xs[lo]) / (xs[hi] - xs[lo])
    return ys[lo] + w * (ys[hi] - ys[lo])


@numba.njit(cache=True, nogil=True)
def storage_indication(inflow, dt, storage_table, outflow_table, storage0, outflow_out, storage_out):
    """Level-pool routing by the storage-indication (modified Puls) method.

    Continuity over a step, with outflow a unique function of storage O = f(S) given as a table:
        2 S2/dt + O2 = I1 + I2 + 2 S1/dt - O1,
    and O2 read from the table of (2S/dt + O) against O by linear interpolation.
    Units: inflow, outflow [m3 s-1]; storage [m3]; dt [s]. ``inflow[0]`` is the inflow at the start.
    Writes outflow and storage at every inflow time (index 0 = the initial state). Returns the number of
    steps whose storage indication left the table (the outflow was clamped there); 0 = OK.

    Reference: Chow, Maidment & Mays (1988), Applied Hydrology, section 8.2.
    """
    n_table = storage_table.shape[0]
    indication = np.empty(n_table)
    for k in range(n_table):
        indication[k] = 2.0 * storage_table[k] / dt + outflow_table[k]
    o1 = _interp(storage0, storage_table, outflow_table)
    s1 = storage0
    outflow_out[0] = o1
    storage_out[0] = s1
    off_table = 0
    for j in range(1, inflow.shape[0]):
        si = inflow[j - 1] + inflow[j] + 2.0 * s1 / dt - o1
        if si < indication[0] or si > indication[n_table - 1]:
            off_table += 1
        o2 = _interp(si, indication, outflow_table)
        s2 = 0.5 * dt * (si - o2)
        outflow_out[j] = o2
        storage_out[j] = s2
        o1, s1 = o2, s2
    return off_table
