"""Nudging routed streamflow towards gauge observations, as the NWM's streamflow nudging does.

After every routing step, at each gauged segment with an observation within ``tau`` of the step's
end, the modelled outflow moves towards the observation:

    q <- q + G * w * (q_obs - q),   w = quality/100 * (tau^2 - d^2) / (tau^2 + d^2),

with d the time between the step's end and the nearest observation (the Cressman-type time weight of
the WRF-Hydro / NWM nudging, Gochis et al., WRF-Hydro Technical Description, section on streamflow
nudging) and G the nudging coefficient (NWM default 1). The nudged outflow then feeds the segments
below, so ungauged reaches downstream of a gauge are corrected too. Observations are read from a
table with columns ``time, link, discharge_m3s`` and optional ``quality`` (0-100; USGS timeslice and
the NWM lastobs layout). Discharge is in m3 s-1, as the column name says (the table carries no units
attribute). Every row is checked: a time that does not parse, a link that is not a positive whole number
(or not a segment of the network, when the reader is given it), a discharge that is missing, not a number
or outside the plausible range of ``core.variables`` (0 .. 3e5 m3 s-1), a quality outside 0 .. 100 is one
InputDataError naming the file, the row and the value. A gauge without an observation at a time has no row.

In the forecast (after the issue time no observation is known) the correction is carried, as t-route carries
the NWM's streamflow nudging into its forecasts (``simple_da`` / ``obs_persist_shift``,
NOAA-OWP/t-route src/troute-routing/troute/routing/fast_reach/mc_reach.pyx and simple_da.pyx): after every
step, at each gauged segment,

    q <- q + w0 * exp(-a / T) * (q_last - q),

with ``q_last`` the gauge's last observation at or before the issue time, ``a`` its age at the step's end,
``T`` the decay time (t-route ``da_decay_coefficient``, minutes, default 120 in
src/troute-network/troute/DataAssimilation.py) and ``w0 = G * quality`` the
weight that observation had in the analysis (1 for a best-quality observation with G = 1, where this is
t-route's formula exactly). The forecast so starts at the last observation and relaxes to the model; the
corrected flow feeds the segments below, as in the analysis (:class:`PersistedNudging`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..core.ids import lookup
from ..core.variables import check_range


def _read_errors() -> tuple[type[BaseException], ...]:
    """What a damaged table raises: pandas' parser errors are ValueErrors, pyarrow has its own."""
    try:
        from pyarrow.lib import ArrowException
    except ImportError:  # parquet needs pyarrow; without it a CSV is all that can be read
        return (OSError, ValueError)
    return (OSError, ValueError, ArrowException)


@dataclass
class GaugeObservations:
    feature_id: NDArray[np.int64]  # segment of each gauge
    times: NDArray[np.datetime64]  # [n_times]
    flow: NDArray[np.float64]  # [n_times, n_gauges] m3 s-1, NaN = none
    quality: NDArray[np.float64]  # [n_times, n_gauges] 0..1
    source: str = "observations"

    @classmethod
    def read(cls, path: Path, feature_id: NDArray[np.int64] | None = None) -> GaugeObservations:
        """The table at ``path`` (parquet, else CSV); with ``feature_id`` (the network's segments) a link
        off the network is refused too."""
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
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False) if csv else pd.read_parquet(path)
        except _read_errors() as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputDataError(f"{path}: cannot read gauge observations ({reason}); the file is damaged or not a "
                                 f"{'CSV' if csv else 'parquet'} table, rewrite it") from None
        missing = {"time", "link", "discharge_m3s"} - set(table.columns)
        if missing:
            raise InputDataError(f"{path}: gauge observations need columns time, link, discharge_m3s (m3 s-1)"
                                 f"[, quality]; missing {sorted(missing)}, found {sorted(map(str, table.columns))[:6]}")
        if table.empty:
            raise InputDataError(f"{path}: gauge observation table has no rows; give at least one observation "
                                 "or remove [assimilation] observations")

        def row(i: int) -> str:  # 1-based data row; in a CSV also its line (the header is line 1)
            return f"row {i + 1} (line {i + 2})" if csv else f"row {i + 1}"

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
            values = pd.to_numeric(table[column].astype(str).str.strip() if csv else table[column], errors="coerce")
            text = table[column].astype(str).str.strip()
            blank = text.isin(["", "nan", "NaN", "NA", "N/A", "null", "None", "<NA>"])
            refuse(column, values.isna() & blank, "is missing",
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
        return cls(links, pivot.index.to_numpy().astype("datetime64[s]"), pivot["q"].to_numpy(float),
                   pivot["w"].reindex(columns=pivot["q"].columns).fillna(0.0).to_numpy(float), str(path))


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
        f"{path}: link {frame.at[i, 'link']} at {pd.Timestamp(frame.at[i, 'time']).isoformat()} is given twice with different values: "
        f"discharge_m3s {frame.at[i, 'q']:g} at {row(i)} and {frame.at[j, 'q']:g} at {row(j)} ({pairs} such "
        "(time, link) pair(s)); keep one observation per gauge and time")


class Nudging:
    """The per-step update for a routing run that starts at ``start`` with step ``dt`` [s]."""

    def __init__(self, obs: GaugeObservations, feature_id: NDArray[np.int64], start: np.datetime64, dt: float,
                 coefficient: float = 1.0, tau_s: float = 900.0):
        pos, found = lookup(np.asarray(feature_id, np.int64), obs.feature_id)
        if not found.any():
            raise InputDataError(f"{obs.source}: none of the {obs.feature_id.size} gauges is on the network")
        self.positions = pos[found]  # network order
        self.flow, self.quality = obs.flow[:, found], obs.quality[:, found]
        self.obs_s = (obs.times - np.datetime64(start, "s")).astype(np.float64)
        self.dt, self.coefficient, self.tau_s = float(dt), float(coefficient), float(tau_s)
        self.layout_positions = self.positions  # set by the model to its internal order
        self.applied = 0

    @property
    def gauges(self) -> int:
        return int(self.positions.size)

    def in_run(self, n_steps: int) -> tuple[int, int]:
        """(usable observations, gauges having one) within ``tau`` of a step end of a run of ``n_steps`` steps:
        what the run can nudge towards (an observation outside that window has no weight)."""
        ends = (self.obs_s > self.dt - self.tau_s) & (self.obs_s < n_steps * self.dt + self.tau_s)
        usable = ends[:, None] & np.isfinite(self.flow) & (self.quality > 0)
        return int(usable.sum()), int(usable.any(axis=0).sum())

    def weights(self, step_end: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(weight, observation) per gauge for the step ending ``step_end`` steps after the start."""
        t = step_end * self.dt
        k = int(np.searchsorted(self.obs_s, t))
        weight = np.zeros(self.gauges)
        value = np.zeros(self.gauges)
        best = np.full(self.gauges, np.inf)
        for i in (k - 1, k):
            if 0 <= i < self.obs_s.size:
                d = abs(self.obs_s[i] - t)
                if d >= self.tau_s:
                    continue
                have = np.isfinite(self.flow[i]) & (d < best)
                w = self.quality[i] * (self.tau_s**2 - d**2) / (self.tau_s**2 + d**2)
                weight[have], value[have], best[have] = w[have], self.flow[i][have], d
        return weight * self.coefficient, value

    def __call__(self, step_end: int, q: NDArray[np.float32]) -> None:
        """Nudge the state ``q`` (the model's internal order) in place."""
        weight, value = self.weights(step_end)
        use = weight > 0
        if use.any():
            at = self.layout_positions[use]
            q[at] = (q[at] + weight[use] * (value[use] - q[at])).astype(np.float32)
            self.applied += int(use.sum())


class PersistedNudging(Nudging):
    """The forecast's nudging from ``issue`` (module docstring): each gauge's last observation at or before the
    issue time (a usable one: finite, quality above 0) pulls the routed flow with the weight it had in the
    analysis, decaying as exp(-age / ``decay_minutes``). Observations after the issue time are never used."""

    def __init__(self, obs: GaugeObservations, feature_id: NDArray[np.int64], issue: np.datetime64, dt: float,
                 coefficient: float = 1.0, decay_minutes: float = 120.0):
        if not decay_minutes > 0:
            raise ConfigError(f"forecast decay time {decay_minutes!r} min: give a positive number of minutes "
                              "(t-route's da_decay_coefficient; 0 in the configuration switches the carry off)")
        super().__init__(obs, feature_id, issue, dt, coefficient)
        usable = (self.obs_s[:, None] <= 0.0) & np.isfinite(self.flow) & (self.quality > 0)
        has = usable.any(axis=0)
        last = np.where(has, self.obs_s.size - 1 - np.argmax(usable[::-1], axis=0), 0)
        cols = np.arange(self.gauges)
        self.last_flow = np.where(has, self.flow[last, cols], 0.0)
        self.last_weight = np.where(has, self.quality[last, cols] * self.coefficient, 0.0)  # w0 = G * quality
        self.last_age_s = np.where(has, -self.obs_s[last], np.inf)  # age at the issue time [s]
        self.decay_s = 60.0 * float(decay_minutes)
        self.increments: list[NDArray[np.float64]] = []  # per step, the correction applied per gauge [m3 s-1]

    @property
    def carried(self) -> int:
        """How many gauges carry an observation into the forecast."""
        return int(np.isfinite(self.last_age_s).sum())

    def weights(self, step_end: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        age = self.last_age_s + step_end * self.dt
        return self.last_weight * np.exp(-age / self.decay_s), self.last_flow

    def __call__(self, step_end: int, q: NDArray[np.float32]) -> None:
        before = q[self.layout_positions].astype(np.float64)
        super().__call__(step_end, q)
        self.increments.append(q[self.layout_positions].astype(np.float64) - before)


def added_water_m3(nudgings) -> float:
    """Water the ``nudgings`` (PersistedNudging, one per network piece) put into the channels [m3]: the sum of
    their corrections to the gauged outflows times the step (negative where they took water out). Nudging is
    not mass-conservative; a water balance of a nudged run holds this in its residual."""
    return float(sum(np.sum(n.increments) * n.dt for n in nudgings if n.increments))

