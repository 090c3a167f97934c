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


# --------------------------------------------------------------------------- operated dam (hydro.reservoir.operation)
OP_RULE, OP_SCHEDULE, OP_FREE_SPILL = 0, 1, 2  # what sets the order
WHY_RULE, WHY_SCHEDULE, WHY_DAM_SAFETY, WHY_RAMP, WHY_MINIMUM, WHY_CAPACITY = 0, 1, 2, 3, 4, 5
OP_SUB_STEPS = 16  # sub-steps of a step whose storage dips, within it, to a level whose capacity is below the order


@numba.njit(cache=True, nogil=True, inline="always")
def _cap(v, s_tab, o_tab):
    return np.interp(v, s_tab, o_tab)


@numba.njit(cache=True, nogil=True)
def _trapezoid(v1, i1, i2, order, dt, s_tab, o_tab, indication_table):
    """One trapezoidal step with the release min(order, O_cap(V)) at both ends: (o1, o2, v2); v2 = inf above the
    curve (the caller reports the overtopping)."""
    o1 = min(order, _cap(v1, s_tab, o_tab))
    if order < np.inf:  # the order held, if the capacity at the end-of-step storage allows it
        v2 = v1 + 0.5 * dt * (i1 + i2 - o1 - order)
        if order <= _cap(v2, s_tab, o_tab):
            return o1, order, v2
    indication = 2.0 * v1 / dt + i1 + i2 - o1  # 2 V2 / dt + O_cap(V2): storage indication
    if indication > indication_table[-1]:
        return o1, o_tab[-1], np.inf
    o2 = np.interp(indication, indication_table, o_tab)
    return o1, o2, 0.5 * dt * (indication - o2)


@numba.njit(cache=True, nogil=True)
def _operated_step(v1, i1, i2, order, dt, s_tab, o_tab, table, sub_table):
    """Integrate one step: (mean release, o1, o2, v2, lowest storage reached), sub-stepped where the storage
    dips within the step to a level whose capacity is below the order."""
    o1, o2, v2 = _trapezoid(v1, i1, i2, order, dt, s_tab, o_tab, table)
    lowest = min(v1, v2)
    if order < np.inf and np.isfinite(v2):
        # storage is quadratic in time within the step: V(s) = V1 + dt (b s + a s^2 / 2), s in [0, 1]
        a, b = (i2 - i1) - (o2 - o1), i1 - o1
        if b < 0.0 < a and -b < a:
            s = -b / a
            v_min = v1 + dt * (b * s + 0.5 * a * s * s)
            lowest = min(lowest, v_min)
            if o1 + (o2 - o1) * s > _cap(v_min, s_tab, o_tab) * (1.0 + 1e-12):
                h = dt / OP_SUB_STEPS
                v, volume, lowest, first = v1, 0.0, v1, np.nan
                for k in range(OP_SUB_STEPS):
                    a_in = i1 + (i2 - i1) * k / OP_SUB_STEPS
                    b_in = i1 + (i2 - i1) * (k + 1) / OP_SUB_STEPS
                    o1, o2, v = _trapezoid(v, a_in, b_in, order, h, s_tab, o_tab, sub_table)
                    first = o1 if k == 0 else first
                    volume += 0.5 * h * (o1 + o2)
                    lowest = min(lowest, v)
                    if not np.isfinite(v):
                        break
                return volume / dt, first, o2, v, lowest
    return 0.5 * (o1 + o2), o1, o2, v2, lowest


@numba.njit(cache=True, nogil=True)
def operate_dam(mode, s_tab, o_tab, table, sub_table, inflow, dt, storage0, schedule, previous, ramp, min_release,
                safe_release, limit_storage, high_storage, target_storage, storage, release, outflow, wanted_out, why,
                lowest_out):
    """The step loop of :func:`hydro.reservoir.operation.operate` (see its module docstring): per step the order
    from the zone rule, the schedule (dam safety overriding it) or a free spill, limited by the ramp (``previous``:
    the gate setting before, NaN when unknown) and the minimum release, then the trapezoidal level-pool step.
    ``table``, ``sub_table``: the storage-indication tables 2 V / h + O_cap for h = dt and dt / OP_SUB_STEPS.
    Fills storage [n + 1], release [n], outflow [n + 1], wanted_out [n], why [n] (WHY_* codes) and lowest_out [n]
    (lowest storage reached in each step). Returns 0, or the step (1-based) whose storage left the curve."""
    n = inflow.size - 1
    storage[0] = storage0
    for t in range(n):
        mean_in = 0.5 * (inflow[t] + inflow[t + 1])
        if mode == OP_FREE_SPILL:
            wanted, reason = np.inf, WHY_CAPACITY
        elif mode == OP_SCHEDULE:
            wanted, reason = schedule[t], WHY_SCHEDULE
            # dam safety overrides a schedule: never hold water above the flood-control high level
            keep_below = mean_in + (storage[t] - high_storage) / dt
            if keep_below > wanted:
                wanted, reason = keep_below, WHY_DAM_SAFETY
        elif storage[t] <= limit_storage:
            excess = (storage[t] - limit_storage) / dt
            wanted, reason = min(mean_in + max(excess, 0.0), safe_release), WHY_RULE
        elif storage[t] <= high_storage:
            back_to_target = mean_in + (storage[t] - target_storage) / dt
            wanted, reason = min(max(back_to_target, min_release), safe_release), WHY_RULE
        else:
            wanted, reason = np.inf, WHY_RULE  # protect the dam: all it can pass
        wanted_out[t] = wanted
        order = wanted
        if mode != OP_FREE_SPILL:
            if not np.isnan(previous) and np.isfinite(ramp):
                if order > previous + ramp:
                    order, reason = previous + ramp, WHY_RAMP
                elif order < previous - ramp:
                    order, reason = previous - ramp, WHY_RAMP
            if order < min_release:
                order, reason = min_release, WHY_MINIMUM
        o, o1, o2, v2, lowest = _operated_step(storage[t], inflow[t], inflow[t + 1], order, dt, s_tab, o_tab, table,
                                               sub_table)
        if not v2 <= s_tab[-1]:
            return t + 1
        if o < order:
            reason = WHY_CAPACITY
        if v2 < 0.0:  # never release water the reservoir does not hold
            o, o2, v2 = mean_in + storage[t] / dt, 0.0, 0.0
        release[t] = o
        storage[t + 1] = v2
        if t == 0:
            outflow[0] = o1
        outflow[t + 1] = o2
        why[t] = reason
        lowest_out[t] = lowest
        previous = o
    return 0
