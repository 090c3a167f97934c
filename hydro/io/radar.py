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
from .netcdf import _attrs, cf_encode
from .radar_formats import check_window, read_any, read_cf_netcdf

__all__ = ["RadarFrames", "read_cf_netcdf", "read_radar", "write_cf_netcdf"]

log = logging.getLogger("hydro")


def grid_mapping_attrs(crs) -> dict:
    """The CF grid-mapping attributes of ``crs`` (a rasterio or pyproj CRS, or WKT), from pyproj's
    ``CRS.to_cf()`` (``grid_mapping_name``, the projection parameters, ``crs_wkt``), plus GDAL's
    ``spatial_ref`` so GDAL-based tools place the grid too."""
    from pyproj import CRS as ProjCRS

    proj = ProjCRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    attrs = {k: v for k, v in proj.to_cf().items() if v is not None}
    attrs["spatial_ref"] = attrs.get("crs_wkt", proj.to_wkt())
    return attrs


def _xy_coords(frames: RadarFrames) -> dict:
    """Cell-centre coordinates: projection x/y [m] on a projected grid, longitude/latitude on a geographic one."""
    y, x = frames.coords()
    if frames.crs is not None and frames.crs.is_geographic:
        return {"y": ("y", y, _attrs("latitude")), "x": ("x", x, _attrs("longitude"))}
    return {"y": ("y", y, _attrs("projection_y")), "x": ("x", x, _attrs("projection_x"))}


def write_cf_netcdf(path: Path, frames: RadarFrames, reference_time: np.datetime64 | None = None,
                    interval_minutes: float | None = None, extra: dict | None = None) -> None:
    """Write ``rainfall_rate(time, y, x)`` [mm h-1] atomically, CF: grid mapping ``crs`` (pyproj ``to_cf``),
    interval means with ``time_bounds``; NaN = not measured (written as the fill value). ``extra``: more
    variables, e.g. ``rainfall_rate_members(member, time, y, x)``, given the grid mapping too."""
    if frames.crs is None:
        raise InputDataError(f"{frames.source}: no projection; cannot write a CF grid")
    rain = _attrs("rainfall_rate")
    rain["grid_mapping"] = "crs"
    coords = {"time": ("time", frames.times, {**_attrs("time"), "long_name": "end of the averaging interval"
                                              if interval_minutes else "valid time"}), **_xy_coords(frames)}
    data_vars = {"rainfall_rate": (("time", "y", "x"), frames.rate.astype(np.float32), rain),
                 "crs": ((), np.int32(0), {**grid_mapping_attrs(frames.crs),
                                           "GeoTransform": " ".join(map(str, frames.transform.to_gdal()))})}
    if interval_minutes:
        rain["cell_methods"] = f"time: mean (interval: {interval_minutes:g} minutes)"
        coords["time"][2]["bounds"] = "time_bounds"
        start = frames.times - np.timedelta64(int(round(interval_minutes * 60)), "s")
        data_vars["time_bounds"] = (("time", "nv"), np.stack([start, frames.times], axis=1), _attrs("time_bounds"))
    else:
        rain["cell_methods"] = "time: point"
    for name, (dims, values, attrs) in (extra or {}).items():
        data_vars[name] = (dims, values, {**attrs, "grid_mapping": "crs"} if "y" in dims else attrs)
        if "member" in dims and "member" not in coords:
            coords["member"] = ("member", np.arange(values.shape[dims.index("member")], dtype=np.int32), _attrs("member"))
    if reference_time is not None:
        coords["reference_time"] = ((), reference_time, _attrs("reference_time"))
    ds = cf_encode(xr.Dataset(data_vars, coords=coords, attrs={"source": frames.source}))
    if "time_bounds" in ds:  # same units as time; int32, as cfchecker 4.1 takes no int64 bounds (till year 6053)
        ds["time_bounds"].encoding["dtype"] = "int32"
    for name, var in ds.data_vars.items():
        if var.dims[-2:] == ("y", "x"):
            var.encoding.update(zlib=True, complevel=4, chunksizes=(1,) * (var.ndim - 2) + frames.shape)
    write_atomic(path, lambda tmp: ds.to_netcdf(tmp, format="NETCDF4"))


def read_radar(path: Path, window: tuple[np.datetime64, np.datetime64] | None = None) -> RadarFrames:
    """Read any supported radar file (by content) into the common layout; ``window`` limits a
    multi-frame file to the frames in (start, end] (refused with the frames' span when it keeps fewer than
    two and ``end`` lies outside them). A directory is read as one frame per file."""
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
        check_window(path, window, frames.times)
        keep = (frames.times > window[0]) & (frames.times <= window[1])
        frames = replace(frames, rate=frames.rate[keep], times=frames.times[keep])
    return frames
