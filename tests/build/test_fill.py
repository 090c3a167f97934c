"""hydro.kernels.terrain against pyflwdir 0.5.12, whose algorithms it runs faster: the same filled DEM and D8 as
``pyflwdir.dem.fill_depressions`` and the same distances as ``pyflwdir.streams.stream_distance``, bit for bit, on
random DEMs built to tie (integer noise, flats, plateaus, nodata holes) and on the real Rhine DEM; and the filled
surface checked against what depression filling means, independently of pyflwdir."""

from __future__ import annotations

import numpy as np
import pyflwdir
import pytest
import rasterio
from rasterio.transform import from_origin

from hydro.kernels.terrain import UPSTREAM_D8, distance_to_outlet, priority_flood

from .conftest import RHINE_DEM

NODATA = np.float32(-9999.0)


def _rhine() -> tuple[np.ndarray, object]:
    if not RHINE_DEM.is_file():
        pytest.skip(f"{RHINE_DEM} not present (shared data)")
    with rasterio.open(RHINE_DEM) as src:
        elevation = src.read(1, masked=True)
        transform = src.transform
    return np.ma.masked_invalid(elevation.astype(np.float32)).filled(NODATA), transform


def _tilted(n: int, rng) -> np.ndarray:
    """The bench's DEM (hydro bench basin-build): a valley falling south, ridges, 0-2 m white noise."""
    rows, cols = np.mgrid[0:n, 0:n].astype(np.float32)
    return (0.6 * (n - rows) + 0.3 * np.abs(cols - n // 2) + 20.0 * np.sin(cols / 37.0) * np.sin(rows / 53.0)
            + rng.uniform(0.0, 2.0, (n, n))).astype(np.float32)


def _random_dems():
    rng = np.random.default_rng(16)
    yield "white noise", rng.uniform(0.0, 2.0, (150, 210)).astype(np.float32)
    yield "integer noise (ties everywhere)", rng.integers(0, 4, (170, 130)).astype(np.float32)
    yield "tilted noise", _tilted(200, rng)
    rows = np.arange(180, dtype=np.float32)[:, None]
    yield "terraces (wide flats)", np.round(0.02 * rows + rng.uniform(0.0, 1.0, (180, 160))).astype(np.float32)
    yield "all flat", np.zeros((60, 90), np.float32)
    plateau = rng.uniform(0.0, 2.0, (120, 140)).astype(np.float32)
    plateau[30:90, 40:100] = 50.0  # a raised flat and a pit inside it
    plateau[60, 70] = 1.0
    yield "plateau with a pit", plateau
    holes = rng.normal(0.0, 3.0, (160, 160)).astype(np.float32)  # negative elevations and -0.0 too
    holes[::7, ::11] = -0.0
    holes[40:70, 20:120] = NODATA
    holes[:, :5] = NODATA
    holes[rng.random(holes.shape) < 0.04] = NODATA
    yield "nodata holes and borders", holes


@pytest.mark.parametrize("name,elevation", list(_random_dems()), ids=lambda v: v if isinstance(v, str) else "")
def test_fill_is_pyflwdirs_bit_for_bit(name, elevation):
    ref_filled, ref_d8 = pyflwdir.dem.fill_depressions(elevation, outlets="edge", nodata=float(NODATA))
    filled, d8 = priority_flood(elevation, NODATA, UPSTREAM_D8)
    assert filled.dtype == ref_filled.dtype and d8.dtype == ref_d8.dtype
    assert np.array_equal(filled.view(np.uint32), ref_filled.view(np.uint32)), name
    assert np.array_equal(d8, ref_d8), name


def test_fill_on_the_rhine_dem_is_pyflwdirs():
    elevation, _ = _rhine()
    ref_filled, ref_d8 = pyflwdir.dem.fill_depressions(elevation, outlets="edge", nodata=float(NODATA))
    filled, d8 = priority_flood(elevation, NODATA, UPSTREAM_D8)
    assert np.array_equal(filled.view(np.uint32), ref_filled.view(np.uint32))
    assert np.array_equal(d8, ref_d8)
    assert (filled > elevation).sum() > 50  # MERIT Hydro's conditioned DEM still has a few pits (87 cells raised)


@pytest.mark.parametrize("seed", [1, 2])
def test_filled_surface_drains_every_cell_to_an_outlet_without_rising(seed):
    """What filling means, without pyflwdir: nothing lowered, every valid cell's D8 path ends at an edge cell and
    never climbs, and no cell was raised higher than needed (a raised cell has a neighbour at its new level that
    it drains to)."""
    rng = np.random.default_rng(seed)
    elevation = _tilted(120, rng)
    elevation[50:60, 30:45] = NODATA
    filled, d8 = priority_flood(elevation, NODATA, UPSTREAM_D8)
    valid = elevation != NODATA
    assert (filled[valid] >= elevation[valid]).all()
    assert (d8[~valid] == 247).all()
    flw = pyflwdir.from_array(d8, ftype="d8", check_ftype=False)
    ds = flw.idxs_ds
    cells = np.flatnonzero(valid)
    z = filled.ravel()
    assert (z[ds[cells]] <= z[cells]).all()  # each step goes down or stays level
    assert flw.idxs_seq.size == cells.size  # no loops: every valid cell is ordered down to a pit
    pits = cells[ds[cells] == cells]
    rows, cols = np.divmod(pits, elevation.shape[1])
    padded = np.pad(valid, 1, constant_values=False)
    on_edge = np.array([not padded[r:r + 3, c:c + 3].all() for r, c in zip(rows, cols)])
    assert on_edge.all()  # outlets only where the valid cells end
    raised = cells[z[cells] > elevation.ravel()[cells]]
    assert (z[ds[raised]] == z[raised]).all()  # a raised cell sits at its spill level


def _check_distance(elevation, transform, latlon):
    _, d8 = priority_flood(elevation, NODATA, UPSTREAM_D8)
    flw = pyflwdir.from_array(d8, ftype="d8", transform=transform, latlon=latlon, check_ftype=False)
    tr = tuple(float(v) for v in transform[:6])
    ref = pyflwdir.streams.stream_distance(idxs_ds=flw.idxs_ds, seq=flw.idxs_seq, ncol=flw.shape[1],
                                           real_length=True, transform=tr, latlon=latlon)
    dist = distance_to_outlet(flw.idxs_ds, flw.idxs_seq, flw.shape[1], latlon, tr[0], tr[4], tr[5])
    assert dist.dtype == ref.dtype
    assert np.array_equal(dist.view(np.uint32), ref.view(np.uint32))
    return dist


@pytest.mark.parametrize("cell", [(30.0, 30.0), (30.0, 20.0)])
def test_distance_to_outlet_is_pyflwdirs_on_a_projected_grid(cell):
    elevation = _tilted(150, np.random.default_rng(5))
    dist = _check_distance(elevation, from_origin(300_000.0, 5_300_000.0, *cell), latlon=False)
    assert dist.max() > 150 * min(cell)  # the longest path runs at least the DEM's height


def test_distance_to_outlet_is_pyflwdirs_on_the_rhine_lat_lon_grid():
    elevation, transform = _rhine()
    _check_distance(elevation, transform, latlon=True)
