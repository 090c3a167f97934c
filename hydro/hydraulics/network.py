"""Dendritic networks of main stems: reaches joined at junctions, solved together (Saint-Venant, Preissmann).

A network is a set of reaches (each a :class:`Reach`: surveyed sections, chainage increasing downstream)
and junctions: reach ``reach`` ends into reach ``joins`` at chainage ``chainage`` of ``joins`` (from its
first section up to, not including, its last). Exactly one reach joins nothing: the outlet, which takes the
downstream condition. A reach that no other reach joins at its first section is a source and takes an
upstream discharge hydrograph; a reach joined at its first section (a confluence at its head, or reaches
in series) takes none.

For the solver each reach is cut at its junctions into branches (a node is forced at each junction
chainage; the receiving reach's node there belongs to the branch above and to the branch below, as two
nodes at the same chainage). A junction joins the ends of the branches meeting there by

* equal water levels (the usual junction condition of SOBEK, MIKE 11 and HEC-RAS's default: velocity heads
  and junction losses are neglected), and
* mass conservation: the discharges arriving sum to the discharge leaving (a junction stores nothing).

Every step all branches and junctions are solved together by the Newton iteration of the Preissmann
scheme (kernel ``preissmann_network``): backwater from the receiving reach reaches the tributary within
the step. The steady profile (the initial state and ``hydro hydraulics steady``) is the standard step
per branch from the outlet upwards: each tributary starts from the level its junction got.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError, NumericalError
from ..kernels.saint_venant import (BREAK, CHANNEL, DRY_BELOW_SLOT, NO_CONVERGENCE, N_PROPERTIES, SINGULAR,
                                    critical_stage, junction_head, lookup, mixed_regime, preissmann_network, standard_step, storage_volume)
from .boundaries import Downstream, Lateral, TimeSeries
from .sections import JOIN_SNAP, CrossSection, Reach, Structure
from .steady import G
from .unsteady import HydraulicState, SolverOptions, run_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Junction:
    """Reach ``reach`` ends into reach ``joins`` at ``chainage`` [m] of ``joins`` (row ``row`` of ``source``)."""

    reach: str
    joins: str
    chainage: float
    source: str = ""
    row: int = 0

    @property
    def where(self) -> str:
        return f"{self.source}: row {self.row}" if self.row else f"{self.source or 'junctions'}: junction {self.reach!r}"


@dataclass
class Branch:
    reach: str
    first: int  # node of the reach (local index)
    last: int
    start: int  # first node in the network's concatenated arrays
    up: int  # junction above, -1: an upstream boundary
    down: int  # junction below, -1: the outlet
    source: int = -1  # column of the upstream inflows (upstream boundaries only)

    @property
    def end(self) -> int:
        return self.start + self.last - self.first


class ReachNetwork:
    """Reaches joined at junctions (module docstring), checked, cut into branches and concatenated into the
    kernel's arrays."""

    def __init__(self, sections: dict[str, list[CrossSection]], junctions: list[Junction],
                 max_dx: float | dict[str, float] = 250.0, table_dz: float = 0.02,
                 structures: dict[str, list[Structure]] | None = None, source: str = "",
                 junction_condition: str = "level"):
        if junction_condition not in ("level", "energy"):
            raise ConfigError(f"junction condition {junction_condition!r}: use level (equal water levels) or energy "
                              "(equal energy heads)")
        self.junction_condition = junction_condition
        if not sections:
            raise InputDataError(f"{source or 'sections'}: no reach")
        self.ids = list(sections)
        self.junctions = list(junctions)
        self.source = source
        structures = structures or {}
        for rid in structures:
            if rid not in sections:
                st = structures[rid][0]
                raise InputDataError(f"{st.source}: structure {st.name!r} is on reach {rid!r}, which is not in the "
                                     f"sections file (reaches: {', '.join(self.ids)})")
        joins: dict[str, Junction] = {}
        for j in self.junctions:
            for label, rid in (("reach", j.reach), ("joins", j.joins)):
                if rid not in sections:
                    raise InputDataError(f"{j.where}: {label} {rid!r} is not a reach of the sections file {source} "
                                         f"(reaches: {', '.join(self.ids)})")
            if j.reach == j.joins:
                raise InputDataError(f"{j.where}: reach {j.reach!r} joins itself; a reach ends into another reach")
            if j.reach in joins:
                raise InputDataError(f"{j.where}: reach {j.reach!r} already joins {joins[j.reach].joins!r} "
                                     f"({joins[j.reach].where}); a reach ends into one place")
            joins[j.reach] = j
        for j in self.junctions:  # follow each chain down: it must end at the outlet, not come back
            seen = [j.reach]
            nxt = joins.get(j.joins)
            while nxt is not None:
                if nxt.reach in seen:
                    raise InputDataError(f"{j.where}: reaches {' -> '.join(seen + [nxt.reach])} form a loop; a network of "
                                         "main stems is a tree draining to one outlet")
                seen.append(nxt.reach)
                nxt = joins.get(nxt.joins)
        outlets = [r for r in self.ids if r not in joins]
        if len(outlets) != 1:
            raise InputDataError(f"{self.junctions[0].source if self.junctions else source}: reaches "
                                 f"{', '.join(repr(r) for r in outlets)} join no other reach; exactly one (the outlet) may: "
                                 "give a junction row (reach,joins,chainage_m) for the others")
        self.outlet = outlets[0]
        self.joins = joins
        extra: dict[str, list[float]] = {r: [] for r in self.ids}
        for j in self.junctions:
            secs = sections[j.joins]
            lo, hi = secs[0].chainage, secs[-1].chainage
            if not (lo - JOIN_SNAP <= j.chainage < hi - JOIN_SNAP) or not np.isfinite(j.chainage):
                raise InputDataError(f"{j.where}: chainage_m {j.chainage:g} is outside reach {j.joins!r} ({lo:g} .. "
                                     f"{hi:g} m, its last section excluded); give the chainage where {j.reach!r} "
                                     f"enters {j.joins!r}")
            extra[j.joins].append(j.chainage)
        spacing = max_dx if isinstance(max_dx, dict) else dict.fromkeys(self.ids, max_dx)
        self.reaches = {r: Reach(list(sections[r]), max_dx=spacing[r], table_dz=table_dz,
                                 structures=list(structures.get(r, [])), extra_nodes=tuple(extra[r])) for r in self.ids}
        self.table_dz = table_dz
        self._cut()

    # -- topology -------------------------------------------------------------------------------------------
    def _cut(self) -> None:
        """Branches, junctions and the concatenated arrays."""
        join_node: dict[str, int] = {}
        at: dict[tuple[str, int], list[str]] = {}
        for j in self.junctions:
            reach = self.reaches[j.joins]
            k = int(np.argmin(np.abs(reach.chainage - j.chainage)))
            if abs(reach.chainage[k] - j.chainage) > JOIN_SNAP:  # Reach placed a node there; a guard only
                raise InputDataError(f"{j.where}: no node at chainage {j.chainage:g} m of {j.joins!r}")
            beside = [m for m in (k - 1, k) if 0 <= m < reach.size - 1]
            if any(reach.reach_kind[m] != CHANNEL for m in beside):
                raise InputDataError(f"{j.where}: chainage_m {j.chainage:g} is at a structure of reach {j.joins!r}; "
                                     "move the junction off the structure")
            join_node[j.reach] = k
            at.setdefault((j.joins, k), []).append(j.reach)
        keys = sorted(at, key=lambda key: (self.ids.index(key[0]), key[1]))
        jindex = {key: n for n, key in enumerate(keys)}
        branches: list[Branch] = []
        start = 0
        sources = 0
        for rid in self.ids:
            reach = self.reaches[rid]
            cuts = sorted({0, reach.size - 1} | {k for (r, k) in at if r == rid})
            for a, b in zip(cuts[:-1], cuts[1:], strict=True):
                up = jindex.get((rid, a), -1)
                if b < reach.size - 1:
                    down = jindex[(rid, b)]
                elif rid == self.outlet:
                    down = -1
                else:
                    down = jindex[(self.joins[rid].joins, join_node[rid])]
                br = Branch(rid, a, b, start, up, down)
                if up < 0:
                    br.source = sources
                    sources += 1
                branches.append(br)
                start += b - a + 1
        self.branches = branches
        self.junction_keys = keys
        self.junction_reaches = [at[k] for k in keys]  # the tributaries entering each junction
        self.sources = [br.reach for br in branches if br.up < 0]
        self.n_nodes = start
        ref = np.zeros(len(keys), np.int64)
        for br in branches:
            if br.up >= 0:
                ref[br.up] = br.start
        self.jn_ref = ref
        self.br_start = np.array([b.start for b in branches], np.int64)
        self.br_end = np.array([b.end for b in branches], np.int64)
        self.br_up = np.array([b.up for b in branches], np.int64)
        self.br_down = np.array([b.down for b in branches], np.int64)
        self.br_source = np.array([b.source for b in branches], np.int64)
        n = self.n_nodes
        levels = max(int(r.table.shape[1]) for r in self.reaches.values())
        self.table = np.zeros((n, levels, N_PROPERTIES))
        self.z0, self.nlev = np.zeros(n), np.zeros(n, np.int64)
        self.chainage, self.thalweg, self.top = np.zeros(n), np.zeros(n), np.zeros(n)
        self.surveyed = np.full(n, -1, np.int64)
        self.node_reach = np.empty(n, object)
        self.node_local = np.zeros(n, np.int64)
        self.dx = np.zeros(n - 1)
        self.reach_kind = np.full(n - 1, BREAK, np.int64)
        self.reach_crest, self.reach_cw = np.zeros(n - 1), np.zeros(n - 1)
        self.reach_gate = np.full(n - 1, -1, np.int64)
        self.reach_level = np.zeros(n - 1)
        self.gates: list[Structure] = []
        gate_offset = {}
        for rid in self.ids:
            gate_offset[rid] = len(self.gates)
            self.gates += [s for s in self.reaches[rid].structures if s.kind == "gate"]
        for br in branches:
            r = self.reaches[br.reach]
            nodes = slice(br.start, br.end + 1)
            local = slice(br.first, br.last + 1)
            self.table[nodes, : r.table.shape[1]] = r.table[local]
            for name in ("z0", "nlev", "chainage", "thalweg", "top", "surveyed"):
                getattr(self, name)[nodes] = getattr(r, name)[local]
            self.node_reach[nodes] = br.reach
            self.node_local[nodes] = np.arange(br.first, br.last + 1)
            links, llocal = slice(br.start, br.end), slice(br.first, br.last)
            self.dx[links] = r.dx[llocal]
            self.reach_kind[links] = r.reach_kind[llocal]
            self.reach_crest[links] = r.reach_crest[llocal]
            self.reach_cw[links] = r.reach_cw[llocal]
            self.reach_level[links] = r.reach_level[llocal]
            self.reach_gate[links] = np.where(r.reach_gate[llocal] >= 0, r.reach_gate[llocal] + gate_offset[br.reach], -1)

    @property
    def size(self) -> int:
        return self.n_nodes

    def where(self, i: int) -> str:
        """Reach and node of concatenated node ``i``, for messages."""
        return f"reach {self.node_reach[i]!r} {self.reaches[self.node_reach[i]].where(int(self.node_local[i]))}"

    def section_names(self) -> NDArray:
        return np.array([self.reaches[r].node_name(int(k)) for r, k in zip(self.node_reach, self.node_local, strict=True)])

    def properties(self, z: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """Tabulated area and top width at water level ``z`` per node (as the kernels see them)."""
        out = np.array([lookup(self.table, self.z0, self.nlev, self.table_dz, i, float(z[i])) for i in range(self.size)])
        return {"area": out[:, 0], "top_width": out[:, 1], "conveyance": out[:, 2]}

    def storage(self, z: NDArray[np.float64]) -> float:
        return float(storage_volume(self.table, self.z0, self.nlev, self.table_dz, self.dx, z, self.reach_kind))

    def lateral_links(self, lateral: dict[str, Lateral], start: np.datetime64,
                      end: np.datetime64) -> tuple[NDArray, NDArray]:
        """Lateral inflows of every reach on the links of the concatenated arrays: (times [s from start],
        (times, links) [m3 s-1]), on the union of the files' times (linear in between, as each file)."""
        for rid, lat in lateral.items():
            if rid not in self.reaches:
                raise InputDataError(f"{lat.source}: lateral inflow on reach {rid!r}, which is not in the sections file "
                                     f"(reaches: {', '.join(self.ids)})")
            if lat.time[0] > start or lat.time[-1] < end:
                raise InputDataError(f"{lat.source}: lateral inflow of reach {rid!r} ({_iso(lat.time[0])} .. "
                                     f"{_iso(lat.time[-1])}) does not cover the run ({_iso(start)} .. {_iso(end)})")
        if not lateral:
            return np.zeros(0), np.zeros((0, self.size - 1))
        times = np.unique(np.concatenate([lat.time for lat in lateral.values()]))
        sec = (times - start) / np.timedelta64(1, "s")
        out = np.zeros((times.size, self.size - 1))
        for rid, lat in lateral.items():
            per_reach = lat.reach_matrix(self.reaches[rid])
            own = (lat.time - start) / np.timedelta64(1, "s")
            on_times = np.column_stack([np.interp(sec, own, per_reach[:, j]) for j in range(per_reach.shape[1])])
            for br in self.branches:
                if br.reach == rid:
                    out[:, br.start:br.end] += on_times[:, br.first:br.last]
        return sec, out

    # -- steady profile -------------------------------------------------------------------------------------
    def steady_discharge(self, inflow: dict[str, float], link_lateral: NDArray | None = None) -> NDArray[np.float64]:
        """Steady discharge per node [m3 s-1]: upstream inflows, plus lateral inflow below where it enters,
        summed at the junctions."""
        missing = [r for r in self.sources if r not in inflow]
        if missing:
            raise InputDataError(f"reach {missing[0]!r} starts at an upstream boundary and has no inflow; give one "
                                 f"for every source reach ({', '.join(self.sources)})")
        lat = np.zeros(self.size - 1) if link_lateral is None else link_lateral
        q = np.full(self.size, np.nan)
        arrived = np.zeros(len(self.junction_keys))
        pending = list(self.branches)
        waiting = {jn: sum(1 for b in self.branches if b.down == jn) for jn in range(len(self.junction_keys))}
        while pending:
            for br in list(pending):
                if br.up >= 0 and waiting[br.up]:
                    continue
                q0 = float(inflow[br.reach]) if br.up < 0 else arrived[br.up]
                q[br.start:br.end + 1] = q0 + np.concatenate([[0.0], np.cumsum(lat[br.start:br.end])])
                if br.down >= 0:
                    arrived[br.down] += q[br.end]
                    waiting[br.down] -= 1
                pending.remove(br)
        return q

    def steady_profile(self, q: NDArray[np.float64], downstream: Downstream, when: np.datetime64 | None = None,
                       regime: str = "mixed") -> tuple[NDArray[np.float64], int, int]:
        """Standard-step water levels per node for discharges ``q`` (``steady_discharge``): the outlet's branch
        from the downstream condition, then every branch from the level of the junction below it. Returns
        (levels, nodes at critical depth, supercritical nodes)."""
        if regime not in ("subcritical", "mixed"):
            raise InputDataError(f"network steady profile: regime {regime!r}; a network takes subcritical or mixed")
        if not (q > 0).all():
            k = int(np.flatnonzero(~(q > 0))[0])
            raise InputDataError(f"steady profile for a discharge of {q[k]:g} m3/s at {self.where(k)}: a profile needs "
                                 "Q > 0 everywhere (a run starts from the steady profile of its first inflows: give a "
                                 "base flow)")
        z = np.full(self.size, np.nan)
        when = when if when is not None else np.datetime64("NaT")
        done: set[int] = set()
        n_critical = n_super = 0
        while len(done) < len(self.branches):
            for b, br in enumerate(self.branches):
                if b in done:
                    continue
                if br.down < 0:
                    boundary = downstream.steady_level(self.reaches[self.outlet], float(q[br.end]), when)
                else:
                    ref = int(self.jn_ref[br.down])
                    if np.isnan(z[ref]):
                        continue
                    boundary = self._junction_level(br.end, float(q[br.end]), ref, float(z[ref]), float(q[ref]))
                nodes, links = slice(br.start, br.end + 1), slice(br.start, br.end)
                args = (np.ascontiguousarray(self.table[nodes]), self.z0[nodes].copy(), self.nlev[nodes].copy(),
                        self.table_dz, self.dx[links].copy(), q[nodes].copy(), self.thalweg[nodes].copy())
                zb = np.empty(br.end - br.start + 1)
                critical = np.zeros(zb.size, np.int64)
                n_critical += standard_step(*args, boundary, False, G, zb, self.reach_kind[links].copy(),
                                            self.reach_crest[links].copy(), self.reach_cw[links].copy(),
                                            self.reach_level[links].copy(), critical)
                if regime == "mixed" and critical.any():
                    z_sub = zb.copy()
                    n_super += mixed_regime(*args, G, self.reach_kind[links].copy(), z_sub, critical, zb)
                z[nodes] = zb
                done.add(b)
        return z, n_critical, n_super

    def _junction_level(self, node: int, q: float, ref: int, z_ref: float, q_ref: float) -> float:
        """Level at branch end ``node`` carrying ``q`` that meets the junction condition with its reference node
        (level: the same level; energy: the same energy head, on the subcritical side)."""
        if self.junction_condition == "level":
            return z_ref
        args = (self.table, self.z0, self.nlev, self.table_dz)
        head = junction_head(*args, ref, z_ref, q_ref, G, True)[0]
        lo = max(critical_stage(*args, node, q, G), self.z0[node])
        if junction_head(*args, node, lo, q, G, True)[0] >= head:
            return lo  # no subcritical level carries that head: critical depth (as the standard step does)
        hi = max(head, lo) + 1.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if junction_head(*args, node, mid, q, G, True)[0] < head:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-10:
                break
        return 0.5 * (lo + hi)

    def check_contained(self, z: NDArray[np.float64], what: str) -> None:
        over = np.flatnonzero((z > self.top + 1e-9) & (self.surveyed >= 0))
        if over.size:
            i = int(over[0])
            r = self.reaches[self.node_reach[i]]
            s = r.sections[int(self.surveyed[i])]
            raise InputDataError(f"{s.source}: reach {self.node_reach[i]!r} section {s.name!r} (chainage {s.chainage:g} "
                                 f"m): {what} water level {z[i]:.3f} m is above the section's lower end ({s.top:.3f} m); "
                                 "the section does not contain the flow: extend it to higher ground")


@dataclass
class NetworkResult:
    """A network run on the concatenated nodes (a receiving reach's node at a junction appears twice: the
    branch above's last node and the branch below's first)."""

    time: NDArray[np.datetime64]
    reach: NDArray  # (node,) reach id
    chainage: NDArray[np.float64]
    thalweg: NDArray[np.float64]
    surveyed: NDArray[np.int64]
    section: NDArray  # (node,) surveyed section name or ""
    discharge: NDArray[np.float64]  # (time, node)
    water_level: NDArray[np.float64]
    depth: NDArray[np.float64]
    mass_balance: dict[str, float] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)
    above_top_nodes: int = 0
    final_state: HydraulicState | None = None


class NetworkSaintVenant:
    """Preissmann solver on a :class:`ReachNetwork`, every reach and junction in one Newton system per step."""

    def __init__(self, network: ReachNetwork, options: SolverOptions | None = None) -> None:
        self.network = network
        self.options = options or SolverOptions()
        self.last_kernel_seconds = 0.0

    def run(self, upstream: dict[str, TimeSeries], downstream: Downstream, lateral: dict[str, Lateral] | None = None,
            hours: float | None = None, initial_state: HydraulicState | None = None) -> NetworkResult:
        """From the network's steady profile of the first flows, or from ``initial_state`` at its time."""
        net, opt = self.network, self.options
        lateral = lateral or {}
        for rid, series in upstream.items():
            if rid not in net.reaches:
                raise InputDataError(f"{series.source}: upstream inflow for reach {rid!r}, which is not in the sections "
                                     f"file (reaches: {', '.join(net.ids)})")
            if rid not in net.sources:
                raise InputDataError(f"{series.source}: reach {rid!r} is joined at its first section by "
                                     f"{', '.join(_joined_at_head(net, rid))}; it takes no upstream inflow: drop the file")
        missing = [r for r in net.sources if r not in upstream]
        if missing:
            raise InputDataError(f"reach {missing[0]!r} has no upstream inflow: every reach not joined at its first "
                                 f"section ({', '.join(net.sources)}) needs one (--upstream {missing[0]}=FILE.csv)")
        series = [upstream[r] for r in net.sources]
        first = max(series, key=lambda s: s.time[0])  # the latest start and the earliest end bound the run
        if initial_state is None and any(s.time[0] != first.time[0] for s in series):
            early = min(series, key=lambda s: s.time[0])
            raise InputDataError(f"{early.source}: the inflow series start at different times ({_iso(early.time[0])} "
                                 f"and {_iso(first.time[0])}); give every upstream inflow the same start")
        shortest = min(series, key=lambda s: s.time[-1])
        window = TimeSeries(np.array([first.time[0], shortest.time[-1]]), np.zeros(2),
                            f"{first.source} and {shortest.source}" if first is not shortest else first.source)
        start, n_out, n_steps = run_window(window, opt, hours, initial_state)
        out_every = n_steps // n_out
        end = start + np.timedelta64(int(round(n_steps * opt.dt * 1e9)), "ns")
        stage = downstream.series
        if stage is not None and (stage.time[0] > start or stage.time[-1] < end):
            raise InputDataError(f"{stage.source}: the stage series ({_iso(stage.time[0])} .. {_iso(stage.time[-1])}) "
                                 f"does not cover the run ({_iso(start)} .. {_iso(end)})")
        lat_t, lat_q = net.lateral_links(lateral, start, end)
        if initial_state is None:
            lat0 = np.array([np.interp(0.0, lat_t, lat_q[:, j]) for j in range(lat_q.shape[1])]) if lat_t.size else None
            q = net.steady_discharge({r: float(s.values[0]) for r, s in upstream.items()}, lat0)
            z, n_critical, _ = net.steady_profile(q, downstream, start, "mixed")
            net.check_contained(z, "the initial (steady) profile's")
            z_prev, q_prev = z.copy(), q.copy()
        else:
            initial_state.check(net.chainage, opt.dt, net.node_reach.astype(str))
            z, q = initial_state.water_level.astype(np.float64), initial_state.discharge.astype(np.float64)
            z_prev = initial_state.previous_water_level.astype(np.float64)
            q_prev = initial_state.previous_discharge.astype(np.float64)
            n_critical = 0
        in_t = np.unique(np.concatenate([s.seconds_from(start) for s in series]))
        in_q = np.column_stack([np.interp(in_t, s.seconds_from(start), s.values) for s in series])
        ds_kind, ds_x, ds_y, slope = downstream.kernel_arguments(net.reaches[net.outlet], start)
        q_scale = max(float(in_q.sum(axis=1).max()), float(lat_q.sum(axis=1).max()) if lat_q.size else 0.0, 1e-3)
        gate_t, gate_q = _gate_schedules(net.gates, start, end)
        z_out = np.empty((n_out + 1, net.size))
        q_out = np.empty((n_out + 1, net.size))
        volumes, stats, failure = np.zeros(3), np.zeros(4), np.zeros(2)
        storage0 = net.storage(z)
        clock = time.perf_counter()
        status = preissmann_network(
            net.table, net.z0, net.nlev, net.table_dz, net.dx, z, q, in_t, in_q, lat_t, lat_q, ds_kind,
            np.asarray(ds_x, np.float64), np.asarray(ds_y, np.float64), slope, opt.theta, opt.network_sigma_exponent, G,
            opt.dt, n_steps, out_every, opt.tol_level, opt.tol_discharge * q_scale, opt.max_iterations, opt.max_halvings, z_out,
            q_out, volumes, stats, failure, net.reach_kind, net.reach_crest, net.reach_cw, net.reach_gate, gate_t, gate_q,
            net.br_start, net.br_end, net.br_up, net.br_down, net.br_source, net.jn_ref, z_prev, q_prev,
            initial_state is not None, net.junction_condition == "energy")
        self.last_kernel_seconds = time.perf_counter() - clock
        if status:
            when = start + np.timedelta64(int(round(failure[1] * 1e9)), "ns")
            why = {NO_CONVERGENCE: f"the Newton iteration did not converge in {opt.max_iterations} iterations",
                   DRY_BELOW_SLOT: "the water level fell below the bottom of the dry-channel slot",
                   SINGULAR: "the linear system became singular"}[status]
            raise NumericalError(
                f"hydraulics: {why} at {net.where(int(failure[0]))} at {_iso(when)}, even with the step split in "
                f"{2 ** opt.max_halvings}; nothing written: shorten --dt, refine the sections (--max-dx) or check the "
                "geometry and inflow there")
        inflow, lat_in, outflow = (float(v) for v in volumes)
        change = net.storage(z) - storage0
        error = change - (inflow + lat_in - outflow)
        scale = max(inflow + lat_in, abs(change), 1e-12)
        above = int(np.sum((z_out > net.top[None, :] + 1e-9).any(axis=0)))
        if above:
            log.warning("hydraulics: the water rose above the surveyed ends of %d node(s); the sections were "
                        "extended by vertical walls there", above)
        times = start + (np.arange(n_out + 1) * opt.output_interval * 1e9).astype("timedelta64[ns]")
        mass = {"inflow_volume_m3": inflow, "lateral_volume_m3": lat_in, "outflow_volume_m3": outflow,
                "storage_change_m3": change, "mass_balance_error_m3": error, "mass_balance_relative_error": error / scale}
        return NetworkResult(
            time=times, reach=net.node_reach.astype(str), chainage=net.chainage.copy(), thalweg=net.thalweg.copy(),
            surveyed=net.surveyed.copy(), section=net.section_names(), discharge=q_out, water_level=z_out,
            depth=np.maximum(z_out - net.thalweg[None, :], 0.0), mass_balance=mass,
            stats={"steps": n_steps, "sub_steps": int(stats[2]), "steps_retried": int(stats[3]),
                   "newton_iterations": int(stats[0]), "max_newton_iterations": int(stats[1]),
                   "mean_newton_iterations": float(stats[0] / max(stats[2], 1)), "nodes": net.size,
                   "reaches": len(net.ids), "junctions": len(net.junction_keys), "initial_critical_nodes": n_critical},
            above_top_nodes=above,
            final_state=HydraulicState(end, net.chainage.copy(), z.copy(), q.copy(), z_prev, q_prev, opt.dt,
                                       net.node_reach.astype(str)))


def _joined_at_head(net: ReachNetwork, rid: str) -> list[str]:
    return [repr(t) for (r, k), trib in zip(net.junction_keys, net.junction_reaches, strict=True) if r == rid and k == 0
            for t in trib]


def _gate_schedules(gates: list[Structure], start: np.datetime64, end: np.datetime64) -> tuple[NDArray, NDArray]:
    if not gates:
        return np.zeros(1), np.zeros((1, 1))
    for g in gates:
        if g.release_time[0] > start or g.release_time[-1] < end:
            raise InputDataError(f"{g.source}: the release schedule of {g.name!r} ({_iso(g.release_time[0])} .. "
                                 f"{_iso(g.release_time[-1])}) does not cover the run ({_iso(start)} .. {_iso(end)})")
    gate_t = np.unique(np.concatenate([(g.release_time - start) / np.timedelta64(1, "s") for g in gates]))
    gate_q = np.stack([np.interp(gate_t, (g.release_time - start) / np.timedelta64(1, "s"), g.release) for g in gates],
                      axis=1)
    return gate_t, gate_q


def _iso(t: np.datetime64) -> str:
    return np.datetime_as_string(t, unit="s") + "Z"
