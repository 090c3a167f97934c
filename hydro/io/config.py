"""The cycle configuration (``hydro run CONFIG.toml``) and the forcing set-up, as validated schemas.

Unknown keys, wrong types, values out of range and NaN are one-line errors naming the file and the key
path (``read_toml_model``). Types are strict: ``hours = "6"`` (a string where a number belongs) or ``true``
for a number is refused, not coerced; only the times may be TOML datetimes or ISO strings. Paths in a config
are relative to the config file.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..core.variables import check_routing_step
from .basin import read_toml_model

MOTION_SMOOTHING_KM = 25.0  # hydro.nowcast.MOTION_SMOOTHING_KM (io does not import the nowcast)


MAX_PET_MM_H = 5.0  # about three times the highest hourly potential evaporation measured (~1.5 mm h-1 in hot deserts)


class _Strict(BaseModel):
    # strict: a quoted number is a typo or a unit left in, refused rather than coerced (an int is still a float)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class CycleSection(_Strict):
    basin: str  # a basin folder (holding basin.toml) relative to this file, or "demo" (the embedded demo basin)
    start: datetime = Field(strict=False)  # start of the analysis window (UTC): a TOML datetime or an ISO string
    hours: int = Field(gt=0, le=24 * 14)  # analysis window; the next cycle starts at its end
    forecast_hours: int = Field(default=48, gt=0, le=24 * 10)
    nowcast_hours: float = Field(default=6.0, ge=0.0, le=6.0)
    output_dir: str = "runs/{basin}"  # relative to the config file
    state_dir: str = "runs/{basin}/state"
    keep_restarts: int = Field(default=10, ge=1)  # restarts kept in the state folder, newest first (2.5 MB each for the demo)


class QpfSection(_Strict):
    """Gridded QPF (docs/forcing.md): rain after the nowcast, regridded to the basin grid."""

    path: str  # CF NetCDF relative to this file; "{issue:%Y%m%d%H}" is replaced by the issue time (strftime)
    variable: str | None = None  # default: the one variable with a precipitation standard_name or name
    accumulated: bool = False  # true: amounts accumulated since the file's first time (NWP total precipitation)


class ForcingSection(_Strict):
    setup: str  # a forcing set-up TOML relative to this file, else a packaged one by name (hydro/data/forcing)
    qpf: QpfSection | None = None  # rain after the nowcast hours; none: no rain after the nowcast
    pet: str | None = None  # PET file (CSV time,pet_mm or CF NetCDF) relative to this file; none: runoff.pet_mm_h
    pet_variable: str | None = None  # the NetCDF variable; default: the one with a PET name or standard_name


class RunoffSection(_Strict):
    model: Literal["xaj"] = "xaj"
    parameters: str | None = None  # relative to this file, else packaged (hydro/data/models); default: the basin's
    pet_mm_h: float = Field(default=0.1, ge=0.0, le=MAX_PET_MM_H)  # constant PET when forcing.pet gives none
    initial_tension_fraction: float = Field(default=0.85, ge=0.0, le=1.0)
    initial_flow_mm_h: float = Field(default=0.02, ge=0.0)


class RoutingSection(_Strict):
    method: Literal["muskingum_cunge"] = "muskingum_cunge"  # by registry name (hydro methods)
    dt_s: float = 300.0  # a divisor of the 10-minute forcing interval, 10 s or more (core.variables)
    solver: Literal["nwm", "fast"] = "nwm"

    @field_validator("dt_s")
    @classmethod
    def _step(cls, value: float) -> float:
        problem = check_routing_step(value)
        if problem:
            raise ValueError(problem)
        return value


class NowcastSection(_Strict):
    """The nowcast of the last observed frames (``hydro nowcast`` has the same settings and defaults)."""

    levels: int = Field(default=6, ge=1, le=12)  # cascade levels
    motion_smoothing_km: float = Field(default=MOTION_SMOOTHING_KM, ge=0.0, le=500.0)
    seed: int = 1  # the STEPS ensemble's random seed


class WarningSection(_Strict):
    scheme: Literal["mwr", "nws"] = "mwr"
    frequency: Literal["pearson3", "gev", "gumbel"] = "pearson3"
    approach_fraction: float = Field(default=0.9, gt=0.0, le=1.0)
    climatology: str = "climatology.nc"  # the basin's own annual_max(year, feature_id), if in its folder; else simulated
    # user thresholds per gauge or section (CSV or TOML, relative to this file; hydro.io.thresholds, docs/nwm-basin.md)
    thresholds: str | None = None


class RehearsalSection(_Strict):
    objective: Literal["min_peak", "max_margin", "min_storage"] = "min_peak"


class AssimilationSection(_Strict):
    observations: str | None = None  # gauge flows (parquet/CSV: time, link, discharge_m3s[, quality]), relative to the config
    coefficient: float = Field(default=1.0, ge=0.0, le=1.0)  # nudging coefficient G
    tau_s: float = Field(default=900.0, gt=0.0)  # time radius of an observation
    # the forecast carries each gauge's last correction, decaying exp(-age / this) [min]: t-route's
    # da_decay_coefficient and its default (hydro.routing.nudging.PersistedNudging); 0 = forget at the issue time
    forecast_decay_minutes: float = Field(default=120.0, ge=0.0)


class CycleConfig(_Strict):
    cycle: CycleSection
    forcing: ForcingSection
    runoff: RunoffSection = RunoffSection()
    routing: RoutingSection = RoutingSection()
    nowcast: NowcastSection = NowcastSection()
    warning: WarningSection = WarningSection()
    rehearsal: RehearsalSection = RehearsalSection()
    assimilation: AssimilationSection = AssimilationSection()

    def model_hash(self) -> str:
        """Hash of what defines the model state (not the window or the output folders)."""
        keep = {k: v for k, v in self.model_dump(mode="json").items() if k in ("runoff", "routing")}
        keep["basin"] = self.cycle.basin
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


class RainGaugeSetup(_Strict):
    """Rain gauges interpolated to the basin grid (forcing set-up kind ``raingauge``, docs/forcing.md)."""

    stations: str  # CSV id,lon,lat[,elevation_m] relative to the set-up file
    series: str  # CSV time,station,rain_mm (long) or time,<id>,<id>... (wide); time = end of the interval, UTC
    interval_minutes: int = Field(gt=0)  # accumulation interval of each value [min]; rain in mm per interval
    method: Literal["idw", "thiessen"] = "idw"
    power: float = Field(default=2.0, gt=0.0, le=6.0)  # IDW distance exponent
    search_radius_km: float | None = Field(default=None, gt=0.0)  # stations farther away are not used; none: all
    max_stations: int | None = Field(default=None, ge=1)  # the nearest ones only; none: all within the radius
    neighbourhood_km: float = Field(default=100.0, gt=0.0)  # a station farther from the basin grid is an error


class ForcingSetup(_Strict):
    kind: Literal["synthetic_storm", "radar", "raingauge", "nwm_lateral"]
    description: str = ""
    start: datetime = Field(strict=False)  # first 10-minute interval starts here (TOML datetime or ISO string)
    hours: int = Field(gt=0)
    seed: int = 1  # synthetic_storm
    peak_mm_h: float = Field(default=30.0, gt=0)
    duration_h: float = Field(default=10.0, gt=0)
    path: str | None = None  # radar: a CF NetCDF file or a folder of frames, relative to the set-up file
    missing: Literal["zero", "error"] = "zero"  # radar: basin cells unmeasured in a frame are dry, or an error
    gauges: RainGaugeSetup | None = None  # raingauge
    # nwm_lateral (hydro.io.chrtout): `path` is a CHRTOUT folder or a qlat(time, feature_id) NetCDF; the basin has
    # no runoff grid. warm_start: a cold start takes the channel flows from the NWM streamflow at the start
    warm_start: bool = True


def load_config(path: Path) -> CycleConfig:
    return read_toml_model(Path(path), CycleConfig, "cycle configuration")
