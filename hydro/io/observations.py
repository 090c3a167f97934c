"""Gauge observations for nudging (``hydro route --nudge``, a cycle's ``[assimilation] observations``): a table
with columns ``time, link, discharge_m3s`` and optional ``quality`` (0-100; USGS timeslice and the NWM lastobs
layout), read into :class:`hydro.routing.nudging.GaugeObservations`.

A CSV goes through the shared reader :func:`hydro.io.tables.read_table` (a truncated file, NUL bytes, text that
is not UTF-8 and a quote left open are refused naming the line; blank and ``#`` lines are counted, so a row's
line is the one an editor shows); a ``.parquet`` file through pandas/pyarrow. Discharge is in m3 s-1, as the
column name says (the table carries no units attribute). Every row is checked: a time that does not parse, a
link that is not a positive whole number (or not a segment of the network, when the reader is given it), a
discharge that is missing, not a number or outside the plausible range of ``core.variables``
(0 .. 3e5 m3 s-1), a quality outside 0 .. 100 is one InputDataError naming the file, the row (and in a CSV its
line) and the value. A gauge without an observation at a time has no row; a gauge observed twice at one time
with different values is refused naming both rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InputDataError
from ..core.variables import check_range
from ..routing.nudging import GaugeObservations
from .tables import read_table

WHAT = "gauge observation table"
COLUMNS = ("time", "link", "discharge_m3s")
_BLANK = ["", "nan", "NaN", "NA", "N/A", "null", "None", "<NA>"]


def _read_errors() -> tuple[type[BaseException], ...]:
    """What a damaged parquet file raises: pandas' errors are ValueErrors, pyarrow has its own."""
    try:
        from pyarrow.lib import ArrowException
    except ImportError:  # parquet needs pyarrow; without it a CSV is all that can be read
        return (OSError, ValueError)
    return (OSError, ValueError, ArrowException)


def _csv_frame(path: Path):
    """The CSV's columns as text (a missing field as '') and each row's physical line."""
    import pandas as pd

    table = read_table(path, WHAT)
    where = table.columns(COLUMNS, ("quality",))
    if not table.rows:
        raise InputDataError(f"{path}: {WHAT} has no rows; give at least one observation or remove "
                             "[assimilation] observations")
    frame = pd.DataFrame({name: [row.fields[k] if k < len(row.fields) else "" for row in table.rows]
                          for name, k in where.items()}, dtype=object)
    return frame, np.array([row.line for row in table.rows], np.int64)


def _parquet_frame(path: Path):
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except _read_errors() as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputDataError(f"{path}: cannot read gauge observations ({reason}); the file is damaged or not a "
                             "parquet table, rewrite it") from None
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise InputDataError(f"{path}: gauge observations need columns time, link, discharge_m3s (m3 s-1)"
                             f"[, quality]; missing {sorted(missing)}, found {sorted(map(str, frame.columns))[:6]}")
    if frame.empty:
        raise InputDataError(f"{path}: {WHAT} has no rows; give at least one observation or remove "
                             "[assimilation] observations")
    return frame.reset_index(drop=True), None


def read_gauge_observations(path: str | Path, feature_id: NDArray[np.int64] | None = None,
                            source: str | None = None) -> GaugeObservations:
    """The table at ``path`` (``.parquet``, else CSV; module docstring); with ``feature_id`` (the network's
    segments) a link off the network is refused too. ``source`` names the observations in later messages
    (default: the path)."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        raise InputDataError(f"{path}: is a folder, not a gauge observation table; give the CSV or parquet "
                             "file (columns time, link, discharge_m3s[, quality])")
    if not path.is_file():
        raise InputDataError(f"{path}: gauge observation file not found")
    if path.stat().st_size == 0:
        raise InputDataError(f"{path}: gauge observation file is empty; give a table with columns time, link, "
                             "discharge_m3s (m3 s-1)[, quality]")
    csv = path.suffix != ".parquet"
    table, lines = _csv_frame(path) if csv else _parquet_frame(path)

    def row(i: int) -> str:  # 1-based data row; in a CSV also its physical line
        return f"row {i + 1} (line {lines[i]})" if csv else f"row {i + 1}"

    def refuse(column: str, bad, what: str, todo: str) -> None:
        bad = np.asarray(bad, bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputDataError(f"{path}: {column} = {table[column].iloc[i]!r} at {row(i)} {what} "
                                 f"({int(bad.sum())} row(s)); {todo}")

    times = table["time"]
    if not pd.api.types.is_datetime64_any_dtype(times):
        times = pd.to_datetime(times.astype(str).str.strip(), format="ISO8601", utc=True, errors="coerce")
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    refuse("time", times.isna(), "is not a time", "write ISO 8601 times in UTC, e.g. 2026-07-01T00:15:00")

    def numbers(column: str) -> NDArray[np.float64]:
        text = table[column].astype(str).str.strip()
        values = pd.to_numeric(text if csv else table[column], errors="coerce")
        refuse(column, values.isna() & text.isin(_BLANK), "is missing",
               "delete the row (a gauge without an observation at a time has no row)")
        refuse(column, values.isna(), "is not a number", "fix the value or delete the row")
        return values.to_numpy(np.float64)

    link = numbers("link")
    not_id = ~np.isfinite(link) | (link <= 0) | (link >= 2.0**63) | (link != np.round(link))
    refuse("link", not_id, "is not a segment id",
           "give the network's feature_id (a positive whole number) of the gauged segment")
    link = link.astype(np.int64)
    if feature_id is not None:
        refuse("link", ~np.isin(link, np.asarray(feature_id, np.int64)), "is not a segment of the network",
               "place the gauge on a feature_id of the network, or delete its rows")

    flow = numbers("discharge_m3s")
    check_range(flow, "discharge", str(path), locate=row, label="discharge_m3s")
    quality = numbers("quality") if "quality" in table else np.full(flow.size, 100.0)
    refuse("quality", ~((quality >= 0) & (quality <= 100)), "is outside 0 .. 100",
           "give the observation's quality in percent (NWM: 0 = unusable, 100 = best)")

    frame = pd.DataFrame({"time": times.to_numpy(), "link": link, "q": flow, "w": quality / 100.0})
    _refuse_conflicts(frame, path, row)
    pivot = frame.pivot_table(index="time", columns="link", values=["q", "w"], aggfunc="mean")
    links = pivot["q"].columns.to_numpy(np.int64)
    return GaugeObservations(links, pivot.index.to_numpy().astype("datetime64[s]"), pivot["q"].to_numpy(float),
                             pivot["w"].reindex(columns=pivot["q"].columns).fillna(0.0).to_numpy(float),
                             source or str(path))


def _refuse_conflicts(frame, path: Path, row) -> None:
    """A gauge observed twice at one time with different discharges (or qualities) is refused naming both rows:
    which one is right cannot be guessed. The same row given twice is harmless and kept once."""
    import pandas as pd

    key = ["time", "link"]
    repeated = frame.duplicated(key, keep=False).to_numpy()
    if not repeated.any():
        return
    groups = frame[repeated].groupby(key)
    differs = ((groups["q"].transform("nunique") > 1) | (groups["w"].transform("nunique") > 1))
    if not differs.any():
        return
    first = frame[repeated][differs.to_numpy()]
    i = int(first.index[0])
    same = frame.index[(frame["time"] == frame.at[i, "time"]) & (frame["link"] == frame.at[i, "link"])]
    j = int(next(k for k in same if k != i and (frame.at[k, "q"], frame.at[k, "w"]) != (frame.at[i, "q"], frame.at[i, "w"])))
    pairs = int(first.groupby(key).ngroups)
    raise InputDataError(
        f"{path}: link {frame.at[i, 'link']} at {pd.Timestamp(frame.at[i, 'time']).isoformat()} is given twice with "
        f"different values: discharge_m3s {frame.at[i, 'q']:g} at {row(i)} and {frame.at[j, 'q']:g} at {row(j)} "
        f"({pairs} such (time, link) pair(s)); keep one observation per gauge and time")
