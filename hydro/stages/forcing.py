"""Forcing on the basin grid for a cycle, in 10-minute steps (docs/forcing.md).

Rain from a forcing set-up (``forcing.setup`` in the cycle config): radar frames in any format hydro reads
(regridded by area-weighted averaging), rain gauges (inverse distance weighting or Thiessen), or a generated
storm. After the nowcast, rain from a gridded QPF (``[forcing.qpf]``). PET constant (``runoff.pet_mm_h``) or
from a file (``forcing.pet``: a basin CSV series or a gridded NetCDF).

Interval data (radar frames, gauge records, QPF and PET records) are interval means stamped at the interval
end; each 10-minute step takes the overlap-weighted mean of the records covering it (a record's rate is
uniform over its interval: an hourly value is spread evenly over its six steps, two 5-minute frames are
averaged into one step). A step not fully covered is an error naming the file and time.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..basin import RAIN_STEP_MIN, STEPS_PER_HOUR, BasinModel
from ..core.times import utc_naive
from ..core.errors import ConfigError, InputDataError
from ..io.basin import read_toml_model
from ..io.config import ForcingSection, ForcingSetup

log = logging.getLogger("hydro")
STEP = np.timedelta64(RAIN_STEP_MIN, "m")


def steps_from_intervals(starts: NDArray, ends: NDArray, rate: NDArray, first: np.datetime64, n_steps: int,
                         source: str) -> NDArray[np.float64]:
    """Mean rate over each 10-minute step [first + k*10 min, first + (k+1)*10 min) from records of uniform
    ``rate`` [n_records, ...] over (``starts``, ``ends``]; the same unit as ``rate``. Raises if a step is
    not fully covered or two records overlap."""
    starts = np.asarray(starts, "datetime64[ns]")
    ends = np.asarray(ends, "datetime64[ns]")
    if len(starts) > 1 and (starts[1:] < ends[:-1]).any():
        i = int(np.flatnonzero(starts[1:] < ends[:-1])[0])
        raise InputDataError(f"{source}: records overlap at {str(ends[i])[:16]}; give one value per interval")
    step_start = (first + np.arange(n_steps) * STEP).astype("datetime64[ns]")
    step_end = step_start + STEP
    overlap = (np.minimum(step_end[:, None], ends[None, :]) - np.maximum(step_start[:, None], starts[None, :]))
    overlap = np.maximum(overlap / np.timedelta64(1, "s"), 0.0) / (RAIN_STEP_MIN * 60.0)  # fraction of the step
    covered = overlap.sum(axis=1)
    if (np.abs(covered - 1.0) > 1e-9).any():
        k = int(np.flatnonzero(np.abs(covered - 1.0) > 1e-9)[0])
        span = (f"{str(starts[0])[:16]} .. {str(ends[-1])[:16]}" if len(starts) else "nothing")
        raise InputDataError(f"{source}: no data for the 10 minutes ending {str(step_end[k])[:16]} (the file "
                             f"covers {span}); extend the file or fill the gap, or move the cycle")
    flat = np.asarray(rate, np.float64).reshape(len(starts), -1)
    return (overlap @ flat).reshape((n_steps,) + np.shape(rate)[1:])


def basin_cells(basin: BasinModel) -> NDArray[np.int64]:
    """Flat indices of the grid cells that drain to the network (the cells whose forcing matters)."""
    return np.unique(basin.mapping.cell)


def check_basin_covered(rate: NDArray, cells: NDArray, times: NDArray, source: str, what: str,
                        fix: str) -> None:
    """Refuse NaN in a basin cell of ``rate`` [time, ny, nx] (a grid that misses part of the basin)."""
    bad = ~np.isfinite(rate.reshape(len(rate), -1)[:, cells])
    if bad.any():
        k = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InputDataError(f"{source}: {what} missing in {int(bad[k].sum())} of {len(cells)} basin cells at "
                             f"{str(times[k])[:16]}; {fix}")


def gauge_field(cell_xy: NDArray, station_xy: NDArray, values: NDArray, method: str, power: float = 2.0,
                radius_m: float | None = None, max_stations: int | None = None,
                station_cell: NDArray | None = None) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Gauge values [n_records, n_stations] (NaN = not measured) on cells [n_cells, 2] (metres).

    ``idw``: w_i = d_i^-power over the reporting stations within ``radius_m``, the ``max_stations`` nearest;
    a cell holding reporting stations (``station_cell``, flat cell index per station, -1 outside the grid)
    takes their value (their mean if several), so the field reproduces every station at its cell.
    ``thiessen``: the nearest reporting station within ``radius_m``. The field lies within the
    reporting stations' min and max. Returns the field [n_records, n_cells] and a mask of the cells
    without any station in reach [n_records, n_cells] (value 0 there).
    """
    from scipy.spatial import cKDTree

    values = np.asarray(values, np.float64)
    reporting = np.isfinite(values)
    patterns, which = np.unique(reporting, axis=0, return_inverse=True)
    which = np.asarray(which).reshape(-1)
    out = np.zeros((len(values), len(cell_xy)))
    unreached = np.zeros((len(values), len(cell_xy)), bool)
    bound = np.inf if radius_m is None else radius_m
    for p, pattern in enumerate(patterns):
        rows = np.flatnonzero(which == p)
        ids = np.flatnonzero(pattern)
        if ids.size == 0:
            unreached[rows] = True
            continue
        k = 1 if method == "thiessen" else min(max_stations or ids.size, ids.size)
        dist, near = cKDTree(station_xy[ids]).query(cell_xy, k=k, distance_upper_bound=bound)
        dist, near = dist.reshape(len(cell_xy), k), near.reshape(len(cell_xy), k)
        found = np.isfinite(dist)
        near = np.where(found, near, 0)
        if method == "thiessen":
            weight = found.astype(np.float64)
        else:
            weight = np.where(found, np.maximum(dist, 1e-6) ** -power, 0.0)
        total = weight.sum(axis=1)
        none = total == 0.0
        weight = np.divide(weight, total[:, None], out=np.zeros_like(weight), where=~none[:, None])
        vals = values[np.ix_(rows, ids)]  # [rows, reporting stations]
        chunk = max(1, 20_000_000 // near.size)  # records at a time: bounds the [records, cells, k] gather
        for r0 in range(0, len(rows), chunk):
            out[rows[r0:r0 + chunk]] = np.einsum("ck,rck->rc", weight, vals[r0:r0 + chunk][:, near])
        unreached[rows] = none
        if method == "idw" and station_cell is not None:  # station cells take their station's value
            inside = station_cell[ids] >= 0
            cells, slot = np.unique(station_cell[ids][inside], return_inverse=True)
            sums = np.zeros((len(rows), len(cells)))
            np.add.at(sums.T, slot, vals[:, inside].T)
            out[np.ix_(rows, cells)] = sums / np.bincount(slot)[None, :]
            unreached[np.ix_(rows, cells)] = False
    return out, unreached


class Forcing:
    """Rain [mm per 10-minute step] on the basin grid from a forcing set-up, by time window; the QPF after
    the nowcast and the PET of the cycle config's ``[forcing]`` section (``section``, paths relative to
    ``config_dir``)."""

    def __init__(self, setup_path: Path, basin: BasinModel, section: ForcingSection | None = None,
                 config_dir: Path | None = None):
        self.path = setup_path
        self.setup = read_toml_model(setup_path, ForcingSetup, "forcing set-up")
        self.start = np.datetime64(utc_naive(self.setup.start), "m")
        self.end = self.start + np.timedelta64(self.setup.hours, "h")
        self.shape = None if basin.grid is None else basin.grid.shape
        self._rain = None
        self._basin = basin
        self.lateral_inflow = _nwm_lateral(self, basin)  # kind nwm_lateral only (hydro.io.chrtout), else None
        self.section = section
        self.config_dir = Path(config_dir) if config_dir is not None else Path(".")
        kind = self.setup.kind
        if kind == "radar" and self.setup.path is None:
            raise ConfigError(f"{self.path}: a radar set-up needs 'path'")
        if kind == "raingauge" and self.setup.gauges is None:
            raise ConfigError(f"{self.path}: a raingauge set-up needs a [gauges] table (stations, series, "
                              "interval_minutes)")
        self.rain_source = self._describe()

    def _describe(self) -> str:
        s = self.setup
        if s.kind == "synthetic_storm":
            return f"synthetic storm (seed {s.seed}, peak {s.peak_mm_h:g} mm h-1, {s.duration_h:g} h) from {self.path}"
        if s.kind == "radar":
            return (f"radar {s.path} ({self.path}) regridded to the basin grid by area-weighted averaging; "
                    f"unmeasured basin cells: {s.missing}")
        if s.kind == "raingauge":
            g = s.gauges
            if g.method == "thiessen":
                how = "Thiessen (nearest reporting station)"
            else:
                how = (f"inverse distance weighting, power {g.power:g}, search radius "
                       f"{'unlimited' if g.search_radius_km is None else f'{g.search_radius_km:g} km'}, "
                       f"{'all' if g.max_stations is None else f'at most {g.max_stations}'} stations, "
                       "station cells take their station's value")
            return f"rain gauges {g.series} ({self.path}), {g.interval_minutes}-minute totals, {how}"
        return f"{s.kind} ({self.path})"

    def _field(self) -> NDArray[np.float32]:
        if self._rain is None:
            n = self.setup.hours * STEPS_PER_HOUR
            if self.setup.kind == "synthetic_storm":
                from ..synthetic import synthetic_storm

                self._rain = synthetic_storm(self.shape, n, RAIN_STEP_MIN / 60.0, seed=self.setup.seed,
                                             peak_mm_h=self.setup.peak_mm_h,
                                             duration_h=self.setup.duration_h).astype(np.float32)
            elif self.setup.kind == "raingauge":
                self._rain = self._gauges(n)
            else:
                self._rain = self._radar(n)
        return self._rain

    def _regrid(self, frames) -> NDArray[np.float32]:
        from ..nowcast.regrid import regrid

        grid = self._basin.grid
        return regrid(frames, grid.shape, grid.transform, grid.crs)

    def _radar(self, n: int) -> NDArray[np.float32]:
        from ..io.radar import read_radar
        from ..nowcast.qc import QCPolicy, fill_not_measured, quality_control

        source = self.path.parent / self.setup.path
        # frames are interval ends: read an hour past the end so a long interval covering the last step is kept
        frames = read_radar(source, window=(self.start, self.end + np.timedelta64(1, "h")))
        frames.check_order()
        step = frames.step
        frames, _ = quality_control(frames, step, QCPolicy())
        rate = self._regrid(frames)
        cells = basin_cells(self._basin)
        never = ~np.isfinite(rate.reshape(len(rate), -1)[:, cells]).any(axis=0)
        if never.any():
            raise InputDataError(f"{source}: the radar grid does not cover {int(never.sum())} of {len(cells)} basin "
                                 f"cells ({self.path}); use a radar product that covers the basin")
        if self.setup.missing == "error":
            check_basin_covered(rate, cells, frames.times, str(source), "radar rain",
                                "set missing = \"zero\" in the set-up to treat unmeasured cells as dry")
        rate = fill_not_measured(rate, "zero", str(self.path))
        mean = steps_from_intervals(frames.times - step, frames.times, rate, self.start, n, str(source))
        return (mean * (RAIN_STEP_MIN / 60.0)).astype(np.float32)

    def _gauges(self, n: int) -> NDArray[np.float32]:
        from ..io.raingauges import read_gauge_series, read_stations

        g = self.setup.gauges
        folder = self.path.parent
        stations = read_stations(folder / g.stations)
        series = read_gauge_series(folder / g.series, g.interval_minutes)
        unknown = [s for s in series.ids if s not in stations.ids]
        if unknown:
            raise InputDataError(f"{series.source}: station(s) {', '.join(unknown[:5])} not in {stations.source}; "
                                 "add them to the stations file (id,lon,lat) or drop their series")
        index = np.array([stations.ids.index(s) for s in series.ids])
        keep = np.flatnonzero((series.times > self.start) & (series.times - series.interval < self.end))
        if keep.size == 0:
            raise InputDataError(f"{series.source}: no record in {self.start} .. {self.end} (the series covers "
                                 f"{str(series.times[0])[:16]} .. {str(series.times[-1])[:16]}); fix start/hours "
                                 f"in {self.path}")
        values = series.rain_mm[keep]
        silent = ~np.isfinite(values).any(axis=1)
        if silent.any():
            raise InputDataError(f"{series.source}: no station reports at {str(series.times[keep][silent][0])[:16]}; "
                                 "the basin rain is unknown there: supply a value or shorten the window")
        cell_xy, station_xy, station_cell = self._gauge_geometry(stations, index, series.source, g.neighbourhood_km)
        radius = None if g.search_radius_km is None else g.search_radius_km * 1000.0
        field, unreached = gauge_field(cell_xy, station_xy, values, g.method, g.power, radius, g.max_stations,
                                       station_cell)
        cells = basin_cells(self._basin)
        lost = unreached[:, cells]
        if lost.any():
            k = int(np.flatnonzero(lost.any(axis=1))[0])
            raise InputDataError(f"{series.source}: {int(lost[k].sum())} basin cells have no reporting station within "
                                 f"search_radius_km = {g.search_radius_km:g} at {str(series.times[keep][k])[:16]}; "
                                 f"raise search_radius_km in {self.path}")
        rate = field / (series.interval / np.timedelta64(1, "h"))  # mm per interval -> mm h-1
        times = series.times[keep]
        mean = steps_from_intervals(times - series.interval, times, rate, self.start, n, series.source)
        log.info("rain gauges %s: %d stations, %s", series.source, len(index), self.rain_source)
        return (mean * (RAIN_STEP_MIN / 60.0)).reshape((n,) + self.shape).astype(np.float32)

    def _gauge_geometry(self, stations, index: NDArray, source: str, neighbourhood_km: float):
        """Cell centres and stations in metres (azimuthal equidistant about the grid centre), each station's
        flat cell index (-1 outside the grid); a station farther than ``neighbourhood_km`` from every
        cell is an error."""
        from pyproj import CRS, Transformer
        from scipy.spatial import cKDTree

        grid = self._basin.grid
        ny, nx = grid.shape
        t = grid.transform
        cols, rows = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
        gx, gy = t.c + t.a * cols + t.b * rows, t.f + t.d * cols + t.e * rows
        grid_crs = CRS.from_user_input(grid.crs.to_wkt() if hasattr(grid.crs, "to_wkt") else grid.crs)
        lon0, lat0 = Transformer.from_crs(grid_crs, "EPSG:4326", always_xy=True).transform(
            float(gx.mean()), float(gy.mean()))
        local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m")
        cx, cy = Transformer.from_crs(grid_crs, local, always_xy=True).transform(gx.ravel(), gy.ravel())
        lon, lat = stations.lon[index], stations.lat[index]
        sx, sy = Transformer.from_crs("EPSG:4326", local, always_xy=True).transform(lon, lat)
        cell_xy, station_xy = np.column_stack([cx, cy]), np.column_stack([sx, sy])
        distance, _ = cKDTree(cell_xy).query(station_xy)
        far = distance > neighbourhood_km * 1000.0
        if far.any():
            j = int(np.flatnonzero(far)[0])
            raise InputDataError(f"{source}: station {stations.ids[index[j]]!r} at lon {lon[j]:g} lat {lat[j]:g} is "
                                 f"{distance[j] / 1000.0:.0f} km from the basin grid (neighbourhood_km = "
                                 f"{neighbourhood_km:g}); check its coordinates or leave it out")
        px, py = Transformer.from_crs("EPSG:4326", grid_crs, always_xy=True).transform(lon, lat)
        col, row = ~t @ (np.asarray(px), np.asarray(py))
        col, row = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
        on_grid = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
        station_cell = np.where(on_grid, row * nx + col, -1)
        return cell_xy, station_xy, station_cell

    def check_covers(self, start: np.datetime64, end: np.datetime64, what: str) -> None:
        if start < self.start or end > self.end:
            raise InputDataError(f"{self.path}: forcing covers {self.start} .. {self.end}, the {what} needs "
                                 f"{str(start)[:16]} .. {str(end)[:16]}; extend the forcing or move the cycle")

    def rain(self, start: np.datetime64, end: np.datetime64) -> NDArray[np.float32]:
        """[n_steps, ny, nx] mm per 10-minute step for the intervals in [start, end)."""
        self.check_covers(start, end, "cycle")
        if (start - self.start) % STEP:  # the index below would floor it: rain shifted, unsaid
            before = self.start + (start - self.start) // STEP * STEP
            raise ConfigError(f"the cycle starts at {str(start)[:16]}, between the {RAIN_STEP_MIN}-minute rain steps "
                              f"of {self.path} (from {str(self.start)[:16]}); start it on a step, e.g. "
                              f"{str(before)[:16]} (cycle.start or --start)")
        i0 = int((start - self.start) / np.timedelta64(RAIN_STEP_MIN, "m"))
        i1 = int((end - self.start) / np.timedelta64(RAIN_STEP_MIN, "m"))
        return self._field()[i0:i1]

    # --- after the nowcast: gridded QPF ------------------------------------------------------------------

    @property
    def qpf_source(self) -> str:
        qpf = self.section.qpf if self.section is not None else None
        if qpf is None:
            return "none (no QPF)"
        return f"QPF {qpf.path}{' accumulated' if qpf.accumulated else ''} regridded to the basin grid (area-weighted)"

    def qpf_path(self, issue: np.datetime64) -> Path:
        template = self.section.qpf.path
        stamp = datetime.fromisoformat(str(np.datetime64(issue, "s")))
        try:
            return self.config_dir / template.format(issue=stamp)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"forcing.qpf.path {template!r}: bad placeholder ({exc}); only {{issue:%Y%m%d%H}} "
                              "style placeholders of the issue time are allowed") from None

    def qpf_rain(self, issue: np.datetime64, start: np.datetime64, end: np.datetime64) -> NDArray[np.float32] | None:
        """QPF [n_steps, ny, nx] mm per 10-minute step for [start, end), from the file of the cycle issued at
        ``issue``; None without a QPF."""
        if self.section is None or self.section.qpf is None or end <= start:
            return None
        from ..io.gridded_forcing import PRECIPITATION_NAMES, read_gridded_flux

        qpf = self.section.qpf
        path = self.qpf_path(issue)
        flux = read_gridded_flux(path, qpf.variable, PRECIPITATION_NAMES, "QPF", (start, end), qpf.accumulated)
        source = f"{path}: {flux.variable}"
        if len(flux.starts) == 0:
            raise InputDataError(f"{source}: no record in {str(start)[:16]} .. {str(end)[:16]}; the QPF must cover "
                                 "the forecast window after the nowcast")
        rate = self._regrid(flux.frames)
        check_basin_covered(rate, basin_cells(self._basin), flux.frames.times, source, "QPF",
                            "use a QPF grid that covers the basin")
        rate = np.nan_to_num(rate, nan=0.0)  # outside the basin only (checked above)
        n = int((end - start) / STEP)
        mean = steps_from_intervals(flux.starts, flux.frames.times, rate, start, n, source)
        return (mean * (RAIN_STEP_MIN / 60.0)).astype(np.float32)

    # --- PET ------------------------------------------------------------------------------------------------

    @property
    def pet_source(self) -> str:
        if self.section is None or self.section.pet is None:
            return "constant (runoff.pet_mm_h)"
        return f"file {self.section.pet}, each value spread evenly over its interval"

    def pet(self, start: np.datetime64, end: np.datetime64, constant_mm_h: float) -> float | NDArray[np.float64]:
        """PET for the 10-minute steps of [start, end): ``constant_mm_h`` without a PET file, else mm h-1 per
        step, [n_steps] from a CSV (basin-uniform) or [n_steps, ny, nx] from a gridded NetCDF."""
        if self.section is None or self.section.pet is None:
            return constant_mm_h
        path = self.config_dir / self.section.pet
        n = int((end - start) / STEP)
        if path.suffix.lower() == ".csv":
            from ..io.raingauges import read_pet_csv

            starts, ends, rate = read_pet_csv(path)
            return steps_from_intervals(starts, ends, rate, start, n, f"{path}: pet_mm")
        from ..io.gridded_forcing import PET_NAMES, read_gridded_flux

        flux = read_gridded_flux(path, self.section.pet_variable, PET_NAMES, "PET", (start, end))
        source = f"{path}: {flux.variable}"
        if len(flux.starts) == 0:
            raise InputDataError(f"{source}: no record in {str(start)[:16]} .. {str(end)[:16]}; extend the PET file")
        rate = self._regrid(flux.frames)
        check_basin_covered(rate, basin_cells(self._basin), flux.frames.times, source, "PET",
                            "use a PET grid that covers the basin")
        return steps_from_intervals(flux.starts, flux.frames.times, np.nan_to_num(rate, nan=0.0), start, n, source)


# --- kind nwm_lateral: NWM lateral inflow routed as given (no runoff grid; hydro.io.chrtout) --------------

def _nwm_lateral(forcing: Forcing, basin: BasinModel):
    """The NWM lateral-inflow reader of an ``nwm_lateral`` set-up (None for the rain kinds); the set-up kind and
    the basin must agree: lateral inflow needs a basin without a runoff grid, rain a basin with one."""
    kind, where = forcing.setup.kind, f"{forcing.path}: forcing kind {forcing.setup.kind!r}"
    if kind != "nwm_lateral":
        if basin.grid is None:
            raise ConfigError(f"{where} is rain on a runoff grid; basin {basin.name} has none (its forcing is lateral "
                              "inflow): use kind = \"nwm_lateral\"")
        return None
    if basin.grid is not None:
        raise ConfigError(f"{where} bypasses the runoff model; basin {basin.name} has a runoff grid: use a rain kind")
    if forcing.setup.path is None:
        raise ConfigError(f"{where} needs 'path' (a CHRTOUT folder or a qlat NetCDF)")
    from ..io.chrtout import NwmLateralForcing

    return NwmLateralForcing(forcing.path.parent / forcing.setup.path, basin.network, forcing.start, forcing.setup.hours,
                             setup=str(forcing.path), lake_outlets=getattr(basin, "lake_outlets", None))
