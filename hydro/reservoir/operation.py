"""Reservoir operation for flood dispatch: curves, characteristic levels, zone rules, schedule override.

A reservoir is described by its level-storage curve V(Z), its discharge-capacity curve O_cap(Z) (all
gates open), the characteristic levels (flood-limit 汛限, flood-control high 防洪高, design 设计,
check 校核), a minimum release, a maximum release change per hour and the zone rule below. Each step
solves the mass balance V(t+dt) = V(t) + dt (I(t) + I(t+dt))/2 - dt O(t+dt) (release held over the
step, as an operator sets gates). The release starts from the rule (or the given schedule, which
overrides it) and is then limited in turn by the ramp limit, the minimum release, the discharge
capacity at the end-of-step level (physics wins over every rule) and the water available.
``binding`` records which of these set each step's release.

Zone rule (a simplified 调度规程): at or below the flood-limit level keep the level (release =
inflow, between the minimum release and ``safe_release``); between the flood-limit and the flood-control high level release what
brings the level back to the end-of-event target (the flood-limit level by default) but at most
``safe_release`` (the downstream safe discharge share), so storage takes only what the river cannot;
above the flood-control high level protect the dam: release up to capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError


@dataclass(frozen=True)
class ReservoirCurves:
    """Tables on increasing levels Z [m]: storage [m3] and discharge capacity [m3 s-1]."""

    level_m: NDArray[np.float64]
    storage_m3: NDArray[np.float64]
    capacity_m3s: NDArray[np.float64]
    name: str = "reservoir"

    def __post_init__(self) -> None:
        z, v, o = (np.asarray(a, dtype=np.float64) for a in (self.level_m, self.storage_m3, self.capacity_m3s))
        if not (z.shape == v.shape == o.shape) or z.ndim != 1 or z.size < 2:
            raise InputDataError(f"{self.name}: level, storage and capacity tables need one common length >= 2")
        if not (np.all(np.diff(z) > 0) and np.all(np.diff(v) > 0) and np.all(np.diff(o) >= 0)):
            raise InputDataError(f"{self.name}: level and storage must increase, capacity must not decrease")
        object.__setattr__(self, "level_m", z)
        object.__setattr__(self, "storage_m3", v)
        object.__setattr__(self, "capacity_m3s", o)

    def storage(self, level: float) -> float:
        return float(np.interp(level, self.level_m, self.storage_m3))

    def level(self, storage: float) -> float:
        return float(np.interp(storage, self.storage_m3, self.level_m))

    def capacity_at_storage(self, storage: float) -> float:
        return float(np.interp(storage, self.storage_m3, self.capacity_m3s))


@dataclass(frozen=True)
class DamStart:
    """A reservoir's state when a run starts: its level [m], the release the gates were set to
    [m3 s-1] (None: unknown, so the ramp limit starts free) and its storage [m3] (None: from the level;
    carried exactly between runs, since level -> storage -> level on the tables is not exact)."""

    level: float
    release: float | None = None
    storage: float | None = None


@dataclass(frozen=True)
class OperatingRules:
    flood_limit_level: float
    flood_control_high_level: float
    design_level: float
    check_level: float
    safe_release: float  # m3 s-1, what the downstream control section can take from this dam
    min_release: float = 0.0
    max_ramp_per_hour: float = np.inf  # m3 s-1 per hour
    end_target_level: float | None = None  # level to return to after the flood (default: flood-limit)

    def check(self, curves: ReservoirCurves) -> None:
        levels = [self.flood_limit_level, self.flood_control_high_level, self.design_level, self.check_level]
        if sorted(levels) != levels:
            raise ConfigError(f"{curves.name}: characteristic levels must rise: flood-limit <= flood-control high "
                              f"<= design <= check, got {levels}")
        if levels[0] < curves.level_m[0] or levels[-1] > curves.level_m[-1]:
            raise ConfigError(f"{curves.name}: characteristic levels {levels} leave the curves' range "
                              f"[{curves.level_m[0]}, {curves.level_m[-1]}] m; extend the level-storage curve")
        if self.end_target_level is not None and not curves.level_m[0] <= self.end_target_level <= self.flood_control_high_level:
            raise ConfigError(f"{curves.name}: end_target_level {self.end_target_level} must lie between the lowest "
                              f"level of the curves and the flood-control high level {self.flood_control_high_level}")
        if self.min_release < 0 or self.safe_release < self.min_release or self.max_ramp_per_hour <= 0:
            raise ConfigError(f"{curves.name}: need 0 <= min_release <= safe_release and a positive ramp limit")


@dataclass
class OperationResult:
    level: NDArray[np.float64]  # [n + 1] m, index 0 = start
    storage: NDArray[np.float64]  # [n + 1] m3
    release: NDArray[np.float64]  # [n] m3 s-1 over each step
    binding: list[str]  # per step: which limit set the release ('rule', 'schedule', 'dam safety', 'capacity', 'ramp', 'minimum')


def operate(curves: ReservoirCurves, rules: OperatingRules, inflow: NDArray, dt_s: float, initial_level: float,
            schedule: NDArray | None = None, initial_release: float | None = None,
            initial_storage: float | None = None) -> OperationResult:
    """Simulate the reservoir over ``inflow`` [m3 s-1 at n + 1 times] with the zone rule or a release schedule.

    ``initial_release`` (the gate setting before the run) makes the ramp limit apply from the first step;
    ``initial_storage`` (when known exactly, e.g. from the previous run) replaces the storage at ``initial_level``."""
    rules.check(curves)
    inflow = np.asarray(inflow, dtype=np.float64)
    if inflow.ndim != 1 or inflow.size < 2 or not np.isfinite(inflow).all() or (inflow < 0).any():
        raise InputDataError(f"{curves.name}: inflow must be finite, non-negative, with at least two times")
    n = inflow.size - 1
    if schedule is not None:
        schedule = np.asarray(schedule, dtype=np.float64)
        if schedule.shape != (n,) or (schedule < 0).any() or not np.isfinite(schedule).all():
            raise InputDataError(f"{curves.name}: release schedule needs {n} finite non-negative values")
    ramp = rules.max_ramp_per_hour * dt_s / 3600.0
    storage = np.empty(n + 1)
    release = np.empty(n)
    storage[0] = curves.storage(initial_level) if initial_storage is None else float(initial_storage)
    target_storage = curves.storage(rules.end_target_level if rules.end_target_level is not None
                                    else rules.flood_limit_level)
    high_storage = curves.storage(rules.flood_control_high_level)
    binding = []
    previous = initial_release
    for t in range(n):
        mean_in = 0.5 * (inflow[t] + inflow[t + 1])
        level = curves.level(storage[t])
        if schedule is not None:
            wanted, why = schedule[t], "schedule"
            # dam safety overrides a schedule: never hold water above the flood-control high level
            # (what the schedule did not foresee, e.g. a larger inflow, is passed on, up to capacity)
            keep_below = mean_in + (storage[t] - high_storage) / dt_s
            if keep_below > wanted:
                wanted, why = keep_below, "dam safety"
        elif level <= rules.flood_limit_level:
            # hold the flood-limit level (pass the inflow) while the river can take it; a flood beyond
            # the safe discharge starts filling the flood-control storage
            excess = (storage[t] - curves.storage(rules.flood_limit_level)) / dt_s
            wanted, why = min(mean_in + max(excess, 0.0), rules.safe_release), "rule"
        elif level <= rules.flood_control_high_level:
            # evacuate flood storage as fast as the downstream safe discharge allows, back to the target
            back_to_target = mean_in + (storage[t] - target_storage) / dt_s
            wanted, why = min(max(back_to_target, rules.min_release), rules.safe_release), "rule"
        else:
            wanted, why = np.inf, "rule"  # protect the dam: all it can pass
        o = wanted
        if previous is not None and np.isfinite(ramp):
            if o > previous + ramp:
                o, why = previous + ramp, "ramp"
            elif o < previous - ramp:
                o, why = previous - ramp, "ramp"
        if o < rules.min_release:
            o, why = rules.min_release, "minimum"
        # o within the capacity at the level it leaves is below the implicit capacity root: no solve needed
        if o > curves.capacity_at_storage(storage[t] + dt_s * (mean_in - o)):
            o, why = _capacity_after(curves, storage[t], mean_in, dt_s), "capacity"
        # never release water the reservoir does not hold
        o = min(o, mean_in + storage[t] / dt_s)
        release[t] = o
        storage[t + 1] = storage[t] + dt_s * (mean_in - o)
        if storage[t + 1] > curves.storage_m3[-1]:
            raise InputDataError(f"{curves.name}: storage exceeds the level-storage curve at step {t + 1} "
                                 f"(above {curves.level_m[-1]} m); extend the curve or the dam overtops")
        binding.append(why)
        previous = o
    levels = np.interp(storage, curves.storage_m3, curves.level_m)
    return OperationResult(levels, storage, release, binding)


def _capacity_after(curves: ReservoirCurves, storage: float, mean_in: float, dt_s: float) -> float:
    """The release that equals the capacity at the end-of-step storage it produces (implicit in time):
    solve O = O_cap(V + dt (I - O)) by bisection; O_cap rises with V, so the root is unique."""
    lo, hi = 0.0, curves.capacity_m3s[-1]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if mid <= curves.capacity_at_storage(storage + dt_s * (mean_in - mid)):
            lo = mid
        else:
            hi = mid
    return lo
