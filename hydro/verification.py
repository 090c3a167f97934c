"""Rainfall forecast verification: categorical scores, FSS, MAE and ensemble CRPS per lead time.

Contingency tables are pooled (summed) over issue times before CSI, POD and FAR are formed, as
the reference protocol does. Cells are scored where ``valid`` is set (observed in every frame);
a forecast NaN counts as no rain.

References: Roberts & Lean (2008) for FSS, doi:10.1175/2007MWR2123.1; Hersbach (2000) and
Gneiting & Raftery (2007) for the ensemble CRPS, doi:10.1198/016214506000001437.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter

THRESHOLDS_MM_H = (0.1, 1.0, 5.0)


@dataclass
class Contingency:
    hits: int = 0
    misses: int = 0
    false_alarms: int = 0
    correct_negatives: int = 0

    def add(self, forecast: NDArray, observed: NDArray, threshold: float) -> None:
        f = np.nan_to_num(forecast, nan=0.0) >= threshold
        o = observed >= threshold
        self.hits += int(np.count_nonzero(f & o))
        self.misses += int(np.count_nonzero(~f & o))
        self.false_alarms += int(np.count_nonzero(f & ~o))
        self.correct_negatives += int(np.count_nonzero(~f & ~o))

    @property
    def csi(self) -> float:
        d = self.hits + self.misses + self.false_alarms
        return self.hits / d if d else float("nan")

    @property
    def pod(self) -> float:
        d = self.hits + self.misses
        return self.hits / d if d else float("nan")

    @property
    def far(self) -> float:
        d = self.hits + self.false_alarms
        return self.false_alarms / d if d else float("nan")


def fss(forecast: NDArray, observed: NDArray, valid: NDArray, threshold: float, scale_cells: int) -> tuple[float, float]:
    """(numerator, denominator) of the Fractions Skill Score for one field pair; pool by summing.

    Fractions are taken over ``scale_cells`` x ``scale_cells`` windows of valid cells."""
    f = ((np.nan_to_num(forecast, nan=0.0) >= threshold) & valid).astype(np.float64)
    o = ((observed >= threshold) & valid).astype(np.float64)
    ff = uniform_filter(f, scale_cells, mode="constant")
    of = uniform_filter(o, scale_cells, mode="constant")
    v = valid.astype(bool)
    return float(((ff - of)[v] ** 2).sum()), float((ff[v] ** 2 + of[v] ** 2).sum())


def crps_ensemble(members: NDArray, observed: NDArray) -> NDArray:
    """CRPS of an ensemble [n_members, n] against observations [n]: E|X - y| - 0.5 E|X - X'| (sorted form)."""
    x = np.sort(np.nan_to_num(members, nan=0.0), axis=0)
    m = x.shape[0]
    term1 = np.abs(x - observed[None, :]).mean(axis=0)
    # E|X - X'| = 2 / m^2 * sum_i (2i - m - 1) x_(i)
    weights = (2.0 * np.arange(1, m + 1) - m - 1.0)[:, None]
    term2 = (weights * x).sum(axis=0) * 2.0 / (m * m)
    return term1 - 0.5 * term2


@dataclass
class LeadScores:
    """Scores pooled over issue times for one lead time."""

    lead_minutes: int
    tables: dict[float, Contingency] = field(default_factory=lambda: {t: Contingency() for t in THRESHOLDS_MM_H})
    fss_num: float = 0.0
    fss_den: float = 0.0
    abs_error: float = 0.0
    crps_sum: float = 0.0
    n: int = 0

    def add(self, forecast: NDArray, observed: NDArray, valid: NDArray, fss_threshold: float, fss_scale: int,
            members: NDArray | None = None) -> None:
        f, o = forecast[valid], observed[valid]
        for threshold, table in self.tables.items():
            table.add(f, o, threshold)
        num, den = fss(forecast, np.where(valid, observed, 0.0), valid, fss_threshold, fss_scale)
        self.fss_num += num
        self.fss_den += den
        self.abs_error += float(np.abs(np.nan_to_num(f, nan=0.0) - o).sum())
        if members is not None:
            self.crps_sum += float(crps_ensemble(members[:, valid], o).sum())
        self.n += int(o.size)

    def to_dict(self, ensemble: bool = False) -> dict:
        out: dict = {"lead_minutes": self.lead_minutes}
        for threshold, table in self.tables.items():
            key = f"{threshold:g}"
            out[f"csi_{key}"] = table.csi
            out[f"pod_{key}"] = table.pod
            out[f"far_{key}"] = table.far
        out["fss"] = 1.0 - self.fss_num / self.fss_den if self.fss_den else float("nan")
        out["mae"] = self.abs_error / self.n if self.n else float("nan")
        if ensemble:
            out["crps"] = self.crps_sum / self.n if self.n else float("nan")
        return out
