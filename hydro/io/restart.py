"""Restart files: the complete model state between forecast cycles, in one NetCDF.

Holds the runoff state per grid cell, the hillslope water still in transit per segment, and the
routing state (streamflow, depth, lake levels), with the valid time, the basin, a format version and
the hash of the configuration that made it. A restart is accepted only by a cycle of the same basin
and configuration, starting at its valid time; anything else, or a file that cannot be read, is a
one-line error and no state is touched. Written atomically (temp file, then rename), so a killed run
leaves the previous restart intact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..basin import BasinState
from ..core.errors import InputDataError
from ..reservoir.operation import DamStart
from ..routing.channel import RoutingState
from ..runoff import RunoffState
from ..core.variables import CF_ATTRS
from .netcdf import cf_encode, write_dataset

RESTART_VERSION = 2  # 2: reservoir storage stored (exact round trip), dams operated in the routing, checksum


def _checksum(ds: xr.Dataset) -> str:
    """SHA-256 over every variable's name, shape and bytes (in name order): damage the file format does not
    notice (flipped bytes in a data chunk) changes it."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(ds.variables):
        values = np.ascontiguousarray(ds[name].values)
        text = values.dtype.kind in "UO"  # ids: unicode when written, objects when read back
        digest.update(f"{name}{values.shape}{'str' if text else values.dtype.str}".encode())
        digest.update("|".join(map(str, values.ravel())).encode() if text else values.tobytes())
    return digest.hexdigest()


def restart_path(state_dir: Path, valid_time: np.datetime64) -> Path:
    return Path(state_dir) / f"restart_{str(valid_time)[:16].replace(':', '')}.nc"


def write_restart(path: Path, state: BasinState, basin: str, config_hash: str) -> Path:
    data = {f"runoff_{k}": (("cell", f"runoff_{k}_slot")[: v.ndim], v) for k, v in state.runoff.arrays.items()}
    if state.hillslope is not None:
        data["hillslope_water"] = (("segment", "slot"), state.hillslope, {"units": "m3",
                                   "long_name": "hillslope water in transit, by steps until it reaches the channel"})
    data["streamflow"] = (("segment",), state.routing.streamflow, {"units": "m3 s-1"})
    data["depth"] = (("segment",), state.routing.depth, {"units": "m"})
    data["water_sfc_elev"] = (("lake",), state.routing.water_sfc_elev, {"units": "m"})
    ids = list(state.dams)
    data["reservoir_level"] = (("reservoir",), np.array([state.dams[i].level for i in ids], float), {"units": "m"})
    data["reservoir_storage"] = (("reservoir",), np.array([np.nan if state.dams[i].storage is None else state.dams[i].storage
                                                          for i in ids], float), {"units": "m3"})
    data["reservoir_release"] = (("reservoir",), np.array([np.nan if state.dams[i].release is None else state.dams[i].release
                                                          for i in ids], float), {"units": "m3 s-1"})
    coords = {"reservoir": ("reservoir", np.array(ids, dtype=str), dict(CF_ATTRS["reservoir"]))}
    if state.detention:  # detention basins holding water (none listed: every basin empty)
        basins = sorted(state.detention)
        data["detention_storage"] = (("detention_basin",), np.array([state.detention[b] for b in basins], float),
                                     {"units": "m3", "long_name": "water volume stored in the detention basin"})
        coords["detention_basin"] = ("detention_basin", np.array(basins, dtype=str), {"long_name": "detention basin id"})
    ds = xr.Dataset(data, coords=coords,
                    attrs={"title": "hydro restart", "hydro_restart_version": RESTART_VERSION, "basin": basin,
                           "config_hash": config_hash, "valid_time": str(state.valid_time)[:19]})
    for name, var in ds.variables.items():  # CF: every variable named (the table's long_name where it has one)
        if "long_name" not in var.attrs and "standard_name" not in var.attrs:
            var.attrs["long_name"] = CF_ATTRS.get(name, {}).get("long_name", name.replace("_", " "))
    cf_encode(ds)  # the shared encoding: char-array ids (cfchecker rejects vlen strings), -9999 float fill
    ds.attrs["checksum_sha256"] = _checksum(ds)
    return write_dataset(path, ds)


def read_restart(path: Path, basin: str, config_hash: str, valid_time: np.datetime64) -> BasinState:
    """The state in ``path``, checked against the cycle that wants it."""
    try:
        with xr.open_dataset(path) as ds:
            ds.load()
    except Exception as exc:  # netCDF4/HDF5 raise many types for a damaged file
        raise InputDataError(f"{path}: restart file cannot be read ({type(exc).__name__}: {exc}); "
                             "it is corrupt or incomplete: restore it or start cold (--cold)") from None
    attrs = ds.attrs
    if attrs.get("hydro_restart_version") != RESTART_VERSION:
        raise InputDataError(f"{path}: restart format version {attrs.get('hydro_restart_version')!r}, this hydro "
                             f"reads version {RESTART_VERSION}; start cold (--cold)")
    if "checksum_sha256" not in attrs:
        raise InputDataError(f"{path}: restart has no checksum (not written by this hydro); start cold (--cold)")
    if attrs["checksum_sha256"] != _checksum(ds):
        raise InputDataError(f"{path}: restart checksum does not match its contents (the file was damaged or edited "
                             "after it was written); restore it or start cold (--cold)")
    if attrs.get("basin") != basin:
        raise InputDataError(f"{path}: restart is for basin {attrs.get('basin')!r}, this cycle runs {basin!r}")
    if attrs.get("config_hash") != config_hash:
        raise InputDataError(f"{path}: restart was made with another configuration (hash {attrs.get('config_hash')}, "
                             f"this config {config_hash}); start cold (--cold) or use the config that made it")
    if np.datetime64(attrs.get("valid_time")) != valid_time:
        raise InputDataError(f"{path}: restart is valid at {attrs.get('valid_time')}, the cycle starts at "
                             f"{str(valid_time)[:19]}")
    runoff = RunoffState({k[len("runoff_"):]: ds[k].values.astype(np.float64) for k in ds.data_vars
                          if k.startswith("runoff_")})
    hillslope = ds["hillslope_water"].values if "hillslope_water" in ds else None
    routing = RoutingState(ds["streamflow"].values.astype(np.float32), ds["depth"].values.astype(np.float32),
                           ds["water_sfc_elev"].values.astype(np.float32))
    for name, arr in [*runoff.arrays.items(), ("streamflow", routing.streamflow)]:
        if not np.isfinite(arr).all():
            raise InputDataError(f"{path}: restart variable {name} holds NaN or inf; restore the file or start cold")
    dams = {}
    if "reservoir" in ds.coords:
        for rid, level, release, storage in zip(ds["reservoir"].values, ds["reservoir_level"].values,
                                                ds["reservoir_release"].values, ds["reservoir_storage"].values, strict=True):
            if not np.isfinite(level) or not np.isfinite(storage):
                raise InputDataError(f"{path}: restart reservoir {rid} level {level} / storage {storage} is not finite; "
                                     "restore the file or start cold (--cold)")
            dams[str(rid)] = DamStart(float(level), None if np.isnan(release) else float(release), float(storage))
    detention = {}
    if "detention_basin" in ds.coords:
        for bid, volume in zip(ds["detention_basin"].values, ds["detention_storage"].values, strict=True):
            if not np.isfinite(volume) or volume < 0:
                raise InputDataError(f"{path}: restart detention basin {bid} holds {volume} m3 (not a volume); "
                                     "restore the file or start cold (--cold)")
            detention[str(bid)] = float(volume)
    return BasinState(valid_time, runoff, hillslope, routing, dams, detention)


def prune_restarts(state_dir: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest restarts in ``state_dir`` (names sort by valid time); returns
    the deleted paths."""
    restarts = sorted(Path(state_dir).glob("restart_*.nc"))
    old = restarts[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return old
