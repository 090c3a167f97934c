"""Build a basin folder from a DEM (``hydro basin build``) and write it atomically.

The folder (docs/basin-build.md): ``network.nc`` (segments with NWM-style geometry, lon/lat of each segment's mid
cell, its upstream and local area), ``flow_direction.tif`` (ESRI D8 on the runoff grid, nodata outside the basin),
``channel_segments.tif`` (feature_id of each river cell), ``catchments.tif`` (feature_id of the segment each cell
drains to first: one sub-catchment per segment), ``basin.toml``, ``points.csv`` (every snapped point with its
distance and area mismatch), ``forcing.toml`` and ``cycle.toml`` to start from, and ``map.png``. It is built in a
temporary folder beside the output and renamed into place at the end, so an error leaves nothing.
"""

from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError, InputDataError
from ..io.atomic import check_new_folder, write_folder_atomic
from .points import Point, check_on_dem, parse_outlet, read_points_csv, read_reservoirs, section_fields, snap
from .segments import Segments, channel_geometry, river_network, segment_streams
from .terrain import Dem, RunoffGrid, StageClock, flow_directions, read_dem, runoff_grid, to_lonlat

log = logging.getLogger("hydro")
EDGE_CELLS = 5  # an outlet whose river leaves the DEM within this many DEM cells is refused
SECTION_REQUIRED = ("safe_discharge", "warning_stage", "guaranteed_stage", "rating_stage_m", "rating_discharge_m3s")


@dataclass
class BuildOptions:
    dem: Path
    outlets: list[str]  # "LON,LAT[,AREA_KM2]"
    name: str
    output: Path
    stream_area_km2: float = 10.0
    segment_length_km: float = 10.0
    grid_km: float | None = None  # None: the DEM grid
    gauges: Path | None = None
    reservoirs: Path | None = None
    sections: Path | None = None
    snap_km: float = 5.0
    area_tolerance: float = 0.10
    min_slope: float = 1e-4
    hillslope_velocity: float = 0.3
    plot: bool = True


def _check_output(output: Path) -> None:
    check_new_folder(output, "give a new folder (the build never overwrites a basin)")


def _read_points(opts: BuildOptions) -> tuple[list[Point], list[Point], list[Point], list[Point]]:
    outlets = [parse_outlet(text) for text in opts.outlets]
    for k, point in enumerate(outlets, 1):
        point.id = f"outlet{k}"
    gauges = read_points_csv(opts.gauges, "gauge") if opts.gauges else []
    sections = read_points_csv(opts.sections, "control section", SECTION_REQUIRED) if opts.sections else []
    reservoirs = read_reservoirs(opts.reservoirs) if opts.reservoirs else []
    return outlets, gauges, sections, reservoirs


def _check_edge(point: Point, dem: Dem, flw_dem, grid: RunoffGrid) -> None:
    """Refuse an outlet whose river leaves the DEM within EDGE_CELLS DEM cells: the DEM is cut too tight there,
    and directions at a DEM edge are the filling's guess, not the terrain's."""
    ds = flw_dem.idxs_ds
    ny, nx = dem.shape
    cell = int(grid.outlet_pixel([point.cell])[0])
    for k in range(EDGE_CELLS + 1):
        r, c = divmod(cell, nx)
        on_edge = r in (0, ny - 1) or c in (0, nx - 1)
        window = dem.elevation[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2]
        if int(ds[cell]) == cell and (on_edge or (window == -9999.0).any()):
            raise InputDataError(
                f"{point.label}: its river leaves the DEM {k} cell(s) downstream (row {r}, col {c}); the basin "
                "above it may be cut off by the DEM's edge: use a DEM reaching at least a few km beyond the outlet")
        cell = int(ds[cell])


def build_basin(opts: BuildOptions) -> dict:
    """Build the basin folder ``opts.output``; returns a summary (also logged)."""
    t0 = time.perf_counter()
    clock = StageClock()
    output = Path(opts.output)
    _check_output(output)
    if not opts.outlets:
        raise ConfigError("give at least one --outlet LON,LAT")
    outlets, gauges, sections, reservoirs = _read_points(opts)
    dem = read_dem(Path(opts.dem))
    for point in outlets:
        check_on_dem(point, dem)
    clock.lap("read")
    flw_dem, filled = flow_directions(dem, clock)
    grid = runoff_grid(dem, flw_dem, filled, opts.grid_km, clock)
    clock.lap("runoff grid")
    t_flow = time.perf_counter() - t0
    river = grid.valid & (grid.upstream_area_km2 >= opts.stream_area_km2)
    radius = opts.snap_km * 1000.0
    for point in outlets:
        snap(point, dem, grid, river, None, radius, opts.area_tolerance)
        _check_edge(point, dem, flw_dem, grid)
    basin_ids = np.asarray(grid.flw.basins(idxs=np.array([p.cell for p in outlets], np.int64))).ravel()
    basin = basin_ids > 0
    for point in gauges + sections + reservoirs:
        snap(point, dem, grid, river, basin, radius, opts.area_tolerance)
    for point in outlets + gauges + sections + reservoirs:
        mismatch = point.area_mismatch
        log.info("%s %s: snapped %.2f km to a river cell of %s km2%s", point.kind, point.id, point.distance_m / 1000,
                 f"{point.upstream_area_km2:,.1f}", "" if mismatch is None else
                 f" (reported {point.area_km2:,.1f} km2: {100 * mismatch:+.2f} %)")
    _edge_warning(grid, basin)
    river &= basin
    clock.lap("streams, snapping, basin")
    ends = np.array([p.cell for p in outlets + gauges + sections + reservoirs], np.int64)
    cell_m = _cell_size_m(dem, grid)
    segments = segment_streams(grid, river, ends, opts.segment_length_km * 1000.0, opts.min_slope, cell_m)
    lon, lat = to_lonlat(dem, *grid.xy(segments.mid_cell))
    network = river_network(segments, lon, lat, f"hydro basin build {opts.name} from {dem.path.name}")
    clock.lap("segments")
    catchments = _catchments(grid, segments, river, basin)
    clock.lap("sub-catchments")
    spec = _basin_document(opts, network, segments, outlets, sections, reservoirs)
    t_build = time.perf_counter() - t0
    write_folder_atomic(output, lambda tmp: _write_folder(tmp, opts, dem, grid, basin, river, segments, network,
                                                         catchments, spec, outlets + gauges + sections + reservoirs))
    clock.lap("writing")
    cell_area = _cell_area_km2(dem, grid)
    summary = {
        "basin": opts.name, "output": str(output), "dem": str(dem.path), "dem_shape": list(dem.shape),
        "grid_shape": [int(w.stop - w.start) for w in _basin_window(grid, basin)[0]], "grid_km": round(cell_m / 1000.0, 4), "cells": int(basin.sum()),
        "area_km2": round(float(cell_area[basin].sum()), 1), "segments": network.size,
        "outlets": [_point_summary(p, segments) for p in outlets],
        "points": [_point_summary(p, segments) for p in gauges + sections + reservoirs],
        "seconds_flow": round(t_flow, 2), "seconds": round(time.perf_counter() - t0, 2),
        "seconds_before_writing": round(t_build, 2), "stage_seconds": clock.seconds,
    }
    log.info("basin %s: %d segments, %d cells (%.0f km2) -> %s in %.1f s", opts.name, network.size, summary["cells"],
             summary["area_km2"], output, summary["seconds"])
    return summary


def _point_summary(p: Point, segments: Segments) -> dict:
    return {"kind": p.kind, "id": p.id, "lon": p.lon, "lat": p.lat,
            "feature_id": int(segments.feature_id[segments.segment_of_cell[p.cell]]),
            "distance_km": round(p.distance_m / 1000.0, 3), "upstream_area_km2": round(p.upstream_area_km2, 1),
            "reported_area_km2": p.area_km2,
            "area_mismatch": None if p.area_mismatch is None else round(p.area_mismatch, 4)}


def _cell_size_m(dem: Dem, grid: RunoffGrid) -> float:
    return dem.cell_km() * 1000.0 * grid.scale


def _cell_area_km2(dem: Dem, grid: RunoffGrid) -> np.ndarray:
    import pyflwdir.gis_utils as gis

    return np.asarray(gis.area_grid(grid.transform, grid.shape, dem.latlon, unit="km2"), np.float64).ravel()


def _edge_warning(grid: RunoffGrid, basin: np.ndarray) -> None:
    ny, nx = grid.shape
    b = basin.reshape(ny, nx)
    edge = int(b[0].sum() + b[-1].sum() + b[1:-1, 0].sum() + b[1:-1, -1].sum())
    if edge:
        log.warning("%d basin cells lie on the DEM's edge: the basin may reach beyond the DEM (its area would then "
                    "be too small); use a DEM that covers the whole basin", edge)


def _basin_window(grid: RunoffGrid, basin: np.ndarray) -> tuple[tuple[slice, slice], object]:
    """The basin's bounding box on the runoff grid and the transform of that window."""
    from rasterio.transform import Affine

    b = basin.reshape(grid.shape)
    rows, cols = np.flatnonzero(b.any(axis=1)), np.flatnonzero(b.any(axis=0))  # not np.nonzero: 16 bytes a cell
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    tr = grid.transform
    return (slice(r0, r1), slice(c0, c1)), Affine(tr.a, tr.b, tr.c + tr.a * c0, tr.d, tr.e, tr.f + tr.e * r0)


def _catchments(grid: RunoffGrid, segments: Segments, river: np.ndarray, basin: np.ndarray) -> np.ndarray:
    """feature_id of the segment each basin cell drains to first (0 outside)."""
    cells = np.flatnonzero(river)
    ids = segments.feature_id[segments.segment_of_cell[cells]]
    out = np.asarray(grid.flw.basins(idxs=cells, ids=ids.astype(np.int32)), np.int32).ravel()
    out[~basin] = 0  # in place: a 1e8-cell grid's int64 copies cost 0.8 GB each
    return out.reshape(grid.shape)


def _local_area_km2(dem: Dem, grid: RunoffGrid, catchments: np.ndarray, n_segments: int) -> np.ndarray:
    """Area [km2] of each segment's sub-catchment: the cells' areas added in cell order, a block of cells at a time
    (a 1e8-cell grid's full-size index and mask arrays would cost 0.9 GB more at the build's peak)."""
    cell_area = _cell_area_km2(dem, grid)
    ids = catchments.ravel()
    local = np.zeros(n_segments)
    block = 1 << 22
    for start in range(0, ids.size, block):
        chunk = ids[start:start + block]
        inside = chunk > 0
        np.add.at(local, chunk[inside] - 1, cell_area[start:start + block][inside])
    return local


def _basin_document(opts: BuildOptions, network, segments: Segments, outlets, sections, reservoirs) -> dict:
    """basin.toml as a dict, validated by the basin file's schema (a bad section or reservoir field is one line)."""
    from pydantic import ValidationError

    from ..io.basin import BasinSpec

    def fid(p: Point) -> int:
        return int(segments.feature_id[segments.segment_of_cell[p.cell]])

    doc: dict = {
        "name": opts.name,
        "description": f"built by `hydro basin build` from {Path(opts.dem).name}: {network.size} segments, "
                       f"streams from {opts.stream_area_km2:g} km2, segments up to {opts.segment_length_km:g} km",
        "network": "network.nc", "flow_direction": "flow_direction.tif", "channel_segments": "channel_segments.tif",
        "runoff_parameters": "xaj/grid_default.toml", "hillslope_velocity": opts.hillslope_velocity,
    }
    if len(outlets) == 1:
        doc["outlet_feature_id"] = fid(outlets[0])
    doc["reservoirs"] = [{"id": p.id, "feature_id": fid(p), **p.fields} for p in reservoirs]
    doc["control_sections"] = [{"id": p.id, "feature_id": fid(p), **section_fields(p)} for p in sections]
    try:
        BasinSpec.model_validate(doc)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(k) for k in e["loc"])
        source = opts.reservoirs if where.startswith("reservoirs") else opts.sections
        raise ConfigError(f"{source}: {where}: {str(e['msg']).removeprefix('Value error, ')}") from None
    return {k: v for k, v in doc.items() if v != []}


def _write_folder(tmp: Path, opts: BuildOptions, dem: Dem, grid: RunoffGrid, basin, river, segments: Segments,
                  network, catchments, doc: dict, points: list[Point]) -> None:
    import tomli_w

    from ..io import netcdf
    from ..io.grid import ESRI_NODATA, write_raster

    ds = netcdf.network_dataset(network)
    ds["upstream_area"] = ("feature_id", segments.upstream_area_km2, {
        "long_name": "drainage area upstream of the segment's downstream end", "units": "km2"})
    ds["local_area"] = ("feature_id", _local_area_km2(dem, grid, catchments, network.size),
                        {"long_name": "area of the segment's own sub-catchment", "units": "km2"})
    ds["bankfull_depth"] = ("feature_id", channel_geometry(segments.upstream_area_km2)["bankfull_depth"],
                            {"long_name": "bankfull depth (Bieger et al. 2015)", "units": "m"})
    ds.attrs.update(source=str(Path(opts.dem).resolve()), crs_wkt=dem.crs.to_wkt(),
                    history=f"hydro basin build --stream-area-km2 {opts.stream_area_km2:g} --segment-length-km "
                            f"{opts.segment_length_km:g}" + (f" --grid-km {opts.grid_km:g}" if opts.grid_km else ""))
    netcdf.cf_encode(ds)
    ds.to_netcdf(tmp / "network.nc", format="NETCDF4")
    # the rasters cover the basin's bounding box only: the runoff model runs on every cell of the grid it reads
    window, transform = _basin_window(grid, basin)
    codes = np.asarray(grid.flw.to_array("d8"), np.uint8)
    codes[~basin.reshape(grid.shape)] = ESRI_NODATA
    write_raster(tmp / "flow_direction.tif", np.ascontiguousarray(codes[window]), transform, dem.crs, nodata=ESRI_NODATA)
    del codes
    feature_ids = np.concatenate([segments.feature_id, [0]]).astype(np.int32)  # position -1 (no segment): 0
    channel = feature_ids[segments.segment_of_cell.reshape(grid.shape)[window]]
    channel[~river.reshape(grid.shape)[window]] = 0
    write_raster(tmp / "channel_segments.tif", channel, transform, dem.crs, nodata=0)
    del channel
    write_raster(tmp / "catchments.tif", np.ascontiguousarray(catchments[window], np.int32), transform, dem.crs,
                 nodata=0)
    header = (f"# written by `hydro basin build` from {Path(opts.dem).resolve()}\n"
              "# channel geometry from upstream area (Bieger et al. 2015 bankfull curves, NWM-style compound channel);\n"
              "# reservoirs and control sections snapped from their lon/lat (points.csv: distance, area mismatch)\n")
    (tmp / "basin.toml").write_text(header + tomli_w.dumps(doc))
    with open(tmp / "points.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["kind", "id", "feature_id", "lon", "lat", "snapped_lon", "snapped_lat", "distance_km",
                    "reported_area_km2", "upstream_area_km2", "area_mismatch"])
        for p in points:
            slon, slat = to_lonlat(dem, *grid.xy([p.cell]))
            mismatch = p.area_mismatch
            w.writerow([p.kind, p.id, int(segments.feature_id[segments.segment_of_cell[p.cell]]), p.lon, p.lat,
                        f"{slon[0]:.5f}", f"{slat[0]:.5f}", f"{p.distance_m / 1000:.3f}",
                        "" if p.area_km2 is None else p.area_km2, f"{p.upstream_area_km2:.2f}",
                        "" if mismatch is None else f"{mismatch:.4f}"])
    (tmp / "forcing.toml").write_text(FORCING_TOML)
    (tmp / "cycle.toml").write_text(CYCLE_TOML.format(name=opts.name))
    if opts.plot:
        _plot_map(tmp / "map.png", opts, dem, grid, basin, river, segments, points)


FORCING_TOML = """\
# A SYNTHETIC DESIGN STORM, written by `hydro basin build` only so that `hydro run cycle.toml` runs end to end.
# It is not an observed event. Point cycle.toml's [forcing] setup to your own set-up (docs/forcing.md), e.g.
#   kind = "radar"
#   path = "RADAR.nc"      # CF NetCDF rainfall_rate(time, y, x) with its CRS, or a folder of frames
kind = "synthetic_storm"
description = "synthetic design storm (three convective cells, 30 mm/h peak, 10 h): a smoke test, not an event"
start = "2026-07-01T00:00:00"
hours = 24
seed = 1
peak_mm_h = 30.0
duration_h = 10.0
"""

CYCLE_TOML = """\
# hydro run cycle.toml: forecast -> warning -> rehearsal -> plan on basin {name}, as written by `hydro basin build`.
# Paths are relative to this file. START FROM HERE: the forcing is a synthetic design storm (forcing.toml).

[cycle]
basin = "."
start = "2026-07-01T00:00:00"
hours = 4                  # analysis window up to the issue time
forecast_hours = 20
nowcast_hours = 2
output_dir = "runs"
state_dir = "runs/state"

[forcing]
setup = "forcing.toml"     # synthetic design storm: replace with your radar / gauge set-up (docs/forcing.md)

[runoff]
model = "xaj"
parameters = "xaj/grid_default.toml"   # packaged default set: NOT calibrated for this basin

[routing]
dt_s = 300
solver = "nwm"

[warning]
# WHERE THE WARNING LEVELS COME FROM. This folder has no climatology.nc, so the warning stage grades return
# periods on annual maxima it SIMULATES: synthetic storms through this basin's uncalibrated runoff model. They are
# indicative only, not official, and the warning outputs say so. For real warnings give either
#   climatology = "climatology.nc"   # annual_max(year, feature_id) [m3 s-1] from observations or a reanalysis
# or your centre's levels per gauge / control section, with their source (docs/nwm-basin.md):
#   thresholds = "thresholds.csv"
scheme = "mwr"
frequency = "pearson3"

[rehearsal]
objective = "min_peak"
"""


def _plot_map(png: Path, opts: BuildOptions, dem: Dem, grid: RunoffGrid, basin, river, segments: Segments,
              points: list[Point]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    from ..io.atomic import write_atomic

    ny, nx = grid.shape
    rows, cols = np.nonzero(basin.reshape(ny, nx))
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    tr = grid.transform
    extent = (tr.c + tr.a * c0, tr.c + tr.a * c1, tr.f + tr.e * r1, tr.f + tr.e * r0)
    z = grid.elevation_m.reshape(ny, nx)[r0:r1, c0:c1]
    z = np.ma.masked_where(~basin.reshape(ny, nx)[r0:r1, c0:c1], z)
    fig, ax = plt.subplots(figsize=(8, 8 * max(0.4, min(2.5, (r1 - r0) / max(c1 - c0, 1)))))
    im = ax.imshow(z, extent=extent, cmap="gist_earth", interpolation="nearest", alpha=0.8)
    fig.colorbar(im, ax=ax, shrink=0.6, label="elevation [m] (filled DEM)")
    cells = np.flatnonzero(river)
    ds = np.asarray(grid.flw.idxs_ds, np.int64)[cells]
    keep = river[ds] & (ds != cells)
    lines = np.stack([np.column_stack(grid.xy(cells[keep])), np.column_stack(grid.xy(ds[keep]))], axis=1)
    width = 0.4 + 2.5 * np.log10(grid.upstream_area_km2[cells[keep]] / max(opts.stream_area_km2, 1e-3) + 1.0)
    ax.add_collection(LineCollection(lines, linewidths=width / 2.0, colors="#0a2aff"))
    style = {"outlet": ("o", "red"), "gauge": ("^", "black"), "section": ("s", "orange"),
             "control section": ("s", "orange"), "reservoir": ("D", "purple")}
    labelled: set[int] = set()
    for p in points[::-1]:  # gauges, sections and reservoirs before outlets: one label per cell
        marker, colour = style.get(p.kind, ("x", "k"))
        px, py = (float(v[0]) for v in grid.xy([p.cell]))
        ax.plot(px, py, marker, color=colour, ms=7, mec="white")
        if p.cell not in labelled:
            labelled.add(p.cell)
            ax.annotate(f"{p.id} ({p.upstream_area_km2:,.0f} km2)", (px, py), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    unit = "deg" if dem.latlon else "m"
    ax.set_xlabel(f"x [{unit}]")
    ax.set_ylabel(f"y [{unit}]")
    ax.set_title(f"{opts.name}: {segments.size} segments, rivers from {opts.stream_area_km2:g} km2")
    if dem.latlon:
        ax.set_aspect(1.0 / np.cos(np.radians(0.5 * (extent[2] + extent[3]))))
    fig.tight_layout()
    write_atomic(png, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
