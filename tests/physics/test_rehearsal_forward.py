"""F1 forward rehearsal on a small basin: the dam cuts the peak, water is conserved, indicators add up."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.io.basin import BasinSpec
from hydro.stages.rehearsal import forward
from tests.helpers import make_network

# a tributary (1-3) with a dam at 3 joins the main stem (4-6); the town is at 6
NETWORK = make_network([1, 2, 3, 4, 5, 6], [2, 3, 5, 5, 6, 0], bottom_width=np.full(6, 40.0),
                       top_width=np.full(6, 60.0), top_width_cc=np.full(6, 200.0))
RESERVOIR = dict(id="dam", feature_id=3, level_m=[100, 110, 120, 130, 140], storage_m3=[0, 5e7, 1.5e8, 3e8, 5e8],
                 capacity_m3s=[0, 800, 2500, 5000, 8000], flood_limit_level=112.0, flood_control_high_level=125.0,
                 design_level=132.0, check_level=136.0, safe_release=300.0, min_release=20.0)
SECTION = dict(id="town", feature_id=6, safe_discharge=600.0, warning_stage=20.0, guaranteed_stage=22.0,
               rating_stage_m=[15, 18, 21, 24], rating_discharge_m3s=[10, 300, 700, 1500])


def _storm(hours=72):
    t = np.arange(hours)
    pulse = 900.0 * np.exp(-0.5 * ((t - 12) / 4.0) ** 2)
    lateral = np.full((hours, 6), 5.0)
    lateral[:, 0] += pulse  # the flood comes down the tributary, through the dam
    lateral[:, 3] += 0.3 * pulse
    times = np.datetime64("2026-07-01T01:00") + np.arange(hours) * np.timedelta64(1, "h")
    return lateral, times


def test_dam_cuts_the_peak_and_keeps_the_water_budget():
    lateral, times = _storm()
    no_dam = forward(NETWORK, BasinSpec(name="b", control_sections=[SECTION]), lateral, times)
    with_dam = forward(NETWORK, BasinSpec(name="b", reservoirs=[RESERVOIR], control_sections=[SECTION]), lateral, times)
    q0, q1 = no_dam.section_discharge["town"], with_dam.section_discharge["town"]
    assert q1.max() < 0.7 * q0.max()
    op = with_dam.reservoirs["dam"]
    assert op.release.max() == pytest.approx(300.0)  # the safe release held while storing
    # water stored in the reservoir is water missing at the town, to the hourly sampling of the dam's
    # inflow (the reservoir's own balance is exact, see test_reservoir_operation)
    stored = op.storage[-1] - op.storage[0]
    assert (q0.sum() - q1.sum()) * 3600.0 == pytest.approx(stored, rel=0.05)
    res = with_dam.reservoir_indicators[0]
    assert res.flood_storage_used_m3 == pytest.approx(op.storage.max() - 5e7 - 0.2 * 1e8, rel=1e-9)
    assert res.binding_steps.get("rule", 0) > 0


def test_section_indicators():
    lateral, times = _storm()
    out = forward(NETWORK, BasinSpec(name="b", control_sections=[SECTION]), lateral, times)
    ind = out.sections[0]
    q, h = out.section_discharge["town"], out.section_stage["town"]
    assert ind.peak_discharge == q.max() and ind.peak_stage == pytest.approx(h.max())
    assert ind.hours_above_warning == (h > 20.0).sum() > 0
    assert ind.excess_volume_m3 == pytest.approx(np.clip(q - 600.0, 0, None).sum() * 3600.0)


def test_hydro_rehearse_cli(tmp_path):
    import json
    import subprocess
    import sys

    from hydro.io.netcdf import lateral_dataset, write_dataset, write_network
    from tests.io.test_basin_toml import GOOD

    write_network(tmp_path / "net.nc", NETWORK)
    lateral, times = _storm()
    write_dataset(tmp_path / "forecast.nc", lateral_dataset(lateral.astype(np.float32), NETWORK.feature_id,
                                                            times - np.timedelta64(1, "h")))
    basin = GOOD.replace('name = "test"', 'name = "test"\nnetwork = "net.nc"').replace("feature_id = 11", "feature_id = 3")
    basin = basin.replace("feature_id = 99", "feature_id = 6")
    (tmp_path / "basin.toml").write_text(basin)
    proc = subprocess.run([sys.executable, "-m", "hydro.cli", "rehearse", str(tmp_path / "basin.toml"),
                           "--forecast", str(tmp_path / "forecast.nc"), "--json", "--output-dir", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["f1"]["control_sections"][0]["id"] == "town" and summary["f1"]["reservoirs"][0]["id"] == "upper"
    assert summary["verdict"]["accepted"] and summary["f2"]["risk"]["town"] == "safe"
    assert len(summary["inverse"]["schedule"]["upper"]) == 72
    import xarray as xr

    for name in ("f1.nc", "f2.nc", "f1.png", "f2.png", "summary.json"):
        assert (tmp_path / "out" / name).is_file()
    with xr.open_dataset(tmp_path / "out" / "f2.nc") as ds:
        assert ds.discharge.attrs["units"] == "m3 s-1" and float(ds.discharge.max()) <= 3000.0


def test_forward_inverse_forward_finds_a_safe_schedule():
    """With a lax rule (safe release 900) F1 floods the town; I finds releases that keep it below 600 m3/s,
    F2 confirms them on the full nonlinear model, and the storage limit is respected."""
    from hydro.stages.rehearsal import rehearse

    lax = {**RESERVOIR, "safe_release": 900.0}
    basin = BasinSpec(name="b", reservoirs=[lax], control_sections=[SECTION])
    lateral, times = _storm()
    out = rehearse(NETWORK, basin, lateral, times, objective="min_peak")
    assert out.f1.sections[0].peak_discharge > 600.0  # F1 exposes the risk
    assert out.accepted and out.inverse.feasible
    assert out.f2.section_discharge["town"].max() <= 600.0
    assert out.f2.reservoirs["dam"].level.max() <= 125.0
    schedule = out.inverse.schedule["dam"]
    assert schedule.min() >= 20.0 - 1e-6  # minimum release held
    assert any("town" in b for b in out.inverse.binding)


@pytest.mark.parametrize("objective", ["max_margin", "min_storage"])
def test_other_objectives_are_verified_too(objective):
    from hydro.stages.rehearsal import rehearse

    basin = BasinSpec(name="b", reservoirs=[{**RESERVOIR, "safe_release": 900.0}], control_sections=[SECTION])
    lateral, times = _storm()
    out = rehearse(NETWORK, basin, lateral, times, objective=objective)
    assert out.accepted and out.f2.section_discharge["town"].max() <= 600.0
    if objective == "max_margin":
        assert out.inverse.margin_m3s > 0.0  # the LP's margin below the safe discharge
    else:  # using as little storage as the target allows: the peak sits near the safe discharge
        assert out.f2.section_discharge["town"].max() > 450.0


def test_two_dams_in_cascade_and_in_parallel():
    """Dams on two tributaries (one of them below another dam): F1 upstream first, I finds both schedules."""
    from hydro.stages.rehearsal import rehearse

    # 1 -> 2 (dam A) -> 3 (dam B, below A) -> 7; 4 -> 5 (dam C) -> 7; 6 -> 7 -> 8 (town)
    net = make_network([1, 2, 3, 4, 5, 6, 7, 8], [2, 3, 7, 5, 7, 7, 8, 0], bottom_width=np.full(8, 40.0),
                       top_width=np.full(8, 60.0), top_width_cc=np.full(8, 200.0))
    dams = [{**RESERVOIR, "id": name, "feature_id": fid, "safe_release": 900.0} for name, fid in
            (("B", 3), ("A", 2), ("C", 5))]  # listed out of order on purpose
    basin = BasinSpec(name="b", reservoirs=dams, control_sections=[{**SECTION, "feature_id": 8}])
    hours = 72
    t = np.arange(hours)
    lateral = np.full((hours, 8), 5.0)
    lateral[:, 0] += 600.0 * np.exp(-0.5 * ((t - 12) / 4.0) ** 2)
    lateral[:, 3] += 500.0 * np.exp(-0.5 * ((t - 15) / 4.0) ** 2)
    times = np.datetime64("2026-07-01T01:00") + t * np.timedelta64(1, "h")
    out = rehearse(net, basin, lateral, times)
    assert out.f1.sections[0].peak_discharge > 600.0
    assert out.accepted and out.f2.section_discharge["town"].max() <= 600.0
    assert set(out.inverse.schedule) == {"A", "B", "C"}
    # dam B sees dam A's release, not the raw tributary flood
    assert out.f1.reservoir_inflow["B"].max() <= out.f1.reservoirs["A"].release.max() + 5.0 * 2 + 1e-6


def test_sections_on_the_main_stem_take_hydrodynamic_stage():
    stem_section = {**SECTION, "bed_datum_m": 12.0}
    basin = BasinSpec(name="b", main_stem=[4, 5, 6], control_sections=[stem_section])
    lateral, times = _storm()
    out = forward(NETWORK, basin, lateral, times)
    plain = forward(NETWORK, BasinSpec(name="b", control_sections=[SECTION]), lateral, times)
    q_dw, q_mc = out.section_discharge["town"], plain.section_discharge["town"]
    assert q_dw.max() == pytest.approx(q_mc.max(), rel=0.1)
    assert out.section_stage["town"].min() > 12.0  # datum + depth
    with pytest.raises(Exception, match="bed_datum_m"):
        BasinSpec(name="b", main_stem=[4, 5, 6], control_sections=[SECTION])


def test_stage_target_tightens_the_discharge_target():
    from hydro.stages.rehearsal import rehearse

    section = {**SECTION, "target_stage": 18.0}  # 300 m3/s on the rating, below the 600 safe discharge
    basin = BasinSpec(name="b", reservoirs=[{**RESERVOIR, "safe_release": 900.0}], control_sections=[section])
    assert basin.control_sections[0].target_discharge == pytest.approx(300.0)
    lateral, times = _storm()
    out = rehearse(NETWORK, basin, lateral, times, objective="min_storage")
    # the uncontrolled main-stem flood plus the dam's minimum release already reach ~300 m3/s: no
    # schedule meets the target, so the result is the minimum violation and the detention it needs
    assert not out.accepted and not out.inverse.feasible
    assert 0.0 < out.inverse.min_violation_m3s < 50.0 and out.inverse.detention_needed_m3 > 0.0
    assert out.f2.section_discharge["town"].max() < 320.0


def test_bad_rehearsal_input_is_named(tmp_path):
    from hydro.core.errors import ConfigError
    from hydro.io.netcdf import lateral_dataset, write_dataset, write_network
    from hydro.stages.rehearsal import load_rehearsal_inputs

    lateral, times = _storm(24)
    off_network = BasinSpec(name="b", control_sections=[{**SECTION, "feature_id": 99}])
    with pytest.raises(ConfigError, match="town sits on feature_id 99, which is not in the network"):
        forward(NETWORK, off_network, lateral, times)
    write_network(tmp_path / "network.nc", NETWORK, None)
    (tmp_path / "basin.toml").write_text(
        'name = "b"\nnetwork = "network.nc"\n[[control_sections]]\n'
        + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in SECTION.items()))
    starts = times - np.timedelta64(1, "h")
    write_dataset(tmp_path / "forecast.nc", lateral_dataset(lateral.astype(np.float32), NETWORK.feature_id,
                                                             starts.astype("datetime64[ns]")))
    with pytest.raises(ConfigError, match=r"forecast covers 24 h .* the rehearsal horizon is 72 h"):
        load_rehearsal_inputs(tmp_path / "basin.toml", tmp_path / "forecast.nc", hours=72)
