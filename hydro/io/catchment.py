"""Lumped catchment records: CF NetCDF with precipitation, pet [mm per step] and discharge [m3 s-1],
plus an optional flood-event table ``<stem minus the step suffix>_events.csv`` beside it, and an
optional catchment description ``basins/catchments/<record stem>.toml`` for what the record does not
say. Example::

    name = "Arno at Subbiano"
    precipitation_lead_steps = 1   # the record stamps each day's rain one step after the step it fell in
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import InputDataError
from ..core.variables import check_range, to_canonical
from ..runoff.record import CatchmentRecord, FloodEvent
from .basin import read_toml_model
from .netcdf import _attrs, cf_encode, load_netcdf, write_dataset
from .tables import read_table

__all__ = ["CatchmentRecord", "CatchmentSpec", "FloodEvent", "find_events", "read_catchment", "read_catchment_spec",
           "read_events"]


class CatchmentSpec(BaseModel):
    """A catchment description. ``precipitation_lead_steps``: how many steps after the step it fell in the
    record stamps precipitation (e.g. daily gauges read at 09:00 and labelled with the reading day);
    the reader moves it back so that rain and discharge share the record's stamp convention."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    precipitation_lead_steps: int = Field(default=0, ge=0, le=24)


def read_catchment_spec(path: Path) -> CatchmentSpec:
    """Read a catchment description; one ConfigError naming the file and every bad key."""
    return read_toml_model(path, CatchmentSpec, "catchment description")


def read_catchment(path: Path) -> CatchmentRecord:
    """Read a catchment record; raise naming the variable and time for gaps, NaN or negative forcing."""
    path = Path(path)
    ds = load_netcdf(path, "catchment record")
    missing = [v for v in ("precipitation", "pet", "discharge") if v not in ds]
    if missing:
        raise InputDataError(f"{path}: missing variable(s) {', '.join(missing)}; a catchment record needs "
                             "precipitation and pet [mm per step] and discharge [m3 s-1] on dimension time")
    other_dims = [f"{v}{ds[v].dims}" for v in ("precipitation", "pet", "discharge") if ds[v].dims != ("time",)]
    if other_dims:
        raise InputDataError(f"{path}: {other_dims[0]}: a catchment record's variables are series on dimension time "
                             "only (one catchment per file)")
    try:
        area = float(ds.attrs["catchment_area_km2"])
    except (KeyError, ValueError):
        raise InputDataError(f"{path}: global attribute catchment_area_km2 is missing or not a number") from None
    times = ds["time"].values.astype("datetime64[ns]")
    steps = np.diff(times) / np.timedelta64(1, "h")
    if len(times) < 2 or not np.allclose(steps, steps[0]):
        bad = int(np.flatnonzero(~np.isclose(steps, steps[0]))[0]) if len(times) > 1 else 0
        raise InputDataError(f"{path}: time steps are not uniform (gap or jump after {times[bad]}); "
                             "fill the record to a constant step")
    dt_hours = float(steps[0])
    declared = ds.attrs.get("time_step_hours")
    if declared is not None and abs(float(declared) - dt_hours) > 1e-9:
        raise InputDataError(f"{path}: time_step_hours = {declared} but the time axis steps by {dt_hours:g} h")
    forcing = {}
    for name in ("precipitation", "pet"):
        # mm per step (a depth: m, or kg m-2 as water, converted; a rate is refused: the step is the record's)
        values = to_canonical(ds[name].values.astype(np.float64), ds[name].attrs.get("units"), name, f"{path}: {name}")
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputDataError(f"{path}: {name} = {values[i]!r} at {times[i]} ({int(bad.sum())} NaN or negative "
                                 f"values); fill them before calibrating")
        check_range(values, name, str(path), locate=lambda k: f"time {str(times[k])[:19]}")
        forcing[name] = values
    q = to_canonical(ds["discharge"].values.astype(np.float64), ds["discharge"].attrs.get("units"), "discharge",
                     f"{path}: discharge")
    if (q[np.isfinite(q)] < 0).any():
        i = int(np.flatnonzero(q < 0)[0])
        raise InputDataError(f"{path}: discharge = {q[i]!r} m3 s-1 at {times[i]} is negative")
    check_range(q, "discharge", str(path), locate=lambda k: f"time {str(times[k])[:19]}")
    if not 0.0 < area < 5e6 or not np.isfinite(area):  # 5e6 km2: beyond the Amazon basin (no zero-area division)
        raise InputDataError(f"{path}: catchment_area_km2 = {area!r} is not a catchment area; give it in km2 (0 < area "
                             "< 5e6)")
    record = CatchmentRecord(str(path), times, forcing["precipitation"], forcing["pet"], q, area, dt_hours)
    events_csv = _events_file(path)
    if events_csv is not None:
        record.events = read_events(events_csv)
        record.events_source = str(events_csv)
    return record


def _events_file(path: Path) -> Path | None:
    """``sieve_fornacina_hourly.nc`` -> ``sieve_events.csv`` or ``sieve_fornacina_hourly_events.csv``."""
    candidates = sorted(path.parent.glob("*_events.csv"))
    stem = path.stem
    for c in candidates:
        if stem.startswith(c.name[: -len("_events.csv")]):
            return c
    return None


def read_events(path: Path) -> list[FloodEvent]:
    """Flood windows from a CSV with columns event_id, start, end [, quality]."""
    events = []
    table = read_table(path, "flood-event table")
    need = {"event_id", "start", "end"}
    if not need <= set(table.header):
        raise InputDataError(f"{path}: needs columns {sorted(need)}, found {table.header}")
    for line, row in table.records():  # line: the physical line, blank and comment lines counted
        if row["start"] is None or row["end"] is None:
            raise InputDataError(f"{path}:{line}: {len([v for v in row.values() if v is not None])} fields; expected "
                                 f"{','.join(table.header)}")
        try:
            start, end = np.datetime64(row["start"], "ns"), np.datetime64(row["end"], "ns")
        except (ValueError, TypeError):
            raise InputDataError(f"{path}:{line}: start/end {row['start']!r}/{row['end']!r} are not ISO times") from None
        if not end > start:
            raise InputDataError(f"{path}:{line}: event {row['event_id']!r} ends ({row['end']}) before it starts")
        events.append(FloodEvent(row["event_id"], start, end, (row.get("quality") or "ok").strip()))
    return events


def find_events(times: NDArray[np.datetime64], q: NDArray[np.float64], dt_hours: float,
                min_separation_h: float = 120.0, back_h: float = 120.0, after_h: float = 168.0,
                quantile: float = 0.99) -> list[FloodEvent]:
    """Flood windows for a record without an event table: independent peaks above the ``quantile`` of
    flow (at least ``min_separation_h`` apart), from the lowest flow in the ``back_h`` before the peak to
    the recession below max(0.15 peak, 1.5 start flow) or ``after_h`` after it."""
    valid = np.isfinite(q)
    threshold = float(np.quantile(q[valid], quantile))
    sep = max(int(round(min_separation_h / dt_hours)), 1)
    back, after = max(int(round(back_h / dt_hours)), 1), max(int(round(after_h / dt_hours)), 1)
    filled = np.where(valid, q, -np.inf)
    candidates = np.flatnonzero(filled > threshold)
    peaks: list[int] = []
    for i in candidates[np.argsort(-filled[candidates], kind="stable")]:
        if all(abs(i - j) >= sep for j in peaks):
            peaks.append(int(i))
    events = []
    for i in sorted(peaks):
        lo = max(i - back, 0)
        start = lo + int(np.nanargmin(q[lo:i + 1])) if i > lo else i
        level = max(0.15 * q[i], 1.5 * q[start])
        end = min(i + after, len(q) - 1)
        below = np.flatnonzero(q[i:end + 1] < level)
        if below.size:
            end = i + int(below[0])
        events.append(FloodEvent(str(times[i])[:13], times[start], times[end]))
    return events


def write_calibration_series(path: Path, record: CatchmentRecord, start: int, simulated: NDArray[np.float64],
                             periods: dict[str, slice], attrs: dict) -> Path:
    """The calibrated set's continuous run as CF NetCDF, atomically: ``discharge_simulated`` beside the record's
    ``discharge_observed``, ``precipitation_amount`` and ``potential_evapotranspiration_amount`` over ``time`` (the
    record's stamps) from the warm-up start (``start``, a step of the record) to the end of the last period, and
    ``calibration_period`` flagging each step (``periods``: name -> slice of the record, of warmup, calibration,
    validation; a step between two periods is 'unscored'). ``attrs``: global attributes (model, parameters,
    scores). For plotting and checking the scores with other tools."""
    import xarray as xr

    window = slice(start, start + simulated.size)
    flags = np.full(simulated.size, 3, np.int8)  # between periods: simulated, in no period
    for code, name in enumerate(("warmup", "calibration", "validation")):
        if periods.get(name) is not None:
            flags[periods[name].start - start:periods[name].stop - start] = code
    ds = xr.Dataset(
        {"discharge_simulated": ("time", np.asarray(simulated, np.float64), _attrs("discharge_simulated")),
         "discharge_observed": ("time", record.discharge[window].astype(np.float64), _attrs("discharge_observed")),
         "precipitation_amount": ("time", record.precipitation[window].astype(np.float64),
                                  _attrs("precipitation_amount")),
         "potential_evapotranspiration_amount": ("time", record.pet[window].astype(np.float64),
                                                 _attrs("potential_evapotranspiration_amount")),
         "calibration_period": ("time", flags, _attrs("calibration_period"))},
        coords={"time": ("time", record.times[window].astype("datetime64[ns]"), _attrs("time"))},
        attrs={"title": "hydro calibrate: the calibrated parameter set run over the record",
               "source": str(record.source), "catchment_area_km2": float(record.area_km2),
               "time_step_hours": float(record.dt_hours), **attrs})
    ds["calibration_period"].encoding["_FillValue"] = None
    return write_dataset(path, cf_encode(ds))
