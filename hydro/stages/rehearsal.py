"""Rehearsal stage, forward step F1: the forecast through the current operating rules, and its risk indicators.

Reservoirs are taken upstream first. For each one, the network is routed with the forecast lateral
inflow (and the releases of the reservoirs above it), the flow arriving at its node becomes its
inflow, the operating rule (or a release schedule) gives the release, and the release replaces
everything upstream: the laterals of its basin are removed and the release enters the segment below
the dam. A last routing gives the control sections' discharge; the rating gives stage. Rules here are
local to each dam (no compensation between dams), which is what makes this order exact.

Indicators follow shared/domain/rehearsal.md section 4: per control section the peak discharge and
stage and their time, hours above the warning and guaranteed stages and the excess volume above the
safe discharge; per reservoir the peak level against its characteristic levels and the flood storage
used and left (flood-limit to flood-control high level).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError
from ..io.basin import BasinSpec
from ..network import RiverNetwork
from ..reservoir.operation import OperationResult, operate
from ..routing.channel import MuskingumCunge


@dataclass
class SectionIndicators:
    id: str
    peak_discharge: float
    peak_time: str
    peak_stage: float
    safe_discharge: float
    hours_above_warning: float
    hours_above_guaranteed: float
    excess_volume_m3: float


@dataclass
class ReservoirIndicators:
    id: str
    peak_level: float
    peak_time: str
    flood_limit_level: float
    flood_control_high_level: float
    design_level: float
    check_level: float
    flood_storage_used_m3: float
    flood_storage_left_m3: float
    peak_release: float
    binding_steps: dict[str, int] = field(default_factory=dict)


@dataclass
class ForwardResult:
    times: NDArray[np.datetime64]  # hourly, end of each interval
    section_discharge: dict[str, NDArray[np.float64]]
    section_stage: dict[str, NDArray[np.float64]]
    reservoirs: dict[str, OperationResult]
    reservoir_inflow: dict[str, NDArray[np.float64]]
    sections: list[SectionIndicators]
    reservoir_indicators: list[ReservoirIndicators]


def _route(network: RiverNetwork, lateral: NDArray, dt: float) -> NDArray[np.float64]:
    """Hourly outflow [n_hours, n] in network order from hourly lateral inflow, cold start."""
    model = MuskingumCunge(network, None, dt)
    n_hours = lateral.shape[0]
    steps_per_hour = int(round(3600.0 / dt))
    result = model.run(lateral.astype(np.float32), 3600.0, n_hours * steps_per_hour, None, steps_per_hour)
    return result.streamflow.astype(np.float64)


def forward(network: RiverNetwork, basin: BasinSpec, lateral: NDArray, times: NDArray[np.datetime64],
            initial_levels: dict[str, float] | None = None, schedules: dict[str, NDArray] | None = None,
            dt: float = 300.0) -> ForwardResult:
    """F1: route ``lateral`` [n_hours, n] (m3 s-1, network order, hourly) through the basin's reservoirs
    under their rules (or ``schedules`` [n_hours] of releases) and score the control sections."""
    lateral = np.array(lateral, dtype=np.float64)
    if lateral.shape != (len(times), network.size):
        raise ConfigError(f"lateral inflow has shape {lateral.shape}, expected ({len(times)}, {network.size})")
    initial_levels = initial_levels or {}
    schedules = schedules or {}
    position = {int(f): i for i, f in enumerate(network.feature_id)}
    for item in [*basin.reservoirs, *basin.control_sections]:
        if item.feature_id not in position:
            raise ConfigError(f"{basin.name}: {item.id} sits on feature_id {item.feature_id}, which is not in the network")
    topo_rank = np.empty(network.size, dtype=np.int64)
    topo_rank[network.topological_order()] = np.arange(network.size)
    down = network.downstream_index
    reservoirs = sorted(basin.reservoirs, key=lambda r: topo_rank[position[r.feature_id]])
    operations: dict[str, OperationResult] = {}
    inflows: dict[str, NDArray] = {}
    for reservoir in reservoirs:
        node = position[reservoir.feature_id]
        flow = _route(network, lateral, dt)[:, node]
        inflow = np.concatenate([[flow[0]], flow])  # inflow at the start and at each hour's end
        level0 = initial_levels.get(reservoir.id, reservoir.flood_limit_level)
        op = operate(reservoir.curves(), reservoir.rules(), inflow, 3600.0, level0, schedules.get(reservoir.id))
        operations[reservoir.id], inflows[reservoir.id] = op, inflow
        upstream = np.flatnonzero(np.isin(network.feature_id, network.upstream_of(reservoir.feature_id).feature_id))
        lateral[:, upstream] = 0.0
        if down[node] >= 0:
            lateral[:, down[node]] += op.release
    flow = _route(network, lateral, dt)
    section_q, section_h, section_ind = {}, {}, []
    for section in basin.control_sections:
        q = flow[:, position[section.feature_id]]
        h = section.stage(q)
        i = int(np.argmax(q))
        section_q[section.id], section_h[section.id] = q, h
        section_ind.append(SectionIndicators(
            section.id, float(q[i]), str(times[i])[:16], float(h[i]), section.safe_discharge,
            float((h > section.warning_stage).sum()), float((h > section.guaranteed_stage).sum()),
            float(np.clip(q - section.safe_discharge, 0.0, None).sum() * 3600.0)))
    reservoir_ind = []
    for reservoir in basin.reservoirs:
        op = operations[reservoir.id]
        curves = reservoir.curves()
        i = int(np.argmax(op.level))
        limit = curves.storage(reservoir.flood_limit_level)
        high = curves.storage(reservoir.flood_control_high_level)
        reservoir_ind.append(ReservoirIndicators(
            reservoir.id, float(op.level[i]), str(times[i - 1])[:16] if i else "start",
            reservoir.flood_limit_level, reservoir.flood_control_high_level, reservoir.design_level,
            reservoir.check_level, float(max(op.storage.max() - limit, 0.0)), float(high - op.storage.max()),
            float(op.release.max()), {k: op.binding.count(k) for k in sorted(set(op.binding))}))
    return ForwardResult(times, section_q, section_h, operations, inflows, section_ind, reservoir_ind)


def run_rehearsal(basin_file, forecast_file, initial_levels: dict[str, float] | None = None) -> dict:
    """``hydro rehearse``: read the basin TOML (with its network) and the forecast lateral inflow, run F1.

    The forecast is ``qlat(time, feature_id)`` [m3 s-1] at hourly steps (the layout ``hydro route`` reads)."""
    from dataclasses import asdict
    from pathlib import Path

    from ..io.basin import read_basin
    from ..io.netcdf import read_network
    from ..io.nwm import read_lateral

    basin_file = Path(basin_file)
    basin = read_basin(basin_file)
    if basin.network is None:
        raise ConfigError(f"{basin_file}: 'network' (a hydro network file) is required for rehearsal")
    network, _ = read_network(basin_file.parent / basin.network)
    forecast = read_lateral(Path(forecast_file))
    if forecast.interval_s != 3600:
        raise ConfigError(f"{forecast_file}: forecast step is {forecast.interval_s} s; rehearsal needs hourly qlat")
    lateral = forecast.for_features(network.feature_id)
    times = forecast.time + np.timedelta64(forecast.interval_s, "s")  # end of each hourly interval
    result = forward(network, basin, lateral, times, initial_levels)
    return {
        "basin": basin.name, "forecast": str(forecast_file), "steps_run": ["F1"],
        "start": str(times[0])[:16], "end": str(times[-1])[:16],
        "control_sections": [asdict(s) for s in result.sections],
        "reservoirs": [asdict(r) for r in result.reservoir_indicators],
        "risk": {s.id: ("above guaranteed stage" if s.hours_above_guaranteed else "above warning stage"
                        if s.hours_above_warning else "above safe discharge" if s.excess_volume_m3 else "safe")
                 for s in result.sections},
    }
