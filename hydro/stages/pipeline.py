"""Pipeline: the only place that wires readers -> models -> writers."""

from __future__ import annotations

import logging
import time as _time
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..core.ids import lookup
from ..io import netcdf, nwm
from ..io.atomic import check_output_dir
from ..network import RiverNetwork
from ..reservoir.levelpool import LevelPoolParameters
from ..routing.channel import Muskingum, MuskingumCunge, RoutingState

log = logging.getLogger("hydro")


@dataclass
class RouteOptions:
    output: Path
    lateral: Path
    routelink: Path | None = None
    network: Path | None = None
    lakeparm: Path | None = None
    dt: float = 300.0
    method: str = "muskingum_cunge"
    mc_solver: str = "nwm"
    upstream: str = "previous"
    output_interval: float = 3600.0
    hours: float | None = None
    initial_state: Path | None = None
    bad_lateral: str = "error"
    progress: bool = True
    nudge: Path | None = None  # gauge observations (time, link, discharge_m3s[, quality])
    nudge_coefficient: float = 1.0
    nudge_tau_s: float = 900.0


def load_network(routelink: Path | None, network_file: Path | None, lakeparm: Path | None) -> tuple[RiverNetwork, LevelPoolParameters | None]:
    """Network with its lakes collapsed (NWM ``break_network_at_waterbodies``)."""
    if (routelink is None) == (network_file is None):
        raise ConfigError("give exactly one of --routelink (NWM RouteLink) or --network (hydro network file)")
    if routelink is not None:
        network, lakes = nwm.read_routelink(routelink), None
    else:
        network, lakes = netcdf.read_network(network_file)
    if lakeparm is not None:
        all_lakes = nwm.read_lakeparm(lakeparm)
        in_network = np.intersect1d(np.unique(network.waterbody), all_lakes.lake_id)
        if in_network.size == 0:  # routed without lakes: say so, the count alone is easy to miss
            log.warning("%s: none of its %d lake_id(s) is a waterbody of the network (%s): routing without lakes",
                        lakeparm, all_lakes.size, "NHDWaterbodyComID" if routelink is not None else "waterbody")
        lakes = all_lakes.select(in_network)
    full = network
    features = nwm.read_feature_attributes(routelink) if routelink is not None else _network_features(network)
    if lakeparm is not None:
        features = features.concat(nwm.read_lake_attributes(lakeparm))
    if lakes is not None and lakes.size:
        network = network.collapse_lakes(lakes.lake_id)
    _INPUT_REACHES[network] = (full, features)
    return network, lakes


# The routing output keeps every reach of the input network (lake-interior reaches too) and NWM's per-feature
# latitude/longitude/order/elevation: what load_network read, kept beside the routed network it returns (the
# kernels never see it), so that ``hydro route`` and ``hydro.route`` write the same file.
_INPUT_REACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _network_features(network: RiverNetwork) -> nwm.FeatureAttributes:
    features = nwm.FeatureAttributes.empty(network.feature_id)
    if network.latitude is not None:
        features.latitude[:] = network.latitude
    if network.longitude is not None:
        features.longitude[:] = network.longitude
    return features


def _all_reaches(network: RiverNetwork, fields: dict) -> dict:
    """The routing results on every feature of the input network: the routed nodes, plus each reach that
    collapsing a lake removed (flagged ``lake_interior``; its streamflow is its lake's outflow, velocity and
    depth missing), with latitude/longitude/order/elevation."""
    full, features = _INPUT_REACHES.get(network, (network, _network_features(network)))
    interior = ~np.isin(full.feature_id, network.feature_id)
    inside = full.feature_id[interior]
    lake_of = full.waterbody[interior]
    column, found = lookup(network.feature_id, lake_of)
    if not found.all():  # cannot happen for a network made by collapse_lakes
        raise InputDataError(f"{network.source}: reaches {inside[~found][:8].tolist()} lie in no routed lake")
    nan = np.full((fields["streamflow"].shape[0], inside.size), np.nan, np.float32)
    feature_id = np.concatenate([network.feature_id, inside])
    per = features.take(feature_id)
    waterbody = np.concatenate([network.waterbody, lake_of])
    for k in np.flatnonzero(network.is_lake & (per.order[:network.size] < 0)):  # a lake node: its reaches' order
        members = per.order[network.size:][lake_of == network.feature_id[k]]
        per.order[k] = members.max() if members.size else per.order[k]
    return dict(
        fields, feature_id=feature_id,
        is_lake=np.concatenate([network.is_lake, np.zeros(inside.size, bool)]),
        lake_interior=np.concatenate([np.zeros(network.size, bool), np.ones(inside.size, bool)]),
        waterbody=waterbody,
        streamflow=np.concatenate([np.asarray(fields["streamflow"], np.float32),
                                   np.asarray(fields["streamflow"], np.float32)[:, column]], axis=1),
        velocity=np.concatenate([np.asarray(fields["velocity"], np.float32), nan], axis=1),
        depth=np.concatenate([np.asarray(fields["depth"], np.float32), nan], axis=1),
        latitude=per.latitude, longitude=per.longitude, order=per.order, elevation=per.elevation,
    )


def _progress_bar(total: int, enabled: bool, desc: str):
    if not enabled:
        return None, lambda n: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="step", disable=None, leave=False)
    return bar, bar.update


def route(opts: RouteOptions) -> dict:
    """``hydro route``: read network + lateral inflow, route, write CHRTOUT-style NetCDF."""
    check_output_dir(opts.output)  # before the work, not only at the final write
    network, lakes = load_network(opts.routelink, opts.network, opts.lakeparm)
    lateral = nwm.read_lateral(opts.lateral, opts.bad_lateral)
    initial = None
    if opts.initial_state is not None:
        initial = read_initial_state(opts.initial_state, network.feature_id, _lake_ids(network, lakes))
    ds, summary = route_network(network, lakes, lateral, dt=opts.dt, method=opts.method, mc_solver=opts.mc_solver,
                                upstream=opts.upstream, output_interval=opts.output_interval, hours=opts.hours,
                                initial=initial, progress=opts.progress, nudge=opts.nudge,
                                nudge_coefficient=opts.nudge_coefficient, nudge_tau_s=opts.nudge_tau_s,
                                provenance={"initial_state": str(opts.initial_state) if opts.initial_state else "cold start",
                                            "lateral_inflow": str(opts.lateral)})
    netcdf.write_dataset(opts.output, ds)
    log.info(
        "routed %d nodes (%d lakes) x %d steps of %g s in %.2f s (%.0f ns per segment-step); wrote %s",
        network.size, summary["lakes"], summary["steps"], opts.dt, summary["seconds"], summary["ns_per_segment_step"],
        opts.output,
    )
    return {"output": str(opts.output), **summary}


def _state_header(path: Path) -> dict[str, tuple[tuple[str, ...], str | None]]:
    """{variable: (dimensions, units attribute)} of an initial-state file; a missing, empty or unreadable file
    is one line."""
    import netCDF4

    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: initial state file not found (or a symbolic link to nothing); give a NetCDF "
                             "with streamflow(feature_id) or a previous route output")
    if path.stat().st_size == 0:
        raise InputDataError(f"{path}: initial state file is empty (0 bytes); give a NetCDF with streamflow(feature_id) "
                             "or a previous route output")
    try:
        with netCDF4.Dataset(path) as ds:
            return {name: (tuple(var.dimensions), getattr(var, "units", None)) for name, var in ds.variables.items()}
    except OSError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputDataError(f"{path}: cannot read the initial state as NetCDF ({reason}); give a NetCDF with "
                             "streamflow(feature_id) or a previous route output") from None


def read_initial_state(path: Path, feature_id: NDArray[np.int64], lake_id: NDArray[np.int64]) -> tuple:
    """``--initial-state``: (streamflow [m3 s-1], depth [m], lake water_sfc_elev [m] or None) aligned to
    ``feature_id`` / ``lake_id`` (``netcdf.read_state``), each a vector of one value per segment or lake,
    converted from its units attribute (none: the routing output's units) and within the plausible range of
    core.variables; otherwise one line naming the file, variable and where."""
    from ..core.variables import CF_ATTRS, check_range, to_canonical

    header = _state_header(path)
    q, d, elev = netcdf.read_state(path, feature_id, lake_id)
    out = []
    for name, values, ids, what in (("streamflow", q, feature_id, "feature_id"), ("depth", d, feature_id, "feature_id"),
                                    ("water_sfc_elev", elev, lake_id, "lake_id")):
        if values is None or name not in header:  # no depth: read_state's zeros; no lakes: the cold state
            out.append(values)
            continue
        if values.shape != (ids.size,):
            raise InputDataError(
                f"{path}: initial {name} has dimensions {header[name][0]} while streamflow has "
                f"{header['streamflow'][0]} (shape {values.shape} after selecting the network's {what}s); expected one "
                f"value per {what} ({ids.size}): give {name}({what}) beside streamflow(feature_id), or a route output "
                "whose variables all share its time dimension")
        converted = np.asarray(to_canonical(values, header[name][1], name, f"{path}: initial {name}",
                                            default=CF_ATTRS[name]["units"]), np.float32)
        check_range(converted, name, str(path), label=f"initial {name}",
                    locate=lambda k, ids=ids, what=what: f"{what} {ids[k]}")
        missing = np.isnan(converted)
        if name != "depth" and missing.any():  # depth is NaN on lake nodes by convention; flow and level never
            raise InputDataError(
                f"{path}: initial {name} is NaN at {what} {ids[int(np.flatnonzero(missing)[0])]} "
                f"({int(missing.sum())} value(s)); give a value for every {what} (e.g. the last record of a hydro "
                "route output), or leave --initial-state out for a cold start")
        out.append(converted)
    return tuple(out)


def _lake_ids(network: RiverNetwork, lakes: LevelPoolParameters | None) -> NDArray[np.int64]:
    """Lake node ids in the routing model's order (what an initial state's water_sfc_elev follows)."""
    return MuskingumCunge(network, lakes, 300.0).lake_id if network.is_lake.any() else np.zeros(0, np.int64)


# A routed flow above this is a blow-up, not a flood: 30 times the Amazon's peak (3e5 m3 s-1) and the ceiling
# core.variables allows a reservoir's release (the synthetic national benchmark's storms need 4e6).
ABSURD_FLOW_M3S = 1e7


def _check_routed(network: RiverNetwork, streamflow: NDArray, lake_id: NDArray[np.int64], water_sfc_elev: NDArray) -> None:
    """Refuse a routing result before anything is written: a streamflow that is not finite, negative or above
    ABSURD_FLOW_M3S, or a lake level that is not finite (the output file's own check sees flows in m3 s-1 only,
    and only NaN or negative ones), naming the first feature and time."""
    from ..core.errors import NumericalError

    def first(bad: NDArray[np.bool_], ids: NDArray[np.int64], values: NDArray, name: str, what: str) -> None:
        if not bad.any():
            return
        t, i = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), bad.shape)
        raise NumericalError(
            f"routing: {name} = {values[t, i]:g} at {what} {ids[i]}, output record {t + 1} ({int(bad.sum())} value(s)); "
            "nothing written: check the inputs that feed it (initial state, lateral inflow, geometry, lake parameters)")

    q = np.asarray(streamflow)
    with np.errstate(invalid="ignore"):
        first(~np.isfinite(q) | (q < 0) | (q > ABSURD_FLOW_M3S), network.feature_id, q, "streamflow", "feature_id")
    elev = np.asarray(water_sfc_elev)
    if elev.size:
        first(~np.isfinite(elev), lake_id, elev, "lake water_sfc_elev", "lake_id")


def route_network(network: RiverNetwork, lakes: LevelPoolParameters | None, lateral: nwm.LateralInflow,
                  dt: float = 300.0, method: str = "muskingum_cunge", mc_solver: str = "nwm",
                  upstream: str = "previous", output_interval: float = 3600.0, hours: float | None = None,
                  initial: tuple | None = None, progress: bool = False, nudge: Path | None = None,
                  nudge_coefficient: float = 1.0, nudge_tau_s: float = 900.0,
                  provenance: dict | None = None) -> tuple:
    """Route ``lateral`` through ``network``: the CHRTOUT-style dataset and a run summary. ``initial`` is
    (streamflow, depth, lake elevation or None) in network order (``netcdf.read_state``); None: cold start.
    ``hydro route`` and ``hydro.route`` both run this."""
    qlat = lateral.for_features(network.feature_id, optional=network.is_lake)
    steps_per_output = output_interval / dt
    if abs(steps_per_output - round(steps_per_output)) > 1e-9 or steps_per_output < 1:
        raise ConfigError(f"--output-interval {output_interval:g} s must be a multiple of --dt {dt:g} s")
    steps_per_output = int(round(steps_per_output))
    available_s = lateral.values.shape[0] * lateral.interval_s
    duration_s = available_s if hours is None else hours * 3600.0
    if duration_s > available_s:
        raise InputDataError(
            f"{lateral.source}: forcing covers {available_s / 3600:g} h but {duration_s / 3600:g} h were requested "
            f"(--hours); ask for at most {available_s / 3600:g} h, or give a longer forcing"
        )
    n_steps = int(duration_s // (dt * steps_per_output)) * steps_per_output
    if n_steps == 0:
        span = (f"--hours {hours:g} asks for {duration_s / 3600:g} h" if hours is not None else
                f"{lateral.source}: the forcing covers {duration_s / 3600:g} h")
        raise ConfigError(f"{span}, shorter than one --output-interval of {output_interval:g} s; route at least "
                          f"{output_interval / 3600:g} h or lower --output-interval")
    t0 = lateral.time[0]
    started = _time.perf_counter()
    bar, update = _progress_bar(n_steps, progress, "routing")
    if method == "muskingum":
        if initial is not None:
            raise ConfigError("--initial-state is supported for muskingum_cunge only")
        q = Muskingum(network, dt).run(qlat, lateral.interval_s, n_steps, steps_per_output)
        _check_routed(network, q, np.zeros(0, np.int64), np.zeros((q.shape[0], 0)))
        nan = np.full(q.shape, np.nan, np.float32)
        result_fields = dict(streamflow=q, velocity=nan, depth=nan, lake_id=np.zeros(0, np.int64), water_sfc_elev=np.zeros((q.shape[0], 0)))
        nonconverged = 0
        update(n_steps)
    elif method == "muskingum_cunge":
        model = MuskingumCunge(network, lakes, dt, mc_solver, upstream)
        state = None
        if initial is not None:
            q0, d0, elev = initial
            d0[model.lake_node_index] = np.nan
            state = RoutingState(q0, d0, elev if elev is not None else model.cold_state().water_sfc_elev)
        nudging = None
        if nudge is not None:
            from ..io.observations import read_gauge_observations
            from ..routing.nudging import Nudging

            obs = read_gauge_observations(nudge)
            nudging = Nudging(obs, network.feature_id, t0, dt, nudge_coefficient, nudge_tau_s)
            used, gauged = nudging.in_run(n_steps)
            end = t0 + np.timedelta64(int(n_steps * dt), "s")
            if used == 0:  # nothing to nudge towards: refused, not a run that says it nudged and did not
                raise InputDataError(
                    f"{nudge}: none of its observations ({str(obs.times.min())[:19]} .. {str(obs.times.max())[:19]}) "
                    f"on the network's gauges falls within the run ({str(t0)[:19]} .. {str(end)[:19]}, +/- "
                    f"--nudge-tau {nudge_tau_s:g} s); give observations of the run's period or leave out --nudge")
            if gauged < nudging.gauges:
                log.warning("%s: %d of %d gauged segments have no observation within the run (%s .. %s): not nudged",
                            nudge, nudging.gauges - gauged, nudging.gauges, str(t0)[:19], str(end)[:19])
            log.info("nudging %d gauged segments towards %s (%d observations within the run)", gauged, nudge, used)
        result = model.run(qlat, lateral.interval_s, n_steps, state, steps_per_output, progress=update, nudging=nudging)
        model.check_converged(result)
        _check_routed(network, result.streamflow, model.lake_id, result.water_sfc_elev)
        nonconverged = result.nonconverged
        result_fields = dict(
            streamflow=result.streamflow, velocity=result.velocity, depth=result.depth,
            lake_id=model.lake_id, water_sfc_elev=result.water_sfc_elev,
        )
    else:
        raise ConfigError(f"unknown routing method {method!r}; available: muskingum_cunge, muskingum")
    if bar is not None:
        bar.close()
    elapsed = _time.perf_counter() - started
    times = t0 + (np.arange(1, n_steps // steps_per_output + 1) * steps_per_output * int(dt)).astype("timedelta64[s]")
    ds = netcdf.chrtout_dataset(
        time=times.astype("datetime64[ns]"), reference_time=np.datetime64(t0, "ns"),
        attrs={
            "routing_method": method,
            "mc_solver": mc_solver,
            "upstream_inflow": upstream,
            "dt_seconds": str(dt),
            "initial_state": "cold start" if initial is None else "given",
            "lateral_inflow": lateral.source,
            "nudging": f"{nudge} (G={nudge_coefficient}, tau={nudge_tau_s:g} s)" if nudge else "none",
            **(provenance or {}),
        },
        **_all_reaches(network, result_fields),
    )
    summary = {
        "nodes": network.size,
        "lakes": int(network.is_lake.sum()),
        "steps": n_steps,
        "seconds": round(elapsed, 3),
        "ns_per_segment_step": round(elapsed * 1e9 / (n_steps * network.size), 1),
        "nonconverged": nonconverged,
    }
    if method == "muskingum_cunge":  # linear Muskingum keeps no depth: no channel storage to account
        from .water_balance import balance_attributes, route_water_balance

        times_s = np.arange(1, n_steps // steps_per_output + 1) * steps_per_output * float(dt)
        balance, channel, lake = route_water_balance(
            network, lakes, qlat, lateral.interval_s, n_steps * dt, times_s, result.streamflow, result.depth,
            result.water_sfc_elev, model.lake_id, initial, dt=float(dt), upstream=upstream, nudging=nudging)
        ds["channel_storage"] = ("time", channel, {
            "long_name": "water in the channels of the routed network: the storage Muskingum-Cunge carries "
                         "(hydro.stages.water_balance.muskingum_cunge_storage_m3)", "units": "m3"})
        ds["lake_storage"] = ("time", lake, {"long_name": "water in the level-pool lakes above zero elevation "
                                                          "(lake area times water surface elevation)", "units": "m3"})
        ds.attrs.update(balance_attributes({"route": balance}))
        ds.attrs["water_balance_note"] = (
            "lateral inflow (lake nodes' dropped, as NWM) - outlet outflow - storage change = residual; NWM "
            "Muskingum-Cunge is not mass-conservative by construction (docs/robustness.md); + nudging_added (the "
            "change of channel storage the gauge corrections made) on the inflow side" if nudge else "lateral inflow (lake nodes' dropped, as NWM) - outlet outflow - storage change = "
            "residual; NWM Muskingum-Cunge is not mass-conservative by construction (docs/robustness.md)")
        summary["water_balance"] = {k: round(v, 3) for k, v in balance.items()}
        netcdf.cf_encode(ds)  # the new variables get the one encoding every writer uses
    return ds, summary
