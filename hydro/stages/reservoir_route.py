"""``hydro reservoir route``: one reservoir routed through an inflow hydrograph, under its rules, a release
schedule, or as a free spill.

``RES.toml`` holds one reservoir in the basin file's schema (the keys of a ``[[reservoirs]]`` entry, at the
top level) plus ``spillway = "gated"`` (default: the zone rule or ``--schedule``) or ``"free"`` (an ungated
outlet: release = capacity at the level, i.e. storage-indication routing of the level-storage and
level-capacity curves). ``feature_id`` is not needed here; a free spillway needs no characteristic levels
nor ``safe_release`` either (the flood-limit and flood-control high levels default to the crest, the
design and check levels to the top of the curves).

``INFLOW.csv``: columns ``time,inflow_m3s``, ISO times strictly increasing, instantaneous values at any
spacing, interpolated linearly onto the output times: every ``dt`` from the first inflow time up to the
last (a last partial step is left out, and the log says so). A ``dt`` whose step ends miss the file's peak
or volume by more than 1 % is refused (the inflow is sampled at step ends). ``SCHEDULE.csv``:
``time,release_m3s``, each release held from its time (a step start) until the next row's; the first row
must be at or before the first inflow time; times with a zone if and only if the inflow's have one.

``OUT.csv``: ``time,inflow_m3s,release_m3s,level_m,storage_m3`` at every step end, the first row being the
start. ``release_m3s`` is the instantaneous release: with a free spill the capacity at that level (as
storage-indication tabulates it); with gates, the order held over the step ending there (the first row:
the first step's), or less where the capacity at the level binds. The initial level is ``--initial-level``,
else the flood-limit level (gated) or the crest (free: the highest tabulated level of zero capacity, else
the lowest level of the curves).

Bad input stops before anything is written, with one line naming the file, the row (the CSV line number,
the header being line 1) and the value; the output is written atomically.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import Field, model_validator

from ..core.errors import ConfigError, InputDataError
from ..core.variables import INPUT_VARIABLES
from ..io.atomic import check_output_dir, write_atomic
from ..io.tables import read_table
from ..io.basin import ReservoirSpec, read_toml_model
from ..reservoir.operation import OperatingRules, Overtopping, operate

log = logging.getLogger("hydro")

#: the most steps one run routes: 2 million rows of output (about 200 MB of CSV); more is a typing error in a
#: time (a year 9999, a year 1000) or a step far finer than any reservoir needs
MAX_STEPS = 2_000_000
#: the step ends must see the inflow file's peak and volume to this fraction
COARSE_STEP_TOLERANCE = 0.01

_LEVELS = ("flood_limit_level", "flood_control_high_level", "design_level", "check_level")


class ReservoirRouteSpec(ReservoirSpec):
    """One reservoir of the basin file's schema, standalone: ``spillway`` says whether gates set the release."""

    feature_id: int = 0
    flood_limit_level: float | None = None
    flood_control_high_level: float | None = None
    design_level: float | None = None
    check_level: float | None = None
    safe_release: float | None = Field(default=None, ge=0)
    spillway: Literal["gated", "free"] = "gated"

    @model_validator(mode="after")
    def _gated_needs_rules(self) -> ReservoirRouteSpec:
        if self.spillway == "gated":
            missing = [k for k in (*_LEVELS, "safe_release") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a gated reservoir needs {', '.join(missing)} (or set spillway = \"free\")")
        for key in (*_LEVELS, "safe_release", "min_release", "max_ramp_per_hour", "end_target_level"):
            value = getattr(self, key)
            if value is not None and math.isnan(value):
                raise ValueError(f"{key} is NaN")
        return self

    def rules(self) -> OperatingRules:
        if self.spillway == "gated":
            return super().rules()
        curves = self.curves()
        crest, top = curves.crest_level, float(curves.level_m[-1])
        fl = crest if self.flood_limit_level is None else self.flood_limit_level
        fc = fl if self.flood_control_high_level is None else self.flood_control_high_level
        design = top if self.design_level is None else self.design_level
        check = top if self.check_level is None else self.check_level
        safe = max(self.min_release, 0.0) if self.safe_release is None else self.safe_release
        return OperatingRules(fl, fc, design, check, safe, self.min_release, self.max_ramp_per_hour,
                              self.end_target_level)


def read_reservoir(path: Path) -> ReservoirRouteSpec:
    spec = read_toml_model(path, ReservoirRouteSpec, "reservoir file")
    try:
        spec.rules().check(spec.curves())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return spec


MAX_DISCHARGE_M3S = INPUT_VARIABLES["streamflow"].valid_range[1]


def read_series(path: Path, column: str, what: str) -> tuple[pd.DatetimeIndex, NDArray[np.float64], bool]:
    """``time,<column>`` from a CSV: ISO times strictly increasing, finite non-negative values. Returns the
    times (UTC, naive), the values and whether the file's times carried a time zone."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"{path}: {what} not found")
    table = read_table(path, what)
    at = table.columns(("time", column), lower=False)
    twice = sorted({h for h in table.header if table.header.count(h) > 1})
    if twice:  # which of the two is meant is not ours to guess
        raise InputDataError(f"{path}: column(s) {', '.join(twice)} appear more than once in the header; keep one")
    if not table.rows:
        raise InputDataError(f"{path}: {what} has no rows")
    times, values, zoned = [], np.empty(len(table.rows)), set()
    for i, fields in enumerate(table.rows):
        row = fields.line  # the physical line: the header is line 1, blank and comment lines count
        if len(fields.fields) != len(table.header):
            raise InputDataError(f"{path}: row {row}: {len(fields.fields)} fields, the header has {len(table.header)}")
        raw_t, raw_v = fields.fields[at["time"]], fields.fields[at[column]]
        try:  # ISO 8601 only: pandas alone reads '01 00:00:00' as the year 1
            stamp = pd.Timestamp(datetime.fromisoformat(str(raw_t).strip()))
        except (ValueError, TypeError):
            raise InputDataError(f"{path}: row {row}: time {raw_t!r} is not an ISO time "
                                 "(e.g. 2024-07-01T06:00)") from None
        zoned.add(stamp.tzinfo is not None)
        if len(zoned) > 1:
            raise InputDataError(f"{path}: row {row}: time {raw_t!r} mixes times with and without a time zone")
        stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
        try:
            value = float(str(raw_v).strip())
        except ValueError:
            raise InputDataError(f"{path}: row {row}: {column} {raw_v!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise InputDataError(f"{path}: row {row}: {column} {raw_v!r} must be finite and >= 0")
        if value > MAX_DISCHARGE_M3S:  # beyond any river's flood: a unit or a typing error
            raise InputDataError(f"{path}: row {row}: {column} {raw_v!r} is above {MAX_DISCHARGE_M3S:g} m3 s-1, more "
                                 "than any river carries; check the value and its units")
        if times and stamp <= times[-1]:
            raise InputDataError(f"{path}: row {row}: time {raw_t!r} is not after the previous row's "
                                 f"{times[-1].isoformat()}; times must increase")
        times.append(stamp)
        values[i] = value
    return pd.DatetimeIndex(times), values, zoned == {True}


def _check_step_sees_inflow(inflow: Path, at_s: NDArray, q_in: NDArray, seconds: NDArray, inflow_at: NDArray,
                            dt_s: float, start) -> None:
    """Refuse a step so coarse that the step ends miss the inflow's peak or volume (the inflow is sampled at
    step ends): a --dt of 12 h over a 3-hourly flood routed a 600 m3/s trickle instead of a 4,000 m3/s peak."""
    inside = at_s <= seconds[-1] + 1e-6
    file_peak = float(q_in[inside].max())
    k = int(np.argmax(np.where(inside, q_in, -1.0)))
    end = seconds[-1]
    grid = np.union1d(at_s[inside], [end])  # the file's own volume over the routed span, trapezoids between its points
    file_volume = float(np.trapezoid(np.interp(grid, at_s, q_in), grid))
    step_volume = float(np.trapezoid(inflow_at, seconds))
    missed_peak = inflow_at.max() < (1.0 - COARSE_STEP_TOLERANCE) * file_peak
    missed_volume = abs(step_volume - file_volume) > COARSE_STEP_TOLERANCE * max(file_volume, 1e-9)
    if missed_peak or missed_volume:
        spacing = int(np.gcd.reduce(np.round(at_s).astype(np.int64)))  # every step end on a point of the file
        raise InputDataError(f"{inflow}: --dt {dt_s:g} s is too coarse for this inflow: at the step ends it peaks at "
                             f"{inflow_at.max():,.1f} m3/s and carries {step_volume / 1e6:,.3f} hm3, the file "
                             f"{file_peak:,.1f} m3/s (at {(start + pd.to_timedelta(at_s[k], unit='s')).isoformat()}) and "
                             f"{file_volume / 1e6:,.3f} hm3; take a --dt that divides {spacing} s (its times fall on "
                             "multiples of it)")


def _check_schedule_names(schedule: Path, reservoir_id: str) -> None:
    """A schedule with a ``reservoir`` column (the rehearsal's layout) must name only this reservoir."""
    table = read_table(Path(schedule), "release schedule")
    if "reservoir" not in table.header:
        return
    for line, fields in table.records():
        if fields["reservoir"] is not None and fields["reservoir"].strip() != reservoir_id:
            raise InputDataError(f"{schedule}: row {line}: reservoir {fields['reservoir']!r} is not {reservoir_id!r}, "
                                 "the reservoir being routed; give only its rows")


def route_reservoir(reservoir: Path, inflow: Path, output: Path, schedule: Path | None = None,
                    dt_s: float = 3600.0, initial_level: float | None = None) -> dict:
    """Read, check, route and write ``output`` atomically; returns a summary (peaks, cannot-follow events)."""
    if not (math.isfinite(dt_s) and dt_s > 0):
        raise ConfigError(f"--dt {dt_s:g}: the step must be a positive number of seconds")
    spec = read_reservoir(reservoir)
    curves, rules = spec.curves(), spec.rules()
    free = spec.spillway == "free"
    if free and schedule is not None:
        raise ConfigError(f"{reservoir}: spillway = \"free\" has no gates to follow --schedule {schedule}; "
                          "set spillway = \"gated\" or leave the schedule out")
    if initial_level is None:
        initial_level = curves.crest_level if free else rules.flood_limit_level
    elif not (math.isfinite(initial_level) and curves.level_m[0] <= initial_level <= curves.level_m[-1]):
        raise ConfigError(f"--initial-level {initial_level!r} m is outside {reservoir}'s curves "
                          f"[{curves.level_m[0]:g}, {curves.level_m[-1]:g}] m")
    t_in, q_in, zoned = read_series(inflow, "inflow_m3s", "inflow")
    if len(t_in) < 2:
        raise InputDataError(f"{inflow}: inflow needs at least two rows, got {len(t_in)}")
    span = (t_in[-1] - t_in[0]).total_seconds()
    n = int(math.floor(span / dt_s + 1e-9))
    if n < 1:
        raise InputDataError(f"{inflow}: the inflow spans {span:g} s, less than one step of --dt {dt_s:g} s")
    if n > MAX_STEPS:
        raise InputDataError(f"{inflow}: the inflow spans {t_in[0].isoformat()} .. {t_in[-1].isoformat()}: {n:,} steps of "
                             f"--dt {dt_s:g} s, more than {MAX_STEPS:,}; check the times (a mistyped year?) or take a "
                             "longer --dt")
    check_output_dir(output, (n + 1) * 100, f"{n + 1:,} rows of about 100 bytes")  # before the routing
    seconds = np.arange(n + 1) * dt_s
    times = t_in[0] + pd.to_timedelta(seconds, unit="s")
    at_s = (t_in - t_in[0]).total_seconds().to_numpy()
    inflow_at = np.interp(seconds, at_s, q_in)
    _check_step_sees_inflow(inflow, at_s, q_in, seconds, inflow_at, dt_s, t_in[0])
    left_out = span - seconds[-1]
    if left_out > 1e-6:
        log.warning("%s: the last %g s of the inflow (after %s) are not routed: --dt %g s does not divide its span of "
                    "%g s", inflow, left_out, times[-1].isoformat(), dt_s, span)
    releases = None
    if schedule is not None:
        t_s, q_s, schedule_zoned = read_series(schedule, "release_m3s", "release schedule")
        if schedule_zoned != zoned:  # a zoned time is converted to UTC; a plain one is taken as UTC: mixed, they disagree
            raise InputDataError(f"{schedule}: its times {'carry' if schedule_zoned else 'lack'} a time zone and "
                                 f"{inflow}'s {'do not' if schedule_zoned else 'carry one'}; write both with an offset "
                                 "(e.g. +08:00) or both in UTC without one")
        _check_schedule_names(schedule, spec.id)
        if len(t_s) > 1 and t_s[-1] < times[0]:
            raise InputDataError(f"{schedule}: every release ({t_s[0].isoformat()} .. {t_s[-1].isoformat()}) is before "
                                 f"the inflow's start {times[0].isoformat()}; the schedule is for another period")
        if t_s[0] > times[-1]:
            raise InputDataError(f"{schedule}: every release ({t_s[0].isoformat()} .. {t_s[-1].isoformat()}) is after the "
                                 f"inflow's end {times[-1].isoformat()}; the schedule is for another period")
        if t_s[0] > times[0]:
            raise InputDataError(f"{schedule}: row 2: the first release is at {t_s[0].isoformat()}, after the first "
                                 f"inflow time {times[0].isoformat()}; give the release from the start")
        # a release holds from a step's start: a change between two (00:30 with hourly steps) would be skipped
        offset = (t_s - times[0]).total_seconds().to_numpy()
        between = np.abs(offset / dt_s - np.round(offset / dt_s)) > 1e-9
        off_grid = np.flatnonzero((offset > 0.0) & (offset <= seconds[-1]) & between)
        if off_grid.size:
            k = int(off_grid[0])
            raise InputDataError(f"{schedule}: the release at {t_s[k].isoformat()} changes between two step starts "
                                 f"(--dt {dt_s:g} s from {times[0].isoformat()}): it would be skipped; give changes at step "
                                 "starts, or a --dt that divides their spacing")
        releases = q_s[np.searchsorted(t_s.to_numpy(), times[:-1].to_numpy(), side="right") - 1]
    try:
        op = operate(curves, rules, inflow_at, dt_s, initial_level, schedule=releases, free_spill=free)
    except Overtopping as exc:  # the operation counts steps; the user reads times
        at = times[min(exc.step, len(times) - 1)].isoformat()
        raise InputDataError(f"{reservoir}: {Overtopping(exc.name, exc.step, exc.top_m, at)}") from None
    stamp = [t.isoformat() + ("Z" if zoned else "") for t in times]
    frame = pd.DataFrame({"time": stamp, "inflow_m3s": inflow_at, "release_m3s": op.outflow,
                          "level_m": op.level, "storage_m3": op.storage})
    write_atomic(output, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.10g"))
    events = [{"time": stamp[e.step], "wanted_m3s": e.wanted, "released_m3s": e.released, "limit": e.limit,
               "capacity_m3s": e.capacity, "level_m": e.level,
               "message": f"{stamp[e.step]}: " + e.message.split(": ", 1)[1]} for e in op.cannot_follow]
    peak = int(np.argmax(op.outflow))
    top = int(np.argmax(op.level))
    return {"reservoir": spec.id, "spillway": spec.spillway, "steps": n, "dt_s": dt_s, "inflow_left_out_s": left_out,
            "initial_level_m": float(initial_level), "peak_inflow_m3s": float(inflow_at.max()),
            "peak_release_m3s": float(op.outflow[peak]), "peak_release_time": stamp[peak],
            "peak_level_m": float(op.level[top]), "peak_level_time": stamp[top],
            "binding": {k: op.binding.count(k) for k in sorted(set(op.binding))},
            "cannot_follow": events, "output": str(output)}
