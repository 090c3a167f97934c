"""Forecast stage pieces: grid runoff generation and its aggregation to segment lateral inflow."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..runoff import RunoffModel, RunoffState, StepTable
from ..runoff.coupling import CellMapping


def grid_lateral_inflow(model: RunoffModel, table: StepTable, state: RunoffState, mapping: CellMapping,
                        precip_mm: NDArray[np.float64], pet_mm: NDArray[np.float64], param_row=None,
                        chunk_steps: int = 36) -> tuple[NDArray[np.float64], dict]:
    """Run ``model`` on the grid cells of ``mapping`` and aggregate to lateral inflow [m3 s-1].

    ``precip_mm``/``pet_mm`` are [n_steps, n_cells] in mm per step; runs in chunks of ``chunk_steps``
    so a national grid never holds the whole runoff field. Returns lateral [n_steps, n_segments] and a
    water balance [m3] over the mapped cells: rain, evapotranspiration, storage change, delivered,
    still on the hillslopes.
    """
    dt_s = model.dt_hours * 3600.0
    n_steps = precip_mm.shape[0]
    lateral = np.empty((n_steps, len(mapping.feature_id)))
    weight = np.zeros(mapping.n_cells)
    np.add.at(weight, mapping.cell, mapping.area_m2 / 1000.0)  # m3 per mm, per cell
    storage_before = model.storage(table, state, param_row) @ weight
    rain = evaporation = 0.0
    for t0 in range(0, n_steps, chunk_steps):
        sl = slice(t0, min(t0 + chunk_steps, n_steps))
        runoff, evap = model.run(precip_mm[sl], pet_mm[sl], table, state, param_row=param_row)
        lateral[sl] = mapping.lateral(runoff, dt_s)
        rain += float(precip_mm[sl].sum(axis=0) @ weight)
        evaporation += float(evap @ weight)
    balance = {
        "rain_m3": rain, "evaporation_m3": evaporation,
        "storage_change_m3": float(model.storage(table, state, param_row) @ weight - storage_before),
        "delivered_m3": float(lateral.sum() * dt_s), "on_hillslopes_m3": float(mapping.pending.sum()),
    }
    return lateral, balance
