"""Routing kernel benchmark: ns per segment-step on deterministic synthetic networks.

Run through the CLI: ``hydro bench route --segments 328000 [--json]``. Reports, per method and
solver, the wall time per segment-step (the best of two runs after a warm-up that pays the JIT compile), the numba
thread count, and a memory-bandwidth floor measured in the same run: the time to stream the bytes
one linear-Muskingum step touches, with no dependency between segments (``stream_floor``).
"""

from __future__ import annotations

import platform

import numba
import numpy as np

from hydro.core.timing import best_of
from hydro.kernels import routing as kr
from hydro.routing.channel import Muskingum, MuskingumCunge
from hydro.synthetic import storm_runoff, synthetic_grid_basin, synthetic_network

DT = 300.0



def memory_floor_ns(n: int, repeats: int = 20) -> float:
    """ns per segment to stream 7 float64/int64 arrays in and 2 out (linear Muskingum's traffic)."""
    arrays = [np.random.default_rng(k).random(n) for k in range(6)]
    down = np.arange(1, n + 1, dtype=np.int64)
    down[-1] = -1
    out_a, out_b = np.empty(n), np.empty(n)
    kr.stream_floor(*arrays, down, out_a, out_b)  # compile
    return best_of(lambda: kr.stream_floor(*arrays, down, out_a, out_b), repeats) * 1e9 / n


def grid_network(segments: int, seed: int):
    """A D8 grid basin (priority flood) with about ``segments`` one-cell segments: deep like real networks
    (1,261 levels at 328k segments, against ~130 for the random tree)."""
    side = int(round(np.sqrt(segments / 0.33)))  # ~69 % of the grid is basin, ~48 % of that channel at 6 cells
    basin = synthetic_grid_basin(side, side, seed=seed, channel_cells=6)
    return basin.network, basin.local_area_km2


def bench_route(segments: int, steps: int = 288, seed: int = 1, generator: str = "tree") -> list[dict]:
    """One result row per method/solver; see module docstring."""
    network, local_area = synthetic_network(segments, seed) if generator == "tree" else grid_network(segments, seed)
    segments = network.size
    hours = steps // 12 + 2
    qlat = storm_runoff(local_area, hours, seed=seed)
    steps = max(12, steps // 12 * 12)
    floor = memory_floor_ns(segments)
    common = {
        "segments": segments,
        "generator": generator,
        "levels": int(network.levels.max()) + 1,
        "threads": numba.get_num_threads(),
        "steps": steps,
        "memory_floor_ns": round(floor, 2),
        "cpu": platform.processor() or platform.machine(),
        "numba": numba.__version__,
    }
    rows = []
    for solver in ("nwm", "fast"):
        model = MuskingumCunge(network, None, DT, solver, "previous")
        warm = model.run(qlat, 3600, 12, None, 12)  # compile + one hour of spin-up
        runs: list = []

        def timed(model=model, start=warm.final_state, runs=runs):
            runs.append(model.run(qlat[1:], 3600, steps, start, steps))

        elapsed = best_of(timed, 2)  # the better of two: hosts can be noisy
        result = runs[-1]
        rows.append(
            {**common, "method": "muskingum_cunge", "solver": solver,
             "ns_per_segment_step": round(elapsed * 1e9 / (steps * segments), 2),
             "evaluations_per_segment_step": round(result.evaluations / result.segment_steps, 2),
             "nonconverged": result.nonconverged}
        )
    model = Muskingum(network, DT)
    model.run(qlat, 3600, steps, steps)  # compile, and the block buffer the timed runs reuse
    elapsed = best_of(lambda: model.run(qlat, 3600, steps, steps), 3)
    rows.append({**common, "method": "muskingum", "solver": "linear",
                 "ns_per_segment_step": round(elapsed * 1e9 / (steps * segments), 2)})
    return rows
