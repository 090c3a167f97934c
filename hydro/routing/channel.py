"""Channel routing models: NWM Muskingum-Cunge with level-pool lakes, and linear Muskingum.

The model reorders the network into a contiguous depth-first layout once (upstream first, each
sub-basin contiguous), keeps float32 state as the NWM does, runs the numba kernels in chunks of one
output interval (so long runs can report progress) and returns results in the network's order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError, NumericalError
from ..core.registry import register
from ..kernels import routing as kr
from ..network import RiverNetwork
from ..reservoir.levelpool import LevelPoolParameters

SOLVERS = {"nwm": kr.SOLVER_NWM, "fast": kr.SOLVER_FAST}
BLOCK_STEPS = 48  # linear Muskingum: steps per node visit (measured 12, 24, 48, 96, 144: 48 fastest)
UPSTREAM = ("previous", "current")


def _steps_per_interval(interval_s: float, dt: float) -> int:
    """Routing steps per forcing interval; the interval must be a whole multiple of dt."""
    ratio = interval_s / dt
    if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
        raise ConfigError(f"forcing interval {interval_s:g} s is not a multiple of the routing step {dt:g} s")
    return int(round(ratio))


@dataclass
class RoutingState:
    """Routing state in network order: outflow [m3 s-1], depth [m] (NaN on lakes), lake elevation [m]."""

    streamflow: NDArray[np.float32]
    depth: NDArray[np.float32]
    water_sfc_elev: NDArray[np.float32]  # per lake node, in the order of ``lake_id``

    def same_as(self, other: RoutingState) -> bool:
        """The same channel state bit for bit (flows, depths, lake levels; a lake node's NaN depth equals NaN)."""
        return all(np.array_equal(a, b, equal_nan=True) for a, b in (
            (self.streamflow, other.streamflow), (self.depth, other.depth), (self.water_sfc_elev, other.water_sfc_elev)))


@dataclass
class RoutingResult:
    """Routed series [n_out, n] in network order; ``nonconverged`` counts failed depth solves."""

    streamflow: NDArray[np.float32]
    depth: NDArray[np.float32]
    velocity: NDArray[np.float32]
    water_sfc_elev: NDArray[np.float32]  # [n_out, n_lakes]
    final_state: RoutingState
    nonconverged: int
    evaluations: int
    segment_steps: int
    recorded: NDArray[np.float32] | None = None  # [n_steps, r] outflow of the ``record`` nodes after every step


@register("routing", "muskingum_cunge")
class MuskingumCunge:
    """NWM Muskingum-Cunge channel routing with NWM level-pool lakes as network nodes.

    Parameters
    ----------
    network : RiverNetwork, lakes already collapsed (``network.collapse_lakes``).
    lakes : level-pool parameters for every lake node (None if the network has none).
    dt : routing step [s] (NWM: 300).
    solver : 'nwm' (t-route's float32 secant, bit for bit; the default) or 'fast' (the same
        secant on SIMD lanes of segments, float32 noise apart; see hydro.kernels.routing).
    upstream : 'previous' (NWM/WRF-Hydro: upstream inflow of step t-1, parallel over nodes) or
        'current' (t-route's default: this step's upstream outflow, a sweep in topological order).
    parallel : use numba threads for the 'previous' sweep (results are identical to serial).
    """

    def __init__(
        self,
        network: RiverNetwork,
        lakes: LevelPoolParameters | None = None,
        dt: float = 300.0,
        solver: str = "nwm",
        upstream: str = "previous",
        parallel: bool = True,
    ) -> None:
        if solver not in SOLVERS:
            raise ConfigError(f"unknown Muskingum-Cunge solver {solver!r}; available: {', '.join(SOLVERS)}")
        if upstream not in UPSTREAM:
            raise ConfigError(f"unknown upstream-inflow convention {upstream!r}; available: {', '.join(UPSTREAM)}")
        if not dt > 0:
            raise ConfigError(f"routing time step must be > 0 s, got {dt}")
        self.network = network
        self.dt = float(dt)
        self.solver = solver
        self.upstream = upstream
        self.parallel = parallel
        self.layout = network.dfs_layout()
        self.inverse = np.argsort(self.layout)
        net = network.take(self.layout)
        self._net = net
        f32 = lambda a: np.ascontiguousarray(np.nan_to_num(a, nan=1.0), np.float32)  # noqa: E731 (lake rows unused)
        self._geom = tuple(
            f32(getattr(net, name))
            for name in ("length", "bottom_width", "top_width", "top_width_cc", "mannings_n", "mannings_n_cc", "side_slope", "slope")
        )
        self.up_ptr, self.up_idx = net.upstream_csr
        lake_nodes = np.flatnonzero(net.is_lake)
        self.lake_slot = np.full(net.size, -1, np.int64)
        self.lake_slot[lake_nodes] = np.arange(lake_nodes.size)
        if lake_nodes.size:
            if lakes is None:
                raise InputDataError(
                    f"{network.source}: network has {lake_nodes.size} lake node(s) but no lake parameters were given"
                )
            self.lakes = lakes.select(net.feature_id[lake_nodes])
        else:
            self.lakes = None
        self._lake_table = self.lakes.kernel_table() if self.lakes is not None else np.zeros((1, 9), np.float32)
        # network-order positions of the lake nodes, in lake-slot order
        self.lake_node_index = self.layout[lake_nodes]

    @property
    def lake_id(self) -> NDArray[np.int64]:
        return self.network.feature_id[self.lake_node_index]

    # ------------------------------------------------------------------ state
    def cold_state(self) -> RoutingState:
        """NWM cold start: zero flow and depth; lakes at ``OrificeE + ifd (LkMxE - OrificeE)``."""
        n = self.network.size
        depth = np.zeros(n, np.float32)
        depth[self.lake_node_index] = np.nan
        elev = (self.lakes.initial_elevation() if self.lakes is not None else np.zeros(0)).astype(np.float32)
        return RoutingState(np.zeros(n, np.float32), depth, elev)

    def _to_layout(self, state: RoutingState) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        q = np.ascontiguousarray(state.streamflow[self.layout], np.float32)
        d = np.ascontiguousarray(state.depth[self.layout], np.float32)
        d[self.lake_slot >= 0] = state.water_sfc_elev
        bad = ~np.isfinite(q) | (q < 0) | ~np.isfinite(d)
        if bad.any():
            ids = self._net.feature_id[bad][:8].tolist()
            raise InputDataError(f"initial state: streamflow, depth or lake elevation is NaN or negative at feature_id {ids}")
        return q, d

    # ------------------------------------------------------------------ run
    def run(
        self,
        qlat: NDArray[np.float32],
        interval_s: float,
        n_steps: int,
        state: RoutingState | None = None,
        output_every: int = 12,
        progress: Callable[[int], None] | None = None,
        nudging=None,
        columns: NDArray[np.int64] | None = None,
        record: NDArray[np.int64] | None = None,
        forced: tuple[NDArray[np.int64], NDArray[np.float32]] | None = None,
        parallel: bool | None = None,
    ) -> RoutingResult:
        """Route ``n_steps`` steps of ``dt``; ``qlat[interval, node]`` in network order is held
        constant over each ``interval_s``. Output every ``output_every`` steps. ``nudging``
        (hydro.routing.nudging.Nudging) moves gauged outflows towards observations after every step.
        ``columns`` (this model's nodes among ``qlat``'s columns) lets a model of part of a network read
        the whole network's lateral inflow without a copy of its part. ``record`` (nodes, network order) keeps
        their outflow after every step (``RoutingResult.recorded``); ``forced`` = (nodes, outflow [n_steps, m])
        sets those nodes' outflow after every step, as an earlier run recorded it (see ``kr.route_mc``).
        ``parallel``: this run on numba's threads or not (the model's own choice when None; same numbers)."""
        substeps = _steps_per_interval(interval_s, self.dt)
        if n_steps % output_every:
            raise ConfigError(f"{n_steps} steps is not a multiple of the output interval ({output_every} steps)")
        needed = -(-n_steps // substeps)
        width = self.network.size if columns is None else None
        if qlat.shape[0] < needed or (width is not None and qlat.shape[1] != width):
            raise InputDataError(
                f"lateral inflow covers {qlat.shape[0]} interval(s) x {qlat.shape[1]} nodes; need {needed} x {self.network.size}"
            )
        ql = np.empty((needed, self.network.size), np.float32)
        index = self.layout if columns is None else np.ascontiguousarray(np.asarray(columns, np.int64)[self.layout])
        parallel = self.parallel if parallel is None else parallel
        gather = kr.gather_columns if parallel else kr.gather_columns_serial  # serial models may run on threads
        gather(np.ascontiguousarray(qlat[:needed]), index, ql)
        ql[:, self.lake_slot >= 0] = 0.0  # NWM drops lateral inflow on lakes
        q, d = self._to_layout(state if state is not None else self.cold_state())
        n_out = n_steps // output_every
        n = self.network.size
        out_q = np.empty((n_out, n), np.float32)
        out_d = np.empty((n_out, n), np.float32)
        out_v = np.empty((n_out, n), np.float32)
        status = np.zeros(2, np.int64)
        solver = SOLVERS[self.solver]
        dx, bw, tw, twcc, mn, ncc, cs, s0 = self._geom
        use_parallel = parallel and self.upstream == "previous" and numba.get_num_threads() > 1
        if nudging is not None:
            nudging.layout_positions = self.inverse[nudging.positions]
            if self.upstream == "current":  # the inflow wedge below a gauge holds water too (its water balance)
                below = self._net.downstream_index[nudging.layout_positions]
                nudging.below = (below, self.up_ptr, self.up_idx)
                nudging.below_ids = np.where(below >= 0, self._net.feature_id[np.maximum(below, 0)], -1)
        steps_per_call = 1 if nudging is not None else output_every  # nudged after every step
        record_node = self.inverse[np.asarray(record, np.int64)] if record is not None else np.zeros(0, np.int64)
        recorded = np.empty((n_steps, record_node.size), np.float32)
        if forced is not None:
            forced_node = self.inverse[np.asarray(forced[0], np.int64)]
            forced_q = np.ascontiguousarray(forced[1], np.float32)
            if forced_q.shape != (n_steps, forced_node.size):
                raise ConfigError(f"forced outflow has shape {forced_q.shape}, expected {(n_steps, forced_node.size)}")
        else:
            forced_node, forced_q = np.zeros(0, np.int64), np.zeros((n_steps, 0), np.float32)
        # one kernel call for the whole run where nothing acts between the hours (same numbers): a call per hour
        # checked ~30 arguments once per output hour; on the rehearsal bench's what-if (~20 small pieces) the dam
        # zones finished routing at 137 ms instead of 182
        if nudging is None and progress is None:
            kr.route_mc(
                solver, self.upstream == "current", use_parallel, np.float32(self.dt), 0, substeps,
                ql, q, d, self.up_ptr, self.up_idx, dx, bw, tw, twcc, mn, ncc, cs, s0, self.lake_slot,
                self._lake_table, out_q, out_d, output_every, status, record_node, recorded, forced_node, forced_q,
            )
            for j in range(n_out):
                kr.velocity_field(out_d[j], bw, cs, mn, s0, self.lake_slot, out_v[j])
        else:
            for j in range(n_out):
                for k in range(0, output_every, steps_per_call):
                    step = j * output_every + k
                    kr.route_mc(
                        solver, self.upstream == "current", use_parallel, np.float32(self.dt), step, substeps,
                        ql, q, d, self.up_ptr, self.up_idx, dx, bw, tw, twcc, mn, ncc, cs, s0, self.lake_slot,
                        self._lake_table, out_q[j : j + 1], out_d[j : j + 1], steps_per_call, status,
                        record_node, recorded[step : step + steps_per_call], forced_node, forced_q[step : step + steps_per_call],
                    )
                    if nudging is not None:
                        nudging(step + steps_per_call, q, d)  # d: the depth it leaves (lake slots: levels)
                        out_q[j] = q
                        recorded[step] = q[record_node]  # what the segments below see: the nudged outflow
                kr.velocity_field(out_d[j], bw, cs, mn, s0, self.lake_slot, out_v[j])
                if progress is not None:
                    progress(output_every)
        lake = self.lake_slot >= 0
        elev = out_d[:, lake].copy()
        out_d[:, lake] = np.nan
        inverse = self.inverse
        final_d = d.copy()
        final_elev = final_d[lake].copy()
        final_d[lake] = np.nan
        return RoutingResult(
            streamflow=out_q[:, inverse],
            depth=out_d[:, inverse],
            velocity=out_v[:, inverse],
            water_sfc_elev=elev,
            final_state=RoutingState(q[inverse], final_d[inverse], final_elev),
            nonconverged=int(status[0]),
            evaluations=int(status[1]),
            segment_steps=n_steps * n,
            recorded=recorded if record is not None else None,
        )

    def check_converged(self, result: RoutingResult) -> None:
        """Raise :class:`NumericalError` if any depth solve failed to converge."""
        if result.nonconverged:
            raise NumericalError(
                f"Muskingum-Cunge depth solve did not converge in {result.nonconverged} of "
                f"{result.segment_steps} segment-steps (solver {self.solver!r}); check channel geometry or dt"
            )


@register("routing", "muskingum")
class Muskingum:
    """Linear Muskingum routing with per-segment ``musk_k`` [s] and ``musk_x`` [1] (float64)."""

    def __init__(self, network: RiverNetwork, dt: float = 300.0) -> None:
        if network.is_lake.any():
            raise ConfigError("--method muskingum (linear Muskingum) has no lake model, and the network has lakes: "
                              "route it with --method muskingum_cunge, or without --lakeparm")
        if network.musk_k is None or network.musk_x is None:
            raise InputDataError(f"{network.source}: linear Muskingum needs musk_k and musk_x (RouteLink MusK, MusX)")
        self.network = network
        self.dt = float(dt)
        self.layout = network.dfs_layout()
        self.inverse = np.argsort(self.layout)
        net = network.take(self.layout)
        self.down = net.downstream_index
        self.c0, self.c1, self.c2 = (np.empty(net.size) for _ in range(3))
        unstable = kr.muskingum_coefficients(net.musk_k, net.musk_x, self.dt, self.c0, self.c1, self.c2)
        if unstable:
            raise ConfigError(
                f"{network.source}: linear Muskingum has negative weights on {unstable} segment(s) at dt={self.dt:g} s; "
                "need 2*k*x <= dt <= 2*k*(1-x). Reduce dt or check MusK, MusX"
            )
        # tiles of at most n / 16 nodes: enough of them to balance two or more threads
        self.tiles = kr.muskingum_tiles(self.down, max(1, net.size // 16))
        self.rows, self.n_rows = kr.muskingum_rows(self.down, *self.tiles)
        self._buffers: dict[int, NDArray[np.float64]] = {}  # per block length; zero between runs

    def run(self, qlat: NDArray, interval_s: float, n_steps: int, output_every: int = 12) -> NDArray[np.float64]:
        """Routed outflow [n_steps // output_every, n] in network order (cold start)."""
        substeps = _steps_per_interval(interval_s, self.dt)
        n = self.network.size
        needed = -(-n_steps // substeps)
        if qlat.shape[0] < needed or qlat.shape[1] != n:
            raise InputDataError(f"lateral inflow covers {qlat.shape[0]} interval(s) x {qlat.shape[1]} nodes; need {needed} x {n}")
        ql = np.empty((needed, n))
        kr.gather_columns(np.ascontiguousarray(qlat[:needed]), self.layout, ql)
        out = np.empty((n_steps // output_every, n))
        # steps per block: the largest divisor of the output interval up to BLOCK_STEPS
        block = max(d for d in range(1, BLOCK_STEPS + 1) if output_every % d == 0)
        if block not in self._buffers:
            self._buffers[block] = np.zeros((self.n_rows, block))
        kr.route_muskingum_tiled(0, substeps, ql, np.zeros(n), np.zeros(n), self.c0, self.c1, self.c2, self.down,
                                 *self.tiles, self.rows, out, output_every, self._buffers[block])
        return out[:, self.inverse]
