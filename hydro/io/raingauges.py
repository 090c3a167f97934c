"""Rain-gauge and basin PET series from CSV (docs/forcing.md).

Stations file: header ``id,lon,lat[,elevation_m]``, one station a row, WGS84 degrees.
Series file, either layout (told apart by the header):

* long: ``time,station,rain_mm``, one value a row;
* wide: ``time,<id>,<id>,...``, one time a row, one column per station.

``time`` is the **end** of the accumulation interval, ISO 8601 in UTC (``2026-07-01T01:00``, an optional
``Z`` or ``+00:00``); every time of the record appears, ``interval_minutes`` apart (a missing row is a gap
and an error). A value is the rain in mm over that interval; an empty cell, ``NA`` or ``nan`` is *not
measured* (that station is left out at that time); a negative value is an error.

PET file: header ``time,pet_mm``, ``time`` the end of the interval, ``pet_mm`` the basin's potential
evaporation in mm over the interval since the previous row (the first interval as long as the second);
rows evenly spaced, no missing value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InputDataError
from .tables import read_table

MISSING = ("", "na", "nan", "n/a", "-")


@dataclass
class Stations:
    source: str
    ids: list[str]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    elevation_m: NDArray[np.float64]  # NaN where not given


@dataclass
class GaugeSeries:
    """Rain [mm per interval] at ``times`` (interval ends) for ``ids``; NaN = not measured."""

    source: str
    ids: list[str]
    times: NDArray[np.datetime64]
    rain_mm: NDArray[np.float64]  # [time, station]
    interval: np.timedelta64


def _rows(path: Path, what: str) -> tuple[list[str], list[tuple[int, list[str]]], list[str]]:
    """The lower-cased header, the rows with their physical line numbers (hydro/io/tables.py) and the header
    as written."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"{path}: {what} not found; check the path in the configuration")
    table = read_table(path, what)
    return [c.lower() for c in table.header], [(row.line, row.fields) for row in table.rows], table.header


def _time(text: str, path: Path, line: int) -> np.datetime64:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputDataError(f"{path}: line {line}: time {text!r} is not ISO 8601 (2026-07-01T01:00)") from None
    if stamp.tzinfo is not None:
        if stamp.utcoffset().total_seconds() != 0:
            raise InputDataError(f"{path}: line {line}: time {text!r} is not UTC; give times in UTC")
        stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
    return np.datetime64(stamp, "ns")


def _number(text: str, path: Path, line: int, what: str) -> float:
    if text.lower() in MISSING:
        return np.nan
    try:
        value = float(text)
    except ValueError:
        raise InputDataError(f"{path}: line {line}: {what} {text!r} is not a number (leave it empty if not measured)") from None
    if not np.isfinite(value):
        raise InputDataError(f"{path}: line {line}: {what} {text!r} is not finite")
    return value


def read_stations(path: Path) -> Stations:
    """The stations file ``id,lon,lat[,elevation_m]``."""
    path = Path(path)
    header, rows, _ = _rows(path, "stations file")
    if header[:3] != ["id", "lon", "lat"] or len(header) > 4 or (len(header) == 4 and header[3] != "elevation_m"):
        raise InputDataError(f"{path}: header {','.join(header)}; expected id,lon,lat[,elevation_m]")
    ids, lon, lat, elev = [], [], [], []
    for line, row in rows:
        if len(row) != len(header):
            raise InputDataError(f"{path}: line {line}: {len(row)} fields, header has {len(header)}")
        if not row[0]:
            raise InputDataError(f"{path}: line {line}: empty station id")
        if row[0] in ids:
            raise InputDataError(f"{path}: line {line}: station {row[0]!r} listed twice")
        x, y = _number(row[1], path, line, "lon"), _number(row[2], path, line, "lat")
        if not (-180.0 <= x <= 360.0 and -90.0 <= y <= 90.0):
            raise InputDataError(f"{path}: line {line}: station {row[0]!r} at lon {row[1]!r} lat {row[2]!r}; "
                                 "give WGS84 degrees")
        ids.append(row[0])
        lon.append(x)
        lat.append(y)
        elev.append(_number(row[3], path, line, "elevation_m") if len(row) == 4 else np.nan)
    if not ids:
        raise InputDataError(f"{path}: no stations")
    return Stations(str(path), ids, np.array(lon), np.array(lat), np.array(elev))


def read_gauge_series(path: Path, interval_minutes: int) -> GaugeSeries:
    """The series file, long (``time,station,rain_mm``) or wide (``time,<id>,...``), checked for gaps."""
    path = Path(path)
    header, rows, written = _rows(path, "rain-gauge series")
    if not header or header[0] != "time":
        raise InputDataError(f"{path}: header {','.join(header)}; expected time,station,rain_mm or time,<id>,<id>...")
    values: dict[np.datetime64, dict[str, float]] = {}
    if header == ["time", "station", "rain_mm"]:
        ids: list[str] = []
        for line, row in rows:
            if len(row) != 3:
                raise InputDataError(f"{path}: line {line}: {len(row)} fields; expected time,station,rain_mm")
            t, station = _time(row[0], path, line), row[1]
            at = values.setdefault(t, {})
            if station in at:
                raise InputDataError(f"{path}: line {line}: station {station!r} at {row[0]} given twice")
            at[station] = _check_rain(_number(row[2], path, line, "rain_mm"), path, line, station)
            if station not in ids:
                ids.append(station)
    else:
        ids = written[1:]  # station ids keep their case
        if len(set(ids)) != len(ids) or "" in ids:
            raise InputDataError(f"{path}: station columns {','.join(ids)} repeat or are empty")
        for line, row in rows:
            if len(row) != len(ids) + 1:
                raise InputDataError(f"{path}: line {line}: {len(row)} fields, header has {len(ids) + 1}")
            t = _time(row[0], path, line)
            if t in values:
                raise InputDataError(f"{path}: line {line}: time {row[0]} given twice")
            values[t] = {s: _check_rain(_number(v, path, line, s), path, line, s) for s, v in zip(ids, row[1:])}
    if not values:
        raise InputDataError(f"{path}: no data rows")
    times = np.array(sorted(values), dtype="datetime64[ns]")
    interval = np.timedelta64(interval_minutes, "m").astype("timedelta64[ns]")
    steps = np.diff(times)
    if (steps != interval).any():
        i = int(np.flatnonzero(steps != interval)[0])
        raise InputDataError(f"{path}: gap in the series between {str(times[i])[:16]} and {str(times[i + 1])[:16]} "
                             f"(interval_minutes = {interval_minutes}); add the missing rows, values left empty "
                             "where not measured")
    off_grid = (times - times.astype("datetime64[D]")) % interval
    if off_grid.any():
        raise InputDataError(f"{path}: time {str(times[np.flatnonzero(off_grid)[0]])[:16]} is not on the "
                             f"{interval_minutes}-minute grid; times mark interval ends")
    rain = np.full((len(times), len(ids)), np.nan)
    for i, t in enumerate(times):
        for j, station in enumerate(ids):
            rain[i, j] = values[t].get(station, np.nan)
    return GaugeSeries(str(path), ids, times, rain, interval)


def _check_rain(value: float, path: Path, line: int, station: str) -> float:
    if value < 0.0:
        raise InputDataError(f"{path}: line {line}: station {station!r} rain {value:g} mm is negative; "
                             "leave the cell empty if not measured")
    return value


def read_pet_csv(path: Path) -> tuple[NDArray[np.datetime64], NDArray[np.datetime64], NDArray[np.float64]]:
    """``time,pet_mm`` -> (interval starts, interval ends, PET [mm h-1] over each interval)."""
    path = Path(path)
    header, rows, _ = _rows(path, "PET file")
    if header != ["time", "pet_mm"]:
        raise InputDataError(f"{path}: header {','.join(header)}; expected time,pet_mm")
    times, pet = [], []
    for line, row in rows:
        if len(row) != 2:
            raise InputDataError(f"{path}: line {line}: {len(row)} fields; expected time,pet_mm")
        times.append(_time(row[0], path, line))
        value = _number(row[1], path, line, "pet_mm")
        if np.isnan(value) or value < 0.0:
            raise InputDataError(f"{path}: line {line}: pet_mm {row[1]!r} at {row[0]} missing or negative; "
                                 "PET must be given for every interval")
        pet.append(value)
    if len(times) < 2:
        raise InputDataError(f"{path}: {len(times)} rows; at least two are needed to know the interval")
    ends = np.array(times, dtype="datetime64[ns]")
    steps = np.diff(ends)
    if (steps <= np.timedelta64(0, "ns")).any() or (steps != steps[0]).any():
        i = int(np.flatnonzero((steps <= np.timedelta64(0, "ns")) | (steps != steps[0]))[0])
        raise InputDataError(f"{path}: rows not evenly spaced at {str(ends[i])[:16]} -> {str(ends[i + 1])[:16]} "
                             f"(first step {steps[0].astype('timedelta64[m]')}); fill the gap or sort the rows")
    starts = np.concatenate([[ends[0] - steps[0]], ends[:-1]])
    return starts, ends, np.array(pet) / (steps[0] / np.timedelta64(1, "h"))
