"""Readers of real radar formats into ``RadarFrames`` (rainfall_rate [mm h-1], NaN = not measured, 0 = dry).

* ODIM_H5 (EUMETNET OPERA, H5rad 2.x): quantities RATE [mm h-1], ACRR [mm per interval] and DBZH/TH
  [dBZ -> rain rate through the Z-R relation]; ``gain``/``offset`` applied; ``nodata`` -> NaN (not
  measured), ``undetect`` -> 0 (measured, no echo). ``what`` attributes are inherited from the file to
  the dataset to the data group, as ODIM specifies. Grid from ``where/projdef`` and the upper-left corner.
* KNMI HDF5 ("hdftag" 3.x, e.g. RAD_NL25_RAP): ``image1/image_data`` with the calibration formula
  ``GEO = a*PV + b`` (5-minute accumulation in mm), missing value -> NaN; grid from the map projection
  and the row/column offsets.
* GeoTIFF (rasterio), e.g. FMI reflectivity: ``Gain``/``Offset``/``Nodata``/``Undetect`` from the GDAL
  metadata, dBZ -> rain rate.
* MeteoSwiss AQC palette GIF (logarithmic rain-rate classes) and FMI PGM (dBZ with a '#' header).
* CF NetCDF ``rainfall_rate(time, y, x)`` (``read_cf_netcdf``, also importable from ``hydro.io.radar``).

Z-R: Z = a R^b with Z in mm6 m-3 (Marshall-Palmer a = 200, b = 1.6 by default, configurable).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import xarray as xr
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import transform as warp_points

from ..core.errors import InputDataError
from ..core.variables import check_range, to_canonical
from ..nowcast.frames import RadarFrames

log = logging.getLogger("hydro")
RATE_QUANTITIES = ("RATE", "ACRR", "DBZH", "TH", "DBZ")


@dataclass(frozen=True)
class ZR:
    """Z = a R^b (Z in mm6 m-3, R in mm h-1)."""

    a: float = 200.0
    b: float = 1.6

    def rate(self, dbz: np.ndarray) -> np.ndarray:
        return (10.0 ** (dbz / 10.0) / self.a) ** (1.0 / self.b)


MARSHALL_PALMER = ZR()


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
        y, x = ds["y"].values.astype(np.float64), ds["x"].values.astype(np.float64)
        if len(x) < 2 or len(y) < 2:
            raise InputDataError(f"{path}: grid needs at least 2 x 2 cells")
        grid_mapping = da.attrs.get("grid_mapping") or ("crs" if "crs" in ds else None)
        crs = _crs_from_attrs(ds[grid_mapping].attrs) if grid_mapping in ds else _crs_from_attrs(ds.attrs)
        if crs is None:
            raise InputDataError(f"{path}: no readable projection (grid_mapping crs_wkt / proj4); cannot place the grid")
        unit = "m" if crs.is_projected and crs.linear_units in ("metre", "meter") else ""
        dx = _regular_spacing(path, "x", x, str(ds["x"].attrs.get("units", unit)), ds["x"].dtype.type)
        dy = _regular_spacing(path, "y", y, str(ds["y"].attrs.get("units", unit)), ds["y"].dtype.type)
        transform = Affine(dx, 0.0, x[0] - dx / 2, 0.0, dy, y[0] - dy / 2)
        if "time" not in ds.variables or not np.issubdtype(ds["time"].dtype, np.datetime64):
            raise InputDataError(f"{path}: variable time is not a time coordinate (no CF units such as 'minutes since "
                                 "1970-01-01'); give time its units")
        times = ds["time"].values.astype("datetime64[ns]")
        if np.isnat(times).any():
            k = int(np.flatnonzero(np.isnat(times))[0])
            raise InputDataError(f"{path}: time [{k}] is missing (NaT); every frame needs its time")
        keep = _unique_frames(path, variable, da, times)
        if window is not None:
            check_window(path, window, times)
            keep = keep[(times[keep] > window[0]) & (times[keep] <= window[1])]
        if keep.size < times.size:
            da, times = da.isel(time=keep), times[keep]
        # mm h-1, or anything pint converts to it (m s-1, kg m-2 s-1 as water); refused otherwise
        rate = to_canonical(da.values.astype(np.float32), da.attrs.get("units"), "rainfall_rate",
                            f"{path}: {variable}").astype(np.float32)
    check_range(rate, "rainfall_rate", str(path), label=variable, locate=lambda k: (
        f"time {str(times[k // (rate.shape[1] * rate.shape[2])])[:19]}, "
        f"cell (y {k // rate.shape[2] % rate.shape[1]}, x {k % rate.shape[2]})"))
    return RadarFrames(str(path), rate, times, crs, transform, "RATE")


def _regular_spacing(path: Path, name: str, coord: np.ndarray, units: str, stored=np.float64) -> float:
    """The constant step of a cell-centre coordinate; refused when not finite, or when any step departs from
    the typical (median) step by more than 0.1 % of it plus the rounding of the ``stored`` type (float32
    northings near 7,000 km round to 0.5 m, 0.2 % of a 250 m cell): the motion estimate, the advection and
    the output's grid mapping all assume one cell size."""
    if not np.isfinite(coord).all():
        k = int(np.flatnonzero(~np.isfinite(coord))[0])
        raise InputDataError(f"{path}: coordinate {name}[{k}] is {coord[k]:g}; the grid's coordinates must be finite")
    steps = np.diff(coord)
    step = float(np.median(steps))
    if step == 0:
        k = int(np.flatnonzero(steps == 0)[0])
        raise InputDataError(f"{path}: the {name} coordinate repeats {coord[k]:g} ({name}[{k}] and [{k + 1}]); cell "
                             "centres must advance by one cell size")
    deviation = np.abs(steps - step)
    k = int(np.argmax(deviation))
    rounding = 2.0 * float(np.spacing(np.abs(coord).max().astype(stored))) if np.issubdtype(stored, np.floating) else 0.0
    if deviation[k] > 1e-3 * abs(step) + rounding:
        unit = f" {units}" if units else ""
        raise InputDataError(
            f"{path}: the {name} coordinate is not evenly spaced: largest deviation {deviation[k]:g}{unit} from its "
            f"{step:g}{unit} step, between {name}[{k}] = {coord[k]:g} and {name}[{k + 1}] = {coord[k + 1]:g}; the "
            "nowcast needs a regular grid: regrid the frames to one cell size")
    return float(coord[-1] - coord[0]) / (coord.size - 1)  # the mean step: rounded coordinates' best estimate


def _unique_frames(path: Path, variable: str, da: xr.DataArray, times: np.ndarray) -> np.ndarray:
    """Indices of the frames to keep: a time given twice is refused unless the two frames are identical,
    in which case the repeat is dropped with a WARNING (a file concatenated with an overlap)."""
    values, counts = np.unique(times, return_counts=True)
    if (counts == 1).all():
        return np.arange(times.size)
    drop = []
    for t in values[counts > 1]:
        at = np.flatnonzero(times == t)
        reference = da.isel(time=int(at[0])).values
        for k in at[1:]:
            if not np.array_equal(reference, da.isel(time=int(k)).values, equal_nan=True):
                raise InputDataError(
                    f"{path}: time {str(t)[:19]} is given twice (time [{at[0]}] and [{k}]) with different "
                    f"{variable} frames; every frame needs its own time: correct or remove the duplicate")
            drop.append(int(k))
    log.warning("%s: %d frame(s) repeated with the same time and identical %s (first at %s) dropped", path, len(drop),
                variable, str(times[drop[0]])[:19])
    return np.setdiff1d(np.arange(times.size), drop)


def check_window(path: Path | str, window: tuple[np.datetime64, np.datetime64], times: np.ndarray) -> None:
    """A window (start, end] that keeps fewer than the two frames every reader's caller needs, with its end
    outside the frames' span (a nowcast issued a day after the data, a forcing period in another year), is
    refused with the span, rather than as 'need at least two frames, found 0'."""
    start, end = window
    kept = int(np.count_nonzero((times > start) & (times <= end)))
    first, last = times.min(), times.max()
    if kept < 2 and not first <= end <= last:
        minutes = int((end - start) / np.timedelta64(1, "m"))
        raise InputDataError(f"{path}: {str(end)[:16]} is outside the radar's time span {str(first)[:16]} .. "
                             f"{str(last)[:16]} ({kept} frame(s) in the {minutes} minutes up to it); choose an issue "
                             "time (or forcing period) within the span")


def read_any(path: Path, zr: ZR = MARSHALL_PALMER, quantity: str | None = None,
             window: tuple[np.datetime64, np.datetime64] | None = None) -> RadarFrames:
    """Dispatch on content: HDF5 (ODIM or KNMI), GeoTIFF, NetCDF."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: radar file not found")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\x89HDF"):
        import h5py

        try:
            with h5py.File(path, "r") as h5:
                if "Conventions" in h5.attrs and str(_text(h5.attrs["Conventions"])).startswith("ODIM"):
                    return read_odim(path, zr, quantity)
                if "image1" in h5 and "overview" in h5:
                    return read_knmi_hdf5(path)
        except OSError as exc:
            raise InputDataError(f"{path}: cannot read HDF5 ({exc}); the file may be truncated") from None
        return read_cf_netcdf(path, window=window)  # NetCDF-4 is HDF5 underneath
    if magic[:4] in (b"II*\x00", b"MM\x00*"):
        return read_geotiff(path, zr)
    if magic.startswith(b"GIF8"):
        return read_mch_gif(path)
    if magic.startswith(b"P5") or (magic.startswith(b"\x1f\x8b") and ".pgm" in path.name):
        return read_fmi_pgm(path, zr)
    if magic.startswith(b"CDF"):
        return read_cf_netcdf(path, window=window)
    raise InputDataError(f"{path}: unknown radar format (not ODIM/KNMI HDF5, GeoTIFF, MeteoSwiss GIF, FMI PGM or "
                         "NetCDF)")


def _text(value) -> str:
    if isinstance(value, bytes | np.bytes_):
        return value.decode(errors="replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.ravel()[0])
    return str(value)


def _number(attrs: dict, key: str, path: Path, finite: bool = True) -> float:
    """A number (finite unless ``finite`` is False: a float raster's nodata may be NaN) from an HDF5 attribute or
    GDAL metadata item (scalar, one-element array or text); KeyError when absent."""
    value = attrs[key]
    try:
        number = float(_text(value)) if isinstance(value, bytes | np.bytes_ | str) else float(np.ravel(value)[0])
    except (ValueError, TypeError, IndexError):
        raise InputDataError(f"{path}: attribute {key} = {_text(value)[:40]!r} is not a number") from None
    if finite and not np.isfinite(number):
        raise InputDataError(f"{path}: attribute {key} = {number:g}; a finite number is needed")
    return number


def _crs(text: str, path: Path) -> CRS:
    try:
        return CRS.from_user_input(text)
    except Exception as exc:  # noqa: BLE001 - rasterio raises several types
        raise InputDataError(f"{path}: unknown projection {text!r} ({exc})") from None


def read_odim(path: Path, zr: ZR = MARSHALL_PALMER, quantity: str | None = None) -> RadarFrames:
    """An ODIM_H5 composite (object COMP) in a Cartesian projection."""
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read HDF5 ({exc}); the file may be truncated") from None
    with h5:
        root_what = dict(h5["what"].attrs) if "what" in h5 else {}
        where = dict(h5["where"].attrs) if "where" in h5 else {}
        found = []
        for ds_name in sorted(k for k in h5 if k.startswith("dataset")):
            ds = h5[ds_name]
            ds_what = {**root_what, **(dict(ds["what"].attrs) if "what" in ds else {})}
            for data_name in sorted(k for k in ds if k.startswith("data")):
                group = ds[data_name]
                what = {**ds_what, **(dict(group["what"].attrs) if "what" in group else {})}
                q = _text(what.get("quantity", "")).upper()
                found.append(q)
                if (quantity and q == quantity.upper()) or (not quantity and q in RATE_QUANTITIES):
                    try:
                        raw = group["data"][...]
                    except (OSError, KeyError) as exc:
                        raise InputDataError(f"{path}: cannot read {ds_name}/{data_name}/data ({exc}); truncated file?") from None
                    return _odim_frames(path, raw, what, where, q, zr)
        wanted = quantity or " or ".join(RATE_QUANTITIES)
        raise InputDataError(f"{path}: no {wanted} data in the file (quantities: {', '.join(found) or 'none'}); "
                             "pass a file with rain rate, accumulation or reflectivity")


def _odim_frames(path: Path, raw: np.ndarray, what: dict, where: dict, quantity: str, zr: ZR) -> RadarFrames:
    gain = _number(what, "gain", path) if "gain" in what else 1.0
    offset = _number(what, "offset", path) if "offset" in what else 0.0
    nodata = what.get("nodata")
    undetect = what.get("undetect")
    not_measured = raw == nodata if nodata is not None else np.zeros(raw.shape, bool)
    no_echo = raw == undetect if undetect is not None else np.zeros(raw.shape, bool)
    value = raw.astype(np.float64) * gain + offset
    if quantity in ("DBZH", "TH", "DBZ"):
        rate = zr.rate(value)
    elif quantity == "ACRR":
        start = _odim_time(what, "start", path)
        end = _odim_time(what, "end", path)
        hours = (end - start) / np.timedelta64(1, "h")
        if hours <= 0:
            raise InputDataError(f"{path}: ACRR with start {start} not before end {end}")
        rate = value / hours
    else:
        rate = value
    rate[no_echo] = 0.0
    rate[not_measured] = np.nan
    try:
        projdef = _text(where["projdef"])
        xscale, yscale = _number(where, "xscale", path), _number(where, "yscale", path)
        ul_lon, ul_lat = _number(where, "UL_lon", path), _number(where, "UL_lat", path)
    except KeyError as exc:
        raise InputDataError(f"{path}: ODIM where/{exc.args[0]} missing; cannot place the grid") from None
    if not (xscale > 0 and yscale > 0):
        raise InputDataError(f"{path}: ODIM where/xscale {xscale:g}, yscale {yscale:g}: cell sizes must be > 0 m")
    crs = _crs(projdef, path)
    xs, ys = warp_points("EPSG:4326", crs, [ul_lon], [ul_lat])
    transform = Affine(xscale, 0.0, xs[0], 0.0, -yscale, ys[0])
    time = _odim_time(what, "end", path) if "enddate" in what else _odim_time(what, "", path)
    return RadarFrames(str(path), rate[None].astype(np.float32), np.array([time]), crs, transform, quantity)


def _odim_time(what: dict, prefix: str, path: Path) -> np.datetime64:
    try:
        stamp = _text(what[f"{prefix}date"]) + _text(what[f"{prefix}time"])
        return np.datetime64(datetime.strptime(stamp, "%Y%m%d%H%M%S"), "ns")
    except (KeyError, ValueError):
        raise InputDataError(f"{path}: ODIM what/{prefix}date + {prefix}time missing or malformed") from None


def read_knmi_hdf5(path: Path) -> RadarFrames:
    """KNMI radar HDF5 (RAD_NL25_RAP 5-minute accumulation) -> rain rate [mm h-1]."""
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read HDF5 ({exc}); the file may be truncated") from None
    with h5:
        try:
            image = h5["image1"]
            raw = image["image_data"][...]
            calibration = dict(image["calibration"].attrs)
            geo = dict(h5["geographic"].attrs)
            proj4 = _text(h5["geographic/map_projection"].attrs["projection_proj4_params"])
            overview = dict(h5["overview"].attrs)
        except (KeyError, OSError) as exc:
            raise InputDataError(f"{path}: KNMI HDF5 group or attribute missing ({exc})") from None
    formula = _text(calibration.get("calibration_formulas", ""))
    match = re.fullmatch(r"\s*GEO\s*=\s*([-+0-9.eE]+)\s*\*\s*PV\s*([-+]\s*[-+0-9.eE]+)?\s*", formula)
    if not match:
        raise InputDataError(f"{path}: calibration formula {formula!r} is not GEO = a*PV + b")
    a = float(match.group(1))
    b = float(match.group(2).replace(" ", "")) if match.group(2) else 0.0
    missing = _number(calibration, "calibration_missing_data", path) if "calibration_missing_data" in calibration else 65535
    start = _knmi_time(overview, "product_datetime_start", path)
    end = _knmi_time(overview, "product_datetime_end", path)
    hours = (end - start) / np.timedelta64(1, "h")
    if hours <= 0:
        raise InputDataError(f"{path}: product start {start} is not before end {end}")
    rate = (raw.astype(np.float64) * a + b) / hours  # accumulation [mm] over the interval -> mm h-1
    rate[raw == missing] = np.nan
    # the projection is given in km; express it in metres
    proj_m = re.sub(r"\+a=([0-9.]+)", lambda m: f"+a={float(m.group(1)) * 1000:g}", proj4)
    proj_m = re.sub(r"\+b=([0-9.]+)", lambda m: f"+b={float(m.group(1)) * 1000:g}", proj_m)
    crs = _crs(proj_m, path)
    try:  # km in the file
        dx = _number(geo, "geo_pixel_size_x", path) * 1000.0
        dy = _number(geo, "geo_pixel_size_y", path) * 1000.0
        x0 = _number(geo, "geo_column_offset", path) * 1000.0
        y0 = -_number(geo, "geo_row_offset", path) * 1000.0
    except KeyError as exc:
        raise InputDataError(f"{path}: KNMI HDF5 geographic/{exc.args[0]} missing; cannot place the grid") from None
    transform = Affine(dx, 0.0, x0, 0.0, dy, y0)
    return RadarFrames(str(path), rate[None].astype(np.float32), np.array([end]), crs, transform, "ACRR")


def _knmi_time(overview: dict, key: str, path: Path) -> np.datetime64:
    try:
        return np.datetime64(datetime.strptime(_text(overview[key]), "%d-%b-%Y;%H:%M:%S.%f"), "ns")
    except (KeyError, ValueError):
        raise InputDataError(f"{path}: overview/{key} missing or not DD-MON-YYYY;HH:MM:SS.fff") from None


def read_geotiff(path: Path, zr: ZR = MARSHALL_PALMER) -> RadarFrames:
    """A GeoTIFF radar frame; reflectivity (dBZ) or rain rate, scaled by its GDAL metadata."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            raw = src.read(1)
            tags = src.tags()
            crs, transform = src.crs, src.transform
            nodata_attr = src.nodata
    except rasterio.errors.RasterioIOError as exc:
        raise InputDataError(f"{path}: cannot read GeoTIFF ({exc})") from None
    meta = dict(re.findall(r'<Item name="([^"]+)"[^>]*>([^<]*)</Item>', tags.get("GDAL_METADATA", "")))
    quantity_unit = re.search(r'<Item name="Quantity" unit="([^"]*)"', tags.get("GDAL_METADATA", ""))
    unit = quantity_unit.group(1) if quantity_unit else ""
    gain = _number(meta, "Gain", path) if "Gain" in meta else 1.0
    offset = _number(meta, "Offset", path) if "Offset" in meta else 0.0
    nodata = _number(meta, "Nodata", path, finite=False) if "Nodata" in meta else nodata_attr
    undetect = _number(meta, "Undetect", path) if "Undetect" in meta else None
    value = raw.astype(np.float64) * gain + offset
    if unit.lower() == "dbz":
        rate = zr.rate(value)
        quantity = "DBZH"
    elif unit.lower() in ("mm/h", "mm h-1"):
        rate = value
        quantity = "RATE"
    else:
        raise InputDataError(f"{path}: unknown quantity unit {unit!r} in the GDAL metadata; expected dBZ or mm/h")
    if undetect is not None:
        rate[raw == float(undetect)] = 0.0
    if nodata is not None:
        rate[raw == float(nodata)] = np.nan
    if crs is None:
        raise InputDataError(f"{path}: GeoTIFF without a CRS; cannot place the grid")
    stamp = meta.get("Observation time")
    if stamp is None:
        raise InputDataError(f"{path}: no 'Observation time' in the GDAL metadata")
    try:
        time = np.datetime64(datetime.strptime(stamp.strip(), "%Y%m%d%H%M"), "ns")
    except ValueError:
        raise InputDataError(f"{path}: GDAL metadata 'Observation time' {stamp!r} is not a time YYYYMMDDhhmm") from None
    return RadarFrames(str(path), rate[None].astype(np.float32), np.array([time]), crs, transform, quantity)


# MeteoSwiss AQC GIF ("mmh2LASSEN8bit" scale): palette index i >= 2 is a rain-rate class on a
# logarithmic scale, 30 classes per decade, anchored at i = 31 -> 0.0115537560 mm h-1 (the values
# pySTEPS' mch_gif importer decodes for these products, reproduced to float32 by the test);
# 0 and 1 are no rain, 255 no data.
MCH_CLASSES_PER_DECADE = 30.0
MCH_RATE_AT_31 = 0.011553755961358547


def _mch_lookup() -> np.ndarray:
    idx = np.arange(256, dtype=np.float64)
    table = MCH_RATE_AT_31 * 10.0 ** ((idx - 31.0) / MCH_CLASSES_PER_DECADE)
    table[:2] = 0.0
    table[255] = np.nan
    return table


def read_mch_gif(path: Path) -> RadarFrames:
    """MeteoSwiss AQC rain-rate composite as a palette GIF on the Swiss LV03 1 km grid (710 x 640)."""
    from PIL import Image, UnidentifiedImageError

    name = path.name
    match = re.match(r"AQC(\d{2})(\d{3})(\d{2})(\d{2})", name)
    if not match:
        raise InputDataError(f"{path}: MeteoSwiss file name must start AQCyydddHHMM to give the time")
    yy, doy, hh, mm = map(int, match.groups())
    year = 2000 + yy
    days = 366 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 365
    if not (1 <= doy <= days and hh < 24 and mm < 60):
        raise InputDataError(f"{path}: file name gives an impossible time (year {year}, day of year {doy:03d}, "
                             f"{hh:02d}:{mm:02d}): AQCyydddHHMM needs a day 001-{days}, hour 00-23 and minute 00-59; "
                             "rename the file to its scan time")
    time = np.datetime64(f"{year}-01-01T{hh:02d}:{mm:02d}", "ns") + np.timedelta64(doy - 1, "D")
    try:
        with Image.open(path) as im:
            if im.mode != "P":
                raise InputDataError(f"{path}: expected a palette GIF, found mode {im.mode}")
            index = np.array(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputDataError(f"{path}: cannot read GIF ({exc})") from None
    if index.shape != (640, 710):
        raise InputDataError(f"{path}: grid {index.shape}, expected the MeteoSwiss composite (640, 710)")
    rate = _mch_lookup()[index]
    transform = Affine(1000.0, 0.0, 255_000.0, 0.0, -1000.0, 480_000.0)
    return RadarFrames(str(path), rate[None].astype(np.float32), np.array([time]), CRS.from_epsg(21781), transform,
                       "RATE")


def read_fmi_pgm(path: Path, zr: ZR = MARSHALL_PALMER) -> RadarFrames:
    """FMI reflectivity composite as (gzipped) PGM with metadata in '#' header lines: dBZ = 0.5 DN - 32
    (FMI's 8-bit scale, as in its GeoTIFF metadata), 255 no data, 0 no echo; polar stereographic grid
    placed by its bottom-left corner."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise InputDataError(f"{path}: cannot read PGM ({exc}); the file may be truncated") from None
    if not data.startswith(b"P5"):
        raise InputDataError(f"{path}: not a binary PGM (P5)")
    meta: dict[str, str] = {}
    tokens: list[int] = []
    pos = 2
    while len(tokens) < 3:
        end = data.find(b"\n", pos)
        if end < 0:
            raise InputDataError(f"{path}: PGM header ends before its width, height and maximum value; truncated file?")
        line = data[pos:end].strip()
        pos = end + 1
        if line.startswith(b"#"):
            parts = line[1:].decode(errors="replace").split(None, 1)
            if len(parts) == 2:
                meta[parts[0]] = parts[1]
        elif line:
            try:
                tokens.extend(int(t) for t in line.split())
            except ValueError:
                raise InputDataError(f"{path}: PGM header line {line[:40].decode(errors='replace')!r} should hold whole "
                                     "numbers (width, height, maximum value)") from None
    nx, ny, maxval = tokens[:3]
    if nx < 1 or ny < 1 or not 0 < maxval < 65536:
        raise InputDataError(f"{path}: PGM header gives {nx} x {ny} pixels of maximum {maxval}; expected a positive size "
                             "and a maximum in 1 .. 65535")
    dtype = np.dtype(np.uint8 if maxval < 256 else ">u2")
    available = (len(data) - pos) // dtype.itemsize
    if available < nx * ny:
        raise InputDataError(f"{path}: PGM holds {available} values, header says {nx} x {ny}; truncated file?")
    raw = np.frombuffer(data, dtype=dtype, count=nx * ny, offset=pos)
    raw = raw.reshape(ny, nx)
    try:
        lon0 = float(meta["centrallongitude"])
        lat_ts = float(meta["truelatitude"])
        bl_lon, bl_lat = map(float, meta["bottomleft"].split())
        dx, dy = float(meta["metersperpixel_x"]), float(meta["metersperpixel_y"])
        time = np.datetime64(datetime.strptime(meta["obstime"], "%Y%m%d%H%M"), "ns")
    except (KeyError, ValueError) as exc:
        raise InputDataError(f"{path}: PGM header lacks {exc}; cannot place the grid") from None
    crs = CRS.from_proj4(f"+proj=stere +lat_0=90 +lon_0={lon0} +lat_ts={lat_ts} +ellps=WGS84 +units=m")
    xs, ys = warp_points("EPSG:4326", crs, [bl_lon], [bl_lat])
    transform = Affine(dx, 0.0, xs[0], 0.0, -dy, ys[0] + ny * dy)
    rate = zr.rate(0.5 * raw.astype(np.float64) - 32.0)
    rate[raw == 0] = 0.0
    rate[raw == 255] = np.nan
    return RadarFrames(str(path), rate[None].astype(np.float32), np.array([time]), crs, transform, "DBZH")
