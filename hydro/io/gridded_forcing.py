"""Gridded forcing files in CF NetCDF: quantitative precipitation forecasts (QPF) and potential evaporation.

``read_gridded_flux`` reads one variable ``(time, y, x)`` (or ``(time, lat, lon)``) into ``RadarFrames``
holding the interval-mean rate [mm h-1] on the file's grid, plus the start of each interval:

* units go through the project's one units layer (``hydro.core.variables.unit_factor``, pint): a rate
  (``mm h-1``, ``kg m-2 s-1`` as water, ``m s-1``, ``mm d-1``) or an amount per interval (``mm``,
  ``kg m-2``, ``m``); anything else, or no units, is an error;
* each value covers ``time_bounds`` when the time coordinate has CF bounds, else the interval from the
  previous time to its own (the first interval as long as the second), the STYLE convention that a flux
  is stamped at its interval's end; with ``accumulated`` the amounts run from the file's first time
  (NWP total precipitation) and are differenced;
* the grid is a regular lat/lon grid (1-D ``lat``/``lon`` coordinates, longitudes 0..360 wrapped to
  -180..180) or a projected one (1-D ``x``/``y`` with a CF grid-mapping variable);
* NaN (the fill value) stays NaN here; the forcing stage refuses it inside the basin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.transform import Affine

from ..core.errors import InputDataError
from ..core.variables import unit_factor
from ..nowcast.frames import RadarFrames
from .radar_formats import _crs_from_attrs

PRECIPITATION_NAMES = ("precipitation_amount", "precipitation_flux", "lwe_precipitation_rate",
                       "lwe_thickness_of_precipitation_amount", "rainfall_amount", "rainfall_flux", "rainfall_rate",
                       "thickness_of_rainfall_amount", "precipitation", "tp", "qpf", "rain", "precip", "pr",
                       "rainfall")
PET_NAMES = ("water_potential_evaporation_amount", "water_potential_evaporation_flux", "pet", "potential_evaporation",
             "evspsblpot", "e0", "etp")
NEGATIVE_TOLERANCE = 1e-3  # packed data may hold tiny negatives; set to 0 [mm h-1 or mm]


@dataclass
class GriddedFlux:
    """Interval-mean rates [mm h-1] (``frames.rate``, NaN = missing) over (``starts``, ``frames.times``]."""

    frames: RadarFrames
    starts: NDArray[np.datetime64]
    variable: str
    units: str


def pick_variable(ds: xr.Dataset, path: Path, variable: str | None, names: tuple[str, ...], what: str) -> str:
    """``variable`` if given and present, else the one variable whose standard_name or name is in ``names``."""
    if variable is not None:
        if variable not in ds.data_vars:
            raise InputDataError(f"{path}: no variable {variable!r} (found {', '.join(map(str, ds.data_vars))}); "
                                 f"set the {what} variable to one of them")
        return variable
    found = [str(k) for k, v in ds.data_vars.items()
             if v.ndim == 3 and (v.attrs.get("standard_name") in names or str(k).lower() in names)]
    if len(found) != 1:
        raise InputDataError(f"{path}: {'no' if not found else 'several'} {what} variables "
                             f"({', '.join(found) or 'none of ' + ', '.join(map(str, ds.data_vars))}); "
                             f"name the variable in the config")
    return found[0]


def _axis(coord: xr.DataArray, path: Path, name: str) -> NDArray[np.float64]:
    values = np.asarray(coord.values, np.float64)
    if values.ndim != 1 or len(values) < 2:
        raise InputDataError(f"{path}: coordinate {coord.name} must be 1-D with at least 2 values")
    step = np.diff(values)
    if not np.allclose(step, step[0], rtol=1e-5, atol=0.0) or step[0] == 0:
        raise InputDataError(f"{path}: {name} coordinate {coord.name} is not evenly spaced "
                             f"(steps {step.min():g} .. {step.max():g}); regrid the file to a regular grid first")
    return values


def _grid(ds: xr.Dataset, da: xr.DataArray, path: Path) -> tuple[CRS, NDArray, NDArray, bool]:
    """(crs, y, x, geographic) of the variable's last two dims."""
    ydim, xdim = da.dims[-2:]
    if ydim not in ds.coords or xdim not in ds.coords:
        raise InputDataError(f"{path}: {da.name} dims {da.dims} lack coordinate variables {ydim}/{xdim}")
    ycoord, xcoord = ds[ydim], ds[xdim]
    lat_like = ycoord.attrs.get("standard_name") == "latitude" or ycoord.attrs.get("units", "").startswith("degree") \
        or str(ydim).lower() in ("lat", "latitude")
    y, x = _axis(ycoord, path, "y"), _axis(xcoord, path, "x")
    if lat_like:
        return CRS.from_epsg(4326), y, x, True
    grid_mapping = da.attrs.get("grid_mapping") or ("crs" if "crs" in ds else None)
    crs = None
    if grid_mapping in ds.variables:
        attrs = ds[grid_mapping].attrs
        crs = _crs_from_attrs(attrs)
        if crs is None and "grid_mapping_name" in attrs:
            from pyproj import CRS as ProjCRS

            try:
                crs = CRS.from_wkt(ProjCRS.from_cf(dict(attrs)).to_wkt())
            except Exception:  # noqa: BLE001 - pyproj raises several types
                crs = None
    if crs is None:
        raise InputDataError(f"{path}: {da.name} on {ydim}/{xdim} has no readable grid mapping (crs_wkt, spatial_ref, "
                             "proj4 or CF grid_mapping_name); add one or use lat/lon coordinates")
    factor = {"km": 1000.0, "m": 1.0, "metre": 1.0, "meter": 1.0}.get(xcoord.attrs.get("units", "m"))
    if factor is None:
        raise InputDataError(f"{path}: {xdim} units {xcoord.attrs.get('units')!r}; expected m or km")
    return crs, y * factor, x * factor, False


def read_gridded_flux(path: Path, variable: str | None, names: tuple[str, ...], what: str,
                      window: tuple[np.datetime64, np.datetime64], accumulated: bool = False) -> GriddedFlux:
    """The records of ``path`` whose intervals overlap ``window`` (start, end], as mm h-1 interval means."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: {what} file not found")
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read as NetCDF ({exc})") from None
    with ds:
        name = pick_variable(ds, path, variable, names, what)
        da = ds[name]
        if da.ndim != 3 or "time" not in da.dims[0]:
            raise InputDataError(f"{path}: {name} has dims {da.dims}; expected (time, y, x) or (time, lat, lon)")
        units = str(da.attrs.get("units", "")).strip()
        if not units:
            raise InputDataError(f"{path}: {name} has no units; add units (a rate such as mm h-1 or kg m-2 s-1, "
                                 "or an amount per interval such as mm)")
        try:
            to_rate, to_amount = unit_factor(units, "mm h-1"), unit_factor(units, "mm")
        except ValueError as exc:
            raise InputDataError(f"{path}: {name}: {exc}; give UDUNITS units of a rate (mm h-1, kg m-2 s-1) or "
                                 "an amount per interval (mm, kg m-2)") from None
        if to_rate is None and to_amount is None:
            raise InputDataError(f"{path}: {name} units {units!r} are neither a rate (mm h-1, kg m-2 s-1) nor an "
                                 "amount per interval (mm, kg m-2); fix the units attribute")
        if accumulated and to_amount is None:
            raise InputDataError(f"{path}: {name} is accumulated but its units {units!r} are a rate; "
                                 "accumulated fields need amount units (mm, kg m-2, m)")
        tname = da.dims[0]
        times = np.asarray(ds[tname].values)
        if not np.issubdtype(times.dtype, np.datetime64):
            raise InputDataError(f"{path}: {tname} is not a CF time coordinate (units 'hours since ...')")
        times = times.astype("datetime64[ns]")
        if len(times) > 1 and (np.diff(times) <= np.timedelta64(0, "ns")).any():
            i = int(np.flatnonzero(np.diff(times) <= np.timedelta64(0, "ns"))[0])
            raise InputDataError(f"{path}: {tname} not increasing at {times[i]} -> {times[i + 1]}")
        bounds_name = ds[tname].attrs.get("bounds")
        if accumulated:
            starts, ends = times[:-1], times[1:]
        elif bounds_name in ds.variables:
            bounds = np.asarray(ds[bounds_name].values).astype("datetime64[ns]")
            starts, ends = bounds[:, 0], bounds[:, 1]
        else:
            if len(times) < 2:
                raise InputDataError(f"{path}: one time and no time bounds; the interval each value covers is unknown")
            starts = np.concatenate([[times[0] - (times[1] - times[0])], times[:-1]])
            ends = times
        keep = np.flatnonzero((ends > window[0]) & (starts < window[1]))
        if accumulated:  # record i is the difference of stored times i and i+1
            raw = da.isel({tname: np.union1d(keep, keep + 1)}).values.astype(np.float64) if keep.size else None
            amounts = np.diff(raw, axis=0) if raw is not None else np.zeros((0,) + da.shape[1:])
            rate = amounts * to_amount
        else:
            rate = da.isel({tname: keep}).values.astype(np.float64)
            rate *= to_rate if to_rate is not None else to_amount
        starts, ends = starts[keep], ends[keep]
        hours = (ends - starts) / np.timedelta64(1, "h")
        if (hours <= 0).any():
            i = int(np.flatnonzero(hours <= 0)[0])
            raise InputDataError(f"{path}: {name} interval {starts[i]} .. {ends[i]} is empty; check the time bounds")
        if to_rate is None:  # amounts per interval -> interval-mean rates
            rate /= hours[:, None, None]
        negative = rate < -NEGATIVE_TOLERANCE
        if negative.any():
            k = int(np.argwhere(negative)[0][0])
            raise InputDataError(f"{path}: {name} is negative ({rate[negative].min():.4g} mm h-1) at {ends[k]}"
                                 f"{' (the accumulation decreases)' if accumulated else ''}; fix the file")
        rate = np.where(rate < 0.0, 0.0, rate)
        crs, y, x, geographic = _grid(ds, da, path)
    if geographic and x.max() > 180.0:  # 0..360 longitudes -> -180..180
        x = np.where(x > 180.0, x - 360.0, x)
        order = np.argsort(x, kind="stable")
        x, rate = x[order], rate[..., order]
        _axis(xr.DataArray(x, name="lon"), path, "x")
    if y[1] > y[0]:  # row 0 must be the northern edge (RadarFrames, GDAL)
        y, rate = y[::-1], rate[:, ::-1, :]
    dx, dy = x[1] - x[0], y[1] - y[0]
    transform = Affine(dx, 0.0, x[0] - dx / 2, 0.0, dy, y[0] - dy / 2)
    frames = RadarFrames(str(path), np.ascontiguousarray(rate, np.float32), ends, crs, transform, name)
    return GriddedFlux(frames, starts, name, units)
