"""``hydro basin from-nwm``: a basin folder from a real NWM network (RouteLink + LAKEPARM), forced by NWM lateral
inflow and nudged to the USGS gauges the RouteLink names.

The basin is the RouteLink's reaches upstream of the outlets (all reaches without one), with every LAKEPARM lake
in it collapsed into one level-pool node as NWM routes it (``break_network_at_waterbodies``). It has no runoff
grid: its forcing is the NWM land model's lateral inflow (CHRTOUT ``qBucket + qSfcLatRunoff``, forcing kind
``nwm_lateral``, hydro.io.chrtout), routed as given. The folder holds

- ``network.nc``: the hydro network file (segments, NWM channel geometry, lakes, ``gage`` per segment, and each
  lake's outlet segment ``lake_outlet_link`` for the warm start from NWM streamflow); ``upstream_area`` [km2]
  only when the RouteLink carries NHDPlus areas (``TotDASqKM`` / ``tot_drainage_areasqkm`` as given, else
  per-segment ``AreaSqKM`` / ``areasqkm`` accumulated over the RouteLink's reaches; a lake node takes its outlet
  segment's). The NWM's own RouteLink has none, and no area is guessed (``hydro basin info`` says so);
- ``basin.toml``: name, description, the network (no reservoirs or control sections: NWM lakes are uncontrolled
  level pools; add operated dams and sections by hand);
- ``gauges.csv``: the USGS gauges of the network (RouteLink ``gages``): station_id, feature_id, lat, lon;
- ``observations.csv`` (with ``--observations``): the USGS timeslice flows of those gauges, placed on their
  segments by the RouteLink crosswalk (``time, link, station_id, discharge_m3s, quality``, what the cycle's
  ``[assimilation]`` reads);
- ``forcing.toml``: the forcing set-up (kind ``nwm_lateral``) over the whole lateral-inflow record;
- ``cycle.toml``: a cycle to start from (analysis to 6 h into the record, forecast to its end, nudged when
  observations are given).

The folder is built beside its destination and renamed into place: an error leaves no folder behind.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError, InputDataError
from ..io import netcdf, nwm
from ..io.atomic import check_new_folder, write_folder_atomic
from ..io.chrtout import gauge_table, network_gauges

log = logging.getLogger("hydro")
ANALYSIS_HOURS = 6  # of the written cycle.toml: the rest of the record is the forecast window


def _select(network, outlets: list[int], lake_ids: np.ndarray):
    """The reaches draining to ``outlets`` (all without); an outlet inside a lake is refused."""
    if not outlets:
        return network
    known = set(network.feature_id.tolist())
    unknown = [o for o in outlets if o not in known]
    if unknown:
        raise ConfigError(f"{network.source}: outlet feature_id(s) {unknown} not in the RouteLink 'link'")
    position = network.index_of(outlets)
    in_lake = [o for o, p in zip(outlets, position, strict=True) if network.waterbody[p] in set(lake_ids.tolist())]
    if in_lake:
        raise ConfigError(f"{network.source}: outlet(s) {in_lake} lie inside a LAKEPARM lake; choose the lake's outlet "
                          "segment or a segment below it")
    keep = np.unique(np.concatenate([network.upstream_positions(o) for o in outlets]))
    sub = network.take(keep)
    from dataclasses import replace

    return replace(sub, source=f"{network.source}[upstream of {', '.join(map(str, outlets))}]")


def _lake_outlets(network, lake_ids: np.ndarray) -> np.ndarray:
    """Per lake, its member segment whose ``to`` leaves the lake (where NWM reports the lake's outflow)."""
    out = np.zeros(lake_ids.size, np.int64)
    for k, lake in enumerate(lake_ids.tolist()):
        member = network.waterbody == lake
        leaving = member & ~np.isin(network.to, network.feature_id[member])
        out[k] = int(network.feature_id[leaving][0]) if leaving.any() else 0
    return out


# NHDPlus area variables a RouteLink may carry (case-insensitive): total drainage area first, then catchment area
TOTAL_AREA_VARIABLES = ("totdasqkm", "tot_drainage_areasqkm")
CATCHMENT_AREA_VARIABLES = ("areasqkm",)


def _routelink_upstream_area(routelink: Path, full) -> tuple[np.ndarray, str] | None:
    """Upstream drainage area [km2] per reach of the RouteLink (``full``, in file order) and what it is, when the
    file carries NHDPlus areas; None when it has none."""
    import xarray as xr

    with xr.open_dataset(routelink) as ds:
        names = {str(v).lower(): str(v) for v in ds.data_vars}
        found = next((names[k] for k in TOTAL_AREA_VARIABLES + CATCHMENT_AREA_VARIABLES if k in names), None)
        if found is None:
            return None
        values = np.asarray(ds[found].values, np.float64).reshape(-1)
    bad = ~np.isfinite(values) | (values < 0)
    if values.size != full.size or bad.any():
        where = f"{values.size} values for {full.size} reaches" if values.size != full.size else \
            f"{float(values[bad][0])!r} at link {int(full.feature_id[np.flatnonzero(bad)[0]])} ({int(bad.sum())} reach(es))"
        raise InputDataError(f"{routelink}: {found} = {where}: an area must be a finite number >= 0 km2 per reach; "
                             "fix the file or remove the variable")
    if found.lower() in TOTAL_AREA_VARIABLES:
        return values, f"the RouteLink's total drainage area {found}"
    return full.accumulate(values), (f"the RouteLink's catchment areas {found} accumulated over its {full.size} "
                                     "reaches (areas above the RouteLink's headwaters are not in it)")


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_nwm_basin(routelink: Path, output: Path, lakeparm: Path | None = None, outlets: list[int] | None = None,
                    lateral: Path | None = None, observations: Path | None = None, name: str | None = None) -> dict:
    """Write the basin folder ``output`` (module docstring); returns a summary. ``lateral`` defaults to the
    ``channel_forcing/`` folder beside the RouteLink (the NWM domain layout)."""
    routelink, output = Path(routelink), Path(output)
    outlets = [int(o) for o in (outlets or [])]
    check_new_folder(output, "choose a new --output")
    if lateral is None:
        lateral = routelink.parent / "channel_forcing"
        if not lateral.is_dir():
            raise ConfigError(f"{routelink}: no channel_forcing/ folder beside the RouteLink; give --lateral (a CHRTOUT "
                              "folder or a qlat NetCDF)")
    name = name or output.name
    full = nwm.read_routelink(routelink)
    lakes = None
    lake_ids = np.zeros(0, np.int64)
    if lakeparm is not None:
        all_lakes = nwm.read_lakeparm(lakeparm)
        lake_ids = np.intersect1d(np.unique(full.waterbody), all_lakes.lake_id)
    network = _select(full, outlets, lake_ids)
    if lakeparm is not None:
        lake_ids = np.intersect1d(np.unique(network.waterbody), all_lakes.lake_id)
        lakes = all_lakes.select(lake_ids) if lake_ids.size else None
    elif (network.waterbody > 0).any():
        log.warning("%s: the RouteLink names %d waterbodies but no --lakeparm was given: their reaches are routed as "
                    "channels", routelink, np.unique(network.waterbody[network.waterbody > 0]).size)
    outlet_links = _lake_outlets(network, lake_ids)
    routed = network.collapse_lakes(lake_ids) if lake_ids.size else network
    # the forcing must cover every routed reach (lake nodes take none, as NWM drops lake segments' inflow)
    inflow = nwm.read_lateral(lateral)
    inflow.for_features(routed.feature_id, optional=routed.is_lake)
    hours = int(inflow.time.size * inflow.interval_s // 3600)
    if hours < 2:
        raise InputDataError(f"{lateral}: {inflow.time.size} record(s) every {inflow.interval_s} s; a cycle needs at "
                             "least 2 hours of lateral inflow")
    start = str(np.datetime64(inflow.time[0], "m"))
    gauges = network_gauges(routed)
    areas = _routelink_upstream_area(routelink, full)
    observed = gauge_table(observations, routed) if observations is not None else None

    def fill(tmp: Path) -> None:
        ds = netcdf.network_dataset(routed, lakes)
        if lakes is not None:
            ds["lake_outlet_link"] = ("lake", outlet_links, {
                "long_name": "RouteLink segment at the lake's outlet (NWM reports the lake's outflow there)"})
        if areas is not None:  # per routed node; a lake node takes its outlet segment's
            by_link = dict(zip(full.feature_id.tolist(), areas[0].tolist(), strict=True))
            outlet_of = dict(zip(lake_ids.tolist(), outlet_links.tolist(), strict=True))
            ds["upstream_area"] = ("feature_id", np.array([by_link.get(outlet_of.get(f, f), np.nan)
                                                           for f in routed.feature_id.tolist()]), {
                "units": "km2", "long_name": "upstream drainage area at the segment's downstream end",
                "comment": areas[1]})
        ds.attrs.update(source=str(routelink), lakeparm=str(lakeparm or "none"),
                        outlets=", ".join(map(str, outlets)) or "all reaches")
        ds.to_netcdf(tmp / "network.nc", format="NETCDF4")
        _write_gauges(tmp / "gauges.csv", routed, gauges)
        if observed is not None:
            observed.assign(time=observed["time"].dt.strftime("%Y-%m-%dT%H:%M:%S")).to_csv(
                tmp / "observations.csv", index=False)
        lateral_rel = os.path.relpath(Path(lateral).resolve(), output.resolve())
        n_lakes = 0 if lakes is None else lakes.size
        where = f"upstream of {', '.join(map(str, outlets))}" if outlets else "all reaches"
        description = (f"NWM network {routelink.name} ({where}): {routed.size - n_lakes} segments, {n_lakes} level-pool "
                       f"lakes, {len(gauges)} USGS gauges")
        (tmp / "basin.toml").write_text(
            f"# written by `hydro basin from-nwm` from {routelink}" + (f" and {lakeparm}" if lakeparm else "") + "\n"
            "# No runoff grid: the basin is forced by NWM lateral inflow (forcing kind nwm_lateral, forcing.toml).\n"
            "# NWM lakes are uncontrolled level pools; add operated [[reservoirs]] and [[control_sections]] by hand.\n"
            f"name = {_toml_str(name)}\n"
            f"description = {_toml_str(description)}\n"
            'network = "network.nc"\n'
            + (f"outlet_feature_id = {outlets[0]}\n" if len(outlets) == 1 else ""))
        (tmp / "forcing.toml").write_text(
            "# NWM lateral inflow (qBucket + qSfcLatRunoff), routed as given: no runoff model (hydro.io.chrtout)\n"
            'kind = "nwm_lateral"\n'
            f"description = {_toml_str(f'NWM lateral inflow from {Path(lateral).name}')}\n"
            f'start = "{start}:00"\n'
            f"hours = {hours}\n"
            f"path = {_toml_str(lateral_rel)}   # relative to this file\n"
            "warm_start = true   # a cold start takes the channel flows from the NWM streamflow at the start\n")
        analysis = min(ANALYSIS_HOURS, hours - 1)
        (tmp / "cycle.toml").write_text(
            f"# hydro run {output / 'cycle.toml'}: forecast -> warning -> rehearsal -> plan on the NWM network\n"
            "[cycle]\n"
            'basin = "."\n'
            f'start = "{start}:00"\n'
            f"hours = {analysis}               # analysis window (nudged to the gauges when observations are given)\n"
            f"forecast_hours = {hours - analysis}      # the rest of the lateral-inflow record\n"
            'output_dir = "runs"\n'
            'state_dir = "runs/state"\n\n'
            '[forcing]\nsetup = "forcing.toml"\n\n'
            '[routing]\ndt_s = 300\nsolver = "nwm"\n\n'
            "[warning]\n"
            "# thresholds = \"thresholds.csv\"   # your four-colour levels per gauge, with their source (docs/nwm-basin.md)\n\n"
            + ('[assimilation]\nobservations = "observations.csv"   # USGS flows on their RouteLink segments\n'
               "forecast_decay_minutes = 120   # the forecast carries the last correction, decaying (t-route default)\n"
               if observed is not None else
               '# [assimilation]\n# observations = "observations.csv"   # hydro basin from-nwm --observations writes it\n'))

    write_folder_atomic(output, fill)
    summary = {"folder": str(output), "segments": int(routed.size - (0 if lakes is None else lakes.size)),
               "lakes": 0 if lakes is None else int(lakes.size), "gauges": len(gauges),
               "outlets": outlets or "all", "lateral": str(lateral), "record": f"{start} + {hours} h"}
    if observed is not None:
        summary["observed_gauges"] = int(observed["link"].nunique())
    return summary


def _write_gauges(path: Path, network, gauges: dict[str, int]) -> None:
    import csv

    position = {int(f): i for i, f in enumerate(network.feature_id.tolist())}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["station_id", "feature_id", "lat", "lon"])
        for station, fid in sorted(gauges.items()):
            j = position[fid]
            lat = "" if network.latitude is None else f"{network.latitude[j]:.5f}"
            lon = "" if network.longitude is None else f"{network.longitude[j]:.5f}"
            w.writerow([station, fid, lat, lon])
