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


@st.composite
def runoff_parameters(draw, model):
    """One parameter vector inside ``model.PARAMETERS``' physical ranges (XAJ: KI + KG < 1)."""
    values = []
    for spec in model.PARAMETERS.values():
        lo, hi = spec.valid
        hi = min(hi, 0.999 * hi if spec.open_high and hi > 0 else hi)
        values.append(draw(st.floats(lo, hi, allow_nan=False)))
    values = np.array(values)
    if "KI" in model.PARAMETERS:  # keep the daily free-water drainage below 1
        i, g = list(model.PARAMETERS).index("KI"), list(model.PARAMETERS).index("KG")
        total = values[i] + values[g]
        if total >= 0.99:
            values[[i, g]] *= 0.99 / total
    return values


@st.composite
def forcing_series(draw, max_steps: int = 48):
    """(precipitation, pet) [mm per step]: dry spells, drizzle and cloudbursts of up to 200 mm."""
    n = draw(st.integers(1, max_steps))
    rain = st.one_of(st.just(0.0), st.floats(0.0, 2.0), st.floats(0.0, 200.0))
    precip = np.array(draw(st.lists(rain, min_size=n, max_size=n)))
    pet = np.array(draw(st.lists(st.floats(0.0, 10.0), min_size=n, max_size=n)))
    return precip, pet
