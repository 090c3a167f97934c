"""Boundary conditions of a main-stem run: upstream discharge hydrograph, lateral inflows at chainages, and
the downstream condition (stage hydrograph, rating curve or normal depth). Plain data, checked at
construction; readers in hydro/io/hydraulics.py build them from CSV files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..kernels.saint_venant import CHANNEL, DS_NORMAL, DS_RATING, DS_STAGE, lookup
from .sections import Reach


@dataclass(frozen=True)
class TimeSeries:
    """Instantaneous values at ``time`` (UTC datetime64[ns], strictly increasing), linear in between."""

    time: NDArray[np.datetime64]
    values: NDArray[np.float64]
    source: str = ""
    variable: str = ""

    def seconds_from(self, start: np.datetime64) -> NDArray[np.float64]:
        return (self.time - start) / np.timedelta64(1, "s")

    def at(self, when: np.datetime64) -> float:
        return float(np.interp(float((when - self.time[0]) / np.timedelta64(1, "s")), self.seconds_from(self.time[0]),
                               self.values))


@dataclass(frozen=True)
class Lateral:
    """Lateral inflow [m3 s-1] entering at ``chainage`` [m] (one column each), at ``time``."""

    time: NDArray[np.datetime64]
    chainage: NDArray[np.float64]
    discharge: NDArray[np.float64]  # (n_time, n_chainage)
    source: str = ""

    def reach_matrix(self, reach: Reach) -> NDArray[np.float64]:
        """(n_time, n_nodes - 1): each inflow enters at its nearest node, half into each adjacent reach
        (all of it into the one channel reach at an end node or beside a structure)."""
        lo, hi = reach.chainage[0], reach.chainage[-1]
        out = np.zeros((self.time.size, reach.size - 1))
        for k, x in enumerate(self.chainage):
            if not lo - 1e-6 <= x <= hi + 1e-6:
                raise InputDataError(f"{self.source}: lateral inflow at chainage_m {x:g} lies outside the reach "
                                     f"({lo:g} .. {hi:g} m)")
            i = int(np.argmin(np.abs(reach.chainage - x)))
            # the channel reaches beside the node (a structure stores nothing, so it takes no inflow)
            beside = [j for j in (i - 1, i) if 0 <= j < reach.size - 1 and reach.reach_kind[j] == CHANNEL]
            for j in beside:
                out[:, j] += self.discharge[:, k] / len(beside)
        return out

    def total_at(self, when: np.datetime64) -> NDArray[np.float64]:
        t = (self.time - self.time[0]) / np.timedelta64(1, "s")
        s = float((when - self.time[0]) / np.timedelta64(1, "s"))
        return np.array([np.interp(s, t, self.discharge[:, k]) for k in range(self.chainage.size)])


@dataclass(frozen=True)
class Downstream:
    """The outlet condition: ``kind`` "normal" (Q = K(Z) sqrt(slope); slope None = the bed slope of the
    last surveyed reach), "stage" (``series`` of water levels) or "rating" (``level`` -> ``discharge``,
    both increasing)."""

    kind: str
    slope: float | None = None
    series: TimeSeries | None = None
    level: NDArray[np.float64] | None = None
    discharge: NDArray[np.float64] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("normal", "stage", "rating"):
            raise ConfigError(f"downstream boundary {self.kind!r}: use normal, stage:FILE.csv or rating:FILE.csv")
        if self.kind == "rating":
            lv, q = self.level, self.discharge
            if lv is None or q is None or lv.size < 2:
                raise InputDataError(f"{self.source}: a rating needs at least 2 rows water_level_m,discharge_m3s")
            for name, v in (("water_level_m", lv), ("discharge_m3s", q)):
                bad = np.flatnonzero(np.diff(v) <= 0)
                if bad.size:
                    k = int(bad[0]) + 1
                    raise InputDataError(f"{self.source}: rating {name} is not increasing at row {k + 2} ({v[k - 1]:g} "
                                         f"then {v[k]:g}; rows counted as lines, the header is row 1); a rating must "
                                         "rise with the level")
            if q[0] < 0:
                raise InputDataError(f"{self.source}: rating discharge_m3s {q[0]:g} < 0 at row 2")

    def check_outlet(self, reach: Reach) -> None:
        """A stage or rating level below the outlet section's thalweg or above its highest point is refused,
        naming the file, its row and the section's range: such a level is in another datum (a gauge height
        rather than an elevation) or belongs to another place, and the solver would carry it into a profile
        that blames an upstream section."""
        if self.kind == "normal":
            return
        outlet = reach.sections[-1]
        bed, crest = outlet.thalweg, float(outlet.elevation.max())
        if self.kind == "stage":
            assert self.series is not None
            levels = self.series.values
        else:
            assert self.level is not None
            levels = self.level
        outside = np.flatnonzero((levels < bed) | (levels > crest))
        if outside.size:
            k = int(outside[0])
            where = "below the outlet section's thalweg" if levels[k] < bed else "above the outlet section's highest point"
            what = "stage" if self.kind == "stage" else "rating"
            raise InputDataError(
                f"{self.source}: {what} water_level_m {levels[k]:g} m at row {k + 2} is {where}: section "
                f"{outlet.name!r} (chainage {outlet.chainage:g} m in {outlet.source}) spans {bed:g} .. {crest:g} m; give "
                "levels in the sections' datum (elevations, not gauge heights) within that range")

    def outlet_slope(self, reach: Reach) -> float:
        slope = reach.outlet_slope if self.slope is None else self.slope
        if not slope > 0:
            raise InputDataError(f"{reach.sections[-1].source}: the last reach ({reach.sections[-2].name!r} -> "
                                 f"{reach.sections[-1].name!r}) has bed slope {slope:g}; normal depth needs a falling "
                                 "bed: give normal:SLOPE, stage:FILE.csv or rating:FILE.csv")
        return slope

    def kernel_arguments(self, reach: Reach, start: np.datetime64) -> tuple[int, NDArray, NDArray, float]:
        """(kind code, x, y, normal slope) as ``preissmann`` takes them."""
        self.check_outlet(reach)
        if self.kind == "stage":
            assert self.series is not None
            return DS_STAGE, self.series.seconds_from(start), self.series.values, 0.0
        if self.kind == "rating":
            return DS_RATING, self.level, self.discharge, 0.0
        return DS_NORMAL, np.zeros(1), np.zeros(1), self.outlet_slope(reach)

    def steady_level(self, reach: Reach, q: float, when: np.datetime64) -> float:
        """Water level at the outlet for a steady discharge ``q`` [m3 s-1] at time ``when``."""
        self.check_outlet(reach)
        if self.kind == "stage":
            assert self.series is not None
            return self.series.at(when)
        if self.kind == "rating":
            if not self.discharge[0] <= q <= self.discharge[-1]:
                raise InputDataError(f"{self.source}: discharge {q:g} m3/s at the outlet is outside the rating "
                                     f"({self.discharge[0]:g} .. {self.discharge[-1]:g} m3/s); extend the rating")
            return float(np.interp(q, self.discharge, self.level))
        return normal_level(reach, reach.size - 1, q, self.outlet_slope(reach))


def normal_level(reach: Reach, node: int, q: float, slope: float) -> float:
    """Water level at ``node`` where K(Z) sqrt(slope) = q (bisection on the tabulated conveyance)."""
    root = np.sqrt(slope)

    def flow(z: float) -> float:
        return lookup(reach.table, reach.z0, reach.nlev, reach.table_dz, node, z)[2] * root

    lo = reach.thalweg[node]
    hi = lo + 1.0
    while flow(hi) < q:
        hi += 2.0 * (hi - lo)
        if hi - lo > 1e4:
            raise InputDataError(f"{reach.where(node)}: no normal depth for {q:g} m3/s")
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if flow(mid) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
