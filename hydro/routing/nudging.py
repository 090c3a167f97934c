"""Nudging routed streamflow towards gauge observations, as the NWM's streamflow nudging does.

After every routing step, at each gauged segment with an observation within ``tau`` of the step's
end, the modelled outflow moves towards the observation:

    q <- q + G * w * (q_obs - q),   w = quality/100 * (tau^2 - d^2) / (tau^2 + d^2),

with d the time between the step's end and the nearest observation (the Cressman-type time weight of
the WRF-Hydro / NWM nudging, Gochis et al., WRF-Hydro Technical Description, section on streamflow
nudging) and G the nudging coefficient (NWM default 1). The nudged outflow then feeds the segments
below, so ungauged reaches downstream of a gauge are corrected too. The observations
(:class:`GaugeObservations`) are read from their table by :func:`hydro.io.observations.read_gauge_observations`.

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

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..core.ids import lookup


@dataclass
class GaugeObservations:
    """Observed discharge at gauged segments (read by hydro.io.observations.read_gauge_observations)."""

    feature_id: NDArray[np.int64]  # segment of each gauge
    times: NDArray[np.datetime64]  # [n_times]
    flow: NDArray[np.float64]  # [n_times, n_gauges] m3 s-1, NaN = none
    quality: NDArray[np.float64]  # [n_times, n_gauges] 0..1
    source: str = "observations"


class Nudging:
    """The per-step update for a routing run that starts at ``start`` with step ``dt`` [s]."""

    def __init__(self, obs: GaugeObservations, feature_id: NDArray[np.int64], start: np.datetime64, dt: float,
                 coefficient: float = 1.0, tau_s: float = 900.0):
        pos, found = lookup(np.asarray(feature_id, np.int64), obs.feature_id)
        if not found.any():
            raise InputDataError(f"{obs.source}: none of the {obs.feature_id.size} gauges is on the network")
        self.positions = pos[found]  # network order
        self.gauge_ids = np.asarray(feature_id, np.int64)[self.positions]
        self.flow, self.quality = obs.flow[:, found], obs.quality[:, found]
        self.obs_s = (obs.times - np.datetime64(start, "s")).astype(np.float64)
        self.dt, self.coefficient, self.tau_s = float(dt), float(coefficient), float(tau_s)
        self.layout_positions = self.positions  # set by the model to its internal order
        self.applied = 0
        # per application, per gauge (float32, as the state): outflow before and after the correction and the
        # depth the correction leaves in place; what the water balance measures the nudging's water on
        # (hydro.stages.water_balance.nudging_water_m3)
        self.corrections: list[tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]] = []
        self.correction_steps: list[int] = []  # the step each correction ended (counted from the run's start)
        # under t-route's convention the model sets ``below`` = (its index of the segment below each gauge, or -1;
        # its upstream CSR) and ``below_ids``; each application then records the summed outflow into those
        # segments before and after (their inflow wedge holds water too)
        self.below: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]] | None = None
        self.below_ids = np.full(self.gauges, -1, np.int64)
        self.inflow_below: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = []

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

    def __call__(self, step_end: int, q: NDArray[np.float32], depth: NDArray[np.float32] | None = None) -> None:
        """Nudge the state ``q`` (the model's internal order) in place; ``depth`` (same order; the model's
        depth, which the correction does not change) is recorded with the outflows before and after."""
        weight, value = self.weights(step_end)
        use = weight > 0
        if use.any():
            before = q[self.layout_positions]
            inflow = self._inflow_below(q) if self.below is not None else None
            at = self.layout_positions[use]
            q[at] = (q[at] + weight[use] * (value[use] - q[at])).astype(np.float32)
            self.applied += int(use.sum())
            h = (np.full(self.gauges, np.nan, np.float32) if depth is None
                 else np.asarray(depth[self.layout_positions], np.float32))
            self.corrections.append((before, q[self.layout_positions], h))
            self.correction_steps.append(int(step_end))
            if inflow is not None:
                self.inflow_below.append((inflow, self._inflow_below(q)))

    def _inflow_below(self, q: NDArray[np.float32]) -> NDArray[np.float64]:
        """Per gauge, the summed outflow ``q`` into the segment below it (0 where none is in the model)."""
        below, ptr, idx = self.below
        return np.array([q[idx[ptr[b]:ptr[b + 1]]].sum(dtype=np.float64) if b >= 0 else 0.0 for b in below])


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

    def __call__(self, step_end: int, q: NDArray[np.float32], depth: NDArray[np.float32] | None = None) -> None:
        before = q[self.layout_positions].astype(np.float64)
        super().__call__(step_end, q, depth)
        self.increments.append(q[self.layout_positions].astype(np.float64) - before)
