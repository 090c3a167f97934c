"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


@st.composite
def random_trees(draw, max_nodes: int = 30):
    """(feature_id, to) of a random forest: node i drains to a node with a smaller index or is an outlet."""
    n = draw(st.integers(1, max_nodes))
    to = [0]
    for i in range(1, n):
        to.append(draw(st.integers(0, i)))  # 0 = outlet, else the 1-based id of an earlier node
    feature_id = np.arange(1, n + 1, dtype=np.int64)
    return feature_id, np.asarray(to, dtype=np.int64)
