"""NWM LAKEPARM (level-pool lakes): a damaged file, or values that would route negative or absurd flows
(the issue's orifice area of -10, an initial depth fraction of 2), are one error naming the file and lake."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import netCDF4
import pytest

from hydro.core.errors import InputDataError
from hydro.io.nwm import read_lakeparm

from .conftest import DAMAGE, damage_ids

LAKEPARM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nwm_lower_colorado" / "original" / "LAKEPARM.nc"


@pytest.fixture
def lakeparm(tmp_path) -> Path:
    if not LAKEPARM.is_file():
        pytest.skip(f"NWM LAKEPARM not found at {LAKEPARM} (shared/data is checked out beside the repo)")
    path = tmp_path / "LAKEPARM.nc"
    shutil.copy(LAKEPARM, path)
    path.chmod(0o644)
    return path


@pytest.mark.parametrize("damage", damage_ids())
def test_damaged_lakeparm_is_refused(damage, lakeparm):
    DAMAGE[damage](lakeparm)
    with pytest.raises(InputDataError, match="LAKEPARM.nc"):
        read_lakeparm(lakeparm)


@pytest.mark.parametrize("variable,field,value", [("OrificeA", "orifice_area", -10.0), ("ifd", "initial_fraction_depth", 2.0),
                                                  ("WeirC", "weir_coefficient", -0.4), ("LkArea", "area_km2", 1e30)])
def test_implausible_lake_parameter_is_refused(variable, field, value, lakeparm):
    with netCDF4.Dataset(lakeparm, "a") as ds:
        ds[variable][3] = value
        lake = int(ds["lake_id"][3])
    with pytest.raises(InputDataError, match=rf"LAKEPARM.nc: {field} = {re.escape(f'{value:g}')} .*lake_id {lake}"):
        read_lakeparm(lakeparm)
