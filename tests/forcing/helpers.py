"""Helpers for the forcing tests: a basin stand-in with only what the forcing reads (grid, cells)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import Affine


def grid_basin(shape: tuple[int, int], transform: Affine, crs: str) -> SimpleNamespace:
    """A basin whose every grid cell drains to the network: ``grid`` (shape, transform, crs) and
    ``mapping.cell``, as ``hydro.stages.forcing.Forcing`` reads them."""
    grid = SimpleNamespace(shape=shape, transform=transform, crs=CRS.from_user_input(crs))
    return SimpleNamespace(name="test", grid=grid, mapping=SimpleNamespace(cell=np.arange(shape[0] * shape[1])))


def write_setup(folder, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "setup.toml"
    path.write_text(text)
    return path
