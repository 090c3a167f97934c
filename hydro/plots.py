"""Figures people would rather look at than read: hydrographs of calibration events, written atomically."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .io.atomic import write_atomic


def figure(**kwargs):
    """A matplotlib figure on the non-interactive backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(**kwargs)


def save(fig, png: Path, dpi: int = 110) -> None:
    import matplotlib.pyplot as plt

    write_atomic(png, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    plt.close(fig)


def plot_events(png: Path, record, window: slice, sim: np.ndarray, events: list, title: str) -> None:
    """One panel per flood event: observed and simulated discharge, rain as inverted bars, GB/T verdicts."""
    n = len(events)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = figure(figsize=(4.2 * cols, 2.9 * rows))
    times = record.times[window]
    obs = record.discharge[window]
    rain = record.precipitation[window]
    for k, ev in enumerate(events):
        ax = fig.add_subplot(rows, cols, k + 1)
        sel = (times >= np.datetime64(ev.start)) & (times <= np.datetime64(ev.end))
        ax.plot(times[sel], obs[sel], color="black", lw=1.2, label="observed")
        ax.plot(times[sel], sim[sel], color="tab:blue", lw=1.2, label="simulated")
        ax.set_ylim(bottom=0)
        rain_ax = ax.twinx()
        rain_ax.bar(times[sel], rain[sel], width=record.dt_hours / 24.0, color="tab:cyan", alpha=0.5)
        rain_ax.set_ylim(max(rain[sel].max(), 1e-6) * 3.0, 0)
        rain_ax.tick_params(labelsize=6)
        verdict = "".join("✓" if ok else "✗" for ok in (ev.peak_ok, ev.peak_time_ok, ev.depth_ok))
        ax.set_title(f"{ev.event_id}  DC {ev.dc:.2f}  ΔQp {100 * ev.peak_error:+.0f}%  [{verdict}]", fontsize=7)
        ax.tick_params(labelsize=6)
        for label in ax.get_xticklabels():
            label.set_rotation(30)
        if k == 0:
            ax.legend(fontsize=6, loc="upper left")
            ax.set_ylabel("discharge [m3 s-1]", fontsize=7)
    fig.suptitle(f"{title}  (✓/✗: peak, peak time, runoff depth per GB/T 22482; bars: rain, mm per step)",
                 fontsize=9)
    fig.tight_layout()
    save(fig, png)


def plot_skill(png: Path, results: dict) -> None:
    """CSI at 0.1 / 1 / 5 mm h-1, FSS and (ensembles) CRPS against lead time, one line per method."""
    metrics = [("csi_0.1", "CSI 0.1 mm/h"), ("csi_1", "CSI 1 mm/h"), ("csi_5", "CSI 5 mm/h"), ("fss", "FSS 1 mm/h, 16 km")]
    if any("crps" in res["leads"][0] for res in results.values()):
        metrics.append(("crps", "CRPS [mm/h]"))
    fig = figure(figsize=(3.4 * len(metrics), 3.3))
    for i, (key, label) in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        for method, res in results.items():
            leads = [r["lead_minutes"] for r in res["leads"] if key in r]
            if leads:
                ax.plot(leads, [r[key] for r in res["leads"] if key in r], marker="o", label=method)
        ax.set_xlabel("lead time [min]")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, png)
