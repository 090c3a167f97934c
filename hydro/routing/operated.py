"""The river network with its reservoirs operated: the one integrator behind the forecast, F1, F2 and a what-if.

The network is cut at the dams. Each dam's zone holds the segments that drain to it through no other
dam (the dam's segment is the zone's outlet); the rest holds everything else. A run routes the zones
upstream first, each over the whole window with its own Muskingum-Cunge model: the flow arriving at a
dam's segment is its inflow, the dam's operating rule (or a release schedule) gives the release, hourly,
and the release enters the segment below the dam as lateral inflow. Rules are local to each dam (no
compensation between dams), which is what makes this order exact, and a run costs one routing of the
network whatever the number of dams. Detention basins (:mod:`hydro.routing.detention`) take water at the
end of their segments: the segment below receives it less as lateral inflow, by a trigger rule or a given
schedule (:meth:`OperatedNetwork.run`).

Main stems that end inside the network (:meth:`OperatedNetwork.attach_main_stems`) run in place: their piece
is routed in stages around them, the segments below them getting the hydraulics' outflow at every step.

State: the channel state of the whole network (:class:`RoutingState`, network order; lake levels in
the order of :attr:`OperatedNetwork.lake_id`) and per dam its storage, level and gate setting
(:class:`DamStart`). A dam segment's channel outflow (its inflow) stays in the routing state; the
streamflow a user reads there is the release (:meth:`OperatedRun.streamflow`). Runs continue bit for
bit: one run of N hours equals N runs of one hour, each started from the previous one's final state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

import numba
import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError
from ..core.registry import get_method
from ..kernels.routing import FORCED_NODE
from ..network import RiverNetwork
from ..reservoir.levelpool import LevelPoolParameters
from ..reservoir.operation import DamStart, OperationResult, operate
from .channel import MuskingumCunge, RoutingState
from .detention import DetentionBasins, DetentionRecord

log = logging.getLogger("hydro")

# numba threads pay only on large pieces: each parallel step has a fixed start-up cost
PARALLEL_MIN_SEGMENTS = 2048
# a piece that routes with nothing beside it (the last below every dam; a what-if's part below the changed
# releases) has the threads to itself: from this size a step's work outweighs their start-up
ALONE_PARALLEL_MIN_SEGMENTS = 128
# the most memory a run spends recording its feeders' outflow at every step (OperatedRun.feeder_flow); a longer
# or larger run records nothing, and a later what-if copies or routes whole pieces instead (same numbers, slower)
FEEDER_RECORD_BYTES = 256 * 2**20


@dataclass
class OperatedRun:
    """One run of the operated network over ``hours`` whole hours."""

    flow: NDArray[np.float32]  # [hours, n] channel outflow at each hour's end (on a dam's segment: its inflow)
    lateral: NDArray[np.float32]  # [n_intervals, n] the lateral inflow routed, releases entered below each dam
    interval_s: float  # of ``lateral``
    operations: dict[str, OperationResult]  # per dam, hourly: level and storage [hours + 1], release [hours]
    inflow: dict[str, NDArray[np.float64]]  # per dam [hours + 1]: inflow at the start and at each hour's end
    final: RoutingState
    final_dams: dict[str, DamStart]
    dam_position: dict[str, int]  # network position of each dam's segment
    dt: float  # the routing step [s] and solver that made it
    solver: str
    # detention basins (hydro.routing.detention): diversion [hours] and volume stored [hours + 1] per basin;
    # the diverted water is in ``lateral`` (taken off the segment below each basin), not in ``flow``
    detention: DetentionRecord | None = field(default=None)
    # per piece (dam id, '' for the rest): outflow [steps, r] after every routing step of the piece's segments
    # that drain into a segment a release or diversion can reach (OperatedNetwork.feeders): what a later run
    # that changes only releases and diversions needs to route just the segments they reach (see Reusable);
    # a piece routed in stages around a main stem, or beyond the memory budget, records none
    feeder_flow: dict[str, NDArray[np.float32]] | None = field(default=None)
    # main stems run in place (OperatedNetwork.attach_main_stems), by id: their results
    # (hydro.hydraulics.network_coupling.MainStemResult); their final states are in ``final.main_stems``
    main_stems: dict = field(default_factory=dict)
    # the nudgings (hydro.routing.nudging.Nudging) this run made, one per piece or stage routed with gauges:
    # what a water balance of the run counts as the water nudging put in (stages.water_balance)
    nudgings: list = field(default_factory=list)

    def streamflow(self) -> NDArray[np.float32]:
        """[hours, n] what leaves each segment: the channel outflow, on a dam's segment its release over the
        hour ending then (the flow a gauge below the dam sees), on a detention basin's segment the outflow
        less the basin's diversion (what passes its inlet)."""
        out = self.flow.copy()
        for rid, j in self.dam_position.items():
            out[:, j] = self.operations[rid].release
        for bid, j in (self.detention.position.items() if self.detention is not None else ()):
            out[:, j] -= self.detention.diversion[bid].astype(np.float32)
        return out

    def passing(self, position: int) -> NDArray[np.float64]:
        """[hours] the channel outflow of the segment at ``position`` less what a detention basin there
        diverts (a control section there sees this)."""
        q = self.flow[:, position].astype(np.float64)
        for bid, j in (self.detention.position.items() if self.detention is not None else ()):
            if j == position:
                q = q - self.detention.diversion[bid]
        return q

    def hourly_lateral(self) -> NDArray[np.float64]:
        """[hours, n] the hourly mean of ``lateral``."""
        per_hour = int(round(3600.0 / self.interval_s))
        return self.lateral.reshape(-1, per_hour, self.lateral.shape[1]).mean(axis=1, dtype=np.float64)


@dataclass
class Reusable:
    """An earlier run and the channel state it started from (None: cold), offered to a later run from the same
    start: a piece (a dam's zone, or the rest) whose lateral inflow, releases from above included, is the
    same in both is copied instead of routed. Routing is deterministic, so the copy is bit for bit what
    routing it again gives; a what-if that changes a few dams' releases routes only what lies below them.
    Inside a piece whose inflow changed only where releases and diversions enter, only the segments downstream
    of the changes are routed, their other upstream segments replaying, step by step, the outflow the earlier
    run recorded (``OperatedRun.feeder_flow``): each segment sees exactly the inflow routing the whole piece
    would give it (same upstream sums in the same order), so this is bit for bit too
    (tests/physics/test_whatif_reuse.py)."""

    run: OperatedRun
    start: RoutingState | None

    def fits(self, lateral_shape: tuple, hours: int, state: RoutingState, dt: float, cold: RoutingState) -> bool:
        """Whether the run covers the same window at the same step from ``state`` (``cold``: the cold state)."""
        run, start = self.run, self.start if self.start is not None else cold
        if run.lateral.shape != lateral_shape or run.flow.shape[0] != hours or run.dt != dt:
            return False
        if run.nudgings:  # its flows carry gauge corrections that a run without them would not make
            return False
        stems_then, stems_now = getattr(start, "main_stems", None) or {}, getattr(state, "main_stems", None) or {}
        if stems_then.keys() != stems_now.keys() or not all(_same_stem_state(stems_then[k], stems_now[k])
                                                            for k in stems_now):
            return False
        return start.same_as(state)


def _same_stem_state(a, b) -> bool:
    """Whether two main-stem states (hydro.hydraulics.network_coupling.MainStemState) are the same: the same
    object, or equal in every field (a copy sent to a dask worker)."""
    if a is b:
        return True
    ha, hb = a.hydraulic, b.hydraulic
    arrays = ("chainage", "water_level", "discharge", "previous_water_level", "previous_discharge")
    return (a.discharge_scale == b.discharge_scale and a.geometry == b.geometry and ha.time == hb.time
            and ha.dt == hb.dt and all(np.array_equal(getattr(ha, n), getattr(hb, n)) for n in arrays)
            and (a.lateral is None) == (b.lateral is None) and (a.lateral is None or np.array_equal(a.lateral, b.lateral)))


def routed_lakes(network: RiverNetwork, lakes: LevelPoolParameters | None) -> LevelPoolParameters | None:
    """The lakes of a network file that route as level pools: those with a collapsed lake node (``is_lake``).
    A file may list lakes (``lake_id`` and their LAKEPARM fields) whose segments were never collapsed
    (``waterbody`` set, no lake node): those route as channel segments, and the log says so rather than
    leaving the reader to believe the lake attenuates the flood."""
    if lakes is None or not lakes.size:
        return None
    nodes = np.isin(lakes.lake_id, network.feature_id[network.is_lake])
    if not nodes.all():
        missing = lakes.lake_id[~nodes]
        log.warning("%s: lake(s) %s listed but not collapsed into a lake node (no is_lake node): routed as channel "
                    "segments, not as level pools; write the network with its lakes collapsed (hydro basin from-nwm "
                    "does) to route them", network.source, ", ".join(str(int(x)) for x in missing[:10]))
    return lakes if nodes.any() else None


class OperatedNetwork:
    """The network cut at the dams, one Muskingum-Cunge model per piece, built once per basin.

    Parameters
    ----------
    network : RiverNetwork
    reservoirs : objects with ``id``, ``feature_id``, ``flood_limit_level``, ``curves()`` and ``rules()``
        (``hydro.io.basin.ReservoirSpec``).
    lakes : level-pool parameters of the network's lake nodes (None if it has none).
    dt : routing step [s]; solver : Muskingum-Cunge depth solver ('nwm' or 'fast'); method : the routing
        method by its registry name (one that carries channel state).

    detention_basins, sections : the basin file's detention basins (``hydro.io.basin.DetentionBasinSpec``)
        and the control sections their triggers name (:mod:`hydro.routing.detention`).

    ``paths`` gives, per dam, the segments its release flows through down to the next dam or the
    outlet (what a change in that release can move); per detention basin likewise from its segment.
    """

    @classmethod
    def for_basin(cls, network: RiverNetwork, basin, lakes: LevelPoolParameters | None = None, dt: float = 300.0,
                  solver: str = "nwm", method: str = "muskingum_cunge") -> OperatedNetwork:
        """The network of a basin file (``hydro.io.basin.BasinSpec``): its dams and detention basins."""
        return cls(network, basin.reservoirs, lakes, dt, solver, method,
                   getattr(basin, "detention_basins", ()), basin.control_sections)

    def __init__(self, network: RiverNetwork, reservoirs: Sequence = (), lakes: LevelPoolParameters | None = None,
                 dt: float = 300.0, solver: str = "nwm", method: str = "muskingum_cunge",
                 detention_basins: Sequence = (), sections: Sequence = ()) -> None:
        model_class = get_method("routing", method)
        if not hasattr(model_class, "cold_state"):  # the twin carries channel state between runs
            raise ConfigError(f"routing method {method!r} keeps no channel state; the cycle needs one that does "
                              "(muskingum_cunge)")
        position = {int(f): i for i, f in enumerate(network.feature_id)}
        for dam in reservoirs:
            if dam.feature_id not in position:
                raise ConfigError(f"{network.source}: reservoir {dam.id} sits on feature_id {dam.feature_id}, "
                                  "which is not in the network")
        self.network, self.dt, self.solver, self.lakes, self.position = network, float(dt), solver, lakes, position
        topo_rank = np.empty(network.size, dtype=np.int64)
        topo_rank[network.topological_order()] = np.arange(network.size)
        self.dams = sorted(reservoirs, key=lambda r: topo_rank[position[r.feature_id]])
        self._dam_by_id = {d.id: d for d in self.dams}
        self.down = network.downstream_index
        claimed = np.zeros(network.size, bool)
        self.zones: dict[str, NDArray[np.int64]] = {}
        for dam in self.dams:
            up = network.upstream_positions(dam.feature_id)
            self.zones[dam.id] = up[~claimed[up]]
            claimed[self.zones[dam.id]] = True
        self.in_dam_zone = claimed
        self.rest = np.flatnonzero(~claimed)
        self.dam_node = np.zeros(network.size, bool)
        self.dam_node[[position[d.feature_id] for d in self.dams]] = True
        self.lake_position = np.flatnonzero(network.is_lake)  # network order: the order of lake_id
        self.pieces = [(key, idx) for key, idx in [*self.zones.items(), ("", self.rest)] if idx.size]
        self.models = {key: model_class(network.take(idx), lakes, self.dt, solver=solver,
                                           parallel=idx.size > PARALLEL_MIN_SEGMENTS) for key, idx in self.pieces}
        self._lake_slot = np.full(network.size, -1, np.int64)  # network position -> slot in lake_id order
        self._lake_slot[self.lake_position] = np.arange(self.lake_position.size)
        self._tables = {d.id: (d.curves(), d.rules()) for d in self.dams}  # built once: operate runs hourly
        self._reach_cache: dict = {}
        self.paths: dict[str, NDArray[np.int64]] = {}
        for dam in self.dams:
            path, node = [], self.down[position[dam.feature_id]]
            while node >= 0 and not self.dam_node[node]:
                path.append(node)
                node = self.down[node]
            self.paths[dam.id] = np.array(path, np.int64)
        self.detention = (DetentionBasins(detention_basins, sections, network, {position[d.feature_id] for d in self.dams})
                          if detention_basins else None)
        for site in (self.detention.sites if self.detention is not None else ()):
            path, node = [], site.down
            while node >= 0 and not self.dam_node[node]:
                path.append(node)
                node = self.down[node]
            self.paths[f"detention:{site.id}"] = np.array(path, np.int64)
        self._find_feeders()
        self._find_feeds()
        self.stem_outlets: list = []
        self._stage_cache: dict = {}

    def attach_main_stems(self, outlets: Sequence) -> None:
        """Main stems that feed the network below them, run in place when a run starts with their hydraulic
        states (``hydro.hydraulics.network_coupling.StemOutlet``: ``position`` of the last segment, ``ids``,
        ``runs_with``, ``start_outflow``, ``run``). In their piece the segments are routed in stages: those no
        such main stem's outflow reaches, then each main stem, then the segments below it with the last
        segment's outflow set to the hydraulics' at every step (``route_mc``'s forced nodes)."""
        self.stem_outlets = list(outlets)
        self._stage_cache = {}

    def _find_feeders(self) -> None:
        """Per piece: ``reachable`` (mask over the network), the segments downstream, within their piece, of a
        segment where a release or a diversion enters (the segment below a dam or a detention inlet), and
        ``feeders``, each piece's segments draining into one of them (network positions), whose outflow a run
        records at every step so that a later run with other releases can route only what those reach."""
        n = self.network.size
        self._piece_of = piece_of = np.full(n, -1, np.int64)
        for k, (_, idx) in enumerate(self.pieces):
            piece_of[idx] = k
        entries = [self.down[self.position[d.feature_id]] for d in self.dams]
        entries += [site.down for site in (self.detention.sites if self.detention is not None else ())]
        reachable = np.zeros(n, bool)
        for node in entries:
            piece = piece_of[node] if node >= 0 else -1
            while node >= 0 and piece_of[node] == piece and not reachable[node]:
                reachable[node] = True
                node = self.down[node]
        self.reachable = reachable
        feeds = np.flatnonzero(self.down >= 0)
        feeds = feeds[reachable[self.down[feeds]] & (piece_of[feeds] == piece_of[self.down[feeds]])]
        self.feeders = {key: np.sort(feeds[piece_of[feeds] == k]) for k, (key, _) in enumerate(self.pieces)}
        self._local = np.zeros(n, np.int64)  # network position -> position within its piece
        for _, idx in self.pieces:
            self._local[idx] = np.arange(idx.size)

    def _find_feeds(self) -> None:
        """``_feeds_into``: per piece whose dam releases into another piece, that piece (a run routes a piece once
        every dam releasing into it has run)."""
        self._feeds_into: dict[int, int] = {}
        for k, (key, _) in enumerate(self.pieces):
            if key and key in self.zones:
                below = self.down[self.position[self._dam_by_id[key].feature_id]]
                if below >= 0:
                    self._feeds_into[k] = int(self._piece_of[below])

    def _chain_work(self, reach_only: bool) -> NDArray[np.int64]:
        """Per piece, the segments a run routes in it and in every piece its dam releases into, down to the last
        (``reach_only``: those a what-if routes, the segments releases reach; else all): what waits on it."""
        size = np.array([int(self.reachable[idx].sum()) if reach_only else idx.size for _, idx in self.pieces], np.int64)
        work = size.copy()
        for k in range(len(self.pieces) - 1, -1, -1):  # a dam's piece comes before the one it feeds
            if k in self._feeds_into:
                work[k] += work[self._feeds_into[k]]
        return work

    @property
    def waves(self) -> list[list[int]]:
        """The pieces (their indices in ``pieces``) grouped so that a piece comes after every piece whose dam
        releases into it: the pieces of one wave do not feed each other and can route at once."""
        level = np.zeros(len(self.pieces), np.int64)
        for k in range(len(self.pieces)):  # upstream first: a dam's piece precedes the one it feeds
            if k in self._feeds_into:
                level[self._feeds_into[k]] = max(level[self._feeds_into[k]], level[k] + 1)
        return [[k for k in range(len(self.pieces)) if level[k] == w] for w in range(int(level.max()) + 1 if level.size else 0)]

    def __getstate__(self) -> dict:
        """Pickled (dask) without the caches of partial and staged models (rebuilt on use)."""
        return {**self.__dict__, "_reach_cache": {}, "_stage_cache": {}}

    def _reach_model(self, key: str, changed: NDArray[np.int64]):
        """What changes at network positions ``changed`` (all reachable, in piece ``key``) reach, and the model
        that routes just that: (segments routed, in the piece's own order; its model; the forced feeders'
        places in it and in the piece's feeder record; the affected segments and their places among those
        routed; the feeder columns they change and their places). Cached per piece and affected set."""
        affected = np.zeros(self.network.size, bool)
        piece = self._piece_of[changed[0]]
        for node in changed:
            while node >= 0 and self._piece_of[node] == piece and not affected[node]:
                affected[node] = True
                node = self.down[node]
        cache_key = (key, np.flatnonzero(affected).tobytes())
        entry = self._reach_cache.get(cache_key)  # threads: dict get/set are atomic; a race builds a model twice
        if entry is None:
            feeders = self.feeders[key]
            forced = feeders[~affected[feeders] & affected[self.down[feeders]]]
            routed = np.flatnonzero(affected)
            sub, model, where, lakes_routed = self._part_model(key, routed, forced)
            column = np.full(self.network.size, -1, np.int64)
            column[feeders] = np.arange(feeders.size)
            record = np.flatnonzero(affected[feeders])  # the feeder columns this run changes
            entry = (sub, model, where[forced], column[forced], routed, where[routed], record,
                     where[feeders[record]], lakes_routed)
            if len(self._reach_cache) > 64:
                self._reach_cache.clear()
            self._reach_cache[cache_key] = entry
        return entry

    def _part_model(self, key: str, routed: NDArray[np.int64], forced: NDArray[np.int64]):
        """A model of part of piece ``key``: the segments ``routed`` and the ``forced`` ones draining into them
        (their outflow imposed, not solved; a forced lake keeps its slot, its level not taken back), in the
        piece's own order, so every segment sums its upstream inflows in the same order as the whole piece.
        Returns (its segments, the model, network position -> place in it, which of its lakes are routed)."""
        sub = np.union1d(routed, forced)
        sub = sub[np.argsort(self._local[sub], kind="stable")]
        model = type(self.models[key])(self.network.take(sub), self.lakes, self.dt, solver=self.solver,
                                       parallel=sub.size > PARALLEL_MIN_SEGMENTS)
        where = np.full(self.network.size, -1, np.int64)
        where[sub] = np.arange(sub.size)
        channel = where[forced][model.lake_slot[model.inverse[where[forced]]] == -1]
        model.lake_slot[model.inverse[channel]] = FORCED_NODE
        return sub, model, where, np.isin(model.lake_node_index, where[routed])

    def _stem_stages(self, k: int, outlets: tuple) -> list:
        """Piece ``k`` routed in stages around the main stems ``outlets`` (StemOutlets in it, running): a
        segment's stage is the largest number of those main stems on any path from it upstream (their last
        segments counted below themselves). Per stage: (segments routed, in the piece's order, with the forced
        ones: those of earlier stages draining into it; its model; the forced ones' places; the forced network
        positions; routed positions; their places; recorded places and positions (what later stages force);
        its lakes routed; the outlets run after it). Cached per piece and set of outlets."""
        cache_key = (k, tuple(o.position for o in outlets))
        cached = self._stage_cache.get(cache_key)
        if cached is not None:
            return cached
        key, idx = self.pieces[k]
        n = self.network.size
        rank = np.empty(n, np.int64)
        rank[self.network.topological_order()] = np.arange(n)
        is_outlet = np.zeros(n, np.int64)
        is_outlet[[o.position for o in outlets]] = 1
        stage = np.zeros(n, np.int64)
        for node in idx[np.argsort(rank[idx], kind="stable")]:  # upstream first
            below = self.down[node]
            if below >= 0 and self._piece_of[below] == k:
                stage[below] = max(stage[below], stage[node] + is_outlet[node])
        in_piece = np.zeros(n, bool)
        in_piece[idx] = True
        stages = []
        for j in range(int(stage[idx].max()) + 1):
            routed = idx[stage[idx] == j]
            into = np.flatnonzero(in_piece & (self.down >= 0))
            into = into[in_piece[self.down[into]] & (stage[self.down[into]] == j) & (stage[into] < j)]
            sub, model, where, lakes_routed = self._part_model(key, routed, into)
            later = routed[(self.down[routed] >= 0)]
            later = later[in_piece[self.down[later]] & (stage[self.down[later]] > j)]
            run_after = tuple(i for i, o in enumerate(outlets) if stage[o.position] == j)
            stages.append((sub, model, where[into], into, routed, where[routed], where[later], later, lakes_routed,
                           run_after))
        if len(self._stage_cache) > 16:
            self._stage_cache.clear()
        self._stage_cache[cache_key] = stages
        return stages

    def _route_stages(self, k: int, outlets: tuple, lateral: NDArray, interval_s: float, steps: int, hours: int,
                      start: RoutingState, stem_states: dict, flow: NDArray, streamflow: NDArray, depth: NDArray,
                      elev: NDArray, nudging_for, stem_results: dict, stem_finals: dict) -> None:
        """Route piece ``k`` in stages around the running main stems ``outlets`` (:meth:`_stem_stages`), each
        main stem run as soon as its zone is routed, into ``flow`` and the final state, ``stem_results`` and
        ``stem_finals``."""
        outflow: dict[int, NDArray[np.float32]] = {}  # network position -> outflow after every step
        start_q = {o.position: np.float32(o.start_outflow(stem_states)) for o in outlets}
        on_stems = np.concatenate([o.segment_positions for o in outlets])
        for sub, model, forced_at, forced, routed, routed_at, record_at, record, lakes_routed, run_after in \
                self._stem_stages(k, outlets):
            slots = self.lake_slots(sub, model)
            # from the run's start (earlier stages have already written their segments' final state)
            sub_start = RoutingState(start.streamflow[sub], start.depth[sub], start.water_sfc_elev[slots])
            for place, node in zip(forced_at, forced, strict=True):
                if int(node) in start_q:  # the segment below saw the hydraulics' outflow at the previous step
                    sub_start.streamflow[place] = start_q[int(node)]
            nudging = None
            if nudging_for is not None:
                ids = self.network.feature_id[sub].copy()
                ids[forced_at] = -1  # a forced segment's outflow is imposed: never nudged here
                ids[np.isin(sub, on_stems)] = -1  # nor a main stem's: its network flow is not used
                nudging = nudging_for(ids, 0)
            forced_q = (np.column_stack([outflow[int(node)] for node in forced]) if forced.size
                        else np.zeros((steps, 0), np.float32))
            result = model.run(lateral, interval_s, steps, sub_start, output_every=steps // hours, columns=sub,
                               record=record_at, forced=(forced_at, forced_q), nudging=nudging)
            model.check_converged(result)
            flow[:, routed] = result.streamflow[:, routed_at]
            streamflow[routed] = result.final_state.streamflow[routed_at]
            depth[routed] = result.final_state.depth[routed_at]
            elev[slots[lakes_routed]] = result.final_state.water_sfc_elev[lakes_routed]
            for c, node in enumerate(record):
                outflow[int(node)] = result.recorded[:, c]
            for i in run_after:
                o = outlets[i]
                results, q = o.run(flow, lateral, interval_s, hours, start.streamflow, stem_states, self.dt)
                outflow[o.position] = np.asarray(q, np.float32)
                for sid, r in results.items():
                    stem_results[sid], stem_finals[sid] = r, r.final_state

    @property
    def lake_id(self) -> NDArray[np.int64]:
        return self.network.feature_id[self.lake_position]

    def cold_state(self) -> RoutingState:
        """NWM cold start: zero flow and depth; lakes at their initial elevation."""
        n = self.network.size
        depth = np.zeros(n, np.float32)
        depth[self.lake_position] = np.nan
        elev = np.zeros(self.lake_position.size, np.float32)
        for key, idx in self.pieces:
            elev[self.lake_slots(idx, self.models[key])] = self.models[key].cold_state().water_sfc_elev
        return RoutingState(np.zeros(n, np.float32), depth, elev)

    def lake_slots(self, index: NDArray[np.int64], model: MuskingumCunge) -> NDArray[np.int64]:
        """Slots (in ``lake_id`` order) of the lakes of ``model``, built on ``network.take(index)``."""
        return self._lake_slot[index[model.lake_node_index]]

    def sub_state(self, state: RoutingState, index: NDArray[np.int64], model: MuskingumCunge) -> RoutingState:
        """The part of a network state that ``model`` (built on ``network.take(index)``) routes."""
        return RoutingState(state.streamflow[index], state.depth[index], state.water_sfc_elev[self.lake_slots(index, model)])

    def cold_dams(self) -> dict[str, DamStart]:
        """Every dam at its flood-limit level, gates unknown."""
        return {d.id: DamStart(d.flood_limit_level, None, d.curves().storage(d.flood_limit_level)) for d in self.dams}

    def check_state(self, state: RoutingState, source: str) -> None:
        """Refuse a routing state whose shapes do not fit this network (a restart from another basin)."""
        n, n_lakes = self.network.size, self.lake_position.size
        shapes = (state.streamflow.shape, state.depth.shape, state.water_sfc_elev.shape)
        if shapes != ((n,), (n,), (n_lakes,)):
            raise ConfigError(f"{source}: routing state has shapes {shapes}, this network needs "
                              f"{((n,), (n,), (n_lakes,))} (segments, segments, lakes)")

    def run(self, lateral: NDArray, interval_s: float, hours: int, state: RoutingState | None = None,
            dams: dict[str, DamStart] | None = None, schedules: dict[str, NDArray] | None = None,
            nudging_for: Callable[[NDArray[np.int64], int], object] | None = None,
            diversions: dict[str, NDArray] | None = None, detention: dict[str, float] | None = None,
            reuse: Reusable | None = None) -> OperatedRun:
        """As :meth:`_route`, with the detention basins diverting (:mod:`hydro.routing.detention`): by their
        trigger rules, or ``diversions`` [hours] (m3 s-1 per basin named) within their limits; ``detention``
        gives the volume [m3] each holds at the start (empty when None). The run's ``detention`` records them.
        ``reuse``: an earlier run from the same start whose pieces are copied where this run feeds them the
        same lateral inflow (see :class:`Reusable`)."""
        if self.detention is None:
            if diversions:
                raise ConfigError(f"diversions given for {sorted(diversions)}, but this basin has no detention basins")
            return self._route(lateral, interval_s, hours, state, dams, schedules, nudging_for, reuse)
        per_hour = int(round(3600.0 / interval_s))
        initial = (state if state is not None else self.cold_state()).streamflow
        run, record = self.detention.run(
            lambda lat: self._route(lat, interval_s, hours, state, dams, schedules, nudging_for, reuse),
            lateral, per_hour, hours, initial, detention, diversions)
        run.detention = record
        return run

    def _route(self, lateral: NDArray, interval_s: float, hours: int, state: RoutingState | None = None,
               dams: dict[str, DamStart] | None = None, schedules: dict[str, NDArray] | None = None,
               nudging_for: Callable[[NDArray[np.int64], int], object] | None = None,
               reuse: Reusable | None = None) -> OperatedRun:
        """Route ``lateral`` [n_intervals, n] (m3 s-1, network order, each held over ``interval_s``, a
        divisor of an hour) for ``hours`` from ``state`` (cold when None) with the dams at ``dams``
        (flood-limit levels when None), under their rules or ``schedules`` [hours] of releases.
        ``nudging_for(feature_ids, 0)`` gives a piece's nudging (``hydro.routing.nudging.Nudging``) for the run
        from its start (hour 0), or None. Each piece routes the whole window at once: hour by hour, the
        per-call cost of 31 pieces made a 72-hour national run 12 % slower (43.3 s against 38.7 s)."""
        per_hour = 3600.0 / interval_s
        if abs(per_hour - round(per_hour)) > 1e-9:
            raise ConfigError(f"lateral inflow interval {interval_s:g} s does not divide an hour")
        per_hour = int(round(per_hour))
        n = self.network.size
        if lateral.shape != (hours * per_hour, n):
            raise ConfigError(f"lateral inflow has shape {lateral.shape}, expected ({hours * per_hour}, {n}) "
                              f"for {hours} h at {interval_s:g} s")
        state = state if state is not None else self.cold_state()
        self.check_state(state, "initial state")
        nudgings: list = []  # those of this run (a detention basin's cut routes again, with new ones)
        if nudging_for is not None:
            make_nudging = nudging_for

            def nudging_for(feature_ids, hour):
                made = make_nudging(feature_ids, hour)
                if made is not None:
                    nudgings.append(made)
                return made
        stem_states = getattr(state, "main_stems", None) or {}
        running = [o for o in self.stem_outlets if o.runs_with(stem_states)]
        stem_results: dict = {}
        stem_finals: dict = {}
        dams = {**self.cold_dams(), **(dams or {})}
        unknown = set(dams) - set(self.zones)
        if unknown:
            raise ConfigError(f"start state given for {sorted(unknown)}, which are not reservoirs of this basin "
                              f"(have {sorted(self.zones)})")
        schedules = schedules or {}
        # the releases enter the segments below the dams as lateral inflow: a copy when there are dams
        lateral = np.array(lateral, dtype=np.float32) if self.dams else np.asarray(lateral, np.float32)
        flow = np.zeros((hours, n), np.float32)  # zeros: a main stem run in place reads it before all is routed
        streamflow = state.streamflow.copy()
        depth = state.depth.copy()
        elev = state.water_sfc_elev.copy()
        steps = int(round(3600.0 / self.dt)) * hours
        operations, inflows, final_dams = {}, {}, {}
        dams_by_id = {d.id: d for d in self.dams}
        reusable = (reuse is not None and nudging_for is None and reuse.fits(lateral.shape, hours, state, self.dt, self.cold_state()))
        before = reuse.run.feeder_flow if reusable else None
        feeder_flow = {}
        record_feeders = sum(f.size for f in self.feeders.values()) * steps * 4 <= FEEDER_RECORD_BYTES

        def route_piece(k: int, alone: bool = False) -> None:
            """Route piece k into ``flow`` and the final state (its own columns and lakes only). ``alone``: nothing
            routes beside it, so it takes numba's threads from ALONE_PARALLEL_MIN_SEGMENTS segments routed (else
            each model keeps its own choice)."""
            key, idx = self.pieces[k]

            def parallel(size: int) -> bool | None:  # None: the model's own choice
                return True if alone and size >= ALONE_PARALLEL_MIN_SEGMENTS else None

            model = self.models[key]
            slots = self.lake_slots(idx, model)
            changed = (idx[np.flatnonzero((lateral[:, idx] != reuse.run.lateral[:, idx]).any(axis=0))]
                       if reusable else None)
            stems_here = tuple(o for o in running if self._piece_of[o.position] == k)
            if stems_here and changed is not None and not all(  # the earlier run lacks their results (a joined run)
                    sid in reuse.run.main_stems for o in stems_here for sid in o.ids):
                changed = None
            if changed is not None and not changed.size:
                # same start, same inflow: the earlier run's numbers are this piece's, bit for bit
                flow[:, idx] = reuse.run.flow[:, idx]
                streamflow[idx], depth[idx] = reuse.run.final.streamflow[idx], reuse.run.final.depth[idx]
                elev[slots] = reuse.run.final.water_sfc_elev[slots]
                if before is not None and key in before:
                    feeder_flow[key] = before[key]
                for sid in (sid for o in stems_here for sid in o.ids):
                    stem_results[sid], stem_finals[sid] = reuse.run.main_stems[sid], reuse.run.final.main_stems[sid]
            elif stems_here:
                # main stems feeding the segments below them: routed in stages (their feeders are not recorded,
                # so a later what-if routes this piece whole)
                self._route_stages(k, stems_here, lateral, interval_s, steps, hours, state, stem_states, flow,
                                   streamflow, depth, elev, nudging_for, stem_results, stem_finals)
            elif changed is not None and before is not None and key in before and self.reachable[changed].all():
                # changed only where releases or diversions enter: route what that reaches, copy the rest
                sub, sub_model, forced_at, forced_col, routed, routed_at, record, record_at, lakes_routed = \
                    self._reach_model(key, changed)
                sub_slots = self.lake_slots(sub, sub_model)
                result = sub_model.run(lateral, interval_s, steps, RoutingState(streamflow[sub], depth[sub], elev[sub_slots]),
                                       output_every=steps // hours, columns=sub, record=record_at,
                                       forced=(forced_at, before[key][:, forced_col]), parallel=parallel(sub.size))
                sub_model.check_converged(result)
                flow[:, idx] = reuse.run.flow[:, idx]
                flow[:, routed] = result.streamflow[:, routed_at]
                streamflow[idx], depth[idx] = reuse.run.final.streamflow[idx], reuse.run.final.depth[idx]
                streamflow[routed] = result.final_state.streamflow[routed_at]
                depth[routed] = result.final_state.depth[routed_at]
                elev[slots] = reuse.run.final.water_sfc_elev[slots]
                elev[sub_slots[lakes_routed]] = result.final_state.water_sfc_elev[lakes_routed]
                feeder_flow[key] = before[key].copy()
                feeder_flow[key][:, record] = result.recorded
            else:
                piece_state = RoutingState(streamflow[idx], depth[idx], elev[slots])
                nudging = nudging_for(self.network.feature_id[idx], 0) if nudging_for is not None else None
                feeders = self.feeders[key]
                result = model.run(lateral, interval_s, steps, piece_state, output_every=steps // hours,
                                   nudging=nudging, columns=idx, record=self._local[feeders] if record_feeders else None,
                                   parallel=parallel(idx.size))
                model.check_converged(result)
                flow[:, idx] = result.streamflow
                streamflow[idx], depth[idx] = result.final_state.streamflow, result.final_state.depth
                elev[slots] = result.final_state.water_sfc_elev
                if record_feeders:
                    feeder_flow[key] = result.recorded

        # pieces route as soon as every dam releasing into them has run, side by side on threads (numba releases
        # the GIL; each writes only its own columns). A piece on numba's own threads, or a nudged run, routes alone;
        # so does a piece nothing else can route beside (the last one, below every dam), on numba's threads from
        # ALONE_PARALLEL_MIN_SEGMENTS. Releases enter the segment below each dam just before the piece holding it
        # routes, in the pieces' order, so the lateral inflow and every number are the same whatever the threads.
        workers = numba.get_num_threads() if nudging_for is None else 1
        pending: dict[int, list[tuple[int, int, NDArray[np.float32]]]] = {}
        pool = ThreadPoolExecutor(workers) if workers > 1 and len(self.pieces) > 1 else None

        def operate_dam(k: int) -> None:
            """The dam at piece k's outlet (its inflow now routed), its release held for the piece below."""
            key = self.pieces[k][0]
            if not key:
                return
            node, begin = self.position[dams_by_id[key].feature_id], dams[key]
            inflow = np.concatenate([[state.streamflow[node]], flow[:, node]]).astype(np.float64)
            op = operate(*self._tables[key], inflow, 3600.0, begin.level, schedules.get(key), begin.release,
                         initial_storage=begin.storage)
            operations[key], inflows[key] = op, inflow
            final_dams[key] = DamStart(float(op.level[-1]), float(op.release[-1]), float(op.storage[-1]))
            if self.down[node] >= 0:
                pending.setdefault(self._feeds_into[k], []).append(
                    (k, int(self.down[node]), np.repeat(op.release, per_hour).astype(np.float32)))

        waiting = np.zeros(len(self.pieces), np.int64)  # dams still to run above each piece
        for target in self._feeds_into.values():
            waiting[target] += 1
        # the pieces that can route, the one with the most routing still to come below it first (its dam's
        # release holds up the pieces downstream), at most one per thread in flight, so that a piece made ready
        # by a dam goes ahead of those queued earlier with less below them
        chain = self._chain_work(reusable)
        ready = [k for k in range(len(self.pieces)) if not waiting[k]]
        in_flight: dict = {}  # future -> piece

        def done(k: int) -> None:
            operate_dam(k)
            target = self._feeds_into.get(k)
            if target is not None:
                waiting[target] -= 1
                if not waiting[target]:
                    ready.append(target)

        def start(k: int) -> None:
            for _, below, release in sorted(pending.pop(k, []), key=lambda entry: entry[0]):
                lateral[:, below] += release

        try:
            while ready or in_flight:
                routed_alone = False
                ready.sort(key=lambda k: (-chain[k], k))
                for k in list(ready):
                    solo = pool is None or getattr(self.models[self.pieces[k][0]], "parallel", True)
                    if solo and in_flight or len(in_flight) >= workers:
                        continue  # it waits for the pieces on threads to finish, or for a free thread
                    ready.remove(k)
                    start(k)
                    if solo or not (in_flight or ready):
                        route_piece(k, True)
                        done(k)
                        routed_alone = True
                        break  # what can start next has changed
                    in_flight[pool.submit(route_piece, k)] = k
                if in_flight and not routed_alone:  # nothing more can start: wait for a piece to finish
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in sorted(finished, key=in_flight.get):
                        k = in_flight.pop(future)
                        future.result()
                        done(k)
        finally:
            if pool is not None:
                pool.shutdown()
        # the dams in the pieces' order, whatever order the threads finished in (outputs list them so)
        order = [key for key, _ in self.pieces]
        operations, inflows, final_dams = ({key: d[key] for key in order if key in d} for d in (operations, inflows, final_dams))
        feeder_flow = {key: feeder_flow[key] for key in order if key in feeder_flow}
        rank = {sid: i for i, sid in enumerate(sid for o in self.stem_outlets for sid in o.ids)}
        stem_results, stem_finals = ({sid: d[sid] for sid in sorted(d, key=lambda sid: (rank.get(sid, len(rank)), str(sid)))}
                                     for d in (stem_results, stem_finals))
        final = RoutingState(streamflow, depth, elev)
        if stem_finals:  # the state type that carries main stems (hydro.hydraulics.network_coupling.ChannelState)
            final = replace(state, streamflow=streamflow, depth=depth, water_sfc_elev=elev, main_stems=stem_finals)
        return OperatedRun(flow, lateral, float(interval_s), operations, inflows, final, final_dams,
                           {d.id: self.position[d.feature_id] for d in self.dams}, self.dt, self.solver,
                           feeder_flow=feeder_flow or None, main_stems=stem_results, nudgings=nudgings)
