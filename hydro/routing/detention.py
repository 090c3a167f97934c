"""Detention basins (flood storage areas, 蓄滞洪区) in the operated network: water diverted from a river segment
through an inlet and stored, not returned within the horizon.

A basin's inlet sits at the downstream end of its segment. Over each hour h (ending at the hour's end) it
diverts D(h) [m3 s-1]: what the segment passes on is its channel outflow less D(h), and the segment below
receives D(h) less as lateral inflow (the whole network downstream routes the reduced flow). Because the
inlet is at the segment's end, the segment's own outflow does not depend on D: the flow the inlet sees is
known before D is chosen.

The operating rule under the current rules (F1, the forecast; shared/domain/rehearsal.md section 3,
"activation conditions"): a basin opens at the first hour its trigger section's discharge (without this
basin's own diversion) exceeds the trigger (``trigger_discharge_m3s``, or ``trigger_stage_m`` on the
section's rating, whichever is reached first); its inlet then takes the flow above the trigger discharge,
which holds the trigger section at its trigger when the section is on the basin's segment, so

    D(h) = min(max_intake, Q_trigger(h) - Q_open, flow present in the hour, room left / 3600 s)

and nothing when the section is at or below its trigger; the basin stops when it is full. For a trigger
section further down, the excess is taken at the inlet in the same hour (the travel time and attenuation
between inlet and section are not anticipated). Basins open in their ``order`` (then id): each judges its
trigger on the flow with the diversions of the basins before it. "Flow present" is the lower of the
segment's outflow at the hour's start and end, so the river is never asked for water it does not carry.
A given schedule (F2, a what-if) is followed within the same limits (intake, flow present, room).

Costs: a run with k basins that open under the rules routes the network k + 1 times; a schedule, once
(again only where the flow present cut a scheduled diversion). Nothing changes for a basin that never
opens, and a network without basins routes exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError

HOUR_S = 3600.0


@dataclass(frozen=True)
class DetentionSite:
    """One basin placed on the network (positions in network order)."""

    id: str
    feature_id: int
    position: int  # the segment its inlet takes water from
    down: int  # the segment below (-1: an outlet)
    capacity_m3: float
    max_intake: float  # m3 s-1
    trigger_section: str
    trigger_position: int
    trigger_discharge: float  # m3 s-1 at the trigger section that opens it
    order: int
    area_km2: float
    population: int


@dataclass
class DetentionRecord:
    """What the basins did over a run of ``hours``."""

    diversion: dict[str, NDArray[np.float64]]  # per basin [hours] m3 s-1, mean over the hour ending then
    storage: dict[str, NDArray[np.float64]]  # per basin [hours + 1] m3 stored, index 0 = start
    position: dict[str, int]  # network position of each basin's segment
    rule: dict[str, bool]  # True: by its trigger rule; False: by a given schedule

    @property
    def final(self) -> dict[str, float]:
        return {k: float(v[-1]) for k, v in self.storage.items()}


class DetentionBasins:
    """The basins of a network, checked against it: each on a river segment of the network (no dam, no lake,
    not draining into a lake) with its trigger on a control section of the network."""

    def __init__(self, specs: Sequence, sections: Sequence, network, dam_positions: set[int], source: str = "") -> None:
        position = {int(f): i for i, f in enumerate(network.feature_id)}
        down = network.downstream_index
        by_id = {s.id: s for s in sections}
        where = source or str(network.source)
        sites = []
        for spec in specs:
            if spec.feature_id not in position:
                raise ConfigError(f"{where}: detention basin {spec.id} takes water from feature_id {spec.feature_id}, "
                                  "which is not in the network; give the id of a river segment")
            j = position[spec.feature_id]
            if j in dam_positions or network.is_lake[j] or (down[j] >= 0 and network.is_lake[down[j]]):
                raise ConfigError(f"{where}: detention basin {spec.id} on feature_id {spec.feature_id}: the segment is "
                                  "a dam, a lake or drains into a lake; put the inlet on a river segment")
            section = by_id.get(spec.trigger_section)
            if section is None:
                raise ConfigError(f"{where}: detention basin {spec.id}: trigger_section {spec.trigger_section!r} is "
                                  "not a control section of the basin")
            if section.feature_id not in position:
                raise ConfigError(f"{where}: detention basin {spec.id}: its trigger section {section.id} sits on "
                                  f"feature_id {section.feature_id}, which is not in the network")
            sites.append(DetentionSite(spec.id, int(spec.feature_id), j, int(down[j]), float(spec.capacity_m3),
                                       float(spec.max_intake_m3s), section.id, position[section.feature_id],
                                       float(spec.trigger_discharge(section)), int(spec.order), float(spec.area_km2),
                                       int(spec.population)))
        self.sites = sorted(sites, key=lambda s: (s.order, s.id))  # the order they open in
        self.by_id = {s.id: s for s in self.sites}
        topo_rank = np.empty(network.size, np.int64)
        topo_rank[network.topological_order()] = np.arange(network.size)
        self._upstream_first = sorted(self.sites, key=lambda s: topo_rank[s.position])

    def __len__(self) -> int:
        return len(self.sites)

    def empty(self) -> dict[str, float]:
        return {s.id: 0.0 for s in self.sites}

    def run(self, route: Callable[[NDArray[np.float32]], object], lateral: NDArray, per_hour: int, hours: int,
            initial_flow: NDArray, stored: dict[str, float] | None = None,
            schedules: dict[str, NDArray] | None = None) -> tuple[object, DetentionRecord]:
        """Route ``lateral`` [hours * per_hour, n] with the basins diverting: ``route(lateral)`` is one run of
        the operated network (an :class:`OperatedRun`); ``initial_flow`` the channel outflow at the start;
        ``stored`` [m3] what each basin holds at the start (empty when None); ``schedules`` [hours] the
        diversions wanted of the basins it names (the others follow their trigger rule)."""
        schedules = dict(schedules or {})
        unknown = set(schedules) - set(self.by_id)
        if unknown:
            raise ConfigError(f"diversion schedule given for {sorted(unknown)}, which are not detention basins of "
                              f"this basin (have {sorted(self.by_id)})")
        stored = {**self.empty(), **(stored or {})}
        for sid, volume in stored.items():
            if sid not in self.by_id or not 0.0 <= volume <= self.by_id[sid].capacity_m3 * (1 + 1e-9):
                raise ConfigError(f"detention basin {sid}: start volume {volume:.6g} m3 is not within 0 .. its capacity")
        base = np.array(lateral, np.float32)
        diversion: dict[str, NDArray[np.float64]] = {}

        def routed() -> object:
            lat = base.copy()
            for sid, d in diversion.items():
                site = self.by_id[sid]
                if site.down >= 0 and d.any():
                    lat[:, site.down] -= np.repeat(d, per_hour).astype(np.float32)
            return route(lat)

        for sid, wanted in schedules.items():
            wanted = np.asarray(wanted, np.float64)
            if wanted.shape != (hours,) or not np.isfinite(wanted).all() or (wanted < 0).any():
                raise ConfigError(f"detention basin {sid}: diversion schedule must hold {hours} finite values >= 0")
            diversion[sid] = _fill(np.minimum(wanted, self.by_id[sid].max_intake), stored[sid], self.by_id[sid])
        def capped(run: object) -> object:
            """``run`` with every diversion cut to the flow present at its inlet, upstream first (a cut
            changes what arrives further down), routed again where a cut was made."""
            for _ in range(len(diversion)):
                cut = False
                for site in self._upstream_first:
                    if site.id not in diversion:
                        continue
                    present = _present(run.flow[:, site.position], initial_flow[site.position])
                    d = _fill(np.minimum(diversion[site.id], present), stored[site.id], site)
                    if np.any(d < diversion[site.id] - 1e-6):
                        diversion[site.id], cut = d, True
                if not cut:
                    break
                run = routed()
            return run

        run = capped(routed())
        for site in self.sites:  # by order: each judges its trigger with the diversions of those before it
            if site.id in schedules:
                continue
            trigger = run.flow[:, site.trigger_position].astype(np.float64)
            for sid, d in diversion.items():
                if self.by_id[sid].position == site.trigger_position:
                    trigger = trigger - d  # the section sits on that basin's segment: it sees what passes
            excess = np.clip(trigger - site.trigger_discharge, 0.0, None)
            present = _present(run.flow[:, site.position], initial_flow[site.position])
            d = _fill(np.minimum(np.minimum(excess, present), site.max_intake), stored[site.id], site)
            diversion[site.id] = d
            if d.any():
                run = routed()
        run = capped(run)  # a basin opened later upstream of an earlier one may have cut the flow it counted on
        storage = {s.id: stored[s.id] + np.concatenate([[0.0], np.cumsum(diversion[s.id] * HOUR_S)]) for s in self.sites}
        record = DetentionRecord({s.id: diversion[s.id] for s in self.sites}, storage,
                                 {s.id: s.position for s in self.sites}, {s.id: s.id not in schedules for s in self.sites})
        return run, record


def _present(outflow: NDArray, start: float) -> NDArray[np.float64]:
    """The flow present at an inlet over each hour [hours]: the lower of the segment's outflow at the hour's
    start and end."""
    q = np.concatenate([[float(start)], np.asarray(outflow, np.float64)])
    return np.clip(np.minimum(q[:-1], q[1:]), 0.0, None)


def _fill(wanted: NDArray, stored: float, site: DetentionSite) -> NDArray[np.float64]:
    """``wanted`` [hours] diversions, each cut to the room left in the basin (it stops when full)."""
    out = np.clip(np.asarray(wanted, np.float64), 0.0, None)
    room = site.capacity_m3 - stored
    for h in range(out.size):
        out[h] = min(out[h], max(room, 0.0) / HOUR_S)
        room -= out[h] * HOUR_S
    return out
