"""``hydro basin info DIR``: what a basin folder holds (segments, cells, outlets, gauges, reservoirs, sections),
each point with its segment's upstream area [km2], the number of segments and the channel length [km] upstream
of it (the segment included).

Where the upstream area comes from is stated (``upstream_area_source``): the network file's ``upstream_area``
(``hydro basin build`` writes pyflwdir's; ``hydro basin from-nwm`` writes one when the RouteLink carries NHDPlus
areas), else accumulated from the runoff grid's sub-catchments. A basin with neither (an NWM network whose
RouteLink carries no areas: it has no runoff grid) has no upstream area: every point's ``upstream_area_km2`` is
null and the source says "not available" and why; the segment count and channel length are always given."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError


def _upstream_area(folder: Path, spec, network) -> tuple[np.ndarray | None, int | None, float | None, str]:
    """Upstream area per segment [km2] (the network file's ``upstream_area``, else accumulated from the runoff
    grid's sub-catchments), the basin's cell count and area, and where the area comes from."""
    import xarray as xr

    from ..io.grid import read_d8, read_id_raster
    from ..runoff.coupling import CellMapping

    area, source = None, ""
    with xr.open_dataset(folder / spec.network) as ds:
        if "upstream_area" in ds:
            area = ds["upstream_area"].sel(feature_id=network.feature_id).values.astype(np.float64)
            stated = ds["upstream_area"].attrs.get("comment") or ds["upstream_area"].attrs.get("long_name", "")
            source = f"{spec.network} upstream_area" + (f": {stated}" if stated else "")
    if spec.flow_direction is None or spec.channel_segments is None:
        if area is None:
            source = (f"not available: {spec.network} has no upstream_area and the basin has no runoff grid to "
                      "accumulate one from (an NWM RouteLink carries no catchment areas unless it has NHDPlus "
                      "AreaSqKM / TotDASqKM, which hydro basin from-nwm then uses); upstream segments and channel "
                      "length are given instead")
        return area, None, None, source
    grid = read_d8(folder / spec.flow_direction)
    inside = grid.down != -2
    if area is None:
        ids = read_id_raster(folder / spec.channel_segments, grid)
        mapping = CellMapping.from_d8(grid.down, grid.shape, ids, network.feature_id, grid.cell_size_m,
                                      grid.cell_area_m2, source=grid.source)
        area = network.accumulate(mapping.segment_area_m2() / 1e6)
        source = f"accumulated from the sub-catchments of {spec.channel_segments} on {spec.flow_direction}"
    return area, int(inside.sum()), float(grid.cell_area_m2[inside].sum() / 1e6), source


def _gauges(folder: Path) -> list[dict]:
    """The gauges a build (points.csv, kind gauge) or from-nwm (gauges.csv) placed on the network."""
    rows: list[dict] = []
    if (folder / "points.csv").is_file():
        with open(folder / "points.csv", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["kind"] == "gauge"]
    elif (folder / "gauges.csv").is_file():
        with open(folder / "gauges.csv", newline="") as fh:
            rows = [{"id": r["station_id"], "feature_id": r["feature_id"], "lon": r.get("lon"), "lat": r.get("lat")}
                    for r in csv.DictReader(fh)]
    return rows


def basin_info(folder: Path) -> dict:
    """Summary of the basin folder ``folder`` (holding basin.toml)."""
    from ..io.basin import read_basin
    from ..io.netcdf import read_network

    folder = Path(folder)
    if not (folder / "basin.toml").is_file():
        raise ConfigError(f"{folder}: no basin.toml there; give a basin folder (e.g. one `hydro basin build` wrote)")
    spec = read_basin(folder / "basin.toml")
    if spec.network is None:
        raise ConfigError(f"{folder / 'basin.toml'}: names no network file")
    network, lakes = read_network(folder / spec.network)
    area, cells, basin_km2, area_source = _upstream_area(folder, spec, network)
    position = {int(f): i for i, f in enumerate(network.feature_id.tolist())}
    segments_above = network.accumulate(np.where(network.is_lake, 0.0, 1.0))  # lake nodes are not segments
    length_above_km = network.accumulate(np.where(network.is_lake, 0.0, np.nan_to_num(network.length)) / 1000.0)

    def at(fid: int) -> dict:
        i = position.get(int(fid))
        if i is None:
            raise ConfigError(f"{folder}: feature_id {fid} is not in the network {spec.network}")
        out = {"feature_id": int(fid), "upstream_area_km2": None if area is None else round(float(area[i]), 1),
               "upstream_segments": int(segments_above[i]), "upstream_length_km": round(float(length_above_km[i]), 1)}
        if network.longitude is not None:
            out.update(segment_lon=round(float(network.longitude[i]), 5), segment_lat=round(float(network.latitude[i]), 5))
        return out

    gauges = []
    for row in _gauges(folder):
        entry = {"id": row["id"], **at(int(row["feature_id"]))}
        for key in ("lon", "lat", "reported_area_km2", "distance_km", "area_mismatch"):
            if row.get(key):
                entry[key] = float(row[key])
        gauges.append(entry)
    outlets = [{**at(f)} for f in network.feature_id[network.to == 0]]
    return {
        "basin": spec.name, "folder": str(folder.resolve()), "segments": int(network.size - network.is_lake.sum()),
        "lakes": int(network.is_lake.sum()), "cells": cells,
        "area_km2": None if basin_km2 is None else round(basin_km2, 1), "upstream_area_source": area_source,
        "outlets": outlets, "gauges": gauges,
        "reservoirs": [{"id": r.id, **at(r.feature_id)} for r in spec.reservoirs],
        "control_sections": [{"id": s.id, **at(s.feature_id)} for s in spec.control_sections],
    }
