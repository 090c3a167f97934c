"""NWM native files: RouteLink and LAKEPARM readers, CHRTOUT lateral-inflow reader."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import netCDF4
import numpy as np
from numpy.typing import NDArray

from ..core.errors import InputDataError
from ..core.ids import lookup
from ..network import NO_WATERBODY, RiverNetwork
from ..reservoir.levelpool import LevelPoolParameters
from .netcdf import check_geometry, check_lakes

ROUTELINK_VARIABLES = {
    # RiverNetwork field: RouteLink variable
    "feature_id": "link",
    "to": "to",
    "length": "Length",
    "slope": "So",
    "mannings_n": "n",
    "mannings_n_cc": "nCC",
    "bottom_width": "BtmWdth",
    "top_width": "TopWdth",
    "top_width_cc": "TopWdthCC",
    "side_slope": "ChSlp",
}
_ROUTELINK_GEOMETRY = ("length", "slope", "mannings_n", "mannings_n_cc", "bottom_width", "top_width", "top_width_cc",
                       "side_slope")
LAKEPARM_VARIABLES = {
    "lake_id": "lake_id",
    "area_km2": "LkArea",
    "max_elevation": "LkMxE",
    "weir_elevation": "WeirE",
    "weir_coefficient": "WeirC",
    "weir_length": "WeirL",
    "dam_length": "Dam_Length",
    "orifice_elevation": "OrificeE",
    "orifice_coefficient": "OrificeC",
    "orifice_area": "OrificeA",
    "initial_fraction_depth": "ifd",
}


def _open(path: str | Path, what: str) -> netCDF4.Dataset:
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: {what} file not found")
    try:
        return netCDF4.Dataset(path)
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read {what} as NetCDF ({exc})") from None


def _read_var(ds: netCDF4.Dataset, path: str | Path, name: str) -> NDArray:
    if name not in ds.variables:
        raise InputDataError(f"{path}: variable {name!r} missing (have: {', '.join(sorted(ds.variables))})")
    data = ds.variables[name][:]
    if np.ma.isMaskedArray(data):
        if np.ma.getmaskarray(data).any():
            bad = np.flatnonzero(np.ma.getmaskarray(data))[:8]
            raise InputDataError(f"{path}: variable {name!r} has missing values at index {bad.tolist()}")
        data = np.ma.getdata(data)
    return np.asarray(data)


def _in_canonical_units(ds: netCDF4.Dataset, path: str | Path, name: str, variable: str, values: NDArray) -> NDArray:
    """``values`` of variable ``name`` converted from its ``units`` attribute to the canonical unit of
    ``core.variables`` INPUT_VARIABLES[``variable``] (pint, as every reader converts). No attribute: the unit
    the NWM format defines (RouteLink and LAKEPARM mostly carry none). Units that measure something else are
    refused naming the file and variable; the plausible range is checked after, on the converted values."""
    from ..core.variables import INPUT_VARIABLES, to_canonical, unit_factor

    units = getattr(ds.variables[name], "units", None)
    if units is None or not str(units).strip():
        return values
    text = str(units).strip()
    try:
        unit_factor(text, INPUT_VARIABLES[variable].units)
    except ValueError:
        if text.isalpha():  # a unit spelled out with a capital, as NWM's LAKEPARM writes Dam_Length 'Meters'
            text = text.lower()
    return to_canonical(np.asarray(values, np.float64), text, variable, f"{path}: {name}")


def _units_label(ds: netCDF4.Dataset, name: str) -> str:
    """``name``, with the units attribute it was converted from, for a range error."""
    units = str(getattr(ds.variables[name], "units", "") or "").strip()
    return f"{name} (converted from units {units!r})" if units else name


def read_routelink(path: str | Path) -> RiverNetwork:
    """Read an NWM RouteLink NetCDF into a validated :class:`RiverNetwork`."""
    with _open(path, "RouteLink") as ds:
        kwargs = {field: _read_var(ds, path, var) for field, var in ROUTELINK_VARIABLES.items()}
        for field, var in ROUTELINK_VARIABLES.items():  # geometry in the units of core.variables
            if field in _ROUTELINK_GEOMETRY:
                kwargs[field] = _in_canonical_units(ds, path, var, field, kwargs[field])
        labels = {field: _units_label(ds, var) for field, var in ROUTELINK_VARIABLES.items()}
        optional = {}
        if "NHDWaterbodyComID" in ds.variables:
            optional["waterbody"] = _read_var(ds, path, "NHDWaterbodyComID")
        if "MusK" in ds.variables:
            optional["musk_k"] = _read_var(ds, path, "MusK")
            optional["musk_x"] = _read_var(ds, path, "MusX")
        for field, var in (("latitude", "lat"), ("longitude", "lon")):
            if var in ds.variables:
                optional[field] = _read_var(ds, path, var)
        if "gages" in ds.variables:
            raw = _read_var(ds, path, "gages")
            if raw.ndim == 2:  # NWM stores gages as char(feature_id, IDLength): join each row's characters
                raw = netCDF4.chartostring(raw)
            optional["gage"] = np.array([g.decode().strip() if isinstance(g, bytes) else str(g).strip() for g in raw])
    _check_coordinates(path, kwargs["feature_id"], optional.get("latitude"), optional.get("longitude"))
    wb = optional.get("waterbody")
    if wb is not None:
        optional["waterbody"] = np.where(wb <= 0, NO_WATERBODY, wb)
    network = RiverNetwork(source=str(path), **kwargs, **optional)
    # after the network's own checks (lengths > 0, ...), the plausible ranges of core.variables
    check_geometry(kwargs, kwargs["feature_id"], str(path), labels)
    return network


@dataclass(frozen=True)
class FeatureAttributes:
    """What NWM CHRTOUT carries per feature beside the flows, read from the RouteLink (``lat``, ``lon``,
    ``order``, ``alt``) or LAKEPARM (``lat``, ``lon`` of a lake); the routing kernels never use them, so
    they travel beside the :class:`RiverNetwork`, not in it. Unknown: NaN (order: -9999)."""

    feature_id: NDArray[np.int64]
    latitude: NDArray[np.float32]
    longitude: NDArray[np.float32]
    order: NDArray[np.int32]
    elevation: NDArray[np.float32]

    @classmethod
    def empty(cls, feature_id: NDArray[np.int64]) -> FeatureAttributes:
        n = np.asarray(feature_id).size
        nan = np.full(n, np.nan, np.float32)
        return cls(np.asarray(feature_id, np.int64), nan, nan.copy(), np.full(n, -9999, np.int32), nan.copy())

    def concat(self, other: FeatureAttributes) -> FeatureAttributes:
        return FeatureAttributes(*(np.concatenate([getattr(self, f), getattr(other, f)])
                                   for f in ("feature_id", "latitude", "longitude", "order", "elevation")))

    def take(self, feature_id: NDArray[np.int64]) -> FeatureAttributes:
        """Aligned to ``feature_id``; ids not held here get the unknown values."""
        idx, found = lookup(self.feature_id, np.asarray(feature_id, np.int64))
        out = FeatureAttributes.empty(feature_id)
        for f in ("latitude", "longitude", "order", "elevation"):
            getattr(out, f)[found] = getattr(self, f)[idx[found]]
        return out


def _check_coordinates(path: str | Path, ids: NDArray, lat: NDArray | None, lon: NDArray | None,
                       key: str = "feature_id") -> None:
    """Latitude within -90 .. 90 and longitude within -180 .. 360 degrees (NaN: unknown), or one line naming the
    file, variable, feature and value: they are published in every routing output."""
    for name, values, lo, hi in (("lat", lat, -90.0, 90.0), ("lon", lon, -180.0, 360.0)):
        if values is None:
            continue
        values = np.asarray(values, np.float64)
        with np.errstate(invalid="ignore"):
            bad = (values < lo) | (values > hi)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise InputDataError(f"{path}: {name} = {values[k]:g} degrees at {key} {ids[k]} is outside [{lo:g}, {hi:g}] "
                                 f"({int(bad.sum())} value(s)); fix the coordinates (degrees north / east)")


def _optional(ds: netCDF4.Dataset, name: str, n: int, dtype, fill) -> NDArray:
    if name not in ds.variables:
        return np.full(n, fill, dtype)
    return np.asarray(np.ma.filled(ds.variables[name][:], fill), dtype)


def read_feature_attributes(path: str | Path) -> FeatureAttributes:
    """``lat``, ``lon``, ``order``, ``alt`` per ``link`` of a RouteLink file (each optional)."""
    with _open(path, "RouteLink") as ds:
        link = _read_var(ds, path, "link").astype(np.int64)
        n = link.size
        out = FeatureAttributes(link, _optional(ds, "lat", n, np.float32, np.nan),
                                _optional(ds, "lon", n, np.float32, np.nan),
                                _optional(ds, "order", n, np.int32, -9999),
                                _optional(ds, "alt", n, np.float32, np.nan))
    _check_coordinates(path, link, out.latitude, out.longitude)
    return out


def read_lake_attributes(path: str | Path) -> FeatureAttributes:
    """The lakes' centroid ``lat``/``lon`` from LAKEPARM (no order or elevation)."""
    with _open(path, "LAKEPARM") as ds:
        ids = _read_var(ds, path, "lake_id").astype(np.int64)
        out = FeatureAttributes.empty(ids)
        out.latitude[:] = _optional(ds, "lat", ids.size, np.float32, np.nan)
        out.longitude[:] = _optional(ds, "lon", ids.size, np.float32, np.nan)
    _check_coordinates(path, ids, out.latitude, out.longitude, "lake_id")
    return out


def read_lakeparm(path: str | Path, lake_ids: NDArray[np.int64] | None = None) -> LevelPoolParameters:
    """Read NWM LAKEPARM; with ``lake_ids``, return those lakes (in that order) only."""
    with _open(path, "LAKEPARM") as ds:
        ids = _read_var(ds, path, "lake_id").astype(np.int64)
        rows = np.arange(ids.size)
        if lake_ids is not None:
            lake_ids = np.asarray(lake_ids, np.int64)
            rows, found = lookup(ids, lake_ids)
            if not found.all():
                raise InputDataError(f"{path}: no LAKEPARM entry for lake(s) {lake_ids[~found][:8].tolist()}")
        kwargs = {field: _read_var(ds, path, var)[rows] for field, var in LAKEPARM_VARIABLES.items()}
        for field, var in LAKEPARM_VARIABLES.items():  # LkArea in km2, elevations and lengths in m, ...
            if field != "lake_id":
                kwargs[field] = _in_canonical_units(ds, path, var, f"lake_{field}", kwargs[field])
    lakes = check_lakes(LevelPoolParameters(source=str(path), **kwargs), str(path))
    above = lakes.orifice_elevation > lakes.max_elevation  # the level pool's orifice head would be NaN
    if above.any():
        k = int(np.flatnonzero(above)[0])
        raise InputDataError(
            f"{path}: OrificeE = {lakes.orifice_elevation[k]:g} m at lake_id {lakes.lake_id[k]} is above its LkMxE "
            f"{lakes.max_elevation[k]:g} m ({int(above.sum())} lake(s)); the orifice lies at or below the lake's "
            "maximum elevation: check LAKEPARM")
    return lakes


# --------------------------------------------------------------------------- lateral inflow
@dataclass(frozen=True)
class LateralInflow:
    """Lateral inflow ``values[time, feature_id]`` [m3 s-1]; row t applies over [time[t], time[t] + dt)."""

    time: NDArray[np.datetime64]
    feature_id: NDArray[np.int64]
    values: NDArray[np.float32]
    interval_s: int
    source: str

    def for_features(self, feature_id: NDArray[np.int64], optional: NDArray[np.bool_] | None = None) -> NDArray[np.float32]:
        """Columns for ``feature_id`` [time, n]. A feature absent here is an error unless marked
        ``optional`` (such as a collapsed lake node, which gets no lateral inflow): it gets 0."""
        idx, found = lookup(self.feature_id, feature_id)
        required = ~found if optional is None else ~found & ~optional
        if required.any():
            raise InputDataError(
                f"{self.source}: no lateral inflow for {required.sum()} segment(s), e.g. feature_id "
                f"{feature_id[required][:8].tolist()}; its feature_id must list every segment of the network "
                "(a lateral inflow file for this RouteLink)"
            )
        out = self.values[:, idx]
        out[:, ~found] = 0.0
        return np.ascontiguousarray(out, dtype=np.float32)


_CHRTOUT_NAME = re.compile(r"^(\d{12})\.CHRTOUT_DOMAIN\d+$")


def _interval_s(times: NDArray[np.datetime64], source: str, labels: list[str]) -> int:
    """The constant spacing of ``times`` [s]; a gap names the two records either side of it, a repeated or
    backward time the two records."""
    steps = np.diff(times).astype("timedelta64[s]").astype(np.int64)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0])
        what = (f"time {labels[k + 1]} appears twice (records {k + 1} and {k + 2})" if steps[k] == 0 else
                f"time {labels[k + 1]} (record {k + 2}) is earlier than {labels[k]} (record {k + 1})")
        raise InputDataError(f"{source}: {what}; {int(np.sum(steps <= 0))} record(s) not after the one before: "
                             "give each time once, in increasing order")
    interval = int(steps[0]) if steps.size else 3600
    if steps.size and np.any(steps != interval):
        k = int(np.flatnonzero(steps != interval)[0])
        raise InputDataError(
            f"{source}: forcing is not evenly spaced: {labels[k]} is followed by {labels[k + 1]} "
            f"(expected every {interval} s); a record is missing"
        )
    return interval


def _lateral_m3s(ds: netCDF4.Dataset, path: str | Path, name: str, default: str | None = None) -> NDArray[np.float64]:
    """Variable ``name`` in m3 s-1 (float64, NaN where missing), converted from its ``units`` attribute
    (pint); without one, ``default`` (CHRTOUT: m3 s-1, as NWM defines the file) or an error."""
    from ..core.variables import to_canonical

    var = ds.variables[name]
    kind = getattr(np.dtype(var.dtype), "kind", "O") if var.dtype is not str else "U"
    if kind not in "fiu":  # text (or anything else) that happens to parse is not a flow a model wrote
        stored = "text" if kind in "USO" else f"type {np.dtype(var.dtype).name}"
        raise InputDataError(f"{path}: {name} is stored as {stored}, not as numbers; write it as a float variable "
                             "in m3 s-1")
    values = np.ma.filled(var[:].astype(np.float64), np.nan)
    return to_canonical(values, getattr(var, "units", None), "lateral_inflow", f"{path}: {name}", default=default)


def _check_values(values: NDArray, times: NDArray, feature_id: NDArray, source: str, policy: str) -> NDArray:
    """Apply the bad-value policy: 'error' (default) or 'zero' (replace NaN/negative by 0, logged); values
    above the plausible range (core.variables) are refused whatever the policy."""
    from ..core.variables import check_range

    check_range(values, "lateral_inflow", source, label="lateral inflow", lower=False, locate=lambda k: (
        f"feature_id {feature_id[k % values.shape[1]]}, time {str(times[k // values.shape[1]])[:19]}"))
    bad = ~np.isfinite(values) | (values < 0)
    if not bad.any():
        return values
    t, i = np.argwhere(bad)[0]
    kind = "NaN" if not np.isfinite(values[t, i]) else f"negative ({values[t, i]:g})"
    if policy == "error":
        raise InputDataError(
            f"{source}: lateral inflow has {bad.sum()} NaN or negative value(s); first {kind} at "
            f"feature_id {feature_id[i]}, time {str(times[t])[:19]}; fix the input or pass --bad-lateral zero"
        )
    logging.getLogger("hydro").warning(
        "%s: replaced %d NaN/negative lateral inflow value(s) by 0 (--bad-lateral zero)", source, bad.sum()
    )
    values = values.copy()
    values[bad] = 0.0
    return values


def read_chrtout_dir(path: str | Path, policy: str = "error") -> LateralInflow:
    """Lateral inflow ``qBucket + qSfcLatRunoff`` from a directory of WRF-Hydro CHRTOUT files.

    Files are ``YYYYmmddHHMM.CHRTOUT_DOMAIN<n>``, one per hour without gaps. The two components are
    summed in float64 and cast to float32, as t-route does (``q_lateral`` is used only when both are
    absent).
    """
    path = Path(path)
    files = sorted(p for p in path.iterdir() if _CHRTOUT_NAME.match(p.name))
    if not files:
        raise InputDataError(f"{path}: no CHRTOUT files (YYYYmmddHHMM.CHRTOUT_DOMAIN1) in directory")
    times = np.array([np.datetime64(datetime.strptime(p.name[:12], "%Y%m%d%H%M"), "ns") for p in files])
    interval = _interval_s(times, str(path), [f.name for f in files])
    feature_id = None
    rows = []
    for f in files:
        with _open(f, "CHRTOUT") as ds:
            fid = _read_var(ds, f, "feature_id").astype(np.int64)
            if feature_id is None:
                feature_id = fid
            elif not np.array_equal(fid, feature_id):
                raise InputDataError(f"{f}: feature_id differs from {files[0].name}; all CHRTOUT files must match")
            if "qBucket" in ds.variables and "qSfcLatRunoff" in ds.variables:
                q = _lateral_m3s(ds, f, "qBucket", "m3 s-1") + _lateral_m3s(ds, f, "qSfcLatRunoff", "m3 s-1")
            elif "q_lateral" in ds.variables:
                q = _lateral_m3s(ds, f, "q_lateral", "m3 s-1")
            else:
                raise InputDataError(f"{f}: needs qBucket + qSfcLatRunoff (or q_lateral) for lateral inflow")
            rows.append(q.astype(np.float32))
    values = _check_values(np.stack(rows), times, feature_id, str(path), policy)
    return LateralInflow(times, feature_id, values, interval, str(path))


def _qlat_times(ds: netCDF4.Dataset, path: str | Path) -> NDArray[np.datetime64]:
    """The ``time`` coordinate decoded from its CF units and calendar (cftime), as datetime64[ns] UTC."""
    if "time" not in ds.variables:
        raise InputDataError(f"{path}: variable 'time' missing; qlat(time, feature_id) needs a CF time coordinate")
    tvar = ds["time"]
    units = getattr(tvar, "units", None)
    calendar = getattr(tvar, "calendar", "standard")
    try:
        decoded = netCDF4.num2date(tvar[:], units, calendar) if units is not None else None
        if decoded is None:
            raise ValueError("no units attribute")
        return np.array([np.datetime64(t.isoformat(), "ns") for t in np.atleast_1d(decoded)], "datetime64[ns]")
    except (ValueError, TypeError, OverflowError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputDataError(
            f"{path}: time units {units!r} (calendar {calendar!r}) cannot be decoded ({reason}); give CF time units "
            "such as 'minutes since 1970-01-01 00:00:00'"
        ) from None


def read_qlat_netcdf(path: str | Path, policy: str = "error") -> LateralInflow:
    """Lateral inflow from a NetCDF holding ``qlat(time, feature_id)`` [m3 s-1]."""
    with _open(path, "lateral inflow") as ds:
        if "qlat" not in ds.variables:
            raise InputDataError(f"{path}: variable 'qlat' (time, feature_id) missing")
        var = ds["qlat"]
        if var.dimensions != ("time", "feature_id"):
            raise InputDataError(f"{path}: qlat has dimensions {var.dimensions}, expected ('time', 'feature_id')")
        values = _lateral_m3s(ds, path, "qlat").astype(np.float32)
        feature_id = _read_var(ds, path, "feature_id").astype(np.int64)
        times = _qlat_times(ds, path)
    if times.size == 0 or feature_id.size == 0:
        raise InputDataError(f"{path}: qlat holds {times.size} time record(s) x {feature_id.size} feature(s); "
                             "the file is empty: give lateral inflow for at least one time and every segment")
    unique, first, counts = np.unique(feature_id, return_index=True, return_counts=True)
    if np.any(counts > 1):
        k = int(np.argmax(counts > 1))
        rows = np.flatnonzero(feature_id == unique[k])[:2].tolist()
        raise InputDataError(
            f"{path}: feature_id {unique[k]} appears {counts[k]} times (indices {rows[0]} and {rows[1]}; "
            f"{int(np.sum(counts > 1))} duplicated id(s)); each segment's lateral inflow must appear once"
        )
    interval = _interval_s(times, str(path), [str(t)[:19] for t in times])
    values = _check_values(values, times, feature_id, str(path), policy)
    return LateralInflow(times, feature_id, values, interval, str(path))


def read_lateral(path: str | Path, policy: str = "error") -> LateralInflow:
    """Lateral inflow from a CHRTOUT directory or a ``qlat`` NetCDF file."""
    path = Path(path)
    if path.is_dir():
        return read_chrtout_dir(path, policy)
    if path.is_file():
        return read_qlat_netcdf(path, policy)
    if path.is_symlink():
        raise InputDataError(f"{path}: lateral inflow is a symbolic link to nothing readable (missing target or a "
                             "loop); point it at the CHRTOUT directory or the qlat NetCDF file")
    raise InputDataError(f"{path}: lateral inflow not found (expected a CHRTOUT directory or a NetCDF file)")
