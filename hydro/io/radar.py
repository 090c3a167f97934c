"""Radar rainfall in one layout: ``RadarFrames`` = rainfall_rate(time, y, x) [mm h-1] with CRS and grid.

``rate`` is float32; NaN means *not measured* (no coverage, missing data), 0 means *measured dry*
(ODIM ``undetect``). ``times`` are the ends of the accumulation intervals (the NetCDF events) or the
nominal scan times (instantaneous products). ``transform`` maps (col, row) of cell corners to
projection coordinates [m]. Readers per format live in this module and ``radar_formats.py``; QC in
``hydro/nowcast/qc.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.transform import Affine

from ..core.errors import InputDataError
from .atomic import write_atomic

log = logging.getLogger("hydro")


@dataclass
class RadarFrames:
    source: str
    rate: NDArray[np.float32]  # [time, y, x] mm h-1, NaN = not measured
    times: NDArray[np.datetime64]
    crs: CRS | None
    transform: Affine
    quantity: str = "RATE"

    @property
    def shape(self) -> tuple[int, int]:
        return self.rate.shape[1], self.rate.shape[2]

    def check_order(self) -> None:
        """Raise unless there are at least two frames in strictly increasing time."""
        if len(self.times) < 2:
            raise InputDataError(f"{self.source}: need at least two frames, found {len(self.times)}")
        diffs = np.diff(self.times)
        if (diffs <= np.timedelta64(0, "s")).any():
            i = int(np.flatnonzero(diffs <= np.timedelta64(0, "s"))[0])
            raise InputDataError(f"{self.source}: frames out of order at {self.times[i]} -> {self.times[i + 1]}; "
                                 "sort the frames by time")

    @property
    def step(self) -> np.timedelta64:
        """Spacing of the frames; raise if they are not strictly increasing and evenly spaced."""
        self.check_order()
        diffs = np.diff(self.times)
        if (diffs != diffs[0]).any():
            i = int(np.flatnonzero(diffs != diffs[0])[0])
            raise InputDataError(f"{self.source}: gap in the frames after {self.times[i]} (next {self.times[i + 1]}, "
                                 f"step {diffs[0].astype('timedelta64[m]')}); fill it (QC missing_frames policy) or "
                                 "choose an issue time after the gap")
        return diffs[0]

    @property
    def cell_km(self) -> float:
        """Cell side in km, the geometric mean of the two sides: projected grids by their linear unit
        (metres when the CRS is unknown), geographic ones at the grid's central latitude."""
        t = self.transform
        area = abs(t.a * t.e)
        if self.crs is not None and self.crs.is_geographic:
            lat = t.f + t.e * self.shape[0] / 2.0
            return 111.32 * float(np.sqrt(area * abs(np.cos(np.radians(lat)))))
        factor = self.crs.linear_units_factor[1] if self.crs is not None and self.crs.is_projected else 1.0
        return float(np.sqrt(area)) * factor / 1000.0

    def coords(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cell-centre projection coordinates (y, x)."""
        ny, nx = self.shape
        t = self.transform
        x = t.c + t.a * (np.arange(nx) + 0.5)
        y = t.f + t.e * (np.arange(ny) + 0.5)
        return y, x

    def select(self, end: np.datetime64, count: int) -> RadarFrames:
        """The ``count`` frames ending at ``end`` (inclusive)."""
        hit = np.flatnonzero(self.times == end)
        if hit.size == 0:
            raise InputDataError(f"{self.source}: no frame at {end}; frames run {self.times[0]} .. {self.times[-1]} "
                                 f"every {self.step.astype('timedelta64[m]')}")
        i = int(hit[0])
        if i + 1 < count:
            raise InputDataError(f"{self.source}: {count} frames up to {end} are needed, only {i + 1} exist")
        return replace(self, rate=self.rate[i + 1 - count:i + 1], times=self.times[i + 1 - count:i + 1])


def _crs_from_attrs(attrs: dict) -> CRS | None:
    for key in ("crs_wkt", "spatial_ref", "proj4"):
        if key in attrs:
            try:
                return CRS.from_user_input(attrs[key])
            except Exception:  # noqa: BLE001 - try the next representation
                continue
    return None


def read_cf_netcdf(path: Path, variable: str = "rainfall_rate",
                   window: tuple[np.datetime64, np.datetime64] | None = None) -> RadarFrames:
    """CF NetCDF with ``rainfall_rate(time, y, x)`` [mm h-1] on projection coordinates y, x and a
    grid-mapping variable; only the frames with ``window[0] < time <= window[1]`` when given."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: radar file not found")
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read as NetCDF ({exc})") from None
    with ds:
        if variable not in ds:
            raise InputDataError(f"{path}: no variable {variable!r} (found {', '.join(map(str, ds.data_vars))}); "
                                 "expected rainfall_rate(time, y, x) in mm h-1")
        da = ds[variable]
        if da.dims != ("time", "y", "x"):
            raise InputDataError(f"{path}: {variable} has dims {da.dims}, expected (time, y, x)")
        units = da.attrs.get("units", "")
        if units not in ("mm h-1", "mm/h", "mm hr-1"):
            raise InputDataError(f"{path}: {variable} units {units!r}; expected mm h-1")
        y, x = ds["y"].values.astype(np.float64), ds["x"].values.astype(np.float64)
        if len(x) < 2 or len(y) < 2:
            raise InputDataError(f"{path}: grid needs at least 2 x 2 cells")
        dx, dy = x[1] - x[0], y[1] - y[0]
        transform = Affine(dx, 0.0, x[0] - dx / 2, 0.0, dy, y[0] - dy / 2)
        grid_mapping = da.attrs.get("grid_mapping") or ("crs" if "crs" in ds else None)
        crs = _crs_from_attrs(ds[grid_mapping].attrs) if grid_mapping in ds else _crs_from_attrs(ds.attrs)
        if crs is None:
            raise InputDataError(f"{path}: no readable projection (grid_mapping crs_wkt / proj4); cannot place the grid")
        times = ds["time"].values.astype("datetime64[ns]")
        if window is not None:
            keep = np.flatnonzero((times > window[0]) & (times <= window[1]))
            da, times = da.isel(time=keep), times[keep]
        rate = da.values.astype(np.float32)
    return RadarFrames(str(path), rate, times, crs, transform, "RATE")


def write_cf_netcdf(path: Path, frames: RadarFrames, reference_time: np.datetime64 | None = None,
                    interval_minutes: float | None = None, extra: dict | None = None) -> None:
    """Write ``rainfall_rate(time, y, x)`` [mm h-1] (CF, with grid mapping) atomically; NaN = not measured."""
    y, x = frames.coords()
    cell_method = f"time: mean (interval: {interval_minutes:g} minutes)" if interval_minutes else "time: point"
    data_vars = {
        "rainfall_rate": (("time", "y", "x"), frames.rate.astype(np.float32), {
            "standard_name": "rainfall_rate", "long_name": "rain rate", "units": "mm h-1",
            "grid_mapping": "crs", "cell_methods": cell_method}),
        "crs": ((), np.int32(0), {"crs_wkt": frames.crs.to_wkt() if frames.crs else "",
                                  "spatial_ref": frames.crs.to_wkt() if frames.crs else "",
                                  "GeoTransform": " ".join(map(str, frames.transform.to_gdal()))}),
    }
    if extra:
        data_vars.update(extra)
    coords = {"time": ("time", frames.times, {"standard_name": "time", "long_name": "end of the averaging interval"}),
              "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m"}),
              "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m"})}
    if reference_time is not None:
        coords["reference_time"] = ((), reference_time, {"standard_name": "forecast_reference_time"})
    ds = xr.Dataset(data_vars, coords=coords, attrs={"Conventions": "CF-1.11", "source": frames.source})
    encoding = {"rainfall_rate": {"zlib": True, "complevel": 4, "_FillValue": np.float32(np.nan),
                                  "chunksizes": (1,) + frames.shape}}
    write_atomic(path, lambda tmp: ds.to_netcdf(tmp, encoding=encoding))


def read_radar(path: Path, window: tuple[np.datetime64, np.datetime64] | None = None) -> RadarFrames:
    """Read any supported radar file (by content) into the common layout; ``window`` limits a
    multi-frame file to the frames in (start, end]. A directory is read as one frame per file."""
    from . import radar_formats

    path = Path(path)
    if not path.is_dir():
        return radar_formats.read_any(path, window=window)
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputDataError(f"{path}: directory holds no radar files")
    parts = [radar_formats.read_any(f) for f in files]
    first = parts[0]
    for part in parts[1:]:
        if part.shape != first.shape or not part.transform.almost_equals(first.transform) or part.crs != first.crs:
            raise InputDataError(f"{part.source}: grid {part.shape} differs from {first.source} {first.shape}; "
                                 "all frames must share one grid and projection")
    times = np.concatenate([p.times for p in parts])
    order = np.argsort(times, kind="stable")
    if (np.diff(times[order]) == np.timedelta64(0, "s")).any():
        dup = times[order][np.flatnonzero(np.diff(times[order]) == np.timedelta64(0, "s"))[0]]
        raise InputDataError(f"{path}: two files hold the frame at {dup}; remove the duplicate")
    rate = np.concatenate([p.rate for p in parts])[order]
    frames = replace(first, source=str(path), rate=rate, times=times[order])
    if window is not None:
        keep = (frames.times > window[0]) & (frames.times <= window[1])
        frames = replace(frames, rate=frames.rate[keep], times=frames.times[keep])
    return frames
