"""The simulated climatology behind the segment warnings: annual maximum flow per segment.

One synthetic storm season per year (seeded by the year; peak rate Gumbel(18, 6) mm h-1, duration
6-14 h) on a flood-season start state, routed 48 h through the operated network. A basin without
observed flood statistics gets its return-period flows from this; the outputs say so.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from ..basin import RAIN_STEP_MIN, STEPS_PER_HOUR, BasinModel, advance, cold_state
from ..io.config import CycleConfig

log = logging.getLogger("hydro")
METHOD = "synthetic storms (Gumbel peak 18/6 mm h-1, 6-14 h), Xinanjiang, operated network, 48 h"


def simulate_climatology(basin: BasinModel, config: CycleConfig, years: int = 20) -> NDArray[np.float32]:
    """[years, n] annual maximum streamflow of the simulated climatology."""
    from ..synthetic import synthetic_storm

    log.info("simulating a %d-year climatology for basin %s (once per basin and configuration)", years, basin.name)
    annual_max = np.empty((years, basin.network.size), np.float32)
    start = cold_state(basin, np.datetime64("2000-01-01T00:00", "m"), config.runoff.initial_flow_mm_h,
                       config.runoff.initial_tension_fraction)
    for year in range(years):
        rng = np.random.default_rng(10_000 + year)
        peak = float(np.clip(rng.gumbel(18.0, 6.0), 4.0, 60.0))
        rain = synthetic_storm(basin.grid.shape, 48 * STEPS_PER_HOUR, RAIN_STEP_MIN / 60.0, seed=10_000 + year,
                               peak_mm_h=peak, duration_h=float(rng.uniform(6.0, 14.0)))
        annual_max[year] = advance(basin, start, rain, config.runoff.pet_mm_h)[0].streamflow.max(axis=0)
        if (year + 1) % 5 == 0:
            log.info("climatology: %d of %d years simulated", year + 1, years)
    return annual_max
