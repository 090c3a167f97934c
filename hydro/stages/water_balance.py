"""The water balance of a run of the twin (:func:`hydro.basin.advance`): where the rain went, in m3.

Land (every mapped runoff cell): rain = evaporation + change in soil water + change in hillslope water in
transit + lateral inflow delivered to the channels. The runoff kernel conserves water exactly (Xinanjiang:
tests/physics), but ``basin.lateral_inflow`` does not hand its evaporation out, so evaporation here is the
term that closes the land balance (``evaporation_m3``, stated as such in ``land_note``).

Channels (network, lakes, dams, detention basins), every term measured on its own:
lateral inflow - lateral dropped on lake nodes (NWM's convention) - outflow at the outlets
= change in channel storage + change in lake storage + change in reservoir storage + change in detention
storage + residual.
Channel storage is the water NWM Muskingum-Cunge carries (:func:`muskingum_cunge_storage_m3`: int K (1 - X) dQ
along the depths the solve passes through, plus dt/2 Q in transit on each link under the NWM convention), not
the prism of the depth (``depth_prism_storage_change_m3``, reported beside it: 1.4 to 2.7 times as much water,
which left a third of a rising flood's inflow unexplained); lake storage the level-pool area times the change
in water level; reservoir storage the dams' own storage. Outlet outflow is integrated by the trapezoidal rule
over the hourly outputs. The residual is what NWM Muskingum-Cunge does not conserve (its K and X follow the
depth every step, and rising from near-empty channels the secant stops at its 1 cm tolerance far below normal
depth, where K is large), plus the error of the hourly outflow integration (docs/robustness.md).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def channel_storage_m3(network, depth: NDArray, skip: NDArray[np.bool_] | None = None) -> float:
    """Water in the channels [m3]: NWM's trapezoid of bottom width ``bw``, side slope ``z`` (= 1/ChSlp) up to
    the bankfull depth ``(tw - bw) / (2 z)``, the compound channel of width ``twcc`` above it (the trapezoid
    extended when there is no floodplain), times the segment length. Lake nodes (depth NaN) hold none, nor
    the segments ``skip`` marks."""
    if network.bottom_width is None or network.top_width is None or network.side_slope is None:
        return float("nan")
    h = np.asarray(depth, np.float64)
    bw, tw = network.bottom_width.astype(np.float64), network.top_width.astype(np.float64)
    cs = network.side_slope.astype(np.float64)
    z = np.where(cs == 0.0, 1.0, 1.0 / np.where(cs == 0.0, 1.0, cs))
    twcc = (network.top_width_cc if network.top_width_cc is not None else np.zeros_like(bw)).astype(np.float64)
    bfd = np.where(bw > tw, bw / 1e-5, np.where(bw == tw, bw / (2.0 * z), (tw - bw) / (2.0 * z)))
    no_cc = twcc <= 0.0
    h_lt = np.where(no_cc, h, np.minimum(bfd, h))
    h_gt = np.where(no_cc, 0.0, np.maximum(h - bfd, 0.0))
    area = (bw + h_lt * z) * h_lt + twcc * h_gt
    volume = area * network.length.astype(np.float64)
    return float(np.nansum(volume if skip is None else volume[~skip]))


_GEOMETRY = ("length", "bottom_width", "top_width", "top_width_cc", "mannings_n", "mannings_n_cc", "side_slope", "slope")
STORAGE_CHUNK = 32768  # nodes per block of the storage integral (its arrays are PATH_POINTS times the block)


def _geometry(network, part: slice = slice(None)) -> tuple[NDArray, ...]:
    """The Muskingum-Cunge channel fields of the network's nodes ``part``, float64."""
    return tuple(np.asarray(getattr(network, k), np.float64)[part] for k in _GEOMETRY)


def _cunge(geometry: tuple, h: NDArray, q: NDArray, dt: float) -> tuple[NDArray, NDArray, NDArray]:
    """NWM Muskingum-Cunge's K [s] and X and Manning's normal flow Qn [m3 s-1] at depth h [m] with reference flow
    q (arrays [..., n] over the nodes of ``geometry``, :func:`_geometry`), float64, as in
    hydro/kernels/routing.py ``_secant_eval32``."""
    dx, bw, tw, twcc, n, ncc, cs, s0 = geometry
    z = np.where(cs == 0.0, 1.0, 1.0 / np.where(cs == 0.0, 1.0, cs))
    sqrt_1z2, sqrt_s0 = np.sqrt(1.0 + z * z), np.sqrt(s0)
    bfd = np.where(bw > tw, bw / 1e-5, np.where(bw == tw, bw / (2.0 * z), (tw - bw) / (2.0 * z)))
    no_cc = twcc <= 0.0
    wet = h > 0.0
    h_gt = np.where(no_cc, 0.0, np.maximum(h - bfd, 0.0))
    h_lt = np.where(no_cc, h, np.minimum(bfd, h))
    area, areac = (bw + h_lt * z) * h_lt, twcc * h_gt
    wp = bw + 2.0 * h_lt * sqrt_1z2
    wpc = np.where(h_gt > 0.0, twcc + 2.0 * h_gt, 0.0)
    overbank = wet & (h > bfd) & (twcc > 0.0) & (ncc > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(wet, (area + areac) / (wp + wpc), 0.0)
        r23 = r ** (2.0 / 3.0)
        ck_main = (sqrt_s0 / n) * (5.0 / 3.0 * r23 - 2.0 / 3.0 * r * r23
                                   * (2.0 * sqrt_1z2 / (bw + 2.0 * np.where(overbank, bfd, h) * z)))
        ck_over = (ck_main * area + (sqrt_s0 / np.where(ncc > 0.0, ncc, 1.0)) * 5.0 / 3.0 * h_gt ** (2.0 / 3.0)
                   * areac) / (area + areac)
        ck = np.where(wet, np.maximum(0.0, np.where(overbank, ck_over, ck_main)), 0.0)
        k = np.where(ck > 0.0, np.maximum(dt, dx / np.where(ck > 0.0, ck, 1.0)), dt)
        width = np.where(overbank, twcc, bw + 2.0 * z * h)
        x = np.where(ck > 0.0, np.clip(0.5 * (1.0 - q / (2.0 * width * s0 * ck * dx)), 0.25, 0.5), 0.5)
        n_eff = (wp * n + wpc * ncc) / (wp + wpc)
        qn = np.where(wet, (area + areac) * r23 * sqrt_s0 / n_eff, 0.0)
    return k, x, qn


def _normal_depth(geometry: tuple, q: NDArray, h_hint: NDArray) -> NDArray:
    """The depth at which Manning's normal flow is q (bisection, to 1e-12 of the depth; dt plays no part)."""
    hi = np.maximum(np.nan_to_num(h_hint), 0.01)
    for _ in range(60):  # bracket
        short = _cunge(geometry, hi, q, 300.0)[2] < q
        if not short.any():
            break
        hi = np.where(short, 2.0 * hi, hi)
    lo = np.zeros_like(hi)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        short = _cunge(geometry, mid, q, 300.0)[2] < q
        lo, hi = np.where(short, mid, lo), np.where(short, hi, mid)
    return np.where(q > 0.0, hi, 0.0)


PATH_POINTS = 128  # depth intervals along the path of the storage integral (second order; kinks at bankfull)


def _path_tables(geometry: tuple, h_top: NDArray, dt: float) -> tuple[NDArray, NDArray, NDArray]:
    """The path along which the solve takes a segment as its flow rises, over PATH_POINTS equal depth intervals
    from 0 to ``h_top`` [n]: (normal flow reached at each interval's ends [PATH_POINTS + 1, n], K (1 - X) and
    K X at each interval's mid-depth [PATH_POINTS, n]). Normal flow only counts where it exceeds all below (the
    compound channel's may fall just above bankfull, and the solve then jumps to the floodplain at the same
    flow); mid-depth weights, because K grows without bound as the depth goes to 0 (where NWM sets it to dt)."""
    edges = h_top[None, :] * np.linspace(0.0, 1.0, PATH_POINTS + 1)[:, None]
    mid = 0.5 * (edges[1:] + edges[:-1])
    reached = np.maximum.accumulate(_cunge(geometry, edges, np.zeros_like(edges), dt)[2], axis=0)
    k, x, _ = _cunge(geometry, mid, _cunge(geometry, mid, np.zeros_like(mid), dt)[2], dt)
    return reached, k * (1.0 - x), k * x


def _path_integral(h_top: NDArray, reached: NDArray, w: NDArray, h: NDArray, q: NDArray,
                   w_now: NDArray) -> NDArray:
    """int_0^q w dQ along the path of :func:`_path_tables` (built up to ``h_top`` >= h) for segments now at
    outflow q and depth h [..., n], ``w_now`` their weight at (h, q): up to q where the path passes q below h;
    else the whole path up to h and the rest of the flow at h's weight (a depth still below the normal one:
    the solve's 1 cm tolerance, rising from near empty)."""
    m, cols = w.shape[0], np.arange(w.shape[1])
    cum = np.concatenate([np.zeros((1, w.shape[1])), np.cumsum(w * np.diff(reached, axis=0), axis=0)])
    u = np.where(h_top > 0.0, h / np.where(h_top > 0.0, h_top, 1.0), 0.0) * m
    j = np.clip(np.floor(u).astype(np.int64), 0, m - 1)
    frac = np.clip(u - j, 0.0, 1.0)
    reached_h = reached[j, cols] + frac * (reached[j + 1, cols] - reached[j, cols])
    cum_h = cum[j, cols] + frac * (cum[j + 1, cols] - cum[j, cols])
    lo, hi = np.zeros_like(j), np.full_like(j, m)  # the last path point whose flow is at most q
    for _ in range(int(np.ceil(np.log2(m + 1))) + 1):
        probe = (lo + hi + 1) // 2
        up = reached[probe, cols] <= q
        lo, hi = np.where(up, probe, lo), np.where(up, hi, probe - 1)
    i = np.minimum(lo, m - 1)
    passed = cum[i, cols] + w[i, cols] * (q - reached[i, cols])
    return np.where(q >= reached_h, cum_h + w_now * (q - reached_h), passed)


def muskingum_cunge_storage_m3(network, streamflow: NDArray, depth: NDArray, dt: float, upstream: str = "previous",
                               delivers: NDArray[np.bool_] | None = None,
                               skip: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
    """The water NWM Muskingum-Cunge carries in each node [m3; n, or times x n] at one or several times: outflow
    ``streamflow`` and depth ``depth`` ([n] or [times, n]; NaN depth on lake nodes), routing step ``dt`` [s].

    Each step the scheme solves Muskingum's continuity ``S2 - S1 = dt (I1 + I2)/2 - dt (O1 + O2)/2 + ql dt``
    for ``S = K [X I + (1 - X) O]`` (that is what C1..C4 are), with Cunge's K and X at the depth it solves for
    (shared/domain/routing-nwm-mc.md). Under the NWM upstream convention (``upstream='previous'``) a segment's
    inflow over a step is its upstream segments' outflow at the step's start (I1 = I2), so its own balance is
    ``K (1 - X) (O2 - O1) = dt I1 - dt (O1 + O2)/2 + ql dt``: the water it holds grows by ``K (1 - X) dO``, and
    holding outflow O it holds ``int_0^O K (1 - X) dQ`` (K, X at the depths the solve finds: normal depth, or
    the depth now where it still lags below; :func:`_path_integral`), not K (1 - X) O (K falls as the flow
    rises) nor the depth's prism, ``int_0^O dx / Ck dQ`` (X is 0.25 to 0.5, and K is at least dt). The segment
    below receives ``dt O1`` of what left as ``dt (O1 + O2)/2``, so ``dt/2 O`` is in transit on every link where
    the outflow enters another node of the model (``delivers``, default: every node with a node below). Under
    t-route's convention (``'current'``) the inflow's wedge ``int_0^I K X dQ`` (I the summed outflow of the
    delivering upstream nodes at the same time) is added and there is no transit. What the scheme does not
    conserve: its K and X change within the path (a step takes them at its end), the solve's 1 % depth
    tolerance, NWM's clamps. Lake nodes carry only the transit (their level pool is counted apart); ``skip``
    marks nodes counted nowhere. The path is built once for all the times given (up to the deepest)."""
    if upstream not in ("previous", "current"):
        raise ValueError(f"unknown upstream-inflow convention {upstream!r}")
    q = np.atleast_2d(np.nan_to_num(np.asarray(streamflow, np.float64)))
    h = np.atleast_2d(np.asarray(depth, np.float64))
    channel = np.isfinite(h)  # lake nodes: NaN
    h = np.where(channel, np.maximum(h, 0.0), 0.0)
    delivers = network.downstream_index >= 0 if delivers is None else np.asarray(delivers, bool)
    inflow = np.zeros_like(q)
    if upstream == "current":
        for row, flow in zip(inflow, q):
            np.add.at(row, network.downstream_index[delivers], flow[delivers])
    storage = np.empty_like(q)
    for start in range(0, q.shape[1], STORAGE_CHUNK):
        part = slice(start, start + STORAGE_CHUNK)
        geometry = _geometry(network, part)
        h_in = (np.array([_normal_depth(geometry, i, d) for i, d in zip(inflow[:, part], h[:, part])])
                if upstream == "current" else np.zeros_like(h[:, part]))
        h_top = np.maximum(h[:, part].max(axis=0), h_in.max(axis=0))
        reached, w_out, w_in = _path_tables(geometry, h_top, dt)
        k, x, _ = _cunge(geometry, h[:, part], q[:, part], dt)
        storage[:, part] = [_path_integral(h_top, reached, w_out, hh, qq, ww)
                            for hh, qq, ww in zip(h[:, part], q[:, part], k * (1.0 - x))]
        if upstream == "current":
            k, x, _ = _cunge(geometry, h_in, inflow[:, part], dt)
            storage[:, part] += [_path_integral(h_top, reached, w_in, hh, qq, ww)
                                 for hh, qq, ww in zip(h_in, inflow[:, part], k * x)]
    storage = np.where(channel, storage, 0.0)
    if upstream == "previous":
        storage += np.where(delivers, 0.5 * dt * q, 0.0)
    if skip is not None:
        storage = np.where(skip, 0.0, storage)
    return storage if np.ndim(streamflow) > 1 else storage[0]


def nudging_water_m3(network, nudgings, dt: float, upstream: str = "previous",
                     delivers: NDArray[np.bool_] | None = None, skip: NDArray[np.bool_] | None = None,
                     final_step: int | None = None) -> float:
    """The water the ``nudgings`` (hydro.routing.nudging.Nudging, as the run made them) put into the channels [m3],
    measured as the balance measures channel storage: at every application, at every gauged segment, the change
    of :func:`muskingum_cunge_storage_m3` (the same network, step, convention, ``delivers`` and ``skip``) from
    the outflow before the correction to the outflow after it, at the depth the correction leaves in place
    (where that depth lies below the corrected flow's normal depth, rising from near-empty channels, at the
    normal depth, where the next step solves; a correction at ``final_step``, the run's last step, at the
    depth left, as the balance measures the end state).

    A correction d to an outflow moves what Muskingum-Cunge carries there by about (K (1 - X) + dt/2) d, not
    d dt, and it is made again at every step against a model that relaxes back: the sum of the corrections
    times the step is not the water they add (on the Lower Colorado forecast -7.2e5 m3 where the storage they
    moved is -1.1e7). Counted this way, the routing steps between corrections are ordinary Muskingum-Cunge
    steps, so the residual of a nudged run is the scheme's own, as without nudging (tests/physics/
    test_nudging_balance.py). Under t-route's convention (``'current'``) the segment below also holds the
    inflow's wedge, which the correction changes: the sum of the outflows into it is recorded by the model
    (``Nudging.inflow_below``) and its wedge evaluated before and after too."""
    from ..core.ids import lookup

    total = 0.0
    delivers = network.downstream_index >= 0 if delivers is None else np.asarray(delivers, bool)
    for nudging in nudgings:
        if not nudging.corrections:
            continue
        pos, found = lookup(network.feature_id, nudging.gauge_ids)
        if not found.all():
            raise ValueError(f"{int((~found).sum())} nudged segment(s) are not in the network of the balance")
        before, after, depth = (np.array([c[k] for c in nudging.corrections], np.float64) for k in range(3))
        if np.isnan(depth[:, ~network.is_lake[pos]]).any():
            raise ValueError("a nudging applied without the model's depth cannot be measured (Nudging.__call__ depth)")
        depth = np.where(network.is_lake[pos], np.nan, depth)  # a lake node: its level pool is counted apart
        n = before.shape[0]
        part = network.take(pos)
        # after the correction: at the depth kept, unless it lies below the corrected flow's normal depth (rising
        # from near-empty channels): the next step solves near that depth and takes K and X there, so the water
        # it carries is the path's up to the corrected flow. A correction at the run's last step is measured as
        # the end state is (kept depth), so the books close by construction.
        normal = _normal_depth(_geometry(part), after, np.nan_to_num(depth))
        depth_after = np.where(np.isfinite(depth), np.maximum(depth, normal), depth)
        if final_step is not None:
            last = np.asarray(nudging.correction_steps) == final_step
            depth_after[last] = depth[last]
        stored = muskingum_cunge_storage_m3(part, np.vstack([before, after]), np.vstack([depth, depth_after]), dt,
                                            "previous", delivers[pos], None if skip is None else skip[pos])
        if upstream == "current":  # no transit; the own outflow's part as above, and the wedge below
            stored -= np.where(delivers[pos], 0.5 * dt * np.vstack([before, after]), 0.0)
        total += float(stored[n:].sum() - stored[:n].sum())
        if upstream == "current" and getattr(nudging, "inflow_below", None):
            total += _wedge_change_m3(network, nudging, dt, skip)
    return total


def _wedge_change_m3(network, nudging, dt: float, skip) -> float:
    """Under t-route's convention, the change of the inflow wedge int_0^I K X dQ of the segments below the gauges
    (I their summed inflow before and after each correction, ``Nudging.inflow_below``), at I's normal depth."""
    from ..core.ids import lookup

    below_ids = nudging.below_ids
    keep = below_ids > 0
    pos, found = lookup(network.feature_id, below_ids[keep])
    pos = pos[found]
    inflow = [np.array([c[k] for c in nudging.inflow_below], np.float64)[:, keep][:, found] for k in range(2)]
    if not pos.size:
        return 0.0
    channel = ~network.is_lake[pos] & (np.ones(pos.size, bool) if skip is None else ~skip[pos])
    geometry = _geometry(network, pos)
    both = np.vstack(inflow)  # [2 applications, segments below]: before, then after
    h_in = _normal_depth(geometry, both, np.zeros_like(both))
    reached, _, w_in = _path_tables(geometry, h_in.max(axis=0), dt)
    k, x, _ = _cunge(geometry, h_in, both, dt)
    wedge = np.array([_path_integral(h_in.max(axis=0), reached, w_in, hh, qq, ww)
                      for hh, qq, ww in zip(h_in, both, k * x)])
    n = inflow[0].shape[0]
    return float(np.sum(np.where(channel, wedge[n:] - wedge[:n], 0.0)))


def _lake_storage_m3(routing, elevation: NDArray) -> float:
    """Level-pool lakes: area [km2] x water level [m] (NWM's level pool has a constant area)."""
    if routing.lakes is None or not np.size(elevation):
        return 0.0
    lakes = routing.lakes.select(routing.network.feature_id[routing.lake_position])
    return float(np.sum(lakes.area_km2.astype(np.float64) * 1e6 * np.asarray(elevation, np.float64)))


def _dam_storage_m3(routing, dams: dict) -> float:
    """The dams' storage; a start without one (a cold start) from its level on the level-storage table."""
    total = 0.0
    for dam in routing.dams:
        start = dams[dam.id]
        if start.storage is not None:
            total += float(start.storage)
        else:
            curves = dam.curves()
            total += float(np.interp(start.level, curves.level_m, curves.storage_m3))
    return total


def water_balance(basin, start, end, rain_mm: NDArray, advanced) -> dict:
    """The land and channel balances [m3] of ``advanced`` (:class:`hydro.basin.Advanced`), the run of
    ``rain_mm`` [steps of 10 min, ny, nx] (mm per step) from ``start`` to ``end`` (:class:`BasinState`).
    ``residual_percent_of_inflow``: the channel residual as a share of the lateral inflow."""
    from ..basin import RAIN_STEP_MIN

    run = advanced.run
    step_s = RAIN_STEP_MIN * 60.0
    network, routing = basin.network, basin.routing
    out: dict = {}
    if basin.model is not None and basin.mapping is not None:
        weight = np.zeros(basin.mapping.n_cells)  # m3 per mm, per cell (its area that drains to a segment)
        np.add.at(weight, basin.mapping.cell, basin.mapping.area_m2 / 1000.0)
        rain = float(np.asarray(rain_mm, np.float64).reshape(rain_mm.shape[0], -1).sum(axis=0) @ weight)
        soil = [float(basin.model.storage(basin.table, s.runoff) @ weight) for s in (start, end)]
        hill = [0.0 if s.hillslope is None else float(np.sum(s.hillslope, dtype=np.float64)) for s in (start, end)]
        delivered = float(advanced.lateral.sum(dtype=np.float64) * step_s)
        out["land"] = {
            "rain_m3": rain, "soil_storage_change_m3": soil[1] - soil[0],
            "hillslope_storage_change_m3": hill[1] - hill[0], "lateral_inflow_m3": delivered,
            "evaporation_m3": rain - (soil[1] - soil[0]) - (hill[1] - hill[0]) - delivered,
            "land_note": "evaporation closes the land balance (the runoff kernel conserves water; its "
                         "evaporation is not carried out of basin.lateral_inflow)"}
    lateral = np.asarray(advanced.lateral, np.float64)
    inflow = float(lateral.sum() * step_s)
    dropped = float(lateral[:, network.is_lake].sum() * step_s) if network.is_lake.any() else 0.0
    outlets = np.flatnonzero(network.to == 0)
    hours = run.flow.shape[0]
    # what leaves: at a dam on an outlet its release, below a detention inlet the flow it lets pass
    # (run.flow holds a dam's inflow and the flow before the basin takes its share)
    first = np.asarray(start.routing.streamflow, np.float64).copy()
    for rid, j in run.dam_position.items():
        if start.dams.get(rid) is not None and start.dams[rid].release is not None:
            first[j] = start.dams[rid].release
    outlet_q = np.vstack([first[outlets][None, :], run.streamflow()[:, outlets].astype(np.float64)])
    outflow = float(np.trapezoid(outlet_q.sum(axis=1), dx=3600.0)) if hours else 0.0
    # main stems the network ran in place hold their water in the hydraulics (their segments' Muskingum-Cunge
    # routing delivers nothing downstream): their storage change replaces those segments'
    in_place = list(getattr(run, "main_stems", None) or {})
    skip = np.isin(network.feature_id, np.concatenate([run.main_stems[i].feature_id for i in in_place])) if in_place else None
    # what Muskingum-Cunge carries (muskingum_cunge_storage_m3); a dam's segment delivers its outflow to the dam
    upstream = getattr(next(iter(getattr(routing, "models", {}).values()), None), "upstream", "previous")
    delivers = (network.downstream_index >= 0) & ~np.asarray(getattr(routing, "dam_node", np.zeros(network.size, bool)))
    carried = muskingum_cunge_storage_m3(network, [start.routing.streamflow, end.routing.streamflow],
                                         [start.routing.depth, end.routing.depth], run.dt, upstream, delivers, skip)
    channel = float(carried[1].sum() - carried[0].sum())
    prism = channel_storage_m3(network, end.routing.depth, skip) - channel_storage_m3(network, start.routing.depth, skip)
    balances = {id(run.main_stems[i].hydraulics.mass_balance): run.main_stems[i].hydraulics.mass_balance for i in in_place}
    stems = sum(float(b["storage_change_m3"]) for b in balances.values())  # joined main stems share one
    if in_place and upstream == "previous":
        # the water in transit at a main stem's outlet: the segment below takes, each routing step, the outflow of
        # the step before, while the hydraulics count theirs as it leaves, so dt/2 x (Q_end - Q_start) has left the
        # hydraulics and not yet entered the network (the hand-over term the skipped segment's Muskingum-Cunge
        # storage would have held); Q_start from the hydraulic state the run started from, Q_end its last outflow
        states = getattr(start.routing, "main_stems", None) or {}
        for o in getattr(routing, "stem_outlets", ()):
            if all(i in in_place for i in o.ids) and o.runs_with(states) and delivers[o.position]:
                q_end = float(run.main_stems[o.outlet.id].outflow[-1])
                stems += 0.5 * run.dt * (q_end - o.start_outflow(states))
    channel, prism = channel + stems, prism + stems
    lake = _lake_storage_m3(routing, end.routing.water_sfc_elev) - _lake_storage_m3(routing, start.routing.water_sfc_elev)
    dams = _dam_storage_m3(routing, end.dams) - _dam_storage_m3(routing, start.dams)
    detention = 0.0
    if run.detention is not None:
        detention = float(sum(v[-1] - v[0] for v in run.detention.storage.values()))
    # the water the run's nudging put in, on the same storage measure (nudging_water_m3): an inflow of the balance
    nudgings = getattr(run, "nudgings", None) or []
    final_step = int(round(hours * 3600.0 / run.dt))
    nudged = nudging_water_m3(network, nudgings, run.dt, upstream, delivers, skip, final_step) if nudgings else 0.0
    residual = inflow + nudged - dropped - outflow - channel - lake - dams - detention
    out["channels"] = {
        "lateral_inflow_m3": inflow, "lateral_dropped_on_lakes_m3": dropped, "outlet_outflow_m3": outflow,
        "channel_storage_change_m3": channel, "depth_prism_storage_change_m3": prism, "lake_storage_change_m3": lake,
        "reservoir_storage_change_m3": dams, "detention_storage_change_m3": detention, "residual_m3": residual,
        "residual_percent_of_inflow": 100.0 * residual / inflow if inflow > 0 else 0.0,
        "outlets": int(outlets.size)}
    if nudgings:
        out["channels"]["nudging_added_m3"] = nudged
    return out


def balance_attributes(balance: dict, prefix: str = "water_balance_") -> dict[str, float]:
    """The balance as flat NetCDF global attributes (``water_balance_channels_residual_m3``, ...)."""
    return {f"{prefix}{part}_{k}": round(float(v), 3) for part, terms in balance.items() for k, v in terms.items()
            if isinstance(v, (int, float))}


def route_water_balance(network, lakes, qlat: NDArray, interval_s: float, duration_s: float, times_s: NDArray,
                        streamflow: NDArray, depth: NDArray, elevation: NDArray, lake_id: NDArray,
                        initial: tuple | None, dt: float = 300.0, upstream: str = "previous",
                        nudging=None) -> tuple[dict, NDArray, NDArray]:
    """The balance of a ``hydro route`` run [m3] and its storage series: (balance, channel storage [n_out],
    lake storage [n_out]). ``qlat`` [intervals, n] m3 s-1 held over ``interval_s``; ``streamflow``, ``depth``
    [n_out, n] and lake ``elevation`` [n_out, lakes] at ``times_s`` (seconds after the start) in network order;
    ``initial`` the (streamflow, depth, lake elevation) it started from (None: cold, empty channels); ``dt`` and
    ``upstream`` the routing step [s] and upstream convention; ``nudging`` (hydro.routing.nudging.Nudging) the run's
    nudging, whose water (:func:`nudging_water_m3`) is an inflow of the balance (``nudging_added_m3``). Channel
    storage: what Muskingum-Cunge carries (:func:`muskingum_cunge_storage_m3`); the depth prism's change is
    reported beside it."""
    steps = int(round(duration_s / interval_s))
    lateral = np.asarray(qlat[:steps], np.float64)
    inflow = float(lateral[:, ~network.is_lake].sum() * interval_s)  # lake nodes' lateral: dropped (NWM)
    outlets = np.flatnonzero(network.to == 0)
    q0 = np.zeros(network.size) if initial is None else np.asarray(initial[0], np.float64)
    series = np.concatenate([[q0[outlets].sum()], np.asarray(streamflow, np.float64)[:, outlets].sum(axis=1)])
    outflow = float(np.trapezoid(series, np.concatenate([[0.0], times_s])))
    q_all, d_all = np.asarray(streamflow, np.float64), np.asarray(depth, np.float64)
    if initial is not None:
        q_all = np.vstack([np.asarray(initial[0], np.float64)[None, :], q_all])
        d_all = np.vstack([np.asarray(initial[1], np.float64)[None, :], d_all])
    carried = muskingum_cunge_storage_m3(network, q_all, d_all, dt, upstream).sum(axis=1)
    channel0, channel = (0.0, carried) if initial is None else (float(carried[0]), carried[1:])
    prism = channel_storage_m3(network, depth[-1]) - (0.0 if initial is None else channel_storage_m3(network, initial[1]))
    area = (np.zeros(0) if lakes is None or not np.size(lake_id)
            else lakes.select(np.asarray(lake_id)).area_km2.astype(np.float64) * 1e6)
    lake = np.asarray(elevation, np.float64) @ area if area.size else np.zeros(len(depth))
    lake0 = (float(np.asarray(initial[2], np.float64) @ area) if initial is not None and initial[2] is not None
             and area.size else (float(lakes.select(np.asarray(lake_id)).initial_elevation().astype(np.float64) @ area)
                                 if area.size else 0.0))
    nudged = (nudging_water_m3(network, [nudging], dt, upstream, final_step=int(round(duration_s / dt)))
              if nudging is not None else 0.0)
    residual = inflow + nudged - outflow - (channel[-1] - channel0) - (lake[-1] - lake0)
    balance = {"lateral_inflow_m3": inflow, "outlet_outflow_m3": outflow,
               "channel_storage_change_m3": float(channel[-1] - channel0), "depth_prism_storage_change_m3": prism,
               "lake_storage_change_m3": float(lake[-1] - lake0), "residual_m3": residual,
               "residual_percent_of_inflow": 100.0 * residual / inflow if inflow > 0 else 0.0}
    if nudging is not None:
        balance["nudging_added_m3"] = nudged
    return balance, channel, lake
