"""Rain on the basin grid for a cycle: a forcing set-up (``forcing.setup`` in the cycle config) of radar
frames or a generated storm, in 10-minute steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..basin import RAIN_STEP_MIN, STEPS_PER_HOUR, BasinModel
from ..core.errors import ConfigError, InputDataError
from ..io.basin import read_toml_model
from ..io.config import ForcingSetup


class Forcing:
    """Rain [mm per 10-minute step] on the basin grid from a forcing set-up, by time window."""

    def __init__(self, setup_path: Path, basin: BasinModel):
        self.path = setup_path
        self.setup = read_toml_model(setup_path, ForcingSetup, "forcing set-up")
        self.start = np.datetime64(self.setup.start.replace(tzinfo=None), "m")
        self.end = self.start + np.timedelta64(self.setup.hours, "h")
        self.shape = basin.grid.shape
        self._rain = None
        self._basin = basin

    def _field(self) -> NDArray[np.float32]:
        if self._rain is None:
            n = self.setup.hours * STEPS_PER_HOUR
            if self.setup.kind == "synthetic_storm":
                from ..synthetic import synthetic_storm

                self._rain = synthetic_storm(self.shape, n, RAIN_STEP_MIN / 60.0, seed=self.setup.seed,
                                             peak_mm_h=self.setup.peak_mm_h,
                                             duration_h=self.setup.duration_h).astype(np.float32)
            else:
                self._rain = self._radar(n)
        return self._rain

    def _radar(self, n: int) -> NDArray[np.float32]:
        from ..io.radar import read_radar
        from ..nowcast.qc import QCPolicy, fill_not_measured, quality_control
        from ..nowcast.regrid import regrid

        if self.setup.path is None:
            raise ConfigError(f"{self.path}: a radar set-up needs 'path'")
        frames = read_radar(self.path.parent / self.setup.path, window=(self.start, self.end))
        frames.check_order()
        frames, _ = quality_control(frames, frames.step, QCPolicy())
        grid = self._basin.grid
        rate = regrid(frames, grid.shape, grid.transform, grid.crs)
        rate = fill_not_measured(rate, "zero", str(self.path))
        # 10-minute mean rate -> mm per step, stamped at the interval end
        times = frames.times.astype("datetime64[m]")
        out = np.zeros((n,) + grid.shape, np.float32)
        for k in range(n):
            end = self.start + np.timedelta64((k + 1) * RAIN_STEP_MIN, "m")
            inside = (times > end - np.timedelta64(RAIN_STEP_MIN, "m")) & (times <= end)
            if not inside.any():
                raise InputDataError(f"{self.path}: no radar frame in the 10 minutes ending {end}; the forcing has a gap")
            out[k] = rate[inside].mean(axis=0) * RAIN_STEP_MIN / 60.0
        return out

    def check_covers(self, start: np.datetime64, end: np.datetime64, what: str) -> None:
        if start < self.start or end > self.end:
            raise InputDataError(f"{self.path}: forcing covers {self.start} .. {self.end}, the {what} needs "
                                 f"{str(start)[:16]} .. {str(end)[:16]}; extend the forcing or move the cycle")

    def rain(self, start: np.datetime64, end: np.datetime64) -> NDArray[np.float32]:
        """[n_steps, ny, nx] mm per 10-minute step for the intervals in [start, end)."""
        self.check_covers(start, end, "cycle")
        i0 = int((start - self.start) / np.timedelta64(RAIN_STEP_MIN, "m"))
        i1 = int((end - self.start) / np.timedelta64(RAIN_STEP_MIN, "m"))
        return self._field()[i0:i1]
