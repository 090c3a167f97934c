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
