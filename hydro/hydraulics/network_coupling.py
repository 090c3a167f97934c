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
* initial state: the main stem's hydraulic state at the run's start (:class:`MainStemState`, carried by the
  cycle's restart: the analysis continues the previous cycle's state, the forecast and the rehearsal start from
  the issue-time state), else the standard-step profile of the first inflows (the solver's own start).

Newton's discharge tolerance is fixed per main stem (``MainStemState.discharge_scale``, set when a run starts
from a steady profile and carried on), not taken from the largest inflow of each run's window as the command
does: a cycle continued from its restart then equals one longer run bit for bit.

The result is discharge and water level at each segment's downstream end (the computational node
nearest its chainage) at every hour end of the run.

Two-way where a main stem ends inside the network (:class:`StemOutlet`): when a run starts with the main
stem's hydraulic state, the operated network runs it in place (:meth:`hydro.routing.operated.OperatedNetwork.run`):
the network upstream of its last segment is routed first, the main stem runs on that, and the segments below
it are routed with the last segment's outflow set, at every routing step, to the hydraulics' discharge there,
so the water a main stem delays or attenuates reaches the reservoirs and sections below as the hydraulics
deliver it. A run without the state (a cold start's analysis window) runs the main stem afterwards, one-way,
on the Muskingum-Cunge flows. No file is opened here.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..network import RiverNetwork
from ..routing.channel import RoutingState
from .boundaries import Downstream, Lateral, TimeSeries
from .network import Junction, NetworkSaintVenant, ReachNetwork
from .sections import CrossSection, Reach
from .unsteady import HydraulicsResult, HydraulicState, SaintVenant, SolverOptions

HOUR = np.timedelta64(3600, "s")


@dataclass(frozen=True)
class MainStemState:
    """A main stem's hydraulic state between runs (restarts carry it): the solver's state (level and discharge
    per node, and one step before for the predictor), Newton's discharge scale [m3 s-1] (the tolerance is
    ``SolverOptions.tol_discharge`` times it) and the fingerprint of the geometry it was computed on."""

    hydraulic: HydraulicState
    discharge_scale: float
    geometry: str
    # [segments] m3 s-1: each segment's local lateral inflow over the network's last interval before the state's
    # time (held over it), where the next run's lateral series starts (its first interval's value follows)
    lateral: NDArray[np.float64] | None = None


@dataclass
class ChannelState(RoutingState):
    """The network's routing state with, at the same time, each main stem's :class:`MainStemState` (by id): what
    the rehearsal's runs (F1, F2, a what-if) start from, passed where a routing state goes."""

    main_stems: dict[str, MainStemState] = field(default_factory=dict)


def with_main_stems(routing: RoutingState | None, main_stems: dict | None) -> RoutingState | None:
    """``routing`` carrying ``main_stems`` (a :class:`ChannelState`), or ``routing`` itself when there are none."""
    if routing is None or not main_stems:
        return routing
    return ChannelState(routing.streamflow, routing.depth, routing.water_sfc_elev, dict(main_stems))


def geometry_fingerprint(definition: MainStemDefinition) -> str:
    """A hash of what fixes the main stem's computational nodes and their tables: every section (chainage,
    points, Manning n, banks), ``max_dx_m`` and ``dt_s``; a state saved on another geometry does not fit."""
    digest = hashlib.sha256(f"{definition.max_dx_m!r}|{definition.dt_s!r}".encode())
    for s in definition.sections:
        digest.update(f"|{s.name}|{s.chainage!r}|{s.left_bank!r}|{s.right_bank!r}|".encode())
        for values in (s.station, s.elevation, s.manning):
            digest.update(np.ascontiguousarray(values, np.float64).tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class MainStemDefinition:
    """A main stem as the basin file gives it, its files read (hydro.io.basin.main_stem_definitions)."""

    id: str
    segments: tuple[int, ...]  # feature ids, upstream first, each draining into the next
    sections: list[CrossSection]
    downstream: Downstream
    dt_s: float = 30.0
    inertia: str = "transcritical"
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
    final_state: MainStemState | None = None  # at the run's end: where the next run continues
    # [outputs] m3 s-1 at the last segment's downstream end at every output of the run (the routing step when
    # run in the network: what the segments below receive), the start excluded
    outflow: NDArray[np.float64] | None = None

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
        # network position of the segment below the last one when that is a plain network segment (the main
        # stem's outflow is fed to it: StemOutlet), else -1 (an outlet, or another main stem: a junction)
        self.below = -1
        if down[self.pos[-1]] >= 0:
            into = int(network.to[self.pos[-1]])
            if into in others:
                self.joins = (others[into], into)
            else:
                self.below = int(down[self.pos[-1]])
        self.definition, self.network, self.where = d, network, where
        self._joined: tuple | None = None  # (ids, JoinedMainStems) where this main stem is the outlet of joined ones
        ratio = 3600.0 / d.dt_s
        if abs(ratio - round(ratio)) > 1e-9:  # the solver's own message named neither the basin nor dt_s
            raise ConfigError(f"{where}: dt_s {d.dt_s:g} s does not divide the hour (the main stem reports at every "
                              "hour end); give a dt_s that divides 3600 s and the routing step (e.g. 30)")
        self.options = SolverOptions(dt=d.dt_s, output_interval=3600.0, inertia=d.inertia)
        self.geometry = geometry_fingerprint(d)
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
                raise ConfigError(f"{where}: chainage_of_segments [{', '.join(f'{e:g}' for e in ends)}] must increase from above the first "
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
        # a dam releasing into the first segment (a main stem starting below a dam): the first segment's lateral
        # inflow, which holds the release, enters at the top as upstream inflow, not at the segment's middle
        self.release_at_top = bool(np.isin(np.flatnonzero(down == self.pos[0]), list(dam_pos)).any())

    @property
    def id(self) -> str:
        return self.definition.id

    def run(self, run, times: NDArray[np.datetime64], initial_flow: NDArray | None = None,
            initial_state: MainStemState | None = None, output_interval: float = 3600.0) -> MainStemResult:
        """Run the main stem on the operated network's ``run`` (:class:`OperatedRun`) over ``times`` (its hour
        ends); ``initial_flow`` [n] is the routing state's streamflow at the start (None: the first hour's);
        ``initial_state``: the hydraulic state at the start (None: the steady profile of the first flows).
        ``output_interval`` [s] (dividing an hour): of ``hydraulics`` and ``outflow``; the solution is the same."""
        b = self.boundaries(run, times, initial_flow, needs_upstream=initial_state is None,
                            lateral_at_start=None if initial_state is None else initial_state.lateral)
        if initial_state is not None:
            self.check_state(initial_state, self.reach.chainage, initial_state.hydraulic.source, times,
                             thalweg=self.reach.thalweg)
            scale = initial_state.discharge_scale
        else:
            scale = start_discharge_scale([b.upstream], [b.lateral])
        lat_q = b.lateral.reach_matrix(self.reach)  # as SaintVenant.run scales its tolerance (see fixed_tolerance)
        solver_scale = max(float(np.max(b.upstream.values)), float(np.max(lat_q.sum(axis=1))) if lat_q.size else 0.0, 1e-3)
        options = dataclasses.replace(fixed_tolerance(self.options, scale, solver_scale), output_interval=output_interval)
        result = SaintVenant(self.reach, options).run(
            b.upstream, self.definition.downstream, b.lateral,
            initial_state=None if initial_state is None else initial_state.hydraulic)
        nodes, hourly = self.end_node, _hour_ends(output_interval)
        return MainStemResult(self.id, np.asarray(self.definition.segments, np.int64), self.reach.chainage[nodes].copy(),
                              self.reach.thalweg[nodes].copy(), np.asarray(times), result.discharge[hourly][:, nodes],
                              result.water_level[hourly][:, nodes], result, b.volume, b.upstream, b.lateral,
                              MainStemState(result.final_state, scale, self.geometry, self.last_lateral(run)),
                              result.discharge[1:, nodes[-1]].copy())

    def last_lateral(self, run) -> NDArray[np.float64]:
        """Each segment's local lateral inflow over ``run``'s last interval (where a continuation starts)."""
        return np.asarray(run.lateral[-1, self.pos], np.float64)

    def check_state(self, state: MainStemState, chainage: NDArray[np.float64], source: str,
                    times: NDArray[np.datetime64] | None = None, thalweg: NDArray[np.float64] | None = None) -> None:
        """Refuse (one line naming ``source`` and the main stem) a state saved on another geometry, step or node
        set, one holding NaN, a level below a node's dry-channel slot or deeper than any river (``thalweg``, per
        node), a discharge beyond any river's, or one not at the start of ``times`` (hour ends)."""
        where = f"{source}: main stem {self.id!r}"
        h = state.hydraulic
        if state.geometry != self.geometry:
            raise InputDataError(f"{where}: the hydraulic state was computed on another geometry (fingerprint "
                                 f"{state.geometry}, the basin's sections, max_dx_m and dt_s give {self.geometry}); start "
                                 "cold (--cold) or restore the main stem's sections")
        if abs(h.dt - self.options.dt) > 1e-9:
            raise InputDataError(f"{where}: the hydraulic state was saved with dt {h.dt:g} s, the main stem has dt_s "
                                 f"{self.options.dt:g}; start cold (--cold) or restore dt_s")
        arrays = (h.water_level, h.discharge, h.previous_water_level, h.previous_discharge)
        if any(a.shape != chainage.shape for a in arrays) or h.chainage.shape != chainage.shape or not np.allclose(
                h.chainage, chainage, rtol=0.0, atol=1e-6):
            raise InputDataError(f"{where}: the hydraulic state holds {h.chainage.size} nodes, the main stem has "
                                 f"{chainage.size} (or at other chainages); start cold (--cold)")
        if not all(np.isfinite(a).all() for a in arrays) or not state.discharge_scale > 0:
            raise InputDataError(f"{where}: the hydraulic state holds NaN or inf (or a discharge scale "
                                 f"{state.discharge_scale!r}); restore the file or start cold (--cold)")
        _check_state_values(h, chainage, thalweg, where)
        if times is not None:
            start = np.datetime64(times[0], "ns") - HOUR
            if np.datetime64(h.time, "ns") != start:
                raise InputDataError(f"{where}: the hydraulic state is valid at {str(h.time)[:16]}, the run starts at "
                                     f"{str(start)[:16]}")

    def boundaries(self, run, times: NDArray[np.datetime64], initial_flow: NDArray | None = None,
                   needs_upstream: bool = True, lateral_at_start: NDArray | None = None) -> StemBoundaries:
        """The series the network gives the main stem on ``run`` (see ``run``); ``needs_upstream``: refuse a
        zero inflow into the first segment at the start (a reach joined at its head by another main stem
        takes it as lateral inflow instead). The local lateral inflow is held over each network interval,
        reaching its value one second into the interval from the one before (``lateral_at_start`` [segments]
        before the first: the previous run's last; None: the first interval's): the series at an interval's end
        is that interval's value, so a run split there sees the same series as one uninterrupted run."""
        hours = run.flow.shape[0]
        if len(times) != hours:
            raise ConfigError(f"{self.where}: {len(times)} times for a run of {hours} hours")
        start = (np.asarray(times[0]).astype("datetime64[ns]") - HOUR).astype("datetime64[ns]")
        first = run.flow[0] if initial_flow is None else initial_flow

        def hourly_sum(columns: NDArray[np.int64]) -> NDArray[np.float64]:
            """[hours + 1] the summed flow of network ``columns`` at the start and each hour end (only those
            columns copied: the network may be national)."""
            q = np.vstack([np.asarray(first, np.float64)[columns][None, :], np.asarray(run.flow[:, columns], np.float64)])
            return q.sum(axis=1)

        hour_t = start + (np.arange(hours + 1) * 3600).astype("timedelta64[s]")
        q_up = hourly_sum(self.feeders[0])
        if needs_upstream and not q_up[0] > 0 and not self.release_at_top:
            raise InputDataError(f"{self.where}: the flow entering segment {self.definition.segments[0]} at "
                                 f"{str(start)[:16]} is {q_up[0]:g} m3/s; the run starts from a steady profile, which "
                                 "needs a flow: start the main stem below a tributary that carries a base flow")
        upstream = TimeSeries(hour_t, q_up, source=f"{self.where} (upstream inflow)", variable="discharge")
        # lateral at 10-minute steps, held over each step: breakpoints 1 s after each step's start and at its end
        lat = np.asarray(run.lateral[:, self.pos], np.float64)  # [intervals, segments]
        step = float(run.interval_s)
        n_int = lat.shape[0]
        t_start = np.arange(n_int) * step
        t_s = np.concatenate([[0.0], np.column_stack([t_start + 1.0, t_start + step]).ravel()])
        before = lat[:1] if lateral_at_start is None else np.asarray(lateral_at_start, np.float64)[None, :]
        if before.shape[1] != lat.shape[1]:
            raise InputDataError(f"{self.where}: the state's lateral inflow holds {before.shape[1]} segments, the main "
                                 f"stem {lat.shape[1]}; start cold (--cold)")
        held = np.concatenate([before, np.repeat(lat, 2, axis=0)])
        hour_s = np.arange(hours + 1) * 3600.0
        if self.release_at_top:  # the release (with the first segment's local inflow) enters at the top
            top = np.interp(t_s, hour_s, q_up) + held[:, 0]
            held = held.copy()
            held[:, 0] = 0.0
            if needs_upstream and not top[0] > 0:
                raise InputDataError(f"{self.where}: the flow entering segment {self.definition.segments[0]} at "
                                     f"{str(start)[:16]} is {top[0]:g} m3/s (the dam's release included); the run "
                                     "starts from a steady profile, which needs a flow")
            upstream = TimeSeries(start + (t_s * 1e9).astype("timedelta64[ns]"), top,
                                  source=f"{self.where} (upstream inflow: the dam's release and the first segment's "
                                         "inflow)", variable="discharge")
        tributary = np.column_stack([np.interp(t_s, hour_s, hourly_sum(f)) if f.size else np.zeros(t_s.size)
                                     for f in [np.zeros(0, np.int64), *self.feeders[1:]]])
        lateral = Lateral(start + (t_s * 1e9).astype("timedelta64[ns]"), self.mid_chainage.copy(), held + tributary,
                          source=f"{self.where} (lateral inflow)")
        trapezoid = lambda t, v: float(np.sum(0.5 * (v[1:] + v[:-1]) * np.diff(t)))  # noqa: E731
        volume = trapezoid(hour_s, q_up) + float(lat.sum() * step) + sum(
            trapezoid(hour_s, hourly_sum(f)) for f in self.feeders[1:] if f.size)
        return StemBoundaries(upstream, lateral, volume)


@dataclass(frozen=True)
class StemBoundaries:
    upstream: TimeSeries  # into the first segment
    lateral: Lateral  # one point per segment
    volume: float  # [m3] all the network delivers into the main stem over the run


def start_discharge_scale(upstream: Sequence[TimeSeries], lateral: Sequence[Lateral]) -> float:
    """Newton's discharge scale for a run started from a steady profile: all the water entering at the start
    (upstream and lateral), at least 1e-3 m3/s as the solver's own. Carried on in the state, so every
    continuation converges to the same tolerance as one uninterrupted run."""
    total = sum(float(u.values[0]) for u in upstream) + sum(float(lat.discharge[0].sum()) for lat in lateral)
    return max(total, 1e-3)


def fixed_tolerance(options: SolverOptions, scale: float, solver_scale: float) -> SolverOptions:
    """``options`` whose discharge tolerance is ``options.tol_discharge`` x ``scale`` although the solver
    multiplies it by the largest inflow of the run's window (``solver_scale``, computed here as it does)."""
    return dataclasses.replace(options, tol_discharge=options.tol_discharge * scale / solver_scale)


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

    def run(self, run, times: NDArray[np.datetime64], initial_flow: NDArray | None = None,
            initial_states: dict[str, MainStemState] | None = None,
            output_interval: float = 3600.0) -> dict[str, MainStemResult]:
        """As :meth:`CoupledMainStem.run`, every joined main stem together; ``initial_states`` (by id) holds
        all of them or none (None: the network's steady profile of the first flows)."""
        initial_states = initial_states or {}
        if initial_states and any(s.id not in initial_states for s in self.stems):
            missing = next(s for s in self.stems if s.id not in initial_states)
            source = next(iter(initial_states.values())).hydraulic.source
            raise InputDataError(f"{source}: main stem {missing.id!r}: no hydraulic state, but the main stems joined to "
                                 f"it have one; start cold (--cold)")
        series = {s.id: s.boundaries(run, times, initial_flow,
                                     needs_upstream=s.id not in self.head_joined and not initial_states,
                                     lateral_at_start=initial_states[s.id].lateral if initial_states else None)
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
        start = np.datetime64(times[0], "ns") - HOUR
        state = None
        if initial_states:
            z, q, z_prev, q_prev = (np.empty(self.network.size) for _ in range(4))
            for s in self.stems:
                mine = self.network.node_reach == s.id
                st = initial_states[s.id]
                s.check_state(st, self.network.chainage[mine], st.hydraulic.source, times, thalweg=self.network.thalweg[mine])
                h = st.hydraulic
                z[mine], q[mine], z_prev[mine], q_prev[mine] = (h.water_level, h.discharge, h.previous_water_level,
                                                                h.previous_discharge)
            scale = initial_states[self.outlet.id].discharge_scale
            state = HydraulicState(start, self.network.chainage.copy(), z, q, z_prev, q_prev, self.options.dt,
                                   self.network.node_reach.astype(str), initial_states[self.outlet.id].hydraulic.source)
        else:
            scale = start_discharge_scale(list(upstream.values()), list(lateral.values()))
        # the solver's own tolerance scale, computed as NetworkSaintVenant.run does (see fixed_tolerance)
        end = np.datetime64(times[-1], "ns")
        sources = [upstream[r] for r in self.network.sources]
        in_t = np.unique(np.concatenate([u.seconds_from(start) for u in sources]))
        in_q = np.column_stack([np.interp(in_t, u.seconds_from(start), u.values) for u in sources])
        _, lat_q = self.network.lateral_links(lateral, start, end)
        solver_scale = max(float(in_q.sum(axis=1).max()), float(lat_q.sum(axis=1).max()) if lat_q.size else 0.0, 1e-3)
        options = dataclasses.replace(fixed_tolerance(self.options, scale, solver_scale), output_interval=output_interval)
        result = NetworkSaintVenant(self.network, options).run(upstream, self.outlet.definition.downstream, lateral,
                                                               initial_state=state)
        hourly = _hour_ends(output_interval)
        final = result.final_state
        out = {}
        for s in self.stems:
            mine = np.flatnonzero(result.reach == s.id)
            whole = HydraulicsResult(result.time, result.chainage[mine], result.thalweg[mine], result.surveyed[mine],
                                     result.discharge[:, mine], result.water_level[:, mine], result.depth[:, mine],
                                     result.mass_balance, result.stats, result.above_top_nodes)
            nodes = self.end_nodes[s.id]
            b = series[s.id]
            part = HydraulicState(final.time, final.chainage[mine], final.water_level[mine], final.discharge[mine],
                                  final.previous_water_level[mine], final.previous_discharge[mine], final.dt)
            out[s.id] = MainStemResult(s.id, np.asarray(s.definition.segments, np.int64), result.chainage[nodes].copy(),
                                       result.thalweg[nodes].copy(), np.asarray(times), result.discharge[hourly][:, nodes],
                                       result.water_level[hourly][:, nodes], whole, b.volume, b.upstream, lateral[s.id],
                                       MainStemState(part, scale, s.geometry, s.last_lateral(run)),
                                       result.discharge[1:, nodes[-1]].copy())
        return out


def _hour_ends(output_interval: float) -> slice:
    """The outputs (the initial state first) at the hour ends of a run with ``output_interval`` [s]."""
    per_hour = 3600.0 / output_interval
    if output_interval <= 0 or abs(per_hour - round(per_hour)) > 1e-9:
        raise ConfigError(f"main stem output interval {output_interval:g} s does not divide an hour")
    per_hour = int(round(per_hour))
    return slice(per_hour, None, per_hour)


def _groups(stems: Sequence[CoupledMainStem]) -> dict[str, list[CoupledMainStem]]:
    """The main stems by the outlet main stem they drain into (itself where it ends at an outlet)."""
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
    return groups


def _joined(by_id: dict[str, CoupledMainStem], root_id: str, members: list[CoupledMainStem]) -> JoinedMainStems:
    """The joined network of ``members`` (built once, kept on the outlet main stem)."""
    key = tuple(m.id for m in members)
    holder = by_id[root_id]
    cached = holder._joined
    if cached is None or cached[0] != key:
        cached = (key, JoinedMainStems(members))
        holder._joined = cached
    return cached[1]


def run_main_stems(stems: Sequence[CoupledMainStem], run, times: NDArray[np.datetime64],
                   initial_flow: NDArray | None = None,
                   initial_states: dict[str, MainStemState] | None = None,
                   output_interval: float = 3600.0) -> dict[str, MainStemResult]:
    """Every main stem on one operated run: each alone where it ends at an outlet and none joins it, else with
    the main stems it is joined to (:class:`JoinedMainStems`, one network per outlet). ``initial_states`` (by
    id, e.g. a restart's): where each starts (a main stem without one: the steady profile of its first flows)."""
    by_id = {s.id: s for s in stems}
    initial_states = initial_states or {}
    out: dict[str, MainStemResult] = {}
    for root_id, members in _groups(stems).items():
        if len(members) == 1:
            out[root_id] = members[0].run(run, times, initial_flow, initial_states.get(root_id), output_interval)
            continue
        mine = {m.id: initial_states[m.id] for m in members if m.id in initial_states}
        out.update(_joined(by_id, root_id, members).run(run, times, initial_flow, mine or None, output_interval))
    return {s.id: out[s.id] for s in stems}


@dataclass(frozen=True)
class NetworkFlows:
    """What a main stem reads of an operated run (the ``run`` its methods take): hourly flow [hours, n] and
    lateral inflow [intervals, n] of the whole network, at ``interval_s``; e.g. part of a run (its last hour), or
    a run still routing (filled for the pieces routed so far: a main stem reads only its own zone's columns)."""

    flow: NDArray[np.float32]
    lateral: NDArray[np.float32]
    interval_s: float


class StemOutlet:
    """Main stems whose outlet main stem ends inside the network (its last segment drains into a plain
    segment, ``below``), with the main stems joined to it: the operated network runs them in place when a run
    starts with all their hydraulic states (module docstring), through :meth:`run` and :meth:`start_outflow`."""

    def __init__(self, members: Sequence[CoupledMainStem], joined: JoinedMainStems | None):
        self.members, self.joined = list(members), joined
        self.outlet = joined.outlet if joined is not None else self.members[0]
        self.ids = tuple(m.id for m in self.members)
        self.position = int(self.outlet.pos[-1])  # network position of the last segment
        self.below = self.outlet.below
        self.segment_positions = np.concatenate([m.pos for m in self.members])  # every main stem's segments

    def runs_with(self, states: dict | None) -> bool:
        """Whether ``states`` (id -> MainStemState) holds every member's: the main stems then run in place."""
        return bool(states) and all(i in states for i in self.ids)

    def _outlet_node(self) -> int:
        if self.joined is None:
            return int(self.outlet.end_node[-1])
        return int(self.joined.end_nodes[self.outlet.id][-1])

    def start_outflow(self, states: dict) -> float:
        """The discharge [m3 s-1] leaving the last segment in the hydraulic state at the run's start (the inflow
        the segment below saw at the previous routing step)."""
        node = self._outlet_node()
        if self.joined is None:
            return float(states[self.outlet.id].hydraulic.discharge[node])
        own = np.flatnonzero(self.joined.network.node_reach == self.outlet.id)
        return float(states[self.outlet.id].hydraulic.discharge[int(np.searchsorted(own, node))])

    def run(self, flow: NDArray, lateral: NDArray, interval_s: float, hours: int, initial_flow: NDArray,
            states: dict, step_s: float) -> tuple[dict[str, MainStemResult], NDArray[np.float64]]:
        """The main stems over ``hours`` from ``states`` (all valid at one time: the run's start) on the network's
        ``flow`` [hours, n] and ``lateral`` routed so far: their results (by id) and the last segment's outflow at
        every routing step ``step_s``."""
        start = np.datetime64(states[self.outlet.id].hydraulic.time, "ns")
        for i in self.ids:
            if np.datetime64(states[i].hydraulic.time, "ns") != start:
                raise InputDataError(f"{states[i].hydraulic.source}: main stem {i!r}: the hydraulic state is valid at "
                                     f"{str(states[i].hydraulic.time)[:16]}, main stem {self.outlet.id!r}'s at "
                                     f"{str(start)[:16]}; start cold (--cold)")
        times = start + np.arange(1, hours + 1) * HOUR
        mine = {i: states[i] for i in self.ids}
        results = run_main_stems(self.members, NetworkFlows(flow, lateral, interval_s), times, initial_flow, mine,
                                 output_interval=step_s)
        return results, results[self.outlet.id].outflow


def stem_outlets(stems: Sequence[CoupledMainStem], routing_dt: float) -> list[StemOutlet]:
    """The groups of ``stems`` whose outlet main stem feeds the network below it (:class:`StemOutlet`); their
    ``dt_s`` must divide the routing step ``routing_dt`` [s] (the segments below get the outflow at every one)."""
    by_id = {s.id: s for s in stems}
    out = []
    for root_id, members in _groups(stems).items():
        outlet = by_id[root_id]
        if outlet.below < 0:
            continue
        ratio = routing_dt / outlet.options.dt
        if abs(ratio - round(ratio)) > 1e-9:
            raise ConfigError(f"{outlet.where}: dt_s {outlet.options.dt:g} s does not divide the routing step "
                              f"{routing_dt:g} s; the segments below the main stem receive its outflow at every "
                              "routing step: give a dt_s that divides it (e.g. 30)")
        out.append(StemOutlet(members, _joined(by_id, root_id, members) if len(members) > 1 else None))
    return out


def _check_state_values(h, chainage: NDArray[np.float64], thalweg: NDArray[np.float64] | None, where: str) -> None:
    """Finite values no river holds (a restart edited with its checksum recomputed, or another datum) refused
    naming the node; the solver would fail the first step blaming its step and sections."""
    from ..core.variables import INPUT_VARIABLES
    from .sections import SLOT_DEPTH

    q_max = INPUT_VARIABLES["streamflow"].valid_range[1]
    for name, q in (("discharge", h.discharge), ("discharge one step before", h.previous_discharge)):
        k = int(np.argmax(np.abs(q)))
        if abs(q[k]) > q_max:
            raise InputDataError(f"{where}: the hydraulic state's {name} at chainage {chainage[k]:g} m is {q[k]:g} "
                                 f"m3 s-1, beyond any river's ({q_max:g}); restore the file or start cold (--cold)")
    if thalweg is None or thalweg.shape != chainage.shape:
        return
    depth_max = INPUT_VARIABLES["depth"].valid_range[1]
    for name, z in (("water level", h.water_level), ("water level one step before", h.previous_water_level)):
        depth = z - thalweg
        k = int(np.argmin(depth))
        if depth[k] < -SLOT_DEPTH - 1e-6:
            raise InputDataError(f"{where}: the hydraulic state's {name} at chainage {chainage[k]:g} m is {z[k]:.3f} m, "
                                 f"{-depth[k]:.3f} m below the bed there ({thalweg[k]:.3f} m): it was saved for other "
                                 "sections or another datum; restore the file or start cold (--cold)")
        k = int(np.argmax(depth))
        if depth[k] > depth_max:
            raise InputDataError(f"{where}: the hydraulic state's {name} at chainage {chainage[k]:g} m is {z[k]:.6g} m, "
                                 f"{depth[k]:.6g} m above the bed there ({thalweg[k]:.3f} m), deeper than any river "
                                 f"({depth_max:g} m); restore the file or start cold (--cold)")


def check_main_stem_states(stems: Sequence[CoupledMainStem], states: dict[str, MainStemState], source: str) -> None:
    """Refuse (one line naming ``source`` and the main stem) states that do not fit the basin's main stems: a
    main stem the basin does not have, another geometry, step or node set, NaN; joined main stems all or none."""
    by_id = {s.id: s for s in stems}
    unknown = sorted(set(states) - set(by_id))
    if unknown:
        raise InputDataError(f"{source}: main stem {unknown[0]!r}: the restart holds its hydraulic state, but the basin "
                             f"has no such main stem (it has {sorted(by_id) or 'none'}); start cold (--cold)")
    for root_id, members in _groups(stems).items():
        have = [m.id for m in members if m.id in states]
        if not have:
            continue
        if len(members) == 1:
            members[0].check_state(states[root_id], members[0].reach.chainage, source, thalweg=members[0].reach.thalweg)
            continue
        if len(have) != len(members):
            missing = next(m.id for m in members if m.id not in states)
            raise InputDataError(f"{source}: main stem {missing!r}: no hydraulic state, but the main stems joined to it "
                                 "have one; start cold (--cold)")
        network = _joined(by_id, root_id, members).network
        for m in members:
            mine = network.node_reach == m.id
            m.check_state(states[m.id], network.chainage[mine], source, thalweg=network.thalweg[mine])
