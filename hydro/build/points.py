"""Gauges, control sections, reservoirs and outlets: read from their files and snapped to the river.

A point snaps to a river cell (upstream area at or above the stream threshold) of the runoff grid within
``radius_m`` of its position. With a reported drainage area it takes the cell whose upstream area matches best
(the log ratio; distance breaks ties) and must match within ``area_tolerance``; without one it takes the nearest
river cell (the larger river on a tie). Positions are those of the cells' outlet pixels on the DEM grid.
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError, InputDataError
from ..io.tables import read_table
from .terrain import Dem, RunoffGrid, distance_m, to_dem_xy

log = logging.getLogger("hydro")
SECTION_LISTS = ("rating_stage_m", "rating_discharge_m3s")  # ';'-separated numbers in a CSV cell


@dataclass
class Point:
    kind: str  # outlet, gauge, section, reservoir
    id: str
    lon: float
    lat: float
    area_km2: float | None  # reported drainage area
    source: str  # file and row, for messages
    fields: dict = field(default_factory=dict)  # the rest (section or reservoir fields)
    cell: int = -1  # snapped runoff-grid cell (flat)
    distance_m: float = float("nan")
    upstream_area_km2: float = float("nan")

    @property
    def label(self) -> str:
        area = f", {self.area_km2:g} km2" if self.area_km2 else ""
        return f"{self.kind} {self.id!r} ({self.lon:.4f} E, {self.lat:.4f} N{area}; {self.source})"

    @property
    def area_mismatch(self) -> float | None:
        return None if not self.area_km2 else self.upstream_area_km2 / self.area_km2 - 1.0


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputDataError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputDataError(f"{what}: {text!r} is not a finite number")
    return value


def _lonlat(lon: float, lat: float, what: str) -> None:
    if not (-180.0 <= lon <= 360.0 and -90.0 <= lat <= 90.0):
        raise InputDataError(f"{what}: lon {lon:g}, lat {lat:g} is not a position in degrees (columns lon,lat)")


def parse_outlet(text: str) -> Point:
    """``LON,LAT`` or ``LON,LAT,AREA_KM2`` from the command line."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise ConfigError(f"--outlet {text!r}: give LON,LAT or LON,LAT,AREA_KM2 in degrees (and km2)")
    values = [_number(p, f"--outlet {text!r}") for p in parts]
    _lonlat(values[0], values[1], f"--outlet {text!r}")
    if len(values) == 3 and values[2] <= 0:
        raise ConfigError(f"--outlet {text!r}: the drainage area must be positive")
    return Point("outlet", f"outlet{text}", values[0], values[1], values[2] if len(values) == 3 else None,
                 "--outlet")


def read_points_csv(path: Path, kind: str, extra: tuple[str, ...] = ()) -> list[Point]:
    """``id,lon,lat[,area_km2]`` plus ``extra`` columns (kept as text in ``fields``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {kind} file not found")
    table = read_table(path, f"{kind} CSV")  # a binary, cut or malformed file refused naming its line
    header, rows = table.header, table.records()
    missing = [c for c in ("id", "lon", "lat", *extra) if c not in header]
    if not rows or missing:
        raise InputDataError(f"{path}: need a header with columns id,lon,lat[,area_km2]"
                             f"{''.join(',' + c for c in extra)} and one row per {kind}"
                             + (f"; missing {', '.join(missing)}" if rows else "; the file has no rows"))
    points, seen = [], set()
    for k, row in rows:
        where = f"{path} row {k}"  # the physical line (comment and blank lines count)
        row = {c: (v or "") for c, v in row.items()}
        pid = (row.get("id") or "").strip()
        if not pid or pid in seen:
            raise InputDataError(f"{where}: {'empty' if not pid else 'duplicate'} id {pid!r}; give each {kind} its own id")
        seen.add(pid)
        lon, lat = _number(row["lon"], f"{where} lon"), _number(row["lat"], f"{where} lat")
        _lonlat(lon, lat, where)
        area = None
        if (row.get("area_km2") or "").strip():
            area = _number(row["area_km2"], f"{where} area_km2")
            if area <= 0:
                raise InputDataError(f"{where}: area_km2 {area:g} must be positive (or empty when unknown)")
        rest = {c: row[c].strip() for c in header if c not in ("id", "lon", "lat", "area_km2") and (row[c] or "").strip()}
        points.append(Point(kind, pid, lon, lat, area, where, rest))
    return points


def section_fields(point: Point) -> dict:
    """The control-section fields of the basin file from a SECTIONS.csv row (numbers, rating lists)."""
    out: dict = {}
    for key, text in point.fields.items():
        if key in SECTION_LISTS:
            out[key] = [_number(v, f"{point.source} {key}") for v in text.split(";") if v.strip()]
        else:
            out[key] = _number(text, f"{point.source} {key}")
    return out


def read_reservoirs(path: Path) -> list[Point]:
    """``[[reservoirs]]`` as in the basin file, with ``lon``, ``lat`` (and optionally ``area_km2``) instead of
    ``feature_id``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: reservoirs file not found")
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    items = doc.get("reservoirs")
    if not isinstance(items, list) or not items or set(doc) - {"reservoirs"}:
        raise ConfigError(f"{path}: expected only [[reservoirs]] tables (the basin file's fields with lon, lat instead "
                          "of feature_id)")
    points = []
    for k, item in enumerate(items):
        where = f"{path} reservoirs.{k}"
        if not isinstance(item, dict) or "feature_id" in item or not {"id", "lon", "lat"} <= set(item):
            raise ConfigError(f"{where}: give id, lon and lat (not feature_id: the build finds the segment)")
        lon, lat = _number(item["lon"], f"{where}.lon"), _number(item["lat"], f"{where}.lat")
        _lonlat(lon, lat, where)
        area = item.get("area_km2")
        rest = {key: v for key, v in item.items() if key not in ("id", "lon", "lat", "area_km2")}
        points.append(Point("reservoir", str(item["id"]), lon, lat, None if area is None else _number(area, where),
                            where, rest))
    return points


def snap(point: Point, dem: Dem, grid: RunoffGrid, river: np.ndarray, basin: np.ndarray | None, radius_m: float,
         area_tolerance: float) -> None:
    """Put ``point`` on a river cell (see the module docstring); one line naming the point and what to do when
    none fits. ``river`` and ``basin`` are flat masks of the runoff grid (``basin`` None: anywhere)."""
    x0, y0 = (float(v[0]) for v in to_dem_xy(dem, np.array([point.lon]), np.array([point.lat])))
    if point.kind == "outlet":
        check_on_dem(point, dem)
    else:
        b = _bounds(dem)
        if not (b[0] <= x0 <= b[2] and b[1] <= y0 <= b[3]):
            raise InputDataError(f"{point.label}: outside the DEM {dem.path.name}; check the lon,lat order or use a "
                                 "DEM that covers it")
    # candidates: river cells whose outlet pixel lies within the radius (a window of the runoff grid around the point)
    tr = grid.transform
    gc, gr = (x0 - tr.c) / tr.a, (y0 - tr.f) / tr.e
    cell_size = max(abs(grid.transform.a), abs(grid.transform.e))
    reach = int(math.ceil(_radius_in_units(dem, radius_m, y0) / cell_size)) + 1
    ny, nx = grid.shape
    r0, r1 = max(0, int(gr) - reach), min(ny, int(gr) + reach + 1)
    c0, c1 = max(0, int(gc) - reach), min(nx, int(gc) + reach + 1)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    cells = (rr * nx + cc).ravel()
    ok = river[cells] & (basin[cells] if basin is not None else True)
    cells = cells[ok]
    dist = distance_m(dem, x0, y0, *grid.xy(cells)) if cells.size else np.zeros(0)
    near = dist <= radius_m
    cells, dist = cells[near], dist[near]
    if cells.size == 0:
        where = "a river" if basin is None else "a river of the basin draining to the outlet(s)"
        raise InputDataError(f"{point.label}: no cell of {where} within {radius_m / 1000:g} km; check the position, "
                             "lower --stream-area-km2 (smaller rivers), or raise --snap-km")
    area = grid.upstream_area_km2[cells]
    if point.area_km2:
        # the best area match anywhere within the radius (published coordinates and a 1 km DEM's river can be km
        # apart); distance breaks ties. The log and points.csv give how far each point moved.
        misfit = np.round(np.abs(np.log(area / point.area_km2)), 6)
        best = np.lexsort((dist, misfit))[0]
        if abs(area[best] / point.area_km2 - 1.0) > area_tolerance:
            raise InputDataError(
                f"{point.label}: no river cell within {radius_m / 1000:g} km has an upstream area within "
                f"{100 * area_tolerance:g} % of {point.area_km2:g} km2 (closest {area[best]:,.1f} km2 at "
                f"{dist[best] / 1000:.2f} km); check the position and area, or raise --snap-km / --area-tolerance")
    else:
        best = np.lexsort((-area, np.round(dist, 1)))[0]
    point.cell, point.distance_m, point.upstream_area_km2 = int(cells[best]), float(dist[best]), float(area[best])


def _radius_in_units(dem: Dem, radius_m: float, y0: float) -> float:
    if not dem.latlon:
        return radius_m
    m = math.pi * 6_371_000.0 / 180.0
    return radius_m / (m * max(math.cos(math.radians(y0)), 0.05))


def _bounds(dem: Dem) -> tuple[float, float, float, float]:
    tr, (ny, nx) = dem.transform, dem.shape
    xs, ys = (tr.c, tr.c + tr.a * nx), (tr.f, tr.f + tr.e * ny)
    return min(xs), min(ys), max(xs), max(ys)


def check_on_dem(point: Point, dem: Dem) -> None:
    """An outlet must be on the DEM and on a valid elevation."""
    x0, y0 = (float(v[0]) for v in to_dem_xy(dem, np.array([point.lon]), np.array([point.lat])))
    b = _bounds(dem)
    if not (b[0] <= x0 <= b[2] and b[1] <= y0 <= b[3]):
        raise InputDataError(f"{point.label}: outside the DEM {dem.path.name} (x {b[0]:.4f} .. {b[2]:.4f}, y "
                             f"{b[1]:.4f} .. {b[3]:.4f}); check the lon,lat order or use a DEM that covers the basin")
    tr = dem.transform
    col, row = (x0 - tr.c) / tr.a, (y0 - tr.f) / tr.e
    r, c = min(int(math.floor(row)), dem.shape[0] - 1), min(int(math.floor(col)), dem.shape[1] - 1)
    if dem.elevation[r, c] == -9999.0:
        raise InputDataError(f"{point.label}: on a nodata cell of the DEM {dem.path.name} (row {r}, col {c}); move the "
                             "outlet onto the river inside the DEM's valid area")
