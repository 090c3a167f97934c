"""Routing against truth: hand-computed Muskingum, steady state, mass conservation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydro.kernels import routing as kr
from hydro.kernels.reservoir import levelpool_step
from hydro.routing.channel import Muskingum, MuskingumCunge
from hydro.synthetic import storm_runoff, synthetic_network
from tests.helpers import make_network


def test_linear_muskingum_hand_computed():
    # Single reach, k = 2 h, x = 0.2, dt = 1 h: D = 2k - 2kx + dt = 14400 - 2880 + 3600 = 15120 s
    # c0 = (3600 - 2880)/15120 = 0.047619, c1 = (3600 + 2880)/15120 = 0.428571, c2 = 0.523810.
    # Lateral inflow 10, 30, 20, 0 m3/s (inflow I_t is the lateral of step t; I_0 = O_0 = 0):
    # O1 = c0*10                         = 0.476190
    # O2 = c0*30 + c1*10 + c2*O1         = 1.428571 + 4.285714 + 0.249433 = 5.963719
    # O3 = c0*20 + c1*30 + c2*O2         = 0.952381 + 12.857143 + 3.123853 = 16.933377
    # O4 = c0*0  + c1*20 + c2*O3         = 8.571429 + 8.869864            = 17.441293
    net = make_network([1], [0], musk_k=[7200.0], musk_x=[0.2])
    out = Muskingum(net, dt=3600.0).run(np.array([[10.0], [30.0], [20.0], [0.0]]), 3600, 4, output_every=1)
    np.testing.assert_allclose(out[:, 0], [0.476190, 5.963719, 16.933377, 17.441293], rtol=2e-6)


def test_muskingum_unstable_weights_are_an_error():
    from hydro.core.errors import ConfigError

    with pytest.raises(ConfigError, match="negative weights"):
        Muskingum(make_network([1], [0], musk_k=[3600.0], musk_x=[0.2]), dt=300.0)  # 2kx = 1440 > dt


@pytest.mark.parametrize("solver", ["nwm", "fast"])
def test_mc_steady_state_outflow_equals_inflow(solver):
    # A chain of 5 reaches, 2 m3/s lateral on each: at steady state segment k carries 2k m3/s.
    net = make_network([1, 2, 3, 4, 5], [2, 3, 4, 5, 0])
    qlat = np.full((48, 5), 2.0, np.float32)
    r = MuskingumCunge(net, None, 300.0, solver).run(qlat, 3600, 48 * 12, None, 12)
    np.testing.assert_allclose(r.streamflow[-1], [2, 4, 6, 8, 10], rtol=2e-4)
    assert r.nonconverged == 0
    # Manning normal depth at steady state, NWM compound section: Qn(depth) == Q
    depth = float(r.depth[-1, -1])
    bw, tw, twcc, z, n, ncc, s0 = 10.0, 15.0, 45.0, 2.0, 0.05, 0.1, 1e-3
    bankfull = (tw - bw) / (2 * z)
    h_in, h_over = min(depth, bankfull), max(depth - bankfull, 0.0)
    area, wp = (bw + z * h_in) * h_in, bw + 2 * h_in * np.sqrt(1 + z * z)
    area_cc, wp_cc = twcc * h_over, (twcc + 2 * h_over) if h_over > 0 else 0.0
    n_eff = (wp * n + wp_cc * ncc) / (wp + wp_cc)
    q_normal = (area + area_cc) * ((area + area_cc) / (wp + wp_cc)) ** (2 / 3) * np.sqrt(s0) / n_eff
    np.testing.assert_allclose(q_normal, 10.0, rtol=0.03)


@pytest.mark.parametrize("solver", ["nwm", "fast"])
def test_mc_conserves_mass_over_an_event(solver):
    # Everything that enters must leave once the network has drained (no storage left).
    net, area = synthetic_network(300, seed=5)
    qlat = storm_runoff(area, 72, peak_mm_h=5.0, peak_hour=4.0)
    qlat[24:] = 0.0
    r = MuskingumCunge(net, None, 300.0, solver).run(qlat, 3600, 72 * 12, None, 1)
    outlet = net.to == 0
    volume_in = qlat.astype(np.float64).sum() * 3600.0
    volume_out = r.streamflow[:, outlet].astype(np.float64).sum() * 300.0
    assert r.streamflow[-1, outlet].sum() < 1e-3 * r.streamflow[:, outlet].max()  # drained
    np.testing.assert_allclose(volume_out, volume_in, rtol=0.01)


@pytest.mark.parametrize("solver", ["nwm", "fast"])
def test_parallel_equals_serial_and_runs_repeat(solver):
    import numba

    net, area = synthetic_network(3000, seed=2)
    qlat = storm_runoff(area, 6)
    runs = []
    for parallel, threads in ((False, 1), (True, numba.config.NUMBA_NUM_THREADS), (True, numba.config.NUMBA_NUM_THREADS)):
        numba.set_num_threads(threads)
        model = MuskingumCunge(net, None, 300.0, solver, parallel=parallel)
        runs.append(model.run(qlat, 3600, 72, None, 12))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for other in runs[1:]:
        np.testing.assert_array_equal(other.streamflow, runs[0].streamflow)
        np.testing.assert_array_equal(other.depth, runs[0].depth)


def test_fast_solver_follows_the_nwm_iteration():
    # Same secant in SIMD lanes: the same evaluations (but where rounding tips a stopping test) and
    # flows within float32 noise, on a random tree (3,001 nodes: the last lane group is partial).
    net, area = synthetic_network(3001, seed=3)
    qlat = storm_runoff(area, 12, peak_mm_h=40.0)
    runs = {s: MuskingumCunge(net, None, 300.0, s).run(qlat, 3600, 12 * 12, None, 12) for s in ("nwm", "fast")}
    assert runs["fast"].evaluations == pytest.approx(runs["nwm"].evaluations, rel=2e-3)
    ref, fast = runs["nwm"].streamflow, runs["fast"].streamflow
    mask = ref > 1.0
    rel = np.abs(fast[mask] - ref[mask]) / ref[mask]
    assert np.median(rel) < 1e-6 and np.percentile(rel, 99.9) < 1e-3


@settings(max_examples=200, deadline=None)
@given(st.floats(float(np.float32(1e-12)), float(np.float32(1e12)), width=32))
def test_pow23_matches_powf(x):
    got = float(kr._pow23_vector(np.array([x], np.float32))[0])
    assert got == pytest.approx(float(np.float64(x) ** (2.0 / 3.0)), rel=5e-7)
    assert float(kr._pow23_vector(np.zeros(1, np.float32))[0]) == 0.0


def test_levelpool_balances_volume():
    # Storage change equals (inflow - outflow) volume to within the RK3 truncation error.
    f = np.float32
    h, area_km2 = f(105.0), f(3.0)
    params = (area_km2, f(108.0), f(110.0), f(0.4), f(10.0), f(10.0), f(100.0), f(0.1), f(1.0))
    q_prev = None
    volume_net = 0.0
    h0 = h
    for step in range(500):
        inflow = f(50.0 if step < 200 else 0.0)
        h, q = levelpool_step(inflow, inflow, f(0.0), f(300.0), h, *params)
        if q_prev is not None:
            volume_net += 300.0 * (inflow - 0.5 * (q + q_prev))
        else:
            volume_net += 300.0 * (inflow - q)
        q_prev = q
    storage_change = (float(h) - float(h0)) * float(area_km2) * 1e6
    np.testing.assert_allclose(storage_change, volume_net, rtol=0.02)


def test_mc_kernel_zero_flow_branch():
    f = np.float32
    q, d, ok, ev = kr.mc_secant(f(300), f(0), f(0), f(0), f(0), f(1000), f(5), f(8), f(20), f(0.05), f(0.1), f(0.5), f(1e-3), f(0.4), False)
    assert (q, d, ok, ev) == (0.0, 0.0, True, 0)


def test_a_small_lane_group_on_the_scalar_path_gives_the_lanes_numbers():
    """A chain of 5 segments alone is a lane group of 5, solved node by node under nwm (kr.SCALAR_GROUP); the same chain
    among 59 unconnected segments sits in full groups of 32, solved in lanes: the chain's flows and depths are the
    same to the bit (each node's update depends only on its own state and its upstream inflow)."""
    assert 5 <= kr.SCALAR_GROUP < kr.LANES
    solver = "nwm"
    others = np.arange(100, 159)
    wide = make_network(np.concatenate([[1, 2, 3, 4, 5], others]), np.concatenate([[2, 3, 4, 5, 0], np.zeros(59, int)]),
                        slope=np.linspace(1e-4, 1e-2, 64), bottom_width=np.linspace(5.0, 40.0, 64))
    chain = make_network([1, 2, 3, 4, 5], [2, 3, 4, 5, 0], slope=wide.slope[:5], bottom_width=wide.bottom_width[:5])
    hours = np.arange(12, dtype=np.float32)[:, None]
    q_chain = (5.0 + 40.0 * np.exp(-((hours - 4.0) / 2.0) ** 2)) * np.array([1.0, 0.5, 2.0, 0.2, 1.5], np.float32)
    q_wide = np.hstack([q_chain, np.repeat(q_chain[:, :1], 59, axis=1)]).astype(np.float32)
    alone = MuskingumCunge(chain, None, 300.0, solver, parallel=False).run(q_chain.astype(np.float32), 3600, 144, None, 1)
    among = MuskingumCunge(wide, None, 300.0, solver, parallel=False).run(q_wide, 3600, 144, None, 1)
    np.testing.assert_array_equal(alone.streamflow, among.streamflow[:, :5])
    np.testing.assert_array_equal(alone.depth, among.depth[:, :5])
    assert alone.streamflow[:, 4].max() > 50.0  # a flood went through


@pytest.mark.parametrize("seed", [0, 1])
def test_streamed_lanes_give_each_segment_its_own_secant(seed):
    """The lanes stream segments (a lane whose secant stopped takes the next one) and hand a solve still going after
    LANE_ITERATIONS to the scalar path: every segment's outflow and depth must be mc_secant's own, bit for bit, for
    a step mixing dry, ordinary, overbank, flat (long secants) and negative-lateral segments."""
    rng = np.random.default_rng(seed)
    f = np.float32
    n_src, n = 700, 1400  # nodes 700.. have node i - 700 upstream; 0..699 are sources
    up_ptr = np.concatenate([np.zeros(n_src + 1, np.int64), np.arange(1, n - n_src + 1, dtype=np.int64)])
    up_idx = np.arange(n - n_src, dtype=np.int64)
    q_prev = (rng.lognormal(2.0, 2.0, n) * (rng.random(n) > 0.1)).astype(f)
    d_prev = rng.uniform(0.0, 6.0, n).astype(f)
    ql = (rng.normal(0.5, 3.0, n) * (rng.random(n) > 0.2)).astype(f)
    dry = rng.random(n) < 0.05
    q_prev[dry], ql[dry] = 0.0, 0.0
    dx = rng.uniform(200.0, 8000.0, n).astype(f)
    bw = rng.uniform(2.0, 80.0, n).astype(f)
    tw = (bw * rng.uniform(0.8, 3.0, n)).astype(f)
    twcc = np.where(rng.random(n) < 0.7, 3.0 * tw, 0.0).astype(f)
    mann = rng.uniform(0.02, 0.08, n).astype(f)
    ncc = np.where(rng.random(n) < 0.9, 2.0 * mann, 0.0).astype(f)
    cs = np.where(rng.random(n) < 0.1, 0.0, rng.uniform(0.2, 2.0, n)).astype(f)
    s0 = np.where(rng.random(n) < 0.3, 1e-5, 10.0 ** rng.uniform(-4, -1.5, n)).astype(f)
    lake_slot = np.full(n, -1, np.int64)
    lake = np.zeros((1, 9), f)
    q_new, d_new = np.zeros(n, f), np.zeros(n, f)
    status = np.zeros(2, np.int64)
    kr._sweep_lanes_serial(kr.SOLVER_NWM, f(300.0), q_prev, d_prev, ql, up_ptr, up_idx, dx, bw, tw, twcc, mann, ncc, cs,
                           s0, lake_slot, lake, q_new, d_new, status)
    evaluations = []
    for i in range(n):
        qup = q_prev[up_idx[up_ptr[i]:up_ptr[i + 1]]].sum(dtype=f)
        q, h, _, ev = kr.mc_secant(f(300.0), qup, qup, q_prev[i], ql[i], dx[i], bw[i], tw[i], twcc[i], mann[i], ncc[i],
                                   cs[i], s0[i], d_prev[i], False)
        assert (q_new[i], d_new[i]) == (q, h), i
        evaluations.append(ev)
    evaluations = np.array(evaluations)
    assert (evaluations == 0).any() and (evaluations > 2 * kr.LANE_ITERATIONS).any()  # dry segments and long solves
    assert status[1] >= evaluations.sum()  # a long solve's lane evaluations are counted too
