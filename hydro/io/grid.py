"""Rasters of the runoff grid (GeoTIFF via rasterio): D8 flow direction and channel / catchment ids.

D8 directions use the ESRI codes (1 E, 2 SE, 4 S, 8 SW, 16 W, 32 NW, 64 N, 128 NE); 0 marks a cell
that drains out of the grid (an outlet), the raster's nodata marks cells outside the basin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.transform import Affine

from ..core.errors import InputDataError
from ..kernels import grid as kg
from .atomic import write_atomic

ESRI_NODATA = 255


def _gdal_errors() -> tuple[type[Exception], ...]:
    """GDAL's errors as rasterio raises them from a damaged file (CPLE_AppDefinedError, ...: not RasterioError)."""
    try:
        from rasterio._err import CPLE_BaseError

        return (CPLE_BaseError,)
    except ImportError:  # a rasterio that moved it: its RasterioError still covers the open
        return ()


_GDAL_ERRORS = _gdal_errors()


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@dataclass
class D8Grid:
    source: str
    down: NDArray[np.int64]  # flat index of the downstream cell; -1 leaves the grid, -2 outside the basin
    shape: tuple[int, int]
    transform: Affine
    crs: object
    cell_size_m: tuple[float, float]  # (dx, dy)
    cell_area_m2: NDArray[np.float64]  # per cell (varies with latitude on geographic grids)


def _cell_geometry(transform: Affine, crs, shape: tuple[int, int]) -> tuple[tuple[float, float], NDArray]:
    dx, dy = abs(transform.a), abs(transform.e)
    if crs is not None and crs.is_geographic:
        # metres per degree at each row's latitude (spherical Earth, R = 6371 km)
        lat = transform.f + transform.e * (np.arange(shape[0]) + 0.5)
        m_per_deg = math.pi * 6_371_000.0 / 180.0
        area_rows = (dx * m_per_deg * np.cos(np.radians(lat))) * (dy * m_per_deg)
        mid = float(np.cos(np.radians(lat.mean())))
        return (dx * m_per_deg * mid, dy * m_per_deg), np.repeat(area_rows, shape[1])
    return (dx, dy), np.full(shape[0] * shape[1], dx * dy)


def read_d8(path: Path) -> D8Grid:
    """Read an ESRI-coded D8 raster; raise naming the file and cell for codes that are not D8."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: flow-direction raster not found")
    try:
        with rasterio.open(path) as src:
            codes = src.read(1).astype(np.int64)
            nodata = src.nodata
            transform, crs = src.transform, src.crs
    except (rasterio.errors.RasterioError, OSError, *_GDAL_ERRORS) as exc:
        raise InputDataError(f"{path}: cannot read flow-direction raster ({_first_line(exc)}); "
                             "the file is damaged or not a GeoTIFF") from None
    ny, nx = codes.shape
    outside = codes == (int(nodata) if nodata is not None else -999999)
    valid = np.isin(codes, kg.ESRI_CODES) | (codes == 0) | outside
    if not valid.all():
        y, x = np.argwhere(~valid)[0]
        raise InputDataError(f"{path}: cell (row {y}, col {x}) has flow direction {codes[y, x]}; "
                             "expected ESRI D8 codes 1, 2, 4, ..., 128, 0 for an outlet, or nodata")
    down = np.full(ny * nx, kg.LEAVES, dtype=np.int64)
    yy, xx = np.divmod(np.arange(ny * nx), nx)
    flat = codes.ravel()
    for k, code in enumerate(kg.ESRI_CODES):
        sel = flat == code
        ty, tx = yy[sel] + kg.D8_DY[k], xx[sel] + kg.D8_DX[k]
        inside_grid = (ty >= 0) & (ty < ny) & (tx >= 0) & (tx < nx)
        target = np.where(inside_grid, ty * nx + tx, kg.LEAVES)
        down[np.flatnonzero(sel)] = target
    # a cell draining into a nodata cell leaves the basin there
    points = np.flatnonzero(down >= 0)
    down[points[outside.ravel()[down[points]]]] = kg.LEAVES
    down[outside.ravel()] = kg.OUTSIDE
    size, area = _cell_geometry(transform, crs, (ny, nx))
    return D8Grid(str(path), down, (ny, nx), transform, crs, size, area)


def d8_codes(down: NDArray[np.int64], shape: tuple[int, int]) -> NDArray[np.uint8]:
    """ESRI D8 codes of a ``down`` array (0 = outlet, 255 = outside the basin)."""
    ny, nx = shape
    codes = np.full(ny * nx, ESRI_NODATA, dtype=np.uint8)
    yy, xx = np.divmod(np.arange(ny * nx), nx)
    codes[down == kg.LEAVES] = 0
    has = down >= 0
    dy = down[has] // nx - yy[has]
    dx = down[has] % nx - xx[has]
    lookup = {(int(a), int(b)): int(c) for a, b, c in zip(kg.D8_DY, kg.D8_DX, kg.ESRI_CODES, strict=True)}
    codes[has] = [lookup[(a, b)] for a, b in zip(dy, dx, strict=True)]
    return codes.reshape(shape)


def write_raster(path: Path, array: NDArray, transform: Affine, crs, nodata=None) -> None:
    """Write a single-band GeoTIFF atomically."""
    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", driver="GTiff", height=array.shape[0], width=array.shape[1], count=1,
                           dtype=array.dtype, crs=crs, transform=transform, nodata=nodata, compress="deflate") as dst:
            dst.write(array, 1)

    write_atomic(path, write)


def read_id_raster(path: Path, grid: D8Grid | None = None) -> NDArray[np.int64]:
    """Read a raster of segment ids (0 / nodata = none); it must match ``grid`` cell for cell."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: id raster not found")
    try:
        with rasterio.open(path) as src:
            ids = src.read(1).astype(np.int64)
            nodata, transform = src.nodata, src.transform
    except (rasterio.errors.RasterioError, OSError, *_GDAL_ERRORS) as exc:
        raise InputDataError(f"{path}: cannot read id raster ({_first_line(exc)}); the file is damaged or not a "
                             "GeoTIFF") from None
    if nodata is not None:
        ids[ids == int(nodata)] = 0
    if grid is not None and (ids.shape != grid.shape or not transform.almost_equals(grid.transform)):
        raise InputDataError(f"{path}: grid {ids.shape} with transform {tuple(transform)[:6]} does not match "
                             f"the flow-direction grid {grid.shape} {tuple(grid.transform)[:6]} ({grid.source}); "
                             "resample both rasters onto one grid")
    return ids
