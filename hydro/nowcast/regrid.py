"""Rainfall onto the model: conservative regridding to the runoff grid, and catchment means per segment.

Regridding uses GDAL's area-weighted ``average`` resampling through rasterio (each target cell gets the
mean of the source cells it overlaps, weighted by overlap; unmeasured source cells are skipped, and
target cells with no measured overlap stay NaN), so the rain volume over a region is kept when the
target cells are as large as or larger than the radar's. Unmeasured cells are then resolved by an
explicit policy (``nowcast.qc.fill_not_measured``) before any runoff model sees them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject

from ..runoff.coupling import CellMapping
from .frames import RadarFrames


def regrid(frames: RadarFrames, shape: tuple[int, int], transform: Affine, crs: CRS | str) -> NDArray[np.float32]:
    """Frames [time, ny, nx] on the radar grid -> [time, *shape] on the target grid (mm h-1, NaN = unmeasured)."""
    out = np.full((len(frames.times),) + tuple(shape), np.nan, dtype=np.float32)
    for k in range(len(frames.times)):
        reproject(source=frames.rate[k], destination=out[k], src_transform=frames.transform, src_crs=frames.crs,
                  dst_transform=transform, dst_crs=crs, resampling=Resampling.average,
                  src_nodata=np.nan, dst_nodata=np.nan)
    return out


def catchment_mean(mapping: CellMapping, field: NDArray) -> NDArray[np.float64]:
    """Area-weighted mean of a grid field [..., ny, nx] over each segment's cells -> [..., n_segments]."""
    flat = np.asarray(field, dtype=np.float64).reshape(field.shape[:-2] + (-1,))
    weighted = flat[..., mapping.cell] * mapping.area_m2
    total = np.zeros(flat.shape[:-1] + (len(mapping.feature_id),))
    np.add.at(total, (..., mapping.entry_segment), weighted)
    area = mapping.segment_area_m2()
    return np.divide(total, area, out=np.full_like(total, np.nan), where=area > 0)
