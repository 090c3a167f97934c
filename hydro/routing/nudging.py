"""Nudging routed streamflow towards gauge observations, as the NWM's streamflow nudging does.

After every routing step, at each gauged segment with an observation within ``tau`` of the step's
end, the modelled outflow moves towards the observation:

    q <- q + G * w * (q_obs - q),   w = quality/100 * (tau^2 - d^2) / (tau^2 + d^2),

with d the time between the step's end and the nearest observation (the Cressman-type time weight of
the WRF-Hydro / NWM nudging, Gochis et al., WRF-Hydro Technical Description, section on streamflow
nudging) and G the nudging coefficient (NWM default 1). The nudged outflow then feeds the segments
below, so ungauged reaches downstream of a gauge are corrected too. Observations are read from a
table with columns ``time, link, discharge_m3s`` and optional ``quality`` (0-100; USGS timeslice and
the NWM lastobs layout); negative or missing discharges are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InputDataError
from ..core.ids import lookup


@dataclass
class GaugeObservations:
    feature_id: NDArray[np.int64]  # segment of each gauge
    times: NDArray[np.datetime64]  # [n_times]
    flow: NDArray[np.float64]  # [n_times, n_gauges] m3 s-1, NaN = none
    quality: NDArray[np.float64]  # [n_times, n_gauges] 0..1
    source: str = "observations"

    @classmethod
    def read(cls, path: Path) -> GaugeObservations:
        import pandas as pd

        path = Path(path)
        if not path.is_file():
            raise InputDataError(f"{path}: gauge observation file not found")
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, parse_dates=["time"])
        missing = {"time", "link", "discharge_m3s"} - set(table.columns)
        if missing:
            raise InputDataError(f"{path}: gauge observations need columns time, link, discharge_m3s; missing {sorted(missing)}")
        table = table[table["discharge_m3s"].notna() & (table["discharge_m3s"] >= 0)]
        quality = table["quality"] / 100.0 if "quality" in table else 1.0
        flow = table.assign(q=table["discharge_m3s"].astype(float), w=quality).pivot_table(
            index="time", columns="link", values=["q", "w"], aggfunc="mean")
        links = flow["q"].columns.to_numpy(np.int64)
        return cls(links, flow.index.to_numpy().astype("datetime64[s]"), flow["q"].to_numpy(float),
                   flow["w"].reindex(columns=flow["q"].columns).fillna(0.0).to_numpy(float), str(path))


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
