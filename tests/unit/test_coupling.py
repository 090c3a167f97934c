"""Grid-to-network coupling: D8 rasters, cell -> segment mapping, conservative hillslope delays."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin

from hydro.core.errors import InputDataError
from hydro.io.grid import d8_codes, read_d8, read_id_raster, write_raster
from hydro.kernels import grid as kg
from hydro.runoff.coupling import CellMapping
from hydro.synthetic import synthetic_grid_basin


@pytest.fixture(scope="module")
def basin():
    return synthetic_grid_basin(40, 40, seed=3, channel_cells=6)


def _write_basin(tmp_path, basin):
    d8 = tmp_path / "d8.tif"
    ids = tmp_path / "channels.tif"
    write_raster(d8, d8_codes(basin.down, basin.shape), basin.transform, basin.crs, nodata=255)
    write_raster(ids, basin.channel_ids.astype(np.int32), basin.transform, basin.crs, nodata=0)
    return d8, ids


def test_d8_geotiff_round_trip_and_mapping_covers_the_basin(tmp_path, basin):
    d8, ids = _write_basin(tmp_path, basin)
    grid = read_d8(d8)
    np.testing.assert_array_equal(grid.down, basin.down)
    assert grid.cell_size_m == (1000.0, 1000.0)
    mapping = CellMapping.from_d8(grid.down, grid.shape, read_id_raster(ids, grid), basin.network.feature_id,
                                  grid.cell_size_m, grid.cell_area_m2)
    inside = np.flatnonzero(basin.down != kg.OUTSIDE)
    np.testing.assert_array_equal(np.sort(mapping.cell), inside)  # every basin cell exactly once
    np.testing.assert_allclose(mapping.segment_area_m2() / 1e6, basin.local_area_km2)
    channel = basin.channel_ids.ravel()[mapping.cell] > 0
    assert (mapping.travel_time_s[channel] == 0).all() and (mapping.travel_time_s[~channel] > 0).all()


def test_hillslope_delay_by_hand():
    """1 x 3 row draining east; only the last cell is channel. At 1000/600 m/s a cell is one 600 s step."""
    down = np.array([1, 2, -1])
    mapping = CellMapping.from_d8(down, (1, 3), np.array([[0, 0, 5]]), np.array([5]), (1000.0, 1000.0), 1e6,
                                  hillslope_velocity=1000.0 / 600.0)
    runoff = np.zeros((4, 3))
    runoff[0] = 1.0  # 1 mm everywhere in the first step = 1000 m3 per cell
    q = mapping.lateral(runoff, 600.0)
    np.testing.assert_allclose(q[:, 0] * 600.0, [1000.0, 1000.0, 1000.0, 0.0])


@settings(deadline=None, max_examples=40)
@given(velocity=st.floats(0.01, 5.0), steps=st.integers(1, 30), seed=st.integers(0, 10_000))
def test_lateral_conserves_volume(basin, velocity, steps, seed):
    rng = np.random.default_rng(seed)
    mapping = CellMapping.from_d8(basin.down, basin.shape, basin.channel_ids, basin.network.feature_id,
                                  (1000.0, 1000.0), 1e6, hillslope_velocity=velocity)
    runoff = rng.gamma(0.5, 2.0, size=(steps, mapping.n_cells))
    dt = 600.0
    delivered = mapping.lateral(runoff, dt).sum() * dt
    generated = (runoff[:, mapping.cell] * mapping.area_m2 / 1000.0).sum()
    assert delivered + mapping.pending.sum() == pytest.approx(generated, rel=1e-12)


def test_bad_rasters_are_named(tmp_path, basin):
    d8, ids = _write_basin(tmp_path, basin)
    grid = read_d8(d8)
    small = tmp_path / "small.tif"
    write_raster(small, np.zeros((5, 5), np.int32), from_origin(0, 0, 1000, 1000), basin.crs)
    with pytest.raises(InputDataError, match="small.tif.*does not match the flow-direction grid"):
        read_id_raster(small, grid)
    with pytest.raises(InputDataError, match="segment ids not in the network: 7"):
        CellMapping.from_d8(grid.down, grid.shape, np.where(basin.channel_ids == 7, 7, 0), np.array([1, 2]),
                            grid.cell_size_m, 1e6)
    loop = np.array([1, 0, -1])
    with pytest.raises(InputDataError, match="loop"):
        CellMapping.from_d8(loop, (1, 3), np.array([[0, 0, 1]]), np.array([1]), (1000.0, 1000.0), 1e6)
    bad = tmp_path / "bad_d8.tif"
    codes = d8_codes(basin.down, basin.shape)
    codes[3, 4] = 3
    with rasterio.open(d8) as src:
        write_raster(bad, codes, src.transform, src.crs, nodata=255)
    with pytest.raises(InputDataError, match=r"bad_d8.tif: cell \(row 3, col 4\) has flow direction 3"):
        read_d8(bad)
    with pytest.raises(InputDataError, match="expected \\(n_steps, 1600\\)"):
        CellMapping.from_d8(grid.down, grid.shape, basin.channel_ids, basin.network.feature_id, (1e3, 1e3),
                            1e6).lateral(np.zeros((2, 10)), 600.0)
