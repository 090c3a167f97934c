"""The search space of a calibration: per-parameter bounds and defaults, in a model's parameter order.

Read from ``models/<model>/*.toml`` by ``hydro.io.parameters`` (which re-exports it); kept in the model
layer so that ``hydro.runoff.calibration`` needs no import of ``hydro.io``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass
class ParameterSpace:
    source: str
    names: list[str]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    default: NDArray[np.float64]

    @property
    def free(self) -> NDArray[np.bool_]:
        return self.high > self.low
