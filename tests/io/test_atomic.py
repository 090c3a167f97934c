"""Outputs are written atomically: all or nothing, never a half-written file or a stray temporary."""

from __future__ import annotations

import os
import stat

import pytest

from hydro.core.errors import InputDataError
from hydro.io.atomic import FILE_MODE, write_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "forecast.nc"
    write_atomic(target, lambda p: p.write_text("first"))
    assert target.read_text() == "first"
    assert stat.S_IMODE(os.stat(target).st_mode) == FILE_MODE  # as open() would make it, not mkstemp's 0600

    def broken(p):
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, broken)
    assert target.read_text() == "first"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["forecast.nc"]


def test_a_missing_output_directory_is_named(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "out.nc", lambda p: p.write_text("x"))


def test_a_flow_series_with_nan_or_negative_values_is_not_written(tmp_path):
    """A stage refuses to write NaN, inf or negative flows and says where and when they first appear."""
    import numpy as np
    import pytest
    import xarray as xr

    from hydro.core.errors import NumericalError
    from hydro.io.netcdf import write_dataset

    flow = np.ones((3, 4), np.float32)
    flow[2, 1], flow[1, 3] = np.nan, -0.5
    ds = xr.Dataset({"streamflow": (("time", "feature_id"), flow, {"units": "m3 s-1"})},
                    coords={"time": np.arange(3), "feature_id": [11, 12, 13, 14]})
    with pytest.raises(NumericalError, match=r"streamflow is -0.5 at time 1, feature_id 14 \(2 bad values\)"):
        write_dataset(tmp_path / "out.nc", ds)
    assert list(tmp_path.iterdir()) == []
