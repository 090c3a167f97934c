"""Forecast stage: the analysis window from the issue-time state's predecessor, the nowcast, and the forecast
through the current operating rules (which *is* the rehearsal's F1).

One cycle covers an analysis window [start, start + hours) and a forecast window after it. Rain on the
basin's 1 km grid at 10-minute steps drives Xinanjiang per cell, the cell -> segment mapping
(hillslope travel time) and the operated network (NWM Muskingum-Cunge, every dam on its rules) from the
previous cycle's state. The state at the end of the analysis window is the issue-time state (the next
cycle's restart). From it a nowcast (S-PROG; a STEPS ensemble with ``members``) of the last frames gives
the first ``nowcast_hours`` of the forecast window, then the gridded QPF of ``[forcing.qpf]`` (no rain after
the nowcast without one; PET constant or from ``[forcing] pet``, docs/forcing.md). With an
ensemble, each member runs through the same rules, and the forecast itself is the run of the
member-median rain (one consistent run, whose dams and sections the rehearsal takes as F1).

Also: grid runoff generation aggregated to segment lateral inflow for a lumped record (``grid_lateral_inflow``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..basin import RAIN_STEP_MIN, STEPS_PER_HOUR, Advanced, BasinModel, BasinState, advance
from ..core.times import utc_naive
from ..io.config import CycleConfig
from ..runoff import RunoffModel, RunoffState, StepTable
from ..runoff.coupling import CellMapping
from .water_balance import water_balance


def grid_lateral_inflow(model: RunoffModel, table: StepTable, state: RunoffState, mapping: CellMapping,
                        precip_mm: NDArray[np.float64], pet_mm: NDArray[np.float64], param_row=None,
                        chunk_steps: int = 36) -> tuple[NDArray[np.float64], dict]:
    """Run ``model`` on the grid cells of ``mapping`` and aggregate to lateral inflow [m3 s-1].

    ``precip_mm``/``pet_mm`` are [n_steps, n_cells] in mm per step; runs in chunks of ``chunk_steps``
    so a national grid never holds the whole runoff field. Returns lateral [n_steps, n_segments] and a
    water balance [m3] over the mapped cells: rain, evapotranspiration, storage change, delivered,
    still on the hillslopes.
    """
    dt_s = model.dt_hours * 3600.0
    n_steps = precip_mm.shape[0]
    lateral = np.empty((n_steps, len(mapping.feature_id)))
    weight = np.zeros(mapping.n_cells)
    np.add.at(weight, mapping.cell, mapping.area_m2 / 1000.0)  # m3 per mm, per cell
    storage_before = model.storage(table, state, param_row) @ weight
    rain = evaporation = 0.0
    for t0 in range(0, n_steps, chunk_steps):
        sl = slice(t0, min(t0 + chunk_steps, n_steps))
        runoff, evap = model.run(precip_mm[sl], pet_mm[sl], table, state, param_row=param_row)
        lateral[sl] = mapping.lateral(runoff, dt_s)
        rain += float(precip_mm[sl].sum(axis=0) @ weight)
        evaporation += float(evap @ weight)
    balance = {
        "rain_m3": rain, "evaporation_m3": evaporation,
        "storage_change_m3": float(model.storage(table, state, param_row) @ weight - storage_before),
        "delivered_m3": float(lateral.sum() * dt_s), "on_hillslopes_m3": float(mapping.pending.sum()),
    }
    return lateral, balance


@dataclass(frozen=True)
class Window:
    start: np.datetime64  # analysis start
    issue: np.datetime64  # analysis end = forecast start = restart time
    end: np.datetime64  # forecast end


def window(config: CycleConfig) -> Window:
    start = np.datetime64(utc_naive(config.cycle.start), "m")
    issue = start + np.timedelta64(config.cycle.hours, "h")
    return Window(start, issue, issue + np.timedelta64(config.cycle.forecast_hours, "h"))


@dataclass
class ForecastResult:
    """The forecast stage's outputs, passed to the later stages as they are."""

    window: Window
    analysis: Advanced  # the analysis window, dams operated
    issue_state: BasinState  # at the issue time: the next cycle's restart, and where the rehearsal starts
    forecast: Advanced  # the forecast window through the current rules: F1
    members_flow: NDArray[np.float32] | None  # [members, hours, n] each member through the same rules
    analysis_rain_mm: float
    nowcast_rain_mm: float
    timer: dict
    qpf_rain_mm: float = 0.0  # basin-mean QPF after the nowcast [mm]
    rain_after_nowcast: str = "none (no QPF)"
    water_balance: dict | None = None  # the forecast window's land and channel balance [m3] (stages.water_balance)
    # per control section on a Saint-Venant main stem: the members' stage by the hydraulics [members, hours]
    members_stage: dict[str, NDArray[np.float64]] | None = None
    # the Saint-Venant main stems over the analysis window (id -> MainStemResult); empty after a cold start,
    # where only the window's last hour is run to build their issue-time state
    analysis_main_stems: dict = field(default_factory=dict)


def nowcast_rain(history_mm: NDArray, steps: int, members: int = 0, seed: int = 1, cell_km: float = 1.0,
                 levels: int = 6, motion_smoothing_km: float | None = None) -> NDArray[np.float32]:
    """Nowcast [steps, ny, nx] (or [members, steps, ny, nx]) mm per 10-minute step from the last observed
    steps (at least three), by S-PROG or a STEPS ensemble with ``levels`` cascade levels on cells of
    ``cell_km`` (the motion smoothing and perturbations are in km); dry history gives a dry nowcast."""
    from ..core.registry import get_method
    from ..nowcast import MOTION_SMOOTHING_KM

    smoothing = MOTION_SMOOTHING_KM if motion_smoothing_km is None else motion_smoothing_km
    frames = history_mm[-3:].astype(np.float64) * (60.0 / RAIN_STEP_MIN)  # mm h-1
    shape = (members, steps) if members else (steps,)
    if steps == 0 or (frames >= 0.1).sum() < 50:  # too little rain for motion or a cascade
        return np.zeros(shape + history_mm.shape[1:], np.float32)
    if members:
        method = get_method("nowcast", "steps")(n_levels=levels, members=members, seed=seed,
                                                step_minutes=RAIN_STEP_MIN, cell_km=cell_km,
                                                motion_smoothing_km=smoothing)
    else:
        method = get_method("nowcast", "sprog")(n_levels=levels, cell_km=cell_km, motion_smoothing_km=smoothing)
    rates = method.forecast(frames, steps).rates
    return (np.nan_to_num(rates, nan=0.0) * (RAIN_STEP_MIN / 60.0)).astype(np.float32)


def basin_total(basin: BasinModel, rain: NDArray, members: int) -> float:
    """Basin-mean rain total [mm] of [steps, ny, nx] (the member mean of [members, steps, ny, nx])."""
    if not rain.size:
        return 0.0
    total = (rain.mean(axis=0) if members else rain).sum(axis=0).reshape(-1)
    return float(total[np.unique(basin.mapping.cell)].mean())


def run_forecast(config: CycleConfig, basin: BasinModel, forcing, state: BasinState, members: int = 0,
                 scheduler: str | None = None, nudging_for=None) -> ForecastResult:
    """The analysis window from ``state`` (valid at the window start), then the nowcast-driven forecast
    from the issue-time state; ``forcing`` gives rain by time window (``hydro.stages.forcing.Forcing``)."""
    import time

    w = window(config)
    if basin.grid is None:
        return _run_forecast_lateral(config, basin, forcing, state, members, nudging_for)
    forcing.check_covers(w.start, w.issue, "analysis window")
    timer: dict = {}
    t0 = time.perf_counter()
    rain = forcing.rain(w.start, w.issue)
    pet = getattr(forcing, "pet", None)  # PET from a file ([forcing] pet), else the constant runoff.pet_mm_h
    pet_analysis = config.runoff.pet_mm_h if pet is None else pet(w.start, w.issue, config.runoff.pet_mm_h)
    pet_forecast = config.runoff.pet_mm_h if pet is None else pet(w.issue, w.end, config.runoff.pet_mm_h)
    analysis, issue_state = advance(basin, state, rain, pet_analysis, timer=timer, nudging_for=nudging_for)
    issue_state.main_stems, analysis_stems = main_stems_at_issue(basin, state, analysis, timer)
    n_now = int(round(config.cycle.nowcast_hours * STEPS_PER_HOUR))
    n_fc = config.cycle.forecast_hours * STEPS_PER_HOUR
    history = forcing.rain(max(forcing.start, w.issue - np.timedelta64(3 * RAIN_STEP_MIN, "m")), w.issue)
    nc = config.nowcast
    t1 = time.perf_counter()
    now = nowcast_rain(history, n_now, members, nc.seed, basin.grid.cell_size_m[0] / 1000.0, nc.levels,
                       nc.motion_smoothing_km)
    timer["nowcast"] = time.perf_counter() - t1
    # after the nowcast: the gridded QPF of [forcing.qpf], else no rain
    qpf_rain = getattr(forcing, "qpf_rain", None)
    qpf = None if qpf_rain is None or n_now >= n_fc else qpf_rain(w.issue, w.issue + n_now * np.timedelta64(RAIN_STEP_MIN, "m"),
                                                                  w.end)
    members_flow, members_stage = None, None
    if members:
        from ..core.memory import require_memory
        from .ensemble import run_members

        cells = int(np.prod(basin.grid.shape))  # the members' rain and its median (float32), their hourly flows
        require_memory(4.0 * (members + 1) * n_fc * cells + 4.0 * members * config.cycle.forecast_hours * basin.network.size,
                       f"a {members}-member ensemble over {n_fc} ten-minute steps of {cells:,} cells",
                       "lower --members or cycle.forecast_hours")
        rains = np.zeros((members, n_fc) + basin.grid.shape, np.float32)
        rains[:, :n_now] = now
        if qpf is not None:
            rains[:, n_now:] = qpf
        members_flow, members_stage = run_members(basin, issue_state, rains, pet_forecast, scheduler)
        rain_fc = np.median(rains, axis=0)  # the forecast (and F1): the member-median rain
    else:
        rain_fc = np.zeros((n_fc,) + basin.grid.shape, np.float32)
        rain_fc[:n_now] = now
        if qpf is not None:
            rain_fc[n_now:] = qpf
    # the forecast carries the gauges' last corrections, decaying ([assimilation] forecast_decay_minutes)
    forecast, forecast_end = advance(basin, issue_state, rain_fc, pet_forecast, timer=timer,
                                     nudging_for=getattr(nudging_for, "forecast", None))
    timer["total"] = time.perf_counter() - t0
    return ForecastResult(w, analysis, issue_state, forecast, members_flow, basin_total(basin, rain, 0),
                          basin_total(basin, now, members), timer,
                          qpf_rain_mm=0.0 if qpf is None else basin_total(basin, qpf, 0),
                          rain_after_nowcast=getattr(forcing, "qpf_source", "none (no QPF)"),
                          water_balance=water_balance(basin, issue_state, forecast_end, rain_fc, forecast),
                          members_stage=members_stage,
                          analysis_main_stems=analysis_stems)


def _run_forecast_lateral(config: CycleConfig, basin: BasinModel, forcing, state: BasinState, members: int,
                          nudging_for) -> ForecastResult:
    """A basin without a runoff grid (forcing kind ``nwm_lateral``): the analysis routes the given lateral
    inflow to the issue time (nudged to the gauges), the forecast routes the forcing's lateral inflow over the
    forecast window (e.g. the NWM's short-range CHRTOUT) through the current operating rules, carrying the gauges'
    last corrections as they decay (``nudging_for.forecast``, hydro.routing.nudging.PersistedNudging). No rain,
    no nowcast."""
    import time

    from ..basin import advance_lateral
    from ..core.errors import ConfigError

    if members:
        raise ConfigError(f"{forcing.path}: an ensemble (--members) needs rain members; the NWM lateral inflow is "
                          "one deterministic series")
    w = window(config)
    inflow = forcing.lateral_inflow
    timer: dict = {}
    t0 = time.perf_counter()
    step_s = RAIN_STEP_MIN * 60
    analysis, issue_state = advance_lateral(basin, state, inflow.lateral(w.start, w.issue, step_s), timer=timer,
                                            nudging_for=nudging_for)
    issue_state.main_stems, analysis_stems = main_stems_at_issue(basin, state, analysis, timer)
    forecast, forecast_end = advance_lateral(basin, issue_state, inflow.lateral(w.issue, w.end, step_s), timer=timer,
                                             nudging_for=getattr(nudging_for, "forecast", None))
    timer["total"] = time.perf_counter() - t0
    return ForecastResult(w, analysis, issue_state, forecast, None, 0.0, 0.0, timer,
                          water_balance=water_balance(basin, issue_state, forecast_end, None, forecast),
                          analysis_main_stems=analysis_stems)


def main_stems_at_issue(basin: BasinModel, state: BasinState, analysis: Advanced, timer: dict) -> tuple[dict, dict]:
    """The Saint-Venant main stems' states at the issue time, by id (where the forecast and the rehearsal start
    them and the restart carries them), and their results over the analysis window (empty after a cold start):
    the analysis window run on its operated run from ``state``'s hydraulic states (the previous cycle's; a main
    stem feeding the network below it was run in place by the network). Without them (a cold start, an older
    restart) only the window's last hour is run, from the steady profile of the flows an hour before the issue
    time: a steady start needs a flow, and one from the near-empty channels of a cold start would have to wet
    the main stem during the storm."""
    if not getattr(basin.spec, "main_stems", None):
        return {}, {}
    import time

    from ..hydraulics.network_coupling import NetworkFlows, run_main_stems
    from .rehearsal import coupled_main_stems

    t0 = time.perf_counter()
    in_place = dict(getattr(analysis.run.final, "main_stems", None) or {})  # run by the network (two-way)
    stems = [m for m in coupled_main_stems(basin.spec, basin.routing) if m.id not in in_place]
    run, times, start_flow = analysis.run, analysis.times, state.routing.streamflow
    if not state.main_stems and len(times) > 1:
        per_hour = int(round(3600.0 / run.interval_s))
        run = NetworkFlows(run.flow[-1:], run.lateral[-per_hour:], run.interval_s)  # the last hour
        times, start_flow = times[-1:], analysis.run.flow[-2]
    runs = run_main_stems(stems, run, times, start_flow, state.main_stems or None) if stems else {}
    timer["main_stems_analysis"] = timer.get("main_stems_analysis", 0.0) + time.perf_counter() - t0
    finals = {**in_place, **{sid: r.final_state for sid, r in runs.items()}}
    return finals, ({**analysis.run.main_stems, **runs} if state.main_stems else {})
