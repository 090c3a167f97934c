"""Cases of the independent hostile sweep, round 4 (issue 17): each fixed failure refused in one line naming the
file, option or value, or handled and said so in the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hydro.core.errors import ConfigError

from .conftest import write_small_reach_sections


def _bounds(tmp_path: Path, x3: str) -> Path:
    path = tmp_path / "b.toml"
    path.write_text('model = "gr4j"\n[parameters]\nX1 = { low = 10.0, high = 1500.0 }\nX2 = { low = -5.0, high = 3.0 }\n'
                    f"X3 = {{ low = {x3}, high = 500.0 }}\nX4 = {{ low = 0.5, high = 240.0 }}\n")
    return path


@pytest.mark.parametrize("x3", ['"1.0"', "true", "nan", "inf", '"abc"'])
def test_a_bound_that_is_not_a_finite_number_is_refused(tmp_path, x3):
    """X3 low = "1.0" was coerced and the calibration ran; "abc" raised a ValueError traceback."""
    from hydro.io.parameters import read_parameter_space

    with pytest.raises(ConfigError, match=r"b\.toml: parameters\.X3\.low = .* is not (a number|finite)"):
        read_parameter_space(_bounds(tmp_path, x3), "gr4j", ["X1", "X2", "X3", "X4"])


def test_a_plain_bound_still_reads(tmp_path):
    from hydro.io.parameters import read_parameter_space

    space = read_parameter_space(_bounds(tmp_path, "1"), "gr4j", ["X1", "X2", "X3", "X4"])
    assert space.low[2] == 1.0 and space.high[2] == 500.0


def test_flood_events_outside_the_record_are_logged(catchments_dir, tmp_path, caplog):
    """Every event of the table in the 1970s: the event statistics came out empty without a word."""
    from hydro.stages.calibrate import CalibrateOptions, run_calibration

    data = catchments_dir / "sieve_fornacina_hourly" / "sieve_fornacina_hourly.nc"
    events = tmp_path / "ev.csv"
    events.write_text("event_id,start,end,quality\n1972032412,1972-03-22T22:00,1972-03-25T13:00,ok\n")
    opts = CalibrateOptions(data=data, model="gr4j", warmup="1992-01-01/1992-01-31",
                            calibration="1992-02-01/1992-03-31", validation=None, evaluations=8,
                            output=tmp_path / "p.toml", progress=False, plots=False, events=events)
    with caplog.at_level(logging.WARNING, logger="hydro"):
        run_calibration(opts)
    assert any("ev.csv: 1 of 1 flood event(s) lie outside the record" in r.getMessage() for r in caplog.records)


def test_a_bad_second_config_is_refused_before_the_first_runs(tmp_path, capsys, monkeypatch):
    """hydro run good.toml bad.toml ran (and wrote) the first basin's cycle, then refused bad.toml."""
    from hydro.cli import main

    repo = Path(__file__).resolve().parents[2]
    good = tmp_path / "cycle.toml"
    good.write_text((repo / "basins" / "demo" / "cycle.toml").read_text())
    (tmp_path / "bad.toml").write_text("[cycle]\nbasin = 3\n")
    monkeypatch.chdir(tmp_path)
    code = main(["run", "cycle.toml", "bad.toml", "--output-dir", "runs", "--state-dir", "state"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hydro: error: bad.toml: cycle.basin"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "cycle.toml"]


def test_reservoir_levels_out_of_order_name_the_basin_file(tmp_path):
    """The refusal named the reservoir only ('demo_dam: characteristic levels must rise')."""
    from hydro.demo import demo_basin_dir
    from hydro.io.basin import read_basin

    text = (demo_basin_dir() / "basin.toml").read_text()  # generated on first use: a clean clone has no basins/demo
    assert "flood_limit_level = 110.0" in text
    path = tmp_path / "basin.toml"
    path.write_text(text.replace("flood_limit_level = 110.0", "flood_limit_level = 125.0"))
    with pytest.raises(ConfigError, match=r"basin\.toml: reservoirs\.0: demo_dam: characteristic levels must rise"):
        read_basin(path)


def test_a_reservoir_without_flood_control_zone_is_named_when_no_dispatch_exists():
    """flood_control_high_level = flood_limit_level (allowed) under an inflow above the outlet's capacity at the
    flood-limit level: the inverse ended in 'inverse LP failed (The problem is infeasible ...)'."""
    from hydro.io.basin import BasinSpec
    from hydro.stages.rehearsal import forward, inverse
    from tests.physics.test_rehearsal_inverse import NETWORK, RESERVOIR, TOWN, _flood

    dam = {**RESERVOIR, "flood_control_high_level": 110.0, "capacity_m3s": [0, 1000, 10000, 15000, 20000]}
    basin = BasinSpec(name="b", reservoirs=[dam], control_sections=[TOWN])
    lateral, times = _flood()
    f1 = forward(NETWORK, basin, lateral, times)
    with pytest.raises(ConfigError, match=r"reservoir\(s\) dam have no flood-control zone .* raise flood_control_high_level"):
        inverse(NETWORK, basin, lateral, times, f1)


# --------------------------------------------------------------------------- hydro route: messages that name and advise
@pytest.fixture
def route_work(tmp_path, monkeypatch) -> Path:
    from tests.hostile.test_sweep_route import _lake_network

    _lake_network(tmp_path)
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _netcdf_edit(path: str, edit) -> None:
    import xarray as xr

    with xr.open_dataset(path) as ds:
        ds = edit(ds.load())
    Path(path).unlink()
    ds.to_netcdf(path)


def _nan_ifd():
    import netCDF4

    with netCDF4.Dataset("LAKEPARM.nc", "a") as ds:
        ds["ifd"][:] = [float("nan")]


ROUTE_CASES = {
    # sweep case: (edit of the inputs, extra arguments, words the one error line must hold)
    "route_init_lake_nan": (lambda: _netcdf_edit("init.nc", lambda ds: ds.assign(
        water_sfc_elev=ds["water_sfc_elev"] * float("nan"))), ["--initial-state", "init.nc"],
        ["init.nc: initial water_sfc_elev is NaN at lake_id 77", "cold start"]),
    "route_init_half_ids": (lambda: _netcdf_edit("init.nc", lambda ds: ds.isel(feature_id=[0, 1])),
                            ["--initial-state", "init.nc"],
                            ["init.nc: initial state lacks 3 network feature(s), e.g. feature_id [3, 4, 77]", "cold start"]),
    "route_qlat_half_ids": (lambda: _netcdf_edit("qlat.nc", lambda ds: ds.isel(feature_id=[0, 1])), [],
                            ["qlat.nc: no lateral inflow for 2 segment(s), e.g. feature_id [3, 4]", "every segment"]),
    "route_lk_ifd_nan": (_nan_ifd, [],
                         ["LAKEPARM.nc: initial_fraction_depth is NaN for lake(s) [77]", "correct the file"]),
    "route_cli_hours_29": (None, ["--hours", "7"], ["qlat.nc: forcing covers 6 h but 7 h were requested (--hours)",
                                                     "at most 6 h"]),
    "route_cli_method_muskingum": (None, ["--method", "muskingum"], ["--method muskingum", "--method muskingum_cunge"]),
}


@pytest.mark.parametrize("case", ROUTE_CASES)
def test_route_refusals_name_the_input_and_what_to_do(case, route_work, capsys):
    import xarray as xr

    from tests.hostile.conftest import assert_refused, run_cli

    args = ["route", "--routelink", "RouteLink.nc", "--lakeparm", "LAKEPARM.nc", "--lateral", "qlat.nc",
            "--output", "out/route.nc", "--no-progress"]
    edit, extra, names = ROUTE_CASES[case]
    if "init.nc" in extra:  # a route output's last record as the state
        code, err = run_cli(capsys, *args)
        assert code == 0, err
        with xr.open_dataset("out/route.nc") as ds:
            ds.isel(time=-1).load().to_netcdf("init.nc")
        Path("out/route.nc").unlink()
    if edit is not None:
        edit()
    code, err = run_cli(capsys, *args, *extra)
    assert_refused(code, err, names)
    assert len(err.strip().splitlines()) == 1, err
    assert list((route_work / "out").iterdir()) == []


def test_a_second_run_on_the_same_output_folder_is_refused(tmp_path, capsys, monkeypatch):
    """Two runs with different state folders and one output folder both wrote the same cycle folder, unwarned
    (cycle_concurrent_other_state_same_output): the output folder is locked while a run writes its cycle folder
    (a run refused earlier leaves no lock file there)."""
    from hydro.cli import main
    from hydro.io.atomic import FolderLock

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "cycle.toml").write_text((repo / "basins" / "demo" / "cycle.toml").read_text())
    monkeypatch.chdir(tmp_path)
    with FolderLock(tmp_path / "runs", "output folder"):  # the other run, mid-cycle
        code = main(["run", "cycle.toml", "--output-dir", "runs", "--state-dir", "state2", "--stage", "forecast"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 3 and len(lines) == 1 and "runs: output folder is in use by pid" in lines[0], err
    assert not (tmp_path / "state2").exists()  # the refused run leaves no new state folder
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [".hydro.lock"]  # the holder's lock stays
    # refused on its configuration (cycle.start between rain steps): nothing of it stays
    code = main(["run", "cycle.toml", "--output-dir", "new/runs", "--state-dir", "state3", "--stage", "forecast",
                 "--start", "2026-07-01T00:07"])
    assert code == 2, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cycle.toml", "runs"]


@pytest.mark.parametrize("interval, suggestion", [("45", "60"), ("10", "30")])
def test_an_output_interval_off_the_step_names_both_options(tmp_path, capsys, interval, suggestion):
    """'output interval 45 s is not a whole multiple of dt 30 s' named neither option (hydraulics_cli_oi_45)."""
    from hydro.cli import main

    code = main(["hydraulics", "run", "--sections", str(tmp_path / "s.csv"), "--upstream", str(tmp_path / "q.csv"),
                 "--downstream", "normal", "--output", str(tmp_path / "out.nc"), "--output-interval", interval])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert f"--output-interval {interval} s is not a whole multiple of --dt 30 s" in lines[0]
    assert f"give e.g. --output-interval {suggestion}" in lines[0]
    assert not (tmp_path / "out.nc").exists()


def test_a_dam_that_can_release_nothing_is_refused_naming_its_file(tmp_path):
    """capacity_m3s all zero was routed to 'storage exceeds the level-storage curve at step 1 ... the dam
    overtops', naming neither res.toml nor the capacity (reservoir_toml_all_zero_capacity)."""
    import re

    from hydro.stages.reservoir_route import read_reservoir
    from tests.io.test_cli_reservoir import PROB_822

    path = tmp_path / "res.toml"
    path.write_text(re.sub(r"capacity_m3s = \[[^\]]*\]", "capacity_m3s = [0, 0, 0, 0, 0]", PROB_822))
    with pytest.raises(ConfigError, match=r"res\.toml: .*capacity_m3s is 0 at every level"):
        read_reservoir(path)


def test_a_control_section_off_the_network_names_the_basin_file(tmp_path):
    """'demo: outlet_town sits on feature_id 999999, which is not in the network' named neither the basin file
    nor the key (rehearse_basin_section_fid_unknown)."""
    from hydro.demo import demo_basin_dir
    from hydro.stages.rehearsal import load_rehearsal_inputs

    demo = demo_basin_dir()  # generated on first use: a clean clone has no basins/demo
    text = (demo / "basin.toml").read_text()
    assert "feature_id = 2961" in text
    (tmp_path / "basin.toml").write_text(text.replace("feature_id = 2961", "feature_id = 999999"))
    (tmp_path / "network.nc").symlink_to(demo / "network.nc")
    with pytest.raises(ConfigError, match=r"basin\.toml: control_sections\.0 \(\w+\): feature_id 999999 is not a "
                                          r"segment of the network network\.nc"):
        load_rehearsal_inputs(tmp_path / "basin.toml", tmp_path / "no_forecast.nc")


def test_toml_with_a_byte_order_mark_reads_and_latin1_says_utf8(tmp_path):
    """A basin or cycle TOML saved with a UTF-8 BOM was 'not valid TOML (Invalid statement (at line 1, column 1))'
    (cycle_cfg_bom, rehearse_basin_bom); Latin-1 text now says to save it as UTF-8."""
    from hydro.io.config import load_config

    demo = Path(__file__).resolve().parents[2] / "basins" / "demo" / "cycle.toml"
    text = demo.read_text()
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_config(tmp_path / "bom.toml") == load_config(demo)
    (tmp_path / "latin1.toml").write_bytes(("# crue d'été\n" + text).encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.toml: not valid TOML .*not UTF-8 \(save the file as UTF-8\)"):
        load_config(tmp_path / "latin1.toml")


def test_a_zero_inflow_at_the_start_or_hours_beyond_it_name_the_inflow_file(tmp_path, capsys):
    """An all-zero inflow was blamed on the sections file's first section (hydraulics_inflow_zero_flow)."""
    from hydro.cli import main

    write_small_reach_sections(tmp_path / "s.csv")
    (tmp_path / "q.csv").write_text("time,discharge_m3s\n2024-07-01T00:00,0\n2024-07-01T06:00,0\n")
    code = main(["hydraulics", "run", "--sections", str(tmp_path / "s.csv"), "--upstream", str(tmp_path / "q.csv"),
                 "--downstream", "normal", "--output", str(tmp_path / "out.nc")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 3 and len(lines) == 1, lines
    assert "q.csv: discharge_m3s 0 at its first time 2024-07-01T00:00:00" in lines[0] and "give a base flow" in lines[0]
    assert not (tmp_path / "out.nc").exists()
    # --hours beyond the inflow: named with the option (it was the solver's 'less than the 1e+06 h asked')
    (tmp_path / "q.csv").write_text("time,discharge_m3s\n2024-07-01T00:00,50\n2024-07-01T06:00,80\n")
    code = main(["hydraulics", "run", "--sections", str(tmp_path / "s.csv"), "--upstream", str(tmp_path / "q.csv"),
                 "--downstream", "normal", "--output", str(tmp_path / "out.nc"), "--hours", "1e6"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 3 and len(lines) == 1, lines
    assert "--hours 1e+06: " in lines[0] and "q.csv covers 6 h from 2024-07-01T00:00:00; ask for at most 6 h" in lines[0]
    assert not (tmp_path / "out.nc").exists()


@pytest.mark.parametrize("stage", ["1e9", "99"])
def test_an_upstream_stage_outside_the_first_section_names_the_option(tmp_path, capsys, stage):
    """--upstream-stage 1e9 was refused as the steady level being above XS000's lower end, naming the section
    file but not the option (hydraulics_steady_upstream_stage_1e9)."""
    from hydro.cli import main

    rows = ["section,chainage_m,station_m,elevation_m,manning_n"]
    for k, x in enumerate((0.0, 1000.0, 2000.0)):
        for st, el in ((0.0, 105.0), (1.0, 100.0), (21.0, 100.0), (22.0, 106.0)):
            rows.append(f"XS{k},{x},{st},{el - 0.01 * x},{0.03 if st < 22.0 else ''}")
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    code = main(["hydraulics", "steady", "--sections", str(tmp_path / "s.csv"), "--discharge", "50", "--regime",
                 "supercritical", "--upstream-stage", stage, "--output", str(tmp_path / "p.csv")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert f"--upstream-stage {float(stage):g} m is outside the first section 'XS0'" in lines[0]
    assert "(100 m thalweg .. 105 m lower end)" in lines[0]
    assert not (tmp_path / "p.csv").exists()


def test_a_cycle_between_rain_steps_is_refused(tmp_path, capsys, monkeypatch):
    """--start 00:07 ran on the rain of 00:00 .. (the forcing's step index floored), labelled 00:07
    (cycle_cfg_start_odd_minute)."""
    from hydro.cli import main

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "cycle.toml").write_text((repo / "basins" / "demo" / "cycle.toml").read_text())
    monkeypatch.chdir(tmp_path)
    code = main(["run", "cycle.toml", "--start", "2026-07-01T00:07", "--stage", "forecast", "--output-dir", "runs",
                 "--state-dir", "state"])
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 2 and len(lines) == 1, lines
    assert "the cycle starts at 2026-07-01T00:07, between the 10-minute rain steps of" in lines[0]
    assert "e.g. 2026-07-01T00:00 (cycle.start or --start)" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cycle.toml"]


def test_a_cycle_folder_completed_by_a_run_beside_is_not_overwritten(tmp_path, capsys, monkeypatch):
    """Two runs with different state folders on one output folder: the one that writes second found the cycle
    folder completed while it computed and overwrote it without a word (cycle_concurrent_other_state_same_output).
    The other run's COMPLETE is stamped after this run began (a future mtime stands for it)."""
    import os
    import time

    from hydro.cli import main

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "cycle.toml").write_text((repo / "basins" / "demo" / "cycle.toml").read_text())
    folder = tmp_path / "runs" / "cycle_20260701T0400"
    folder.mkdir(parents=True)
    (folder / "COMPLETE").write_text("the other run's\n")
    later = time.time() + 3600.0
    os.utime(folder / "COMPLETE", (later, later))
    monkeypatch.chdir(tmp_path)
    code = main(["run", "cycle.toml", "--output-dir", "runs", "--state-dir", "state2", "--stage", "forecast"])
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 3 and len(lines) == 1, lines
    assert "cycle_20260701T0400: another run (another state folder) completed this cycle folder" in lines[0]
    assert sorted(p.name for p in folder.iterdir()) == ["COMPLETE"]
    assert (folder / "COMPLETE").read_text() == "the other run's\n"
    assert not (tmp_path / "state2").exists()
