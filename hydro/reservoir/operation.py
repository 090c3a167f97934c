"""Reservoir operation for flood dispatch: curves, characteristic levels, zone rules, schedule override.

A reservoir is described by its level-storage curve V(Z), its discharge-capacity curve O_cap(Z) (all
gates open), the characteristic levels (flood-limit 汛限, flood-control high 防洪高, design 设计,
check 校核), a minimum release, a maximum release change per hour and the zone rule below.

Each step the operator sets the gates once: an order ``g`` (from the rule, or the given schedule, which
overrides it) limited in turn by the ramp limit and the minimum release. The reservoir then passes, at
every instant, ``min(g, O_cap(Z))``: the order while the gates can pass it, the discharge capacity at the
level of that instant otherwise (physics wins over every rule). The level-pool mass balance is
integrated by the trapezoidal rule in time (second order), on inflow and outflow alike:

    V(t+dt) = V(t) + dt (I(t) + I(t+dt)) / 2 - dt (O(t) + O(t+dt)) / 2,  O(.) = min(g, O_cap(V(.))),

solved exactly on the piecewise-linear tables. With the gates wide open (a free spill, or "all it can
pass" above the flood-control high level) this IS storage-indication (modified Puls) routing of the same
curves (Chow, Maidment & Mays 1988, section 8.2; :mod:`hydro.reservoir.storage_indication`); with an order
the capacity never binds the release is ``g`` held over the step, exactly.

"The level reached within the step" for the capacity cap: the release is capped by the capacity at the
level at the start and at the end of the step, the two points the trapezoid uses. Within the step the
storage is a quadratic in time; where it dips below both ends (inflow rising through the release) and
the capacity at that lowest level is below the order, the step is integrated again in 16 sub-steps with
the same rule, so the cap holds at every sub-step end. For a wide-open outlet the release between the
step ends is the linear interpolation that storage-indication assumes.

``release[t]`` is the mean release over step t (its volume / dt: what goes downstream and what the mass
balance uses); ``outflow`` the instantaneous release at the n + 1 step ends. ``binding`` records which
limit set each step's order: 'rule', 'schedule', 'dam safety', 'ramp', 'minimum', or 'capacity' where the
capacity at a level reached bound the release. Where a schedule cannot be followed, ``cannot_follow``
lists the step, the release wanted and given, the limit, and the capacity and level where it bound:
nothing is capped silently. A step depends only on its own inflow, order and the state carried from the
previous step (storage and the mean release, for the ramp limit), so a run split anywhere continues
bit for bit.

Zone rule (a simplified 调度规程): at or below the flood-limit level keep the level (release =
inflow, between the minimum release and ``safe_release``); between the flood-limit and the flood-control high level release what
brings the level back to the end-of-event target (the flood-limit level by default) but at most
``safe_release`` (the downstream safe discharge share), so storage takes only what the river cannot;
above the flood-control high level protect the dam: release up to capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..kernels import reservoir as kr

SUB_STEPS = kr.OP_SUB_STEPS  # sub-steps of a step whose storage dips, within it, to a level whose capacity is below the order
_WHY = {kr.WHY_RULE: "rule", kr.WHY_SCHEDULE: "schedule", kr.WHY_DAM_SAFETY: "dam safety", kr.WHY_RAMP: "ramp",
        kr.WHY_MINIMUM: "minimum", kr.WHY_CAPACITY: "capacity"}  # the limit that set each step's order


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
        if not (np.isfinite(z).all() and np.isfinite(v).all() and np.isfinite(o).all()) or o[0] < 0:
            raise InputDataError(f"{self.name}: level, storage and capacity tables must be finite, capacity >= 0")
        for values, label, strict in ((z, "level_m", True), (v, "storage_m3", True), (o, "capacity_m3s", False)):
            step = np.diff(values)
            bad = np.flatnonzero(step <= 0 if strict else step < 0)
            if bad.size:
                k = int(bad[0])
                raise InputDataError(f"{self.name}: {label}[{k + 1}] = {values[k + 1]:g} after {label}[{k}] = "
                                     f"{values[k]:g} (points counted from 0): level and storage must increase, "
                                     "capacity must not decrease; fix the table")
        object.__setattr__(self, "level_m", z)
        object.__setattr__(self, "storage_m3", v)
        object.__setattr__(self, "capacity_m3s", o)

    def storage(self, level: float) -> float:
        return float(np.interp(level, self.level_m, self.storage_m3))

    def level(self, storage: float) -> float:
        return float(np.interp(storage, self.storage_m3, self.level_m))

    def capacity_at_storage(self, storage: float) -> float:
        return float(np.interp(storage, self.storage_m3, self.capacity_m3s))

    @property
    def crest_level(self) -> float:
        """The level where the outlet starts to pass water: the highest tabulated level with zero capacity
        (the lowest level of the table where the capacity is positive everywhere)."""
        dry = np.flatnonzero(self.capacity_m3s <= 0.0)
        return float(self.level_m[dry[-1]] if dry.size else self.level_m[0])


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
            raise ConfigError(f"{curves.name}: need 0 <= min_release <= safe_release and a positive ramp limit (have "
                              f"min_release {self.min_release:g}, safe_release {self.safe_release:g}, max_ramp_per_hour "
                              f"{self.max_ramp_per_hour:g})")


@dataclass(frozen=True)
class CannotFollow:
    """A step where the release differs from the schedule: the step index (its start is time index
    ``step``), the release wanted and the mean release given [m3 s-1], the limit that bound ('capacity',
    'dam safety', 'ramp', 'minimum'), and the lowest level the step reached [m] with the capacity there."""

    step: int
    wanted: float
    released: float
    limit: str
    capacity: float
    level: float

    @property
    def message(self) -> str:
        reason = {"capacity": f"capacity at {self.level:.2f} m is {self.capacity:,.1f} m3/s",
                  "dam safety": "the level would rise above the flood-control high level",
                  "ramp": "the ramp limit", "minimum": "the minimum release"}.get(self.limit, self.limit)
        return (f"step {self.step}: cannot release {self.wanted:,.1f} m3/s: {reason} "
                f"(released {self.released:,.1f})")


@dataclass
class OperationResult:
    level: NDArray[np.float64]  # [n + 1] m, index 0 = start
    storage: NDArray[np.float64]  # [n + 1] m3
    release: NDArray[np.float64]  # [n] m3 s-1, mean over each step (volume / dt)
    binding: list[str]  # per step: which limit set the release ('rule', 'schedule', 'dam safety', 'capacity', 'ramp', 'minimum')
    outflow: NDArray[np.float64] | None = None  # [n + 1] m3 s-1, instantaneous release at the step ends
    wanted: NDArray[np.float64] | None = None  # [n] m3 s-1, the order asked for (inf: all the outlet can pass)
    cannot_follow: list[CannotFollow] = field(default_factory=list)  # schedule steps not followed, and why


class Overtopping(InputDataError):
    """The storage left the level-storage curve in step ``step`` (1-based: the step ending at the step-th time
    after the start); a caller that knows the times says when (``at``)."""

    def __init__(self, name: str, step: int, top_m: float, at: str | None = None) -> None:
        self.name, self.step, self.top_m = name, step, top_m
        when = f"in the step ending {at}" if at is not None else f"at step {step}"
        super().__init__(f"{name}: storage exceeds the level-storage curve {when} (above {top_m} m); extend the "
                         "curve or the dam overtops")


def operate(curves: ReservoirCurves, rules: OperatingRules, inflow: NDArray, dt_s: float, initial_level: float,
            schedule: NDArray | None = None, initial_release: float | None = None,
            initial_storage: float | None = None, *, free_spill: bool = False) -> OperationResult:
    """Simulate the reservoir over ``inflow`` [m3 s-1 at n + 1 times, linear within each step] with the zone
    rule or a release schedule [n, m3 s-1, each held over its step]; see the module docstring for the
    integration and the limits.

    ``initial_release`` (the gate setting before the run) makes the ramp limit apply from the first step;
    ``initial_storage`` (when known exactly, e.g. from the previous run) replaces the storage at ``initial_level``.
    ``free_spill``: an ungated outlet, release = capacity at the level at every instant (storage-indication
    routing); the rule, the minimum release and the ramp limit do not apply and a schedule is refused."""
    rules.check(curves)
    inflow = np.asarray(inflow, dtype=np.float64)
    if inflow.ndim != 1 or inflow.size < 2 or not np.isfinite(inflow).all() or (inflow < 0).any():
        raise InputDataError(f"{curves.name}: inflow must be finite, non-negative, with at least two times")
    if not (np.isfinite(dt_s) and dt_s > 0):
        raise ConfigError(f"{curves.name}: the step must be a positive number of seconds, got {dt_s}")
    n = inflow.size - 1
    if schedule is not None:
        if free_spill:
            raise ConfigError(f"{curves.name}: a free spillway has no gates; it cannot follow a release schedule")
        schedule = np.asarray(schedule, dtype=np.float64)
        if schedule.shape != (n,) or (schedule < 0).any() or not np.isfinite(schedule).all():
            raise InputDataError(f"{curves.name}: release schedule needs {n} finite non-negative values")
    ramp = rules.max_ramp_per_hour * dt_s / 3600.0
    storage = np.empty(n + 1)
    release = np.empty(n)
    outflow = np.empty(n + 1)
    wanted_out = np.empty(n)
    why = np.zeros(n, np.int64)
    lowest = np.empty(n)
    s_tab, o_tab = curves.storage_m3, curves.capacity_m3s
    target_storage = curves.storage(rules.end_target_level if rules.end_target_level is not None
                                    else rules.flood_limit_level)
    mode = kr.OP_FREE_SPILL if free_spill else kr.OP_SCHEDULE if schedule is not None else kr.OP_RULE
    over = kr.operate_dam(
        mode, s_tab, o_tab, 2.0 * s_tab / dt_s + o_tab, 2.0 * s_tab / (dt_s / SUB_STEPS) + o_tab, inflow, float(dt_s),
        curves.storage(initial_level) if initial_storage is None else float(initial_storage),
        schedule if schedule is not None else np.zeros(n), np.nan if initial_release is None else float(initial_release),
        float(ramp), float(rules.min_release), float(rules.safe_release), curves.storage(rules.flood_limit_level),
        curves.storage(rules.flood_control_high_level), target_storage, storage, release, outflow, wanted_out, why, lowest)
    if over:
        raise Overtopping(curves.name, over, float(curves.level_m[-1]))
    binding = [_WHY[k] for k in why]
    events = []
    if schedule is not None:
        for t in np.flatnonzero(np.abs(release - schedule) > 1e-6 * np.maximum(schedule, 1.0)):
            events.append(CannotFollow(int(t), float(schedule[t]), float(release[t]), binding[t],
                                       float(np.interp(lowest[t], s_tab, o_tab)), curves.level(lowest[t])))
    levels = np.interp(storage, curves.storage_m3, curves.level_m)
    return OperationResult(levels, storage, release, binding, outflow, wanted_out, events)
