"""Main stems in the twin: Saint-Venant reaches driven by the operated network (one-way coupling).

A basin file names main-stem reaches (``[[main_stems]]``, hydro/io/basin.py): the network segments they
replace, upstream first, and surveyed cross-sections. After the operated network's run
(:class:`hydro.routing.operated.OperatedRun`) each main stem is run by :class:`SaintVenant`:

* upstream inflow: the channel outflow of the segments draining into its first segment (hour ends, linear
  between), the first value the routing state it started from;
* lateral inflow, one point per segment at the middle of its chainage span: the segment's local lateral
  inflow as the network routed it (10-minute steps, held; it already holds the releases of dams draining
  into it, less what detention basins take) plus the outflow of every tributary segment draining into it
  (a dam's segment is skipped: its release is in that lateral inflow);
* downstream: normal depth, or a rating;
* initial state: the standard-step profile of the first inflows (the solver's own start).

The result is discharge and water level at each segment's downstream end (the computational node
nearest its chainage) at every hour end of the run. One-way: the main stem's outflow is not fed back
into the network, so a main stem must end at an outlet of the network (checked); water it delays or
attenuates is then nowhere counted twice. No file is opened here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..network import RiverNetwork
from .boundaries import Downstream, Lateral, TimeSeries
from .network import Junction, NetworkSaintVenant, ReachNetwork
from .sections import CrossSection, Reach
from .unsteady import HydraulicsResult, SaintVenant, SolverOptions

HOUR = np.timedelta64(3600, "s")


@dataclass(frozen=True)
class MainStemDefinition:
    """A main stem as the basin file gives it, its files read (hydro.io.basin.main_stem_definitions)."""

    id: str
    segments: tuple[int, ...]  # feature ids, upstream first, each draining into the next
    sections: list[CrossSection]
    downstream: Downstream
    dt_s: float = 30.0
    inertia: str = "lpi"
    max_dx_m: float = 250.0
    segment_chainage: tuple[float, ...] | None = None  # [m] each segment's downstream end; None: by lengths
    source: str = ""  # the basin file, for messages
    # (feature id, main stem id) of the basin's other main stems' segments: the last segment may drain into one
    other_stem_segments: tuple[tuple[int, str], ...] = ()


@dataclass
class MainStemResult:
    """One main stem's run: per replaced segment (its downstream end) at every hour end."""

    id: str
    feature_id: NDArray[np.int64]  # [segments]
    chainage: NDArray[np.float64]  # [segments] of the node reported (nearest the segment's downstream end)
    thalweg: NDArray[np.float64]  # [segments] lowest bed level at that node [m]
    times: NDArray[np.datetime64]  # [hours] hour ends
    discharge: NDArray[np.float64]  # [hours, segments] m3 s-1
    water_level: NDArray[np.float64]  # [hours, segments] m
    hydraulics: HydraulicsResult  # the whole run (every node, the initial state first), mass balance included
    inflow_volume_m3: float  # what the network delivered over the run: upstream, tributaries, local lateral
    upstream: TimeSeries
    lateral: Lateral

    def depth(self) -> NDArray[np.float64]:
        return np.maximum(self.water_level - self.thalweg[None, :], 0.0)


class CoupledMainStem:
    """A :class:`MainStemDefinition` checked against ``network`` and its dams, its reach built once."""

    def __init__(self, network: RiverNetwork, definition: MainStemDefinition, dam_feature_ids: Sequence[int] = ()):
        d = definition
        where = f"{d.source}: main stem {d.id!r}"
        position = {int(f): i for i, f in enumerate(network.feature_id)}
        missing = [f for f in d.segments if f not in position]
        if missing:
            raise ConfigError(f"{where}: segment feature_id {missing[0]} is not in the network ({network.source})")
        if len(set(d.segments)) != len(d.segments):
            raise ConfigError(f"{where}: a segment is listed twice in {list(d.segments)}")
        self.pos = np.array([position[f] for f in d.segments], np.int64)
        down = network.downstream_index
        for a, b, fa, fb in zip(self.pos[:-1], self.pos[1:], d.segments[:-1], d.segments[1:], strict=True):
            if down[a] != b:
                to = int(network.to[a])
                raise ConfigError(f"{where}: segments not contiguous: {fa} drains into {to}, not into {fb}; list the "
                                  "segments upstream first, each draining into the next")
        dams = set(int(f) for f in dam_feature_ids)
        for f, p in zip(d.segments, self.pos, strict=True):
            if f in dams:
                raise ConfigError(f"{where}: segment {f} is a reservoir's segment; a dam inside a main stem is not "
                                  "supported: end the main stem above the dam or start it below")
            if network.is_lake[p]:
                raise ConfigError(f"{where}: segment {f} is a lake; end the main stem above the lake or start it below")
        others = dict(d.other_stem_segments)
        self.joins: tuple[str, int] | None = None  # (main stem, its segment) the last segment drains into
        if down[self.pos[-1]] >= 0:
            into = int(network.to[self.pos[-1]])
            if into not in others:
                raise ConfigError(f"{where}: the last segment {d.segments[-1]} drains into {into}, not out of the network "
                                  "nor into another main stem; the coupling is one-way (the main stem's outflow is not "
                                  "fed back into the network), so a main stem must end at an outlet or in a segment of "
                                  "another main stem (a junction): extend it down")
            self.joins = (others[into], into)
        self.definition, self.network, self.where = d, network, where
        self._joined: tuple | None = None  # (ids, JoinedMainStems) where this main stem is the outlet of joined ones
        self.options = SolverOptions(dt=d.dt_s, output_interval=3600.0, inertia=d.inertia)
        self.reach = Reach(list(d.sections), max_dx=d.max_dx_m)
        x0, x1 = float(self.reach.chainage[0]), float(self.reach.chainage[-1])
        if d.segment_chainage is None:
            # default: cumulative network lengths, scaled to the surveyed length
            cum = np.cumsum(network.length[self.pos])
            ends = x0 + (x1 - x0) * cum / cum[-1]
        else:
            ends = np.asarray(d.segment_chainage, np.float64)
            if ends.size != len(d.segments):
                raise ConfigError(f"{where}: chainage_of_segments has {ends.size} values for {len(d.segments)} segments")
            if not (np.diff(ends) > 0).all() or ends[0] <= x0 or abs(ends[-1] - x1) > 1e-6 * max(1.0, x1):
                raise ConfigError(f"{where}: chainage_of_segments {list(ends)} must increase from above the first "
                                  f"section ({x0:g} m) and end at the last section ({x1:g} m)")
        starts = np.concatenate([[x0], ends[:-1]])
        self.start_chainage, self.end_chainage, self.mid_chainage = starts, ends, 0.5 * (starts + ends)
        self.end_node = np.array([int(np.argmin(np.abs(self.reach.chainage - x))) for x in ends], np.int64)
        start_node = np.concatenate([[0], self.end_node[:-1]])
        mid_node = np.array([int(np.argmin(np.abs(self.reach.chainage - x))) for x in self.mid_chainage])
        thin = np.flatnonzero(~((start_node < mid_node) & (mid_node < self.end_node)))
        if thin.size:
            k = int(thin[0])
            raise ConfigError(f"{where}: segment {d.segments[k]} spans chainage {starts[k]:g} .. {ends[k]:g} m, less "
                              f"than two computational reaches (max_dx_m {d.max_dx_m:g}); lower max_dx_m so its inflow "
                              "enters inside it")
        # tributaries: segments draining into a main-stem segment, other than the main stems themselves (another
        # main stem ending here joins at a junction); dams skipped (their release is already in the lateral
        # inflow of the segment below them)
        dam_pos = {position[f] for f in dams if f in position}
        on_stem = set(self.pos.tolist()) | {position[f] for f in others if f in position}
        self.feeders: list[NDArray[np.int64]] = []
        for p in self.pos:
            into = np.flatnonzero(down == p)
            self.feeders.append(np.array([j for j in into if j not in on_stem and j not in dam_pos], np.int64))

    @property
    def id(self) -> str:
        return self.definition.id

    def run(self, run, times: NDArray[np.datetime64], initial_flow: NDArray | None = None) -> MainStemResult:
        """Run the main stem on the operated network's ``run`` (:class:`OperatedRun`) over ``times`` (its hour
        ends); ``initial_flow`` [n] is the routing state's streamflow at the start (None: the first hour's)."""
        b = self.boundaries(run, times, initial_flow)
        result = SaintVenant(self.reach, self.options).run(b.upstream, self.definition.downstream, b.lateral)
        nodes = self.end_node
        return MainStemResult(self.id, np.asarray(self.definition.segments, np.int64), self.reach.chainage[nodes].copy(),
                              self.reach.thalweg[nodes].copy(), np.asarray(times), result.discharge[1:, nodes],
                              result.water_level[1:, nodes], result, b.volume, b.upstream, b.lateral)

    def boundaries(self, run, times: NDArray[np.datetime64], initial_flow: NDArray | None = None,
                   needs_upstream: bool = True) -> StemBoundaries:
        """The series the network gives the main stem on ``run`` (see ``run``); ``needs_upstream``: refuse a
        zero inflow into the first segment at the start (a reach joined at its head by another main stem
        takes it as lateral inflow instead)."""
        flow = np.asarray(run.flow, np.float64)
        hours = flow.shape[0]
        if len(times) != hours:
            raise ConfigError(f"{self.where}: {len(times)} times for a run of {hours} hours")
        start = (np.asarray(times[0]).astype("datetime64[ns]") - HOUR).astype("datetime64[ns]")
        first = flow[0] if initial_flow is None else np.asarray(initial_flow, np.float64)
        hourly = np.vstack([first[None, :], flow])  # [hours + 1, n] at start and each hour end
        hour_t = start + (np.arange(hours + 1) * 3600).astype("timedelta64[s]")
        q_up = hourly[:, self.feeders[0]].sum(axis=1)
        if needs_upstream and not q_up[0] > 0:
            raise InputDataError(f"{self.where}: the flow entering segment {self.definition.segments[0]} at "
                                 f"{str(start)[:16]} is {q_up[0]:g} m3/s; the run starts from a steady profile, which "
                                 "needs a flow: start the main stem below a tributary that carries a base flow")
        upstream = TimeSeries(hour_t, q_up, source=f"{self.where} (upstream inflow)", variable="discharge")
        # lateral at 10-minute steps, held over each step: breakpoints at each step's start and 1 s before its end
        lat = np.asarray(run.lateral, np.float64)[:, self.pos]  # [intervals, segments]
        step = float(run.interval_s)
        n_int = lat.shape[0]
        t_start = np.arange(n_int) * step
        t_s = np.concatenate([np.column_stack([t_start, t_start + step - 1.0]).ravel(), [n_int * step]])
        held = np.concatenate([np.repeat(lat, 2, axis=0), lat[-1:]])
        hour_s = np.arange(hours + 1) * 3600.0
        tributary = np.column_stack([np.interp(t_s, hour_s, hourly[:, f].sum(axis=1)) if f.size else np.zeros(t_s.size)
                                     for f in [np.zeros(0, np.int64), *self.feeders[1:]]])
        lateral = Lateral(start + (t_s * 1e9).astype("timedelta64[ns]"), self.mid_chainage.copy(), held + tributary,
                          source=f"{self.where} (lateral inflow)")
        trapezoid = lambda t, v: float(np.sum(0.5 * (v[1:] + v[:-1]) * np.diff(t)))  # noqa: E731
        volume = trapezoid(hour_s, q_up) + float(lat.sum() * step) + sum(
            trapezoid(hour_s, hourly[:, f].sum(axis=1)) for f in self.feeders[1:] if f.size)
        return StemBoundaries(upstream, lateral, volume)


@dataclass(frozen=True)
class StemBoundaries:
    upstream: TimeSeries  # into the first segment
    lateral: Lateral  # one point per segment
    volume: float  # [m3] all the network delivers into the main stem over the run


class JoinedMainStems:
    """Main stems joined at junctions (the last segment of one draining into a segment of another) run as one
    network (:class:`ReachNetwork`, every reach and junction solved together each step). A main stem ending in
    segment k of another joins it at the upstream end of segment k (where the network delivers a segment's
    upstream inflow); a main stem joined at its first segment's upstream end takes no upstream inflow, and
    what other segments deliver there enters it as lateral inflow at its first node."""

    def __init__(self, stems: Sequence[CoupledMainStem]):
        self.stems = list(stems)
        by_id = {s.id: s for s in self.stems}
        first = self.stems[0]
        for s in self.stems[1:]:
            if (s.options.dt, s.options.inertia) != (first.options.dt, first.options.inertia):
                raise ConfigError(f"{s.where}: dt_s {s.options.dt:g} and inertia {s.options.inertia!r} differ from main stem "
                                  f"{first.id!r} ({first.options.dt:g}, {first.options.inertia!r}); main stems joined at a "
                                  "junction are solved together: give them the same dt_s and inertia")
        junctions = []
        self.head_joined: set[str] = set()
        for s in self.stems:
            if s.joins is None:
                self.outlet = s
                continue
            receiving = by_id[s.joins[0]]
            k = receiving.definition.segments.index(s.joins[1])
            junctions.append(Junction(s.id, receiving.id, float(receiving.start_chainage[k]), s.definition.source))
            if k == 0:
                self.head_joined.add(receiving.id)
        self.network = ReachNetwork({s.id: list(s.definition.sections) for s in self.stems}, junctions,
                                    max_dx={s.id: s.definition.max_dx_m for s in self.stems},
                                    source=first.definition.source)
        self.options = first.options
        # each segment's downstream end: the network's node nearest it, above a confluence where one lies there
        self.end_nodes = {}
        for s in self.stems:
            mine = np.flatnonzero(self.network.node_reach == s.id)
            x = self.network.chainage[mine]
            self.end_nodes[s.id] = np.array([mine[int(np.argmin(np.abs(x - e)))] for e in s.end_chainage], np.int64)

    def run(self, run, times: NDArray[np.datetime64], initial_flow: NDArray | None = None) -> dict[str, MainStemResult]:
        series = {s.id: s.boundaries(run, times, initial_flow, needs_upstream=s.id not in self.head_joined)
                  for s in self.stems}
        upstream = {sid: b.upstream for sid, b in series.items() if sid not in self.head_joined}
        lateral = {}
        for s in self.stems:
            lat = series[s.id].lateral
            if s.id in self.head_joined:  # what other segments deliver into the first segment enters at its top
                up = series[s.id].upstream
                at = np.interp((lat.time - up.time[0]) / np.timedelta64(1, "s"), up.seconds_from(up.time[0]), up.values)
                lat = Lateral(lat.time, np.concatenate([[float(s.reach.chainage[0])], lat.chainage]),
                              np.column_stack([at, lat.discharge]), lat.source)
            lateral[s.id] = lat
        result = NetworkSaintVenant(self.network, self.options).run(upstream, self.outlet.definition.downstream, lateral)
        out = {}
        for s in self.stems:
            mine = np.flatnonzero(result.reach == s.id)
            whole = HydraulicsResult(result.time, result.chainage[mine], result.thalweg[mine], result.surveyed[mine],
                                     result.discharge[:, mine], result.water_level[:, mine], result.depth[:, mine],
                                     result.mass_balance, result.stats, result.above_top_nodes)
            nodes = self.end_nodes[s.id]
            b = series[s.id]
            out[s.id] = MainStemResult(s.id, np.asarray(s.definition.segments, np.int64), result.chainage[nodes].copy(),
                                       result.thalweg[nodes].copy(), np.asarray(times), result.discharge[1:, nodes],
                                       result.water_level[1:, nodes], whole, b.volume, b.upstream, lateral[s.id])
        return out


def run_main_stems(stems: Sequence[CoupledMainStem], run, times: NDArray[np.datetime64],
                   initial_flow: NDArray | None = None) -> dict[str, MainStemResult]:
    """Every main stem on one operated run: each alone where it ends at an outlet and none joins it, else with
    the main stems it is joined to (:class:`JoinedMainStems`, one network per outlet)."""
    by_id = {s.id: s for s in stems}
    groups: dict[str, list[CoupledMainStem]] = {}
    for s in stems:
        root, seen = s, {s.id}
        while root.joins is not None:
            if root.joins[0] not in by_id:
                raise ConfigError(f"{root.where}: its last segment drains into main stem {root.joins[0]!r}, which is not run")
            root = by_id[root.joins[0]]
            if root.id in seen:
                raise ConfigError(f"{s.where}: main stems {sorted(seen)} drain into each other in a loop")
            seen.add(root.id)
        groups.setdefault(root.id, []).append(s)
    out: dict[str, MainStemResult] = {}
    for root_id, members in groups.items():
        if len(members) == 1:
            out[root_id] = members[0].run(run, times, initial_flow)
            continue
        key = tuple(m.id for m in members)
        holder = by_id[root_id]
        cached = holder._joined
        if cached is None or cached[0] != key:
            cached = (key, JoinedMainStems(members))
            holder._joined = cached
        out.update(cached[1].run(run, times, initial_flow))
    return {s.id: out[s.id] for s in stems}
