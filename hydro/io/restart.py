"""Restart files: the complete model state between forecast cycles, in one NetCDF.

Holds the runoff state per grid cell, the hillslope water still in transit per segment, the
routing state (streamflow, depth, lake levels) and each Saint-Venant main stem's hydraulic state (water
level and discharge per computational node, and one solver step before, for the predictor; Newton's
discharge scale; the geometry's fingerprint), with the valid time, the basin, a format version and
the hash of the configuration that made it. The main-stem variables are optional (a restart written
before main stems were carried has none: the cycle then starts them from a steady profile and says so).
A restart is accepted only by a cycle of the same basin and configuration, starting at its valid time; anything else, or a file that cannot be read, is a
one-line error and no state is touched. Written atomically (temp file, then rename), so a killed run
leaves the previous restart intact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..basin import BasinState
from ..core.errors import InputDataError
from ..hydraulics.network_coupling import MainStemState
from ..hydraulics.unsteady import HydraulicState
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
    if state.main_stems:
        _main_stem_variables(state.main_stems, data, coords)
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
    from .restart_checks import check_restart_values  # every variable present, finite, plausible (one line each)

    check_restart_values(ds, path)
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
    main_stems = _read_main_stems(ds, path, valid_time) if "main_stem" in ds.coords else {}
    return BasinState(valid_time, runoff, hillslope, routing, dams, detention, main_stems)


_NODE_VARIABLES = {  # restart variable: (HydraulicState field, attributes)
    "main_stem_water_level": ("water_level", {"units": "m", "long_name": "main-stem water level at the valid time"}),
    "main_stem_discharge": ("discharge", {"units": "m3 s-1", "long_name": "main-stem discharge at the valid time"}),
    "main_stem_water_level_previous_step": ("previous_water_level", {
        "units": "m", "long_name": "main-stem water level one solver step (main_stem_dt) before the valid time"}),
    "main_stem_discharge_previous_step": ("previous_discharge", {
        "units": "m3 s-1", "long_name": "main-stem discharge one solver step (main_stem_dt) before the valid time"}),
}


def _main_stem_variables(states: dict[str, MainStemState], data: dict, coords: dict) -> None:
    """Each main stem's nodes one after the other along ``main_stem_node`` (``main_stem_of_node`` names the main
    stem), per main stem its step, Newton discharge scale and geometry fingerprint."""
    ids = sorted(states)
    hs = [states[i].hydraulic for i in ids]
    coords["main_stem"] = ("main_stem", np.array(ids, dtype=str), {"long_name": "main stem id (basin file [[main_stems]])"})
    coords["main_stem_of_node"] = ("main_stem_node", np.concatenate([np.full(h.chainage.size, i) for i, h in
                                                                      zip(ids, hs, strict=True)]).astype(str),
                                   {"long_name": "main stem of the computational node"})
    data["main_stem_chainage"] = ("main_stem_node", np.concatenate([h.chainage for h in hs]).astype(np.float64),
                                  {"units": "m", "long_name": "chainage of the node from its main stem's first section"})
    for name, (attr, meta) in _NODE_VARIABLES.items():
        data[name] = ("main_stem_node", np.concatenate([getattr(h, attr) for h in hs]).astype(np.float64), meta)
    data["main_stem_lateral"] = ("main_stem_segment", np.concatenate([states[i].lateral for i in ids]).astype(np.float64),
                                 {"units": "m3 s-1", "long_name": "local lateral inflow into each main-stem segment "
                                  "over the last network interval before the valid time"})
    coords["main_stem_of_segment"] = ("main_stem_segment", np.concatenate([np.full(states[i].lateral.size, i)
                                                                            for i in ids]).astype(str),
                                      {"long_name": "main stem of the segment"})
    data["main_stem_dt"] = ("main_stem", np.array([h.dt for h in hs], np.float64),
                            {"units": "s", "long_name": "main-stem solver step of the state"})
    data["main_stem_discharge_scale"] = ("main_stem", np.array([states[i].discharge_scale for i in ids], np.float64),
                                         {"units": "m3 s-1", "long_name": "discharge the Newton tolerance is relative to"})
    data["main_stem_geometry"] = ("main_stem", np.array([states[i].geometry for i in ids], dtype=str),
                                  {"long_name": "fingerprint of the main stem's sections, max_dx_m and dt_s"})


def _read_main_stems(ds: xr.Dataset, path: Path, valid_time: np.datetime64) -> dict[str, MainStemState]:
    """The main stems' states (checked here for completeness and NaN; against the basin by the cycle)."""
    needed = ["main_stem_of_node", "main_stem_chainage", *_NODE_VARIABLES, "main_stem_dt", "main_stem_discharge_scale",
              "main_stem_geometry", "main_stem_of_segment", "main_stem_lateral"]
    missing = [v for v in needed if v not in ds.variables]
    if missing:
        raise InputDataError(f"{path}: restart holds main stems but not {', '.join(missing)}; restore the file or "
                             "start cold (--cold)")
    of_node = ds["main_stem_of_node"].values.astype(str)
    states = {}
    for k, sid in enumerate(map(str, ds["main_stem"].values.astype(str))):  # str: np.str_'s repr in messages
        mine = of_node == sid
        values = {attr: ds[name].values[mine].astype(np.float64) for name, (attr, _) in _NODE_VARIABLES.items()}
        chainage = ds["main_stem_chainage"].values[mine].astype(np.float64)
        lateral = ds["main_stem_lateral"].values[ds["main_stem_of_segment"].values.astype(str) == sid].astype(np.float64)
        scale, dt = float(ds["main_stem_discharge_scale"].values[k]), float(ds["main_stem_dt"].values[k])
        if not mine.any() or not all(np.isfinite(v).all() for v in (*values.values(), chainage, lateral)) or not (
                np.isfinite(scale) and scale > 0 and np.isfinite(dt) and dt > 0):
            raise InputDataError(f"{path}: restart main stem {sid!r}: its hydraulic state is empty or holds NaN or inf; "
                                 "restore the file or start cold (--cold)")
        hydraulic = HydraulicState(np.datetime64(valid_time, "ns"), chainage, values["water_level"], values["discharge"],
                                   values["previous_water_level"], values["previous_discharge"], dt, source=str(path))
        states[sid] = MainStemState(hydraulic, scale, str(ds["main_stem_geometry"].values[k]), lateral)
    return states


def prune_restarts(state_dir: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest restarts in ``state_dir`` (names sort by valid time); returns
    the deleted paths."""
    restarts = sorted(Path(state_dir).glob("restart_*.nc"))
    old = restarts[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return old
