"""Radar drives the forecast stage end to end: real KNMI rain -> runoff grid -> gridded XAJ -> segment inflow."""

from __future__ import annotations

import numpy as np
from rasterio.transform import Affine

from hydro.core.workspace import packaged
from hydro.io.parameters import read_parameter_set
from hydro.io.radar import read_radar
from hydro.nowcast.qc import fill_not_measured
from hydro.nowcast.regrid import catchment_mean, regrid
from hydro.runoff import Xinanjiang
from hydro.runoff.coupling import CellMapping
from hydro.stages.forecast import grid_lateral_inflow
from hydro.synthetic import synthetic_grid_basin


def test_knmi_rain_through_gridded_xaj_conserves_water(radar_dir):
    frames = read_radar(radar_dir / "knmi_20100826.nc",
                        window=(np.datetime64("2010-08-26T02:00"), np.datetime64("2010-08-26T05:00")))
    basin = synthetic_grid_basin(50, 50, seed=4, channel_cells=6)
    # place the 1 km basin grid (half-cell offset from the radar's) where it rained
    wet = np.nan_to_num(frames.rate).sum(axis=0)
    row, col = np.unravel_index(np.argmax(wet), wet.shape)
    t = frames.transform
    x0 = t.c + t.a * max(col - 25, 0) + 500.0
    y0 = t.f + t.e * max(row - 25, 0) - 500.0
    grid_transform = Affine(1000.0, 0.0, x0, 0.0, -1000.0, y0)
    rate = regrid(frames, basin.shape, grid_transform, frames.crs)  # mm h-1 per 5-minute frame
    rate = fill_not_measured(rate, "zero", "test basin")
    ten_minute_mm = rate.reshape(-1, 2, basin.shape[0] * basin.shape[1]).mean(axis=1) / 6.0
    assert ten_minute_mm.sum() > 0
    mapping = CellMapping.from_d8(basin.down, basin.shape, basin.channel_ids, basin.network.feature_id,
                                  (1000.0, 1000.0), 1e6, hillslope_velocity=0.3)
    model = Xinanjiang(1.0 / 6.0)
    values = read_parameter_set(packaged("models", "xaj/grid_default.toml"), model.name, model.parameter_names)
    table = model.step_table(values[None, :])
    state = model.cold_state(table, mapping.n_cells, 0.002, tension_fraction=0.9)
    lateral, balance = grid_lateral_inflow(model, table, state, mapping, ten_minute_mm,
                                           np.full_like(ten_minute_mm, 0.01))
    assert lateral.shape == (len(ten_minute_mm), basin.network.size) and np.isfinite(lateral).all()
    closing = (balance["rain_m3"] - balance["evaporation_m3"] - balance["storage_change_m3"]
               - balance["delivered_m3"] - balance["on_hillslopes_m3"])
    assert abs(closing) <= 1e-8 * balance["rain_m3"]  # float64 sums over 2,500 cells x 18 steps
    # the catchment mean rain of every segment is a weighted mean of its cells' rain
    per_segment = catchment_mean(mapping, ten_minute_mm.reshape((-1,) + basin.shape))
    assert per_segment.shape == lateral.shape
    assert np.all(per_segment <= ten_minute_mm.max(axis=1, keepdims=True) + 1e-12)
