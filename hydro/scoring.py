"""Hydrograph skill: NSE, KGE and the flood-forecast accuracy rules of GB/T 22482-2008.

GB/T 22482-2008 (Standard for hydrological information and hydrological forecasting, 6.5):

* deterministic coefficient DC = 1 - sum (Qs - Qo)^2 / sum (Qo - mean Qo)^2 (= NSE);
* an event's peak discharge is qualified when |Qp,s - Qp,o| <= 20 % of Qp,o;
* its peak time when |tp,s - tp,o| <= max(3 h, one step) (30 % of the lead time in real-time
  forecasting; a continuous simulation has no lead time, so the floor applies);
* its runoff depth when |Rs - Ro| <= 20 % of Ro, clipped to [3, 20] mm;
* qualified rate QR = qualified events / events per element; the scheme's QR is the mean over the
  elements, but not above the QR of the main element (peak discharge);
* grade A (甲) QR >= 85 % and DC >= 0.90, B (乙) QR >= 70 % and DC >= 0.70, C (丙) QR >= 60 % and
  DC >= 0.50, otherwise "-" (not usable for forecasting).

Every threshold sits in ``GBT22482`` so it can be changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import NDArray


def nse(sim: NDArray, obs: NDArray) -> float:
    """Nash-Sutcliffe efficiency over the steps where ``obs`` is finite."""
    return float(nse_batch(np.asarray(sim, dtype=float)[:, None], obs)[0])


def kge(sim: NDArray, obs: NDArray) -> float:
    """Kling-Gupta efficiency (Gupta et al. 2009, doi:10.1016/j.jhydrol.2009.08.003)."""
    return float(kge_batch(np.asarray(sim, dtype=float)[:, None], obs)[0])


def nse_batch(sim: NDArray, obs: NDArray) -> NDArray:
    """NSE of each column of ``sim`` [n_steps, n_sets] against ``obs`` [n_steps]."""
    ok = np.isfinite(obs)
    o, s = obs[ok], sim[ok]
    return 1.0 - ((s - o[:, None]) ** 2).sum(axis=0) / ((o - o.mean()) ** 2).sum()


def kge_batch(sim: NDArray, obs: NDArray) -> NDArray:
    """KGE of each column of ``sim`` [n_steps, n_sets] against ``obs`` [n_steps]."""
    ok = np.isfinite(obs)
    o, s = obs[ok], sim[ok]
    s_mean, o_mean = s.mean(axis=0), o.mean()
    s_std, o_std = s.std(axis=0), o.std()
    cov = ((s - s_mean) * (o - o_mean)[:, None]).mean(axis=0)
    r = np.divide(cov, s_std * o_std, out=np.zeros_like(cov), where=s_std > 0)
    return 1.0 - np.sqrt((r - 1.0) ** 2 + (s_std / o_std - 1.0) ** 2 + (s_mean / o_mean - 1.0) ** 2)


@dataclass(frozen=True)
class GBT22482:
    """Thresholds of GB/T 22482-2008 (defaults) for event scoring and grading."""

    peak_rel_tolerance: float = 0.20
    peak_time_tolerance_h: float = 3.0
    depth_rel_tolerance: float = 0.20
    depth_tolerance_min_mm: float = 3.0
    depth_tolerance_max_mm: float = 20.0
    grades: tuple[tuple[str, float, float], ...] = (("A", 85.0, 0.90), ("B", 70.0, 0.70), ("C", 60.0, 0.50))

    def grade(self, qr_percent: float, dc: float) -> str:
        for name, qr_min, dc_min in self.grades:
            if qr_percent >= qr_min and dc >= dc_min:
                return name
        return "-"


@dataclass
class EventScore:
    event_id: str
    start: str
    end: str
    peak_obs: float
    peak_sim: float
    peak_error: float  # relative
    peak_time_obs: str
    peak_time_sim: str
    peak_time_error_h: float
    depth_obs_mm: float
    depth_sim_mm: float
    depth_error_mm: float
    dc: float
    peak_ok: bool
    peak_time_ok: bool
    depth_ok: bool


@dataclass
class EventSummary:
    events: list[EventScore] = field(default_factory=list)
    qr_peak: float = float("nan")
    qr_peak_time: float = float("nan")
    qr_depth: float = float("nan")
    qr: float = float("nan")
    dc_mean: float = float("nan")
    grade: str = "-"

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "events"}
        out["n_events"] = len(self.events)
        out["events"] = [asdict(e) for e in self.events]
        return out


def score_events(times: NDArray, sim: NDArray, obs: NDArray, windows: list[tuple[str, np.datetime64, np.datetime64]],
                 area_km2: float, dt_hours: float, rules: GBT22482 = GBT22482()) -> EventSummary:
    """Score flood events (id, start, end) of a continuous simulation per GB/T 22482-2008.

    ``sim`` and ``obs`` are discharges [m3 s-1] on ``times``; windows outside the record or without
    observations are skipped.
    """
    summary = EventSummary()
    to_mm = dt_hours * 3.6 / area_km2
    time_tol = max(rules.peak_time_tolerance_h, dt_hours)
    for event_id, start, end in windows:
        sel = (times >= start) & (times <= end)
        if sel.sum() < 2:
            continue
        o, s, t = obs[sel], sim[sel], times[sel]
        ok = np.isfinite(o)
        if ok.sum() < 2:
            continue
        o, s, t = o[ok], s[ok], t[ok]
        io, is_ = int(np.argmax(o)), int(np.argmax(s))
        peak_err = (s[is_] - o[io]) / o[io]
        time_err = float((t[is_] - t[io]) / np.timedelta64(1, "h"))
        depth_o, depth_s = float(o.sum() * to_mm), float(s.sum() * to_mm)
        depth_tol = min(max(rules.depth_rel_tolerance * depth_o, rules.depth_tolerance_min_mm),
                        rules.depth_tolerance_max_mm)
        summary.events.append(EventScore(
            event_id=str(event_id), start=str(start), end=str(end),
            peak_obs=float(o[io]), peak_sim=float(s[is_]), peak_error=float(peak_err),
            peak_time_obs=str(t[io]), peak_time_sim=str(t[is_]), peak_time_error_h=time_err,
            depth_obs_mm=depth_o, depth_sim_mm=depth_s, depth_error_mm=depth_s - depth_o,
            dc=nse(s, o), peak_ok=bool(abs(peak_err) <= rules.peak_rel_tolerance),
            peak_time_ok=bool(abs(time_err) <= time_tol), depth_ok=bool(abs(depth_s - depth_o) <= depth_tol),
        ))
    if summary.events:
        n = len(summary.events)
        summary.qr_peak = 100.0 * sum(e.peak_ok for e in summary.events) / n
        summary.qr_peak_time = 100.0 * sum(e.peak_time_ok for e in summary.events) / n
        summary.qr_depth = 100.0 * sum(e.depth_ok for e in summary.events) / n
        summary.qr = min(float(np.mean([summary.qr_peak, summary.qr_peak_time, summary.qr_depth])), summary.qr_peak)
        summary.dc_mean = float(np.mean([e.dc for e in summary.events]))
        summary.grade = rules.grade(summary.qr, summary.dc_mean)
    return summary
