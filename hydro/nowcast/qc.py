"""Radar quality control with an explicit, logged policy. Nothing here invents rain silently.

* implausible rates (> ``max_rate_mm_h``, e.g. the 1205 mm/h spikes in an OPERA ODYSSEY file) become
  *not measured* (NaN), or are clipped with ``implausible = "clip"``;
* isolated spikes: a cell above ``spike_rate_mm_h`` whose 8 neighbours are all measured and dry
  (< 0.1 mm/h) is ground clutter or a bird echo, set to dry;
* all-NaN frames count as missing;
* missing frames (gaps in the time axis or all-NaN frames): ``error`` (default) stops with the times,
  ``persist`` repeats the previous frame, ``zero`` inserts a dry frame;
* cells never measured stay NaN in the radar layout; ``fill_not_measured`` decides what the hydrology
  sees (``error`` if any basin cell lacks data, or ``zero``), so no NaN reaches a runoff model.
Every action is counted in the returned report and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import convolve

from ..core.errors import ConfigError, InputDataError
from .frames import RadarFrames

log = logging.getLogger("hydro")
DRY_MM_H = 0.1


@dataclass(frozen=True)
class QCPolicy:
    max_rate_mm_h: float = 250.0
    implausible: str = "nan"  # or "clip"
    spike_rate_mm_h: float = 5.0
    missing_frames: str = "error"  # or "persist", "zero"

    def __post_init__(self) -> None:
        if self.implausible not in ("nan", "clip"):
            raise ConfigError(f"qc implausible = {self.implausible!r}; choose nan or clip")
        if self.missing_frames not in ("error", "persist", "zero"):
            raise ConfigError(f"qc missing_frames = {self.missing_frames!r}; choose error, persist or zero")


def quality_control(frames: RadarFrames, step: np.timedelta64, policy: QCPolicy = QCPolicy()) -> tuple[RadarFrames, dict]:
    """Apply ``policy`` to frames expected every ``step``; return the cleaned frames and a count report."""
    rate = frames.rate.astype(np.float32, copy=True)
    times = frames.times
    report = {"implausible_cells": 0, "spike_cells": 0, "missing_frames": 0, "filled_frames": 0}
    too_high = rate > policy.max_rate_mm_h
    report["implausible_cells"] = int(np.count_nonzero(too_high))
    rate[too_high] = policy.max_rate_mm_h if policy.implausible == "clip" else np.nan
    for k in range(len(rate)):
        report["spike_cells"] += _remove_spikes(rate[k], policy.spike_rate_mm_h)
    # missing frames: all-NaN frames and gaps in the time axis
    empty = ~np.isfinite(rate).reshape(len(rate), -1).any(axis=1)
    expected = np.arange(times[0], times[-1] + step, step)
    present = np.isin(expected, times[~empty])
    report["missing_frames"] = int((~present).sum())
    if report["missing_frames"]:
        missing = expected[~present]
        if policy.missing_frames == "error":
            raise InputDataError(f"{frames.source}: {len(missing)} missing or empty frame(s), first at {missing[0]}; "
                                 "set the QC missing-frames policy to persist or zero to fill them")
        lookup = {t: rate[i] for i, t in enumerate(times) if not empty[i]}
        filled = []
        previous = np.zeros(frames.shape, np.float32)
        for t in expected:
            if t in lookup:
                previous = lookup[t]
            elif policy.missing_frames == "zero":
                previous = np.where(np.isfinite(previous), 0.0, np.nan).astype(np.float32)
            filled.append(previous)
        rate, times = np.stack(filled), expected
        report["filled_frames"] = report["missing_frames"]
    for key, value in report.items():
        if value:
            log.info("radar QC %s: %s = %d", frames.source, key, value)
    return replace(frames, rate=rate, times=times), report


def _remove_spikes(field: NDArray[np.float32], threshold: float) -> int:
    """Set isolated echoes (above ``threshold``, all 8 neighbours measured and dry) to dry, in place."""
    wet_or_unknown = (~(np.nan_to_num(field, nan=np.inf) < DRY_MM_H)).astype(np.uint8)
    ring = np.ones((3, 3), np.uint8)
    ring[1, 1] = 0
    neighbours = convolve(wet_or_unknown, ring, mode="constant", cval=1)  # outside the grid protects too
    spikes = (np.nan_to_num(field) >= threshold) & (neighbours == 0)
    field[spikes] = 0.0
    return int(np.count_nonzero(spikes))


def fill_not_measured(rate: NDArray, policy: str, where: str) -> NDArray:
    """What the hydrology sees for unmeasured cells: ``error`` or ``zero`` (logged)."""
    bad = ~np.isfinite(rate)
    if not bad.any():
        return rate
    if policy == "error":
        idx = np.argwhere(bad)[0]
        raise InputDataError(f"{where}: {int(bad.sum())} rain values not measured (first at index {tuple(idx)}); "
                             "set the forcing missing policy to zero to treat them as dry")
    if policy != "zero":
        raise ConfigError(f"missing-rain policy {policy!r}; choose error or zero")
    log.info("%s: %d unmeasured rain values set to 0 (policy zero)", where, int(bad.sum()))
    return np.where(bad, 0.0, rate)
