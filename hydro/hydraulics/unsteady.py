"""Unsteady main-stem hydrodynamics: the Saint-Venant equations by the Preissmann scheme (kernel
hydro/kernels/saint_venant.py: Newton iteration on the full nonlinear system, local partial inertia for
mixed and supercritical flow), started from the standard-step profile of the first inflow or from a saved
``HydraulicState`` (a restart, bit for bit).

Contract: ``SaintVenant(reach, options).run(upstream, downstream, lateral)`` returns a
``HydraulicsResult`` (discharge, water level, depth per output time and node, the mass balance and the
solver statistics); it raises NumericalError naming the node and time where a step failed to converge
(after halving it ``max_halvings`` times), and never returns a partial result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError, NumericalError
from ..kernels.saint_venant import (DRY_BELOW_SLOT, FULL_INERTIA, NO_CONVERGENCE, NO_INERTIA, SINGULAR,
                                     TRANSCRITICAL, preissmann, storage_volume)
from .boundaries import Downstream, Lateral, TimeSeries
from .sections import Reach
from .steady import G, check_contained, node_discharge, steady_profile

log = logging.getLogger(__name__)
INERTIA_MODES = ("transcritical", "lpi", "full", "diffusive")
NETWORK_LPI_EXPONENT = 10.0


@dataclass(frozen=True)
class SolverOptions:
    """Numerics of the unsteady run (SI units)."""

    dt: float = 30.0  # [s] internal step
    output_interval: float = 300.0  # [s], a multiple of dt
    theta: float = 0.6  # Preissmann time weight, 0.5 .. 1
    # transcritical: full inertia, critical controls, supercritical reaches marching downstream, jumps (one
    # reach; a network runs LPI); lpi: sigma = 1 - Fr^m (Fread et al. 1996); full: sigma = 1; diffusive: sigma = 0
    inertia: str = "transcritical"
    lpi_exponent: float = 4.0  # m; 10 (more inertia kept near Fr 1) lets a hydraulic jump's toe hop between nodes
    tol_level: float = 1e-5  # [m] Newton: largest level update
    tol_discharge: float = 1e-6  # relative to the largest boundary inflow: largest discharge update
    max_iterations: int = 30
    max_halvings: int = 5  # a step that does not converge is retried as 2, 4, .. 32 sub-steps

    def __post_init__(self) -> None:
        if not 0.5 <= self.theta <= 1.0:
            raise ConfigError(f"theta = {self.theta:g}: the Preissmann weight must be in [0.5, 1] (0.55-0.7 usual)")
        if not self.dt > 0:
            raise ConfigError(f"dt = {self.dt:g} s must be > 0")
        ratio = self.output_interval / self.dt
        if ratio < 1 or abs(ratio - round(ratio)) > 1e-9:
            raise ConfigError(f"output interval {self.output_interval:g} s is not a whole multiple of dt {self.dt:g} s")
        if self.inertia not in INERTIA_MODES:
            raise ConfigError(f"inertia {self.inertia!r}: use {', '.join(INERTIA_MODES)}")
        if not self.lpi_exponent > 0:
            raise ConfigError(f"lpi exponent {self.lpi_exponent:g} must be > 0")

    @property
    def sigma_exponent(self) -> float:
        """The kernel's ``lpi_m``: the exponent, or FULL_INERTIA, NO_INERTIA, TRANSCRITICAL."""
        return {"lpi": self.lpi_exponent, "full": FULL_INERTIA, "diffusive": NO_INERTIA,
                "transcritical": TRANSCRITICAL}[self.inertia]

    @property
    def network_sigma_exponent(self) -> float:
        """``sigma_exponent`` for a network of reaches, whose kernel has no transcritical treatment: there LPI
        with HEC-RAS's m = 10 (full inertia to 1e-7 in subcritical flow at Fr 0.2, as one reach has it)."""
        return NETWORK_LPI_EXPONENT if self.inertia == "transcritical" else self.sigma_exponent


@dataclass(frozen=True)
class HydraulicState:
    """The solver's state at ``time``: water level [m] and discharge [m3 s-1] at every node, and both one step
    (``dt`` [s]) earlier, which the first step's predictor uses: a run started from this state continues bit
    for bit the run that saved it. ``reach`` names each node's reach in a network (None: one reach)."""

    time: np.datetime64
    chainage: NDArray[np.float64]
    water_level: NDArray[np.float64]
    discharge: NDArray[np.float64]
    previous_water_level: NDArray[np.float64]
    previous_discharge: NDArray[np.float64]
    dt: float
    reach: NDArray | None = None
    source: str = ""

    def check(self, chainage: NDArray[np.float64], dt: float, reach: NDArray | None = None) -> None:
        """Refuse a state saved on other nodes or with another step (one line)."""
        where = f"{self.source or 'initial state'}"
        if self.chainage.size != chainage.size or not np.allclose(self.chainage, chainage, rtol=0.0, atol=1e-6) or (
                reach is not None and (self.reach is None or list(self.reach) != list(reach))):
            raise InputDataError(f"{where}: the state holds {self.chainage.size} nodes, the run {chainage.size} (or at other "
                                 "chainages or reaches): it was saved for other sections, junctions or --max-dx; use the "
                                 "same geometry as the run that saved it")
        if abs(self.dt - dt) > 1e-9:
            raise InputDataError(f"{where}: the state was saved by a run with dt {self.dt:g} s, this run has dt {dt:g} s; "
                                 f"continue with --dt {self.dt:g}")
        if not (np.isfinite(self.water_level).all() and np.isfinite(self.discharge).all()):
            raise InputDataError(f"{where}: water_level or discharge holds NaN")


@dataclass
class HydraulicsResult:
    time: NDArray[np.datetime64]
    chainage: NDArray[np.float64]
    thalweg: NDArray[np.float64]
    surveyed: NDArray[np.int64]
    discharge: NDArray[np.float64]  # (time, node) [m3 s-1]
    water_level: NDArray[np.float64]  # (time, node) [m]
    depth: NDArray[np.float64]  # (time, node) [m]
    mass_balance: dict[str, float] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)
    above_top_nodes: int = 0
    final_state: HydraulicState | None = None


def run_window(upstream: TimeSeries, options: SolverOptions, hours: float | None,
               initial_state: HydraulicState | None) -> tuple[np.datetime64, int, int]:
    """(start, output records, steps): from the initial state's time (else the inflow's start) over ``hours``
    (else to the end of the inflow series)."""
    start = upstream.time[0] if initial_state is None else np.datetime64(initial_state.time, "ns")
    if initial_state is not None and not upstream.time[0] <= start < upstream.time[-1]:
        raise InputDataError(f"{upstream.source}: the inflow series ({_iso(upstream.time[0])} .. {_iso(upstream.time[-1])}) "
                             f"does not cover the initial state's time {_iso(start)} ({initial_state.source})")
    span = float((upstream.time[-1] - start) / np.timedelta64(1, "s"))
    duration = span if hours is None else hours * 3600.0
    if duration > span + 1e-6:
        raise InputDataError(f"{upstream.source}: the inflow covers {span / 3600:g} h from {_iso(start)}, less than the "
                             f"{duration / 3600:g} h asked")
    out_every = int(round(options.output_interval / options.dt))
    n_out = int(np.floor(duration / options.output_interval + 1e-9))
    if n_out < 1:
        raise ConfigError(f"the run ({duration:g} s) is shorter than one output interval ({options.output_interval:g} s)")
    return start, n_out, n_out * out_every


class SaintVenant:
    """Preissmann solver on one reach (see module docstring)."""

    def __init__(self, reach: Reach, options: SolverOptions | None = None) -> None:
        self.reach = reach
        self.options = options or SolverOptions()
        self.last_kernel_seconds = 0.0  # wall time of the last run's kernel (benchmarks)
        self.last_kernel_cpu_seconds = 0.0  # and its CPU time (the same on an idle machine)

    def run(self, upstream: TimeSeries, downstream: Downstream, lateral: Lateral | None = None,
            hours: float | None = None, initial_state: HydraulicState | None = None,
            upstream_level: float | None = None) -> HydraulicsResult:
        """From the standard-step profile of the first flows at the inflow's start, or from ``initial_state``
        at its time (the inflow and the other series must cover it). ``upstream_level`` [m]: the level at the
        first node while the inflow there is supercritical (the second upstream condition such a flow needs;
        default critical depth); used by the transcritical treatment and the initial mixed-regime profile."""
        reach, opt = self.reach, self.options
        start, n_out, n_steps = run_window(upstream, opt, hours, initial_state)
        out_every = n_steps // n_out
        end = start + np.timedelta64(int(round(n_steps * opt.dt * 1e9)), "ns")
        stage = downstream.series
        if stage is not None and (stage.time[0] > start or stage.time[-1] < end):
            raise InputDataError(f"{stage.source}: the stage series ({_iso(stage.time[0])} .. {_iso(stage.time[-1])}) "
                                 f"does not cover the run ({_iso(start)} .. {_iso(end)})")
        if lateral is not None:
            if lateral.time[0] > start or lateral.time[-1] < end:
                raise InputDataError(f"{lateral.source}: lateral inflow ({_iso(lateral.time[0])} .. "
                                     f"{_iso(lateral.time[-1])}) does not cover the run ({_iso(start)} .. {_iso(end)})")
            lat_q = lateral.reach_matrix(reach)
            lat_t = (lateral.time - start) / np.timedelta64(1, "s")
        else:
            lat_q = np.zeros((0, reach.size - 1))
            lat_t = np.zeros(0)
        if initial_state is None:
            lat0 = None if lateral is None else _lateral_at(lat_t, lat_q, 0.0)
            q_nodes = node_discharge(reach, float(upstream.values[0]), lat0)
            initial = steady_profile(reach, q_nodes, downstream, start, "mixed", upstream_level)
            check_contained(reach, initial.water_level, "the initial (steady) profile's")
            z, q = initial.water_level.copy(), initial.discharge.copy()
            z_prev, q_prev = z.copy(), q.copy()
            n_critical = initial.critical_nodes
        else:
            initial_state.check(reach.chainage, opt.dt)
            z, q = initial_state.water_level.astype(np.float64), initial_state.discharge.astype(np.float64)
            z_prev = initial_state.previous_water_level.astype(np.float64)
            q_prev = initial_state.previous_discharge.astype(np.float64)
            n_critical = 0
        in_t = upstream.seconds_from(start)
        ds_kind, ds_x, ds_y, slope = downstream.kernel_arguments(reach, start)
        q_scale = max(float(np.max(upstream.values)), float(np.max(lat_q.sum(axis=1))) if lat_q.size else 0.0, 1e-3)
        z_out = np.empty((n_out + 1, reach.size))
        q_out = np.empty((n_out + 1, reach.size))
        volumes = np.zeros(3)
        stats = np.zeros(4)
        failure = np.zeros(2)
        storage0 = storage_volume(reach.table, reach.z0, reach.nlev, reach.table_dz, reach.dx, z, reach.reach_kind)
        gates = [st for st in reach.structures if st.kind == "gate"]
        if gates:
            gate_t = np.unique(np.concatenate([(g.release_time - start) / np.timedelta64(1, "s") for g in gates]))
            gate_q = np.stack([np.interp(gate_t, (g.release_time - start) / np.timedelta64(1, "s"), g.release)
                               for g in gates], axis=1)
            for g in gates:
                if g.release_time[0] > start or g.release_time[-1] < end:
                    raise InputDataError(f"{g.source}: the release schedule of {g.name!r} ({_iso(g.release_time[0])} .. "
                                         f"{_iso(g.release_time[-1])}) does not cover the run ({_iso(start)} .. {_iso(end)})")
        else:
            gate_t, gate_q = np.zeros(1), np.zeros((1, 1))
        clock, cpu = time.perf_counter(), time.process_time()
        status = preissmann(reach.table, reach.z0, reach.nlev, reach.table_dz, reach.dx, z, q, in_t,
                            upstream.values.astype(np.float64), lat_t, lat_q, ds_kind, np.asarray(ds_x, np.float64),
                            np.asarray(ds_y, np.float64), slope, opt.theta, opt.sigma_exponent, G, opt.dt, n_steps,
                            out_every, opt.tol_level, opt.tol_discharge * q_scale, opt.max_iterations,
                            opt.max_halvings, z_out, q_out, volumes, stats, failure, reach.reach_kind,
                            reach.reach_crest, reach.reach_cw, reach.reach_gate, gate_t, gate_q, z_prev, q_prev,
                            initial_state is not None, np.nan if upstream_level is None else float(upstream_level))
        self.last_kernel_seconds = time.perf_counter() - clock
        self.last_kernel_cpu_seconds = time.process_time() - cpu
        if status:
            node = int(failure[0])
            when = start + np.timedelta64(int(round(failure[1] * 1e9)), "ns")
            why = {NO_CONVERGENCE: f"the Newton iteration did not converge in {opt.max_iterations} iterations",
                   DRY_BELOW_SLOT: "the water level fell below the bottom of the dry-channel slot",
                   SINGULAR: "the linear system became singular"}[status]
            raise NumericalError(
                f"hydraulics: {why} at {reach.where(node)} at "
                f"{_iso(when)}, even with the step split in {2 ** opt.max_halvings}; "
                "nothing written: shorten --dt, refine the sections (--max-dx) or check the geometry and inflow there")
        storage1 = storage_volume(reach.table, reach.z0, reach.nlev, reach.table_dz, reach.dx, z, reach.reach_kind)
        inflow, lat_in, outflow = (float(v) for v in volumes)
        change = storage1 - storage0
        error = change - (inflow + lat_in - outflow)
        scale = max(inflow + lat_in, abs(change), 1e-12)
        if downstream.kind == "rating":  # the kernel extends the rating linearly past its ends: say when it did
            outside = (z_out[:, -1] < downstream.level[0] - 1e-9) | (z_out[:, -1] > downstream.level[-1] + 1e-9)
            if outside.any():
                log.warning("hydraulics: the outlet level left the rating (%g .. %g m) at %d of %d output times "
                            "(%g .. %g m); it was extended linearly there: extend the rating file %s",
                            downstream.level[0], downstream.level[-1], int(outside.sum()), outside.size,
                            z_out[:, -1].min(), z_out[:, -1].max(), downstream.source)
        above = int(np.sum((z_out > reach.top[None, :] + 1e-9).any(axis=0)))
        if above:
            log.warning("hydraulics: the water rose above the surveyed ends of %d node(s); the sections were "
                        "extended by vertical walls there", above)
        steps = n_steps
        times = start + (np.arange(n_out + 1) * opt.output_interval * 1e9).astype("timedelta64[ns]")
        mass = {"inflow_volume_m3": inflow, "lateral_volume_m3": lat_in, "outflow_volume_m3": outflow,
                "storage_change_m3": change, "mass_balance_error_m3": error, "mass_balance_relative_error": error / scale}
        return HydraulicsResult(
            time=times, chainage=reach.chainage.copy(), thalweg=reach.thalweg.copy(), surveyed=reach.surveyed.copy(),
            discharge=q_out, water_level=z_out, depth=np.maximum(z_out - reach.thalweg[None, :], 0.0),
            mass_balance=mass,
            stats={"steps": steps, "sub_steps": int(stats[2]), "steps_retried": int(stats[3]),
                   "newton_iterations": int(stats[0]), "max_newton_iterations": int(stats[1]),
                   "mean_newton_iterations": float(stats[0] / max(stats[2], 1)), "nodes": reach.size,
                   "initial_critical_nodes": n_critical},
            above_top_nodes=above,
            final_state=HydraulicState(end, reach.chainage.copy(), z.copy(), q.copy(), z_prev, q_prev, opt.dt))


def _iso(t: np.datetime64) -> str:
    return np.datetime_as_string(t, unit="s") + "Z"


def _lateral_at(lat_t: NDArray, lat_q: NDArray, t: float) -> NDArray:
    if lat_t.size == 0:
        return np.zeros(lat_q.shape[1])
    return np.array([np.interp(t, lat_t, lat_q[:, j]) for j in range(lat_q.shape[1])])
