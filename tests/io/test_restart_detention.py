"""A detention basin's stored volume survives a restart exactly (a cycle rolled from a file starts the basin
as full as the previous cycle left it), and a damaged volume is refused with one line."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.basin import BasinState
from hydro.core.errors import InputDataError
from hydro.io.restart import read_restart, write_restart
from hydro.reservoir.operation import DamStart
from hydro.routing.channel import RoutingState
from hydro.runoff import RunoffState

VALID = np.datetime64("2026-07-01T04:00")


def _state(detention: dict[str, float]) -> BasinState:
    routing = RoutingState(np.array([1.5, 2.5], np.float32), np.array([0.3, 0.4], np.float32), np.zeros(0, np.float32))
    return BasinState(VALID, RunoffState({"w": np.array([10.0, 20.0])}), None, routing,
                      {"dam": DamStart(110.0, 50.0, 1.0e8)}, detention)


def test_detention_volume_round_trips_exactly(tmp_path):
    held = {"polder_b": 1.0 / 3.0 * 1e7, "polder_a": 0.0}
    path = write_restart(tmp_path / "r.nc", _state(held), "b", "h")
    back = read_restart(path, "b", "h", VALID)
    assert back.detention == held
    assert read_restart(write_restart(tmp_path / "e.nc", _state({}), "b", "h"), "b", "h", VALID).detention == {}


def test_a_negative_detention_volume_is_refused(tmp_path):
    path = write_restart(tmp_path / "r.nc", _state({"polder": 5.0e6}), "b", "h")
    with xr.open_dataset(path) as ds:
        ds.load()
    ds["detention_storage"].values[:] = -1.0
    from hydro.io.restart import _checksum  # re-sign, as an editor would, so the range check is what refuses it

    ds.attrs["checksum_sha256"] = _checksum(ds)
    ds.to_netcdf(tmp_path / "bad.nc")
    with pytest.raises(InputDataError, match="detention basin polder holds -1"):
        read_restart(tmp_path / "bad.nc", "b", "h", VALID)
