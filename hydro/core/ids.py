"""Id lookup shared by networks, lakes and forcing tables."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def lookup(ids: NDArray, wanted: NDArray) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Positions of ``wanted`` in ``ids`` and whether each was found (position 0 where not)."""
    ids = np.asarray(ids)
    wanted = np.asarray(wanted)
    if ids.size == 0:
        return np.zeros(wanted.shape, np.int64), np.zeros(wanted.shape, bool)
    sorter = np.argsort(ids, kind="stable")
    pos = sorter[np.clip(np.searchsorted(ids, wanted, sorter=sorter), 0, ids.size - 1)]
    found = ids[pos] == wanted
    return np.where(found, pos, 0).astype(np.int64), found
