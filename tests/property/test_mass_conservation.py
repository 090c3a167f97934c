"""Mass conservation of linear Muskingum over random trees (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hydro.kernels.routing import muskingum_coefficients, muskingum_step
from hydro.network import RiverNetwork
from tests.strategies import random_trees


@settings(deadline=None, max_examples=60)  # the first example pays the JIT compile
@given(tree=random_trees(), k_hours=st.floats(1.0, 48.0), x=st.floats(0.0, 0.3), data=st.data())
def test_muskingum_conserves_mass_on_random_trees(tree, k_hours, x, data):
    feature_id, to = tree
    n = feature_id.size
    net = RiverNetwork(
        feature_id=feature_id, to=to, length=np.ones(n), slope=np.ones(n), mannings_n=np.ones(n),
        mannings_n_cc=np.ones(n), bottom_width=np.ones(n), top_width=np.ones(n), top_width_cc=np.ones(n),
        side_slope=np.ones(n),
    )
    laid = net.take(net.dfs_layout())
    down = laid.downstream_index
    lateral = data.draw(hnp.arrays(np.float64, (24, n), elements=st.floats(0.0, 1e3)))
    dt = 3600.0
    k, xs = np.full(n, k_hours * 3600.0), np.full(n, x)
    c0, c1, c2 = np.empty(n), np.empty(n), np.empty(n)
    muskingum_coefficients(k, xs, dt, c0, c1, c2)
    outlets = down < 0
    storage = lambda qi, qo: float(np.sum(k * (xs * qi + (1.0 - xs) * qo)))  # noqa: E731
    q_in, q_out = np.zeros(n), np.zeros(n)
    for t in range(lateral.shape[0]):
        new_in, new_out = np.empty(n), np.empty(n)
        muskingum_step(q_in, q_out, lateral[t], c0, c1, c2, down, new_in, new_out)
        lat_prev = lateral[t - 1] if t else np.zeros(n)
        d_storage = storage(new_in, new_out) - storage(q_in, q_out)
        net_in = 0.5 * dt * (lat_prev.sum() + lateral[t].sum() - q_out[outlets].sum() - new_out[outlets].sum())
        np.testing.assert_allclose(d_storage, net_in, rtol=1e-9, atol=1e-6 * max(1.0, abs(net_in)))
        q_in, q_out = new_in, new_out
