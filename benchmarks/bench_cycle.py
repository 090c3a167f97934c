"""National-scale cycle benchmark: one full forecast cycle on a synthetic 328,000-segment network with
1e6 one-kilometre cells, timed per stage.

Run through the CLI: ``hydro bench cycle --segments 328000 --cells 1000000 --json``. Set-up (not
timed): a D8 grid basin of ``cells`` cells whose channel cells (>= 6 cells of drainage) become about
``segments`` one-cell segments (hydro.synthetic.synthetic_grid_basin), the cell -> segment mapping, a
storm observed in the last three 10-minute frames, a flood-season start state, and per-segment warning
thresholds (Q5/Q20/Q50 from a regional flood-frequency scaling with drainage area, since a national
climatology is not simulated here). Timed, in order: the 6-hour S-PROG nowcast at 10 minutes (motion
included); runoff (Xinanjiang on every cell, 10-minute steps while it rains, hourly after), hillslope
(cell -> segment travel time) and routing (NWM Muskingum-Cunge at 5 minutes over 72 hours), hour by hour
as the cycle runs them; warnings over all segments. ``wall_s`` is the sum.
"""

from __future__ import annotations

import time

import numba
import numpy as np

from hydro.core.workspace import packaged
from hydro.io.parameters import read_parameter_set
from hydro.basin import RAIN_STEP_MIN, STEPS_PER_HOUR, BasinModel, advance, cold_state, dry_step_model
from hydro.routing.operated import OperatedNetwork
from hydro.runoff import Xinanjiang
from hydro.runoff.coupling import CellMapping
from hydro.stages.forecast import nowcast_rain
from hydro.stages.warning import grade_segments
from hydro.io.basin import BasinSpec
from hydro.synthetic import synthetic_grid_basin, synthetic_reservoirs, synthetic_storm


def _setup(segments: int, cells: int, seed: int, solver: str, reservoirs: int):
    side = int(round(np.sqrt(cells)))
    # channel threshold from the wanted segment count: about a third of the cells at 6 cells of drainage
    channel_cells = max(2, int(round(6 * 0.33 * side * side / max(segments, 1))))
    grid = synthetic_grid_basin(side, side, seed=seed, channel_cells=channel_cells)
    network = grid.network
    mapping = CellMapping.from_d8(grid.down, grid.shape, grid.channel_ids.reshape(-1), network.feature_id,
                                  (1000.0, 1000.0), 1e6, hillslope_velocity=0.3, source="synthetic national grid")
    model = Xinanjiang(RAIN_STEP_MIN / 60.0)
    values = read_parameter_set(packaged("models", "xaj/grid_default.toml"), model.name, model.parameter_names)[None, :]
    area = network.accumulate(grid.local_area_km2)
    # dams sized for a 50 mm storm over their basin (flood storage a third of it, rules passing 90 % of a
    # 10 mm/h peak), operated by their rules inside the forecast
    dams, _ = synthetic_reservoirs(network, area, area * 1e6 * 0.05, area * 1e6 * 0.01 / 3600.0, reservoirs, seed)
    spec = BasinSpec(name="national", reservoirs=dams)
    routing = OperatedNetwork(network, spec.reservoirs, None, 300.0, solver=solver)
    dry_model, dry_table = dry_step_model(model, values)
    basin = BasinModel(name="national", folder=None, spec=spec, network=network, grid=grid, mapping=mapping,
                       model=model, table=model.step_table(values), routing=routing, channel_ids=grid.channel_ids,
                       dry_model=dry_model, dry_table=dry_table)
    state = cold_state(basin, np.datetime64("2026-07-01T06:00", "m"), initial_flow_mm_h=0.02, tension_fraction=0.85)
    storm = synthetic_storm(grid.shape, 36, RAIN_STEP_MIN / 60.0, seed=seed, duration_h=12.0).astype(np.float32)
    history = storm[-3:]  # the last three observed frames at the issue time (mid-storm)
    q5 = 0.3 * area**0.75  # regional flood-frequency scaling [m3 s-1]
    thresholds = np.stack([q5, 1.6 * q5, 2.1 * q5])
    return basin, state, history, thresholds


def bench_cycle(segments: int = 328_000, cells: int = 1_000_000, hours: int = 72, nowcast_hours: int = 6,
                seed: int = 1, solver: str = "nwm", reservoirs: int = 30) -> dict:
    nowcast_hours = min(nowcast_hours, hours)
    t0 = time.perf_counter()
    basin, state, history, thresholds = _setup(segments, cells, seed, solver, reservoirs)
    setup_s = time.perf_counter() - t0
    stages = {}
    t = time.perf_counter()
    now = nowcast_rain(history, nowcast_hours * STEPS_PER_HOUR)
    stages["nowcast"] = time.perf_counter() - t
    rain = np.zeros((hours * STEPS_PER_HOUR,) + basin.grid.shape, np.float32)
    rain[: now.shape[0]] = now
    parts: dict[str, float] = {}
    flow = advance(basin, state, rain, 0.1, timer=parts)[0].streamflow
    stages.update(parts)
    t = time.perf_counter()
    grades = grade_segments(flow, thresholds, 1.0)
    stages["warnings"] = time.perf_counter() - t
    counts = np.bincount(grades.grade, minlength=5)
    n, cells_n = basin.network.size, basin.mapping.n_cells
    return {
        "benchmark": "cycle", "segments": n, "cells": cells_n, "hours": hours, "nowcast_hours": nowcast_hours,
        "routing_dt_s": 300, "mc_solver": solver, "reservoirs": len(basin.routing.dams), "threads": numba.get_num_threads(),
        "wall_s": round(sum(stages.values()), 2), "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "routing_ns_per_segment_step": round(stages["routing"] * 1e9 / (n * hours * 12), 1),
        "runoff_cells_per_s": round(cells_n * hours * STEPS_PER_HOUR / max(stages["runoff"], 1e-9)),
        "nowcast_rain_mm": round(float(now.sum(axis=0).mean()), 2),
        "warnings": {g: int(c) for g, c in zip(("none", "blue", "yellow", "orange", "red"), counts, strict=True)},
        "setup_s": round(setup_s, 1),
    }
