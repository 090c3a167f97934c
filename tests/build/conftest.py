"""Small synthetic DEMs for the basin builder: a V-shaped valley draining south, with noise for tributaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RHINE_DEM = SHARED / "dem" / "rhine_elv0.tif"


def valley(ny: int = 60, nx: int = 50, seed: int = 3) -> np.ndarray:
    """Elevation [m]: rising north 2 m per cell, valley walls 0.5 m per cell off the centre column, smooth noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:ny, 0:nx].astype(np.float64)
    noise = rng.normal(0.0, 1.0, (ny, nx))
    for _ in range(3):  # cheap smoothing: keeps the noise from making one-cell pits everywhere
        noise = (noise + np.roll(noise, 1, 0) + np.roll(noise, -1, 0) + np.roll(noise, 1, 1) + np.roll(noise, -1, 1)) / 5
    return (100.0 + 2.0 * (ny - rows) + 0.5 * np.abs(cols - nx // 2) + 3.0 * noise).astype(np.float32)


def write_dem(path: Path, elevation: np.ndarray, transform, crs, nodata: float | None = -9999.0) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=elevation.shape[0], width=elevation.shape[1], count=1,
                       dtype=elevation.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(elevation, 1)
    return path


# a projected valley: 100 m cells in UTM 32N; its outlet (the valley centre 12 rows above the bottom) in lon/lat
UTM_ORIGIN = (500_000.0, 5_300_000.0)


@pytest.fixture(scope="session")
def utm_dem(tmp_path_factory) -> Path:
    return write_dem(tmp_path_factory.mktemp("dem") / "valley_utm.tif", valley(),
                     from_origin(*UTM_ORIGIN, 100.0, 100.0), "EPSG:32632")


def utm_lonlat(row: float, col: float) -> tuple[float, float]:
    from pyproj import Transformer

    x, y = UTM_ORIGIN[0] + 100.0 * (col + 0.5), UTM_ORIGIN[1] - 100.0 * (row + 0.5)
    lon, lat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon), float(lat)
