"""Conservative regridding of radar rain onto the runoff grid, and catchment means."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.transform import Affine

from rasterio.crs import CRS as RasterioCRS

from hydro.io.radar import RadarFrames
from hydro.nowcast.regrid import catchment_mean, regrid
from hydro.runoff.coupling import CellMapping

CRS = "EPSG:32650"


def _frames(rate, transform):
    return RadarFrames("radar", rate[None].astype(np.float32), np.array([np.datetime64("2026-06-01T00:10")]),
                       RasterioCRS.from_user_input(CRS), transform)


def test_regrid_to_coarser_grid_keeps_the_rain_volume():
    rng = np.random.default_rng(2)
    fine = rng.gamma(0.5, 4.0, (120, 90))  # 500 m radar cells
    frames = _frames(fine, Affine(500, 0, 400_000, 0, -500, 4_000_000))
    coarse = regrid(frames, (60, 45), Affine(1000, 0, 400_000, 0, -1000, 4_000_000), CRS)[0]
    assert coarse.sum() * 1000**2 == pytest.approx(fine.sum() * 500**2, rel=1e-5)
    np.testing.assert_allclose(coarse[0, 0], fine[:2, :2].mean(), rtol=1e-5)
    # unmeasured radar cells are skipped, and a target cell with no measured overlap stays NaN
    fine[:2, :2] = np.nan
    frames.rate = fine[None].astype(np.float32)
    out = regrid(frames, (60, 45), Affine(1000, 0, 400_000, 0, -1000, 4_000_000), CRS)[0]
    assert np.isnan(out[0, 0]) and np.isfinite(out[1:, 1:]).all()


def test_catchment_mean_is_area_weighted():
    mapping = CellMapping.from_catchment_raster(np.array([[7, 7], [8, 0]]), np.array([7, 8]),
                                                np.array([1.0, 3.0, 2.0, 2.0]))
    rain = np.array([[2.0, 6.0], [5.0, 100.0]])
    np.testing.assert_allclose(catchment_mean(mapping, rain), [(2 * 1 + 6 * 3) / 4, 5.0])
    np.testing.assert_allclose(catchment_mean(mapping, np.stack([rain, 2 * rain])), [[5.0, 5.0], [10.0, 10.0]])
