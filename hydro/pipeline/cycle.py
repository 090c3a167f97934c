"""``hydro run CONFIG.toml``: the cycle as one twin, forecast -> warning -> rehearsal -> plan, rolling.

A cycle builds the basin once (:func:`load_basin`: network with its dams operated, runoff grid and
parameters, cell -> segment mapping, reservoirs and control sections) and carries one state (soil and
hillslope water, channel flow, lake and reservoir levels, gate settings) from the previous cycle's
restart through the analysis window to the issue time. From that state one forward run under the
current operating rules gives the forecast: ``forecast.nc`` is it, the warnings grade it, and it *is*
the rehearsal's F1; the inverse and F2 start from the same issue-time state, and the plan reuses the
rehearsal's F1, unit responses and scheme. The routing step and solver of the config reach every stage.

Stages pass typed objects; files are read back only when ``--stage`` reruns one stage (then F1 is
rebuilt from the issue-time restart and ``forecast_qlat.nc``, which gives the same numbers). Every file
is written atomically; the restart is versioned and carries the configuration hash, so a killed run
leaves the previous state and outputs intact, and a run of 2N hours equals N + restart + N bit for bit.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from ..basin import RAIN_STEP_MIN, BasinModel, BasinState, cold_state, dry_step_model
from ..core.errors import ConfigError, InputDataError
from ..core.registry import get_method
from ..core.times import utc_naive
from ..core.workspace import cache_dir, resolve_asset, resolve_basin
from ..hydraulics.network_coupling import with_main_stems
from ..io import netcdf
from ..io.basin import check_on_network, read_basin
from ..io.atomic import sweep_stale_temporaries
from ..io.config import CycleConfig, load_config
from ..io.restart import prune_restarts, read_restart, restart_path, write_restart
from ..report.cycle import summary_lines, write_report
from ..routing.operated import OperatedNetwork, routed_lakes
from ..runoff.coupling import CellMapping
from ..stages.forecast import ForecastResult, Window, window
from ..stages.rehearsal import RehearsalInputs, coupled_main_stems, read_forecast_lateral, score
from ..stages.water_balance import balance_attributes

__all__ = ["load_config", "load_basin", "run_cycle", "run_cycles", "run_basins", "summary_lines", "write_report"]
log = logging.getLogger("hydro")
STAGES = ("forecast", "warning", "rehearsal", "plan")
COMPLETE = "COMPLETE"  # written last into a cycle folder: what ran, for which configuration


def load_basin(config: CycleConfig, config_path: Path) -> BasinModel:
    """The basin of ``config``, built once: its files read and checked, the network cut at its dams with the
    config's routing step and solver."""
    from ..io.grid import read_d8, read_id_raster
    from ..io.parameters import read_parameter_set
    from ..synthetic import ensure_demo_basin

    folder = resolve_basin(config.cycle.basin, config_path, build_demo=ensure_demo_basin)
    toml = folder / "basin.toml"
    spec = read_basin(toml)
    if spec.flow_direction is None and spec.channel_segments is None:
        return _load_lateral_basin(config, folder, spec)
    for key in ("network", "flow_direction", "channel_segments"):
        if getattr(spec, key) is None or not (folder / getattr(spec, key)).is_file():
            raise ConfigError(f"{toml}: '{key}' missing or its file {getattr(spec, key)!r} is not a file in {folder}")
    network, lakes = netcdf.read_network(folder / spec.network)
    check_on_network(spec, toml, network.feature_id)
    grid = read_d8(folder / spec.flow_direction)
    channel_ids = read_id_raster(folder / spec.channel_segments, grid)
    mapping = CellMapping.from_d8(grid.down, grid.shape, channel_ids, network.feature_id, grid.cell_size_m,
                                  grid.cell_area_m2, hillslope_velocity=spec.hillslope_velocity, source=grid.source)
    if config.runoff.parameters:
        parameters = resolve_asset(config.runoff.parameters, config_path, "models", "runoff.parameters")
    elif spec.runoff_parameters:
        parameters = resolve_asset(spec.runoff_parameters, toml, "models", "runoff_parameters")
    else:
        raise ConfigError(f"{config_path}: no runoff parameters (runoff.parameters, or runoff_parameters in {toml})")
    model = get_method("runoff", config.runoff.model)(RAIN_STEP_MIN / 60.0)
    values = read_parameter_set(parameters, model.name, model.parameter_names)[None, :]
    routing = OperatedNetwork.for_basin(network, spec, routed_lakes(network, lakes),
                                        config.routing.dt_s, config.routing.solver, config.routing.method)
    coupled_main_stems(spec, routing)  # main stems checked against the network before anything runs
    return BasinModel(config.cycle.basin, folder, spec, network, grid, mapping, model, model.step_table(values),
                      routing, channel_ids, *dry_step_model(model, values))


def _load_lateral_basin(config: CycleConfig, folder: Path, spec) -> BasinModel:
    """A basin without a runoff grid (``hydro basin from-nwm``): its network and lakes, forced by lateral
    inflow (forcing kind ``nwm_lateral``) instead of rain."""
    from ..io.chrtout import read_lake_outlets

    toml = folder / "basin.toml"
    if spec.network is None or not (folder / spec.network).is_file():
        raise ConfigError(f"{toml}: 'network' missing or its file is not in {folder}")
    network, lakes = netcdf.read_network(folder / spec.network)
    check_on_network(spec, toml, network.feature_id)
    routing = OperatedNetwork.for_basin(network, spec, routed_lakes(network, lakes),
                                        config.routing.dt_s, config.routing.solver, config.routing.method)
    name = spec.name  # the basin file names it (cycle.basin is a folder path here)
    log.info("basin %s: %d segments, %d lakes, no runoff grid (forced by lateral inflow)", name, network.size,
             int(network.is_lake.sum()))
    coupled_main_stems(spec, routing)  # main stems checked against the network before anything runs
    return BasinModel(name, folder, spec, network, None, None, None, None, routing, np.zeros(0, np.int64),
                      lake_outlets=read_lake_outlets(folder / spec.network))


def cycle_folder(config: CycleConfig, config_path: Path) -> Path:
    w = window(config)
    root = (config_path.parent / config.cycle.output_dir.format(basin=config.cycle.basin)).resolve()
    return root / f"cycle_{str(w.issue)[:16].replace('-', '').replace(':', '')}"


def state_folder(config: CycleConfig, config_path: Path) -> Path:
    return (config_path.parent / config.cycle.state_dir.format(basin=config.cycle.basin)).resolve()


def _read_state(path: Path, basin: BasinModel, config: CycleConfig, valid_time: np.datetime64) -> BasinState:
    """A restart, checked against this basin's shapes as well as its name, config and time."""
    from ..io.restart_checks import check_restart_against_basin, check_restart_file

    check_restart_file(path)  # empty, a folder, a symlink loop, not NetCDF: one line before netCDF's own errors
    state = read_restart(path, basin.name, config.model_hash(), valid_time)
    basin.routing.check_state(state.routing, str(path))
    cells = {k: v.shape[0] for k, v in state.runoff.arrays.items()}
    n_cells = 0 if basin.mapping is None else basin.mapping.n_cells  # no runoff grid: no runoff state
    if (any(n != n_cells for n in cells.values()) or (basin.mapping is None and cells)
            or set(state.dams) != set(basin.routing.zones)):
        raise InputDataError(f"{path}: restart holds {sorted(set(cells.values()))} runoff cells and reservoirs "
                             f"{sorted(state.dams)}; this basin has {n_cells} cells and reservoirs "
                             f"{sorted(basin.routing.zones)}; start cold (--cold)")
    detention = basin.routing.detention
    known = {site.id: site for site in (detention.sites if detention is not None else ())}
    for bid, volume in state.detention.items():
        if bid not in known:
            raise InputDataError(f"{path}: restart holds detention basin {bid!r}, which this basin does not have "
                                 f"(it has {sorted(known) or 'none'}); start cold (--cold)")
        if volume > known[bid].capacity_m3 * (1 + 1e-9):
            raise InputDataError(f"{path}: restart detention basin {bid} holds {volume:.6g} m3, above its capacity "
                                 f"{known[bid].capacity_m3:.6g} m3; restore the file or start cold (--cold)")
    if basin.spec.main_stems:  # Saint-Venant main stems: their hydraulic states must fit, or are missing (older file)
        from ..hydraulics.network_coupling import check_main_stem_states

        check_main_stem_states(coupled_main_stems(basin.spec, basin.routing), state.main_stems, str(path))
        lacking = [m.id for m in basin.spec.main_stems if m.id not in state.main_stems]
        if lacking:
            log.warning("%s: the restart holds no hydraulic state for main stem(s) %s (written before restarts carried "
                        "them, or the main stems were added since): the analysis starts them from the steady profile "
                        "of the flows at its start (when the restart holds no main stem's state at all, over its last "
                        "hour only, from the flows then)", path, ", ".join(lacking))
    elif state.main_stems:
        raise InputDataError(f"{path}: main stem {sorted(state.main_stems)[0]!r}: the restart holds its hydraulic state, "
                             "but the basin has no main stems; start cold (--cold)")
    # hillslope slots, soil stores, each dam's level and storage on its curve and consistent, its gate release
    check_restart_against_basin(state, basin, path)
    return state


def _started_from(folder: Path) -> str | None:
    """How the cycle in ``folder`` last started (its summary's forecast_stage.start: "cold..." or a restart's
    path), or None when it has not run or its summary cannot be read."""
    try:
        return str(json.loads((folder / "summary.json").read_text())["forecast_stage"]["start"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def start_state(config: CycleConfig, config_path: Path, basin: BasinModel, w: Window, cold: bool) -> tuple[BasinState, str]:
    """The state at the analysis start: the previous cycle's restart, or a cold start (``cold``, or a state
    folder without any restart). A restart missing in the middle of a roll is an error, not a cold start."""
    state_dir = state_folder(config, config_path)
    path = restart_path(state_dir, w.start)
    if not cold and (path.exists() or path.is_symlink()):  # a folder, a link loop or a damaged file: refused
        return _read_state(path, basin, config, w.start), str(path)
    if not cold:
        restarts = sorted(state_dir.glob("restart_*.nc")) if state_dir.is_dir() else []
        earlier = [p for p in restarts if p.name < path.name]
        if earlier:  # a roll is under way and its link to this cycle is missing
            raise InputDataError(f"{path}: no restart for the analysis start {str(w.start)[:16]} in {state_dir} "
                                 f"(latest before it: {earlier[-1].name}); start the cycle at a restart's time or give --cold")
        redone = _started_from(cycle_folder(config, config_path)) if restarts else None
        if redone is not None and not redone.startswith("cold"):
            # only later restarts, and this cycle once started from a restart now gone: a cold start would replace
            # a warm cycle and the roll's later state (a rerun of a roll's first, cold, cycle is still allowed)
            raise InputDataError(f"{path}: no restart for the analysis start {str(w.start)[:16]} in {state_dir}, but "
                                 f"this cycle last started from {Path(redone).name} and the folder holds later restarts "
                                 f"(first: {restarts[0].name}) that a cold start would replace; restore the restart "
                                 "or give --cold")
        log.info("no restart in %s: cold start at %s", state_dir, str(w.start)[:16])
    return cold_state(basin, w.start, config.runoff.initial_flow_mm_h, config.runoff.initial_tension_fraction), "cold"


def _nudging(config: CycleConfig, config_path: Path, basin: BasinModel, start: np.datetime64):
    """Per network piece, the nudging towards the configured gauge flows (None without observations)."""
    if not config.assimilation.observations:
        return None
    from ..io.observations import read_gauge_observations
    from ..routing.nudging import Nudging, PersistedNudging

    obs = read_gauge_observations(config_path.parent / config.assimilation.observations, basin.network.feature_id)
    if not np.isin(obs.feature_id, basin.network.feature_id).any():
        raise InputDataError(f"{obs.source}: none of the {obs.feature_id.size} gauges is on the network")

    made: list = []  # every Nudging made, for the count of updates in the summary

    def nudging_for(feature_ids, hour):
        if not np.isin(obs.feature_id, feature_ids).any():
            return None
        made.append(Nudging(obs, feature_ids, start + np.timedelta64(hour, "h"), basin.routing.dt,
                            config.assimilation.coefficient, config.assimilation.tau_s))
        return made[-1]
    nudging_for.made = made
    on_network = int(np.isin(obs.feature_id, basin.network.feature_id).sum())
    nudging_for.description = (f"{obs.source}: {on_network} gauges on the network, nudged over the analysis window "
                               f"(G = {config.assimilation.coefficient:g}, tau = {config.assimilation.tau_s:g} s)")
    decay = config.assimilation.forecast_decay_minutes
    carried: list = []  # the forecast's PersistedNudging per network piece
    issue = start + np.timedelta64(config.cycle.hours, "h")

    def forecast_for(feature_ids, hour):  # from the issue time: each gauge's last correction, decaying
        if not np.isin(obs.feature_id, feature_ids).any():
            return None
        carried.append(PersistedNudging(obs, feature_ids, issue + np.timedelta64(hour, "h"), basin.routing.dt,
                                        config.assimilation.coefficient, decay))
        return carried[-1]
    forecast_for.made = carried
    nudging_for.forecast = forecast_for if decay > 0 else None

    def forecast_description() -> str:
        if decay <= 0:
            return "forecast: not nudged (forecast_decay_minutes = 0: the gauges are forgotten at the issue time)"
        gauges = sum(n.carried for n in carried)
        return (f"forecast: the last observation of {gauges} gauges carried from the issue time, the correction "
                f"decaying as exp(-age / {decay:g} min) (t-route da_decay_coefficient)")
    nudging_for.forecast_description = forecast_description
    return nudging_for


def streamflow_dataset(basin: BasinModel, times, flow, title: str, extra: dict | None = None, operations=None):
    """CF timeSeries NetCDF content with NWM names; with ``operations`` (per dam, hourly) the reservoirs'
    inflow, release, level and storage beside the streamflow."""
    import xarray as xr

    from ..core.variables import CF_ATTRS

    flow_attrs = {**CF_ATTRS["streamflow"], "comment": "at a reservoir's feature_id: its release"}
    ds = xr.Dataset({"streamflow": (("time", "feature_id"), np.asarray(flow, np.float32), flow_attrs)},
                    coords={"time": ("time", times, {**CF_ATTRS["time"], "long_name": "valid time (end of hour)"}),
                            "feature_id": ("feature_id", basin.network.feature_id, dict(CF_ATTRS["feature_id"]))},
                    attrs={"featureType": "timeSeries", "title": title, **(extra or {})})
    if operations is not None and basin.routing.dams:
        run, ids = operations, [d.id for d in basin.routing.dams]

        def per_dam(values):
            return (("time", "reservoir"), np.stack(values, axis=1))
        ds["reservoir_inflow"] = per_dam([run.inflow[i][1:] for i in ids])
        ds["reservoir_inflow"].attrs.update(long_name="reservoir inflow at the end of each hour", units="m3 s-1")
        ds["reservoir_release"] = per_dam([run.operations[i].release for i in ids])
        ds["reservoir_release"].attrs.update(long_name="reservoir release over the hour ending at time (current rules)",
                                             units="m3 s-1")
        ds["reservoir_level"] = per_dam([run.operations[i].level[1:] for i in ids])
        ds["reservoir_level"].attrs.update(long_name="reservoir water level at the end of each hour", units="m")
        ds["reservoir_storage"] = per_dam([run.operations[i].storage[1:] for i in ids])
        ds["reservoir_storage"].attrs.update(long_name="reservoir storage at the end of each hour", units="m3")
        ds = ds.assign_coords(reservoir=("reservoir", np.array(ids), dict(CF_ATTRS["reservoir"])),
                              reservoir_feature_id=("reservoir", np.array([d.feature_id for d in basin.routing.dams]),
                                                    dict(CF_ATTRS["reservoir_feature_id"])))
    record = operations.detention if operations is not None else None
    if record is not None:  # detention basins: what each diverted and holds (hydro/routing/detention.py)
        ids = list(record.diversion)
        ds["detention_diversion"] = (("time", "detention_basin"), np.stack([record.diversion[i] for i in ids], axis=1),
                                     {"long_name": "flow diverted into the detention basin over the hour ending at time",
                                      "units": "m3 s-1"})
        ds["detention_storage"] = (("time", "detention_basin"), np.stack([record.storage[i][1:] for i in ids], axis=1),
                                   {"long_name": "water volume stored in the detention basin at time", "units": "m3"})
        ds = ds.assign_coords(detention_basin=("detention_basin", np.array(ids), {"long_name": "detention basin id"}))
    netcdf.cf_encode(ds)
    ds["streamflow"].encoding.update(zlib=True, complevel=1)
    return ds


def main_stem_streamflow(basin: BasinModel, flow, main_stems: dict):
    """``flow`` [hours, n] with the main stems' segments replaced by their Saint-Venant discharge."""
    flow = np.array(flow, np.float32)
    for r in main_stems.values():
        flow[:, basin.network.index_of(r.feature_id)] = r.discharge.astype(np.float32)
    return flow


def main_stem_dataset(main_stems: dict):
    """Per main-stem segment (its downstream end): discharge and water level at the forecast's hour ends."""
    import xarray as xr

    rs = list(main_stems.values())
    cat = lambda name: np.concatenate([getattr(r, name) for r in rs])  # noqa: E731
    both = lambda name: np.concatenate([getattr(r, name) for r in rs], axis=1)  # noqa: E731
    dims = ("time", "main_stem_segment")
    return xr.Dataset(
        {"main_stem_discharge": (dims, both("discharge"), {
            "units": "m3 s-1", "standard_name": "water_volume_transport_in_river_channel",
            "long_name": "main-stem discharge at the segment's downstream end (Saint-Venant, Preissmann)"}),
         "main_stem_water_level": (dims, both("water_level"), {
             "units": "m", "long_name": "main-stem water level at the segment's downstream end (Saint-Venant), "
                                        "in the vertical datum of the main stem's sections"}),
         "main_stem_depth": (dims, np.concatenate([r.depth() for r in rs], axis=1), {
             "units": "m", "long_name": "main-stem water depth above the thalweg at the segment's downstream end"})},
        coords={"main_stem_feature_id": ("main_stem_segment", cat("feature_id"),
                                         {"long_name": "feature_id of the network segment the main stem replaces"}),
                "main_stem": ("main_stem_segment", np.concatenate([[r.id] * r.feature_id.size for r in rs]),
                              {"long_name": "main stem id (basin file [[main_stems]])"}),
                "main_stem_chainage": ("main_stem_segment", cat("chainage"), {
                    "units": "m", "long_name": "chainage of the computational node reported (nearest the segment's "
                                               "downstream end), from the main stem's upstream end"}),
                "main_stem_thalweg": ("main_stem_segment", cat("thalweg"), {
                    "units": "m", "long_name": "lowest bed level of the section at that node"})})


def _with_main_stems(ds, main_stems: dict):
    """``ds`` (a streamflow dataset whose main-stem segments hold the Saint-Venant discharge) with the main stems'
    variables and that said in streamflow's comment."""
    ds = netcdf.cf_encode(ds.merge(main_stem_dataset(main_stems)))
    ds["streamflow"].attrs["comment"] += ("; at the segments of a main stem (main_stem_feature_id): the "
                                          "Saint-Venant discharge at the segment's downstream end")
    return ds


def write_forecast(out: Path, basin: BasinModel, config: CycleConfig, fc: ForecastResult, started: str,
                   main_stems: dict | None = None) -> None:
    """analysis.nc, forecast.nc (the forecast through the current rules: F1), forecast_qlat.nc (its lateral
    inflow at 10 minutes) and, with members, ensemble.nc. ``main_stems`` (id -> MainStemResult, the
    Saint-Venant main stems run on F1): their discharge and water level go into forecast.nc, and its
    streamflow at the segments they replace is their discharge; analysis.nc likewise with the main stems over
    the analysis window (``fc.analysis_main_stems``; none after a cold start)."""
    import xarray as xr

    from ..core.variables import CF_ATTRS

    w = fc.window
    numerics = {"routing_dt_s": basin.routing.dt, "routing_solver": basin.routing.solver,
                "reservoirs": "operated by their current rules (streamflow at a dam's feature_id is its release)"}
    analysis_stems = getattr(fc, "analysis_main_stems", None) or {}
    analysis_flow = fc.analysis.streamflow
    if analysis_stems:
        analysis_flow = main_stem_streamflow(basin, analysis_flow, analysis_stems)
    analysis_ds = streamflow_dataset(
        basin, fc.analysis.times, analysis_flow, f"hydro analysis for basin {basin.name}",
        {"start": started, "config_hash": config.model_hash(), **numerics}, fc.analysis.run)
    if analysis_stems:
        analysis_ds = _with_main_stems(analysis_ds, analysis_stems)
    netcdf.write_dataset(out / "analysis.nc", analysis_ds)
    forecast_flow = fc.forecast.streamflow
    if main_stems:
        forecast_flow = main_stem_streamflow(basin, forecast_flow, main_stems)
    forecast_ds = streamflow_dataset(
        basin, fc.forecast.times, forecast_flow, f"hydro forecast for basin {basin.name}",
        {"issue_time": str(w.issue)[:16], "nowcast_hours": config.cycle.nowcast_hours,
         "rain_after_nowcast": fc.rain_after_nowcast, "members": 0 if fc.members_flow is None else fc.members_flow.shape[0],
         **numerics, **balance_attributes(fc.water_balance or {})}, fc.forecast.run)
    if main_stems:
        forecast_ds = _with_main_stems(forecast_ds, main_stems)
    netcdf.write_dataset(out / "forecast.nc", forecast_ds)
    lateral = fc.forecast.lateral
    lateral_times = (w.issue + np.arange(lateral.shape[0]) * np.timedelta64(10, "m")).astype("datetime64[ns]")
    netcdf.write_dataset(out / "forecast_qlat.nc", netcdf.lateral_dataset(lateral, basin.network.feature_id, lateral_times))
    if fc.members_flow is not None:
        ens = xr.Dataset({"streamflow": (("member", "time", "feature_id"), fc.members_flow,
                                         {**CF_ATTRS["streamflow"], "long_name": "river discharge (each member "
                                          "through the current reservoir rules)"})},
                         coords={"member": ("member", np.arange(fc.members_flow.shape[0], dtype=np.int32),
                                            dict(CF_ATTRS["member"])),
                                 "time": ("time", fc.forecast.times, dict(CF_ATTRS["time"])),
                                 "feature_id": ("feature_id", basin.network.feature_id, dict(CF_ATTRS["feature_id"]))},
                         attrs={"featureType": "timeSeries",
                                "title": f"hydro {fc.members_flow.shape[0]}-member ensemble forecast"})
        netcdf.write_dataset(out / "ensemble.nc", netcdf.cf_encode(ens))
    else:
        (out / "ensemble.nc").unlink(missing_ok=True)  # a deterministic rerun: no stale members for the warnings


def annual_maxima(basin: BasinModel, config: CycleConfig, config_path: Path) -> np.ndarray:
    """[years, n] annual maximum flows for the segment warnings: the basin's own file when it has one
    (``warning.climatology`` in the basin folder, annual_max(year, feature_id)), else the simulated
    climatology, kept in the user cache (``hydro.core.workspace.cache_dir``) per basin content, model
    configuration and PET (the configured one, ``stages.climatology.climatology_pet``), and never written into
    the basin folder."""
    import xarray as xr

    from ..stages.climatology import METHOD, climatology_pet, simulate_climatology

    own = basin.folder / config.warning.climatology
    pet = None if own.is_file() else climatology_pet(basin, config, config_path.parent)
    cached = None if pet is None else \
        cache_dir() / "climatology" / f"{basin.name}_{_basin_fingerprint(basin, config, pet.key())}.nc"
    path = own if own.is_file() else cached
    if path == cached and path.is_file():
        try:  # the cache is rebuildable: a damaged copy (a killed writer, a full disk, bit rot) is built again
            with xr.open_dataset(path) as ds:
                ds["annual_max"].sel(feature_id=basin.network.feature_id).values
        except Exception as exc:  # noqa: BLE001  (whatever refuses the cached copy: rebuild it)
            log.warning("%s: the cached climatology is damaged (%s); rebuilding it", path,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            path.unlink(missing_ok=True)
    if not path.is_file():
        annual_max = simulate_climatology(basin, config, pet=pet)
        ds = xr.Dataset({"annual_max": (("year", "feature_id"), annual_max, {
            "units": "m3 s-1", "long_name": "annual maximum streamflow of the simulated climatology"})},
            coords={"year": np.arange(annual_max.shape[0]), "feature_id": basin.network.feature_id},
            attrs={"title": f"hydro simulated climatology for basin {basin.name}", "method": METHOD,
                   "pet": pet.description, "forcing": f"{METHOD}; PET: {pet.description}"})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            netcdf.write_dataset(path, ds)  # atomic: concurrent runs write the same numbers
        except OSError as exc:
            from ..core.workspace import cache_unusable

            raise cache_unusable(path.parent, exc) from None
    with xr.open_dataset(path) as ds:
        return ds["annual_max"].sel(feature_id=basin.network.feature_id).values


def climatology_for(basin: BasinModel, config: CycleConfig, config_path: Path) -> tuple[np.ndarray | None, str]:
    """The annual maxima behind the segment warnings and what forced them (written into the warning outputs):
    the basin's own file, else the simulated climatology (:func:`annual_maxima`); a basin without a runoff grid
    has no rain to simulate one from, so without its own file it has none (None: no return-period grades)."""
    import xarray as xr

    from ..stages.climatology import METHOD, climatology_pet

    own = basin.folder / config.warning.climatology
    if own.is_file():
        with xr.open_dataset(own) as ds:
            stated = ds.attrs.get("forcing") or ds.attrs.get("method")
        return annual_maxima(basin, config, config_path), (
            f"the basin's own {own.name}: {stated}" if stated else
            f"the basin's own {own.name} (the file does not state what forced it: add a 'forcing' attribute)")
    if basin.grid is None:
        return None, (f"none: basin {basin.name} is forced by lateral inflow (no runoff grid), so no climatology can "
                      f"be simulated from rain, and {own} does not exist; segments get no return-period grade, "
                      "stations are graded on the user thresholds ([warning] thresholds)")
    pet = climatology_pet(basin, config, config_path.parent).description
    return annual_maxima(basin, config, config_path), f"simulated (synthetic, not observed): {METHOD}; PET: {pet}"


def _basin_fingerprint(basin: BasinModel, config: CycleConfig, pet_key: str = "") -> str:
    """A hash of what the climatology depends on: the basin's files, the model configuration and its PET."""
    import hashlib

    digest = hashlib.sha256(config.model_hash().encode() + pet_key.encode())
    for path in sorted(p for p in basin.folder.iterdir() if p.is_file() and p.name != config.warning.climatology):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def inputs_from_files(out: Path, basin: BasinModel, config: CycleConfig, config_path: Path) -> RehearsalInputs:
    """For a ``--stage`` rerun: the issue-time state from its restart and the forecast lateral inflow from
    forecast_qlat.nc; F1 is then routed again from them (the same numbers as forecast.nc), with the gauges' last
    corrections carried as the forecast carried them ([assimilation] forecast_decay_minutes)."""
    w = window(config)
    qlat = out / "forecast_qlat.nc"
    if not qlat.is_file():
        raise InputDataError(f"{qlat}: missing; run the forecast stage of this cycle first")
    path = restart_path(state_folder(config, config_path), w.issue)
    if not path.is_file():
        raise InputDataError(f"{path}: the issue-time restart is missing; run the forecast stage of this cycle first")
    state = _read_state(path, basin, config, w.issue)
    lateral, times, interval_s = read_forecast_lateral(qlat, basin.network)
    inputs = RehearsalInputs(basin.network, basin.spec, basin.routing, lateral, interval_s, times, state.dams,
                             with_main_stems(state.routing, state.main_stems), source=str(out / "forecast.nc"))
    nudging = _nudging(config, config_path, basin, w.start)
    if nudging is not None and nudging.forecast is not None:  # F1 nudged as the forecast was (and F2, what-ifs)
        inputs.nudging_for = nudging.forecast
        run = basin.routing.run(np.asarray(lateral), interval_s, len(times), inputs.initial, state.dams,
                                nudging_for=nudging.forecast, detention=state.detention or None)
        inputs.f1 = score(basin.spec, basin.routing, run, times, inputs.initial)
    return inputs


def _forecast_flows(out: Path, fc: ForecastResult | None):
    """The forecast streamflow [hours, n] and the members' [members, hours, n] (or None)."""
    if fc is not None:
        return fc.forecast.streamflow, fc.members_flow
    import xarray as xr

    forecast = out / "forecast.nc"
    if not forecast.is_file():
        raise InputDataError(f"{forecast}: no forecast in this cycle folder; run the forecast stage first")
    with xr.open_dataset(forecast) as ds:
        flow = ds["streamflow"].values
    members = None
    if (out / "ensemble.nc").is_file():
        with xr.open_dataset(out / "ensemble.nc") as ds:
            members = ds["streamflow"].values
    return flow, members


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _check_space(config: CycleConfig, config_path: Path, basin: BasinModel, out: Path, members: int) -> None:
    """Before any work: the state folder and the cycle folder can be written and their disks hold what this
    cycle writes. The estimates: the newest restart's size (a cold start: 88 bytes per runoff cell, 9 soil and
    2 lag values, and 520 per segment, 64 hillslope slots and the flows, in float64); the largest of the three
    newest complete cycle folders beside ``out``, and at least 4 bytes per segment and hour of analysis and
    forecast (and member), 24 per segment and hour of 10-minute forecast lateral inflow, and 1 MiB of plots and
    reports."""
    import os

    from ..io.atomic import check_writable

    state_dir = state_folder(config, config_path)
    restarts = sorted(state_dir.glob("restart_*.nc")) if state_dir.is_dir() else []
    cells = basin.mapping.n_cells if basin.mapping is not None else 0
    try:
        restart = restarts[-1].stat().st_size if restarts else cells * 88 + basin.network.size * 520
    except OSError:  # a dangling link or a link loop: the reader refuses it; estimate as for a cold start
        restarts, restart = [], cells * 88 + basin.network.size * 520
    restart_basis = f"the newest restart, {restarts[-1].name}" if restarts else \
        f"a restart of {cells:,} cells and {basin.network.size:,} segments"
    # the newest complete cycle folders (names sort by issue time): a year of hourly cycles is not walked each run
    done = sorted(p.parent for p in out.parent.glob(f"cycle_*/{COMPLETE}"))[-3:] if out.parent.is_dir() else []
    hours = config.cycle.hours + config.cycle.forecast_hours * (1 + members)
    formula = basin.network.size * (hours * 4 + config.cycle.forecast_hours * 24) + (1 << 20)
    earlier = max((_folder_bytes(p) for p in done), default=0)  # measured, but without this run's members maybe
    outputs = max(formula, earlier)
    basis = "the largest of the newest complete cycle folders beside it" if earlier >= formula else \
        f"{basin.network.size:,} segments x {hours} hours of flows, lateral inflow, plots and reports"

    def device(folder: Path) -> int:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        return os.stat(folder).st_dev

    shared = device(state_dir) == device(out)
    check_writable(state_dir, restart, "state folder", restart_basis, "choose another --state-dir")
    check_writable(out, outputs + (restart if shared else 0), "output folder",
                   basis + (f" and {restart_basis} on the same disk" if shared else ""), "choose another --output-dir")


def run_cycle(config_path: Path, stage: str | None = None, cold: bool = False, members: int = 0,
              scheduler: str | None = None, overrides: dict | None = None) -> dict:
    """One cycle (all stages, or one with ``stage``); returns the summary (also summary.json). The state
    folder is locked for the run: a second run on it fails at once, naming the holder."""
    from ..io.atomic import FolderLock

    config_path = Path(config_path)
    config = load_config(config_path)
    if overrides:
        config = CycleConfig.model_validate({**config.model_dump(), "cycle": {**config.cycle.model_dump(), **overrides}})
    state_dir = state_folder(config, config_path)
    new_state_dir = not state_dir.exists()
    try:
        with FolderLock(state_dir, "state folder"), ExitStack() as locks:
            return _run_cycle(config_path, config, stage, cold, members, scheduler, locks)
    except BaseException:
        if new_state_dir:  # made only for the lock: a refused or failed run leaves no new folder
            (state_dir / ".hydro.lock").unlink(missing_ok=True)
            try:
                state_dir.rmdir()  # only if nothing else was written into it
            except OSError:
                pass
        raise


def _run_cycle(config_path: Path, config: CycleConfig, stage: str | None, cold: bool, members: int,
               scheduler: str | None, locks: ExitStack | None = None) -> dict:
    from ..report.warnings import write_warnings
    from ..stages.forcing import Forcing
    from ..stages.forecast import run_forecast
    from ..stages.plan import run_plan
    from ..stages.rehearsal import run_rehearsal
    from ..stages.warning import grade_forecast

    if stage is not None and stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; choose {', '.join(STAGES)}")
    began = time.time()
    basin = load_basin(config, config_path)
    out = cycle_folder(config, config_path)
    w = window(config)
    # every check that can refuse this run comes before any folder is made or changed: the start state (the
    # restart read and checked), the forcing and the observations, or for a later stage the forecast's files.
    # A refused run leaves no new folder, and an earlier complete cycle folder keeps its COMPLETE and report.
    t_prepare = time.perf_counter()
    inputs: RehearsalInputs | None = None  # the issue-time state, the forecast lateral inflow and F1
    if stage in (None, "forecast"):
        forcing = Forcing(resolve_asset(config.forcing.setup, config_path, "forcing", "forcing.setup"), basin,
                          config.forcing, config_path.parent)
        state, started = start_state(config, config_path, basin, w, cold)
        inflow = forcing.lateral_inflow  # NWM lateral inflow (no runoff grid), else None
        nudging = _nudging(config, config_path, basin, w.start)
    else:
        inputs = inputs_from_files(out, basin, config, config_path)
    prepare_s = time.perf_counter() - t_prepare
    _check_space(config, config_path, basin, out, members if stage in (None, "forecast") else 0)
    writing = []

    def begin_writing() -> None:
        """Just before the first output is written (a run failing in its computation changes nothing): the folder
        made, and marked incomplete. The folder is complete only once COMPLETE is written, last; a run killed
        after this leaves it visibly incomplete (no marker, no report), never two runs mixed behind an old report."""
        if writing:
            return
        if locks is not None and out.parent != state_folder(config, config_path):
            # the output folder is locked from here to the run's end, as the state folder is for the whole run:
            # two runs with different state folders must not write one cycle folder at the same time
            from ..io.atomic import FolderLock

            locks.enter_context(FolderLock(out.parent, "output folder", only_hydro_runs=False))  # hydro route may write there
        done = out / COMPLETE
        if done.is_file() and done.stat().st_mtime > began:  # not a rerun: a run beside this one finished it
            raise InputDataError(f"{out}: another run (another state folder) completed this cycle folder while this "
                                 "one was computing; nothing was written: rerun to replace its results, or give "
                                 "each run its own --output-dir")
        out.mkdir(parents=True, exist_ok=True)
        sweep_stale_temporaries(out, recursive=True)  # a killed run's temporary files (not a live writer's)
        (out / COMPLETE).unlink(missing_ok=True)
        if stage in (None, "forecast"):
            (out / "report.html").unlink(missing_ok=True)
        writing.append(True)
    summary_path = out / "summary.json"
    # a rerun of a later stage keeps what the earlier stages reported; a new forecast starts afresh
    keep = stage not in (None, "forecast") and summary_path.is_file()
    summary = json.loads(summary_path.read_text()) if keep else {}
    summary.update({"basin": basin.name, "config": str(config_path), "config_hash": config.model_hash(),
                    "analysis": f"{str(w.start)[:16]} .. {str(w.issue)[:16]}",
                    "forecast": f"{str(w.issue)[:16]} .. {str(w.end)[:16]}", "folder": str(out)})
    timings = summary.setdefault("seconds", {})
    numerics = summary.setdefault("numerics", {})
    fc: ForecastResult | None = None
    known = {}  # the rehearsal's result, reused by the plan
    for name in STAGES if stage is None else (stage,):
        t0 = time.perf_counter()
        if name == "forecast":  # state, forcing and nudging were prepared (and checked) above
            if started == "cold" and inflow is not None and forcing.setup.warm_start:
                if inflow.warm_start(state.routing, w.start):
                    started = "cold; channels warm-started from the NWM streamflow at the start"
            fc = run_forecast(config, basin, forcing, state, members, scheduler, nudging)
            # F1 scored first: the main stems' hydraulics (if any) go into forecast.nc
            issue_channel = with_main_stems(fc.issue_state.routing, fc.issue_state.main_stems)  # with the hydraulics
            f1_scored = score(basin.spec, basin.routing, fc.forecast.run, fc.forecast.times, issue_channel)
            begin_writing()
            write_forecast(out, basin, config, fc, started, f1_scored.main_stems)
            # the restart last: a run killed before this point leaves the previous state as it was
            state_dir = state_folder(config, config_path)
            state_dir.mkdir(parents=True, exist_ok=True)
            restart_out = write_restart(restart_path(state_dir, w.issue), fc.issue_state, basin.name, config.model_hash())
            for old in prune_restarts(state_dir, config.cycle.keep_restarts):
                log.info("pruned %s (keep_restarts = %d)", old.name, config.cycle.keep_restarts)
            inputs = RehearsalInputs(basin.network, basin.spec, basin.routing, fc.forecast.lateral, 600.0,
                                     fc.forecast.times, fc.issue_state.dams, issue_channel,
                                     f1_scored, str(out / "forecast.nc"),
                                     getattr(nudging, "forecast", None))  # F2, what-ifs: the forecast's corrections
            summary["forecast_stage"] = {
                "start": started, "restart": str(restart_out), "analysis_hours": config.cycle.hours,
                "reservoirs_at_issue": {k: {"level_m": round(v.level, 3), "release_m3s": round(v.release or 0.0, 1)}
                                        for k, v in fc.issue_state.dams.items()},
                "forecast_hours": config.cycle.forecast_hours, "members": members,
                "assimilation": "none" if nudging is None else
                f"{nudging.description}: {sum(n.applied for n in nudging.made)} gauge-step updates; "
                f"{nudging.forecast_description()}",
                **({"basin_rain_mm": round(fc.analysis_rain_mm, 1), "nowcast_rain_mm": round(fc.nowcast_rain_mm, 1)}
                   if inflow is None else {"forcing": inflow.description}),
                "water_balance": fc.water_balance,  # the forecast window's, m3 (hydro/stages/water_balance.py)
                "seconds": round(fc.timer["total"], 2),
                "parts_s": {k: round(v, 2) for k, v in fc.timer.items() if k != "total"}}
            if getattr(forcing, "lateral_inflow", None) is None:  # rain on the runoff grid: say where it came from
                summary["forecast_stage"].update(rain=forcing.rain_source, rain_after_nowcast=fc.rain_after_nowcast,
                                                 qpf_rain_mm=round(fc.qpf_rain_mm, 1), pet=forcing.pet_source)
            numerics["forecast"] = {"dt_s": fc.forecast.run.dt, "solver": fc.forecast.run.solver}
            timings[name] = round(time.perf_counter() - t0 + prepare_s, 2)  # with the state and forcing read above
            continue
        if inputs is None:
            inputs = inputs_from_files(out, basin, config, config_path)
        begin_writing()
        if name == "warning":
            flow, members_flow = _forecast_flows(out, fc)
            f1 = inputs.forward()
            if fc is not None and f1.main_stems:  # as forecast.nc holds it (read back when fc is None)
                flow = main_stem_streamflow(basin, flow, f1.main_stems)
            annual_max, climatology = climatology_for(basin, config, config_path)
            wrn = grade_forecast(config.warning.scheme, config.warning.frequency, config.warning.approach_fraction,
                                 basin.spec, basin.network.feature_id, inputs.times, flow,
                                 annual_max, f1.section_discharge, f1.section_stage, members_flow, f1.stage_source,
                                 fc.members_stage if fc is not None else None)
            wrn.climatology = climatology
            if config.warning.thresholds:  # the centre's own levels per gauge or section, with their source
                from ..io.thresholds import read_thresholds
                from ..stages.warning import grade_user_thresholds

                user, series = grade_user_thresholds(
                    read_thresholds(config_path.parent / config.warning.thresholds), basin.spec,
                    basin.network.feature_id, inputs.times, flow, f1.section_discharge, f1.section_stage, members_flow)
                wrn.stations += user
                wrn.rows[len(wrn.stations) - len(user):len(wrn.stations) - len(user)] = user
                wrn.station_series.update(series)
            summary["warning"] = write_warnings(out, basin, wrn, flow, config.warning.frequency)
            numerics["warning"] = {"dt_s": f1.run.dt, "solver": f1.run.solver}
        elif name == "rehearsal":
            r, result = run_rehearsal(inputs, config.rehearsal.objective, output_dir=out / "rehearsal")
            if result is not None:
                known[config.rehearsal.objective] = result
            summary["rehearsal"] = {k: r[k] for k in ("f1", "f2", "verdict", "nothing_to_dispatch",
                                                      "no_feasible_schedule") if k in r}
            if "inverse" in r:
                summary["rehearsal"]["binding"] = r["inverse"]["binding"]
                summary["rehearsal"]["feasible"] = r["inverse"]["feasible"]
            numerics["rehearsal"] = r["routing"]
        else:
            p = run_plan(inputs, out / "plan", known=known)
            summary["plan"] = {k: p[k] for k in ("recommended", "verified", "dispatch_order", "ranking",
                                                 "nothing_to_dispatch") if k in p}
            numerics["plan"] = p["routing"]
        timings[name] = round(time.perf_counter() - t0, 2)
    from ..io.atomic import write_atomic

    begin_writing()
    write_atomic(summary_path, lambda tmp: tmp.write_text(json.dumps(summary, indent=1, default=str)))
    write_report(out, summary)
    write_atomic(out / COMPLETE, lambda tmp: tmp.write_text(json.dumps(
        {"stages": [n for n in STAGES if n in timings], "config_hash": config.model_hash()}) + "\n"))
    return summary


def run_cycles(config_path: Path, cycles: int = 1, start: str | None = None, hours: int | None = None,
               cold: bool = False, folders: dict | None = None, **kwargs) -> list[dict]:
    """Rolling cycles: each starts where the previous analysis ended, from its restart. ``folders``
    overrides output_dir / state_dir."""
    config = load_config(Path(config_path))
    first = np.datetime64(start, "m") if start else np.datetime64(utc_naive(config.cycle.start), "m")
    hours = hours or config.cycle.hours
    return [run_cycle(config_path, cold=cold and k == 0, overrides={
        "start": str(first + k * np.timedelta64(hours, "h")), "hours": hours, **(folders or {})}, **kwargs)
        for k in range(cycles)]


def run_basins(configs: list[Path], dask: bool = False, scheduler: str | None = None, **kwargs) -> list[dict]:
    """Rolling cycles for several independent basins (one config each): in turn, or as one dask task per
    basin on a LocalCluster (``dask``) or the scheduler at ``scheduler``. A basin's own ensemble members
    then run inside its task."""
    for c in configs:  # every configuration is read first: a bad second one is refused before the first runs
        load_config(Path(c))
    if len(configs) > 1 and (dask or scheduler):
        from ..stages.ensemble import client_for

        client, cluster = client_for(scheduler)
        try:
            futures = [client.submit(run_cycles, Path(c), pure=False, **kwargs) for c in configs]
            return [s for result in client.gather(futures) for s in result]
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return [s for c in configs for s in run_cycles(Path(c), scheduler=scheduler, **kwargs)]
