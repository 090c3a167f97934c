"""The simulated climatology behind the segment warnings: annual maximum flow per segment.

One synthetic storm season per year (seeded by the year; peak rate Gumbel(18, 6) mm h-1, duration
6-14 h) on a flood-season start state, routed 48 h through the operated network. A basin without
observed flood statistics gets its return-period flows from this; the outputs say so.

PET is the basin's configured PET, as the forecast's (:func:`climatology_pet`): the constant ``[runoff]
pet_mm_h`` without a PET file; with ``[forcing] pet`` the file's mean rate over its whole record (basin-uniform
for a CSV, per cell for a gridded NetCDF, regridded as the forecast regrids it), held over each simulated year's
48 h: the synthetic years have no calendar, so the file's time series cannot be replayed; its record (a flood
season, an event) sets the level. The outputs state which PET it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..basin import RAIN_STEP_MIN, STEPS_PER_HOUR, BasinModel, advance, cold_state
from ..io.config import CycleConfig

log = logging.getLogger("hydro")
METHOD = "synthetic storms (Gumbel peak 18/6 mm h-1, 6-14 h), Xinanjiang, operated network, 48 h"
FAR = (np.datetime64("1700-01-01", "ns"), np.datetime64("2200-01-01", "ns"))  # a gridded file's whole record (ns range)


@dataclass(frozen=True)
class ClimatologyPet:
    """The PET of the simulated climatology: a constant [mm h-1] or a per-cell field [ny, nx] mm h-1, and what it
    is (written into the climatology's and the warnings' outputs)."""

    rate_mm_h: float | NDArray[np.float64]
    description: str

    def key(self) -> str:
        """What the cached climatology depends on: the description and the values."""
        import hashlib

        return hashlib.sha256(self.description.encode() + np.asarray(self.rate_mm_h, np.float64).tobytes()).hexdigest()


def climatology_pet(basin: BasinModel, config: CycleConfig, config_dir: Path) -> ClimatologyPet:
    """The configured PET (module docstring): ``[runoff] pet_mm_h``, or the mean of ``[forcing] pet`` (relative to
    ``config_dir``) over its whole record."""
    section = config.forcing
    if section.pet is None:
        rate = config.runoff.pet_mm_h
        return ClimatologyPet(rate, f"constant [runoff] pet_mm_h = {rate:g} mm h-1")
    path = Path(config_dir) / section.pet
    if path.suffix.lower() == ".csv":
        from ..io.raingauges import read_pet_csv

        starts, ends, rate = read_pet_csv(path)  # evenly spaced: the plain mean is the time mean
        mean = float(np.mean(rate))
        return ClimatologyPet(mean, f"mean of {section.pet} over its record {str(starts[0])[:16]} .. "
                                    f"{str(ends[-1])[:16]}: {mean:.4g} mm h-1 (basin-uniform)")
    from ..io.gridded_forcing import PET_NAMES, read_gridded_flux
    from ..nowcast.regrid import regrid
    from .forcing import basin_cells, check_basin_covered

    flux = read_gridded_flux(path, section.pet_variable, PET_NAMES, "PET", FAR)
    source = f"{path}: {flux.variable}"
    if len(flux.starts) == 0:
        from ..core.errors import InputDataError

        raise InputDataError(f"{source}: no record; give a PET file with at least one interval")
    grid, cells = basin.grid, basin_cells(basin)
    rate = regrid(flux.frames, grid.shape, grid.transform, grid.crs)
    check_basin_covered(rate, cells, flux.frames.times, source, "PET", "use a PET grid that covers the basin")
    hours = (flux.frames.times.astype("datetime64[ns]") - flux.starts.astype("datetime64[ns]")) / np.timedelta64(1, "h")
    field = np.tensordot(hours / hours.sum(), np.nan_to_num(rate, nan=0.0).astype(np.float64), axes=1)  # time mean
    return ClimatologyPet(field, f"mean of {section.pet} ({flux.variable}) over its record "
                                 f"{str(flux.starts[0])[:16]} .. {str(flux.frames.times[-1])[:16]}, per cell "
                                 f"(basin mean {field.reshape(-1)[cells].mean():.4g} mm h-1)")


def simulate_climatology(basin: BasinModel, config: CycleConfig, years: int = 20,
                         pet: ClimatologyPet | None = None) -> NDArray[np.float32]:
    """[years, n] annual maximum streamflow of the simulated climatology, with ``pet`` (default: the constant
    ``[runoff] pet_mm_h``; the cycle passes :func:`climatology_pet`)."""
    from ..synthetic import synthetic_storm

    if pet is None:
        pet = ClimatologyPet(config.runoff.pet_mm_h, f"constant [runoff] pet_mm_h = {config.runoff.pet_mm_h:g} mm h-1")
    steps = 48 * STEPS_PER_HOUR
    # a per-cell field held over every step: a broadcast view, no copy per step
    rate = pet.rate_mm_h if np.ndim(pet.rate_mm_h) == 0 else np.broadcast_to(
        np.asarray(pet.rate_mm_h, np.float64), (steps,) + basin.grid.shape)
    log.info("simulating a %d-year climatology for basin %s (once per basin and configuration), PET %s", years,
             basin.name, pet.description)
    annual_max = np.empty((years, basin.network.size), np.float32)
    start = cold_state(basin, np.datetime64("2000-01-01T00:00", "m"), config.runoff.initial_flow_mm_h,
                       config.runoff.initial_tension_fraction)
    for year in range(years):
        rng = np.random.default_rng(10_000 + year)
        peak = float(np.clip(rng.gumbel(18.0, 6.0), 4.0, 60.0))
        rain = synthetic_storm(basin.grid.shape, steps, RAIN_STEP_MIN / 60.0, seed=10_000 + year,
                               peak_mm_h=peak, duration_h=float(rng.uniform(6.0, 14.0)))
        annual_max[year] = advance(basin, start, rain, rate)[0].streamflow.max(axis=0)
        if (year + 1) % 5 == 0:
            log.info("climatology: %d of %d years simulated", year + 1, years)
    return annual_max
