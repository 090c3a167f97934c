"""Small builders for test networks."""

from __future__ import annotations

import numpy as np

from hydro.network import RiverNetwork


def make_network(feature_id, to, **overrides) -> RiverNetwork:
    n = len(feature_id)
    fields = dict(
        length=np.full(n, 2000.0), slope=np.full(n, 1e-3), mannings_n=np.full(n, 0.05),
        mannings_n_cc=np.full(n, 0.1), bottom_width=np.full(n, 10.0), top_width=np.full(n, 15.0),
        top_width_cc=np.full(n, 45.0), side_slope=np.full(n, 0.5), musk_k=np.full(n, 1800.0),
        musk_x=np.full(n, 0.05),
    )
    fields.update(overrides)
    return RiverNetwork(feature_id=np.asarray(feature_id), to=np.asarray(to), source="test network", **fields)


# a two-hour cycle of the embedded demo basin (analysis 2 h, forecast 2 h): the small cycle tests run
DEMO_CYCLE_2H = """[cycle]
basin = "demo"
start = "2026-07-01T00:00:00"
hours = 2
forecast_hours = 2
nowcast_hours = 1
output_dir = "out"
state_dir = "state"

[forcing]
setup = "demo_storm.toml"
"""
