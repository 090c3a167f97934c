"""hydro as a library: the objects and functions ``import hydro`` exposes (lazily, so ``hydro --version``
stays fast).

>>> import hydro
>>> net = hydro.RiverNetwork.from_routelink("RouteLink.nc", lakeparm="LAKEPARM.nc")  # doctest: +SKIP
>>> qlat = hydro.read_lateral("channel_forcing/")        # DataArray qlat(time, feature_id) [m3 s-1]  # doctest: +SKIP
>>> ds = hydro.route(net, qlat, dt=300.0, solver="nwm")  # Dataset with CHRTOUT names = `hydro route`  # doctest: +SKIP
>>> cycle = hydro.Cycle.from_config("basins/demo/cycle.toml", output_dir="out", state_dir="out/state")  # doctest: +SKIP
>>> result = cycle.run()   # result.forecast (Dataset), result.warnings, result.rehearsal, result.plan  # doctest: +SKIP

The command line runs the same code: ``hydro route`` is :func:`route` plus a file write, ``hydro run``
is :meth:`Cycle.run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from .core.errors import ConfigError, InputDataError
from .network import RiverNetwork as _Network
from .reservoir.levelpool import LevelPoolParameters


class RiverNetwork:
    """A river network with its level-pool lakes collapsed into single nodes, as the NWM routes it.

    Parameters
    ----------
    network : hydro.network.RiverNetwork
        Topology and channel geometry, lakes already collapsed.
    lakes : LevelPoolParameters or None
        Level-pool parameters of the lake nodes.
    """

    def __init__(self, network: _Network, lakes: LevelPoolParameters | None = None) -> None:
        self.network, self.lakes = network, lakes

    @classmethod
    def from_routelink(cls, routelink: str | Path, lakeparm: str | Path | None = None) -> RiverNetwork:
        """An NWM RouteLink NetCDF, with the lakes of ``lakeparm`` (LAKEPARM NetCDF) collapsed."""
        from .stages.pipeline import load_network

        return cls(*load_network(Path(routelink), None, None if lakeparm is None else Path(lakeparm)))

    @classmethod
    def from_netcdf(cls, path: str | Path, lakeparm: str | Path | None = None) -> RiverNetwork:
        """A hydro CF network file (``hydro.io.netcdf.write_network``)."""
        from .stages.pipeline import load_network

        return cls(*load_network(None, Path(path), None if lakeparm is None else Path(lakeparm)))

    @property
    def feature_id(self) -> np.ndarray:
        return self.network.feature_id

    @property
    def size(self) -> int:
        return self.network.size

    def __repr__(self) -> str:
        lakes = int(self.network.is_lake.sum())
        return f"RiverNetwork({self.size} nodes, {lakes} lakes, source={self.network.source!r})"


def read_lateral(path: str | Path, bad: str = "error") -> xr.DataArray:
    """Lateral inflow ``qlat(time, feature_id)`` [m3 s-1] from a folder of WRF-Hydro ``*.CHRTOUT_DOMAIN1``
    files (``qBucket + qSfcLatRunoff``) or a NetCDF with ``qlat(time, feature_id)``; row t holds over
    [time[t], time[t] + interval_s). ``bad`` = 'zero' replaces NaN or negative values by 0 (else an error)."""
    from .io.nwm import read_lateral as _read

    lateral = _read(Path(path), bad)
    return xr.DataArray(lateral.values, dims=("time", "feature_id"), name="qlat",
                        coords={"time": lateral.time.astype("datetime64[ns]"), "feature_id": lateral.feature_id},
                        attrs={"units": "m3 s-1", "long_name": "lateral inflow", "interval_s": lateral.interval_s,
                               "source": lateral.source})


def _lateral_from(qlat: xr.DataArray):
    from .io.nwm import LateralInflow

    if not isinstance(qlat, xr.DataArray) or qlat.dims != ("time", "feature_id"):
        raise InputDataError("qlat must be an xarray DataArray with dims (time, feature_id) (hydro.read_lateral gives one)")
    if qlat.attrs.get("units", "m3 s-1") != "m3 s-1":
        raise InputDataError(f"qlat units are {qlat.attrs['units']!r}; give m3 s-1")
    times = qlat["time"].values.astype("datetime64[s]")
    interval = qlat.attrs.get("interval_s")
    if interval is None:
        steps = np.unique(np.diff(times).astype(np.int64))
        if steps.size != 1:
            raise InputDataError("qlat times are not evenly spaced; give attrs['interval_s']")
        interval = int(steps[0])
    values = np.asarray(qlat.values, np.float32)
    if not np.isfinite(values).all() or (values < 0).any():
        raise InputDataError(f"{qlat.attrs.get('source', 'qlat')}: lateral inflow holds NaN, inf or negative values")
    return LateralInflow(times, qlat["feature_id"].values.astype(np.int64), values, int(interval),
                         str(qlat.attrs.get("source", "qlat")))


def route(network: RiverNetwork, qlat: xr.DataArray, dt: float = 300.0, solver: str = "nwm",
          upstream: str = "previous", output_interval: float = 3600.0, hours: float | None = None,
          method: str = "muskingum_cunge") -> xr.Dataset:
    """Route ``qlat`` through ``network`` (NWM Muskingum-Cunge with level-pool lakes, cold start).

    Returns the dataset ``hydro route`` writes: ``streamflow(time, feature_id)`` [m3 s-1], ``velocity``,
    ``depth``, ``water_sfc_elev(time, lake_id)``, ``is_lake``; equal to it bit for bit.
    """
    from .stages.pipeline import route_network

    if not isinstance(network, RiverNetwork):
        raise ConfigError("network must be a hydro.RiverNetwork (RiverNetwork.from_routelink or from_netcdf)")
    ds, _ = route_network(network.network, network.lakes, _lateral_from(qlat), dt=dt, method=method, mc_solver=solver,
                          upstream=upstream, output_interval=output_interval, hours=hours)
    return ds


@dataclass
class CycleResult:
    """One cycle's results, typed; ``summary`` is what ``summary.json`` holds."""

    folder: Path
    summary: dict
    forecast: xr.Dataset | None  # forecast.nc: streamflow(time, feature_id) through the current reservoir rules
    warnings: dict | None
    rehearsal: dict | None
    plan: dict | None


class Cycle:
    """The forecast cycle of a config file (``hydro run CONFIG.toml``): forecast -> warning -> rehearsal -> plan.

    Parameters
    ----------
    config : path of the cycle TOML; output_dir, state_dir : where cycle folders and restarts go
        (default: as the config says, relative to it).
    """

    def __init__(self, config: str | Path, output_dir: str | Path | None = None, state_dir: str | Path | None = None):
        from .pipeline.cycle import load_config

        self.config_path = Path(config)
        self.config = load_config(self.config_path)  # checked now, not at the first run
        self.folders = {k: str(Path(v).resolve()) for k, v in (("output_dir", output_dir), ("state_dir", state_dir)) if v}

    @classmethod
    def from_config(cls, config: str | Path, output_dir: str | Path | None = None,
                    state_dir: str | Path | None = None) -> Cycle:
        return cls(config, output_dir, state_dir)

    def run(self, stage: str | None = None, cold: bool = False, members: int = 0, start: str | None = None,
            hours: int | None = None) -> CycleResult:
        """Run one cycle (all stages, or ``stage``) from the restart at its start (``cold``: from a cold start)."""
        from .pipeline.cycle import run_cycle

        overrides = dict(self.folders)
        if start is not None:
            overrides["start"] = start
        if hours is not None:
            overrides["hours"] = hours
        summary = run_cycle(self.config_path, stage=stage, cold=cold, members=members, overrides=overrides or None)
        folder = Path(summary["folder"])
        forecast = None
        if (folder / "forecast.nc").is_file():
            with xr.open_dataset(folder / "forecast.nc") as ds:
                forecast = ds.load()
        return CycleResult(folder, summary, forecast, summary.get("warning"), summary.get("rehearsal"), summary.get("plan"))
