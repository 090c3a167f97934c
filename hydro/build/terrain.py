"""DEM -> D8 flow directions -> the runoff grid, with pyflwdir.

The cycle runs its runoff model on the D8 raster it reads (``hydro.basin.BasinModel``: ``CellMapping.from_d8`` on
``flow_direction.tif``, rain regridded onto that grid), so the runoff grid *is* the D8 raster. On the DEM grid
(default) it is the DEM's own D8. With a coarser ``--grid-km`` the DEM's D8 is upscaled by IHU (Eilander et al.
2021): each coarse cell keeps one outlet pixel on the fine river network, so the upstream area, river length and
elevation of a coarse cell are read at that pixel from the fine grid, not estimated from coarse cells.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError

log = logging.getLogger("hydro")
NODATA = -9999.0
EARTH_RADIUS_M = 6_371_000.0  # the spherical Earth hydro.io.grid uses for cell sizes


def _peak_rss_gb() -> float | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # Linux: kB


@dataclass
class StageClock:
    """Wall and CPU seconds of the build's stages, for the summary and the bench (CPU time shows how much a shared
    machine's load stretched the wall time), and the process's peak resident memory at the end of each."""

    seconds: dict = field(default_factory=dict)  # stage -> {"wall": s, "cpu": s, "peak_gb": GB}
    _wall: float = field(default_factory=time.perf_counter)
    _cpu: float = field(default_factory=time.process_time)

    def lap(self, stage: str) -> None:
        """Charge the time since the last lap to ``stage``."""
        wall, cpu = time.perf_counter(), time.process_time()
        acc = self.seconds.setdefault(stage, {"wall": 0.0, "cpu": 0.0})
        acc["wall"] = round(acc["wall"] + wall - self._wall, 2)
        acc["cpu"] = round(acc["cpu"] + cpu - self._cpu, 2)
        acc["peak_gb"] = _peak_rss_gb()
        self._wall, self._cpu = wall, cpu


@dataclass
class Dem:
    path: Path
    elevation: NDArray[np.float32]  # nodata as NODATA
    transform: object  # affine.Affine
    crs: object  # rasterio CRS
    latlon: bool

    @property
    def shape(self) -> tuple[int, int]:
        return self.elevation.shape

    def cell_km(self) -> float:
        """Mean cell side [km] (geometric mean of x and y at the grid's mid latitude)."""
        dx, dy = abs(self.transform.a), abs(self.transform.e)
        if self.latlon:
            lat = self.transform.f + self.transform.e * self.shape[0] / 2.0
            m = math.pi * EARTH_RADIUS_M / 180.0
            dx, dy = dx * m * math.cos(math.radians(lat)), dy * m
        return math.sqrt(dx * dy) / 1000.0


def read_dem(path: Path) -> Dem:
    """Read a single-band elevation GeoTIFF; one line for a file without a CRS, with a rotated grid, or not in
    metres."""
    import rasterio

    from ..io.grid import _GDAL_ERRORS

    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: DEM not found")
    import warnings

    try:
        with warnings.catch_warnings():  # a file without georeferencing warns; its missing CRS is refused below
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                elevation = src.read(1, masked=True)
                transform, crs = src.transform, src.crs
    except (rasterio.errors.RasterioError, OSError, *_GDAL_ERRORS) as exc:
        raise InputDataError(f"{path}: cannot read the DEM ({str(exc).splitlines()[0]}); is it a GeoTIFF?") from None
    if crs is None:
        raise InputDataError(f"{path}: the DEM has no CRS, so cell areas and the outlet's position are unknown; set "
                             f"it (e.g. `gdal_edit.py -a_srs EPSG:4326 {path.name}`) and rerun")
    if transform.b != 0 or transform.d != 0:
        raise InputDataError(f"{path}: the DEM grid is rotated; warp it to a north-up grid (gdalwarp) and rerun")
    latlon = bool(crs.is_geographic)
    if not latlon and crs.linear_units not in ("metre", "meter", "m"):
        raise InputDataError(f"{path}: the DEM's projected CRS is in {crs.linear_units!r}; warp it to a CRS in "
                             "metres (or lat/lon) and rerun")
    values = np.ma.masked_invalid(elevation.astype(np.float32)).filled(NODATA)  # integer DEMs too (int16 SRTM)
    if not (values != NODATA).any():
        raise InputDataError(f"{path}: the DEM holds no valid elevation")
    return Dem(path, values, transform, crs, latlon)


@dataclass
class RunoffGrid:
    """The D8 grid the basin runs on, with what each cell carries from the DEM grid (flat arrays; on the DEM grid
    itself they are views of the DEM grid's arrays, no copies: a 10,000 x 10,000 DEM holds 1e8 cells)."""

    flw: object  # pyflwdir.FlwdirRaster on the runoff grid
    scale: int  # DEM cells per runoff cell side (1 = the DEM grid)
    upstream_area_km2: NDArray  # at the cell's outlet pixel, on the DEM grid
    river_length_m: NDArray[np.float32]  # from the outlet pixel down the DEM river to the next cell's outlet pixel
    elevation_m: NDArray  # depression-filled DEM at the outlet pixel (NODATA where not valid)
    valid: NDArray[np.bool_]
    pixel: NDArray[np.int64] | None  # the cell's outlet pixel on the DEM grid (flat); None: the DEM grid itself
    dem_transform: object
    dem_ncol: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.flw.shape

    @property
    def transform(self):
        return self.flw.transform

    def outlet_pixel(self, cells: NDArray) -> NDArray[np.int64]:
        cells = np.asarray(cells, np.int64)
        return cells if self.pixel is None else self.pixel[cells]

    def xy(self, cells: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Centre of the cells' outlet pixels in the DEM's CRS."""
        rows, cols = np.divmod(self.outlet_pixel(cells), self.dem_ncol)
        tr = self.dem_transform
        return tr.c + tr.a * (cols + 0.5), tr.f + tr.e * (rows + 0.5)


def flow_directions(dem: Dem, clock: StageClock | None = None):
    """Fill depressions (priority flood, all depths) and derive D8: returns (FlwdirRaster, filled elevation).

    The filling and the distance to the outlet are pyflwdir's algorithms run by hydro.kernels.terrain, which gives
    pyflwdir's results bit for bit (tests/build/test_fill.py) several times faster on large DEMs: pyflwdir 0.5.12
    queues the filling's cells as Python tuples and loops over the distances in the interpreter."""
    import pyflwdir

    from ..kernels.terrain import MAX_CELLS, UPSTREAM_D8, distance_to_outlet, priority_flood

    clock = clock or StageClock()
    if dem.elevation.size >= MAX_CELLS:
        raise InputDataError(f"{dem.path}: {dem.shape[0]} x {dem.shape[1]} cells, more than the build's 2^32; cut the "
                             "DEM to the basin (gdalwarp -te) or coarsen it, and rerun")
    filled, d8 = priority_flood(np.ascontiguousarray(dem.elevation, np.float32), np.float32(NODATA), UPSTREAM_D8)
    clock.lap("fill and D8")
    flw = pyflwdir.from_array(d8, ftype="d8", transform=dem.transform, latlon=dem.latlon, check_ftype=False, cache=True)
    del d8
    flw.idxs_seq  # noqa: B018  (the down- to upstream order, computed once and cached)
    clock.lap("flow graph")
    # distance to the outlet [m], which subgrid_rivlen reads (pyflwdir.streams.stream_distance, compiled)
    tr = dem.transform
    distance = distance_to_outlet(flw.idxs_ds, flw.idxs_seq, flw.shape[1], bool(dem.latlon), float(tr.a), float(tr.e),
                                  float(tr.f))
    flw._cached.update(distnc=distance.reshape(flw.shape))
    clock.lap("distance to outlet")
    return flw, filled


def runoff_grid(dem: Dem, flw, filled: NDArray, grid_km: float | None, clock: StageClock | None = None) -> RunoffGrid:
    """The runoff grid at ``grid_km`` (None: the DEM grid), see the module docstring."""
    clock = clock or StageClock()
    scale = 1
    if grid_km is not None:
        scale = int(round(grid_km / dem.cell_km()))
        if scale < 1:
            raise ConfigError(f"--grid-km {grid_km:g} is finer than the DEM's cells ({dem.cell_km():.3f} km); give "
                              f"at least {dem.cell_km():.2f} km, or leave it out to run on the DEM grid")
    upa = flw.upstream_area("km2")
    clock.lap("upstream area")
    if scale == 1:
        valid = flw.mask.ravel()
        # river length to the downstream cell: the difference of the distances to the outlet (0 at a pit)
        distance = flw.distnc.ravel()
        rivlen = (distance - distance[flw.idxs_ds]).astype(np.float32)
        return RunoffGrid(flw, 1, upa.ravel(), rivlen, filled.ravel(), valid, None, dem.transform, dem.shape[1])
    grid_flw, idxs_out = flw.upscale(scale, uparea=upa, method="ihu")
    clock.lap("upscaling")
    log.info("D8 upscaled by IHU from %d x %d DEM cells to %d x %d runoff cells (%d DEM cells a side, %.2f km)",
             *flw.shape, *grid_flw.shape, scale, scale * dem.cell_km())
    out = idxs_out.ravel().astype(np.int64)
    valid = (out >= 0) & grid_flw.mask.ravel()
    safe = np.where(valid, out, 0)
    rivlen = np.asarray(flw.subgrid_rivlen(idxs_out, direction="down", unit="m"), np.float32).ravel()
    return RunoffGrid(grid_flw, scale, np.where(valid, upa.ravel()[safe], 0.0), np.where(valid, rivlen, 0.0),
                      np.where(valid, filled.ravel()[safe], NODATA), valid, safe, dem.transform, dem.shape[1])


def to_dem_xy(dem: Dem, lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    """Longitude/latitude (WGS 84) -> the DEM's CRS."""
    if dem.latlon and dem.crs.to_epsg() == 4326:
        return np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", dem.crs.to_wkt(), always_xy=True)
    x, y = t.transform(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    return np.asarray(x), np.asarray(y)


def to_lonlat(dem: Dem, x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
    """The DEM's CRS -> longitude/latitude (WGS 84)."""
    if dem.latlon and dem.crs.to_epsg() == 4326:
        return np.asarray(x, np.float64), np.asarray(y, np.float64)
    from pyproj import Transformer

    t = Transformer.from_crs(dem.crs.to_wkt(), "EPSG:4326", always_xy=True)
    lon, lat = t.transform(np.asarray(x, np.float64), np.asarray(y, np.float64))
    return np.asarray(lon), np.asarray(lat)


def distance_m(dem: Dem, x0: float, y0: float, x: NDArray, y: NDArray) -> NDArray[np.float64]:
    """Distance [m] from (x0, y0) to (x, y) in the DEM's CRS (equirectangular on a lat/lon grid: exact to well under
    a cell over the few kilometres a snap searches)."""
    if not dem.latlon:
        return np.hypot(x - x0, y - y0)
    m = math.pi * EARTH_RADIUS_M / 180.0
    return np.hypot((x - x0) * m * math.cos(math.radians(y0)), (y - y0) * m)
