"""``hydro run CONFIG.toml``: the four-stage cycle, forecast -> warning -> rehearsal -> plan, rolling.

One cycle covers an analysis window [start, start + hours) and a forecast window after it:

* **forecast** — rain on the basin's 1 km grid at 10-minute steps (the forcing set-up in ``forcing/``:
  radar frames or a generated storm) drives Xinanjiang per cell, the cell -> segment mapping (hillslope
  travel time) and NWM Muskingum-Cunge over the whole network, hour by hour, from the previous cycle's
  restart. The state at the end of the analysis window is the next cycle's restart. From that state a
  nowcast (S-PROG; a STEPS ensemble with ``--members``) of the last frames gives the first ``nowcast``
  hours of the forecast window, no further rain after it (we hold no QPF). Reservoirs enter at the
  rehearsal stage (F1 = the forecast through the current operating rules); the network-wide routing
  treats the dam segments as channel reaches.
* **warning** — every segment graded against return-period flows fitted to the basin's simulated
  climatology (Pearson III by default), every control section graded on its stage under the current
  reservoir rules (four-colour MWR rules or NWS categories); probabilities from an ensemble.
* **rehearsal** — forward-inverse-forward dispatch on the forecast (``rehearsal.md``).
* **plan** — the ranked schemes and the plan document.

Each stage reads the previous stage's files in the cycle folder, so ``--stage`` reruns one. Every
file is written atomically; the restart is versioned and carries the configuration hash, so a killed
run leaves the previous state and outputs intact, and a run of 2N hours equals N + restart + N bit
for bit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import ConfigError, InputDataError
from ..core.paths import BASINS_DIR, MODELS_DIR, REPO_ROOT
from ..io import netcdf
from ..io.basin import read_basin, read_toml_model
from ..io.restart import ModelState, read_restart, restart_path, write_restart
from ..network import RiverNetwork
from ..routing.channel import MuskingumCunge
from ..runoff import Xinanjiang
from ..runoff.coupling import CellMapping

log = logging.getLogger("hydro")
FORCING_DIR = REPO_ROOT / "forcing"
STAGES = ("forecast", "warning", "rehearsal", "plan")
RAIN_STEP_MIN = 10
STEPS_PER_HOUR = 60 // RAIN_STEP_MIN


# --- configuration ------------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CycleSection(_Strict):
    basin: str  # a folder under basins/
    start: datetime  # start of the analysis window (UTC)
    hours: int = Field(gt=0, le=24 * 14)  # analysis window; the next cycle starts at its end
    forecast_hours: int = Field(default=48, gt=0, le=24 * 10)
    nowcast_hours: float = Field(default=6.0, ge=0.0, le=6.0)
    output_dir: str = "runs/{basin}"  # relative to the config file
    state_dir: str = "runs/{basin}/state"


class ForcingSection(_Strict):
    setup: str  # a TOML under forcing/ (or an absolute path)


class RunoffSection(_Strict):
    model: Literal["xaj"] = "xaj"
    parameters: str | None = None  # under models/; default: the basin's runoff_parameters
    pet_mm_h: float = Field(default=0.1, ge=0.0)
    initial_tension_fraction: float = Field(default=0.85, ge=0.0, le=1.0)
    initial_flow_mm_h: float = Field(default=0.02, ge=0.0)


class RoutingSection(_Strict):
    dt_s: float = Field(default=300.0, gt=0)
    solver: Literal["nwm", "fast"] = "nwm"


class WarningSection(_Strict):
    scheme: Literal["mwr", "nws"] = "mwr"
    frequency: Literal["pearson3", "gev", "gumbel"] = "pearson3"
    approach_fraction: float = Field(default=0.9, gt=0.0, le=1.0)
    climatology: str = "climatology.nc"  # in the basin folder: annual_max(year, feature_id)


class RehearsalSection(_Strict):
    objective: Literal["min_peak", "max_margin", "min_storage"] = "min_peak"


class AssimilationSection(_Strict):
    observations: str | None = None  # gauge flows (parquet/CSV: time, link, discharge_m3s[, quality]), relative to the config
    coefficient: float = Field(default=1.0, ge=0.0, le=1.0)  # nudging coefficient G
    tau_s: float = Field(default=900.0, gt=0.0)  # time radius of an observation


class CycleConfig(_Strict):
    cycle: CycleSection
    forcing: ForcingSection
    runoff: RunoffSection = RunoffSection()
    routing: RoutingSection = RoutingSection()
    warning: WarningSection = WarningSection()
    rehearsal: RehearsalSection = RehearsalSection()
    assimilation: AssimilationSection = AssimilationSection()

    def model_hash(self) -> str:
        """Hash of what defines the model state (not the window or the output folders)."""
        keep = {k: v for k, v in self.model_dump(mode="json").items() if k in ("runoff", "routing")}
        keep["basin"] = self.cycle.basin
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


class ForcingSetup(_Strict):
    kind: Literal["synthetic_storm", "radar"]
    description: str = ""
    start: datetime  # first 10-minute interval starts here
    hours: int = Field(gt=0)
    seed: int = 1  # synthetic_storm
    peak_mm_h: float = Field(default=30.0, gt=0)
    duration_h: float = Field(default=10.0, gt=0)
    path: str | None = None  # radar: a CF NetCDF file or a folder of frames, relative to the set-up file


def load_config(path: Path) -> CycleConfig:
    return read_toml_model(Path(path), CycleConfig, "cycle configuration")


# --- the basin model -----------------------------------------------------------------------------------

@dataclass
class BasinModel:
    name: str
    folder: Path
    spec: object  # BasinSpec: reservoirs and control sections
    network: RiverNetwork
    grid: object  # D8Grid
    mapping: CellMapping
    model: Xinanjiang
    table: object
    routing: MuskingumCunge
    channel_ids: NDArray[np.int64]
    dry_model: Xinanjiang | None = None  # the same parameters at an hourly step, for hours without rain
    dry_table: object = None


def dry_step_model(model: Xinanjiang, values: NDArray) -> tuple[Xinanjiang | None, object]:
    """The hourly model for rainless hours, or (None, None) when the lag routing (LAG > 0, kept in steps)
    forbids changing the step."""
    from ..kernels.runoff import XAJ_LAG

    if np.any(np.atleast_2d(values)[:, XAJ_LAG] > 0):
        return None, None
    hourly = Xinanjiang(1.0)
    return hourly, hourly.step_table(np.atleast_2d(values))


def load_basin(config: CycleConfig, config_path: Path) -> BasinModel:
    from ..io.grid import read_d8, read_id_raster
    from ..io.parameters import read_parameter_set

    folder = BASINS_DIR / config.cycle.basin
    toml = folder / "basin.toml"
    if config.cycle.basin == "demo":  # the embedded demo basin is generated, not stored
        from ..demo import ensure_demo_basin

        ensure_demo_basin(folder)
    if not toml.is_file():
        have = sorted(p.name for p in BASINS_DIR.iterdir() if (p / "basin.toml").is_file())
        raise ConfigError(f"{config_path}: cycle.basin {config.cycle.basin!r} not found under {BASINS_DIR} "
                          f"(have: {', '.join(have) or 'none'})")
    spec = read_basin(toml)
    for key in ("network", "flow_direction", "channel_segments"):
        if getattr(spec, key) is None or not (folder / getattr(spec, key)).is_file():
            raise ConfigError(f"{toml}: '{key}' missing or its file is not in {folder}")
    network, _ = netcdf.read_network(folder / spec.network)
    grid = read_d8(folder / spec.flow_direction)
    channel_ids = read_id_raster(folder / spec.channel_segments, grid)
    mapping = CellMapping.from_d8(grid.down, grid.shape, channel_ids, network.feature_id, grid.cell_size_m,
                                  grid.cell_area_m2, hillslope_velocity=spec.hillslope_velocity, source=grid.source)
    parameters = config.runoff.parameters or spec.runoff_parameters
    if parameters is None or not (MODELS_DIR / parameters).is_file():
        raise ConfigError(f"{config_path}: runoff parameters {parameters!r} not found under {MODELS_DIR} "
                          "(runoff.parameters, or runoff_parameters in the basin file)")
    params = MODELS_DIR / parameters
    model = Xinanjiang(RAIN_STEP_MIN / 60.0)
    values = read_parameter_set(params, model.name, model.parameter_names)[None, :]
    routing = MuskingumCunge(network, None, config.routing.dt_s, solver=config.routing.solver)
    return BasinModel(config.cycle.basin, folder, spec, network, grid, mapping, model, model.step_table(values), routing,
                      channel_ids, *dry_step_model(model, values))


def cold_state(basin: BasinModel, config: CycleConfig, valid_time: np.datetime64) -> ModelState:
    dt_h = RAIN_STEP_MIN / 60.0
    runoff = basin.model.cold_state(basin.table, basin.mapping.n_cells, initial_flow_mm=config.runoff.initial_flow_mm_h * dt_h,
                                    tension_fraction=config.runoff.initial_tension_fraction)
    return ModelState(valid_time, runoff, None, basin.routing.cold_state())


# --- forcing ---------------------------------------------------------------------------------------------

class Forcing:
    """Rain [mm per 10-minute step] on the basin grid from a forcing set-up, by time window."""

    def __init__(self, setup_path: Path, basin: BasinModel):
        self.path = setup_path
        self.setup = read_toml_model(setup_path, ForcingSetup, "forcing set-up")
        self.start = np.datetime64(self.setup.start.replace(tzinfo=None), "m")
        self.end = self.start + np.timedelta64(self.setup.hours, "h")
        self.shape = basin.grid.shape
        self._rain = None
        self._basin = basin

    def _field(self) -> NDArray[np.float32]:
        if self._rain is None:
            n = self.setup.hours * STEPS_PER_HOUR
            if self.setup.kind == "synthetic_storm":
                from ..synthetic import synthetic_storm

                self._rain = synthetic_storm(self.shape, n, RAIN_STEP_MIN / 60.0, seed=self.setup.seed,
                                             peak_mm_h=self.setup.peak_mm_h,
                                             duration_h=self.setup.duration_h).astype(np.float32)
            else:
                self._rain = self._radar(n)
        return self._rain

    def _radar(self, n: int) -> NDArray[np.float32]:
        from ..io.radar import read_radar
        from ..nowcast.qc import QCPolicy, fill_not_measured, quality_control
        from ..nowcast.regrid import regrid

        if self.setup.path is None:
            raise ConfigError(f"{self.path}: a radar set-up needs 'path'")
        frames = read_radar(self.path.parent / self.setup.path, window=(self.start, self.end))
        frames.check_order()
        frames, _ = quality_control(frames, frames.step, QCPolicy())
        grid = self._basin.grid
        rate = regrid(frames, grid.shape, grid.transform, grid.crs)
        rate = fill_not_measured(rate, "zero", str(self.path))
        # 10-minute mean rate -> mm per step, stamped at the interval end
        times = frames.times.astype("datetime64[m]")
        out = np.zeros((n,) + grid.shape, np.float32)
        for k in range(n):
            end = self.start + np.timedelta64((k + 1) * RAIN_STEP_MIN, "m")
            inside = (times > end - np.timedelta64(RAIN_STEP_MIN, "m")) & (times <= end)
            if not inside.any():
                raise InputDataError(f"{self.path}: no radar frame in the 10 minutes ending {end}; the forcing has a gap")
            out[k] = rate[inside].mean(axis=0) * RAIN_STEP_MIN / 60.0
        return out

    def check_covers(self, start: np.datetime64, end: np.datetime64, what: str) -> None:
        if start < self.start or end > self.end:
            raise InputDataError(f"{self.path}: forcing covers {self.start} .. {self.end}, the {what} needs "
                                 f"{str(start)[:16]} .. {str(end)[:16]}; extend the forcing or move the cycle")

    def rain(self, start: np.datetime64, end: np.datetime64) -> NDArray[np.float32]:
        """[n_steps, ny, nx] mm per 10-minute step for the intervals in [start, end)."""
        self.check_covers(start, end, "cycle")
        i0 = int((start - self.start) / np.timedelta64(RAIN_STEP_MIN, "m"))
        i1 = int((end - self.start) / np.timedelta64(RAIN_STEP_MIN, "m"))
        return self._field()[i0:i1]


# --- forecast stage -------------------------------------------------------------------------------------

def advance(basin: BasinModel, state: ModelState, rain_mm: NDArray, pet_mm_h: float,
            progress=None, timer: dict | None = None, assimilate: tuple | None = None,
            lateral_out: NDArray | None = None) -> NDArray[np.float32]:
    """Run ``rain_mm`` [n_steps of 10 min, ny, nx] (whole hours) through runoff, hillslope and routing,
    hour by hour, updating ``state`` in place; returns hourly streamflow [hours, n] (end of each hour).
    Hour by hour so a national grid never holds more than one hour of fields, and so any split of a
    run at whole hours gives the same numbers. An hour without rain runs the runoff model at one
    hourly step (the parameters convert between steps, shared/domain/xinanjiang.md and
    hydro/runoff/xaj.py; the recessions are exact) and spreads its runoff evenly over the six
    10-minute steps of the hillslope and routing: a sixth of the runoff cost after the rain.
    ``timer`` (a dict) collects seconds per part. ``assimilate`` = (GaugeObservations, coefficient,
    tau_s) nudges the gauged segments after every routing step (hydro.routing.nudging). ``lateral_out``
    [hours, n] receives each hour's mean lateral inflow (what the rehearsal routes under the dam rules)."""
    n_steps = rain_mm.shape[0]
    if n_steps % STEPS_PER_HOUR:
        raise ConfigError(f"{n_steps} rain steps is not a whole number of hours")
    hours = n_steps // STEPS_PER_HOUR
    mapping, model, routing = basin.mapping, basin.model, basin.routing
    mapping.pending = state.hillslope
    pet = np.full((STEPS_PER_HOUR, mapping.n_cells), pet_mm_h * RAIN_STEP_MIN / 60.0)
    out = np.empty((hours, basin.network.size), np.float32)
    steps_per_interval = int(round(RAIN_STEP_MIN * 60 / routing.dt))
    timer = timer if timer is not None else {}
    clock = time.perf_counter
    for h in range(hours):
        t0 = clock()
        rain = rain_mm[h * STEPS_PER_HOUR:(h + 1) * STEPS_PER_HOUR].reshape(STEPS_PER_HOUR, -1)
        if basin.dry_model is not None and not rain.any():
            dry, _ = basin.dry_model.run(np.zeros((1, mapping.n_cells)), pet[:1] * STEPS_PER_HOUR, basin.dry_table,
                                         state.runoff)
            runoff = np.repeat(dry / STEPS_PER_HOUR, STEPS_PER_HOUR, axis=0)
        else:
            runoff, _ = model.run(rain.astype(np.float64), pet, basin.table, state.runoff)
        t1 = clock()
        qlat = mapping.lateral(runoff, RAIN_STEP_MIN * 60.0).astype(np.float32)
        if lateral_out is not None:
            lateral_out[h] = qlat.mean(axis=0)
        t2 = clock()
        nudging = None
        if assimilate is not None:
            from ..routing.nudging import Nudging

            obs, coefficient, tau_s = assimilate
            nudging = Nudging(obs, basin.network.feature_id, state.valid_time + np.timedelta64(h, "h"), routing.dt,
                              coefficient, tau_s)
        result = routing.run(qlat, RAIN_STEP_MIN * 60.0, STEPS_PER_HOUR * steps_per_interval, state.routing,
                             output_every=STEPS_PER_HOUR * steps_per_interval, nudging=nudging)
        routing.check_converged(result)
        t3 = clock()
        for part, seconds in (("runoff", t1 - t0), ("hillslope", t2 - t1), ("routing", t3 - t2)):
            timer[part] = timer.get(part, 0.0) + seconds
        state.routing = result.final_state
        out[h] = result.streamflow[0]
        if progress is not None:
            progress(1)
    state.hillslope = mapping.pending
    state.valid_time = state.valid_time + np.timedelta64(hours, "h")
    return out


def nowcast_rain(history_mm: NDArray, steps: int, members: int = 0, seed: int = 1, cell_km: float = 1.0) -> NDArray[np.float32]:
    """Nowcast [steps, ny, nx] (or [members, steps, ny, nx]) mm per 10-minute step from the last observed
    steps (at least three), by S-PROG or a STEPS ensemble on cells of ``cell_km`` (its motion perturbations
    are in km/h); dry history gives a dry nowcast."""
    from ..nowcast.sprog import SProg, Steps

    frames = history_mm[-3:].astype(np.float64) * (60.0 / RAIN_STEP_MIN)  # mm h-1
    shape = (members, steps) if members else (steps,)
    if steps == 0 or (frames >= 0.1).sum() < 50:  # too little rain for motion or a cascade
        return np.zeros(shape + history_mm.shape[1:], np.float32)
    method = Steps(members=members, seed=seed, step_minutes=RAIN_STEP_MIN, cell_km=cell_km) if members else SProg(cell_km=cell_km)
    rates = method.forecast(frames, steps).rates
    return (np.nan_to_num(rates, nan=0.0) * (RAIN_STEP_MIN / 60.0)).astype(np.float32)


def ensure_climatology(basin: BasinModel, config: CycleConfig, years: int = 20) -> Path:
    """Annual maximum flow per segment from a simulated climatology, generated once per basin: one
    synthetic storm season per year (seeded by the year; peak rate Gumbel(18, 6) mm h-1,
    duration 6-14 h) on a flood-season start state, routed 48 h. Kept in the basin folder."""
    path = basin.folder / config.warning.climatology
    if path.is_file():
        return path
    import xarray as xr

    from ..synthetic import synthetic_storm

    log.info("simulating a %d-year climatology for basin %s (once; kept in %s)", years, basin.name, path)
    annual_max = np.empty((years, basin.network.size), np.float32)
    for year in range(years):
        rng = np.random.default_rng(10_000 + year)
        peak = float(np.clip(rng.gumbel(18.0, 6.0), 4.0, 60.0))
        rain = synthetic_storm(basin.grid.shape, 48 * STEPS_PER_HOUR, RAIN_STEP_MIN / 60.0, seed=10_000 + year,
                               peak_mm_h=peak, duration_h=float(rng.uniform(6.0, 14.0)))
        state = cold_state(basin, config, np.datetime64("2000-01-01T00:00", "m"))
        annual_max[year] = advance(basin, state, rain, config.runoff.pet_mm_h).max(axis=0)
    ds = xr.Dataset({"annual_max": (("year", "feature_id"), annual_max, {"units": "m3 s-1",
                     "long_name": "annual maximum streamflow of the simulated climatology"})},
                    coords={"year": np.arange(years), "feature_id": basin.network.feature_id},
                    attrs={"title": f"hydro simulated climatology for basin {basin.name}",
                           "method": "synthetic storms (Gumbel peak 18/6 mm h-1), XAJ grid_default, NWM MC, 48 h"})
    netcdf.write_dataset(path, ds)
    return path


@dataclass
class Window:
    start: np.datetime64  # analysis start
    issue: np.datetime64  # analysis end = forecast start = restart time
    end: np.datetime64  # forecast end


def _window(config: CycleConfig) -> Window:
    start = np.datetime64(config.cycle.start.replace(tzinfo=None), "m")
    issue = start + np.timedelta64(config.cycle.hours, "h")
    return Window(start, issue, issue + np.timedelta64(config.cycle.forecast_hours, "h"))


def _hour_ends(first: np.datetime64, hours: int) -> NDArray:
    return (first + np.arange(1, hours + 1) * np.timedelta64(1, "h")).astype("datetime64[ns]")


def _streamflow_dataset(basin: BasinModel, times: NDArray, flow: NDArray, title: str, extra: dict | None = None):
    import xarray as xr

    ds = xr.Dataset({"streamflow": (("time", "feature_id"), flow.astype(np.float32),
                                    {"long_name": "river discharge", "units": "m3 s-1",
                                     "standard_name": "water_volume_transport_in_river_channel"})},
                    coords={"time": ("time", times, {"standard_name": "time", "long_name": "valid time (end of hour)"}),
                            "feature_id": ("feature_id", basin.network.feature_id, {"long_name": "segment link id",
                                                                                      "cf_role": "timeseries_id"})},
                    attrs={"Conventions": "CF-1.11", "featureType": "timeSeries", "title": title, **(extra or {})})
    ds["streamflow"].encoding.update(zlib=True, complevel=1)
    return ds


def _basin_total(basin: BasinModel, rain: NDArray, members: int) -> float:
    """Basin-mean rain total [mm] of [steps, ny, nx] (the member mean of [members, steps, ny, nx])."""
    if not rain.size:
        return 0.0
    total = (rain.mean(axis=0) if members else rain).sum(axis=0).reshape(-1)
    return float(total[np.unique(basin.mapping.cell)].mean())


def operate_dams(basin: BasinModel, state: ModelState, first_flow: dict, flow: NDArray, nodes: dict) -> None:
    """Carry each reservoir through the analysis window under its rules, so the next rehearsal starts from
    its real level and gate setting. The inflow is the network routing's flow at the dam's segment (the
    dams above it taken as channel reaches)."""
    from ..reservoir.operation import DamStart, operate

    for res in basin.spec.reservoirs:
        begin = state.dams.get(res.id, DamStart(res.flood_limit_level))
        inflow = np.concatenate([[first_flow[res.id]], flow[:, nodes[res.id]]]).astype(np.float64)
        op = operate(res.curves(), res.rules(), inflow, 3600.0, begin.level, None, begin.release)
        state.dams[res.id] = DamStart(float(op.level[-1]), float(op.release[-1]))


def dam_start(config: CycleConfig, config_path: Path, basin: BasinModel) -> dict:
    """The reservoirs' levels and gate settings at this cycle's issue time (from its restart), for the
    rehearsal; empty (flood-limit levels) when there is no restart."""
    w = _window(config)
    path = restart_path((config_path.parent / config.cycle.state_dir.format(basin=basin.name)).resolve(), w.issue)
    return read_restart(path, basin.name, config.model_hash(), w.issue).dams if path.is_file() else {}


def run_forecast(config: CycleConfig, config_path: Path, basin: BasinModel, out: Path, cold: bool = False,
                 members: int = 0, scheduler: str | None = None) -> dict:
    """Forecast stage: analysis window from the restart, restart at the issue time, forecast window."""
    w = _window(config)
    forcing = Forcing(FORCING_DIR / config.forcing.setup, basin)
    forcing.check_covers(w.start, w.issue, "analysis window")
    state_dir = (config_path.parent / config.cycle.state_dir.format(basin=basin.name)).resolve()
    restart_in = restart_path(state_dir, w.start)
    if cold or not restart_in.is_file():
        if not cold:
            log.info("no restart at %s in %s: cold start", str(w.start)[:16], state_dir)
        state = cold_state(basin, config, w.start)
        started = "cold"
    else:
        state = read_restart(restart_in, basin.name, config.model_hash(), w.start)
        started = str(restart_in)
    t0 = time.perf_counter()
    rain = forcing.rain(w.start, w.issue)
    assimilate = None
    if config.assimilation.observations:
        from ..routing.nudging import GaugeObservations

        obs = GaugeObservations.read(config_path.parent / config.assimilation.observations)
        assimilate = (obs, config.assimilation.coefficient, config.assimilation.tau_s)
    nodes = {r.id: int(basin.network.index_of(r.feature_id)[0]) for r in basin.spec.reservoirs}
    first_flow = {rid: float(state.routing.streamflow[i]) for rid, i in nodes.items()}
    analysis = advance(basin, state, rain, config.runoff.pet_mm_h, assimilate=assimilate)
    operate_dams(basin, state, first_flow, analysis, nodes)
    netcdf.write_dataset(out / "analysis.nc", _streamflow_dataset(
        basin, _hour_ends(w.start, config.cycle.hours), analysis, f"hydro analysis for basin {basin.name}",
        {"start": started, "config_hash": config.model_hash()}))
    # forecast rain: the nowcast, then dry; the history for the nowcast is the last observed steps
    n_now = int(round(config.cycle.nowcast_hours * STEPS_PER_HOUR))
    n_fc = config.cycle.forecast_hours * STEPS_PER_HOUR
    history = forcing.rain(max(forcing.start, w.issue - np.timedelta64(3 * RAIN_STEP_MIN, "m")), w.issue)
    now = nowcast_rain(history, n_now, members, cell_km=basin.grid.cell_size_m[0] / 1000.0)
    fc_state = state.copy()
    times = _hour_ends(w.issue, config.cycle.forecast_hours)
    if members:
        from .ensemble import run_members

        rains = np.zeros((members, n_fc) + basin.grid.shape, np.float32)
        rains[:, :n_now] = now
        flows, member_lateral = run_members(basin, fc_state, rains, config.runoff.pet_mm_h, scheduler)
        ens = _streamflow_dataset(basin, times, flows[0], f"hydro {members}-member ensemble forecast")
        dims = ("member", "time", "feature_id")
        ens = ens.drop_vars("streamflow").assign(
            streamflow=(dims, flows, {"units": "m3 s-1", "long_name": "river discharge"}),
            qlat=(dims, member_lateral, {"units": "m3 s-1", "long_name": "hourly mean lateral inflow"}))
        ens = ens.assign_coords(member=np.arange(members))
        netcdf.write_dataset(out / "ensemble.nc", ens)
        rain_fc = np.median(rains, axis=0)  # the rehearsal's forecast: the member-median rain
    else:
        (out / "ensemble.nc").unlink(missing_ok=True)  # a deterministic rerun: no stale members for the warnings
        rain_fc = np.zeros((n_fc,) + basin.grid.shape, np.float32)
        rain_fc[:n_now] = now
    lateral = np.empty((config.cycle.forecast_hours, basin.network.size), np.float32)
    forecast_flow = advance(basin, fc_state, rain_fc, config.runoff.pet_mm_h, lateral_out=lateral)
    if members:
        forecast_flow = np.median(flows, axis=0)
    netcdf.write_dataset(out / "forecast.nc", _streamflow_dataset(
        basin, times, forecast_flow, f"hydro forecast for basin {basin.name}",
        {"issue_time": str(w.issue)[:16], "nowcast_hours": config.cycle.nowcast_hours,
         "rain_after_nowcast": "none (no QPF)", "members": members}))
    netcdf.write_dataset(out / "forecast_qlat.nc", netcdf.lateral_dataset(
        lateral, basin.network.feature_id, (w.issue + np.arange(lateral.shape[0]) * np.timedelta64(1, "h")).astype("datetime64[ns]")))
    # the restart last: a run killed before this point leaves the previous state as it was
    state_dir.mkdir(parents=True, exist_ok=True)
    restart_out = write_restart(restart_path(state_dir, w.issue), state, basin.name, config.model_hash())
    basin_rain = _basin_total(basin, rain, 0)
    return {"start": started, "restart": str(restart_out), "analysis_hours": config.cycle.hours,
            "reservoirs_at_issue": {k: {"level_m": round(v.level, 3), "release_m3s": round(v.release or 0.0, 1)}
                                    for k, v in state.dams.items()},
            "forecast_hours": config.cycle.forecast_hours, "members": members,
            "basin_rain_mm": round(basin_rain, 1), "nowcast_rain_mm": round(_basin_total(basin, now, members), 1),
            "seconds": round(time.perf_counter() - t0, 2)}


# --- warning stage ---------------------------------------------------------------------------------------

def _segment_xy(basin: BasinModel) -> NDArray[np.float64]:
    """Map coordinates [n, 2] of each segment: the centre of its channel cells."""
    ids = np.asarray(basin.channel_ids).reshape(-1)
    cells = np.flatnonzero(ids > 0)
    pos = basin.network.index_of(ids[cells])
    rows, cols = np.divmod(cells, basin.grid.shape[1])
    n = basin.network.size
    count = np.bincount(pos, minlength=n).astype(float)
    r = np.bincount(pos, rows, minlength=n) / np.maximum(count, 1)
    c = np.bincount(pos, cols, minlength=n) / np.maximum(count, 1)
    t = basin.grid.transform
    return np.column_stack([t.c + (c + 0.5) * t.a, t.f + (r + 0.5) * t.e])


def run_warning(config: CycleConfig, basin: BasinModel, out: Path, start: dict | None = None) -> dict:
    """Warning stage: every segment from return-period flows, every control section from its stage under
    the current reservoir rules; CSV, GeoJSON, map PNG, hydrographs PNG and warnings.json."""
    import xarray as xr

    from .rehearsal import BasinRouting, forward, read_forecast_lateral
    from .warning import GRADES, NWS_CATEGORIES, StationThresholds, grade, grade_nws, grade_segments, return_period_table

    forecast = out / "forecast.nc"
    if not forecast.is_file():
        raise InputDataError(f"{forecast}: no forecast in this cycle folder; run the forecast stage first")
    with xr.open_dataset(forecast) as ds:
        flow = ds["streamflow"].values.astype(np.float64)
        times = ds["time"].values
    members = member_lateral = None
    if (out / "ensemble.nc").is_file():
        with xr.open_dataset(out / "ensemble.nc") as ds:
            members = ds["streamflow"].values.astype(np.float64)
            member_lateral = ds["qlat"].values.astype(np.float64)
    with xr.open_dataset(ensure_climatology(basin, config)) as ds:
        annual_max = ds["annual_max"].sel(feature_id=basin.network.feature_id).values
    thresholds = return_period_table(annual_max, (5, 20, 50), config.warning.frequency)
    seg = grade_segments(members if members is not None else flow, thresholds, 1.0, config.warning.approach_fraction,
                         members_axis=members is not None)
    rows = []
    fid = basin.network.feature_id
    for j in np.flatnonzero(seg.grade > 0):
        rows.append({"kind": "segment", "id": str(fid[j]), "grade": GRADES[seg.grade[j]], "trigger": seg.trigger[j],
                     "first_crossing": str(times[seg.first_crossing[j]])[:16] if seg.first_crossing[j] >= 0 else "",
                     "peak_m3s": round(float(seg.peak[j]), 2), "peak_time": str(times[seg.peak_index[j]])[:16],
                     "hours_at_grade": float(seg.hours_at_grade[j]), "flow_5yr": round(float(thresholds[0, j]), 2),
                     "flow_20yr": round(float(thresholds[1, j]), 2), "flow_50yr": round(float(thresholds[2, j]), 2),
                     **({f"p_{g}": round(float(seg.probability[g][j]), 3) for g in GRADES[1:]} if seg.probability else {})})
    # stations: control sections under the current reservoir rules (rehearsal F1)
    stations, station_series = [], {}
    if basin.spec.control_sections:
        network, rbasin = basin.network, basin.spec
        lateral, rtimes = read_forecast_lateral(out / "forecast_qlat.nc", network)
        routing = BasinRouting(network, rbasin)
        f1 = forward(network, rbasin, lateral, rtimes, start, routing=routing)
        member_f1 = [] if member_lateral is None else [  # members are in the basin network's order already
            forward(network, rbasin, member, rtimes, start, routing=routing) for member in member_lateral]
        for section in rbasin.control_sections:
            q, h = f1.section_discharge[section.id], f1.section_stage[section.id]
            j = int(basin.network.index_of(section.feature_id)[0])
            record = float(section.stage(np.array([annual_max[:, j].max()]))[0])
            if config.warning.scheme == "mwr":
                th = StationThresholds(section.id, warning_stage=section.warning_stage,
                                       guaranteed_stage=section.guaranteed_stage, historical_max_stage=record)

                def station_grade(stage, th=th):
                    return grade(rtimes, th, stage=stage)
                names = GRADES
            else:  # NWS: action 0.3 m below warning, minor = warning, moderate = guaranteed, major = record
                levels = (section.warning_stage - 0.3, section.warning_stage, section.guaranteed_stage,
                          max(record, section.guaranteed_stage + 0.01))

                def station_grade(stage, levels=levels, sid=section.id):
                    return grade_nws(rtimes, stage, *levels, station=sid)
                names = NWS_CATEGORIES
            wrn = station_grade(h)
            probability = {}
            if member_lateral is not None:  # each member through the current reservoir rules, as the forecast
                ranks = np.array([names.index(station_grade(member_f1[m].section_stage[section.id]).grade)
                                  for m in range(len(member_f1))])
                probability = {f"p_{g}": round(float((ranks >= k).mean()), 3) for k, g in enumerate(names) if k}
            stations.append({"kind": "station", "id": section.id, "grade": wrn.grade, "trigger": wrn.trigger, **probability,
                             "first_crossing": wrn.first_crossing or "", "peak_m3s": round(float(q.max()), 2),
                             "peak_stage_m": round(float(h.max()), 3), "peak_time": wrn.peak_time,
                             "hours_at_grade": wrn.hours_at_grade, "warning_stage": section.warning_stage,
                             "guaranteed_stage": section.guaranteed_stage})
            station_series[section.id] = (rtimes, h, section)
    all_rows = stations + sorted(rows, key=lambda r: -GRADES.index(r["grade"]) if r["grade"] in GRADES else 0)
    _write_csv(out / "warnings.csv", all_rows)
    xy = _segment_xy(basin)
    _write_geojson(out / "warnings.geojson", basin, xy, seg, thresholds, times)
    _plot_warning_map(out / "warnings_map.png", basin, xy, seg, config)
    _plot_warning_hydrographs(out / "warnings_hydrographs.png", times, flow, seg, thresholds, station_series, basin)
    counts = {g: int((seg.grade == k).sum()) for k, g in enumerate(GRADES) if k}
    summary = {"scheme": config.warning.scheme, "segments_graded": int(basin.network.size), "segment_counts": counts,
               "stations": stations, "ensemble_members": 0 if members is None else int(members.shape[0]),
               "highest_segment_grade": GRADES[int(seg.grade.max())],
               "outputs": [str(out / n) for n in ("warnings.csv", "warnings.geojson", "warnings_map.png",
                                                  "warnings_hydrographs.png")]}
    from ..io.atomic import write_atomic

    write_atomic(out / "warnings.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
    return summary


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    from ..io.atomic import write_atomic

    keys = list(dict.fromkeys(k for r in rows for k in r)) or ["kind", "id", "grade"]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, keys)
            w.writeheader()
            w.writerows(rows)

    write_atomic(path, write)


def _write_geojson(path: Path, basin: BasinModel, xy, seg, thresholds, times) -> None:
    from ..io.atomic import write_atomic
    from .warning import GRADES

    down = basin.network.downstream_index
    features = []
    for j in np.flatnonzero(seg.grade > 0):
        end = xy[down[j]] if down[j] >= 0 else xy[j]
        props = {"feature_id": int(basin.network.feature_id[j]), "grade": GRADES[seg.grade[j]], "trigger": seg.trigger[j],
                 "peak_m3s": round(float(seg.peak[j]), 2), "peak_time": str(times[seg.peak_index[j]])[:16],
                 "hours_at_grade": float(seg.hours_at_grade[j]), "flow_5yr": round(float(thresholds[0, j]), 2)}
        if seg.probability:
            props.update({f"p_{g}": round(float(seg.probability[g][j]), 3) for g in GRADES[1:]})
        features.append({"type": "Feature", "properties": props, "geometry": {
            "type": "LineString", "coordinates": [[round(float(v), 1) for v in xy[j]], [round(float(v), 1) for v in end]]}})
    crs = str(basin.grid.crs)
    doc = {"type": "FeatureCollection", "name": f"hydro warnings {basin.name}",
           "crs": {"type": "name", "properties": {"name": crs}}, "features": features}
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(doc)))


COLOURS = {"none": "#c8d7e6", "blue": "#1f5fd6", "yellow": "#f2c200", "orange": "#f07800", "red": "#d7191c"}


def _plot_warning_map(png: Path, basin: BasinModel, xy, seg, config: CycleConfig) -> None:
    from matplotlib.collections import LineCollection

    from ..plots import figure, save
    from .warning import GRADES

    down = basin.network.downstream_index
    has_down = down >= 0
    fig = figure(figsize=(8, 8))
    ax = fig.add_subplot(1, 1, 1)
    order = np.argsort(seg.grade, kind="stable")  # graded segments drawn on top
    lines = [[xy[j], xy[down[j]]] for j in order if has_down[j]]
    colours = [COLOURS[GRADES[seg.grade[j]]] for j in order if has_down[j]]
    widths = [0.6 + 0.7 * seg.grade[j] for j in order if has_down[j]]
    ax.add_collection(LineCollection(lines, colors=colours, linewidths=widths))
    ax.autoscale()
    ax.set_aspect("equal")
    for g in GRADES:
        ax.plot([], [], color=COLOURS[g], lw=3, label=f"{g} ({int((np.asarray(GRADES)[seg.grade] == g).sum())})")
    ax.legend(title="segment warning", fontsize=8, loc="upper right")
    ax.set_title(f"{basin.name}: warnings on every segment (return-period flows, {config.warning.frequency})", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    save(fig, png)


def _plot_warning_hydrographs(png: Path, times, flow, seg, thresholds, station_series, basin: BasinModel) -> None:
    from ..plots import figure, save
    from .warning import GRADES

    top = [int(j) for j in np.argsort(-(seg.grade * 1e9 + seg.peak / np.maximum(thresholds[0], 1e-9)))[:3]]
    n = len(station_series) + len(top)
    fig = figure(figsize=(10, 2.6 * max(n, 1)))
    k = 1
    for sid, (t, h, section) in station_series.items():
        ax = fig.add_subplot(n, 1, k)
        k += 1
        ax.plot(t, h, lw=2, color="tab:blue", label=f"stage at {sid} (current reservoir rules)")
        ax.axhline(section.warning_stage, color=COLOURS["yellow"], lw=1.2, label="warning stage")
        ax.axhline(section.guaranteed_stage, color=COLOURS["orange"], lw=1.2, label="guaranteed stage")
        ax.set_ylabel("stage [m]")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for j in top:
        ax = fig.add_subplot(n, 1, k)
        k += 1
        ax.plot(times, flow[:, j], lw=2, color="tab:blue", label=f"segment {basin.network.feature_id[j]} "
                f"({GRADES[seg.grade[j]]})")
        for q, name, g in zip(thresholds[:, j], ("5-year", "20-year", "50-year"), ("yellow", "orange", "red"), strict=True):
            ax.axhline(q, color=COLOURS[g], lw=1.2, label=f"{name} flow")
        ax.set_ylabel("m3 s-1")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    save(fig, png)


# --- the cycle ---------------------------------------------------------------------------------------------

def cycle_folder(config: CycleConfig, config_path: Path) -> Path:
    w = _window(config)
    root = (config_path.parent / config.cycle.output_dir.format(basin=config.cycle.basin)).resolve()
    return root / f"cycle_{str(w.issue)[:16].replace('-', '').replace(':', '')}"


def run_cycle(config_path: Path, stage: str | None = None, cold: bool = False, members: int = 0,
              scheduler: str | None = None, overrides: dict | None = None) -> dict:
    """One cycle (all stages, or one with ``stage``); returns the summary (also summary.json)."""
    config_path = Path(config_path)
    config = load_config(config_path)
    if overrides:
        config = CycleConfig.model_validate({**config.model_dump(), "cycle": {**config.cycle.model_dump(), **overrides}})
    if stage is not None and stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; choose {', '.join(STAGES)}")
    basin = load_basin(config, config_path)
    out = cycle_folder(config, config_path)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    # a rerun of a later stage keeps what the earlier stages reported; a new forecast starts afresh
    keep = stage not in (None, "forecast") and summary_path.is_file()
    summary = json.loads(summary_path.read_text()) if keep else {}
    w = _window(config)
    summary.update({"basin": basin.name, "config": str(config_path), "config_hash": config.model_hash(),
                    "analysis": f"{str(w.start)[:16]} .. {str(w.issue)[:16]}",
                    "forecast": f"{str(w.issue)[:16]} .. {str(w.end)[:16]}", "folder": str(out)})
    timings = summary.setdefault("seconds", {})
    basin_toml = basin.folder / "basin.toml"
    dispatch = bool(basin.spec.reservoirs and basin.spec.control_sections)
    start = None  # the reservoirs at the issue time: read once from the restart the forecast stage wrote
    for name in STAGES if stage is None else (stage,):
        t0 = time.perf_counter()
        if name != "forecast" and start is None:
            start = dam_start(config, config_path, basin)
        if name == "forecast":
            summary["forecast_stage"] = run_forecast(config, config_path, basin, out, cold, members, scheduler)
        elif name == "warning":
            summary["warning"] = run_warning(config, basin, out, start)
        elif name in ("rehearsal", "plan") and not dispatch:
            summary[name] = {"skipped": f"{basin_toml} names no reservoirs and control sections"}
        elif name == "rehearsal":
            from .rehearsal import run_rehearsal

            _need(out / "forecast_qlat.nc", "forecast")
            r = run_rehearsal(basin_toml, out / "forecast_qlat.nc", config.rehearsal.objective,
                              output_dir=out / "rehearsal", start=start)
            summary["rehearsal"] = {k: r[k] for k in ("f1", "f2", "verdict") if k in r}
            if "inverse" in r:
                summary["rehearsal"]["binding"] = r["inverse"]["binding"]
                summary["rehearsal"]["feasible"] = r["inverse"]["feasible"]
        else:
            from .plan import run_plan

            _need(out / "forecast_qlat.nc", "forecast")
            p = run_plan(basin_toml, out / "forecast_qlat.nc", out / "plan", start=start)
            summary["plan"] = {"recommended": p["recommended"], "verified": p["verified"],
                               "dispatch_order": p["dispatch_order"], "ranking": p["ranking"]}
        timings[name] = round(time.perf_counter() - t0, 2)
    from ..io.atomic import write_atomic

    write_atomic(summary_path, lambda tmp: tmp.write_text(json.dumps(summary, indent=1, default=str)))
    write_report(out, summary)
    return summary


def _need(path: Path, stage: str) -> None:
    if not path.is_file():
        raise InputDataError(f"{path}: missing; run the {stage} stage of this cycle first")


def run_cycles(config_path: Path, cycles: int = 1, start: str | None = None, hours: int | None = None,
               cold: bool = False, folders: dict | None = None, **kwargs) -> list[dict]:
    """Rolling cycles: each starts where the previous analysis ended, from its restart. ``folders``
    overrides output_dir / state_dir."""
    config = load_config(Path(config_path))
    first = np.datetime64(start, "m") if start else np.datetime64(config.cycle.start.replace(tzinfo=None), "m")
    hours = hours or config.cycle.hours
    return [run_cycle(config_path, cold=cold and k == 0, overrides={
        "start": str(first + k * np.timedelta64(hours, "h")), "hours": hours, **(folders or {})}, **kwargs)
        for k in range(cycles)]


def run_basins(configs: list[Path], dask: bool = False, scheduler: str | None = None, **kwargs) -> list[dict]:
    """Rolling cycles for several independent basins (one config each): in turn, or as one dask task per
    basin on a LocalCluster (``dask``) or the scheduler at ``scheduler``. A basin's own ensemble members
    then run inside its task."""
    if len(configs) > 1 and (dask or scheduler):
        from .ensemble import client_for

        client, cluster = client_for(scheduler)
        try:
            futures = [client.submit(run_cycles, Path(c), pure=False, **kwargs) for c in configs]
            return [s for result in client.gather(futures) for s in result]
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return [s for c in configs for s in run_cycles(Path(c), scheduler=scheduler, **kwargs)]


def write_report(out: Path, summary: dict) -> Path:
    """report.html: the cycle at a glance, with the figures, for a browser."""
    import html

    from ..io.atomic import write_atomic

    def img(rel: str, alt: str) -> str:
        return f"<p><img src='{rel}' alt='{alt}' style='max-width:100%'></p>" if (out / rel).is_file() else ""

    parts = [f"<h1>hydro cycle: {html.escape(summary['basin'])}</h1>",
             f"<p>analysis {summary['analysis']}, forecast {summary['forecast']} (config {html.escape(summary['config'])}, "
             f"hash {summary['config_hash']})</p>",
             "<h2>Summary</h2><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(summary)) + "</ul>"]
    wrn = summary.get("warning")
    if wrn:
        parts.append("<h2>Warnings</h2><table><tr><th>station</th><th>grade</th><th>trigger</th><th>first crossing</th>"
                     "<th>peak stage [m]</th><th>peak [m3/s]</th><th>peak time</th><th>hours at grade</th></tr>"
                     + "".join(f"<tr><td>{s['id']}</td><td style='background:{COLOURS.get(s['grade'], '#fff')}'>{s['grade']}</td>"
                               f"<td>{html.escape(s['trigger'])}</td><td>{s['first_crossing']}</td><td>{s['peak_stage_m']}</td>"
                               f"<td>{s['peak_m3s']}</td><td>{s['peak_time']}</td><td>{s['hours_at_grade']}</td></tr>"
                               for s in wrn["stations"]) + "</table>")
        parts.append("<p>Segments: " + ", ".join(f"{g} {n}" for g, n in wrn["segment_counts"].items())
                     + f" of {wrn['segments_graded']} (details in <a href='warnings.csv'>warnings.csv</a>, "
                     "<a href='warnings.geojson'>warnings.geojson</a>)</p>")
        parts += [img("warnings_map.png", "warning map"), img("warnings_hydrographs.png", "hydrographs")]
    reh = summary.get("rehearsal")
    if reh and "verdict" in reh:
        parts.append("<h2>Rehearsal</h2><p>" + html.escape(rehearsal_line(reh)) + "</p>")
        parts += [img("rehearsal/f2.png", "rehearsal F2")]
    plan = summary.get("plan")
    if plan and "recommended" in plan:
        parts.append(f"<h2>Plan</h2><p>Recommended scheme <b>{plan['recommended']}</b>; full document: "
                     "<a href='plan/plan.html'>plan/plan.html</a></p>")
        parts += [img("plan/plan_comparison.png", "schemes compared")]
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>hydro cycle report</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:3px 6px}</style></head><body>" + "".join(parts) + "</body></html>")
    return write_atomic(out / "report.html", lambda tmp: tmp.write_text(page))


def rehearsal_line(reh: dict) -> str:
    f1 = reh["f1"]["control_sections"][0]
    verdict = reh["verdict"]
    f2 = reh["f2"]["control_sections"][0]
    binding = reh.get("binding", [])
    return (f"F1 (current rules): {f1['id']} peak {f1['peak_discharge']:.0f} m3/s (safe {f1['safe_discharge']:.0f}) -> "
            f"{reh['f1']['risk'][f1['id']]}; F2 (derived schedule): peak {f2['peak_discharge']:.0f} m3/s -> "
            f"{reh['f2']['risk'][f2['id']]}; {'ACCEPTED' if verdict['accepted'] else 'NOT accepted'}; binding: "
            f"{binding[0] if binding else 'none'}{f' (+{len(binding) - 1} more)' if len(binding) > 1 else ''}")


def summary_lines(summary: dict) -> list[str]:
    lines = []
    fc = summary.get("forecast_stage")
    if fc:
        lines.append(f"forecast: {fc['start'] if fc['start'] == 'cold' else 'hot start'}; analysis rain {fc['basin_rain_mm']} mm, "
                     f"nowcast rain {fc['nowcast_rain_mm']} mm" + (f", {fc['members']} members" if fc["members"] else "")
                     + "".join(f"; {k} at {v['level_m']} m releasing {v['release_m3s']} m3/s"
                               for k, v in fc.get("reservoirs_at_issue", {}).items())
                     + f"; restart {fc['restart']}")
    wrn = summary.get("warning")
    if wrn:
        st = "; ".join(f"{s['id']} {s['grade'].upper()} ({s['trigger']}, first {s['first_crossing'] or '-'}, peak "
                       f"{s['peak_stage_m']} m at {s['peak_time']})" for s in wrn["stations"])
        lines.append(f"warnings: stations: {st or 'none'}; segments: "
                     + ", ".join(f"{n} {g}" for g, n in wrn["segment_counts"].items() if n) + f" of {wrn['segments_graded']}")
    reh = summary.get("rehearsal")
    if reh and "verdict" in reh:
        lines.append("rehearsal: " + rehearsal_line(reh))
    plan = summary.get("plan")
    if plan and "recommended" in plan:
        acts = "; ".join(f"{o['reservoir']} from {o['acts_at']}" for o in plan["dispatch_order"] if o["acts_at"])
        lines.append(f"plan: recommended {plan['recommended']} ({'verified' if plan['verified'] else 'NOT verified'}); "
                     f"dispatch order: {acts or 'no change to the rules'}")
    return lines
