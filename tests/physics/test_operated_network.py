"""The operated network (hydro.routing.operated): the integrator behind the forecast, F1, F2 and a what-if."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hydro.io.basin import BasinSpec
from hydro.routing.operated import OperatedNetwork
from tests.physics.test_rehearsal_forward import NETWORK, RESERVOIR, _storm

BASIN = BasinSpec(name="b", reservoirs=[RESERVOIR])


@settings(max_examples=12, deadline=None)
@given(split=st.integers(1, 47), per_hour=st.sampled_from([1, 6]))
def test_a_run_split_anywhere_continues_bit_for_bit(split, per_hour):
    """N hours in one run equal the first k hours then the rest from its final state (channels, dam storage,
    level and gate setting): what makes a cycle's restart continue exactly."""
    hourly, _ = _storm(48)
    lateral = np.repeat(hourly, per_hour, axis=0).astype(np.float32)
    net = OperatedNetwork(NETWORK, BASIN.reservoirs, dt=300.0)
    whole = net.run(lateral, 3600.0 / per_hour, 48)
    first = net.run(lateral[:split * per_hour], 3600.0 / per_hour, split)
    rest = net.run(lateral[split * per_hour:], 3600.0 / per_hour, 48 - split, first.final, first.final_dams)
    np.testing.assert_array_equal(whole.streamflow(), np.concatenate([first.streamflow(), rest.streamflow()]))
    np.testing.assert_array_equal(whole.final.streamflow, rest.final.streamflow)
    assert whole.final_dams == rest.final_dams
    op = whole.operations["dam"]
    np.testing.assert_array_equal(op.storage, np.concatenate([first.operations["dam"].storage,
                                                               rest.operations["dam"].storage[1:]]))


def test_the_dam_segment_carries_the_release_and_water_is_conserved():
    """At the dam's feature_id the streamflow is the release; the water that left the dam's zone is the
    inflow less the storage gained."""
    hourly, _ = _storm(72)
    net = OperatedNetwork(NETWORK, BASIN.reservoirs, dt=300.0)
    run = net.run(hourly.astype(np.float32), 3600.0, 72)
    dam = run.dam_position["dam"]
    op = run.operations["dam"]
    np.testing.assert_array_equal(run.streamflow()[:, dam], op.release.astype(np.float32))
    assert op.release.max() < run.inflow["dam"].max()  # the dam cuts the peak
    mean_in = 0.5 * (run.inflow["dam"][:-1] + run.inflow["dam"][1:])
    gained = op.storage[-1] - op.storage[0]
    np.testing.assert_allclose(3600.0 * (mean_in - op.release).sum(), gained, rtol=1e-9)
