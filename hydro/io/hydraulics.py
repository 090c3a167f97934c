"""Files of ``hydro hydraulics``: cross-sections, boundary series and the output.

SECTIONS.csv (long format, one row per point, each section's rows together, sections upstream first):
``section,chainage_m,station_m,elevation_m,manning_n[,left_bank_m,right_bank_m]``; chainage increases
downstream from the upstream boundary; n applies from its point to the next (the last point's may be
empty); banks default to the section's ends. INFLOW.csv ``time,discharge_m3s``; a stage file
``time,water_level_m``; a rating ``water_level_m,discharge_m3s``; LATERAL.csv
``time,chainage_m,discharge_m3s``; STRUCTURES.csv ``name,chainage_m,type,crest_m,width_m,coefficient,
initial_level_m,schedule`` (type weir: crest, width, coefficient; type gate: initial_level_m and schedule, a
``time,release_m3s`` CSV named relative to the structures file). Times are ISO 8601, UTC unless they carry an offset. Every problem is
one InputDataError line naming the file, the section or row, and the value.

Networks of reaches: SECTIONS.csv, LATERAL.csv and STRUCTURES.csv with a ``reach`` column, and JUNCTIONS.csv
``reach,joins,chainage_m``; the output then runs over (time, node) with ``reach`` and ``chainage`` per node.
A solver state (``--final-state`` / ``--initial-state``) is a NetCDF file of the node values at the state's
time and one step before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..core.errors import HydroError, InputDataError, NumericalError
from ..core.variables import INPUT_VARIABLES
from ..hydraulics.boundaries import Downstream, Lateral, TimeSeries
from ..hydraulics.network import Junction, NetworkResult
from ..hydraulics.sections import CrossSection, Structure
from ..hydraulics.steady import SteadyProfile
from ..hydraulics.unsteady import HydraulicsResult, HydraulicState
from .atomic import write_atomic
from .netcdf import cf_encode
from .tables import read_table

SECTION_COLUMNS = ("section", "chainage_m", "station_m", "elevation_m", "manning_n")


def _read_csv(path: str | Path, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """The table (hydro.io.tables.read_table: a missing, binary, cut or malformed file refused naming its line) as
    text, empty fields NaN; the index is the physical line minus 2, so ``_row`` gives a row's line in the file
    (the header is line 1; comment and blank lines count)."""
    table = read_table(path, what, inline_comments=True)  # as the files were read before: '0.035 # gravel' is 0.035
    path = table.source
    missing = [c for c in columns if c not in table.header]
    if missing:
        raise InputDataError(f"{path}: {what} lacks column(s) {', '.join(missing)} (has {', '.join(table.header)}); "
                             f"expected {','.join(columns)}")
    if not table.rows:
        raise InputDataError(f"{path}: {what} has no rows")
    width = len(table.header)
    for row in table.rows:
        if len(row.fields) > width and any(f for f in row.fields[width:]):
            raise InputDataError(f"{path}: row {row.line}: {len(row.fields)} fields, the header has {width}; check "
                                 "the separators")
    cells = [[(f if f != "" else np.nan) for f in (row.fields + [""] * width)[:width]] for row in table.rows]
    return pd.DataFrame(cells, columns=table.header, index=[row.line - 2 for row in table.rows], dtype=object)


def _row(df: pd.DataFrame, k: int) -> int:
    """The file line of ``df``'s k-th row (see ``_read_csv``)."""
    return int(df.index[k]) + 2


def _numbers(df: pd.DataFrame, column: str, path: Path, label=None, allow_empty: np.ndarray | None = None) -> np.ndarray:
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if allow_empty is not None:
        bad &= ~allow_empty
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        where = label(k) if label else f"row {_row(df, k)}"
        raw = df[column].iloc[k]
        shown = "empty" if pd.isna(raw) else f"{raw!r}"
        raise InputDataError(f"{path}: {column} is {shown} at {where}, not a number; {int(bad.sum())} such value(s): "
                             "fill them")
    return values


def read_sections(path: str | Path) -> list[CrossSection]:
    """Cross-sections from SECTIONS.csv (module docstring), upstream first, chainage increasing."""
    path = Path(path)
    return _sections_from_frame(_read_csv(path, SECTION_COLUMNS, "sections"), path)


def has_reach_column(path: str | Path) -> bool:
    """Whether a CSV file's header names a ``reach`` column (the network form of a file)."""
    try:
        return "reach" in read_table(path, "table").header
    except HydroError:
        return False  # the reader proper says what is wrong with the file


def _reach_ids(df: pd.DataFrame, path: Path) -> np.ndarray:
    ids = df["reach"].astype(str).str.strip().to_numpy()
    empty = np.flatnonzero(df["reach"].isna().to_numpy() | (ids == ""))
    if empty.size:
        raise InputDataError(f"{path}: reach is empty at row {_row(df, int(empty[0]))}; name the reach of every row")
    return ids


def read_network_sections(path: str | Path) -> dict[str, list[CrossSection]]:
    """SECTIONS.csv with a ``reach`` column: each reach's sections (as ``read_sections``), reaches in the
    order they first appear."""
    path = Path(path)
    df = _read_csv(path, ("reach", *SECTION_COLUMNS), "sections")
    ids = _reach_ids(df, path)
    order = list(dict.fromkeys(ids))
    return {rid: _sections_from_frame(df[ids == rid], path, f" of reach {rid!r}") for rid in order}


def read_junctions(path: str | Path) -> list[Junction]:
    """JUNCTIONS.csv ``reach,joins,chainage_m``: reach ``reach`` ends into reach ``joins`` at that chainage."""
    path = Path(path)
    df = _read_csv(path, ("reach", "joins", "chainage_m"), "junctions")
    reach = _reach_ids(df, path)
    joins = _reach_ids(df.rename(columns={"reach": "_", "joins": "reach"}), path)
    x = _numbers(df, "chainage_m", path, lambda k: f"row {_row(df, k)} (reach {reach[k]!r})")
    return [Junction(reach[k], joins[k], float(x[k]), str(path), _row(df, k)) for k in range(len(df))]


def _sections_from_frame(df: pd.DataFrame, path: Path, of: str = "") -> list[CrossSection]:
    names = df["section"].astype(str).str.strip().to_numpy()
    rows = df.index.to_numpy() + 2  # file rows, the header being row 1
    label = lambda k: f"row {rows[k]} (section {names[k]!r})"  # noqa: E731
    chain = _numbers(df, "chainage_m", path, label)
    station = _numbers(df, "station_m", path, label)
    elevation = _numbers(df, "elevation_m", path, label)
    # the last point of a section needs no n (it starts no segment)
    last_of_section = np.append(names[1:] != names[:-1], True)
    manning = _numbers(df, "manning_n", path, label, allow_empty=last_of_section)
    n_hi = INPUT_VARIABLES["mannings_n"].valid_range[1]
    implausible = np.flatnonzero(np.isfinite(manning) & (manning > n_hi))
    if implausible.size:
        k = int(implausible[0])
        raise InputDataError(f"{path}: {label(k)}{of}: manning_n {manning[k]:g} is above {n_hi:g} s m-1/3, no channel "
                             f"or floodplain is that rough (0.01-0.2 in practice); check the value and its units")
    banks = {}
    for col in ("left_bank_m", "right_bank_m"):
        if col in df.columns:
            banks[col] = _numbers(df, col, path, label)
    starts = np.flatnonzero(np.append(True, names[1:] != names[:-1]))
    ends = np.append(starts[1:], names.size)
    seen: set[str] = set()
    sections = []
    for a, b in zip(starts, ends, strict=True):
        name = names[a]
        if name in seen:
            raise InputDataError(f"{path}: section {name!r}{of} appears again at row {rows[a]}; keep each section's rows "
                                 "together")
        seen.add(name)
        c = chain[a:b]
        if np.ptp(c) > 0:
            raise InputDataError(f"{path}: section {name!r} has chainage_m {c.min():g} and {c.max():g}; one chainage per section")
        bank = []
        for col, default in (("left_bank_m", station[a]), ("right_bank_m", station[b - 1])):
            if col in banks:
                v = banks[col][a:b]
                if np.ptp(v) > 0:
                    raise InputDataError(f"{path}: section {name!r} has {col} {v.min():g} and {v.max():g}; one value per section")
                bank.append(float(v[0]))
            else:
                bank.append(float(default))
        sections.append(CrossSection(name, float(c[0]), station[a:b].copy(), elevation[a:b].copy(), manning[a:b].copy(),
                                     bank[0], bank[1], str(path)))
    chainage = np.array([s.chainage for s in sections])
    if len(sections) >= 2 and (np.diff(chainage) < 0).all():
        raise InputDataError(f"{path}: chainage_m decreases through the file ({chainage[0]:g} .. {chainage[-1]:g} m): "
                             "hydro takes chainage increasing downstream from the upstream boundary, sections upstream "
                             "first. HEC-RAS river stations decrease downstream: write chainage_m = "
                             f"{chainage[0]:g} - station (if the first section is the upstream one)")
    step = np.diff(chainage)
    if (step <= 0).any():
        k = int(np.flatnonzero(step <= 0)[0]) + 1
        raise InputDataError(f"{path}: section {sections[k].name!r} chainage_m {chainage[k]:g} does not increase from "
                             f"{chainage[k - 1]:g} (section {sections[k - 1].name!r}); list sections upstream first "
                             "with chainage increasing downstream")
    if len(sections) < 2:
        raise InputDataError(f"{path}: {len(sections)} section(s){of}; a reach needs at least 2")
    return sections


def _times(df: pd.DataFrame, path: Path, column: str = "time") -> np.ndarray:
    try:
        t = pd.to_datetime(df[column].astype(str).str.strip(), utc=True, format="ISO8601")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(df[column].astype(str).str.strip(), utc=True, errors="coerce", format="ISO8601")
        k = int(np.flatnonzero(parsed.isna().to_numpy())[0]) if parsed.isna().any() else 0
        raise InputDataError(f"{path}: time {df[column].iloc[k]!r} at row {_row(df, k)} is not an ISO 8601 time") from None
    if t.isna().any():
        k = int(np.flatnonzero(t.isna().to_numpy())[0])
        raise InputDataError(f"{path}: time is empty at row {_row(df, k)}; fill it or remove the row")
    return t.dt.tz_convert(None).to_numpy("datetime64[ns]")


def _iso(t: np.datetime64) -> str:
    return np.datetime_as_string(t, unit="s") + "Z"


def _check_regular(path: Path, t: np.ndarray, what: str, lines: np.ndarray) -> None:
    """Strictly increasing, and no missing record: no interval longer than 1.5 x the usual one (``lines``: each
    time's line in the file)."""
    if t.size < 2:
        raise InputDataError(f"{path}: {what} has {t.size} time(s); give at least 2")
    step = np.diff(t) / np.timedelta64(1, "s")
    back = np.flatnonzero(step <= 0)
    if back.size:
        k = int(back[0]) + 1
        raise InputDataError(f"{path}: {what} time {_iso(t[k])} at row {lines[k]} does not follow {_iso(t[k - 1])}; times "
                             "must increase")
    usual = float(np.median(step))
    gap = np.flatnonzero(step > 1.5 * usual)
    if gap.size:
        k = int(gap[0])
        raise InputDataError(f"{path}: {what} has a gap: {step[k] / 60:g} min between {_iso(t[k])} and {_iso(t[k + 1])} (rows "
                             f"{lines[k]}-{lines[k + 1]}) where the series steps {usual / 60:g} min; fill the missing records")


def read_series(path: str | Path, column: str, what: str, non_negative: bool, regular: bool = True) -> TimeSeries:
    """``time,<column>`` instantaneous series; refuses NaN, (if ``non_negative``) values < 0, times that do
    not increase and (if ``regular``: a recorded series, not a schedule's breakpoints) missing records."""
    path = Path(path)
    df = _read_csv(path, ("time", column), what)
    t = _times(df, path)
    label = lambda k: f"row {_row(df, k)} ({df['time'].iloc[k]})"  # noqa: E731
    v = _numbers(df, column, path, label)
    if non_negative and (v < 0).any():
        k = int(np.flatnonzero(v < 0)[0])
        raise InputDataError(f"{path}: {column} = {v[k]:g} at {label(k)} is negative")
    if regular:
        _check_regular(path, t, what, df.index.to_numpy() + 2)
    elif t.size < 2 or (np.diff(t) <= np.timedelta64(0, "ns")).any():
        raise InputDataError(f"{path}: {what} needs at least 2 rows with increasing times")
    return TimeSeries(t, v, str(path), column)


def read_rating(path: str | Path) -> Downstream:
    path = Path(path)
    df = _read_csv(path, ("water_level_m", "discharge_m3s"), "rating")
    level = _numbers(df, "water_level_m", path)
    q = _numbers(df, "discharge_m3s", path)
    return Downstream("rating", level=level, discharge=q, source=str(path))


def read_downstream(spec: str) -> Downstream:
    """``normal``, ``normal:SLOPE``, ``stage:FILE.csv`` or ``rating:FILE.csv``."""
    kind, _, arg = spec.partition(":")
    if kind == "normal":
        if not arg:
            return Downstream("normal")
        try:
            slope = float(arg)
        except ValueError:
            raise InputDataError(f"--downstream {spec}: normal:SLOPE needs a number") from None
        if not slope > 0:
            raise InputDataError(f"--downstream {spec}: the normal-depth slope must be > 0")
        return Downstream("normal", slope=slope, source=spec)
    if kind == "stage" and arg:
        return Downstream("stage", series=read_series(arg, "water_level_m", "stage series", False), source=arg)
    if kind == "rating" and arg:
        return read_rating(arg)
    raise InputDataError(f"--downstream {spec!r}: use normal, normal:SLOPE, stage:FILE.csv or rating:FILE.csv")


def read_lateral(path: str | Path) -> Lateral:
    """LATERAL.csv ``time,chainage_m,discharge_m3s``: one series per chainage, each checked as an inflow
    series, put on the union of their times (linear)."""
    path = Path(path)
    return _lateral_from_frame(_read_csv(path, ("time", "chainage_m", "discharge_m3s"), "lateral inflow"), path)


def read_network_lateral(path: str | Path) -> dict[str, Lateral]:
    """LATERAL.csv with a ``reach`` column: each reach's lateral inflows (as ``read_lateral``)."""
    path = Path(path)
    df = _read_csv(path, ("reach", "time", "chainage_m", "discharge_m3s"), "lateral inflow")
    ids = _reach_ids(df, path)
    _times(df, path)  # every row checked here, so that a message names the file's row
    _numbers(df, "chainage_m", path)
    q = _numbers(df, "discharge_m3s", path)
    if (q < 0).any():
        k = int(np.flatnonzero(q < 0)[0])
        raise InputDataError(f"{path}: discharge_m3s = {q[k]:g} at row {_row(df, k)} (reach {ids[k]!r}) is negative")
    return {rid: _lateral_from_frame(df[ids == rid], path) for rid in dict.fromkeys(ids)}


def read_network_structures(path: str | Path) -> dict[str, list[Structure]]:
    """STRUCTURES.csv with a ``reach`` column: each reach's structures (as ``read_structures``)."""
    path = Path(path)
    ids = _reach_ids(_read_csv(path, ("reach", "name", "chainage_m", "type"), "structures"), path)
    out: dict[str, list[Structure]] = {}
    for rid, st in zip(ids, read_structures(path), strict=True):
        out.setdefault(rid, []).append(st)
    return out


def _lateral_from_frame(df: pd.DataFrame, path: Path) -> Lateral:
    t = _times(df, path)
    x = _numbers(df, "chainage_m", path)
    q = _numbers(df, "discharge_m3s", path)
    if (q < 0).any():
        k = int(np.flatnonzero(q < 0)[0])
        raise InputDataError(f"{path}: discharge_m3s = {q[k]:g} at row {_row(df, k)} (chainage {x[k]:g} m) is negative")
    chainages = np.unique(x)
    union = np.unique(t)
    out = np.empty((union.size, chainages.size))
    for m, c in enumerate(chainages):
        rows = np.flatnonzero(x == c)
        tc = t[rows]
        _check_regular(path, tc, f"lateral inflow at chainage {c:g} m", (df.index.to_numpy() + 2)[rows])
        if tc[0] > union[0] or tc[-1] < union[-1]:
            raise InputDataError(f"{path}: lateral inflow at chainage {c:g} m covers {_iso(tc[0])} .. {_iso(tc[-1])}, "
                                 f"not the file's {_iso(union[0])} .. {_iso(union[-1])}; give every chainage the same period")
        sec = (tc - union[0]) / np.timedelta64(1, "s")
        out[:, m] = np.interp((union - union[0]) / np.timedelta64(1, "s"), sec, q[rows])
    return Lateral(union, chainages, out, str(path))


def read_structures(path: str | Path) -> list[Structure]:
    """Internal structures from STRUCTURES.csv (module docstring)."""
    path = Path(path)
    df = _read_csv(path, ("name", "chainage_m", "type"), "structures")
    out = []
    for k, row in df.iterrows():
        line = int(k) + 2
        kind = str(row["type"]).strip().lower()
        name = str(row["name"]).strip()

        def number(col: str, default: float = float("nan")) -> float:
            if col not in df.columns or pd.isna(row[col]):
                return default
            try:
                return float(row[col])
            except ValueError:
                raise InputDataError(f"{path}: {col} = {row[col]!r} at row {line} (structure {name!r}) is not a "
                                     "number") from None

        release_time = release = None
        if kind == "gate":
            if "schedule" not in df.columns or pd.isna(row["schedule"]):
                raise InputDataError(f"{path}: gate {name!r} at row {line} needs a schedule file (time,release_m3s)")
            schedule = read_series(path.parent / str(row["schedule"]).strip(), "release_m3s", "release schedule", True,
                                   regular=False)
            release_time, release = schedule.time, schedule.values
        out.append(Structure(name, number("chainage_m"), kind, crest=number("crest_m"), width=number("width_m"),
                             coefficient=number("coefficient", 1.7), release_time=release_time, release=release,
                             initial_level=number("initial_level_m"), source=str(path)))
    return out


_ATTRS = {
    "discharge": {"long_name": "discharge (positive downstream)", "units": "m3 s-1",
                  "standard_name": "water_volume_transport_in_river_channel"},
    "water_level": {"long_name": "water surface elevation", "units": "m",
                    "standard_name": "water_surface_height_above_reference_datum"},
    "depth": {"long_name": "water depth above the section's lowest point", "units": "m"},
    "velocity": {"long_name": "mean velocity Q/A", "units": "m s-1"},
    "froude": {"long_name": "Froude number Q/A / sqrt(g A/B)", "units": "1"},
    "thalweg": {"long_name": "elevation of the section's lowest point", "units": "m"},
    "chainage": {"long_name": "distance downstream from the upstream boundary along the main stem", "units": "m",
                 "axis": "X"},
    "surveyed": {"long_name": "node is a surveyed section (1) or interpolated between two (0)",
                 "flag_values": np.array([0, 1], np.int8), "flag_meanings": "interpolated surveyed"},
    "time": {"long_name": "valid time", "standard_name": "time"},
}


def _section_names(surveyed: np.ndarray, names: list[str]) -> np.ndarray:
    return np.array([names[k] if k >= 0 else "" for k in surveyed])


def hydraulics_dataset(result: HydraulicsResult, names: list[str], attrs: dict) -> xr.Dataset:
    """``discharge``, ``water_level``, ``depth`` over (time, chainage), with thalweg, surveyed flag and
    section names per node; ``attrs`` (mass balance, numerics) become global attributes."""
    dims = ("time", "chainage")
    ds = xr.Dataset(
        {
            "discharge": (dims, result.discharge, _ATTRS["discharge"]),
            "water_level": (dims, result.water_level, _ATTRS["water_level"]),
            "depth": (dims, result.depth, _ATTRS["depth"]),
            "thalweg": ("chainage", result.thalweg, _ATTRS["thalweg"]),
            "surveyed": ("chainage", (result.surveyed >= 0).astype(np.int8), _ATTRS["surveyed"]),
            "section": ("chainage", _section_names(result.surveyed, names), {"long_name": "surveyed section name"}),
        },
        coords={"time": ("time", result.time, _ATTRS["time"]),
                "chainage": ("chainage", result.chainage, _ATTRS["chainage"])},
        attrs={"title": "hydro one-dimensional hydrodynamics (Saint-Venant, Preissmann scheme)", **attrs},
    )
    cf_encode(ds)
    for name in ("discharge", "water_level", "depth"):
        ds[name].encoding.update(zlib=True, complevel=1)
    return ds


def _check_finite(path: Path, ds: xr.Dataset) -> None:
    """No NaN or inf in any output (discharge may be negative: flow reversal is physical here, so
    netcdf.check_flows, which refuses negative flows, does not apply)."""
    for name, var in ds.data_vars.items():
        if var.dtype.kind == "f" and not np.isfinite(var.values).all():
            raise NumericalError(f"{path}: {name} holds NaN or inf; nothing written")


def write_hydraulics(path: str | Path, ds: xr.Dataset) -> Path:
    path = Path(path)
    _check_finite(path, ds)
    return write_atomic(path, lambda tmp: ds.to_netcdf(tmp, format="NETCDF4"))


def steady_dataset(profile: SteadyProfile, velocity: np.ndarray, froude: np.ndarray, thalweg: np.ndarray,
                   surveyed: np.ndarray, names: list[str], attrs: dict) -> xr.Dataset:
    ds = xr.Dataset(
        {"discharge": ("chainage", profile.discharge, _ATTRS["discharge"]),
         "water_level": ("chainage", profile.water_level, _ATTRS["water_level"]),
         "depth": ("chainage", profile.depth, _ATTRS["depth"]),
         "velocity": ("chainage", velocity, _ATTRS["velocity"]),
         "froude": ("chainage", froude, _ATTRS["froude"]),
         "thalweg": ("chainage", thalweg, _ATTRS["thalweg"]),
         "surveyed": ("chainage", (surveyed >= 0).astype(np.int8), _ATTRS["surveyed"]),
         "section": ("chainage", _section_names(surveyed, names), {"long_name": "surveyed section name"})},
        coords={"chainage": ("chainage", profile.chainage, _ATTRS["chainage"])},
        attrs={"title": "hydro steady profile (standard step)", **attrs},
    )
    return cf_encode(ds)


def write_steady(path: str | Path, ds: xr.Dataset) -> Path:
    """OUT.nc, or OUT.csv with one row per node."""
    path = Path(path)
    _check_finite(path, ds)
    if path.suffix.lower() == ".csv":
        table = pd.DataFrame({
            **({"reach": ds["reach"].values} if "reach" in ds.coords else {}), "chainage_m": ds["chainage"].values, "section": ds["section"].values,
            "thalweg_m": ds["thalweg"].values, "discharge_m3s": ds["discharge"].values,
            "water_level_m": ds["water_level"].values, "depth_m": ds["depth"].values,
            "velocity_ms": ds["velocity"].values, "froude": ds["froude"].values})
        return write_atomic(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6f"))
    return write_atomic(path, lambda tmp: ds.to_netcdf(tmp, format="NETCDF4"))


_NETWORK_ATTRS = {
    "node": {"long_name": "computational node of the network (the reaches one after the other, each upstream first; a "
             "receiving reach's node at a junction appears twice: above and below the confluence)"},
    "reach": {"long_name": "reach (main stem) of the node"},
    "chainage": {"long_name": "distance downstream from the reach's upstream boundary", "units": "m"},
}


def network_hydraulics_dataset(result: NetworkResult, attrs: dict) -> xr.Dataset:
    """A network run: ``discharge``, ``water_level``, ``depth`` over (time, node), with ``reach`` and
    ``chainage`` coordinates per node, thalweg, surveyed flag and section names."""
    dims = ("time", "node")
    ds = xr.Dataset(
        {
            "discharge": (dims, result.discharge, _ATTRS["discharge"]),
            "water_level": (dims, result.water_level, _ATTRS["water_level"]),
            "depth": (dims, result.depth, _ATTRS["depth"]),
            "thalweg": ("node", result.thalweg, _ATTRS["thalweg"]),
            "surveyed": ("node", (result.surveyed >= 0).astype(np.int8), _ATTRS["surveyed"]),
            "section": ("node", result.section.astype(str), {"long_name": "surveyed section name"}),
        },
        coords={"time": ("time", result.time, _ATTRS["time"]),
                "node": ("node", np.arange(result.chainage.size, dtype=np.int32), _NETWORK_ATTRS["node"]),
                "reach": ("node", result.reach.astype(str), _NETWORK_ATTRS["reach"]),
                "chainage": ("node", result.chainage, _NETWORK_ATTRS["chainage"])},
        attrs={"title": "hydro one-dimensional hydrodynamics of a network of main stems (Saint-Venant, Preissmann "
               "scheme, junctions solved with the reaches)", **attrs},
    )
    cf_encode(ds)
    for name in ("discharge", "water_level", "depth"):
        ds[name].encoding.update(zlib=True, complevel=1)
    return ds


def network_steady_dataset(reach: np.ndarray, chainage: np.ndarray, section: np.ndarray, thalweg: np.ndarray,
                           surveyed: np.ndarray, discharge: np.ndarray, water_level: np.ndarray, velocity: np.ndarray,
                           froude: np.ndarray, attrs: dict) -> xr.Dataset:
    ds = xr.Dataset(
        {"discharge": ("node", discharge, _ATTRS["discharge"]),
         "water_level": ("node", water_level, _ATTRS["water_level"]),
         "depth": ("node", np.maximum(water_level - thalweg, 0.0), _ATTRS["depth"]),
         "velocity": ("node", velocity, _ATTRS["velocity"]),
         "froude": ("node", froude, _ATTRS["froude"]),
         "thalweg": ("node", thalweg, _ATTRS["thalweg"]),
         "surveyed": ("node", (surveyed >= 0).astype(np.int8), _ATTRS["surveyed"]),
         "section": ("node", section.astype(str), {"long_name": "surveyed section name"})},
        coords={"node": ("node", np.arange(chainage.size, dtype=np.int32), _NETWORK_ATTRS["node"]),
                "reach": ("node", reach.astype(str), _NETWORK_ATTRS["reach"]),
                "chainage": ("node", chainage, _NETWORK_ATTRS["chainage"])},
        attrs={"title": "hydro steady profile of a network of main stems (standard step, junction levels matched)",
               **attrs},
    )
    return cf_encode(ds)


_STATE_VARIABLES = {
    "water_level": {"long_name": "water surface elevation at the state's time", "units": "m",
                    "standard_name": "water_surface_height_above_reference_datum"},
    "discharge": {"long_name": "discharge (positive downstream) at the state's time", "units": "m3 s-1",
                  "standard_name": "water_volume_transport_in_river_channel"},
    "water_level_previous_step": {"long_name": "water surface elevation one solver step (dt_seconds) earlier", "units": "m"},
    "discharge_previous_step": {"long_name": "discharge one solver step (dt_seconds) earlier", "units": "m3 s-1"},
}


def write_hydraulic_state(path: str | Path, state: HydraulicState, attrs: dict | None = None) -> Path:
    """The solver's state (``--final-state``): per node water level and discharge at the state's time and one
    step before, chainage (and reach) per node; CF NetCDF, doubles (a continuation is bit for bit)."""
    path = Path(path)
    data = {name: ("node", np.asarray(getattr(state, field), np.float64), meta) for (name, meta), field in zip(
        _STATE_VARIABLES.items(), ("water_level", "discharge", "previous_water_level", "previous_discharge"), strict=True)}
    coords = {"node": ("node", np.arange(state.chainage.size, dtype=np.int32), {"long_name": "computational node"}),
              "chainage": ("node", state.chainage, _NETWORK_ATTRS["chainage"])}
    if state.reach is not None:
        coords["reach"] = ("node", np.asarray(state.reach).astype(str), _NETWORK_ATTRS["reach"])
    ds = xr.Dataset(data, coords=coords, attrs={
        "title": "hydro hydraulics state (hydro hydraulics run --initial-state continues from it)",
        "valid_time": _iso(np.datetime64(state.time, "s")), "dt_seconds": float(state.dt), **(attrs or {})})
    cf_encode(ds)
    _check_finite(path, ds)
    return write_atomic(path, lambda tmp: ds.to_netcdf(tmp, format="NETCDF4"))


def _state_values(ds: xr.Dataset, name: str, units: str, path: Path) -> np.ndarray:
    """``name`` in the units hydro writes it in: another length or flow unit (a state edited or converted by
    another tool, e.g. levels in ft) is converted, a unit of something else refused naming the file and variable
    (it was read as metres or m3 s-1 before: a state in ft started the run 250 m too high)."""
    from ..core.variables import unit_factor

    values = ds[name].values.astype(np.float64)
    given = str(ds[name].attrs.get("units", units)).strip() or units
    if given == units:
        return values
    try:
        factor = unit_factor(given, units)
    except ValueError:
        factor = None
    if factor is None:
        raise InputDataError(f"{path}: {name} in {given!r} cannot be converted to {units}; give a state written by "
                             "hydro hydraulics run --final-state (or fix the units attribute)")
    return values * factor


def read_hydraulic_state(path: str | Path) -> HydraulicState:
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: initial state file not found")
    try:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read the state as NetCDF ({str(exc).splitlines()[0]})") from None
    missing = [v for v in (*_STATE_VARIABLES, "chainage") if v not in ds.variables]
    if missing or "valid_time" not in ds.attrs or "dt_seconds" not in ds.attrs:
        raise InputDataError(f"{path}: not a hydraulics state (lacks {', '.join(missing) or 'valid_time/dt_seconds'}); "
                             "give a file written by hydro hydraulics run --final-state")
    try:
        when = np.datetime64(pd.Timestamp(str(ds.attrs["valid_time"])).tz_localize(None), "ns")
    except ValueError:
        raise InputDataError(f"{path}: valid_time {ds.attrs['valid_time']!r} is not an ISO 8601 time") from None
    reach = ds["reach"].values.astype(str) if "reach" in ds.variables else None
    values = {v: _state_values(ds, v, meta["units"], path) for v, meta in
              {**_STATE_VARIABLES, "chainage": _NETWORK_ATTRS["chainage"]}.items()}
    return HydraulicState(when, values["chainage"], values["water_level"], values["discharge"],
                          values["water_level_previous_step"], values["discharge_previous_step"],
                          float(ds.attrs["dt_seconds"]), reach, str(path))
