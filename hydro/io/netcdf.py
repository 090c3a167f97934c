"""CF NetCDF: our network file (reader + writer), CHRTOUT-style routing output, routing state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from ..core.errors import InputDataError, NumericalError
from ..core.variables import (CF_ATTRS, CONVENTIONS, FLOAT_FILL_VALUE, INPUT_VARIABLES, INT_FILL_VALUE, TIME_ENCODING,
                               check_range, to_canonical)
from ..network import RiverNetwork
from ..reservoir.levelpool import LevelPoolParameters
from .atomic import write_atomic

_NETWORK_FLOATS = (
    "length", "slope", "mannings_n", "mannings_n_cc", "bottom_width", "top_width", "top_width_cc",
    "side_slope", "musk_k", "musk_x", "latitude", "longitude",
)
_LAKE_FIELDS = (
    "area_km2", "max_elevation", "weir_elevation", "weir_coefficient", "weir_length", "dam_length",
    "orifice_elevation", "orifice_coefficient", "orifice_area", "initial_fraction_depth",
)


def _attrs(name: str) -> dict:
    """The CF attributes of ``name`` from the one table; a flag variable gets ``flag_values`` 0, 1, ... (int8,
    the type the flags are written with) for its ``flag_meanings``."""
    attrs: dict = dict(CF_ATTRS.get(name, {"long_name": name.replace("_", " ")}))
    if "flag_meanings" in attrs:
        attrs["flag_values"] = np.arange(len(attrs["flag_meanings"].split()), dtype=np.int8)
    return attrs


def cf_encode(ds: xr.Dataset) -> xr.Dataset:
    """Give ``ds`` the one encoding every writer uses (in place; returns ``ds``): times as int64 minutes since
    1970 on the standard calendar, float data with ``_FillValue`` -9999 (NaN in memory), no fill value on
    coordinate variables (CF forbids missing coordinates), text as char arrays (cfchecker 4.1 rejects
    NetCDF-4 vlen strings), and ``Conventions``."""
    for name, var in ds.variables.items():
        enc = var.encoding
        kind = var.dtype.kind
        if kind == "M":
            enc.update(TIME_ENCODING)
            enc.pop("_FillValue", None)
            if name in ds.dims:
                enc["_FillValue"] = None
        elif kind in "US" or (kind == "O" and var.size and isinstance(var.values.flat[0], str)):
            enc.update(dtype="S1", _FillValue=None)
        elif name in ds.dims:
            enc["_FillValue"] = None
        elif kind == "f":
            enc["_FillValue"] = var.dtype.type(FLOAT_FILL_VALUE)
    ds.attrs["Conventions"] = CONVENTIONS
    return ds


def network_dataset(network: RiverNetwork, lakes: LevelPoolParameters | None = None) -> xr.Dataset:
    """The network (and level-pool lakes, dim ``lake``) as a CF dataset."""
    data = {
        "to": ("feature_id", network.to, _attrs("to")),
        "waterbody": ("feature_id", network.waterbody, _attrs("waterbody")),
        "is_lake": ("feature_id", network.is_lake.astype(np.int8), _attrs("is_lake")),
    }
    for name in _NETWORK_FLOATS:
        value = getattr(network, name)
        if value is not None:
            data[name] = ("feature_id", value, _attrs(name))
    if network.gage is not None:
        data["gage"] = ("feature_id", network.gage.astype(str), {"long_name": "USGS gage id on the segment"})
    coords = {"feature_id": ("feature_id", network.feature_id, _attrs("feature_id"))}
    if lakes is not None:
        coords["lake_id"] = ("lake", lakes.lake_id, _attrs("lake_id"))
        for name in _LAKE_FIELDS:
            data[f"lake_{name}"] = ("lake", getattr(lakes, name), {"long_name": f"level-pool {name.replace('_', ' ')}"})
    return cf_encode(xr.Dataset(data, coords=coords, attrs={"featureType": "timeSeries", "title": "hydro river network"}))


def write_network(path: str | Path, network: RiverNetwork, lakes: LevelPoolParameters | None = None) -> Path:
    """Write the network file atomically."""
    ds = network_dataset(network, lakes)
    return write_atomic(path, lambda tmp: ds.to_netcdf(tmp, format="NETCDF4"))


def load_netcdf(path: str | Path, what: str) -> xr.Dataset:
    """Load a NetCDF file into memory, turning a missing or unreadable file into InputDataError."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: {what} file not found")
    try:
        return xr.load_dataset(path)
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read {what} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def check_geometry(fields: dict[str, NDArray], feature_id: NDArray, source: str, names: dict[str, str] | None = None) -> None:
    """Channel geometry (length, slope, Manning's n, widths, side slope) within the plausible ranges of
    core.variables, naming the segment; ``names`` gives the file's own variable names (RouteLink: Length,
    So, ...). NaN is left to the network's own check."""
    for name, values in fields.items():
        if name in INPUT_VARIABLES:
            check_range(values, name, source, label=(names or {}).get(name, name),
                        locate=lambda k: f"feature_id {feature_id[k]}")


def check_lakes(lakes: LevelPoolParameters, source: str) -> LevelPoolParameters:
    """Every level-pool parameter within its plausible range (core.variables ``lake_*``): a negative orifice
    area or weir coefficient, or an initial depth fraction of 2, would route negative or absurd flows."""
    for name in _LAKE_FIELDS:
        check_range(getattr(lakes, name), f"lake_{name}", source, label=name,
                    locate=lambda k: f"lake_id {lakes.lake_id[k]}")
    return lakes


def _canonical(ds: xr.Dataset, name: str, variable: str, path) -> NDArray:
    """``name``'s values in the unit core.variables gives ``variable``: a network file whose lengths are in km or
    ft (edited, or written by another tool) is converted, one in a unit of something else refused (both were
    read as metres: a basin in km routed 3,600 m3/s off)."""
    values = ds[name].values
    units = str(ds[name].attrs.get("units", "")).strip()
    if not units or variable not in INPUT_VARIABLES or units == INPUT_VARIABLES[variable].units:
        return values
    return to_canonical(np.asarray(values, np.float64), units, variable, str(path)).astype(values.dtype)


def read_network(path: str | Path) -> tuple[RiverNetwork, LevelPoolParameters | None]:
    """Read a network file written by :func:`write_network`."""
    ds = load_netcdf(path, "network")
    for required in ("feature_id", "to", "length", "slope"):
        if required not in ds.variables:
            raise InputDataError(f"{path}: variable {required!r} missing; is this a hydro network file?")
    kwargs = {name: _canonical(ds, name, name, path) for name in _NETWORK_FLOATS if name in ds}
    network = RiverNetwork(
        feature_id=ds["feature_id"].values,
        to=ds["to"].values,
        waterbody=ds["waterbody"].values if "waterbody" in ds else None,
        is_lake=ds["is_lake"].values.astype(bool) if "is_lake" in ds else None,
        gage=ds["gage"].values.astype(str) if "gage" in ds else None,
        source=str(path),
        **kwargs,
    )
    check_geometry(kwargs, ds["feature_id"].values, str(path))  # after the network's own checks: plausible ranges
    lakes = None
    if "lake_id" in ds.coords:
        lakes = check_lakes(LevelPoolParameters(
            lake_id=ds["lake_id"].values, source=str(path),
            **{n: _canonical(ds, f"lake_{n}", f"lake_{n}", path) for n in _LAKE_FIELDS}
        ), str(path))
    return network, lakes


def chrtout_dataset(
    feature_id: NDArray[np.int64],
    is_lake: NDArray[np.bool_],
    time: NDArray[np.datetime64],
    reference_time: np.datetime64,
    streamflow: NDArray,
    velocity: NDArray,
    depth: NDArray,
    lake_id: NDArray[np.int64],
    water_sfc_elev: NDArray,
    attrs: dict[str, str] | None = None,
    lake_interior: NDArray[np.bool_] | None = None,
    waterbody: NDArray[np.int64] | None = None,
    latitude: NDArray | None = None,
    longitude: NDArray | None = None,
    order: NDArray | None = None,
    elevation: NDArray | None = None,
) -> xr.Dataset:
    """Routing output with NWM CHRTOUT names: ``streamflow(time, feature_id)`` [m3 s-1] etc., and per feature
    ``latitude``, ``longitude``, ``order``, ``elevation`` (missing where unknown), ``is_lake`` (collapsed lake
    node) and ``lake_interior`` (a reach inside a lake, kept from the input network but not routed).

    Features are sorted by ``feature_id`` and lakes by ``lake_id`` (CF coordinate variables are monotonic);
    select by id (``ds.sel(feature_id=...)``), not by position."""
    n = np.asarray(feature_id).size

    def per_feature(value, dtype, fill):
        return np.full(n, fill, dtype) if value is None else np.asarray(value, dtype)

    sort = np.argsort(feature_id, kind="stable")
    lake_sort = np.argsort(lake_id, kind="stable")
    dims = ("time", "feature_id")
    ds = xr.Dataset(
        {
            "streamflow": (dims, np.asarray(streamflow, np.float32)[:, sort], _attrs("streamflow")),
            "velocity": (dims, np.asarray(velocity, np.float32)[:, sort], _attrs("velocity")),
            "depth": (dims, np.asarray(depth, np.float32)[:, sort], _attrs("depth")),
            "is_lake": ("feature_id", is_lake.astype(np.int8)[sort], _attrs("is_lake")),
            "lake_interior": ("feature_id", per_feature(lake_interior, np.int8, 0)[sort], _attrs("lake_interior")),
            "order": ("feature_id", per_feature(order, np.int32, INT_FILL_VALUE)[sort], _attrs("order")),
            "elevation": ("feature_id", per_feature(elevation, np.float32, np.nan)[sort], _attrs("elevation")),
            "water_sfc_elev": (("time", "lake_id"), np.asarray(water_sfc_elev, np.float32)[:, lake_sort],
                               _attrs("water_sfc_elev")),
        },
        coords={
            "time": ("time", time, _attrs("time")),
            "feature_id": ("feature_id", np.asarray(feature_id, np.int64)[sort], _attrs("feature_id")),
            "latitude": ("feature_id", per_feature(latitude, np.float32, np.nan)[sort], _attrs("latitude")),
            "longitude": ("feature_id", per_feature(longitude, np.float32, np.nan)[sort], _attrs("longitude")),
            "lake_id": ("lake_id", np.asarray(lake_id, np.int64)[lake_sort], _attrs("lake_id")),
            "reference_time": ((), reference_time, _attrs("reference_time")),
        },
        attrs={"featureType": "timeSeries", "title": "hydro channel routing output", **(attrs or {})},
    )
    if waterbody is not None:
        ds["waterbody"] = ("feature_id", np.asarray(waterbody, np.int64)[sort], _attrs("lake_id_of_reach"))
    cf_encode(ds)
    for name in ("streamflow", "velocity", "depth", "water_sfc_elev"):
        ds[name].encoding.update(zlib=True, complevel=1)
    ds["order"].encoding["_FillValue"] = None  # kept an integer on reading; -9999 where unknown (comment)
    return ds


def check_flows(path: str | Path, ds: xr.Dataset) -> None:
    """Refuse to write a flow series (a variable over ``time`` in m3 s-1) holding NaN, inf or a negative
    value: one line naming the variable and where and when it first went wrong. An observed series
    (``coverage_content_type = physicalMeasurement``) may have gaps: it is what was measured, not computed."""
    for name, var in ds.data_vars.items():
        if "time" not in var.dims or var.attrs.get("units") != "m3 s-1" or var.dtype.kind != "f":
            continue
        if var.attrs.get("coverage_content_type") == "physicalMeasurement":
            continue
        values = var.transpose("time", ...).values
        bad = ~np.isfinite(values) | (values < 0)
        if not bad.any():
            continue
        first = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), bad.shape)  # the earliest time first
        where = ", ".join(f"{dim} {ds[dim].values[i] if dim in ds.coords else i}"
                          for dim, i in zip(var.transpose("time", ...).dims, first, strict=True))
        raise NumericalError(f"{path}: {name} is {values[first]} at {where} ({int(bad.sum())} bad values); "
                             "nothing written: check the inputs that feed it there (lateral inflow, geometry, state)")


def write_dataset(path: str | Path, ds: xr.Dataset) -> Path:
    """Write any dataset atomically (temp file in the same directory, then rename), after checking that
    its flow series are finite and non-negative (:func:`check_flows`)."""
    check_flows(path, ds)
    return write_atomic(path, lambda tmp: ds.to_netcdf(tmp, format="NETCDF4"))


def read_state(path: str | Path, feature_id: NDArray[np.int64], lake_id: NDArray[np.int64]):
    """Initial routing state from a file with ``streamflow(feature_id)`` (or a routing output:
    its last time), optional ``depth`` and ``water_sfc_elev(lake_id)``.

    Returns (streamflow, depth, water_sfc_elev or None) aligned to ``feature_id`` / ``lake_id``.
    """
    ds = load_netcdf(path, "initial state")
    if "streamflow" not in ds:
        raise InputDataError(f"{path}: initial state needs variable 'streamflow(feature_id)'")
    if "time" in ds["streamflow"].dims:
        ds = ds.isel(time=-1)
    have = ds["feature_id"].values.astype(np.int64)
    missing = ~np.isin(feature_id, have)
    if missing.any():
        raise InputDataError(
            f"{path}: initial state lacks {missing.sum()} network feature(s), e.g. feature_id "
            f"{feature_id[missing][:8].tolist()}; give a state of this network (a hydro route output on the same "
            "RouteLink), or leave --initial-state out for a cold start"
        )
    sel = ds.sel(feature_id=feature_id)
    q = sel["streamflow"].values.astype(np.float32)
    check_range(q, "streamflow", str(path), locate=lambda k: f"feature_id {feature_id[k]}", label="initial streamflow")
    d = sel["depth"].values.astype(np.float32) if "depth" in sel else np.zeros(feature_id.size, np.float32)
    elev = None
    if "water_sfc_elev" in ds and lake_id.size:
        lakes_have = ds["lake_id"].values.astype(np.int64)
        if not np.isin(lake_id, lakes_have).all():
            raise InputDataError(f"{path}: water_sfc_elev lacks lake(s) {lake_id[~np.isin(lake_id, lakes_have)][:8].tolist()}")
        elev = ds["water_sfc_elev"].sel(lake_id=lake_id).values.astype(np.float32)
    return q, d, elev


def lateral_dataset(qlat: NDArray, feature_id: NDArray[np.int64], time: NDArray[np.datetime64]) -> xr.Dataset:
    """``qlat(time, feature_id)`` [m3 s-1], the layout ``hydro route --lateral`` reads; row t holds
    the mean lateral inflow over [time[t], time[t+1])."""
    ds = xr.Dataset(
        {"qlat": (("time", "feature_id"), np.asarray(qlat, np.float32), _attrs("q_lateral"))},
        coords={"time": ("time", time, {"long_name": "start of the forcing interval", "standard_name": "time"}),
                "feature_id": ("feature_id", feature_id, _attrs("feature_id"))},
        attrs={"featureType": "timeSeries", "title": "hydro lateral inflow"},
    )
    return cf_encode(ds)
