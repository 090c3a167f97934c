"""Detention basins in the basin file: a valid one loads; each mistake is one line naming the file and the basin
(exit 2 from the command line), and nothing is written."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hydro.core.errors import ConfigError
from hydro.io.basin import read_basin
from tests.io.test_basin_toml import GOOD

POLDER = """
[[detention_basins]]
id = "polder"
feature_id = 5
capacity_hm3 = 20.0
max_intake_m3s = 800.0
trigger_section = "town"
trigger_stage_m = 20.5
order = 1
area_km2 = 35.0
population = 12000
"""


def _basin_file(tmp_path, extra: str = POLDER) -> str:
    basin = GOOD.replace('name = "test"', 'name = "test"\nnetwork = "net.nc"').replace("feature_id = 11", "feature_id = 3")
    path = tmp_path / "basin.toml"
    path.write_text(basin.replace("feature_id = 99", "feature_id = 6") + extra)
    return str(path)


def test_a_valid_basin_loads_with_its_trigger_on_the_rating(tmp_path):
    basin = read_basin(_basin_file(tmp_path))
    (polder,) = basin.detention_basins
    assert polder.capacity_m3 == 2e7 and polder.population == 12000
    # 20.5 m on the town's rating (18 m: 1,000, 21 m: 3,000 m3/s)
    assert polder.trigger_discharge(basin.control_sections[0]) == pytest.approx(1000.0 + 2000.0 * 2.5 / 3.0)
    both = read_basin(_basin_file(tmp_path, POLDER.replace("order = 1", "order = 1\ntrigger_discharge_m3s = 1200.0")))
    assert both.detention_basins[0].trigger_discharge(both.control_sections[0]) == 1200.0  # the first reached


@pytest.mark.parametrize("edit, message", [
    (("capacity_hm3 = 20.0", "capacity_hm3 = 0.0"), "detention_basins.0.capacity_hm3"),
    (("max_intake_m3s = 800.0", "max_intake_m3s = -5.0"), "detention_basins.0.max_intake_m3s"),
    (("trigger_stage_m = 20.5", ""), "detention basin polder: give trigger_stage_m or trigger_discharge_m3s"),
    (("feature_id = 5", "feature_id = 3"), "detention basin polder: feature_id 3 is reservoir upper's segment"),
    (("trigger_stage_m = 20.5", "trigger_stage_m = 99.0"), "detention basin polder: trigger_stage_m 99 is outside "
                                                           "section town's rating"),
    (("capacity_hm3 = 20.0", "capacity_hm3 = 1e30"), "detention_basins.0.capacity_hm3"),  # m3 for hm3, or worse
    (("max_intake_m3s = 800.0", "max_intake_m3s = 1e30"), "detention_basins.0.max_intake_m3s"),
    (('id = "polder"', 'id = ""'), "detention_basins.0.id"),
    (('id = "polder"', 'id = "upper"'), "upper name both a reservoir and a detention basin"),
])
def test_schema_mistakes_name_the_basin(tmp_path, edit, message):
    path = _basin_file(tmp_path, POLDER.replace(*edit))
    with pytest.raises(ConfigError, match=message) as err:
        read_basin(path)
    assert str(err.value).startswith(path) and "\n" not in str(err.value)


@pytest.mark.parametrize("extra, message", [
    (POLDER + POLDER.replace('id = "polder"', 'id = "second"'),
     "overlapping basins on a segment: detention basins polder and second both take water from feature_id 5"),
    (POLDER.replace('trigger_section = "town"', 'trigger_section = "nowhere"'),
     "detention basin polder: trigger_section 'nowhere' is not a control section"),
    # a feature_id missing from the network is the basin file's mistake: it is named, with the entry
    (POLDER.replace("feature_id = 5", "feature_id = 77"),
     "basin.toml: detention_basins.0 (polder): feature_id 77 is not a segment of the network net.nc"),
])
def test_hydro_rehearse_refuses_with_one_line(tmp_path, extra, message):
    from hydro.io.netcdf import lateral_dataset, write_dataset, write_network
    from tests.physics.test_rehearsal_forward import NETWORK, _storm

    write_network(tmp_path / "net.nc", NETWORK)
    lateral, times = _storm(24)
    write_dataset(tmp_path / "forecast.nc", lateral_dataset(lateral.astype(np.float32), NETWORK.feature_id,
                                                            times - np.timedelta64(1, "h")))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "hydro.cli", "rehearse", _basin_file(tmp_path, extra),
                           "--forecast", str(tmp_path / "forecast.nc"), "--output-dir", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_a_segment_not_in_the_network_is_refused_when_the_network_is_cut(tmp_path):
    from hydro.routing.operated import OperatedNetwork
    from tests.physics.test_rehearsal_forward import NETWORK

    basin = read_basin(_basin_file(tmp_path, POLDER.replace("feature_id = 5", "feature_id = 77")))
    with pytest.raises(ConfigError, match="detention basin polder takes water from feature_id 77, which is not in "
                                          "the network; give the id of a river segment") as err:
        OperatedNetwork.for_basin(NETWORK, basin)
    assert "\n" not in str(err.value)
