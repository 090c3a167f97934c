"""The network orderings in numba (hydro.kernels.graph) give the orders the plain-Python walks gave."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hydro.kernels.graph import kahn_order, postorder


def _kahn_python(down):
    n = down.size
    indeg = np.bincount(down[down >= 0], minlength=n)
    stack = list(np.flatnonzero(indeg == 0)[::-1])
    order = []
    while stack:
        i = stack.pop()
        order.append(i)
        if down[i] >= 0:
            indeg[down[i]] -= 1
            if indeg[down[i]] == 0:
                stack.append(down[i])
    return np.array(order, np.int64)


def _postorder_python(ptr, idx, roots):
    out = []
    for root in roots.tolist():
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                out.append(node)
                continue
            stack.append((node, True))
            for child in idx[ptr[node]:ptr[node + 1]][::-1].tolist():
                stack.append((child, False))
    return np.array(out, np.int64)


@st.composite
def forests(draw):
    """A random river forest: each node drains to a later one or is an outlet, then shuffled."""
    n = draw(st.integers(1, 300))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    down = np.array([rng.integers(i + 1, n) if i < n - 1 and rng.random() < 0.9 else -1 for i in range(n)], np.int64)
    perm = rng.permutation(n)
    where = np.empty(n, np.int64)
    where[perm] = np.arange(n)
    shuffled = np.full(n, -1, np.int64)
    shuffled[where] = np.where(down >= 0, where[np.maximum(down, 0)], -1)
    return shuffled


@settings(max_examples=60, deadline=None)
@given(forests())
def test_orders_equal_the_python_walks(down):
    np.testing.assert_array_equal(kahn_order(down), _kahn_python(down))
    n = down.size
    order = np.argsort(np.where(down >= 0, down, n), kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(down[down >= 0], minlength=n))]).astype(np.int64)
    idx = order[: ptr[-1]].astype(np.int64)
    roots = np.flatnonzero(down < 0)
    walk = postorder(ptr, idx, roots)
    np.testing.assert_array_equal(walk, _postorder_python(ptr, idx, roots))
    assert np.array_equal(np.sort(walk), np.arange(n))  # every node once, each after its upstream nodes
    rank = np.empty(n, np.int64)
    rank[walk] = np.arange(n)
    assert np.all(rank[down >= 0] < rank[down[down >= 0]])


def test_a_cycle_is_left_out_of_the_topological_order():
    down = np.array([1, 2, 1, -1], np.int64)  # 1 -> 2 -> 1
    assert kahn_order(down).tolist() == [0, 3]
