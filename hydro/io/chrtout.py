"""NWM lateral inflow as a cycle's forcing (forcing kind ``nwm_lateral``): the basin has no runoff grid and the
cycle routes the lateral inflow the NWM land model produced, as t-route does.

The inflow is read from a folder of WRF-Hydro ``*.CHRTOUT_DOMAIN1`` files (``qBucket + qSfcLatRunoff``, summed
in float64 and cast to float32 as t-route does; ``q_lateral`` where the two are absent) or a NetCDF holding
``qlat(time, feature_id)`` (:func:`hydro.io.nwm.read_lateral`). A record valid at T holds over [T, T + interval)
(t-route ``build_forcing_sets``); the cycle's 10-minute steps repeat it, which is the same forcing. Collapsed lake
nodes get none (NWM drops the lateral inflow of lake segments). The NWM's own ``streamflow`` (CHRTOUT) or
``nwm_streamflow`` (NetCDF) at the analysis start can warm-start the channels of a cold start.

Also: the USGS gauges of a network (the RouteLink ``gages`` crosswalk) and a timeslice table keyed by station id
turned into the gauge table the cycle's ``[assimilation]`` reads (``time, link, station_id, discharge_m3s, quality``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import netCDF4
import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..core.ids import lookup
from ..network import RiverNetwork
from ..routing.channel import RoutingState
from .nwm import _CHRTOUT_NAME, LateralInflow, read_lateral

log = logging.getLogger("hydro")


class NwmLateralForcing:
    """Lateral inflow [m3 s-1] for a basin's network by time window, from CHRTOUT files or a ``qlat`` NetCDF."""

    def __init__(self, path: Path, network: RiverNetwork, start: np.datetime64, hours: int, policy: str = "error",
                 setup: str = "forcing set-up", lake_outlets: dict[int, int] | None = None):
        self.path, self.network, self.setup = Path(path), network, setup
        self.lake_outlets = dict(lake_outlets or {})  # lake id -> its outlet segment (NWM reports the lake's outflow there)
        self.start = np.datetime64(start, "m")
        self.end = self.start + np.timedelta64(hours, "h")
        self.inflow: LateralInflow = read_lateral(self.path, policy)
        first = np.datetime64(self.inflow.time[0], "m")
        last_end = np.datetime64(self.inflow.time[-1], "m") + np.timedelta64(self.inflow.interval_s, "s")
        if self.inflow.interval_s > 3600 or 3600 % self.inflow.interval_s:
            raise InputDataError(f"{self.path}: lateral inflow every {self.inflow.interval_s} s; the cycle needs an "
                                 "interval that divides an hour")
        if self.start < first or self.end > last_end:
            raise InputDataError(f"{setup}: start {str(self.start)} + {hours} h is not covered by {self.path} "
                                 f"({str(first)} .. {str(last_end)}); set start and hours inside it")
        # network order; collapsed lake nodes get no lateral inflow (NWM break_network_at_waterbodies)
        self.values = self.inflow.for_features(network.feature_id, optional=network.is_lake)
        self.description = (f"NWM lateral inflow (qBucket + qSfcLatRunoff) from {self.path.name}, "
                            f"{str(first)[:16]} .. {str(last_end)[:16]}, every {self.inflow.interval_s} s")

    def lateral(self, start: np.datetime64, end: np.datetime64, step_s: int) -> NDArray[np.float32]:
        """[n_steps, n] lateral inflow for the ``step_s`` steps in [start, end), each the record it falls in."""
        if start < self.start or end > self.end:
            raise InputDataError(f"{self.setup}: forcing covers {self.start} .. {self.end}, the cycle needs "
                                 f"{str(start)[:16]} .. {str(end)[:16]}; extend the forcing or move the cycle")
        if self.inflow.interval_s % step_s:
            raise ConfigError(f"{self.path}: lateral inflow every {self.inflow.interval_s} s is not a multiple of "
                              f"the cycle's {step_s} s step")
        n = int((end - start) / np.timedelta64(step_s, "s"))
        step_starts = start + np.arange(n) * np.timedelta64(step_s, "s")
        record = ((step_starts - np.datetime64(self.inflow.time[0], "s")) // np.timedelta64(self.inflow.interval_s, "s"))
        return np.ascontiguousarray(self.values[record.astype(np.int64)])

    def initial_streamflow(self, valid_time: np.datetime64) -> NDArray[np.float32] | None:
        """The NWM's own streamflow at ``valid_time`` in network order (a lake node: the flow of its outlet
        segment), or None when the forcing holds none for that time."""
        flow, ids = _nwm_streamflow(self.path, valid_time)
        if flow is None:
            return None
        idx, found = lookup(ids, self.network.feature_id)
        out = np.zeros(self.network.size, np.float32)
        values = flow[idx[found]]
        unknown = ~np.isfinite(values) | (values < 0)
        if unknown.any():  # NWM writes no flow for some reaches: they start empty, as t-route's warm start
            log.warning("%s: NWM streamflow missing or negative on %d segment(s) at %s, e.g. %s: they start empty",
                     self.path, unknown.sum(), str(valid_time)[:16], self.network.feature_id[found][unknown][:5].tolist())
        out[found] = np.where(unknown, 0.0, values)
        position = {int(f): k for k, f in enumerate(ids.tolist())}
        for j in np.flatnonzero(self.network.is_lake):
            k = position.get(self.lake_outlets.get(int(self.network.feature_id[j]), -1))
            if k is not None and np.isfinite(flow[k]):  # else the lake starts with no outflow (cold)
                out[j] = flow[k]
        missing = ~found & ~self.network.is_lake
        if missing.any():
            raise InputDataError(f"{self.path}: no NWM streamflow for {missing.sum()} segment(s), e.g. "
                                 f"{self.network.feature_id[missing][:8].tolist()}")
        return out

    def warm_start(self, state: RoutingState, valid_time: np.datetime64) -> bool:
        """Set a cold state's channel flows to the NWM streamflow at ``valid_time`` (depth 0: the first step's
        depth solve sets it; lakes keep their initial levels), as t-route's warm start does. False when the
        forcing has no streamflow for that time (the state stays cold)."""
        flow = self.initial_streamflow(valid_time)
        if flow is None:
            log.warning("%s: warm start asked, but no NWM streamflow at %s: the channels start empty (cold)", self.path, str(valid_time)[:16])
            return False
        state.streamflow[:] = flow
        return True


def _nwm_streamflow(path: Path, valid_time: np.datetime64) -> tuple[NDArray | None, NDArray | None]:
    """(streamflow, feature_id) of the NWM at ``valid_time`` from a CHRTOUT folder (``streamflow``) or a NetCDF
    (``nwm_streamflow(time, feature_id)``); (None, None) when there is none."""
    stamp = str(np.datetime64(valid_time, "m")).replace("-", "").replace("T", "").replace(":", "")
    if path.is_dir():
        files = [p for p in path.iterdir() if _CHRTOUT_NAME.match(p.name) and p.name.startswith(stamp)]
        if not files:
            return None, None
        with netCDF4.Dataset(files[0]) as ds:
            if "streamflow" not in ds.variables:
                return None, None
            return (np.ma.filled(ds["streamflow"][:].astype(np.float64), np.nan),
                    np.asarray(ds["feature_id"][:], np.int64))
    with netCDF4.Dataset(path) as ds:
        if "nwm_streamflow" not in ds.variables:
            return None, None
        tvar = ds["time"]
        times = np.array([np.datetime64(t.isoformat(), "m") for t in
                          netCDF4.num2date(tvar[:], tvar.units, getattr(tvar, "calendar", "standard"))])
        k = np.flatnonzero(times == np.datetime64(valid_time, "m"))
        if not k.size:
            return None, None
        return (np.ma.filled(ds["nwm_streamflow"][int(k[0]), :].astype(np.float64), np.nan),
                np.asarray(ds["feature_id"][:], np.int64))


# --- USGS gauges: the RouteLink crosswalk -----------------------------------------------------------------

def network_gauges(network: RiverNetwork) -> dict[str, int]:
    """USGS site number -> feature_id of the segments the RouteLink ``gages`` names (blank: none)."""
    if network.gage is None:
        return {}
    out = {}
    for fid, gage in zip(network.feature_id.tolist(), network.gage.tolist(), strict=True):
        gage = str(gage).strip()
        if gage:
            out[gage] = int(fid)
    return out


def gauge_table(path: Path, network: RiverNetwork):
    """A USGS timeslice table (parquet or CSV: ``time, station_id, discharge_m3s`` [, ``quality``, ``link``]) for
    the gauges of ``network``: each station placed on the segment the RouteLink's ``gages`` names it on.
    Stations not on the network are dropped (logged); a ``link`` column that disagrees with the crosswalk is an
    error. Returns a DataFrame ``time, link, station_id, discharge_m3s, quality`` sorted by time and link."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: gauge observation file not found")
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"station_id": str})
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read gauge observations ({exc})") from None
    missing = {"time", "station_id", "discharge_m3s"} - set(table.columns)
    if missing:
        raise InputDataError(f"{path}: USGS observations need columns time, station_id, discharge_m3s; "
                             f"missing {sorted(missing)}")
    crosswalk = network_gauges(network)
    if not crosswalk:
        raise InputDataError(f"{network.source}: the network names no USGS gauges (RouteLink 'gages' empty or absent)")
    station = table["station_id"].astype(str).str.strip()
    link = station.map(crosswalk)
    off = link.isna()
    if off.all():
        raise InputDataError(f"{path}: none of its {station.nunique()} stations is a gauge of the network "
                             f"(RouteLink 'gages', e.g. {sorted(crosswalk)[:3]})")
    if off.any():
        log.info("%s: %d station(s) not on the network dropped, e.g. %s", path, station[off].nunique(),
                 sorted(station[off].unique())[:5])
    table, station, link = table[~off], station[~off], link[~off].astype(np.int64)
    if "link" in table.columns:
        clash = table["link"].astype(np.int64).to_numpy() != link.to_numpy()
        if clash.any():
            i = int(np.flatnonzero(clash)[0])
            raise InputDataError(f"{path}: station {station.iloc[i]} has link {int(table['link'].iloc[i])}, the "
                                 f"RouteLink places it on {int(link.iloc[i])}; fix the table or the RouteLink")
    out = pd.DataFrame({"time": pd.to_datetime(table["time"]).to_numpy(), "link": link.to_numpy(),
                        "station_id": station.to_numpy(),
                        "discharge_m3s": table["discharge_m3s"].astype(float).to_numpy(),
                        "quality": (table["quality"].astype(float).to_numpy() if "quality" in table.columns
                                    else np.full(len(table), 100.0))})
    # USGS marks missing or ice-affected values with NaN or negative codes (-999999): not observations
    unusable = ~np.isfinite(out["discharge_m3s"].to_numpy()) | (out["discharge_m3s"].to_numpy() < 0)
    if unusable.any():
        log.warning("%s: %d observation(s) missing or negative (USGS missing-value codes) left out",
                    path, int(unusable.sum()))
        out = out[~unusable]
    return out.sort_values(["time", "link"], kind="stable").reset_index(drop=True)


def read_lake_outlets(network_file: Path) -> dict[int, int] | None:
    """Lake id -> outlet segment from a network file written by ``hydro basin from-nwm``
    (``lake_outlet_link(lake)``), or None when the file does not record them."""
    with netCDF4.Dataset(network_file) as ds:
        if "lake_outlet_link" not in ds.variables or "lake_id" not in ds.variables:
            return None
        return dict(zip(np.asarray(ds["lake_id"][:], np.int64).tolist(),
                        np.asarray(ds["lake_outlet_link"][:], np.int64).tolist(), strict=True))
