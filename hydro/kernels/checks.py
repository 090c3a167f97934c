"""Input scans shared by the models: find bad values in large forcing arrays without temporaries."""

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, parallel=True)
def bad_per_row(values):
    """Number of NaN, infinite or negative entries in each row of a 2-D array."""
    counts = np.zeros(values.shape[0], dtype=np.int64)
    for t in numba.prange(values.shape[0]):
        n = 0
        for v in values[t]:
            if not (math.isfinite(v) and v >= 0.0):
                n += 1
        counts[t] = n
    return counts
