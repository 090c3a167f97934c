"""Runoff kernel benchmark: ns per cell-step of Xinanjiang and GR4 on a national-size grid.

Run through the CLI: ``hydro bench runoff --cells 1000000 [--json]``. The grid gets a convective
storm at 10-minute steps (synthetic_storm: rain on part of the grid, dry elsewhere, as a real radar
field), uniform parameters from models/xaj/grid_default.toml, and a flood-season start state. The
time is the best of a few repeats after a warm-up that pays the JIT compile; each repeat starts
from the same state. Also reports calibration throughput: model runs per second of a batch of
parameter sets on the Sieve hourly record when ../shared/data is present.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numba
import numpy as np

from hydro.core.timing import best_of
from hydro.core.workspace import packaged
from hydro.io.catchment import read_catchment
from hydro.io.parameters import read_parameter_set, read_parameter_space
from hydro.runoff import GR4, Xinanjiang
from hydro.synthetic import synthetic_storm

SIEVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "catchments" / "sieve_fornacina_hourly" / "sieve_fornacina_hourly.nc"



def _row(**kw) -> dict:
    kw.update(threads=numba.get_num_threads(), numba=numba.__version__, cpu=platform.processor() or platform.machine())
    return kw


def bench_runoff(cells: int = 1_000_000, steps: int = 36, seed: int = 1, repeats: int = 3) -> list[dict]:
    side = int(round(np.sqrt(cells)))
    shape = (side, cells // side)
    n = shape[0] * shape[1]
    dt_hours = 1.0 / 6.0
    rain = synthetic_storm(shape, steps, dt_hours, seed=seed, duration_h=steps * dt_hours).reshape(steps, n)
    pet = np.full_like(rain, 0.05)
    wet_fraction = float((rain > 0.01).mean())
    rows = []
    xaj = Xinanjiang(dt_hours)
    values = read_parameter_set(packaged("models", "xaj/grid_default.toml"), xaj.name, xaj.parameter_names)
    gr4 = GR4(dt_hours)
    for model, vals, kw in ((xaj, values, {"tension_fraction": 0.85}), (gr4, np.array([350.0, 0.0, 90.0, 6.0]), {})):
        table = model.step_table(vals[None, :])
        start = model.cold_state(table, n, 0.002, **kw)

        def run(model=model, table=table, start=start):
            model.run(rain, pet, table, start.copy())

        model.run(rain[:1], pet[:1], table, start.copy())  # compile
        seconds = best_of(run, repeats)
        rows.append(_row(benchmark="grid", model=model.name, cells=n, steps=steps, dt_minutes=10,
                         wet_fraction=round(wet_fraction, 3), seconds=round(seconds, 4),
                         ns_per_cell_step=round(seconds * 1e9 / (n * steps), 2)))
    rows.extend(bench_calibration_batch())
    return rows


def bench_calibration_batch(batch: int = 16) -> list[dict]:
    """Model runs per second on the Sieve record (43,848 hourly steps) in batches of ``batch`` sets."""
    if not SIEVE.is_file():
        return []
    record = read_catchment(SIEVE)
    rows = []
    for model, bounds in ((Xinanjiang(1.0), "xaj"), (GR4(1.0), "gr4j")):
        space = read_parameter_space(packaged("models", f"{bounds}/hourly.toml"), model.name, model.parameter_names)
        rng = np.random.default_rng(1)
        sets = space.low + rng.random((batch, len(space.low))) * (space.high - space.low)
        table = model.step_table(sets)

        def run(model=model, table=table):
            model.run(record.precipitation, record.pet, table, model.cold_state(table, batch, 0.05),
                      forcing_col=np.zeros(batch, np.int64))

        run()
        seconds = best_of(run, 3)
        rows.append(_row(benchmark="calibration", model=model.name, steps=len(record.times), batch=batch,
                         runs_per_second=round(batch / seconds, 1),
                         ns_per_step=round(seconds * 1e9 / (batch * len(record.times)), 2),
                         seconds_for_10000_runs=round(10_000 * seconds / batch, 1)))
    return rows
