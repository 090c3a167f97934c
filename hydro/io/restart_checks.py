"""Plausibility checks of a restart: a file that passes its checksum may still have been edited (and its checksum
recomputed) or written by a run that went wrong. A restart carries a forecast's whole starting state, so a value
that no river, soil or dam can hold is refused with one line naming the file, the variable, where (segment,
cell, reservoir) and the value, never carried silently into the next cycle.

Three steps, each called where what it needs is known:

- :func:`check_restart_file`: before netCDF opens it (cycle): not a file, a symlink loop, empty, not NetCDF.
- :func:`check_restart_values`: the dataset alone (``io.restart.read_restart``): every variable present, shapes
  consistent, finite, within the ranges of ``core.variables.INPUT_VARIABLES`` where it has one, else the bounds
  below.
- :func:`check_restart_against_basin`: against the basin (cycle): hillslope travel-time slots, each soil store
  of the runoff model non-negative, each reservoir's level and storage on its curve and consistent with each
  other, its gate release within the outlet's capacity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import InputDataError
from ..core.variables import INPUT_VARIABLES

RESTORE = "restore the file or start cold (--cold)"
MAX_DEPTH_M = 1000.0  # channel flow depth: the deepest rivers run ~100 m deep
# hillslope water waiting per segment and 10-minute slot: the largest plausible lateral inflow over one slot
MAX_HILLSLOPE_M3 = INPUT_VARIABLES["lateral_inflow"].valid_range[1] * 600.0
MAX_RUNOFF_MM = 1.0e4  # any soil, groundwater or routing store of a runoff model: 10 m of water is no basin's
LEVEL_TOLERANCE_M = 0.01  # a reservoir's level against the level its storage gives on the curve (1 cm)
CAPACITY_TOLERANCE = 1e-6  # relative, a gate release above the outlet's largest tabulated capacity
# runoff state columns that are stores of water (mm, never negative), per runoff model (hydro.kernels.runoff)
_STORE_COLUMNS = {
    "xaj": {"WU": 0, "WL": 1, "WD": 2, "S": 3, "FR": 4, "SI": 5, "SG": 6, "SC": 7},  # U (column 8) is a flow memory
    "gr4j": {"production store": 0, "routing store": 1},
}
_NON_NEGATIVE_RUNOFF = ("runoff_lag", "runoff_uh")  # runoff in transit through a lag or unit hydrograph [mm]
_NETCDF_MAGIC = (b"\x89HDF\r\n\x1a\n", b"CDF\x01", b"CDF\x02", b"CDF\x05")
# the units io.restart.write_restart gives each variable: the checksum covers values, not attributes, so a file
# edited or converted by another tool (streamflow in ft3 s-1, levels in ft) would be read as these units
RESTART_UNITS = {
    "hillslope_water": "m3", "streamflow": "m3 s-1", "depth": "m", "water_sfc_elev": "m", "reservoir_level": "m",
    "reservoir_storage": "m3", "reservoir_release": "m3 s-1", "detention_storage": "m3", "main_stem_chainage": "m",
    "main_stem_water_level": "m", "main_stem_discharge": "m3 s-1", "main_stem_water_level_previous_step": "m",
    "main_stem_discharge_previous_step": "m3 s-1", "main_stem_lateral": "m3 s-1", "main_stem_dt": "s",
    "main_stem_discharge_scale": "m3 s-1",
}


def _fail(path, text: str) -> InputDataError:
    return InputDataError(f"{path}: {text}; {RESTORE}")


def check_restart_file(path: Path) -> None:
    """The restart is a readable, non-empty NetCDF file (netCDF4's own errors for these span lines)."""
    path = Path(path)
    try:
        size = path.stat().st_size  # follows links: a loop or a dangling link fails here
        if path.is_dir():
            raise _fail(path, "restart path is a folder, not a restart file")
        with open(path, "rb") as fh:
            head = fh.read(2056)
    except OSError as exc:
        raise _fail(path, f"restart cannot be opened ({exc.strerror or type(exc).__name__})") from None
    if size == 0:
        raise _fail(path, "restart is empty (0 bytes: a run killed while writing it, or a full disk)")
    # HDF5 (netCDF-4) puts its signature at 0, 512, 1024 or 2048 bytes; netCDF-3 at 0
    if not any(head[at:at + len(m)] == m for m in _NETCDF_MAGIC for at in (0, 512, 1024, 2048)):
        raise _fail(path, f"restart is not a NetCDF file ({size} bytes, no NetCDF/HDF5 signature)")


def _first_bad(values: np.ndarray, bad: np.ndarray) -> tuple[tuple[int, ...], float]:
    where = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), values.shape)
    return tuple(int(i) for i in where), float(values[where])


def _check_range(path, ds, name: str, lo: float, hi: float, unit: str, where, nan_ok: bool = False) -> None:
    """Every value of ``name`` finite (or NaN with ``nan_ok``) and in [lo, hi]; ``where(index)`` names the place."""
    values = np.asarray(ds[name].values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~((values >= lo) & (values <= hi) & np.isfinite(values))
    if nan_ok:
        bad &= ~np.isnan(values)
    if bad.any():
        index, value = _first_bad(values, bad)
        problem = ("not finite" if not np.isfinite(value) else f"below {lo:g} {unit}" if value < lo
                   else f"above {hi:g} {unit}")
        raise _fail(path, f"restart variable {name} at {where(index)} is {value:g} {unit} ({problem}, "
                          f"{int(bad.sum())} value(s) like it)")


def check_restart_values(ds, path) -> None:
    """Every variable a restart must hold, with consistent shapes and plausible finite values (segments are
    named by their position in the basin network's order, which the restart keeps)."""
    for name, units in RESTART_UNITS.items():
        given = str(ds[name].attrs.get("units", units)).strip() if name in ds.variables else units
        if given and given != units:
            raise _fail(path, f"restart variable {name} is in {given!r}; hydro writes restarts in {units} (the file "
                              "was edited or converted by another tool)")
    needed = ["streamflow", "depth", "water_sfc_elev"]
    if "reservoir" in ds.coords:
        needed += ["reservoir_level", "reservoir_storage", "reservoir_release"]
    missing = [n for n in needed if n not in ds.variables]
    if missing:
        raise _fail(path, f"restart has no variable {missing[0]!r}" + (f" (nor {', '.join(missing[1:])})"
                                                                       if len(missing) > 1 else ""))
    n_seg = ds["streamflow"].shape
    shapes = {n: ds[n].shape for n in ("streamflow", "depth")}
    if "hillslope_water" in ds.variables:
        shapes["hillslope_water"] = ds["hillslope_water"].shape[:1] if ds["hillslope_water"].ndim == 2 else None
    if len(n_seg) != 1 or any(s != n_seg for s in shapes.values()):
        raise _fail(path, f"restart variables disagree on the number of segments ({shapes})")

    def segment(index):
        return f"segment #{index[0]} of {n_seg[0]} (network order)" + (
            f", travel-time slot {index[1]}" if len(index) > 1 else "")

    def cell(index):
        return f"cell {index[0]}" + (f", column {index[1]}" if len(index) > 1 else "")

    _check_range(path, ds, "streamflow", *INPUT_VARIABLES["streamflow"].valid_range, "m3 s-1", segment)
    # a lake node carries no channel depth (NaN; its level is water_sfc_elev): exactly one NaN per lake
    _check_range(path, ds, "depth", 0.0, MAX_DEPTH_M, "m", segment, nan_ok=True)
    n_nan, n_lakes = int(np.isnan(ds["depth"].values).sum()), int(ds["water_sfc_elev"].size)
    if n_nan != n_lakes:
        index, value = _first_bad(np.asarray(ds["depth"].values, np.float64), np.isnan(ds["depth"].values))
        raise _fail(path, f"restart variable depth at {segment(index)} is {value:g} m (not finite: {n_nan} NaN "
                          f"depths for {n_lakes} lake(s), a NaN depth marks a lake node only)")
    _check_range(path, ds, "water_sfc_elev", *INPUT_VARIABLES["lake_max_elevation"].valid_range, "m",
                 lambda i: f"lake #{i[0]}")
    if "hillslope_water" in ds.variables:
        _check_range(path, ds, "hillslope_water", 0.0, MAX_HILLSLOPE_M3, "m3", segment)
    for name in sorted(n for n in ds.data_vars if n.startswith("runoff_")):
        lo = 0.0 if name in _NON_NEGATIVE_RUNOFF else -MAX_RUNOFF_MM
        _check_range(path, ds, name, lo, MAX_RUNOFF_MM, "mm", cell)
    if "reservoir" in ds.coords:
        ids = [str(r) for r in ds["reservoir"].values]

        def reservoir(index):
            return f"reservoir {ids[index[0]]}"
        _check_range(path, ds, "reservoir_level", *INPUT_VARIABLES["reservoir_level"].valid_range, "m", reservoir)
        # storage: finite and not negative here; its upper bound is the reservoir's own curve (against the basin)
        _check_range(path, ds, "reservoir_storage", 0.0, np.inf, "m3", reservoir)
        # NaN: the gate setting is unknown (the ramp limit then starts free)
        _check_range(path, ds, "reservoir_release", *INPUT_VARIABLES["reservoir_capacity"].valid_range, "m3 s-1",
                     reservoir, nan_ok=True)


def check_restart_against_basin(state, basin, path) -> None:
    """``state`` (read by ``read_restart``, shapes already matched to the basin) against what this basin's
    hillslope, runoff model and reservoir curves allow. Segments are named by feature_id here."""
    from ..basin import RAIN_STEP_MIN

    lake_depth = np.isnan(state.routing.depth)
    if not np.array_equal(lake_depth, basin.network.is_lake):
        j = int(np.flatnonzero(lake_depth != basin.network.is_lake)[0])
        raise _fail(path, f"restart variable depth at feature_id {int(basin.network.feature_id[j])} is "
                          f"{state.routing.depth[j]:g} m ({'NaN on a channel segment' if lake_depth[j] else 'a depth on a lake node'})")
    if state.hillslope is not None and basin.mapping is not None:
        # the slots a 10-minute step needs for the slowest cell (CellMapping.lateral): fewer drops the water in
        # the missing slots, more was written for other travel times
        lag = np.floor(basin.mapping.travel_time_s / (RAIN_STEP_MIN * 60.0)).astype(np.int64)
        slots = int(lag.max(initial=0)) + 2
        if state.hillslope.shape != (basin.network.size, slots):
            raise _fail(path, f"restart variable hillslope_water holds {state.hillslope.shape[1]} travel-time slots "
                              f"for {state.hillslope.shape[0]} segments; this basin's hillslope needs {slots} for "
                              f"{basin.network.size} (the file was edited, or the basin's travel times changed)")
    stores = _STORE_COLUMNS.get(getattr(basin.model, "name", None), {})
    values = state.runoff.arrays.get("state")
    for store, column in stores.items():
        if values is not None and values.ndim == 2 and column < values.shape[1]:
            with np.errstate(invalid="ignore"):
                bad = ~(values[:, column] >= 0.0)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise _fail(path, f"restart variable runoff_state ({basin.model.name} store {store}, column {column}) "
                                  f"at cell {k} is {values[k, column]:g} mm (a store of water cannot be negative, "
                                  f"{int(bad.sum())} cell(s) like it)")
    for dam in basin.routing.dams:
        start = state.dams.get(dam.id)
        if start is None:
            continue
        curves = dam.curves()
        z, v = curves.level_m, curves.storage_m3
        if not z[0] <= start.level <= z[-1]:
            raise _fail(path, f"restart variable reservoir_level at reservoir {dam.id} is {start.level:g} m, outside "
                              f"its level-storage curve ({z[0]:g} .. {z[-1]:g} m)")
        if start.storage is not None:
            if not v[0] <= start.storage <= v[-1]:
                raise _fail(path, f"restart reservoir {dam.id}: reservoir_storage {start.storage:.6g} m3 (level "
                                  f"{start.level:.6g} m) is outside its level-storage curve ({v[0]:.6g} .. {v[-1]:.6g} m3)")
            level_of_storage = curves.level(start.storage)
            if abs(level_of_storage - start.level) > LEVEL_TOLERANCE_M:
                raise _fail(path, f"restart reservoir {dam.id}: reservoir_storage {start.storage:.6g} m3 is level "
                                  f"{level_of_storage:.3f} m on its curve, reservoir_level says {start.level:.3f} m "
                                  f"(more than {LEVEL_TOLERANCE_M:g} m apart)")
        top = float(curves.capacity_m3s[-1])
        if start.release is not None and start.release > top * (1 + CAPACITY_TOLERANCE) + 1e-9:
            raise _fail(path, f"restart variable reservoir_release at reservoir {dam.id} is {start.release:g} m3 s-1, "
                              f"above the outlet's largest capacity {top:g} m3 s-1")
