"""Rehearsal stage: forward (F1), inverse (I) and forward again (F2), with the risk indicators.

F1 is the forecast through the current operating rules, routed by the operated network
(``hydro.routing.operated``: the network cut at the dams, each dam operated on the inflow routed to it,
its release entering the segment below). In a cycle F1 is the forecast stage's own run, from the
issue-time state, and is not recomputed; the inverse linearises around it and F2 re-runs the derived
schedule from the same state. The rating gives stage, except on a Saint-Venant main stem (``main_stems``,
hydro/hydraulics/network_coupling.py) or a legacy ``main_stem`` routed by the diffusive wave, where discharge
and stage come from the hydrodynamics.

Indicators follow shared/domain/rehearsal.md section 4: per control section the peak discharge and
stage and their time, hours above the warning and guaranteed stages and the excess volume above the
safe discharge; per reservoir the peak level against its characteristic levels and the flood storage
used and left (flood-limit to flood-control high level).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..io.basin import BasinSpec, check_on_network
from ..network import RiverNetwork
from ..reservoir.operation import DamStart, OperationResult
from ..routing.channel import MuskingumCunge, RoutingState
from ..routing.detention import DetentionRecord
from ..routing.operated import OperatedNetwork, OperatedRun, Reusable, routed_lakes
from .dispatch_lp import WarmLP, solve_lp
from .reservoir_route import MAX_DISCHARGE_M3S


@dataclass
class SectionIndicators:
    id: str
    peak_discharge: float
    peak_time: str
    peak_stage: float
    safe_discharge: float
    hours_above_warning: float
    hours_above_guaranteed: float
    excess_volume_m3: float
    # the peak discharge is above the top of the section's rating: the stage shown is the rating's top (the
    # stage is at least that; the rating says nothing beyond it)
    stage_above_rating: bool = False


@dataclass
class ReservoirIndicators:
    id: str
    peak_level: float
    peak_time: str
    flood_limit_level: float
    flood_control_high_level: float
    design_level: float
    check_level: float
    flood_storage_used_m3: float
    flood_storage_left_m3: float
    peak_release: float
    binding_steps: dict[str, int] = field(default_factory=dict)


@dataclass
class ForwardResult:
    times: NDArray[np.datetime64]  # hourly, end of each interval
    section_discharge: dict[str, NDArray[np.float64]]
    section_stage: dict[str, NDArray[np.float64]]
    reservoirs: dict[str, OperationResult]
    reservoir_inflow: dict[str, NDArray[np.float64]]
    sections: list[SectionIndicators]
    reservoir_indicators: list[ReservoirIndicators]
    flow: NDArray[np.float64]  # [n_hours, n] every segment's outflow (on a dam's segment: the dam's inflow)
    lateral: NDArray[np.float64]  # [n_hours, n] hourly mean lateral inflow routed, releases entered below each dam
    run: OperatedRun  # the run itself (final state, lateral at its own interval)
    initial: RoutingState | None = None  # the channel state it started from (None: cold)
    # main stems run by the Saint-Venant solver on this run (hydro.hydraulics.network_coupling), by id
    main_stems: dict = field(default_factory=dict)
    stage_source: dict[str, str] = field(default_factory=dict)  # per section: where its stage comes from


def _route_difference(model: MuskingumCunge, lateral: NDArray, changed: NDArray, initial: RoutingState | None,
                      chunk_hours: int = 6) -> NDArray[np.float64]:
    """Hourly outflow of ``model`` for hourly ``changed`` minus that for ``lateral`` [n_hours, n], both from
    ``initial``: routed ``chunk_hours`` at a time, and stopped once the two runs have reached the same state bit for
    bit with the same inflow still to come (the rest is then zero, exactly what routing it would give). A one-hour
    pulse dies out on a dam's path within about a day: the tail of the horizon + 48 h need not be routed twice."""
    n_hours = lateral.shape[0]
    out = np.zeros((n_hours, model.network.size))
    steps_per_hour = int(round(3600.0 / model.dt))
    state_a = state_b = initial
    for h in range(0, n_hours, chunk_hours):
        if h and state_a.same_as(state_b) and np.array_equal(lateral[h:], changed[h:]):  # h > 0: both routed
            break
        end = min(h + chunk_hours, n_hours)
        runs = []
        for series, state in ((lateral, state_a), (changed, state_b)):
            result = model.run(np.ascontiguousarray(series[h:end], np.float32), 3600.0, (end - h) * steps_per_hour,
                               state, steps_per_hour)
            model.check_converged(result)
            runs.append(result)
        out[h:end] = runs[1].streamflow.astype(np.float64) - runs[0].streamflow.astype(np.float64)
        state_a, state_b = runs[0].final_state, runs[1].final_state
    return out


def _route_model_state(model: MuskingumCunge, lateral: NDArray, initial: RoutingState | None = None) -> RoutingState | None:
    """The state of ``model`` after routing hourly ``lateral`` from ``initial`` (cold when None)."""
    if not lateral.shape[0]:
        return initial
    steps_per_hour = int(round(3600.0 / model.dt))
    result = model.run(np.ascontiguousarray(lateral, np.float32), 3600.0, lateral.shape[0] * steps_per_hour, initial,
                       steps_per_hour)
    model.check_converged(result)
    return result.final_state


def forward(network: RiverNetwork, basin: BasinSpec, lateral: NDArray, times: NDArray[np.datetime64],
            start: dict[str, DamStart] | None = None, schedules: dict[str, NDArray] | None = None,
            dt: float = 300.0, routing: OperatedNetwork | None = None, initial: RoutingState | None = None,
            interval_s: float = 3600.0, solver: str = "nwm", diversions: dict[str, NDArray] | None = None,
            detention: dict[str, float] | None = None, reuse: Reusable | None = None,
            nudging_for=None) -> ForwardResult:
    """F1 (or F2 with ``schedules``): route ``lateral`` [n_intervals, n] (m3 s-1, network order, each held
    over ``interval_s``) through the basin's reservoirs under their rules (or ``schedules`` [n_hours] of
    releases) from the channel state ``initial`` (the issue-time state; cold when None) and score the
    control sections. Each dam starts from ``start`` (level, gate setting, storage, e.g. carried from the
    previous cycle), else at its flood-limit level. ``routing`` (the operated network, which fixes dt and
    solver) is built from ``dt`` and ``solver`` when not given; pass it to reuse it. Detention basins divert
    by their trigger rules, or by ``diversions`` [n_hours] for the basins it names; ``detention`` is the volume
    [m3] each holds at the start (empty when None). ``reuse``: an earlier run from the same start whose
    unaffected pieces are copied, not routed again (:class:`hydro.routing.operated.Reusable`). ``nudging_for``: the
    forecast's carried gauge corrections (a cycle's F1 has them; F2 and a what-if then carry the same, so the
    three differ only by the releases)."""
    routing = routing or operated_network(network, basin, None, dt, solver)
    run = routing.run(np.asarray(lateral), interval_s, len(times), initial, start, schedules, nudging_for=nudging_for,
                      diversions=diversions, detention=detention, reuse=reuse)
    return score(basin, routing, run, times, initial)


def score(basin: BasinSpec, routing: OperatedNetwork, run: OperatedRun, times: NDArray[np.datetime64],
          initial: RoutingState | None = None) -> ForwardResult:
    """Control-section series and indicators of an operated run (rehearsal.md section 4). The rating gives
    stage, except on a Saint-Venant main stem of ``main_stems`` (run here on ``run``: F1, F2 and a what-if
    alike; docs/hydraulics.md "Main stems in the twin") or on a legacy ``main_stem`` routed by the diffusive
    wave, where discharge and stage come from the hydrodynamics (``stage_source`` says which, per section)."""
    network, position = routing.network, routing.position
    flow = run.flow.astype(np.float64)
    lateral = run.hourly_lateral()
    for section in basin.control_sections:
        if section.feature_id not in position:
            raise ConfigError(f"{basin.name}: {section.id} sits on feature_id {section.feature_id}, "
                              "which is not in the network")
    stems = dict(run.main_stems)  # main stems the network ran in place (feeding the segments below them)
    if basin.main_stems and len(stems) < len(basin.main_stems):  # the others run on this run (F1, F2, a what-if)
        from ..hydraulics.network_coupling import run_main_stems

        rest = [m for m in coupled_main_stems(basin, routing) if m.id not in stems]
        stems.update(run_main_stems(rest, run, times, None if initial is None else initial.streamflow,
                                    getattr(initial, "main_stems", None)))  # the issue-time hydraulics (ChannelState)
    on_stem = {int(f): (sid, k) for sid, r in stems.items() for k, f in enumerate(r.feature_id)}
    stage_source: dict[str, str] = {}
    stem = None
    if basin.main_stem:
        from ..routing.mainstem import MainStem

        stem_ids = list(basin.main_stem)
        stem_lateral = lateral.copy()
        stem_lateral[:, routing.in_dam_zone] = 0.0  # their water arrives as the releases
        stem = MainStem(network, stem_ids).run(stem_lateral, routing.dt)
    section_q, section_h, section_ind = {}, {}, []
    for section in basin.control_sections:
        if section.feature_id in on_stem:
            # on a Saint-Venant main stem: discharge and water level at the segment's downstream end
            sid, k = on_stem[section.feature_id]
            r = stems[sid]
            q = r.discharge[:, k]
            if section.bed_datum_m is not None:
                h = section.bed_datum_m + r.depth()[:, k]
                stage_source[section.id] = f"hydraulics (main stem {sid}): bed_datum_m + depth above the thalweg"
            else:
                h = r.water_level[:, k].copy()
                stage_source[section.id] = f"hydraulics (main stem {sid}): water level in the sections' datum"
        elif stem is not None and section.feature_id in stem_ids:
            # on the main stem: discharge and stage from the hydrodynamic model
            k = stem_ids.index(section.feature_id)
            q = stem.discharge[:, k]
            h = section.bed_datum_m + stem.depth[:, k]
            stage_source[section.id] = "diffusive wave (legacy main_stem): bed_datum_m + depth"
        else:
            q = run.passing(position[section.feature_id])  # below a detention basin's inlet where one sits
            h = section.stage(q)
            stage_source[section.id] = "rating (network discharge)"
        i = int(np.argmax(q))
        section_q[section.id], section_h[section.id] = q, h
        beyond = stage_source[section.id].startswith("rating") and float(q[i]) > section.rating_discharge_m3s[-1]
        section_ind.append(SectionIndicators(
            section.id, float(q[i]), str(times[i])[:16], float(h[i]), section.safe_discharge,
            float((h > section.warning_stage).sum()), float((h > section.guaranteed_stage).sum()),
            float(np.clip(q - section.safe_discharge, 0.0, None).sum() * 3600.0), beyond))
    reservoir_ind = []
    for reservoir in basin.reservoirs:
        op = run.operations[reservoir.id]
        curves = reservoir.curves()
        i = int(np.argmax(op.level))
        limit = curves.storage(reservoir.flood_limit_level)
        high = curves.storage(reservoir.flood_control_high_level)
        reservoir_ind.append(ReservoirIndicators(
            reservoir.id, float(op.level[i]), str(times[i - 1])[:16] if i else "start",
            reservoir.flood_limit_level, reservoir.flood_control_high_level, reservoir.design_level,
            reservoir.check_level, float(max(op.storage.max() - limit, 0.0)), float(high - op.storage.max()),
            float(op.release.max()), {k: op.binding.count(k) for k in sorted(set(op.binding))}))
    return ForwardResult(times, section_q, section_h, run.operations, run.inflow, section_ind, reservoir_ind, flow,
                         lateral, run, initial, stems, stage_source)


_COUPLED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def coupled_main_stems(basin: BasinSpec, routing: OperatedNetwork) -> list:
    """The basin's main stems checked against ``routing``'s network and dams, built once per operated network;
    those feeding the segments below them are attached to it (run in place: two-way coupling)."""
    from ..hydraulics.network_coupling import CoupledMainStem, stem_outlets

    key = tuple(m.id for m in basin.main_stems)
    cached = _COUPLED.get(routing)
    if cached is None or cached[0] != key:
        dams = [d.feature_id for d in routing.dams]
        cached = (key, [CoupledMainStem(routing.network, m.definition, dams) for m in basin.main_stems])
        _check_detention_off_main_stems(basin, cached[1])
        _COUPLED[routing] = cached
        routing.attach_main_stems(stem_outlets(cached[1], routing.dt))
    return cached[1]


def _check_detention_off_main_stems(basin: BasinSpec, stems: list) -> None:
    """Refuse a detention basin whose inlet, or whose trigger section, is on a main stem: its trigger and
    intake read the Muskingum-Cunge flow there, which the main stem's hydraulics replace."""
    on_stem = {int(f): s.id for s in stems for f in s.definition.segments}
    sections = {c.id: c.feature_id for c in basin.control_sections}
    for d in getattr(basin, "detention_basins", ()):
        for what, feature in (("its inlet segment", d.feature_id), (f"its trigger section {d.trigger_section!r}",
                                                                     sections.get(d.trigger_section))):
            if feature is not None and int(feature) in on_stem:
                raise ConfigError(f"{basin.name}: detention basin {d.id!r}: {what} ({feature}) is on main stem "
                                  f"{on_stem[int(feature)]!r}, whose hydraulics replace the network flow there that "
                                  "the basin's trigger and intake read; place the inlet and trigger below or above "
                                  "the main stem")


def operated_network(network: RiverNetwork, basin: BasinSpec, lakes=None, dt: float = 300.0,
                     solver: str = "nwm") -> OperatedNetwork:
    """The basin's operated network with its main stems attached (:func:`coupled_main_stems`)."""
    routing = OperatedNetwork.for_basin(network, basin, lakes, dt, solver)
    if getattr(basin, "main_stems", None):
        coupled_main_stems(basin, routing)
    return routing


@dataclass
class RehearsalInputs:
    """What the rehearsal and the plan start from: the basin, its operated network (which fixes the routing
    step and solver), the forecast lateral inflow and the issue-time state. In a cycle these come from the
    forecast stage, with its F1 (the forecast itself); ``hydro rehearse`` and ``hydro plan`` read them
    from files."""

    network: RiverNetwork
    basin: BasinSpec
    routing: OperatedNetwork
    lateral: NDArray[np.float32]  # [n_intervals, n] network order
    interval_s: float
    times: NDArray[np.datetime64]  # hour ends
    start: dict[str, DamStart]  # the dams at the issue time
    initial: RoutingState | None  # the channel at the issue time (None: cold)
    f1: ForwardResult | None = None  # the forecast through the current rules, when already run
    source: str = ""  # what the forecast is, for the reports
    # the gauge corrections the forecast carried from the issue time (a cycle's [assimilation]); F2 and what-ifs
    # carry them as F1 did, so they differ from F1 only by the releases
    nudging_for: Callable | None = None
    # the forecast's lateral inflow past the horizon (``--hours`` shorter than the forecast): the tail routes it
    # before it holds the last hour (persistence would understate a flood still rising at the horizon)
    beyond: NDArray[np.float32] | None = None
    given_start: tuple[str, ...] = ()  # reservoirs whose start the user gave (--initial-level), not the cycle's state
    _tail: Tail | None = field(default=None, repr=False)

    def dam_starts(self) -> dict[str, dict]:
        """Per reservoir where it started and from what: the user's --initial-level, the cycle's issue-time state,
        or its flood-limit level (what the summaries record, so a run from an override says so)."""
        out = {}
        for res in self.basin.reservoirs:
            begin = self.start.get(res.id)
            source = ("--initial-level" if res.id in self.given_start else "issue-time state" if begin is not None
                      else "flood-limit level")
            out[res.id] = {"level_m": round(float(begin.level if begin is not None else res.flood_limit_level), 3),
                           "gate_release_m3s": None if begin is None or begin.release is None else float(begin.release),
                           "source": source}
        return out

    @classmethod
    def of(cls, network: RiverNetwork, basin: BasinSpec, lateral: NDArray, times: NDArray, interval_s: float = 3600.0,
           start: dict[str, DamStart] | None = None, initial: RoutingState | None = None, dt: float = 300.0,
           solver: str = "nwm", source: str = "") -> RehearsalInputs:
        """Inputs from arrays: the network is cut at the basin's dams with ``dt`` and ``solver``."""
        return cls(network, basin, operated_network(network, basin, None, dt, solver),
                   np.asarray(lateral, np.float32), interval_s, times, dict(start or {}), initial, source=source)

    def tail(self) -> Tail:
        """The routing tail past the horizon (``extend_f1`` of F1; computed once, then kept)."""
        if self._tail is None:
            self._tail = extend_f1(self.network, self.basin, self.routing, self.forward(), self.lateral, self.interval_s,
                                   after=self.beyond)
        return self._tail

    def verify(self, schedules: dict[str, NDArray]) -> tuple[ForwardResult, bool]:
        """A release schedule run as F2 runs it (horizon and tail from the issue-time state) and its
        verdict (every section within its target, every dam at or below its flood-control high level):
        one forward run, so a centre can try many variants."""
        return verify_schedule(self.network, self.basin, self.routing, self.lateral, self.tail(), schedules,
                               self.start, self.initial, self.interval_s, nudging_for=self.nudging_for)

    def forward(self) -> ForwardResult:
        """F1: the forecast through the current rules (run once, then kept)."""
        if self.f1 is None:
            self.f1 = forward(self.network, self.basin, self.lateral, self.times, self.start, routing=self.routing,
                              initial=self.initial, interval_s=self.interval_s, nudging_for=self.nudging_for)
        return self.f1


def load_rehearsal_inputs(basin_file, forecast_file, hours: int | None = None, start: dict | None = None,
                          dt: float | None = None, solver: str | None = None) -> RehearsalInputs:
    """The basin TOML (with its network and lakes) and the forecast ``qlat(time, feature_id)`` [m3 s-1] (the
    layout ``hydro route`` reads, at an interval dividing an hour); with ``hours``, the first ``hours`` of it
    (the forecast must cover them). A ``hydro run`` cycle folder (or its forecast.nc) brings its issue-time
    state (the restart its forecast stage wrote: channels, lakes, dams) and its routing step and solver;
    otherwise the channels start cold. ``start`` sets dams' levels and gate settings over either;
    ``dt`` / ``solver`` override the numerics (default 300 s, 'nwm', or the cycle's)."""
    from pathlib import Path

    from ..io.basin import read_basin
    from ..io.netcdf import read_network

    basin_file = Path(basin_file)
    basin = read_basin(basin_file)
    if basin.network is None:
        raise ConfigError(f"{basin_file}: 'network' (a hydro network file) is required for rehearsal")
    network, lakes = read_network(basin_file.parent / basin.network)
    check_on_network(basin, basin_file, network.feature_id)
    lateral, times, interval_s = read_forecast_lateral(forecast_file, network)
    beyond = None
    if hours is not None:
        if hours > len(times):
            raise ConfigError(f"{forecast_file}: forecast covers {len(times)} h ({str(times[0] - np.timedelta64(1, 'h'))[:16]}"
                              f" .. {str(times[-1])[:16]}), the rehearsal horizon is {hours} h; extend the forecast or "
                              "shorten --hours")
        per_hour = int(round(3600.0 / interval_s))
        beyond = np.asarray(lateral[hours * per_hour:], np.float32) if hours < len(times) else None
        lateral, times = lateral[:hours * per_hour], times[:hours]
    cycle = _cycle_state(Path(forecast_file), basin.name)
    numerics = cycle["numerics"] if cycle else {}
    dt = dt if dt is not None else numerics.get("dt_s", 300.0)
    solver = solver if solver is not None else numerics.get("solver", "nwm")
    routing = operated_network(network, basin, routed_lakes(network, lakes), dt, solver)
    initial, dams = None, {}
    if cycle:
        state = cycle["state"]
        routing.check_state(state.routing, cycle["path"])
        initial, dams = state.routing, {k: v for k, v in state.dams.items() if k in routing.zones}
        if basin.main_stems:  # the main stems start from the issue-time hydraulic state where the restart has it
            from ..hydraulics.network_coupling import with_main_stems

            initial = with_main_stems(initial, state.main_stems)
    dams.update(start or {})
    return RehearsalInputs(network, basin, routing, np.asarray(lateral, np.float32), interval_s, times, dams, initial,
                           source=str(forecast_file), beyond=beyond, given_start=tuple(start or ()))


def _cycle_state(forecast, basin_name: str) -> dict | None:
    """The issue-time state and numerics of the ``hydro run`` cycle a forecast argument belongs to (a cycle
    folder or its forecast.nc), or None for any other forecast file."""
    import json

    from ..io.restart import read_restart

    folder = forecast if forecast.is_dir() else forecast.parent
    summary = folder / "summary.json"
    if not (summary.is_file() and (forecast.is_dir() or forecast.name == "forecast.nc")):
        return None
    try:
        info = json.loads(summary.read_text())
        restart = info["forecast_stage"]["restart"]
        issue = np.datetime64(info["forecast"].split(" .. ")[0], "m")
    except (ValueError, KeyError, TypeError):
        raise InputDataError(f"{summary}: not a hydro cycle summary (no forecast_stage.restart); rerun the "
                             "forecast stage of this cycle") from None
    if info.get("basin") != basin_name:
        raise ConfigError(f"{summary}: this cycle ran basin {info.get('basin')!r}, the basin file is {basin_name!r}")
    state = read_restart(Path(restart), basin_name, info["config_hash"], issue)
    return {"state": state, "path": restart, "numerics": info.get("numerics", {}).get("forecast", {})}


def read_forecast_lateral(forecast_file, network: RiverNetwork):
    """Forecast lateral inflow [n_intervals, n] in ``network``'s order (none on collapsed lake nodes, as the
    NWM routes them), the hour-end times and the interval [s], over the whole forecast."""
    from pathlib import Path

    from ..io.nwm import read_lateral

    forecast = read_lateral(_lateral_file(Path(forecast_file)))
    per_hour = 3600 / forecast.interval_s
    if forecast.interval_s > 3600 or per_hour != int(per_hour) or forecast.time.size % int(per_hour):
        raise ConfigError(f"{forecast_file}: forecast step is {forecast.interval_s} s over {forecast.time.size} steps; "
                          "rehearsal needs whole hours of qlat at a step that divides an hour")
    per_hour = int(per_hour)
    times = forecast.time[per_hour - 1::per_hour] + np.timedelta64(forecast.interval_s, "s")  # hour ends
    lateral = forecast.for_features(network.feature_id, optional=network.is_lake)
    return lateral, times, float(forecast.interval_s)


def _lateral_file(path):
    """The lateral inflow behind a forecast argument: a qlat file or CHRTOUT folder as given, or a forecast
    stage output (a ``hydro run`` cycle folder, or its forecast.nc) -> the cycle's forecast_qlat.nc."""
    from pathlib import Path

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    cycle_qlat = folder / "forecast_qlat.nc"
    if cycle_qlat.is_file() and (path.is_dir() or path.name == "forecast.nc"):
        if not (folder / "COMPLETE").is_file():  # hydro run writes COMPLETE last: without it a run died mid-way
            raise InputDataError(f"{folder}: this hydro run cycle did not complete (no COMPLETE marker; its files may "
                                 "be from a killed run); rerun the cycle (hydro run) before rehearsing from it")
        return cycle_qlat
    return path


def read_schedule(path, basin: BasinSpec, times: NDArray[np.datetime64]) -> dict[str, NDArray[np.float64]]:
    """A dispatcher's schedule CSV (``time,reservoir,release_m3s``; each release holds from its time until
    the reservoir's next row) as hourly releases [hours] per named reservoir over the forecast hours
    ending at ``times``. Reservoirs it does not name follow their rules. Each reservoir's first row must
    be at the forecast start. Times are ISO and on the hour (the rehearsal's step), UTC, or with a UTC offset
    that is converted (``2026-07-01T14:00+08:00`` is 06:00). One line names the file, the row and the value
    of any problem."""
    from datetime import datetime
    from types import SimpleNamespace

    from ..core.times import utc_naive
    from ..io.tables import read_table

    path = Path(path)
    table = read_table(path, "schedule CSV")
    missing = {"time", "reservoir", "release_m3s"} - set(table.header)
    if missing or not table.rows:
        raise InputDataError(f"{path}: a schedule needs rows with columns time,reservoir,release_m3s "
                             f"({'missing ' + ', '.join(sorted(missing)) if missing else 'no rows'})")
    starts = (times - np.timedelta64(1, "h")).astype("datetime64[m]")  # each forecast hour's start
    known = {r.id for r in basin.reservoirs}
    rows: dict[str, list[tuple[np.datetime64, float]]] = {}
    for k, fields in table.records():  # k: the physical line (the header is line 1; blank, # lines count)
        row = SimpleNamespace(**fields)
        where = f"{path} row {k}"
        if None in fields.values() or not row.time:  # a short row: pandas would have read NaT, a time nowhere
            raise InputDataError(f"{where}: time {row.time!r} / release_m3s {row.release_m3s} is not a time and a "
                                 "number")
        if row.reservoir not in known:
            raise InputDataError(f"{where}: reservoir {row.reservoir!r} is not in basin {basin.name} "
                                 f"(have {', '.join(sorted(known))})")
        try:  # ISO only (07/01/2026 is not a date everywhere alike); an offset is converted to UTC, never dropped
            stamp = utc_naive(datetime.fromisoformat(str(row.time).strip()))
        except ValueError:
            raise InputDataError(f"{where}: time {row.time!r} is not an ISO time (e.g. 2026-07-01T04:00, or "
                                 "2026-07-01T12:00+08:00 with its UTC offset)") from None
        try:
            q = float(row.release_m3s)
        except (ValueError, TypeError):
            raise InputDataError(f"{where}: release_m3s {row.release_m3s!r} is not a number") from None
        t = np.datetime64(stamp, "m")
        if stamp.minute or stamp.second or stamp.microsecond:  # the rehearsal steps hourly: say so, don't round
            raise InputDataError(f"{where}: time {row.time} is not on the hour; a release holds from an hour's start "
                                 f"(the rehearsal's step): give {str(t.astype('datetime64[h]'))[:13]}:00 or the next hour")
        if not np.isfinite(q) or q < 0.0:
            raise InputDataError(f"{where}: release_m3s {row.release_m3s} must be a finite number >= 0")
        if q > MAX_DISCHARGE_M3S:  # beyond any river's flood: a unit or a typing error (as hydro reservoir route)
            raise InputDataError(f"{where}: release_m3s {row.release_m3s} is above {MAX_DISCHARGE_M3S:g} m3 s-1, more "
                                 "than any river carries; check the value and its units")
        if t < starts[0] or t > starts[-1]:
            raise InputDataError(f"{where}: time {row.time} is outside the rehearsal horizon ({str(starts[0])[:16]} .. "
                                 f"{str(starts[-1])[:16]}, hour starts: the forecast, or its first --hours)")
        for t_seen, q_seen, k_seen in rows.get(row.reservoir, ()):  # which of two releases holds is not ours to guess
            if t_seen == t and q_seen != q:
                raise InputDataError(f"{path} rows {k_seen} and {k}: two releases for {row.reservoir} at "
                                     f"{str(t)[:16]} ({q_seen:g} and {q:g} m3/s); keep one of the two rows")
        rows.setdefault(row.reservoir, []).append((t, q, k))
    schedules = {}
    for rid, items in rows.items():
        items.sort(key=lambda item: item[0])
        if items[0][0] != starts[0]:
            raise InputDataError(f"{path}: {rid}'s first release is at {str(items[0][0])[:16]}, after the forecast "
                                 f"start {str(starts[0])[:16]}; give its release from the start")
        when = np.array([t for t, _, _ in items])
        value = np.array([q for _, q, _ in items])
        schedules[rid] = value[np.searchsorted(when, starts, side="right") - 1]
    return schedules


def _m3s(value: float) -> str:
    """A discharge as a dispatcher reads it: whole m3 s-1, with a decimal where rounding would hide the difference."""
    return f"{value:,.0f}" if abs(value - round(value)) < 0.05 else f"{value:,.1f}"


def cannot_follow(result: ForwardResult, basin: BasinSpec, schedules: dict[str, NDArray]) -> list[dict]:
    """Every hour where a reservoir did not release what its schedule asked, with the limit that bound
    (the reservoir operation's own record): capacity at the level reached, the ramp limit, the minimum
    release, or dam safety (water above the flood-control high level passed on)."""
    events = []
    specs = {r.id: r for r in basin.reservoirs}
    for rid in schedules:
        for event in result.reservoirs[rid].cannot_follow:
            when = str(result.times[event.step] - np.timedelta64(1, "h"))[:16]
            spec = specs[rid]
            limit = event.limit  # what the operation recorded as binding in that hour
            if event.released > event.wanted and limit == "capacity":
                limit = "dam safety"  # it wanted more than the gates pass: above the flood-control high level
            reason = {"capacity": f"capacity at {event.level:.2f} m (the lowest level in the hour) is {event.capacity:,.0f}",
                      "dam safety": f"above the flood-control high level {spec.flood_control_high_level} m dam safety "
                                    "passes the water on",
                      "ramp": f"the ramp limit is {spec.max_ramp_per_hour:,.0f} m3/s per hour from the gate setting before",
                      "minimum": f"the minimum release is {_m3s(spec.min_release)} m3/s"}.get(limit, limit)
            if event.released > event.wanted:  # more than asked: dam safety, the minimum release or a ramp down
                message = (f"{rid} releases {_m3s(event.released)} m3/s at {when}, not the {_m3s(event.wanted)} "
                           f"scheduled: {reason}")
            else:
                message = f"{rid} cannot release {_m3s(event.wanted)} m3/s at {when}: {reason} (released {_m3s(event.released)})"
            events.append({"reservoir": rid, "time": when, "wanted_m3s": round(event.wanted, 1),
                           "released_m3s": round(event.released, 1), "limit": limit, "level_m": round(event.level, 3),
                           "message": message})
    return events


def run_whatif(inputs: RehearsalInputs, schedules: dict[str, NDArray], output_dir=None, name: str = "whatif") -> dict:
    """``hydro rehearse --schedule``: the dispatcher's schedule run forward from the issue-time state on the
    full model through the horizon and its tail (reservoirs it does not name keep their rules; each holds
    its last release in the tail), judged as F2 is, with the F1 indicators and every place the schedule
    cannot be followed and why; ``output_dir`` gets ``whatif.nc``, its plot and summary.json."""
    import json
    from dataclasses import asdict

    from ..io.atomic import clear_earlier_outputs, write_atomic
    from ..io.netcdf import write_dataset

    basin = inputs.basin
    result, safe = inputs.verify(schedules)
    summary = {
        "basin": basin.name, "forecast": inputs.source, "start": str(inputs.times[0] - np.timedelta64(1, "h"))[:16],
        "end": str(inputs.times[-1])[:16], "routing": {"dt_s": inputs.routing.dt, "solver": inputs.routing.solver},
        "initial_state": "cold" if inputs.initial is None else "issue-time state",
        "dam_start": inputs.dam_starts(),
        "schedule": {k: v.round(3).tolist() for k, v in schedules.items()},
        "whatif": {"control_sections": [asdict(s) for s in result.sections],
                   "reservoirs": [asdict(r) for r in result.reservoir_indicators], "risk": risk(result.sections)},
        "safe": safe, "tail_hours": int(len(result.times) - len(inputs.times)),
        "cannot_follow": cannot_follow(result, basin, schedules),
    }
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        clear_earlier_outputs(out, "rehearse")
        horizon = len(inputs.times)  # the rest is the routing tail: marked in the file and the plot
        write_dataset(out / f"{name}.nc", scheme_dataset(result, basin, name, horizon))
        plot_scheme(out / f"{name}.png", result, basin, "what-if: the given schedule", inputs.forward(), horizon)
        write_atomic(out / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
        summary["outputs"] = [str(out / f"{name}.nc"), str(out / f"{name}.png"), str(out / "summary.json")]
    return summary


def stage_text(section: dict | SectionIndicators) -> str:
    """A section's peak stage as printed: 'at least' the rating's top where the discharge went above it."""
    get = section.get if isinstance(section, dict) else lambda k, d=None: getattr(section, k, d)
    if get("stage_above_rating", False):
        return f"stage >= {get('peak_stage'):.2f} m (the discharge is above the rating's top)"
    return f"stage {get('peak_stage'):.2f} m"


def storage_left_text(left_m3: float) -> str:
    """Flood storage left at the peak level, as printed: above the flood-control high level it is exceeded, not
    negative."""
    if left_m3 < 0.0:
        return f"flood storage exceeded by {-left_m3 / 1e6:.1f} hm3 (above the flood-control high level)"
    return f"flood storage left {left_m3 / 1e6:.1f} hm3"


def risk(sections: list[SectionIndicators]) -> dict[str, str]:
    return {s.id: ("above guaranteed stage" if s.hours_above_guaranteed else "above warning stage"
                   if s.hours_above_warning else "above safe discharge" if s.excess_volume_m3 else "safe")
            for s in sections}


def nothing_to_dispatch(basin: BasinSpec, lakes: int = 0) -> str | None:
    """Why a basin has nothing to dispatch (no operated reservoir, or no control section to protect), or None
    when it has both. Its lakes (uncontrolled level pools) are routed in the forecast, not dispatched."""
    if (basin.reservoirs or getattr(basin, "detention_basins", None)) and basin.control_sections:
        return None
    reasons = []
    if not basin.reservoirs and not getattr(basin, "detention_basins", None):
        reasons.append(f"basin {basin.name} has no operated reservoir ([[reservoirs]] in its basin file)"
                       + (f"; its {lakes} lake(s) are uncontrolled level pools, routed in the forecast" if lakes else ""))
    if not basin.control_sections:
        reasons.append("it has no control section ([[control_sections]]) whose safe discharge a release could protect")
    return ("nothing to dispatch: " + "; ".join(reasons) + ". The forecast through the current rules (F1) stands: "
            "no inverse step, no F2, no schemes to rank.")


def run_rehearsal(inputs: RehearsalInputs, objective: str = "min_peak", margin_m3s: float = 0.0,
                  output_dir=None, pre_release: bool = False) -> tuple[dict, RehearsalResult | None]:
    """``hydro rehearse`` and the cycle's rehearsal stage: F1 (the inputs' own, or run once), inverse (I)
    and forward again (F2); returns the summary and the result (None without reservoirs and sections, and where the
    dams' limits leave no schedule: the summary's ``no_feasible_schedule`` says why, beside F1)."""
    from dataclasses import asdict

    basin, times = inputs.basin, inputs.times
    targets = section_targets(basin)
    for sec in basin.control_sections:  # a margin that swallows a target leaves the LP nothing to aim at
        target = targets[sec.id]
        if margin_m3s >= target:
            raise ConfigError(f"--margin {margin_m3s:g} m3/s leaves nothing of section {sec.id}'s target discharge "
                              f"{target:,.0f} m3/s (its safe discharge, or the rating's at its target stage); give a "
                              "margin below it")
    f1 = inputs.forward()
    result, infeasible = None, None
    reason = nothing_to_dispatch(basin, int(inputs.network.is_lake.sum()))  # None: reservoirs and sections to rehearse
    if reason is None:  # reservoirs or detention basins, and sections to protect
        try:
            result = rehearse(inputs.network, basin, inputs.lateral, times, objective, margin_m3s,
                              pre_release=pre_release, start=inputs.start, routing=inputs.routing, f1=f1,
                              initial=inputs.initial, interval_s=inputs.interval_s, tail=inputs.tail(),
                              nudging_for=inputs.nudging_for)
        except InfeasibleDispatch as exc:
            # the dams' limits leave no schedule (a dam above its flood-control high level at the issue time): F1 and
            # the reason are the rehearsal's answer, not an error that hides them; a cycle goes on to its plan
            infeasible = exc.reason
    summary = {
        "basin": basin.name, "forecast": inputs.source, "start": str(times[0] - np.timedelta64(1, "h"))[:16],
        "end": str(times[-1])[:16], "routing": {"dt_s": inputs.routing.dt, "solver": inputs.routing.solver},
        "initial_state": "cold" if inputs.initial is None else "issue-time state",
        "dam_start": inputs.dam_starts(),
        **({"nothing_to_dispatch": reason} if reason else {}),
        **({"no_feasible_schedule": {"objective": objective, "reason": infeasible}} if infeasible else {}),
        "f1": {"control_sections": [asdict(s) for s in f1.sections],
               "reservoirs": [asdict(r) for r in f1.reservoir_indicators], "risk": risk(f1.sections)},
    }
    if result is not None and result.f1_tail is not None:
        # F1 is the forecast over the horizon; judged as F2 is, over horizon and routing tail, it may be worse (a
        # flood still coming at the horizon's end was "safe")
        summary["f1"]["through_tail"] = {"control_sections": [asdict(s) for s in result.f1_tail.sections],
                                         "risk": risk(result.f1_tail.sections)}
    if f1.run.detention is not None:
        summary["f1"]["detention"] = detention_use(basin, f1.times, f1.run.detention.diversion)
    if result is not None:
        inv, f2 = result.inverse, result.f2
        summary["inverse"] = {"objective": inv.objective, "feasible": inv.feasible,
                              "min_violation_m3s": inv.min_violation_m3s, "detention_needed_m3": inv.detention_needed_m3,
                              "missing_volume_m3": {k: round(v, 0) for k, v in inv.missing_volume_m3.items()},
                              # discharge held at main-stem sections for their guaranteed stage (hydraulics)
                              "stage_held_m3s": {k: round(v, 1) for k, v in inv.stage_held.items()},
                              "detention": detention_use(basin, f2.times, f2.run.detention.diversion, len(times))
                              if f2.run.detention is not None else [],
                              "binding": inv.binding, "schedule": {k: v.round(3).tolist() for k, v in inv.schedule.items()},
                              "release_envelope": {k: v.round(3).tolist() for k, v in inv.envelope.items()}}
        if result.accepted and not inv.feasible:  # F2 kept every target: nothing is missing but in the LP's model
            summary["inverse"]["note"] = (f"the linearised LP fell short of the targets by up to "
                                          f"{inv.min_violation_m3s:,.0f} m3/s; F2 on the full model keeps every target "
                                          "with its schedule, so no volume is missing")
            summary["inverse"]["missing_volume_m3"] = dict.fromkeys(inv.missing_volume_m3, 0.0)
            summary["inverse"]["detention_needed_m3"] = 0.0
        summary["f2"] = {"control_sections": [asdict(s) for s in f2.sections],
                         "reservoirs": [asdict(r) for r in f2.reservoir_indicators], "risk": risk(f2.sections)}
        summary["verdict"] = {"accepted": result.accepted, "margin_m3s": result.margin_m3s,
                              "iterations": result.iterations}
        summary["tail"] = tail_summary(result, basin)
    if output_dir is not None:
        summary["outputs"] = write_rehearsal(output_dir, result, f1, basin, summary)
    return summary, result


# --- I: inverse step (linear programme) and F2: verification -----------------------------------------


class InfeasibleDispatch(ConfigError):
    """No release schedule satisfies the dams' hard limits (storage, minimum release, ramp) from this start: the
    inverse has nothing to offer (a plan reports the scheme as such and goes on with the others). ``reason``: why,
    without the basin's name (what a plan lists beside the scheme)."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


OBJECTIVES = ("min_peak", "max_margin", "min_storage")


@dataclass
class InverseResult:
    schedule: dict[str, NDArray[np.float64]]  # release per hour of the horizon [m3 s-1], block-constant
    feasible: bool
    min_violation_m3s: float  # largest exceedance of a section target left (0 when feasible)
    detention_needed_m3: float  # volume above the targets that the reservoirs cannot hold
    binding: list[str]
    envelope: dict[str, NDArray[np.float64]]  # largest release per step the downstream targets allow
    objective: str
    margin_m3s: float
    tail_release: dict[str, NDArray[np.float64]] = field(default_factory=dict)  # per tail hour: the last release held
    hold_hours: dict[str, int] = field(default_factory=dict)  # per dam: hours a release holds (1: hourly)
    tail_hours: int = 0
    # per detention basin, the diversion per hour of horizon and tail [m3 s-1] (zeros: kept closed)
    detention: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    # per control section, the volume above its target that neither the reservoirs nor every detention
    # basin can take [m3] (all zero when feasible): how much more storage would be needed
    missing_volume_m3: dict[str, float] = field(default_factory=dict)
    # per main-stem section whose guaranteed stage the hydraulics put in reach: the discharge held there for it
    stage_held: dict[str, float] = field(default_factory=dict)

    def full_schedule(self) -> dict[str, NDArray[np.float64]]:
        """Horizon and tail: what F2 runs."""
        return {k: np.concatenate([v, self.tail_release.get(k, np.zeros(0))]) for k, v in self.schedule.items()}


def detention_use(basin: BasinSpec, times: NDArray[np.datetime64], diversion: dict[str, NDArray],
                  horizon: int | None = None) -> list[dict]:
    """Per detention basin that takes water in ``diversion`` [hours ending at ``times``]: when it opens (the
    start of its first hour with a diversion), until when it takes water, the volume [m3], the peak
    diversion, and the area and population it affects; in the basins' order. ``horizon`` marks diversions
    in the routing tail."""
    used = []
    for spec in sorted(basin.detention_basins, key=lambda b: (b.order, b.id)):
        d = np.asarray(diversion.get(spec.id, np.zeros(0)), np.float64)
        open_hours = np.flatnonzero(d > 1e-6)
        if not open_hours.size:
            continue
        first, last = int(open_hours[0]), int(open_hours[-1])
        used.append({"detention_basin": spec.id, "feature_id": spec.feature_id, "order": spec.order,
                     "opens_at": str(times[first] - np.timedelta64(1, "h"))[:16], "takes_water_until": str(times[last])[:16],
                     "volume_m3": round(float(d.sum() * 3600.0), 0), "capacity_m3": spec.capacity_m3,
                     "peak_diversion_m3s": round(float(d.max()), 1), "max_intake_m3s": spec.max_intake_m3s,
                     "in_tail": bool(horizon is not None and last >= horizon),
                     "area_km2": spec.area_km2, "population": spec.population,
                     "trigger_section": spec.trigger_section})
    return used

def unit_responses(network: RiverNetwork, basin: BasinSpec, routing: OperatedNetwork, f1: ForwardResult,
                    pulse: float = 50.0, tail: int = 0) -> dict[tuple[str, str], NDArray[np.float64]]:
    """Response [n_hours] of each control section, and of the inflow of the next dam down, to a 1 m3 s-1
    release change of each dam, taken from the routing kernel itself: the release is perturbed for one
    hour at the dam's F1 inflow peak, where the release matters and the channel runs at flood celerity,
    and routed down the dam's path (to the next dam or the outlet) on top of everything else F1 routed
    there; the response is used as time-invariant (F2 corrects what this linearisation misses). Keys are
    (dam, section id) and (dam, 'dam:' + next dam id). A section off a dam's path does not respond to
    it; routing only the path makes this cost a few hundred segments per dam, not a network. With
    ``tail`` the responses run ``tail`` hours past F1's end (the path's side inflow held at its last hour),
    which is how :func:`extend_f1` finds when a release has passed.

    Detention basins (``routing.detention``) answer the same way, as sources keyed 'detention:' + id: the
    response to 1 m3 s-1 *more* water passing the inlet (a diversion acts with the opposite sign), routed from
    the segment below it, perturbed at the basin segment's F1 outflow peak; and as targets, the outflow of a
    basin's segment (key (source, 'detention:' + id), the flow present at its inlet). A section on a basin's
    own segment sees that basin's diversion at once, which the inverse adds without a response."""
    responses = {}
    n = len(f1.times) + tail
    up_ptr, up_idx = network.upstream_csr
    sites = routing.detention.sites if routing.detention is not None else []
    targets: dict[int, list[str]] = {}
    for section in basin.control_sections:
        targets.setdefault(routing.position[section.feature_id], []).append(section.id)
    targets.update({routing.position[r.feature_id]: [f"dam:{r.id}"] for r in basin.reservoirs})  # its inflow
    for site in sites:
        targets.setdefault(site.position, []).append(f"detention:{site.id}")
    sources = [(r.id, routing.paths[r.id], routing.position[r.feature_id],
                int(np.argmax(f1.reservoir_inflow[r.id][1:]))) for r in basin.reservoirs]
    sources += [(f"detention:{site.id}", routing.paths[f"detention:{site.id}"], site.position,
                 int(np.argmax(f1.flow[:, site.position]))) for site in sites]
    for key, *_ in sources:
        for section in basin.control_sections:
            responses[(key, section.id)] = np.zeros(n)

    def respond(key: str, path: NDArray[np.int64], origin: int, at: int) -> dict:
        last = path[-1] if path.size else origin
        if routing.down[last] >= 0 and routing.dam_node[routing.down[last]]:
            path = np.append(path, routing.down[last])  # the next dam's inflow responds too
        hits = [j for j, node in enumerate(path) if node in targets]
        if not hits:
            return {}
        path = path[:hits[-1] + 1]
        in_path = np.zeros(network.size, bool)
        in_path[path] = True
        # what enters each path segment besides the flow from the path segment above: its lateral
        # inflow (releases and diversions included) and its other upstream segments' F1 outflow (a dam's
        # arrives as release)
        side = f1.lateral[:, path].copy()
        for j, node in enumerate(path):
            for u in up_idx[up_ptr[node]:up_ptr[node + 1]]:
                if not in_path[u] and not routing.dam_node[u]:
                    side[:, j] += f1.flow[:, u]
        side[:, 0] = np.maximum(side[:, 0], 0.0)
        if tail:
            side = np.vstack([side, np.repeat(side[-1:], tail, axis=0)])
        model = MuskingumCunge(network.take(path), routing.lakes, routing.dt, solver=routing.solver, parallel=False)
        initial = None if f1.initial is None else routing.sub_state(f1.initial, path, model)  # the issue-time channel
        # perturb downwards where the flow allows: the schedules that matter release less than F1
        step = -pulse if side[at, 0] > 2.0 * pulse else pulse
        bumped = side[at:].copy()
        bumped[0, 0] += step
        # both runs are the same until the pulse: route that once and go on from its end (bit for bit one run)
        before = _route_model_state(model, side[:at], initial)
        delta = _route_difference(model, side[at:], bumped, before) / step
        return {(key, name): np.concatenate([delta[:, j], np.zeros(at)])[:n] for j in hits for name in targets[path[j]]}

    # each source's path is routed on its own (numba releases the GIL): one thread per numba thread
    workers = max(1, min(numba.get_num_threads(), len(sources)))
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            found = list(pool.map(lambda source: respond(*source), sources))
    else:
        found = [respond(*source) for source in sources]
    for result in found:
        responses.update(result)
    return responses


class _Rows:
    """Sparse inequality rows for the LP, added in blocks (COO triplets), each row with a readable name."""

    def __init__(self) -> None:
        self.rows, self.cols, self.vals, self.b, self.names, self.lazy = [], [], [], [], [], []
        self.count = 0

    def add(self, rows: NDArray, cols: NDArray, vals: NDArray, b: NDArray, names: list[str], lazy: bool = False) -> None:
        """Rows ``names``; ``lazy``: rarely binding, solved without until violated (hydro.stages.dispatch_lp)."""
        self.rows.append(np.asarray(rows, np.int64).ravel() + self.count)
        self.cols.append(np.asarray(cols, np.int64).ravel())
        self.vals.append(np.asarray(vals, np.float64).ravel())
        self.b.append(np.asarray(b, np.float64).ravel())
        self.names += names
        self.lazy += [lazy] * len(names)
        self.count += len(names)

    def copy(self) -> _Rows:
        other = _Rows()
        other.rows, other.cols, other.vals, other.b = list(self.rows), list(self.cols), list(self.vals), list(self.b)
        other.names, other.lazy, other.count = list(self.names), list(self.lazy), self.count
        return other

    def matrix(self, n: int):
        from scipy.sparse import coo_matrix

        cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
        return (coo_matrix((cat(self.vals), (cat(self.rows).astype(np.int64), cat(self.cols).astype(np.int64))),
                           shape=(self.count, n)).tocsr(), cat(self.b))


#: re-solves of the inverse LP that move a capacity row to the piece of the curve its storage reached; a row
#: moved back to a piece it had, or broken before the last solve, is given the lower envelope of every segment
#: (below the curve everywhere)
CAPACITY_ATTEMPTS = 3


class _CapacityRows:
    """A dam's discharge-capacity rows, O(t) <= capacity(V) - 1 m3 s-1 at the storage V at both ends of each
    hour (the level is lowest at one of the two; F2's operation caps the release at the lowest level in the
    hour). The tabulated capacity is piecewise linear in storage. Where it bends downward (concave) the least
    of its segments' lines is the curve itself; where it bends upward (a spillway crest, a second outlet) the
    least of all lines lies far below it (at 101 m the demo dam's rows allowed -1 m3 s-1 where the gates pass
    300). So the curve is cut into concave pieces at its upward bends, and each row takes the lines of one
    piece: exact while the storage stays in that piece. The piece is first the one F1's storage is in at that
    time; a row the LP's answer breaks on the true curve moves to the piece its storage reached and the LP is
    solved again (at most :data:`CAPACITY_ATTEMPTS` times); a row sent back to a piece it had, or broken before
    the last solve, takes every segment's line, whose least lies below the curve everywhere (conservative)."""

    ENVELOPE = -1

    def __init__(self, rid: str, curves, io: NDArray, iv: NDArray, ib: NDArray, v_min: float, v_start: float,
                 v_top: float, f1_storage: NDArray) -> None:
        self.rid, self.io, self.iv, self.ib, self.v_min, self.v_start = rid, io, iv, ib, v_min, v_start
        self.storage_m3 = np.asarray(curves.storage_m3, np.float64)
        self.capacity_m3s = np.asarray(curves.capacity_m3s, np.float64)
        self.slopes = np.diff(self.capacity_m3s) / np.diff(self.storage_m3)
        self.intercepts = self.capacity_m3s[:-1] - self.slopes * self.storage_m3[:-1]
        upward = self.slopes[1:] > self.slopes[:-1] * (1.0 + 1e-9) + 1e-15  # a bend up between k and k + 1
        self.piece_of_segment = np.concatenate([[0], np.cumsum(upward)]).astype(np.int64)
        # the segments on the least of all lines over the storage the LP allows (the rest add nothing there)
        self.envelope = _lower_envelope(self.intercepts, self.slopes, float(self.storage_m3[0]), float(v_top))
        T = io.size
        # per row (end of hour t, start of hour t) the piece whose lines it takes: first where F1's storage is
        self.piece = {"end": self.piece_at(f1_storage[1:T + 1]), "start": self.piece_at(f1_storage[:T])}
        self.tried = {kind: [{int(p)} for p in pieces] for kind, pieces in self.piece.items()}

    def piece_at(self, storage: NDArray) -> NDArray[np.int64]:
        segment = np.clip(np.searchsorted(self.storage_m3, storage, side="right") - 1, 0, self.slopes.size - 1)
        return self.piece_of_segment[segment]

    def _lines(self, piece: int) -> NDArray[np.bool_]:
        return self.envelope if piece == self.ENVELOPE else self.piece_of_segment == piece

    def bound_at_start(self) -> float:
        """The release the first hour's start row allows (1 m3 s-1 in hand)."""
        lines = self._lines(int(self.piece["start"][0]))
        return float((self.intercepts[lines] + self.slopes[lines] * self.v_start).min()) - 1.0

    def add_to(self, ub: _Rows, stamp: list[str]) -> None:
        """The rows, lazy (rarely binding: :mod:`hydro.stages.dispatch_lp`), per table segment the hours whose
        piece holds it; with V = V_min + e - b."""
        for kind in ("end", "start"):
            piece = self.piece[kind]
            word = "at" if kind == "end" else "at the start of"
            for k in range(self.slopes.size):
                on = np.flatnonzero(np.where(piece == self.ENVELOPE, self.envelope[k], piece == self.piece_of_segment[k]))
                if kind == "start":
                    first, on = on[on == 0], on[on > 0]  # the first hour starts at the known storage: a bound
                    if first.size:
                        ub.add([0], self.io[:1], [1.0], [self.intercepts[k] - 1.0 + self.slopes[k] * self.v_start],
                               [f"reservoir {self.rid} discharge capacity {word} {stamp[0]}"], lazy=True)
                if not on.size:
                    continue
                at = on if kind == "end" else on - 1  # the storage it reads: this hour's end, or the one before's
                b_k = self.slopes[k]
                ub.add(np.repeat(np.arange(on.size), 3), np.column_stack([self.io[on], self.iv[at], self.ib[at]]),
                       np.tile([1.0, -b_k, b_k], on.size), np.full(on.size, self.intercepts[k] - 1.0 + b_k * self.v_min),
                       [f"reservoir {self.rid} discharge capacity {word} {stamp[t]}" for t in on], lazy=True)

    def revise(self, x: NDArray, final: bool = False) -> bool:
        """Move each row the answer ``x`` breaks on the true curve to the piece its storage reached (to the
        envelope when it had that piece before, or for the ``final`` solve); whether any row moved."""
        release = x[self.io]
        v_end = self.v_min + x[self.iv] - x[self.ib]
        moved = False
        for kind, v in (("end", v_end), ("start", np.concatenate([[self.v_start], v_end[:-1]]))):
            allowed = np.interp(v, self.storage_m3, self.capacity_m3s) - 1.0
            broken = np.flatnonzero((release > allowed + 1e-6 * np.maximum(1.0, np.abs(allowed)))
                                    & (self.piece[kind] != self.ENVELOPE))
            for t, p in zip(broken.tolist(), self.piece_at(v[broken]).tolist(), strict=True):
                self.piece[kind][t] = p if p not in self.tried[kind][t] and not final else self.ENVELOPE
                self.tried[kind][t].add(p)
                moved = True
        return moved


def _lower_envelope(intercepts: NDArray, slopes: NDArray, lo: float, hi: float) -> NDArray[np.bool_]:
    """Which lines ``a_i + b_i x`` are the lowest somewhere on [lo, hi] (the others never bind a constraint
    ``y <= min_i(a_i + b_i x)`` there). Checked at the ends and at every crossing inside."""
    a, b = np.asarray(intercepts, np.float64), np.asarray(slopes, np.float64)
    points = [lo, hi]
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = (a[None, :] - a[:, None]) / (b[:, None] - b[None, :])
    points += [x for x in cross[np.isfinite(cross)].ravel() if lo < x < hi]
    x = np.unique(points)
    y = a[:, None] + b[:, None] * x[None, :]
    on = np.zeros(a.size, bool)
    # every line within a hair of the minimum at some point (ties keep both: the LP sees the same set)
    on[np.nonzero(y <= y.min(axis=0) + 1e-9 * np.maximum(1.0, np.abs(y.min(axis=0))))[0]] = True
    return on


def _lower_toeplitz(response: NDArray) -> NDArray:
    """M[t, t'] = response[t - t'] for t' <= t: the convolution of a release series with a unit response."""
    T = response.size
    lag = np.subtract.outer(np.arange(T), np.arange(T))
    return np.where(lag >= 0, response[np.clip(lag, 0, None)], 0.0)


def section_targets(basin: BasinSpec, stage_targets: dict[str, float] | None = None) -> dict[str, float]:
    """Each control section's discharge target for the inverse: its ``target_discharge``, or lower where
    ``stage_targets`` (from :func:`stage_targets`) gives the discharge that keeps a main-stem section at its
    guaranteed stage."""
    return {s.id: min(s.target_discharge, (stage_targets or {}).get(s.id, np.inf)) for s in basin.control_sections}


def stage_targets(basin: BasinSpec, result: ForwardResult, previous: dict[str, float] | None = None) -> dict[str, float]:
    """Discharge targets that hold the stage: for every section whose stage the Saint-Venant hydraulics compute
    (on a main stem) and which stands above its guaranteed stage in ``result``, the least discharge at which
    ``result`` reaches that stage (the hydraulic stage-discharge pairs of the run itself, interpolated where an
    hour's change crosses the stage; loops included, so the falling limb's lower discharge counts and the target
    is on the safe side). Where a target was already in force (``previous``) and the stage still passed, the
    LP's linearisation missed: the target also drops by half as much again as the discharge went over it (at
    least 1 %), as the discharge margin does. Sections within their guaranteed stage keep ``previous``."""
    targets = dict(previous or {})
    for sec in basin.control_sections:
        if not result.stage_source.get(sec.id, "").startswith("hydraulics"):
            continue
        h, q = result.section_stage[sec.id], result.section_discharge[sec.id]
        g = sec.guaranteed_stage
        above = h > g
        if not above.any():
            continue
        reach = [float(q[above].min())]
        for k in np.flatnonzero((h[:-1] - g) * (h[1:] - g) < 0.0):  # an hour whose change crosses g
            reach.append(float(q[k] + (q[k + 1] - q[k]) * (g - h[k]) / (h[k + 1] - h[k])))
        target = min(reach)
        if sec.id in targets:
            before = targets[sec.id]
            over = float(q[above].max()) - before
            target = min(target, before - max(over, 0.01 * before, 1.0))
        targets[sec.id] = max(target, 0.0)
    return targets


def forward_is_safe(basin: BasinSpec, f1: ForwardResult, margin_m3s: float, targets: dict[str, float] | None = None) -> bool:
    targets = targets or section_targets(basin)
    return (all(f1.section_discharge[s.id].max() <= targets[s.id] - margin_m3s for s in basin.control_sections)
            and all(f1.reservoirs[r.id].level.max() <= r.flood_control_high_level for r in basin.reservoirs))


def inverse(network: RiverNetwork, basin: BasinSpec, lateral: NDArray, times: NDArray, f1: ForwardResult,
            objective: str = "min_peak", margin_m3s: float = 0.0, dt: float = 300.0,
            routing: OperatedNetwork | None = None, pre_release: bool = False,
            storage_margin_m3: dict[str, float] | None = None, hold: tuple[str, ...] = (),
            start: dict[str, DamStart] | None = None, responses: dict | None = None,
            horizon: int | None = None, stage_held: dict[str, float] | None = None,
            warm: WarmLP | None = None) -> InverseResult:
    """Releases that keep every control section at or below its target discharge (the safe discharge, or
    the rating's discharge at its target stage when lower) minus ``margin_m3s`` and
    every reservoir within its limits, by linear programming (HiGHS, :mod:`hydro.stages.dispatch_lp`).

    ``f1`` runs over ``times``: the first ``horizon`` hours (all of them when None) are the forecast
    horizon, the rest the routing tail (:func:`extend_f1`). The LP sees the tail: every section and
    storage constraint holds over horizon + tail, with each dam's last release held through the tail, so
    a schedule cannot push water past the horizon.

    When the current rules (F1) already keep every section below its target and every dam below its
    flood-control high level (tail included), no constraint binds and the F1 schedule is returned
    unchanged: the inverse derives releases only where the rules fail.

    Variables: per dam one release per block of ``hold_hours`` (the basin file's, default 3; blocks start
    at the issue time; the tail holds the last block), so a release changes at most once per block,
    exactly (block-constant variables, no rounding afterwards); per dam and hour the end-of-hour storage
    V = V_min + e - b (e above the flood-limit level, or the initial level when lower, b drawn below it);
    per block boundary the change of release up - down; per section and hour a slack s >= 0 (penalised),
    so an infeasible target returns the minimum violation instead of failing. Between blocks the release
    moves by at most the ramp limit (the change is made within one hour); the first block moves from the
    current gate setting within the ramp.
    Releases are printed and verified as whole m3 s-1, so ramp and capacity hold 1 m3 s-1 in hand.
    Section flow = F1 flow + sum over dams and lags of u(lag) (O - O_F1) with u the unit responses.
    Capacity enters as linear rows at the storage at both ends of each hour, from the piece of the capacity
    curve the storage is in (:class:`_CapacityRows`). Storage stays between
    the flood-limit level (or the initial level when lower) and the flood-control high level; with
    ``pre_release`` the LP may draw a reservoir below its flood-limit level ahead of the flood (down to
    the bottom of its curves). ``storage_margin_m3`` lowers a dam's upper storage bound (F2 sets it when
    the full model overshot what the linearisation allowed). Dam inflows follow the releases of the dams
    above them through the same unit responses (cascades). Dams named in ``hold`` keep their F1 releases
    (a scheme without dispatching them; their rules act hourly). ``responses`` (from ``unit_responses``
    of this F1, over horizon + tail) saves routing them again on a repeat.

    End-of-horizon storage (:data:`STORAGE_RULES`): no objective forces a return to the flood-limit level;
    a reservoir with an ``end_target_level`` must be at or below it at the horizon's end. min_peak and
    max_margin keep what they stored (the tail then holds the last release, and storage must stay below
    the flood-control high level through it); min_storage minimises the storage held, hour by hour, so
    it returns toward the flood-limit level as fast as the sections allow.

    ``stage_held``: per section, a discharge target lower than its own that holds its guaranteed stage where
    the Saint-Venant hydraulics compute that stage (:func:`stage_targets`; the rehearsal sets it). ``warm``: the
    solver of an earlier try of this rehearsal, reused when the LP has the same shape (:class:`WarmLP`)."""
    from scipy.sparse import coo_matrix

    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown rehearsal objective {objective!r}; choose {', '.join(OBJECTIVES)}")
    resv, secs = basin.reservoirs, basin.control_sections
    if not (resv or basin.detention_basins) or not secs:
        raise ConfigError(f"{basin.name}: the inverse step needs a reservoir or a detention basin, and a control section")
    times = f1.times
    T_all, R, K = len(times), len(resv), len(secs)
    T = T_all if horizon is None else int(horizon)
    hold_of = {r.id: (1 if r.id in hold else int(getattr(r, "hold_hours", 1))) for r in resv}
    f1_div = dict(f1.run.detention.diversion) if f1.run.detention is not None else {}
    targets = section_targets(basin, stage_held)
    if forward_is_safe(basin, f1, margin_m3s, targets):
        full = {r.id: f1.reservoirs[r.id].release.copy() for r in resv}
        return InverseResult({k: v[:T] for k, v in full.items()}, True, 0.0, 0.0, [],
                             _envelope(basin, f1, full, None, margin_m3s, T, targets), objective, margin_m3s,
                             {k: v[T:] for k, v in full.items()}, hold_of, T_all - T,
                             {k: v.copy() for k, v in f1_div.items()}, {s.id: 0.0 for s in secs},
                             dict(stage_held or {}))
    routing = routing or operated_network(network, basin, None, dt)
    u = responses if responses is not None else unit_responses(network, basin, routing, f1)
    sites = routing.detention.sites if routing.detention is not None else []
    B = len(sites)
    t_idx = np.arange(T_all)
    # the release variables: per dam one per block (hours past the horizon hold the last block), or one
    # per hour fixed at F1 for a held dam
    block_of, starts, offset = {}, {}, {}
    n_o = 0
    for res in resv:
        if res.id in hold:
            block_of[res.id] = t_idx.copy()
        else:
            h = hold_of[res.id]
            block_of[res.id] = np.minimum(t_idx // h, (T - 1) // h)
        starts[res.id] = np.flatnonzero(np.diff(block_of[res.id], prepend=-1))
        offset[res.id] = n_o
        n_o += starts[res.id].size
    n_v, n_s = R * T_all, K * T_all
    n_d = R * T_all  # (V_flood_limit - V)+ where the drawdown variable cannot stand for it (see the tie-breaker)
    n_b = R * T_all  # storage drawn below the flood-limit level (penalised unless pre-release is allowed)
    n_c = n_o  # X_j - X_j-1 = up_j - down_j: a tie-breaker against changes of release that buy nothing
    n_dv = B * T_all  # detention diversion per basin and hour
    n = n_o + n_v + n_s + n_d + n_b + 2 * n_c + n_dv + 1  # + the peak / margin variable
    v0_, s0_, d0, b0 = n_o, n_o + n_v, n_o + n_v + n_s, n_o + n_v + n_s + n_d
    c0 = b0 + n_b  # up
    dn0 = c0 + n_c  # down
    dv0 = dn0 + n_c
    ip = n - 1
    stamp = [str(t)[:16] + (" (tail)" if k >= T else "") for k, t in enumerate(times)]

    def by_block(m: NDArray, rid: str) -> NDArray:  # [T_all, T_all] over hours -> [T_all, blocks]
        return np.add.reduceat(m, starts[rid], axis=1)

    def release_terms(m: NDArray, rid: str) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        """A response ``m`` [T_all, T_all] of reservoir ``rid``'s hourly releases at one place as LP terms: (F1's
        part, to take out of the constant; rows, columns and values over its block variables). Responses below
        1e-9 are dropped (in ``m`` itself)."""
        m[np.abs(m) <= 1e-9] = 0.0
        mb = by_block(m, rid)
        tt, tp = np.nonzero(np.abs(mb) > 1e-9)
        return m @ f1.reservoirs[rid].release, tt, offset[rid] + tp, mb[tt, tp]

    ub = _Rows()
    for k, sec in enumerate(secs):
        # Q_k(t) = Q_F1(t) + sum_r M_rk (P_r X_r - O_F1,r) <= Q_target - margin + s_k(t)  (and <= P for min_peak)
        const = f1.section_discharge[sec.id].copy()
        rows, cols, vals = [t_idx], [s0_ + k * T_all + t_idx], [-np.ones(T_all)]
        for res in resv:
            resp = u[(res.id, sec.id)]
            if not np.any(np.abs(resp) > 1e-9):
                continue
            f1_part, tt, cc, vv = release_terms(_lower_toeplitz(resp[:T_all]), res.id)
            const -= f1_part
            rows.append(tt), cols.append(cc), vals.append(vv)
        for k_site, site in enumerate(sites):  # Q_k -= M_bk (D_b - D_F1,b): a diversion takes water off the section
            if site.position == routing.position[sec.feature_id]:
                m = np.eye(T_all)  # the section is at the inlet: it sees the diversion at once
            else:
                m = _lower_toeplitz(u[(f"detention:{site.id}", sec.id)][:T_all])
                m[np.abs(m) <= 1e-9] = 0.0
            if not m.any():
                continue
            const += m @ f1_div[site.id]
            tt, tp = np.nonzero(m)
            rows.append(tt), cols.append(dv0 + k_site * T_all + tp), vals.append(-m[tt, tp])
        if objective == "max_margin":
            rows.append(t_idx), cols.append(np.full(T_all, ip)), vals.append(np.ones(T_all))  # Q + m <= Q_target
        rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        ub.add(rows, cols, vals, targets[sec.id] - margin_m3s - const,
               [f"section {sec.id} safe discharge at {t}" for t in stamp])
        if objective == "min_peak" and k == 0:
            keep = cols != s0_ + k * T_all + rows  # the same flow, without the slack, below the peak variable P
            ub.add(np.concatenate([rows[keep], t_idx]), np.concatenate([cols[keep], np.full(T_all, ip)]),
                   np.concatenate([vals[keep], -np.ones(T_all)]), -const, [f"section {sec.id} peak at {t}" for t in stamp])
    bounds = [(0.0, None)] * n
    tie_on_drawdown = []  # dams whose drawdown variable also carries the tie-breaker below the flood-limit level
    eq_rows, eq_cols, eq_vals, b_eq = [], [], [], []
    change_rows, change_cols, change_vals, n_changes = [], [], [], 0
    v_base, v_upper = {}, {}  # per dam V_min (storage = V_min + e - b) and the upper storage bound per hour
    capacity: dict[str, _CapacityRows] = {}  # per dispatched dam its discharge-capacity rows
    for r, res in enumerate(resv):
        curves, rules = res.curves(), res.rules()
        held = res.id in hold  # its F1 releases, whatever its level does (the rules already respect capacity)
        io = offset[res.id] + block_of[res.id]  # the release variable of each hour
        n_r = starts[res.id].size
        ix = offset[res.id] + np.arange(n_r)
        # storage V = V_min + e - b: e above the flood-limit level (or the initial level when lower), b below it
        # (drawdown, penalised unless pre-release is allowed). Two bounded columns instead of a row V + b >= V_min
        # per hour: the LP has 2,730 rows fewer on the bench and solves in fewer iterations
        iv, ib, idev = v0_ + r * T_all + t_idx, b0 + r * T_all + t_idx, d0 + r * T_all + t_idx
        v_fl = curves.storage(res.flood_limit_level)
        v_min = min(v_fl, f1.reservoirs[res.id].storage[0])
        v_base[res.id] = v_min
        v_max = curves.storage(res.flood_control_high_level) - (storage_margin_m3 or {}).get(res.id, 0.0)
        if not held:  # its capacity rows come after the other rows (:class:`_CapacityRows`)
            capacity[res.id] = _CapacityRows(res.id, curves, io, iv, ib, v_min, float(f1.reservoirs[res.id].storage[0]),
                                             v_max, np.asarray(f1.reservoirs[res.id].storage, np.float64))
        ramp = rules.max_ramp_per_hour
        if np.isfinite(ramp) and n_r > 1 and not held:
            at = [stamp[s] for s in starts[res.id][1:]]
            for sign, word in ((1.0, "up"), (-1.0, "down")):
                ub.add(np.repeat(np.arange(n_r - 1), 2), np.column_stack([ix[1:], ix[:-1]]),
                       np.tile([sign, -sign], n_r - 1), np.full(n_r - 1, max(ramp - 1.0, 0.0)),
                       [f"reservoir {res.id} ramp {word} at {t}" for t in at])
        if n_r > 1 and not held:  # X_j - X_j-1 - up_j + down_j = 0 (one row per change, not two |.| rows)
            change_rows.append(np.repeat(n_changes + np.arange(n_r - 1), 4))
            change_cols.append(np.column_stack([ix[1:], ix[:-1], c0 + ix[1:], dn0 + ix[1:]]).ravel())
            change_vals.append(np.tile([1.0, -1.0, -1.0, 1.0], n_r - 1))
            n_changes += n_r - 1
        gate = (start or {}).get(res.id)
        if np.isfinite(ramp) and gate is not None and gate.release is not None and not held:
            # the first block moves the gates from where they were set
            bounds_first = (max(rules.min_release, gate.release - ramp + 1.0), gate.release + ramp - 1.0)
        else:
            bounds_first = None
        if v_min < v_fl:  # started below its flood-limit level: dev >= V_FL - V (the drawdown variable is below v_min)
            ub.add(np.repeat(t_idx, 3), np.column_stack([iv, ib, idev]), np.tile([-1.0, 1.0, -1.0], T_all),
                   np.full(T_all, v_min - v_fl), [f"reservoir {res.id} deviation below the flood-limit level at {t}" for t in stamp])
        else:  # the drawdown variable is (V_FL - V)+ itself
            for t in range(T_all):
                bounds[idev[t]] = (0.0, 0.0)
            tie_on_drawdown.append(r)
        # V(t) - V(t-1) + 3600 O(t) - 3600 dI(t) = 3600 mean_in(t), where dI is the change of this hour's
        # mean inflow that the releases of the dams above bring (their unit responses, in cascade)
        inflow = f1.reservoir_inflow[res.id]
        mean_in = 0.5 * (inflow[:-1] + inflow[1:])
        eq_rows += [r * T_all + t_idx, r * T_all + t_idx, r * T_all + t_idx, r * T_all + t_idx[1:], r * T_all + t_idx[1:]]
        eq_cols += [iv, ib, io, iv[:-1], ib[:-1]]
        eq_vals += [np.ones(T_all), -np.ones(T_all), np.full(T_all, 3600.0), -np.ones(T_all - 1), np.ones(T_all - 1)]
        b = 3600.0 * mean_in
        b[0] += f1.reservoirs[res.id].storage[0] - v_min
        for above in resv:
            resp = u.get((above.id, f"dam:{res.id}"))
            if resp is None:
                continue
            m = _lower_toeplitz(resp[:T_all])  # end-of-hour inflow change; the hour's mean averages two ends
            f1_part, tt, cc, vv = release_terms(0.5 * (m + np.vstack([np.zeros((1, T_all)), m[:-1]])), above.id)
            b -= 3600.0 * f1_part
            eq_rows.append(r * T_all + tt), eq_cols.append(cc), eq_vals.append(-3600.0 * vv)
        for k_site, site in enumerate(sites):  # a diversion above the dam takes water off its inflow
            resp = u.get((f"detention:{site.id}", f"dam:{res.id}"))
            if resp is None:
                continue
            m = _lower_toeplitz(resp[:T_all])
            m_mean = 0.5 * (m + np.vstack([np.zeros((1, T_all)), m[:-1]]))
            m_mean[np.abs(m_mean) <= 1e-9] = 0.0
            b += 3600.0 * (m_mean @ f1_div[site.id])
            tt, tp = np.nonzero(m_mean)
            eq_rows.append(r * T_all + tt), eq_cols.append(dv0 + k_site * T_all + tp), eq_vals.append(3600.0 * m_mean[tt, tp])
        b_eq.append(b)
        o_f1 = f1.reservoirs[res.id].release
        for j in range(n_r):
            bounds[ix[j]] = (o_f1[j], o_f1[j]) if held else (rules.min_release, None)
        v_lo = np.full(T_all, float(curves.storage_m3[0]))
        v_hi = np.full(T_all, float(curves.storage_m3[-1] if held else v_max))
        if bounds_first is not None:
            bounds[ix[0]] = bounds_first
        if res.end_target_level is not None and not held:  # the end-of-event target, at the horizon's end
            v_hi[T - 1] = min(v_max, curves.storage(res.end_target_level))
        v_upper[res.id] = v_hi
        for t in range(T_all):  # V_lo <= V_min + e - b <= V_hi
            bounds[iv[t]] = (max(0.0, v_lo[t] - v_min), max(0.0, v_hi[t] - v_min))
            bounds[ib[t]] = (max(0.0, v_min - v_hi[t]), max(0.0, v_min - v_lo[t]))
    for k_site, site in enumerate(sites):
        idv = dv0 + k_site * T_all + t_idx
        room = site.capacity_m3 - float(f1.run.detention.storage[site.id][0])
        ub.add(np.zeros(T_all, np.int64), idv, np.ones(T_all), [room / 3600.0], [f"detention basin {site.id} capacity"])
        # the flow present at the inlet: its segment's outflow, which the releases above move
        const = f1.flow[:, site.position].astype(np.float64)
        rows, cols, vals = [t_idx], [idv], [np.ones(T_all)]
        for res in resv:
            resp = u.get((res.id, f"detention:{site.id}"))
            if resp is None or not np.any(np.abs(resp) > 1e-9):
                continue
            f1_part, tt, cc, vv = release_terms(_lower_toeplitz(resp[:T_all]), res.id)
            const -= f1_part
            rows.append(tt), cols.append(cc), vals.append(-vv)
        for k_other, other in enumerate(sites):
            resp = u.get((f"detention:{other.id}", f"detention:{site.id}"))
            if other is site or resp is None or not np.any(np.abs(resp) > 1e-9):
                continue
            m = _lower_toeplitz(resp[:T_all])
            m[np.abs(m) <= 1e-9] = 0.0
            const += m @ f1_div[other.id]
            tt, tp = np.nonzero(m)
            rows.append(tt), cols.append(dv0 + k_other * T_all + tp), vals.append(m[tt, tp])
        ub.add(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), np.clip(const, 0.0, None),
               [f"detention basin {site.id} flow present at {t}" for t in stamp])
        for t in range(T_all):
            bounds[idv[t]] = (0.0, site.max_intake)
    # the storage balances, then the changes of release; no reservoir: detention only, no equality
    eq_rows += [R * T_all + r for r in change_rows]
    eq_cols += change_cols
    eq_vals += change_vals
    b_eq.append(np.zeros(n_changes))
    a_eq = (coo_matrix((np.concatenate(eq_vals), (np.concatenate(eq_rows), np.concatenate(eq_cols))),
                       shape=(R * T_all + n_changes, n)).tocsr() if R else None)
    penalty = 1e6
    c = np.zeros(n)
    c[s0_:s0_ + n_s] = penalty
    # tie-breaker far below the objective's scale: among equally good schedules keep levels near the
    # flood-limit level (neither an empty reservoir nor flood storage held without need), 1e-9 per m3 of
    # |V - V_FL| = (V - V_FL) + 2 (V_FL - V)+: a cost on V and twice that on the part below V_FL (the drawdown
    # variable where it measures from V_FL, else dev). One row per hour instead of two |.| rows: the LP solves
    # in about half the simplex iterations (8,279 against 15,020 on the 10,000-segment bench)
    c[v0_:v0_ + n_v] = 1e-9
    c[d0:d0 + n_d] = 2e-9
    # without pre-release a drawdown below the flood-limit level costs more than any peak it could buy
    # (1 per m3 against 1 per m3 s-1 of peak) but less than a section violation: it happens only when
    # the minimum release or the ramp limit force it
    c[b0:b0 + n_b] = 0.0 if pre_release else 1.0
    for r in tie_on_drawdown:
        c[b0 + r * T_all:b0 + (r + 1) * T_all] += 2e-9
    # a gate change costs 1e-3 per m3 s-1: 1 m3 s-1 of peak is worth 1000 m3 s-1 of changes, so changes
    # that lower the peak stay and those that buy nothing go (an order a gate operator can follow)
    c[c0:dn0 + n_c] = 1e-3 if objective != "min_storage" else 1e-3 / (3600.0 * T_all) * 1e6
    # detention only where the reservoirs cannot keep a section safe: a diverted m3 costs 0.01 times the
    # basin's rank in the opening order (1 m3 s-1 for an hour: 36 per rank, against 1 for a peak lowered by
    # 1 m3 s-1 and 1e-3 for a gate change), less than a drawdown below the flood-limit level that pre-release
    # does not allow (1 per m3) and far less than a violation (1e6 per m3 s-1 for an hour): the LP diverts the
    # least volume that keeps the sections safe, from the basins in their order
    for k_site in range(B):
        c[dv0 + k_site * T_all:dv0 + (k_site + 1) * T_all] = 3600.0 * 0.01 * (1 + k_site)
    if objective == "min_peak":
        c[ip] = 1.0
    elif objective == "max_margin":
        c[ip] = -1.0
        bounds[ip] = (None, None)
    else:
        bounds[ip] = (0.0, 0.0)
        c[v0_:v0_ + n_v] += 1.0 / (3600.0 * T_all)
    # V = V_min + e - b: e carries V's cost, b its own less V's (the sum stays >= 0: never both at once for gain)
    c[b0:b0 + n_b] -= c[v0_:v0_ + n_v]
    lower = np.array([-np.inf if lo is None else lo for lo, _ in bounds])
    upper = np.array([np.inf if hi is None else hi for _, hi in bounds])
    rows_without_capacity = ub
    for attempt in range(CAPACITY_ATTEMPTS + 1):  # the pieces of the capacity curves, until no row is broken
        ub = rows_without_capacity.copy()
        for cap in capacity.values():
            cap.add_to(ub, stamp)
        a_ub, b_ub = ub.matrix(n)
        res_lp = solve_lp(c, a_ub, b_ub, np.array(ub.lazy, bool), a_eq, np.concatenate(b_eq) if R else None, lower,
                          upper, warm)
        if res_lp.status != "optimal" or attempt == CAPACITY_ATTEMPTS:
            break
        if not any([cap.revise(res_lp.x, final=attempt == CAPACITY_ATTEMPTS - 1) for cap in capacity.values()]):
            break
    if res_lp.status == "infeasible":  # infeasible: say which limits cannot all hold, not only the solver's word
        empty = [res.id for res in resv if res.flood_control_high_level <= res.flood_limit_level and res.id not in hold]
        # a minimum release the gates cannot pass at the start level (the LP holds 1 m3 s-1 of capacity in hand)
        starved = []
        for res in resv:
            v0 = float(f1.reservoirs[res.id].storage[0])
            cut = capacity[res.id].bound_at_start() if res.id in capacity else np.inf
            if res.rules().min_release > cut:
                starved.append(f"at {res.id}'s start level {f1.reservoirs[res.id].level[0]:.2f} m the gates pass "
                               f"{res.curves().capacity_at_storage(v0):,.0f} m3/s (the LP holds 1 in hand: {cut:,.0f}), "
                               f"less than its min_release {res.rules().min_release:g} m3/s")
        above = [f"{res.id} starts at {f1.reservoirs[res.id].level[0]:.2f} m, above its flood-control high level "
                 f"{res.flood_control_high_level} m" for res in resv if res.id not in hold
                 and f1.reservoirs[res.id].level[0] > res.flood_control_high_level + 1e-4]
        if empty:
            why = (f"reservoir(s) {', '.join(empty)} have no flood-control zone (flood_control_high_level = "
                   "flood_limit_level), so their storage cannot rise above the flood-limit level; raise "
                   "flood_control_high_level in the basin file")
        elif starved:
            why = (f"{'; '.join(starved)}: no schedule can release the minimum from that level; start higher "
                   "(--initial-level) or lower min_release in the basin file")
        elif above:
            why = (f"{'; '.join(above)}: the LP holds every dam at or below that level at each hour's end, and its "
                   "gates and ramp limit cannot bring it there; the rules' dam-safety release (F1) is what it can do")
        else:
            why = ("no release schedule keeps every reservoir at or below its flood-control high level within its "
                   "minimum release and ramp limit; check flood_control_high_level, min_release and "
                   "max_ramp_per_hour in the basin file")
        raise InfeasibleDispatch(f"{basin.name}: the inverse dispatch has no feasible schedule: {why}", why)
    if res_lp.status != "optimal":
        raise ConfigError(f"{basin.name}: inverse LP failed ({res_lp.status})")
    x = res_lp.x
    full = {}
    for res in resv:  # whole m3 s-1 (what the order prints and F2 runs); a held dam keeps its F1 releases
        o = x[offset[res.id] + block_of[res.id]]
        full[res.id] = (f1.reservoirs[res.id].release.copy() if res.id in hold
                        else np.maximum(np.round(o), res.min_release))
    slack = x[s0_:s0_ + n_s]
    detention = {}
    for k_site, site in enumerate(sites):  # to 0.01 m3 s-1, as F2 runs it: up, unless that overfills the basin
        raw = np.clip(x[dv0 + k_site * T_all + t_idx], 0.0, site.max_intake)
        d = np.minimum(np.ceil(raw * 100.0 - 1e-6) / 100.0, site.max_intake)
        if d.sum() * 3600.0 > site.capacity_m3 - float(f1.run.detention.storage[site.id][0]):
            d = np.floor(raw * 100.0 + 1e-6) / 100.0
        detention[site.id] = d
    missing = {sec.id: float(slack[k * T_all:(k + 1) * T_all].sum() * 3600.0) for k, sec in enumerate(secs)}
    marginals = res_lp.marginals
    binding = []
    for site in sites:
        if detention[site.id].sum() * 3600.0 >= site.capacity_m3 - float(f1.run.detention.storage[site.id][0]) - 3600.0:
            binding.append(f"detention basin {site.id} full")
    for r, res in enumerate(resv):
        v = v_base[res.id] + x[v0_ + r * T_all + t_idx] - x[b0 + r * T_all + t_idx]
        full_at = np.flatnonzero(v >= v_upper[res.id] - 1.0)
        if full_at.size:
            binding.append(f"reservoir {res.id} storage limit at {stamp[full_at[0]]}")
    active = [ub.names[i] for i in np.flatnonzero(np.abs(marginals) > 1e-6) if "deviation" not in ub.names[i]]
    for r, res in enumerate(resv):  # held at the flood-limit level: e at zero with a price on raising it
        ie = v0_ + r * T_all + t_idx
        at = np.flatnonzero((x[ie] <= 0.5) & (np.abs(res_lp.reduced_costs[ie]) > 1e-6))
        active += [f"reservoir {res.id} flood-limit level (no pre-release) at {stamp[t]}" for t in at]
    # the physical limits first (storage, capacity, ramp, safe discharge), then the peak the objective set
    binding += sorted(active, key=lambda name: " peak at " in name)[:50]
    return InverseResult({k: v[:T] for k, v in full.items()}, bool(slack.max() <= 1e-6), float(slack.max()),
                         float(slack.sum() * 3600.0), binding, _envelope(basin, f1, full, u, margin_m3s, T, targets), objective,
                         float(x[ip]) if objective != "min_storage" else margin_m3s,
                         {k: v[T:] for k, v in full.items()}, hold_of, T_all - T, detention, missing,
                         dict(stage_held or {}))


def _envelope(basin: BasinSpec, f1: ForwardResult, schedule: dict[str, NDArray], u: dict | None,
              margin_m3s: float, horizon: int | None = None,
              targets: dict[str, float] | None = None) -> dict[str, NDArray[np.float64]]:
    """Each dam's allowable release per hour of the horizon: its schedule plus what the first control
    section's room below its target (after the schedule, tail included) would take from this dam alone."""
    main = basin.control_sections[0]
    T = len(f1.times)
    envelope = {}
    for res in basin.reservoirs:
        resp = u[(res.id, main.id)][:T] if u is not None else np.zeros(T)
        gain = float(resp.max())
        q_new = f1.section_discharge[main.id] + np.convolve(schedule[res.id] - f1.reservoirs[res.id].release, resp)[:T]
        room = np.clip((targets or section_targets(basin))[main.id] - margin_m3s - q_new, 0.0, None)
        # a dam whose release does not reach the section is limited only by its discharge capacity
        envelope[res.id] = schedule[res.id] + room / gain if gain > 1e-9 else np.full(T, max(res.capacity_m3s))
    return {k: v[:horizon] for k, v in envelope.items()}

@dataclass
class RehearsalResult:
    f1: ForwardResult  # over the horizon (the forecast's own run in a cycle)
    inverse: InverseResult | None
    f2: ForwardResult | None  # over the horizon and the tail
    accepted: bool
    margin_m3s: float
    iterations: int
    f1_tail: ForwardResult | None = None  # F1 continued through the tail under the rules
    horizon_hours: int = 0
    tail_hours: int = 0
    # wall seconds per step of this call: f1 (0 when given), tail (unit responses and F1 through the tail; 0 when
    # given), inverse (the LPs and their set-up, all tries) and f2 (all tries)
    seconds: dict[str, float] = field(default_factory=dict)


def rehearse(network: RiverNetwork, basin: BasinSpec, lateral: NDArray, times: NDArray, objective: str = "min_peak",
             margin_m3s: float = 0.0, max_iterations: int = 5, dt: float = 300.0,
             pre_release: bool = False, hold: tuple[str, ...] = (), routing: OperatedNetwork | None = None,
             start: dict[str, DamStart] | None = None, f1: ForwardResult | None = None,
             responses: dict | None = None, initial: RoutingState | None = None,
             interval_s: float = 3600.0, tail: Tail | None = None, nudging_for=None) -> RehearsalResult:
    """Forward-inverse-forward: F1 with the rules; I by LP; F2 re-runs the schedule on the full model and
    accepts it only if every section stays at or below its target and every dam below its flood-control
    high level, over the horizon and the routing tail (:func:`extend_f1`: F1 continued from its final
    state; in F2 each dam holds its last release through the tail); otherwise I runs again (bounded)
    with the section margin grown by the overshoot and an overshooting dam's storage bound lowered by its
    overshoot. A section on a Saint-Venant main stem must also stay at or below its guaranteed stage by the
    hydraulics: the LP holds it below the discharge that F1's hydraulics put at that stage (:func:`stage_targets`),
    lowered on each try while F2 still finds the stage above. In F2 a dam follows its schedule except where dam safety overrides it (water the
    linearisation did not foresee above the flood-control high level is passed on), so F2 judges the
    sections with that water included. Levels are compared to 0.1 mm (the float noise of a level held at
    its limit). ``f1`` and its ``tail`` (which holds the unit responses) may be given when several
    rehearsals share them (the plan's schemes); ``responses`` is accepted for a tail-less call and ignored
    when ``tail`` is given. ``nudging_for``: the gauge corrections the forecast carried (F2 carries them as F1 did)."""
    seconds = dict.fromkeys(("f1", "tail", "inverse", "f2"), 0.0)
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] += now - clock
        clock = now

    routing = routing or operated_network(network, basin, None, dt)
    if f1 is None:
        f1 = forward(network, basin, lateral, times, start, routing=routing, initial=initial, interval_s=interval_s,
                     nudging_for=nudging_for)
    lap("f1")
    if tail is None:
        tail = extend_f1(network, basin, routing, f1, lateral, interval_s)
    lap("tail")
    f1x, T = tail.f1, tail.horizon
    lateral_all = np.concatenate([np.asarray(lateral, np.float32), tail.lateral])
    inv, f2 = None, None
    margin, storage_margin = margin_m3s, {}
    last = None  # (margin, overshoot) of the previous try
    # a main-stem section's guaranteed stage, judged by the hydraulics, enters the LP as the discharge that
    # holds it (from F1's own stage-discharge pairs there), lowered while F2 still finds the stage above it
    held = stage_targets(basin, f1x)
    warm = WarmLP()  # a later try changes only bounds and right-hand sides: its LP goes on from this one's basis
    for iteration in range(1, max_iterations + 1):
        inv = inverse(network, basin, lateral_all, f1x.times, f1x, objective, margin, dt, routing, pre_release,
                      storage_margin, hold, start, tail.responses, horizon=T, stage_held=held, warm=warm)
        lap("inverse")
        f2, _ = verify_schedule(network, basin, routing, lateral, tail, inv.full_schedule(), start, initial, interval_s,
                                inv.detention, nudging_for)
        lap("f2")
        over = max(float((f2.section_discharge[s.id] - s.target_discharge).max()) for s in basin.control_sections)
        too_high = {r.id: f2.reservoirs[r.id].storage.max() - r.curves().storage(r.flood_control_high_level)
                    for r in basin.reservoirs
                    if f2.reservoirs[r.id].level.max() > r.flood_control_high_level + 1e-4}
        # a section on a Saint-Venant main stem must also stay at or below its guaranteed stage by the hydraulics
        stage_over = [s.id for s in basin.control_sections if f2.stage_source.get(s.id, "").startswith("hydraulics")
                      and f2.section_stage[s.id].max() > s.guaranteed_stage]
        # F2, the full model, judges: a schedule the linearised LP could not bring within every target (its
        # minimum-violation answer) is accepted when F2 finds every target kept (the demo from a 4,000 m3/s gate
        # setting: LP short by 244 m3/s, F2 2,715 against 3,000, was "NOT accepted" with a deficit it never had)
        if over <= 0.0 and not too_high and not stage_over:
            return RehearsalResult(f1, inv, f2, True, margin, iteration, f1x, T, tail.hours, seconds)
        if not inv.feasible:
            break
        if stage_over:  # the stage missed at the discharge held: hold less there
            held = stage_targets(basin, f2, held)
        if over > 0.0:
            # the linearisation misses in proportion: after two tries, step the margin by the secant of
            # overshoot against margin (10 % beyond), before that by half as much again as the overshoot
            if last is not None and last[1] > over and margin > last[0]:
                gain = (last[1] - over) / (margin - last[0])
                step = 1.1 * over / gain
            else:
                step = 1.5 * over
            last = (margin, over)
            margin += max(step, 1.0)
        for rid, excess in too_high.items():
            storage_margin[rid] = storage_margin.get(rid, 0.0) + excess
    return RehearsalResult(f1, inv, f2, False, margin, iteration, f1x, T, tail.hours, seconds)


#: the longest routing tail past the forecast horizon [h]
TAIL_MAX_HOURS = 48

#: what each objective does with the storage it holds at the end of the horizon
STORAGE_RULES = {
    "min_peak": "keep: the storage held at the horizon stays (no return to the flood-limit level is forced; a "
                "reservoir's end_target_level, when set, caps it); the tail holds the last release and must keep "
                "every section safe and the dam below its flood-control high level",
    "max_margin": "keep: as min_peak",
    "min_storage": "return: storage is minimised hour by hour, so each reservoir goes back toward its "
                   "flood-limit level as fast as the sections allow (end_target_level, when set, caps it)",
    "rules": "the operating rules' own: back to the end-of-event target / flood-limit level by the rule",
}

#: what the tail assumes for lateral inflow after the forecast horizon
TAIL_LATERAL = ("the forecast's own lateral inflow past the horizon where it has some (a --hours shorter than the "
                "forecast), then its last hour held (persistence: on a falling limb this overstates the flow, on the "
                "safe side; a flood still rising when the forecast ends is understated)")


def tail_lateral(lateral: NDArray, interval_s: float, hours: int, after: NDArray | None = None) -> NDArray[np.float32]:
    """Lateral inflow [hours * per_hour, n] for the tail: the forecast past the horizon (``after``, whole hours at
    the same interval) as far as it goes, then the mean of the last hour before, held."""
    per_hour = int(round(3600.0 / interval_s))
    known = np.asarray(after[:hours * per_hour] if after is not None else lateral[:0], np.float32)
    last = np.asarray((known if len(known) else lateral)[-per_hour:], np.float64).mean(axis=0)
    held = np.repeat(last[None, :].astype(np.float32), hours * per_hour - len(known), axis=0)
    return np.concatenate([known, held])


def _join_runs(a: OperatedRun, b: OperatedRun) -> OperatedRun:
    """Run ``b``, started from ``a``'s final state, appended to ``a``."""
    ops = {k: OperationResult(np.concatenate([op.level, b.operations[k].level[1:]]),
                              np.concatenate([op.storage, b.operations[k].storage[1:]]),
                              np.concatenate([op.release, b.operations[k].release]),
                              list(op.binding) + list(b.operations[k].binding)) for k, op in a.operations.items()}
    inflow = {k: np.concatenate([v, b.inflow[k][1:]]) for k, v in a.inflow.items()}
    detention = None
    if a.detention is not None and b.detention is not None:
        detention = DetentionRecord({k: np.concatenate([v, b.detention.diversion[k]]) for k, v in a.detention.diversion.items()},
                                    {k: np.concatenate([v, b.detention.storage[k][1:]]) for k, v in a.detention.storage.items()},
                                    a.detention.position, {k: v and b.detention.rule[k] for k, v in a.detention.rule.items()})
    feeders = None
    if a.feeder_flow is not None and b.feeder_flow is not None:
        feeders = {k: np.vstack([v, b.feeder_flow[k]]) for k, v in a.feeder_flow.items() if k in b.feeder_flow}
    return OperatedRun(np.vstack([a.flow, b.flow]), np.vstack([a.lateral, b.lateral]), a.interval_s, ops, inflow,
                       b.final, b.final_dams, a.dam_position, a.dt, a.solver, detention, feeders,
                       nudgings=[*a.nudgings, *b.nudgings])  # a nudged F1 stays known as nudged (Reusable.fits)


def continue_forward(basin: BasinSpec, routing: OperatedNetwork, result: ForwardResult, lateral: NDArray,
                     hours: int, schedules: dict[str, NDArray] | None = None) -> ForwardResult:
    """``result`` continued ``hours`` more hours from its final channel, dam and detention state (bit for bit
    what one longer run gives) with ``lateral`` [hours * per_hour, n] at the result's interval, under the rules
    or ``schedules`` [hours]; scored over the whole."""
    if hours <= 0:
        return result
    stored = result.run.detention.final if result.run.detention is not None else None
    run = routing.run(lateral, result.run.interval_s, hours, result.run.final, result.run.final_dams, schedules,
                      detention=stored)
    joined = _join_runs(result.run, run)
    times = np.concatenate([result.times, result.times[-1] + np.arange(1, hours + 1) * np.timedelta64(1, "h")])
    return score(basin, routing, joined, times, result.initial)


def _passage_hours(responses: dict, cap: int = TAIL_MAX_HOURS) -> int:
    """Hours after a release until 99 % of its effect has passed every control section it reaches (from
    the unit responses), at least 1 and at most ``cap``."""
    lag = 1
    for (_, target), resp in responses.items():
        if target.startswith(("dam:", "detention:")):
            continue
        r = np.abs(resp)
        total = r.sum()
        if total <= 1e-9:
            continue
        lag = max(lag, int(np.argmax(np.cumsum(r) >= 0.99 * total)) + 1)
    return min(lag, cap)


@dataclass
class Tail:
    """F1 over the horizon and the routing tail, with the unit responses over both."""

    f1: ForwardResult  # F1 continued through the tail under the rules
    responses: dict[tuple[str, str], NDArray[np.float64]]  # [horizon + tail]
    lateral: NDArray[np.float32]  # the tail's lateral inflow [hours * per_hour, n]
    horizon: int  # hours
    hours: int  # of the tail


def extend_f1(network: RiverNetwork, basin: BasinSpec, routing: OperatedNetwork, f1: ForwardResult,
              lateral: NDArray | None = None, interval_s: float | None = None,
              max_hours: int = TAIL_MAX_HOURS, after: NDArray | None = None) -> Tail:
    """The routing tail past the horizon: unit responses are routed down each dam's path over the horizon
    plus ``max_hours`` (side inflow held at its last hour); the tail lasts until 99 % of a release's
    response has passed every control section it reaches (at most ``max_hours``); F1 is then continued
    from its own final state (not recomputed) with :data:`TAIL_LATERAL` (``after``, the forecast past the horizon,
    as far as it goes, then ``lateral``'s last hour held; F1's own last hour when None) under the rules for that
    many hours."""
    horizon = len(f1.times)
    long = unit_responses(network, basin, routing, f1, tail=max_hours)
    hours = _passage_hours(long, max_hours)
    interval_s = f1.run.interval_s if interval_s is None else interval_s
    src = f1.run.lateral if lateral is None else lateral
    if lateral is None:  # the run's own lateral holds the releases of the dams above: take them out
        src = np.array(src, np.float32)
        per_hour = int(round(3600.0 / interval_s))
        for rid, j in f1.run.dam_position.items():
            if routing.down[j] >= 0:
                src[:, routing.down[j]] -= np.repeat(f1.run.operations[rid].release, per_hour).astype(np.float32)
        for site in (routing.detention.sites if routing.detention is not None else ()):  # and the diversions
            if site.down >= 0:
                src[:, site.down] += np.repeat(f1.run.detention.diversion[site.id], per_hour).astype(np.float32)
    tail_lat = tail_lateral(src, interval_s, hours, after)
    f1x = continue_forward(basin, routing, f1, tail_lat, hours)
    return Tail(f1x, {k: v[:horizon + hours] for k, v in long.items()}, tail_lat, horizon, hours)


def verify_schedule(network: RiverNetwork, basin: BasinSpec, routing: OperatedNetwork, lateral: NDArray, tail: Tail,
                    schedules: dict[str, NDArray], start: dict[str, DamStart] | None = None,
                    initial: RoutingState | None = None, interval_s: float = 3600.0,
                    diversions: dict[str, NDArray] | None = None, nudging_for=None) -> tuple[ForwardResult, bool]:
    """F2's judgement of a release schedule: run it on the full model over the horizon and the tail (a
    schedule given for the horizon only holds its last release through the tail) and accept it only if
    every control section stays at or below its target and every dam at or below its flood-control high
    level over both. A schedule that is safe until the horizon and not after it is rejected. Detention
    basins follow ``diversions`` (per basin named, over the horizon, taking nothing in the tail, or over
    horizon and tail), the others their trigger rules."""
    T = tail.horizon
    full = {k: (np.concatenate([v, np.full(tail.hours, v[-1])]) if len(v) == T else np.asarray(v))
            for k, v in schedules.items()}
    div = {k: (np.concatenate([v, np.zeros(tail.hours)]) if len(v) == T else np.asarray(v, np.float64))
           for k, v in (diversions or {}).items()}
    lateral_all = np.concatenate([np.asarray(lateral, np.float32), tail.lateral])
    record = tail.f1.run.detention  # the basins start as F1 started them
    stored = {k: float(v[0]) for k, v in record.storage.items()} if record is not None else None
    # F1 through the tail ran from the same start: the pieces no changed release reaches are copied from it
    result = forward(network, basin, lateral_all, tail.f1.times, start, schedules=full, routing=routing,
                     initial=initial, interval_s=interval_s, diversions=div or None, detention=stored,
                     reuse=Reusable(tail.f1.run, tail.f1.initial), nudging_for=nudging_for)
    safe = (all(result.section_discharge[s.id].max() <= s.target_discharge for s in basin.control_sections)
            and all(result.reservoirs[r.id].level.max() <= r.flood_control_high_level + 1e-4 for r in basin.reservoirs)
            # on a Saint-Venant main stem the stage itself is computed: it must stay at or below the guaranteed stage
            and all(result.section_stage[s.id].max() <= s.guaranteed_stage for s in basin.control_sections
                    if result.stage_source.get(s.id, "").startswith("hydraulics")))
    return result, safe


def storage_at_horizon(result: ForwardResult, basin: BasinSpec, horizon: int) -> dict[str, dict]:
    """Per reservoir its level and storage at the horizon's end, and the flood storage (flood-limit to
    flood-control high level) used and left there."""
    out = {}
    for res in basin.reservoirs:
        op, curves = result.reservoirs[res.id], res.curves()
        s = float(op.storage[horizon])
        out[res.id] = {"level_m": round(float(op.level[horizon]), 3), "storage_m3": round(s, 0),
                       "flood_storage_used_m3": round(max(s - curves.storage(res.flood_limit_level), 0.0), 0),
                       "flood_storage_left_m3": round(float(curves.storage(res.flood_control_high_level) - s), 0)}
    return out


def tail_summary(rehearsal: RehearsalResult, basin: BasinSpec) -> dict:
    """What the rehearsal summary reports about the tail and the end-of-horizon storage."""
    f2 = rehearsal.f2
    T = rehearsal.horizon_hours
    out = {"horizon_hours": T, "tail_hours": rehearsal.tail_hours, "tail_lateral": TAIL_LATERAL,
           "tail_release": "each dam's last release held", "tail_max_hours": TAIL_MAX_HOURS,
           "storage_rule": STORAGE_RULES.get(rehearsal.inverse.objective if rehearsal.inverse else "rules"),
           "hold_hours": rehearsal.inverse.hold_hours if rehearsal.inverse else {}}
    if f2 is not None:
        out["f2_storage_at_horizon"] = storage_at_horizon(f2, basin, T)
        out["f2_peak_in_tail"] = _tail_peaks(f2, basin, T, rehearsal.tail_hours, "section_discharge")
        out["f2_peak_stage_in_tail"] = _tail_peaks(f2, basin, T, rehearsal.tail_hours, "section_stage", 3)
    if rehearsal.f1_tail is not None:
        out["f1_storage_at_horizon"] = storage_at_horizon(rehearsal.f1_tail, basin, T)
        # what the current rules do once the forecast ends: F1's own indicators stop at the horizon
        out["f1_peak_in_tail"] = _tail_peaks(rehearsal.f1_tail, basin, T, rehearsal.tail_hours, "section_discharge")
        out["f1_peak_stage_in_tail"] = _tail_peaks(rehearsal.f1_tail, basin, T, rehearsal.tail_hours, "section_stage", 3)
    return out


def _tail_peaks(result: ForwardResult, basin: BasinSpec, horizon: int, tail_hours: int, series: str,
                digits: int = 1) -> dict:
    """Per control section, the peak of ``result``'s ``series`` (section_discharge or section_stage) in the
    tail (None without one)."""
    values = getattr(result, series)
    return {s.id: round(float(values[s.id][horizon:].max()), digits) if tail_hours and values[s.id][horizon:].size
            else None for s in basin.control_sections}

def scheme_dataset(result: ForwardResult, basin: BasinSpec, scheme: str, horizon: int | None = None):
    """One scheme as CF NetCDF content: section discharge/stage (time, section), reservoir level, storage,
    release (time, reservoir) over the forecast horizon, so F1 reads as ``forecast.nc`` does, time for
    time. With ``horizon`` (hours) shorter than the result, the hours after it are the routing tail: the
    same variables with ``_tail`` over ``tail_time``, and the attributes ``horizon_end`` and ``tail_hours``."""
    import xarray as xr

    from ..core.variables import CF_ATTRS
    from ..io.netcdf import cf_encode

    sections = [s.id for s in basin.control_sections]
    reservoirs = [r.id for r in basin.reservoirs]
    n = len(result.times)
    horizon = n if horizon is None else min(int(horizon), n)
    ops = [result.reservoirs[r] for r in reservoirs]
    series = {
        "discharge": ("section", [result.section_discharge[s] for s in sections],
                      {"long_name": "control-section discharge", "units": "m3 s-1",
                       "standard_name": "water_volume_transport_in_river_channel"}),
        "stage": ("section", [result.section_stage[s] for s in sections], {"long_name": "control-section stage", "units": "m"}),
        "water_level": ("reservoir", [op.level[1:] for op in ops],
                        {"long_name": "reservoir level at the end of each hour", "units": "m"}),
        "storage": ("reservoir", [op.storage[1:] for op in ops], {"long_name": "reservoir storage", "units": "m3"}),
        "release": ("reservoir", [op.release for op in ops],
                    {"long_name": "reservoir release over the hour ending at time", "units": "m3 s-1"}),
    }
    record = result.run.detention
    basins = [b.id for b in sorted(basin.detention_basins, key=lambda b: (b.order, b.id))] if record is not None else []
    if basins:
        series["detention_diversion"] = ("detention_basin", [record.diversion[b] for b in basins],
                                         {"long_name": "flow diverted into the detention basin over the hour ending "
                                                       "at time", "units": "m3 s-1"})
        series["detention_storage"] = ("detention_basin", [record.storage[b][1:] for b in basins],
                                       {"long_name": "water volume stored in the detention basin at time",
                                        "units": "m3"})

    def columns(values: list, rows: slice, count: int) -> NDArray:  # [time, item], also for no items
        return np.stack([v[rows] for v in values], axis=1) if values else np.zeros((count, 0))

    data = {}
    for name, (dim, values, attrs) in series.items():
        data[name] = (("time", dim), columns(values, slice(0, horizon), horizon), attrs)
        if horizon < n:
            data[f"{name}_tail"] = (("tail_time", dim), columns(values, slice(horizon, n), n - horizon),
                                    {**attrs, "long_name": attrs["long_name"] + " in the routing tail"})
    coords = {"time": ("time", result.times[:horizon].astype("datetime64[ns]"), CF_ATTRS["time"]),
              "section": ("section", np.array(sections, dtype=str), CF_ATTRS["section"]),
              "reservoir": ("reservoir", np.array(reservoirs, dtype=str), CF_ATTRS["reservoir"])}
    if basins:
        coords["detention_basin"] = ("detention_basin", np.array(basins, dtype=str),
                                     {"long_name": "detention basin id (in its opening order)"})
    if horizon < n:
        coords["tail_time"] = ("tail_time", result.times[horizon:].astype("datetime64[ns]"),
                               {**CF_ATTRS["time"], "long_name": "valid time in the routing tail after the horizon "
                                "(each dam's last release held, lateral inflow held at the forecast's last hour)"})
    ds = xr.Dataset(data, coords=coords, attrs={
        "title": f"hydro rehearsal scheme {scheme} for basin {basin.name}", "routing_dt_s": result.run.dt,
        "routing_solver": result.run.solver, "initial_state": "cold" if result.initial is None else "issue-time state",
        "horizon_end": str(result.times[horizon - 1])[:16] if horizon else "", "tail_hours": int(n - horizon),
        "tail_lateral_inflow": TAIL_LATERAL})
    return cf_encode(ds)


def plot_scheme(png, result: ForwardResult, basin: BasinSpec, title: str, compare: ForwardResult | None = None,
                horizon: int | None = None) -> None:
    """Control-section hydrographs against the safe discharge and stages; reservoir level and release. With
    ``horizon`` (hours) shorter than the result, the routing tail after it is shaded on every panel."""
    from ..plots import figure, save

    def mark_tail(ax) -> None:
        if horizon is not None and 0 < horizon < len(result.times):
            ax.axvline(result.times[horizon - 1], color="k", lw=1, ls="--")
            ax.axvspan(result.times[horizon - 1], result.times[-1], color="grey", alpha=0.12,
                       label="routing tail (last release held)")

    record = result.run.detention
    basins = [b for b in sorted(basin.detention_basins, key=lambda b: (b.order, b.id))] if record is not None else []
    rows = len(basin.control_sections) + len(basin.reservoirs) + len(basins)
    fig = figure(figsize=(10, 2.8 * max(rows, 1)))
    k = 1
    for section in basin.control_sections:
        ax = fig.add_subplot(rows, 1, k)
        k += 1
        if compare is not None:
            ax.plot(compare.times, compare.section_discharge[section.id], color="grey", ls="--", label="F1 current rules")
        ax.plot(result.times, result.section_discharge[section.id], color="tab:blue", lw=2, label=title)
        ax.axhline(section.safe_discharge, color="red", lw=1, label="safe discharge")
        for stage, name, color in ((section.warning_stage, "warning stage", "orange"),
                                   (section.guaranteed_stage, "guaranteed stage", "darkred")):
            q = np.interp(stage, section.rating_stage_m, section.rating_discharge_m3s)
            ax.axhline(q, color=color, lw=1, ls=":", label=f"{name} ({stage} m)")
        ax.set_ylabel("discharge [m3 s-1]")
        ax.set_title(f"control section {section.id}", fontsize=9)
        mark_tail(ax)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for reservoir in basin.reservoirs:
        op = result.reservoirs[reservoir.id]
        ax = fig.add_subplot(rows, 1, k)
        k += 1
        ax.plot(result.times, op.level[1:], color="tab:green", lw=2, label="level")
        for level, name in ((reservoir.flood_limit_level, "flood-limit"),
                            (reservoir.flood_control_high_level, "flood-control high")):
            ax.axhline(level, lw=1, ls=":", color="k")
            ax.text(result.times[0], level, f" {name}", fontsize=7, va="bottom")
        ax.set_ylabel("level [m]")
        ax2 = ax.twinx()
        ax2.step(result.times, op.release, where="pre", color="tab:purple", label="release")
        ax2.plot(result.times, result.reservoir_inflow[reservoir.id][1:], color="grey", lw=1, label="inflow")
        ax2.set_ylabel("m3 s-1")
        ax2.legend(fontsize=7, loc="upper right")
        ax.set_title(f"reservoir {reservoir.id}", fontsize=9)
        mark_tail(ax)
        ax.grid(alpha=0.3)
    for spec in basins:
        ax = fig.add_subplot(rows, 1, k)
        k += 1
        ax.step(result.times, record.diversion[spec.id], where="pre", color="tab:brown", label="diversion")
        ax.axhline(spec.max_intake_m3s, color="tab:brown", lw=1, ls=":", label="inlet capacity")
        ax.set_ylabel("m3 s-1")
        ax.legend(fontsize=7, loc="upper left")
        ax2 = ax.twinx()
        ax2.plot(result.times, record.storage[spec.id][1:] / 1e6, color="tab:cyan", lw=2, label="stored")
        ax2.axhline(spec.capacity_hm3, color="tab:cyan", lw=1, ls=":", label="capacity")
        ax2.set_ylabel("hm3")
        ax2.legend(fontsize=7, loc="upper right")
        ax.set_title(f"detention basin {spec.id} (opens on {spec.trigger_section})", fontsize=9)
        mark_tail(ax)
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    save(fig, png)


def write_rehearsal(output_dir, rehearsal: RehearsalResult | None, f1: ForwardResult, basin: BasinSpec,
                    summary: dict) -> list[str]:
    """f1.nc / f2.nc (horizon, and the routing tail in ``*_tail`` variables over ``tail_time``), summary.json (with
    ``tail``: tail length and assumptions, storage rule, storage left at the horizon, when the caller has
    not put it there) and PNGs into ``output_dir`` (each written atomically)."""
    import json
    from pathlib import Path

    from ..io.atomic import clear_earlier_outputs, write_atomic
    from ..io.netcdf import write_dataset

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    clear_earlier_outputs(out, "rehearse")
    written = []
    horizon = len(f1.times)
    if rehearsal is not None and rehearsal.f1_tail is not None:
        f1 = rehearsal.f1_tail  # written with its tail, marked
        if "tail" not in summary:
            summary["tail"] = tail_summary(rehearsal, basin)
    schemes = [("f1", f1, None)]
    if rehearsal is not None and rehearsal.f2 is not None:
        schemes.append(("f2", rehearsal.f2, f1))
    for name, result, compare in schemes:
        write_dataset(out / f"{name}.nc", scheme_dataset(result, basin, name, horizon))
        plot_scheme(out / f"{name}.png", result, basin, "F1 current rules" if name == "f1" else "F2 derived schedule",
                    compare, horizon)
        written += [str(out / f"{name}.nc"), str(out / f"{name}.png")]
    write_atomic(out / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
    written.append(str(out / "summary.json"))
    return written
