"""A lumped catchment record and its flood events: the data that runoff calibration works on.

Built by ``hydro.io.catchment.read_catchment`` (which re-exports both types); kept in the model layer so
that ``hydro.runoff.calibration`` needs no import of ``hydro.io``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InputDataError

log = logging.getLogger("hydro")


@dataclass
class FloodEvent:
    event_id: str
    start: np.datetime64
    end: np.datetime64
    quality: str = "ok"


@dataclass
class CatchmentRecord:
    source: str
    times: NDArray[np.datetime64]
    precipitation: NDArray[np.float64]  # mm per step
    pet: NDArray[np.float64]  # mm per step
    discharge: NDArray[np.float64]  # m3 s-1, NaN = missing
    area_km2: float
    dt_hours: float
    events: list[FloodEvent] = field(default_factory=list)
    events_source: str | None = None

    def to_mm(self, q: NDArray) -> NDArray:
        """Discharge [m3 s-1] -> depth [mm per step]."""
        return q * self.dt_hours * 3.6 / self.area_km2

    def align_precipitation(self, lead_steps: int, why: str) -> None:
        """Move precipitation back by ``lead_steps`` steps (see CatchmentSpec). The last steps' rain falls after
        the record ends; it is taken as 0 and logged."""
        if lead_steps <= 0:
            return
        rain_lost = float(self.precipitation[:lead_steps].sum())
        self.precipitation = np.concatenate([self.precipitation[lead_steps:], np.zeros(lead_steps)])
        log.warning("%s: precipitation moved back %d step(s) (%s); %.1f mm that fell before the first step dropped, "
                    "the last %d step(s) taken as dry", self.source, lead_steps, why, rain_lost, lead_steps)

    def index(self, start: np.datetime64, end: np.datetime64, what: str) -> slice:
        """Steps stamped in [start, end); raise if the record does not cover them."""
        if start >= end:
            raise InputDataError(f"{self.source}: {what}: start {start} is not before end {end}")
        step = np.timedelta64(int(round(self.dt_hours * 3600)), "s")
        if start < self.times[0] or end > self.times[-1] + step:
            raise InputDataError(f"{self.source}: {what} is outside the record {self.times[0]} .. {self.times[-1]}; "
                                 "choose dates inside it")
        return slice(int(np.searchsorted(self.times, start)), int(np.searchsorted(self.times, end)))
