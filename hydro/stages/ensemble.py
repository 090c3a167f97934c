"""Ensemble members as tasks on dask.distributed: a LocalCluster by default, or an existing scheduler.

Each member (its rain [steps, ny, nx]) runs runoff, hillslope and the operated network (dams on their
rules) from the same issue-time state, and the basin's Saint-Venant main stems on its run from the issue-time
hydraulic state, as the deterministic forecast (F1) does, so a control section on a main stem grades each
member by the hydraulics' stage. Workers are processes with one thread each and ``NUMBA_NUM_THREADS`` set per worker, so the
``nogil`` kernels do not oversubscribe the cores; the numba caches (``cache=True``, in the package's
__pycache__) are shared by the workers, so they load compiled kernels instead of compiling them.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger("hydro")


def _member(basin, state, rain: NDArray, pet_mm_h: float) -> tuple[NDArray[np.float32], dict[str, NDArray]]:
    """A member's hourly streamflow [hours, n] and the stage [hours] of every control section whose stage the
    main stems' hydraulics give (scored as F1 is: :func:`hydro.stages.rehearsal.score`)."""
    from ..basin import advance

    result = advance(basin, state, rain, pet_mm_h)[0]
    stages = {}
    if getattr(basin.spec, "main_stems", None):
        from ..hydraulics.network_coupling import with_main_stems
        from .rehearsal import score

        scored = score(basin.spec, basin.routing, result.run, result.times, with_main_stems(state.routing, state.main_stems))
        stages = {sid: scored.section_stage[sid] for sid, source in scored.stage_source.items()
                  if source.startswith("hydraulics")}
    return result.streamflow, stages


def client_for(scheduler: str | None, workers: int | None = None):
    """A dask client: the scheduler at ``scheduler``, or a LocalCluster of one-thread worker processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        from ..core.errors import ConfigError

        try:  # a dead scheduler fails in 10 s, not distributed's 30, and as one line
            return Client(scheduler, timeout="10s"), None
        except (OSError, ValueError, TimeoutError) as exc:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect to a dask scheduler there ({exc}); start one "
                              "(dask scheduler) or leave out --scheduler for a local cluster") from None
    n = workers or max(1, os.cpu_count() or 1)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    return Client(cluster), cluster


def run_members(basin, state, rains: NDArray, pet_mm_h: float,
                scheduler: str | None = None) -> tuple[NDArray[np.float32], dict[str, NDArray[np.float64]]]:
    """Hourly streamflow [members, hours, n] of every member through the current operating rules, and per control
    section on a Saint-Venant main stem the members' stage [members, hours], as dask tasks."""
    client, cluster = client_for(scheduler)
    try:
        log.info("ensemble: %d members on %s", rains.shape[0], client.dashboard_link or client.scheduler.address)
        basin_f, state_f = client.scatter(basin, broadcast=True), client.scatter(state, broadcast=True)
        futures = [client.submit(_member, basin_f, state_f, rains[m], pet_mm_h, pure=False) for m in range(rains.shape[0])]
        members = client.gather(futures)
        stages = {sid: np.stack([m[1][sid] for m in members]) for sid in members[0][1]} if members else {}
        return np.stack([m[0] for m in members]), stages
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
