"""Radar onto a basin grid: every format hydro reads, radar CRS different from the basin's, the areal mean kept.

The reference areal mean is computed independently of GDAL: each basin cell is sampled on a fine sub-grid of
points, every point projected into the radar CRS with pyproj and given the value of the radar cell it
falls in, and the points weighted by their cell's area (cos(latitude) on a lat/lon grid).
"""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import Affine
from scipy.ndimage import uniform_filter

from hydro.core.errors import InputDataError
from hydro.io.radar import read_radar
from hydro.nowcast.regrid import regrid
from hydro.stages.forcing import Forcing
from tests.forcing.helpers import grid_basin, write_setup

LATLON = "EPSG:4326"


def reference_mean(rate: np.ndarray, frames, transform: Affine, shape, crs: str, sub: int = 8) -> float:
    """Area-weighted mean of the radar field ``rate`` over the target grid, by point sampling."""
    ny, nx = shape
    cols, rows = np.meshgrid((np.arange(nx * sub) + 0.5) / sub, (np.arange(ny * sub) + 0.5) / sub)
    x, y = transform.c + transform.a * cols, transform.f + transform.e * rows
    sx, sy = Transformer.from_crs(CRS.from_user_input(crs).to_wkt(), frames.crs.to_wkt(), always_xy=True).transform(x, y)
    col, row = ~frames.transform @ (sx, sy)
    values = rate[np.floor(row).astype(int), np.floor(col).astype(int)].astype(np.float64)
    weight = np.cos(np.radians(y)) if CRS.from_user_input(crs).is_geographic else np.ones_like(y)
    assert np.isfinite(values).all(), "the test region must be fully measured"
    return float((values * weight).sum() / weight.sum())


def grid_mean(field: np.ndarray, transform: Affine, crs: str) -> float:
    ny, nx = field.shape
    lat = transform.f + transform.e * (np.arange(ny) + 0.5)
    weight = (np.cos(np.radians(lat))[:, None] if CRS.from_user_input(crs).is_geographic else np.ones((ny, 1))) \
        * np.ones((1, nx))
    return float((field * weight).sum() / weight.sum())


def wet_latlon_grid(frames, size_km: float = 60.0, res_deg: float = 0.02):
    """A lat/lon basin grid of about ``size_km`` around the wettest fully measured spot of the first frame."""
    stride = max(1, int(round(1.0 / frames.cell_km)))  # search on about 1 km cells
    rate = frames.rate[0][::stride, ::stride]
    n = max(3, int(round(1.6 * size_km / (frames.cell_km * stride))))  # window with margin for the rotation
    measured = uniform_filter(np.isfinite(rate).astype(float), n, mode="constant") > 0.999999
    wet = uniform_filter(np.nan_to_num(rate), n, mode="constant")
    row, col = np.unravel_index(np.argmax(np.where(measured, wet, -1.0)), rate.shape)
    assert measured[row, col] and wet[row, col] > 0.05, "no wet, fully measured region"
    x, y = frames.transform @ ((col + 0.5) * stride, (row + 0.5) * stride)
    lon, lat = Transformer.from_crs(frames.crs.to_wkt(), LATLON, always_xy=True).transform(x, y)
    ny = int(round(size_km / 111.2 / res_deg))
    nx = int(round(size_km / (111.2 * np.cos(np.radians(lat))) / res_deg))
    transform = Affine(res_deg, 0.0, lon - nx * res_deg / 2, 0.0, -res_deg, lat + ny * res_deg / 2)
    return (ny, nx), transform


ORIGINALS = ["knmi_hdf5", "mch_gif", "odim_hdf5_opera", "fmi_geotiff", "fmi_pgm"]


@pytest.mark.parametrize("folder", ORIGINALS)
def test_every_radar_format_regrids_onto_a_latlon_basin_keeping_the_areal_mean(radar_dir, folder):
    """One real file of each format (their projections: KNMI and FMI polar stereographic, Swiss LV03,
    OPERA LAEA, ETRS-TM35FIN) onto a 0.02 degree lat/lon basin grid."""
    path = sorted((radar_dir / "original" / folder).iterdir())[0]
    frames = read_radar(path)
    assert frames.crs.to_epsg() != 4326
    shape, transform = wet_latlon_grid(frames)
    field = regrid(frames, shape, transform, LATLON)[0]
    assert np.isfinite(field).all()
    source = frames.rate[0]
    assert 0.0 <= field.min() and field.max() <= np.nanmax(source)
    expected = reference_mean(source, frames, transform, shape, LATLON)
    assert grid_mean(field, transform, LATLON) == pytest.approx(expected, rel=0.01)


def test_swiss_radar_onto_a_latlon_basin_conserves_the_areal_mean_at_several_resolutions(radar_dir):
    """MeteoSwiss LV03 1 km composite (CF NetCDF) onto lat/lon grids finer and coarser than the radar."""
    frames = read_radar(radar_dir / "mch_20160711.nc",
                        window=(np.datetime64("2016-07-11T21:55"), np.datetime64("2016-07-11T22:00")))
    for res, sub, rel in ((0.005, 4, 2e-3), (0.02, 8, 2e-3), (0.05, 20, 3e-3)):
        shape = (int(round(1.0 / res)), int(round(1.5 / res)))
        transform = Affine(res, 0.0, 8.5, 0.0, -res, 47.0)  # lon 8.5-10 E, lat 46-47 N: central Switzerland
        field = regrid(frames, shape, transform, LATLON)[0]
        assert np.isfinite(field).all()
        expected = reference_mean(frames.rate[0], frames, transform, shape, LATLON, sub=sub)
        assert expected > 0.1
        assert grid_mean(field, transform, LATLON) == pytest.approx(expected, rel=rel), res


def test_radar_kind_gives_ten_minute_totals_of_the_regridded_frames(radar_dir, tmp_path):
    """kind = "radar" on a lat/lon basin: each 10-minute step is the mean of its two regridded 5-minute
    frames times 1/6 h, and the basin rain total is the areal mean of the radar rain."""
    shape, transform = (40, 60), Affine(0.02, 0.0, 8.6, 0.0, -0.02, 47.0)
    basin = grid_basin(shape, transform, LATLON)
    setup = write_setup(tmp_path, f'kind = "radar"\nstart = "2016-07-11T21:00:00"\nhours = 1\n'
                                  f'path = "{radar_dir / "mch_20160711.nc"}"\nmissing = "error"\n')
    forcing = Forcing(setup, basin)
    rain = forcing.rain(forcing.start, forcing.end)
    assert rain.shape == (6,) + shape and rain.dtype == np.float32
    frames = read_radar(radar_dir / "mch_20160711.nc",
                        window=(np.datetime64("2016-07-11T21:00"), np.datetime64("2016-07-11T22:00")))
    rate = regrid(frames, shape, transform, LATLON)
    np.testing.assert_allclose(rain, rate.reshape(6, 2, *shape).mean(axis=1) / 6.0, rtol=1e-6, atol=1e-7)
    total = sum(reference_mean(frames.rate[k], frames, transform, shape, LATLON, sub=4) for k in range(12)) / 12.0
    assert total > 0.1
    assert grid_mean(rain.sum(axis=0), transform, LATLON) == pytest.approx(total, rel=3e-3)
    assert "regridded" in forcing.rain_source


def test_radar_kind_refuses_a_gap_and_a_radar_that_misses_the_basin(radar_dir, tmp_path):
    gifs = radar_dir / "original" / "mch_gif"  # four 5-minute frames ending 22:00 .. 22:15: not a whole hour
    basin = grid_basin((40, 60), Affine(0.02, 0.0, 8.6, 0.0, -0.02, 47.0), LATLON)
    setup = write_setup(tmp_path / "gap", f'kind = "radar"\nstart = "2016-07-11T21:55:00"\nhours = 1\npath = "{gifs}"\n')
    with pytest.raises(InputDataError, match=r"mch_gif: no data for the 10 minutes ending 2016-07-11T22:25"):
        Forcing(setup, basin).rain(np.datetime64("2016-07-11T21:55"), np.datetime64("2016-07-11T22:55"))
    spain = grid_basin((20, 20), Affine(0.02, 0.0, -4.0, 0.0, -0.02, 40.4), LATLON)
    setup = write_setup(tmp_path / "far", f'kind = "radar"\nstart = "2016-07-11T21:00:00"\nhours = 1\n'
                                          f'path = "{radar_dir / "mch_20160711.nc"}"\n')
    with pytest.raises(InputDataError, match=r"radar grid does not cover 400 of 400 basin cells"):
        Forcing(setup, spain).rain(np.datetime64("2016-07-11T21:00"), np.datetime64("2016-07-11T22:00"))
