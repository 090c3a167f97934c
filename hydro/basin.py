"""The basin's digital twin: the static model (:class:`BasinModel`) and its state (:class:`BasinState`).

One basin model carries everything a cycle runs: the river network with its dams cut out and operated
(:class:`hydro.routing.operated.OperatedNetwork`), the runoff grid and its parameters, the cell ->
segment mapping, and the basin definition (reservoirs and control sections). One state carries what
changes: soil and hillslope water per cell and segment, channel flow and depth per segment, lake levels,
and each dam's storage, level and gate setting. :func:`advance` runs rain through runoff, hillslope and
the operated network and returns the outputs and a new state; the analysis, the forecast (which *is*
the rehearsal's F1) and every ensemble member use it. No file is opened here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .core.errors import ConfigError, InputDataError
from .network import RiverNetwork
from .reservoir.operation import DamStart
from .routing.channel import RoutingState
from .routing.operated import OperatedNetwork, OperatedRun
from .runoff import RunoffState, Xinanjiang
from .runoff.coupling import CellMapping

RAIN_STEP_MIN = 10
STEPS_PER_HOUR = 60 // RAIN_STEP_MIN


@dataclass
class BasinModel:
    name: str
    folder: Path | None  # the basin folder (basin.toml and its files)
    spec: object  # hydro.io.basin.BasinSpec: reservoirs and control sections
    network: RiverNetwork
    grid: object  # D8Grid; None for a basin forced by lateral inflow (no runoff grid: see advance_lateral)
    mapping: CellMapping | None
    model: Xinanjiang | None
    table: object
    routing: OperatedNetwork  # the network with its dams operated; fixes the routing step and solver
    channel_ids: NDArray[np.int64]
    dry_model: Xinanjiang | None = None  # the same parameters at an hourly step, for hours without rain
    dry_table: object = None
    lake_outlets: dict[int, int] | None = None  # lake id -> its outlet segment in the source RouteLink (NWM basins)


@dataclass
class BasinState:
    """The twin's state at ``valid_time``."""

    valid_time: np.datetime64
    runoff: RunoffState
    hillslope: NDArray[np.float64] | None  # [n_segments, slots] m3 in transit (CellMapping.pending)
    routing: RoutingState
    dams: dict[str, DamStart] = field(default_factory=dict)  # storage, level and gate setting per reservoir
    # volume stored per detention basin [m3] (empty: all empty); restarts carry it
    detention: dict[str, float] = field(default_factory=dict)
    # hydraulic state per Saint-Venant main stem (hydro.hydraulics.network_coupling.MainStemState, by id) at
    # valid_time; empty: none (a cold start, or no main stems). Restarts carry it; the forecast stage advances it
    main_stems: dict = field(default_factory=dict)

    def copy(self) -> BasinState:
        return BasinState(self.valid_time, self.runoff.copy(), None if self.hillslope is None else self.hillslope.copy(),
                          RoutingState(self.routing.streamflow.copy(), self.routing.depth.copy(),
                                       self.routing.water_sfc_elev.copy()), dict(self.dams), dict(self.detention),
                          dict(self.main_stems))


@dataclass
class Advanced:
    """What :func:`advance` produced over whole hours."""

    run: OperatedRun  # the operated network's run: flows, dam operations (releases entered below the dams)
    times: NDArray[np.datetime64]  # hour ends
    lateral: NDArray[np.float32]  # [n_steps, n] the runoff's lateral inflow at 10 minutes (no releases)

    @cached_property
    def streamflow(self) -> NDArray[np.float32]:
        """[hours, n] at each hour's end; on a dam's segment its release (built once: the forecast's is
        written and graded)."""
        return self.run.streamflow()


def dry_step_model(model: Xinanjiang, values: NDArray) -> tuple[Xinanjiang | None, object]:
    """The hourly model for rainless hours, or (None, None) when the lag routing (LAG > 0, kept in steps)
    forbids changing the step."""
    from .kernels.runoff import XAJ_LAG

    if np.any(np.atleast_2d(values)[:, XAJ_LAG] > 0):
        return None, None
    hourly = Xinanjiang(1.0)
    return hourly, hourly.step_table(np.atleast_2d(values))


def cold_state(basin: BasinModel, valid_time: np.datetime64, initial_flow_mm_h: float,
               tension_fraction: float) -> BasinState:
    """Soils at ``tension_fraction`` of their tension capacity with a base flow of ``initial_flow_mm_h``,
    empty channels, lakes at their initial levels, dams at their flood-limit levels."""
    if basin.model is None:  # forced by lateral inflow: no soil or hillslope water to carry
        return BasinState(valid_time, RunoffState({}), None, basin.routing.cold_state(), basin.routing.cold_dams())
    dt_h = RAIN_STEP_MIN / 60.0
    runoff = basin.model.cold_state(basin.table, basin.mapping.n_cells, initial_flow_mm=initial_flow_mm_h * dt_h,
                                    tension_fraction=tension_fraction)
    return BasinState(valid_time, runoff, None, basin.routing.cold_state(), basin.routing.cold_dams())


def lateral_inflow(basin: BasinModel, state: BasinState, rain_mm: NDArray, pet_mm_h: float | NDArray,
                   progress: Callable[[int], None] | None = None, timer: dict | None = None) -> NDArray[np.float32]:
    """Runoff and hillslope for ``rain_mm`` [n_steps of 10 min, ny, nx] (whole hours), hour by hour, updating
    ``state``'s soil and hillslope water in place; returns the lateral inflow [n_steps, n] m3 s-1.
    Hour by hour so a national grid never holds more than one hour of fields, and so any split of a run at
    whole hours gives the same numbers. An hour without rain runs the runoff model at one hourly step (the
    parameters convert between steps, shared/domain/runoff-xaj.md and hydro/runoff/xaj.py; the recessions
    are exact) and spreads its runoff evenly over the six 10-minute steps: a sixth of the cost after the rain.
    ``pet_mm_h``: a constant, or per 10-minute step [n_steps] (basin-uniform) or [n_steps, ny, nx] [mm h-1]."""
    n_steps = rain_mm.shape[0]
    if n_steps % STEPS_PER_HOUR:
        raise ConfigError(f"{n_steps} rain steps is not a whole number of hours")
    mapping, model = basin.mapping, basin.model
    mapping.pending = state.hillslope
    pet = np.full((STEPS_PER_HOUR, mapping.n_cells), pet_mm_h * RAIN_STEP_MIN / 60.0) if np.ndim(pet_mm_h) == 0 else None
    pet_steps = None if pet is not None else np.asarray(pet_mm_h, np.float64).reshape(n_steps, -1) * (RAIN_STEP_MIN / 60.0)
    lateral = np.empty((n_steps, basin.network.size), np.float32)
    timer = timer if timer is not None else {}
    clock = time.perf_counter
    for h in range(n_steps // STEPS_PER_HOUR):
        t0 = clock()
        hour = slice(h * STEPS_PER_HOUR, (h + 1) * STEPS_PER_HOUR)
        rain = rain_mm[hour].reshape(STEPS_PER_HOUR, -1)
        if pet_steps is not None:  # PET from a file: per step, basin-uniform [n_steps] or per cell
            pet = np.ascontiguousarray(np.broadcast_to(pet_steps[hour], (STEPS_PER_HOUR, mapping.n_cells)))
        if basin.dry_model is not None and not rain.any():
            hour_pet = pet[:1] * STEPS_PER_HOUR if pet_steps is None else pet.sum(axis=0, keepdims=True)
            dry, _ = basin.dry_model.run(np.zeros((1, mapping.n_cells)), hour_pet, basin.dry_table, state.runoff)
            runoff = np.repeat(dry / STEPS_PER_HOUR, STEPS_PER_HOUR, axis=0)
        else:
            runoff, _ = model.run(rain.astype(np.float64), pet, basin.table, state.runoff)
        t1 = clock()
        lateral[hour] = mapping.lateral(runoff, RAIN_STEP_MIN * 60.0)
        t2 = clock()
        timer["runoff"] = timer.get("runoff", 0.0) + t1 - t0
        timer["hillslope"] = timer.get("hillslope", 0.0) + t2 - t1
        if progress is not None:
            progress(1)
    state.hillslope = mapping.pending
    return lateral


def advance(basin: BasinModel, state: BasinState, rain_mm: NDArray, pet_mm_h: float | NDArray,
            progress: Callable[[int], None] | None = None, timer: dict | None = None,
            nudging_for: Callable | None = None) -> tuple[Advanced, BasinState]:
    """Run ``rain_mm`` [n_steps of 10 min, ny, nx] (whole hours) through runoff, hillslope and the operated
    network from ``state``; returns the outputs and the new state (``state`` is not changed). The dams
    follow their current operating rules. ``timer`` (a dict) collects seconds per part; ``nudging_for``
    (feature ids -> Nudging or None) nudges gauged segments after every routing step."""
    new = state.copy()
    timer = timer if timer is not None else {}
    lateral = lateral_inflow(basin, new, rain_mm, pet_mm_h, progress, timer)
    return _route(basin, state, new, lateral, timer, nudging_for)


def advance_lateral(basin: BasinModel, state: BasinState, lateral: NDArray, timer: dict | None = None,
                    nudging_for: Callable | None = None) -> tuple[Advanced, BasinState]:
    """:func:`advance` for a basin without a runoff grid: route the given lateral inflow [n_steps of 10 min, n]
    m3 s-1 (network order, whole hours; e.g. the NWM's CHRTOUT ``qBucket + qSfcLatRunoff``) through the
    operated network from ``state`` (not changed)."""
    lateral = np.ascontiguousarray(lateral, np.float32)
    if lateral.ndim != 2 or lateral.shape[1] != basin.network.size or lateral.shape[0] % STEPS_PER_HOUR:
        raise ConfigError(f"lateral inflow of shape {lateral.shape}: need whole hours of 10-minute steps for "
                          f"{basin.network.size} segments")
    return _route(basin, state, state.copy(), lateral, timer if timer is not None else {}, nudging_for)


def _route(basin: BasinModel, state: BasinState, new: BasinState, lateral: NDArray[np.float32], timer: dict,
           nudging_for: Callable | None) -> tuple[Advanced, BasinState]:
    """Route ``lateral`` from ``state`` through the operated network; ``new`` (a copy of ``state`` whose runoff
    part has already advanced) gets the routing state at the end."""
    hours = lateral.shape[0] // STEPS_PER_HOUR
    t0 = time.perf_counter()
    start = state.routing
    if state.main_stems:  # main stems feeding the segments below them run in place (two-way coupling)
        from .hydraulics.network_coupling import with_main_stems

        for sid, stem in state.main_stems.items():
            if np.datetime64(stem.hydraulic.time, "m") != np.datetime64(state.valid_time, "m"):
                raise InputDataError(f"{stem.hydraulic.source or 'state'}: main stem {sid!r}: the hydraulic state is "
                                     f"valid at {str(stem.hydraulic.time)[:16]}, the basin state at "
                                     f"{str(state.valid_time)[:16]}; start cold (--cold)")
        start = with_main_stems(state.routing, state.main_stems)
    run = basin.routing.run(lateral, RAIN_STEP_MIN * 60.0, hours, start, state.dams, nudging_for=nudging_for,
                            detention=state.detention or None)
    timer["routing"] = timer.get("routing", 0.0) + time.perf_counter() - t0
    final = run.final
    new.routing, new.dams = RoutingState(final.streamflow, final.depth, final.water_sfc_elev), run.final_dams
    new.detention = run.detention.final if run.detention is not None else {}
    # the main stems the network ran in place are advanced; the others are run by the forecast stage on ``run``
    new.main_stems = dict(getattr(final, "main_stems", None) or {})
    new.valid_time = state.valid_time + np.timedelta64(hours, "h")
    times = (state.valid_time + np.arange(1, hours + 1) * np.timedelta64(1, "h")).astype("datetime64[ns]")
    return Advanced(run, times, lateral), new
