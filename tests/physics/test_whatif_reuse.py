"""A what-if (F2 of a given schedule) copies the pieces of the operated network that no changed release
reaches from F1-through-the-tail instead of routing them again: the result must be bit for bit the full run."""

from __future__ import annotations

import numpy as np

from hydro.stages.rehearsal import RehearsalInputs, forward
from hydro.synthetic import synthetic_dam_basin


def test_a_whatif_reusing_f1_equals_the_full_run_bit_for_bit():
    case = synthetic_dam_basin(1500, 6, 24, seed=3)
    inputs = RehearsalInputs.of(case.network, case.basin, case.lateral, case.times)
    tail = inputs.tail()
    routing = inputs.routing
    # change one dam's releases (the most downstream: its zone and everything below are routed again)
    dam = routing.dams[-1]
    f1_release = tail.f1.reservoirs[dam.id].release[:tail.horizon]
    schedule = {dam.id: np.maximum(0.7 * f1_release, dam.min_release)}
    whatif, _ = inputs.verify(schedule)
    # the same schedule routed without reuse
    full = {dam.id: np.concatenate([schedule[dam.id], np.full(tail.hours, schedule[dam.id][-1])])}
    lateral_all = np.concatenate([inputs.lateral, tail.lateral])
    plain = forward(case.network, case.basin, lateral_all, tail.f1.times, inputs.start, schedules=full,
                    routing=routing, initial=inputs.initial, interval_s=inputs.interval_s)
    np.testing.assert_array_equal(whatif.flow, plain.flow)
    np.testing.assert_array_equal(whatif.run.final.streamflow, plain.run.final.streamflow)
    np.testing.assert_array_equal(whatif.run.final.depth, plain.run.final.depth)
    for rid in plain.reservoirs:
        np.testing.assert_array_equal(whatif.reservoirs[rid].release, plain.reservoirs[rid].release)
    # and the schedule did change the flow below that dam while the zones above it kept F1's numbers
    below = routing.paths[dam.id]
    assert not np.array_equal(whatif.flow[:, below], tail.f1.flow[:, below])
    other = [idx for key, idx in routing.pieces if key and key != dam.id]
    assert other and all(np.array_equal(whatif.flow[:, idx], tail.f1.flow[:, idx]) for idx in other)


def test_every_dam_changed_routes_only_what_the_releases_reach_bit_for_bit():
    """All dams on new schedules: inside each changed piece only the segments below the releases are routed,
    their other upstream segments replaying F1's recorded outflow; the result is the full run's, bit for bit."""
    case = synthetic_dam_basin(1500, 6, 24, seed=5)
    inputs = RehearsalInputs.of(case.network, case.basin, case.lateral, case.times)
    tail = inputs.tail()
    routing = inputs.routing
    schedule = {d.id: np.maximum(np.round(0.6 * tail.f1.reservoirs[d.id].release[:tail.horizon]), d.min_release)
                for d in routing.dams}
    routing._reach_cache.clear()
    whatif, _ = inputs.verify(schedule)
    assert routing._reach_cache, "the partial routing was not used"
    routed = sum(entry[4].size for entry in routing._reach_cache.values())
    assert routed < 0.5 * case.network.size  # the releases reach a minority of the segments
    full = {k: np.concatenate([v, np.full(tail.hours, v[-1])]) for k, v in schedule.items()}
    lateral_all = np.concatenate([inputs.lateral, tail.lateral])
    plain = forward(case.network, case.basin, lateral_all, tail.f1.times, inputs.start, schedules=full,
                    routing=routing, initial=inputs.initial, interval_s=inputs.interval_s)
    np.testing.assert_array_equal(whatif.flow, plain.flow)
    np.testing.assert_array_equal(whatif.run.final.streamflow, plain.run.final.streamflow)
    np.testing.assert_array_equal(whatif.run.final.depth, plain.run.final.depth)
    np.testing.assert_array_equal(whatif.run.final.water_sfc_elev, plain.run.final.water_sfc_elev)
    for rid in plain.reservoirs:
        np.testing.assert_array_equal(whatif.reservoirs[rid].level, plain.reservoirs[rid].level)
    for key in plain.run.feeder_flow:  # the record a later what-if would start from is the full run's too
        np.testing.assert_array_equal(whatif.run.feeder_flow[key], plain.run.feeder_flow[key])
    assert not np.array_equal(whatif.flow, tail.f1.flow)


def test_pieces_routed_on_threads_equal_one_thread_bit_for_bit(monkeypatch):
    """Dam zones route side by side on threads, and a piece nothing can route beside (the last, below every dam)
    on numba's threads; F1 through the tail and a what-if are the same numbers with one numba thread as with two."""
    import numba

    from hydro.routing.channel import MuskingumCunge

    case = synthetic_dam_basin(1500, 6, 24, seed=7)
    results = []
    threads = numba.get_num_threads()
    run, shared = MuskingumCunge.run, []

    def spy(self, *args, **kwargs):
        shared.append(kwargs.get("parallel"))
        return run(self, *args, **kwargs)

    monkeypatch.setattr(MuskingumCunge, "run", spy)
    try:
        for n in (1, max(2, threads)):
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            inputs = RehearsalInputs.of(case.network, case.basin, case.lateral, case.times)
            tail = inputs.tail()
            schedule = {d.id: np.maximum(np.round(0.7 * tail.f1.reservoirs[d.id].release[:tail.horizon]), d.min_release)
                        for d in inputs.routing.dams}
            whatif, _ = inputs.verify(schedule)
            results.append((tail.f1.flow, tail.f1.run.lateral, whatif.flow, whatif.run.final.depth))
            dams = [key for key, _ in inputs.routing.pieces if key]  # listed in the pieces' order, not as threads end
            assert list(whatif.run.operations) == list(whatif.run.final_dams) == dams
    finally:
        numba.set_num_threads(threads)
    assert len(inputs.routing.waves[0]) > 1  # several zones route at once
    assert True in shared  # and a piece alone on numba's threads (whole, or the part a what-if changes)
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_run_too_long_to_record_its_feeders_falls_back_to_whole_pieces(monkeypatch):
    """Past the recording budget a run keeps no feeder record: the what-if routes whole changed pieces, the same
    numbers."""
    import hydro.routing.operated as operated

    case = synthetic_dam_basin(1500, 6, 24, seed=5)
    monkeypatch.setattr(operated, "FEEDER_RECORD_BYTES", 0)
    inputs = RehearsalInputs.of(case.network, case.basin, case.lateral, case.times)
    tail = inputs.tail()
    assert tail.f1.run.feeder_flow is None
    schedule = {d.id: np.maximum(np.round(0.6 * tail.f1.reservoirs[d.id].release[:tail.horizon]), d.min_release)
                for d in inputs.routing.dams}
    whatif, _ = inputs.verify(schedule)
    assert not inputs.routing._reach_cache
    full = {k: np.concatenate([v, np.full(tail.hours, v[-1])]) for k, v in schedule.items()}
    plain = forward(case.network, case.basin, np.concatenate([inputs.lateral, tail.lateral]), tail.f1.times,
                    inputs.start, schedules=full, routing=inputs.routing, initial=inputs.initial,
                    interval_s=inputs.interval_s)
    np.testing.assert_array_equal(whatif.flow, plain.flow)


def _nudged_case():
    """A small dam basin, its un-nudged F1, and the forecast's carried corrections (``nudging_for``) at 30 gauges
    whose last observation before the issue time is 3 x F1's flow + 50 m3/s."""
    from hydro.routing.nudging import GaugeObservations, PersistedNudging

    case = synthetic_dam_basin(800, 4, 18, seed=3)
    inputs = RehearsalInputs.of(case.network, case.basin, case.lateral, case.times)
    routing, net = inputs.routing, case.network
    plain_f1 = forward(net, case.basin, case.lateral, case.times, inputs.start, routing=routing)
    gauges = np.linspace(0, net.size - 1, 30).astype(int)
    issue = case.times[0] - np.timedelta64(1, "h")
    obs = GaugeObservations(net.feature_id[gauges], np.array([issue - np.timedelta64(10, "m")], "datetime64[s]"),
                            (3.0 * plain_f1.flow[0, gauges] + 50.0)[None, :], np.ones((1, gauges.size)))

    def carried(ids, hour):
        return PersistedNudging(obs, ids, issue, routing.dt, 1.0, 600.0) if np.isin(obs.feature_id, ids).any() else None

    return case, inputs, plain_f1, carried


def _whatif_and_scratch(case, inputs, nudging_for=None):
    """The last dam at 70 % of its F1 releases: the what-if (``inputs.verify``), the same schedule routed from
    scratch over horizon and tail (with ``nudging_for``), and the tail."""
    tail = inputs.tail()
    dam = inputs.routing.dams[-1]
    schedule = {dam.id: np.maximum(0.7 * tail.f1.reservoirs[dam.id].release[:tail.horizon], dam.min_release)}
    whatif, _ = inputs.verify(schedule)
    held = {dam.id: np.concatenate([schedule[dam.id], np.full(tail.hours, schedule[dam.id][-1])])}
    scratch = forward(case.network, case.basin, np.concatenate([inputs.lateral, tail.lateral]), tail.f1.times,
                      inputs.start, schedules=held, routing=inputs.routing, initial=inputs.initial,
                      nudging_for=nudging_for)
    return whatif, scratch, tail


def test_a_nudged_f1_is_not_copied_into_a_whatif():
    """In a cycle F1 is the forecast run, which carries the gauges' last corrections; a what-if is routed without
    them, so copying F1's untouched pieces mixed nudged and plain flows (a section peak of 1,794 against 4,437
    m3/s in the review's case). The what-if must equal the same schedule routed from scratch, bit for bit."""
    from hydro.stages.rehearsal import score

    case, inputs, _, carried = _nudged_case()
    routing = inputs.routing
    run = routing.run(np.asarray(inputs.lateral), inputs.interval_s, len(inputs.times), inputs.initial, inputs.start,
                      nudging_for=carried)
    assert run.nudgings
    inputs.f1 = score(case.basin, routing, run, inputs.times, inputs.initial)  # F1 = the nudged forecast
    whatif, scratch, _ = _whatif_and_scratch(case, inputs)
    assert np.array_equal(whatif.flow, scratch.flow)


def test_a_whatif_carries_the_forecasts_gauge_corrections_as_f1_does():
    """F1, F2 and a what-if of a nudged cycle differ only by the releases: with the forecast's carried
    corrections given (RehearsalInputs.nudging_for, as the cycle gives them), the what-if is the schedule routed
    with the same corrections, and F1's own releases as a schedule give F1's flows back."""
    case, inputs, plain_f1, carried = _nudged_case()
    inputs.nudging_for = carried
    f1 = inputs.forward()  # nudged, as the cycle's forecast
    assert not np.array_equal(f1.flow, plain_f1.flow)
    whatif, scratch, tail = _whatif_and_scratch(case, inputs, carried)
    assert np.array_equal(whatif.flow, scratch.flow)
    own = {r.id: tail.f1.reservoirs[r.id].release for r in case.basin.reservoirs}  # F1's releases, tail included
    again, _ = inputs.verify(own)
    T = tail.horizon
    np.testing.assert_allclose(again.flow[:T], f1.flow, rtol=1e-5, atol=1e-3)
