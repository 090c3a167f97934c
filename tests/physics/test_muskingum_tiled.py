"""The tiled linear Muskingum kernel (node by node over a block of steps, sub-basins in parallel) against
the plain step-by-step sweep, and the same numbers on 1 and 2 threads."""

from __future__ import annotations

import numba
import numpy as np

from hydro.kernels import routing as kr
from hydro.routing.channel import Muskingum
from hydro.synthetic import storm_runoff, synthetic_network


def _step_by_step(model: Muskingum, qlat: np.ndarray, substeps: int, n_steps: int, every: int) -> np.ndarray:
    n = model.network.size
    ql = np.ascontiguousarray(qlat[:, model.layout], np.float64)
    q_in, q_out = np.zeros(n), np.zeros(n)
    new_in, new_out = np.empty(n), np.empty(n)
    out = []
    for s in range(n_steps):
        kr.muskingum_step(q_in, q_out, ql[s // substeps], model.c0, model.c1, model.c2, model.down, new_in, new_out)
        q_in, new_in = new_in, q_in
        q_out, new_out = new_out, q_out
        if (s + 1) % every == 0:
            out.append(q_out[model.inverse].copy())
    return np.array(out)


def test_tiled_kernel_equals_the_step_by_step_sweep_and_ignores_the_thread_count():
    network, area = synthetic_network(3000, seed=4)
    qlat = storm_runoff(area, 8, seed=4).astype(np.float64)
    model = Muskingum(network, dt=300.0)
    tiled = model.run(qlat, 3600, 72, output_every=12)
    plain = _step_by_step(model, qlat, 12, 72, 12)
    assert tiled.max() > 100.0
    np.testing.assert_allclose(tiled, plain, rtol=1e-12, atol=1e-9)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = model.run(qlat, 3600, 72, output_every=12)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(serial, tiled)
