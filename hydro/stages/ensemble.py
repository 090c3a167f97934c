"""Ensemble members as tasks on dask.distributed: a LocalCluster by default, or an existing scheduler.

Each member (its rain [steps, ny, nx]) runs runoff, hillslope and the operated network (dams on their
rules) from the same issue-time state. Workers are processes with one thread each and ``NUMBA_NUM_THREADS`` set per worker, so the
``nogil`` kernels do not oversubscribe the cores; the numba caches (``cache=True``, in the package's
__pycache__) are shared by the workers, so they load compiled kernels instead of compiling them.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger("hydro")


def _member(basin, state, rain: NDArray, pet_mm_h: float) -> NDArray[np.float32]:
    from ..basin import advance

    return advance(basin, state, rain, pet_mm_h)[0].streamflow


def client_for(scheduler: str | None, workers: int | None = None):
    """A dask client: the scheduler at ``scheduler``, or a LocalCluster of one-thread worker processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    n = workers or max(1, os.cpu_count() or 1)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    return Client(cluster), cluster


def run_members(basin, state, rains: NDArray, pet_mm_h: float, scheduler: str | None = None) -> NDArray[np.float32]:
    """Hourly streamflow [members, hours, n] of every member through the current operating rules, as dask tasks."""
    client, cluster = client_for(scheduler)
    try:
        log.info("ensemble: %d members on %s", rains.shape[0], client.dashboard_link or client.scheduler.address)
        basin_f, state_f = client.scatter(basin, broadcast=True), client.scatter(state, broadcast=True)
        futures = [client.submit(_member, basin_f, state_f, rains[m], pet_mm_h, pure=False) for m in range(rains.shape[0])]
        return np.stack(client.gather(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
