"""Steady gradually varied flow by the standard-step method (HEC-RAS ch. 2): the energy equation between
adjacent nodes with the average-conveyance friction slope and alpha from the subdivided conveyance; a node
where no root exists on the requested side of critical depth is set to critical depth and counted.
Subcritical profiles march upstream from the outlet condition, supercritical ones downstream from a
level at the first node; the mixed regime starts supercritical marches at the subcritical profile's
critical-depth controls and places the jumps by specific force (HEC-RAS's mixed mode). No contraction/expansion losses (the unsteady solver has none either)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InputDataError
from ..kernels.saint_venant import critical_stage, mixed_regime, specific_force, standard_step
from .boundaries import Downstream, normal_level
from .sections import Reach

G = 9.81
log = logging.getLogger(__name__)


@dataclass
class SteadyProfile:
    chainage: NDArray[np.float64]
    discharge: NDArray[np.float64]  # [m3 s-1] per node
    water_level: NDArray[np.float64]  # [m]
    depth: NDArray[np.float64]  # [m] above the thalweg
    critical_nodes: int  # nodes the subcritical (or supercritical) march set to critical depth
    regime: str
    supercritical_nodes: int = 0  # mixed regime: nodes on the supercritical branch


def node_discharge(reach: Reach, q_upstream: float, reach_lateral: NDArray[np.float64] | None) -> NDArray[np.float64]:
    """Steady discharge per node: the upstream flow plus the lateral inflow of every reach above."""
    lateral = np.zeros(reach.size - 1) if reach_lateral is None else reach_lateral
    return q_upstream + np.concatenate([[0.0], np.cumsum(lateral)])


def steady_profile(reach: Reach, discharge: NDArray[np.float64], downstream: Downstream | None = None,
                   when: np.datetime64 | None = None, regime: str = "subcritical",
                   upstream_level: float | None = None) -> SteadyProfile:
    """Standard-step profile for ``discharge`` per node [m3 s-1]. Subcritical and mixed need ``downstream``;
    supercritical takes ``upstream_level`` [m] (default: normal depth on the first reach's bed slope). In the
    mixed regime an ``upstream_level`` below critical depth at the first node is a supercritical inflow: its
    march starts there and is kept where its specific force exceeds the subcritical profile's."""
    q = np.asarray(discharge, np.float64)
    if not (q > 0).all():
        k = int(np.flatnonzero(~(q > 0))[0])
        raise InputDataError(f"{reach.sections[0].source}: steady profile for a discharge of {q[k]:g} m3/s at "
                             f"{reach.where(k)}: a profile needs Q > 0 everywhere (a run starts from the steady profile "
                             "of its first inflow: give a base flow)")
    if regime not in ("subcritical", "supercritical", "mixed"):
        raise InputDataError(f"steady profile: regime {regime!r}; use subcritical, supercritical or mixed")
    if regime != "supercritical":
        if downstream is None:
            raise InputDataError(f"a {regime} profile needs a downstream boundary")
        boundary = downstream.steady_level(reach, float(q[-1]), when if when is not None else np.datetime64("NaT"))
        supercritical = False
    else:
        if upstream_level is None:
            a, b = reach.sections[0], reach.sections[1]
            slope = (a.thalweg - b.thalweg) / (b.chainage - a.chainage)
            if not slope > 0:
                raise InputDataError(f"{a.source}: first reach bed slope {slope:g}; give an upstream level")
            upstream_level = normal_level(reach, 0, float(q[0]), slope)
        boundary = upstream_level
        supercritical = True
    if supercritical and reach.structures:
        raise InputDataError(f"{reach.structures[0].source}: structures in a supercritical profile are not supported; "
                             "compute the reaches between them separately")
    z = np.empty(reach.size)
    critical = np.zeros(reach.size, np.int64)
    n_critical = standard_step(reach.table, reach.z0, reach.nlev, reach.table_dz, reach.dx, q, reach.thalweg,
                               float(boundary), supercritical, G, z, reach.reach_kind, reach.reach_crest, reach.reach_cw,
                               reach.reach_level, critical)
    n_super = 0
    start_super = False
    if regime == "mixed" and upstream_level is not None:
        z_crit = critical_stage(reach.table, reach.z0, reach.nlev, reach.table_dz, 0, float(q[0]), G)
        def force(level: float) -> float:
            return specific_force(reach.table, reach.z0, reach.nlev, reach.table_dz, 0, level, float(q[0]), G)
        start_super = upstream_level < z_crit and force(upstream_level) > force(float(z[0]))
    if regime == "mixed" and (n_critical or start_super):
        if start_super:  # a supercritical inflow: a control at the first node, at the given level
            z[0] = upstream_level
            n_critical += 1 - critical[0]
            critical[0] = 1
        z_sub = z.copy()
        n_super = mixed_regime(reach.table, reach.z0, reach.nlev, reach.table_dz, reach.dx, q, reach.thalweg, G,
                               reach.reach_kind, z_sub, critical, z)
        log.info("steady profile (mixed regime): %d supercritical node(s) below the critical-depth controls", n_super)
    if n_critical and regime != "mixed":
        log.warning("steady profile: %d of %d nodes set to critical depth (no %s root of the energy equation)",
                    n_critical, reach.size, regime)
    return SteadyProfile(reach.chainage.copy(), q.copy(), z, np.maximum(z - reach.thalweg, 0.0), n_critical, regime,
                         n_super)


def check_contained(reach: Reach, water_level: NDArray[np.float64], what: str) -> None:
    """Refuse a profile that rises above a surveyed section's lower end (the flow is not contained: extend
    the section)."""
    over = np.flatnonzero((water_level > reach.top + 1e-9) & (reach.surveyed >= 0))
    if over.size:
        i = int(over[0])
        s = reach.sections[int(reach.surveyed[i])]
        raise InputDataError(f"{s.source}: section {s.name!r} (chainage {s.chainage:g} m): {what} water level "
                             f"{water_level[i]:.3f} m is above the section's lower end ({s.top:.3f} m); the section "
                             "does not contain the flow: extend it to higher ground")
