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
