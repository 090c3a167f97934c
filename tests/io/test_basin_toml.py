"""Basin TOML for the rehearsal stage: valid files load into curves and rules; mistakes name the key path."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.core.errors import ConfigError
from hydro.io.basin import read_basin
from hydro.reservoir.operation import operate

GOOD = """
name = "test"
[[reservoirs]]
id = "upper"
feature_id = 11
level_m = [100, 110, 120, 130, 140]
storage_m3 = [0, 5e7, 1.5e8, 3e8, 5e8]
capacity_m3s = [0, 800, 2500, 5000, 8000]
flood_limit_level = 112.0
flood_control_high_level = 125.0
design_level = 132.0
check_level = 136.0
safe_release = 1500.0
min_release = 50.0

[[control_sections]]
id = "town"
feature_id = 99
safe_discharge = 3000.0
warning_stage = 20.0
guaranteed_stage = 22.0
rating_stage_m = [15, 18, 21, 24]
rating_discharge_m3s = [100, 1000, 3000, 6000]
"""


def test_basin_loads_and_runs(tmp_path):
    path = tmp_path / "basin.toml"
    path.write_text(GOOD)
    basin = read_basin(path)
    reservoir = basin.reservoirs[0]
    res = operate(reservoir.curves(), reservoir.rules(), np.full(5, 700.0), 3600.0, 112.0)
    assert np.allclose(res.release, 700.0)
    section = basin.control_sections[0]
    assert section.stage(np.array([3000.0]))[0] == pytest.approx(21.0)


@pytest.mark.parametrize("edit, message", [
    (("safe_release = 1500.0", "safe_release = 1500.0\nspillway = 3"), "reservoirs.0.spillway: unknown key"),
    (("capacity_m3s = [0, 800, 2500, 5000, 8000]", "capacity_m3s = [0, 800]"), "same length"),
    (("safe_discharge = 3000.0", "safe_discharge = -1.0"), "control_sections.0.safe_discharge"),
    (("flood_limit_level = 112.0", "flood_limit_level = 127.0"), "characteristic levels must rise"),
    (("guaranteed_stage = 22.0", "guaranteed_stage = 19.0"), "guaranteed_stage must not be below"),
    (("level_m = [100, 110, 120, 130, 140]", "level_m = [100, 110, 105, 130, 140]"), "level and storage must increase"),
    # a section on the dam's own segment sees its inflow, which no release changes
    (("feature_id = 99", "feature_id = 11"), "control section town: feature_id 11 is reservoir upper's segment"),
    (('id = "town"', 'id = " "'), "a control section has an empty id"),
    # TOML has types: a number written as a string, or a boolean, is refused rather than read as a number
    (("flood_limit_level = 112.0", 'flood_limit_level = "112"'), r"reservoirs.0.flood_limit_level: .*valid number .*'112'"),
    (("min_release = 50.0", "min_release = true"), r"reservoirs.0.min_release: .*valid number .*True"),
    (("feature_id = 99", "feature_id = 99.0"), r"control_sections.0.feature_id: .*valid integer"),
])
def test_mistakes_are_named(tmp_path, edit, message):
    path = tmp_path / "basin.toml"
    path.write_text(GOOD.replace(*edit))
    with pytest.raises(ConfigError, match=message):
        read_basin(path)


@pytest.mark.parametrize("key", ["warning_stage", "safe_discharge", "flood_limit_level"])
def test_nan_and_inf_are_refused_with_their_key_path(tmp_path, key):
    """`warning_stage = nan` once made a town at 8.57 m report "0 h above warning": nan now fails at load."""
    path = tmp_path / "basin.toml"
    for bad in ("nan", "inf"):
        path.write_text("\n".join(f"{key} = {bad}" if line.startswith(f"{key} =") else line for line in GOOD.splitlines()))
        with pytest.raises(ConfigError, match=rf"{key}: .*finite"):
            read_basin(path)
