"""``hydro basin ...``: build a basin folder from a DEM (``build``) and describe one (``info``).

Each subcommand has its own ``_add_*`` function; ``add_commands`` calls those listed in ``_SUBCOMMANDS``, so a new
subcommand is one function and one entry in that list.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import _types as arg


def _basin_name(text: str) -> str:
    """A basin name: not empty, no path separator (it names files and appears in every output)."""
    if not text.strip() or "/" in text or "\\" in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a basin name: give a non-empty name without / or \\")
    return text.strip()


def _add_build(bsub: argparse._SubParsersAction) -> None:
    p = bsub.add_parser(
        "build", help="build a basin folder from a DEM (pyflwdir D8, segments, snapped gauges/reservoirs/sections)",
        description="Fill the DEM's depressions, derive D8 and upstream area (geodesic cell areas on lat/lon), cut "
        "the rivers above --stream-area-km2 into segments from confluence to confluence (at most "
        "--segment-length-km), give them NWM-style channels from upstream area, snap the points by position and "
        "reported area, and write the basin folder (network.nc, rasters, basin.toml, points.csv, cycle.toml, "
        "map.png) atomically. See docs/basin-build.md.")
    p.add_argument("--dem", type=Path, required=True, help="elevation GeoTIFF with a CRS (lat/lon or metres)")
    p.add_argument("--outlet", action="append", required=True, metavar="LON,LAT[,AREA_KM2]",
                   help="basin outlet in degrees, optionally with its reported drainage area (repeatable; a west longitude needs the = form: --outlet=-97.3,32.7)")
    p.add_argument("--name", required=True, type=_basin_name, help="basin name")
    p.add_argument("--output", type=Path, required=True, help="new (or empty) basin folder")
    p.add_argument("--stream-area-km2", type=arg.float_range(0.0, 1e7, lo_open=True), default=10.0,
                   help="upstream area where a river starts (default 10)")
    p.add_argument("--segment-length-km", type=arg.float_range(0.1, 1000.0), default=10.0,
                   help="longest segment; longer reaches are cut into equal pieces (default 10)")
    p.add_argument("--grid-km", type=arg.float_range(0.001, 100.0), help="runoff grid cell size (default: the DEM's "
                   "grid); coarser grids get the DEM's D8 upscaled by IHU")
    p.add_argument("--gauges", type=Path, help="GAUGES.csv: id,lon,lat[,area_km2]")
    p.add_argument("--reservoirs", type=Path, help="RESERVOIRS.toml: [[reservoirs]] as in the basin file, lon/lat "
                   "instead of feature_id")
    p.add_argument("--sections", type=Path, help="SECTIONS.csv: id,lon,lat[,area_km2],safe_discharge,warning_stage,"
                   "guaranteed_stage,rating_stage_m,rating_discharge_m3s (ratings as ';'-separated numbers)")
    p.add_argument("--snap-km", type=arg.float_range(0.01, 100.0), default=5.0,
                   help="search radius for snapping points to the river (default 5)")
    p.add_argument("--area-tolerance", type=arg.float_range(0.0, 10.0, lo_open=True), default=0.10,
                   help="largest relative mismatch to a reported drainage area (default 0.10)")
    p.add_argument("--min-slope", type=arg.float_range(0.0, 0.1, lo_open=True), default=1e-4,
                   help="floor of segment slopes [m/m] (default 1e-4)")
    p.add_argument("--no-map", action="store_true", help="do not draw map.png")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd_build)


def _cmd_build(args: argparse.Namespace) -> int:
    from ..build import BuildOptions, build_basin

    summary = build_basin(BuildOptions(
        dem=args.dem, outlets=args.outlet, name=args.name, output=args.output, stream_area_km2=args.stream_area_km2,
        segment_length_km=args.segment_length_km, grid_km=args.grid_km, gauges=args.gauges,
        reservoirs=args.reservoirs, sections=args.sections, snap_km=args.snap_km, area_tolerance=args.area_tolerance,
        min_slope=args.min_slope, plot=not args.no_map))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"basin {summary['basin']}: {summary['segments']} segments, {summary['cells']} cells of "
          f"{summary['grid_km']:g} km ({summary['area_km2']:,.0f} km2) in {summary['seconds']} s -> {summary['output']}")
    for p in summary["outlets"] + summary["points"]:
        reported = "" if p["reported_area_km2"] is None else \
            f" (reported {p['reported_area_km2']:,.1f}: {100 * p['area_mismatch']:+.2f} %)"
        print(f"  {p['kind']:<9s} {p['id']:<14s} segment {p['feature_id']:<6d} {p['upstream_area_km2']:>10,.1f} km2"
              f"{reported}, snapped {p['distance_km']:.2f} km")
    return 0


def _add_info(bsub: argparse._SubParsersAction) -> None:
    p = bsub.add_parser("info", help="segments, cells, outlets, gauges, reservoirs and sections of a basin folder",
                        description="Describe a basin folder: segments, runoff cells, outlets, gauges, reservoirs and "
                        "control sections with the upstream area [km2] of their segments.")
    p.add_argument("folder", type=Path, help="basin folder (holding basin.toml)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from ..build import basin_info

    info = basin_info(args.folder)
    if args.json:
        print(json.dumps(info))
        return 0
    area = "" if info["area_km2"] is None else f", {info['cells']} cells ({info['area_km2']:,.0f} km2)"
    print(f"basin {info['basin']}: {info['segments']} segments, {info['lakes']} lakes{area}")
    print(f"  upstream area: {info['upstream_area_source']}")
    for kind in ("outlets", "gauges", "reservoirs", "control_sections"):
        for item in info[kind]:
            a = item["upstream_area_km2"]
            print(f"  {kind[:-1]:<15s} {item.get('id', ''):<14s} segment {item['feature_id']:<8d} "
                  f"{'n/a' if a is None else f'{a:,.1f}':>10s} km2, {item['upstream_segments']:>6d} segments "
                  f"{item['upstream_length_km']:>9,.1f} km upstream")
    return 0


def _add_from_nwm(basin_sub: argparse._SubParsersAction) -> None:
    p = basin_sub.add_parser(
        "from-nwm",
        help="a basin folder from a real NWM network (RouteLink + LAKEPARM), forced by CHRTOUT lateral inflow",
        description="Build a basin folder from an NWM RouteLink: the reaches upstream of the outlets (all reaches "
        "without --outlet), LAKEPARM lakes collapsed into level-pool nodes as NWM routes them, no runoff grid: the "
        "forcing is the NWM lateral inflow (CHRTOUT qBucket + qSfcLatRunoff, forcing kind nwm_lateral), and the "
        "assimilation uses the USGS gauges the RouteLink names (gages). Writes network.nc, basin.toml, gauges.csv, "
        "forcing.toml, cycle.toml (and observations.csv with --observations) atomically: an error leaves no folder. "
        "See docs/nwm-basin.md.",
    )
    p.add_argument("--routelink", type=Path, required=True, help="NWM RouteLink NetCDF")
    p.add_argument("--lakeparm", type=Path, help="NWM LAKEPARM NetCDF: its lakes in the network become level pools")
    p.add_argument("--outlet", type=int, nargs="+", default=[], metavar="FEATURE_ID",
                   help="keep the reaches draining to these segments (default: all reaches)")
    p.add_argument("--lateral", type=Path, help="CHRTOUT folder or qlat(time, feature_id) NetCDF (default: "
                   "channel_forcing/ beside the RouteLink)")
    p.add_argument("--observations", type=Path, help="USGS timeslice table (parquet/CSV: time, station_id, "
                   "discharge_m3s[, quality, link]) placed on the network by the RouteLink gages")
    p.add_argument("--name", help="basin name (default: the output folder's name)")
    p.add_argument("--output", type=Path, required=True, help="the basin folder to write (new or empty)")
    p.set_defaults(func=_cmd_from_nwm)


def _cmd_from_nwm(args: argparse.Namespace) -> int:
    from ..pipeline.nwm_basin import build_nwm_basin

    summary = build_nwm_basin(args.routelink, args.output, lakeparm=args.lakeparm, outlets=args.outlet,
                              lateral=args.lateral, observations=args.observations, name=args.name)
    print(json.dumps(summary))
    return 0


_SUBCOMMANDS = [_add_build, _add_info, _add_from_nwm]


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("basin", help="build and describe basin folders",
                       description="Basin folders: build one from a DEM, describe one. See docs/basin-build.md.")
    bsub = p.add_subparsers(dest="basin_command", required=True)
    for add in _SUBCOMMANDS:
        add(bsub)


def add_benchmarks(bench: argparse._SubParsersAction) -> None:
    b = bench.add_parser(
        "basin-build", help="wall time and peak memory of `hydro basin build` on a generated DEM",
        description="Generate a --size x --size DEM of 30 m cells (UTM 32N): a valley falling south 2 %% with "
        "1 %% side slopes, ridges of 20 m and 0-2 m white noise (many pits to fill), and build the basin of its "
        "main river max(20, N/40) cells above the southern edge (rivers from 1 km2, segments up to 10 km, no map). Prints "
        "the build's wall and CPU time by stage, the process's peak resident memory and the load average.")
    b.add_argument("--size", type=arg.int_range(50, 40_000), default=2000, help="DEM cells a side (default 2000)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=_cmd_bench_build)


def _cmd_bench_build(args: argparse.Namespace) -> int:
    import logging
    import os
    import resource
    import tempfile
    import time

    import numpy as np
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    from ..build import BuildOptions, build_basin

    n = args.size
    arg.require_memory(120.0 * n * n, f"a {n} x {n} basin build", "try a smaller --size")
    rng = np.random.default_rng(1)
    rows = np.arange(n, dtype=np.float32)[:, None]
    cols = np.arange(n, dtype=np.float32)[None, :]
    dem = (0.6 * (n - rows) + 0.3 * np.abs(cols - n // 2) + 20.0 * np.sin(cols / 37.0) * np.sin(rows / 53.0)
           + rng.uniform(0.0, 2.0, (n, n)).astype(np.float32)).astype(np.float32)
    transform = from_origin(300_000.0, 5_300_000.0, 30.0, 30.0)
    above_edge = max(20, n // 40)  # outlet rows above the southern edge; the snap searches a third of that
    x, y = 300_000.0 + 30.0 * (n // 2 + 0.5), 5_300_000.0 - 30.0 * (n - above_edge + 0.5)
    lon, lat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform(x, y)
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/dem.tif"
        with rasterio.open(path, "w", driver="GTiff", height=n, width=n, count=1, dtype="float32", crs="EPSG:32632",
                           transform=transform, nodata=-9999.0) as dst:
            dst.write(dem, 1)
        del dem
        logging.getLogger("hydro").setLevel(logging.WARNING)
        t0 = time.perf_counter()
        # the main river: the reported area is half the DEM, matched loosely (the largest river near the point)
        half_km2 = 0.5 * n * n * 0.0009
        summary = build_basin(BuildOptions(dem=Path(path), outlets=[f"{lon},{lat},{half_km2}"], name="bench",
                                           output=Path(folder) / "basin", stream_area_km2=1.0, plot=False,
                                           snap_km=0.01 * above_edge, area_tolerance=10.0))
        wall = time.perf_counter() - t0
    stages = summary["stage_seconds"]
    # the machine's load: on a shared machine the wall time stretches, the CPU time much less
    result = {"size": n, "cells": n * n, "basin_cells": summary["cells"], "segments": summary["segments"],
              "wall_s": round(wall, 2), "cpu_s": round(sum(s["cpu"] for s in stages.values()), 2),
              "flow_directions_s": summary["seconds_flow"],
              "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
              "load_average": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count(), "stages": stages}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"basin build on {n} x {n} cells: {result['wall_s']} s wall, {result['cpu_s']} s CPU (flow directions "
          f"{result['flow_directions_s']} s), {result['segments']} segments, peak memory {result['peak_rss_gb']} GB; "
          f"load average {result['load_average']} on {result['cpus']} CPUs")
    for stage, t in stages.items():
        print(f"  {stage:<26s} {t['wall']:8.2f} s wall {t['cpu']:8.2f} s CPU, peak so far {t['peak_gb']} GB")
    return 0
