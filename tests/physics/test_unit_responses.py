"""The rehearsal's unit responses stop routing a dam's pulse once it has died out: the bumped and plain runs of
the path reach the same state bit for bit, and from there on, with the same inflow, they stay equal. Stopping
there must give exactly what routing the whole horizon and tail gives."""

from __future__ import annotations

import numpy as np

from hydro.routing.channel import MuskingumCunge
from hydro.stages.rehearsal import _route_difference
from hydro.synthetic import synthetic_dam_basin


def _path_case():
    case = synthetic_dam_basin(600, 3, 24, seed=3)
    net = case.network
    outlet = int(np.flatnonzero(net.downstream_index < 0)[0])
    path = net.upstream_positions(int(net.feature_id[outlet]))
    model = MuskingumCunge(net.take(path), None, 300.0, parallel=False)
    lateral = np.asarray(case.lateral[:, path], np.float64)
    lateral = np.vstack([lateral, np.repeat(lateral[-1:], 72, axis=0)])  # a long tail, as the rehearsal's 48 h
    return model, lateral


def test_the_difference_stops_early_and_equals_the_whole_runs():
    model, lateral = _path_case()
    bumped = lateral.copy()
    at = 10
    bumped[at, 0] += 50.0  # a one-hour pulse into the path's first segment
    routed_hours = []
    run = model.run

    def counting(lat, interval_s, steps, *args, **kwargs):
        routed_hours.append(lat.shape[0])
        return run(lat, interval_s, steps, *args, **kwargs)

    model.run = counting
    difference = _route_difference(model, lateral, bumped, None)
    model.run = run
    steps = lateral.shape[0] * 12
    whole = (run(np.ascontiguousarray(bumped, np.float32), 3600.0, steps, None, 12).streamflow.astype(np.float64)
             - run(np.ascontiguousarray(lateral, np.float32), 3600.0, steps, None, 12).streamflow.astype(np.float64))
    assert np.array_equal(difference, whole)  # bit for bit, zeros after the stop included
    assert np.abs(whole[at:at + 6]).max() > 1.0  # the pulse is there
    assert sum(routed_hours) < 2 * lateral.shape[0]  # and routing stopped before the end
    assert not whole[sum(routed_hours) // 2:].any()


def test_an_inflow_that_differs_later_is_routed_to_the_end():
    """The states may meet while the inflows still differ: no stop then."""
    model, lateral = _path_case()
    changed = lateral.copy()
    changed[-1, 0] += 50.0  # only the last hour differs
    difference = _route_difference(model, lateral, changed, None)
    assert np.abs(difference[-1]).max() > 0.0 and not difference[:-1].any()
