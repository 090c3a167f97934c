"""Radar rainfall files <-> ``RadarFrames`` (rainfall_rate(time, y, x) [mm h-1] with CRS and grid).

``read_radar`` reads any supported file, or a directory of one-frame files, into one ``RadarFrames``;
``write_cf_netcdf`` writes the CF NetCDF layout. The per-format readers, the CF NetCDF reader among them,
live in ``radar_formats.py`` (this module imports that one, never the other way round); the data type
itself lives in ``hydro.nowcast.frames`` (re-exported here); QC in ``hydro/nowcast/qc.py``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import xarray as xr

from ..core.errors import InputDataError
from ..nowcast.frames import RadarFrames
from .atomic import write_atomic
from .radar_formats import read_any, read_cf_netcdf

__all__ = ["RadarFrames", "read_cf_netcdf", "read_radar", "write_cf_netcdf"]

log = logging.getLogger("hydro")


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
    path = Path(path)
    if not path.is_dir():
        return read_any(path, window=window)
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputDataError(f"{path}: directory holds no radar files")
    parts = [read_any(f) for f in files]
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
