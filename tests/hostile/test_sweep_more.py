"""More cases of the independent hostile sweep: ``hydro run`` with a garbage ``--start`` or a dead or garbage
``--scheduler``; ``hydro demo`` with a user cache that is a file, read-only, or damaged, and on a full disk;
``hydro rehearse`` with a schedule giving two releases for one reservoir and time, or an unfinished cycle folder.
Each refusal: the documented exit code, one error line naming the option or file, no traceback, nothing written."""

from __future__ import annotations

import pytest

from tests.helpers import DEMO_CYCLE_2H

from .conftest import assert_refused, listing, run_cli, write_small_reach_sections

CONFIG = DEMO_CYCLE_2H


@pytest.mark.parametrize(("option", "value"), [
    ("--start", "tomorrow"),
    ("--scheduler", "not-an-address"),
    ("--scheduler", "tcp://127.0.0.1:9"),  # the discard port: nothing answers
])
def test_run_refuses_bad_start_or_scheduler(tmp_path, capsys, option, value):
    (tmp_path / "cycle.toml").write_text(CONFIG)
    before = listing(tmp_path)
    code, err = run_cli(capsys, "run", tmp_path / "cycle.toml", "--stage", "forecast", "--members", "2", option, value)
    assert_refused(code, err, [option, value], expected_codes=(2,))
    assert listing(tmp_path) == before and sorted(tmp_path.rglob("*")) == [tmp_path / "cycle.toml"]


@pytest.fixture
def whatif_basin(tmp_path):
    from tests.io.test_cli_whatif import basin

    return basin.__wrapped__(tmp_path)


def _rehearse_schedule(basin, capsys, schedule: str) -> tuple[int, str]:
    """``hydro rehearse`` of the what-if basin with ``schedule`` (CSV text) as s.csv."""
    (basin / "s.csv").write_text(schedule)
    return run_cli(capsys, "rehearse", basin / "basin.toml", "--forecast", basin / "forecast.nc",
                   "--schedule", basin / "s.csv", "--output-dir", basin / "out")


def test_schedule_with_two_releases_for_one_reservoir_and_time_is_refused(whatif_basin, capsys):
    code, err = _rehearse_schedule(whatif_basin, capsys, "time,reservoir,release_m3s\n2026-07-01T00:00,dam,20\n"
                                   "2026-07-01T06:00,dam,250\n2026-07-01T06:00,dam,100\n")
    assert_refused(code, err, ["s.csv", "rows 3 and 4", "two releases for dam at 2026-07-01T06:00"], expected_codes=(3,))
    assert not (whatif_basin / "out").exists()


def test_the_same_release_given_twice_is_accepted(whatif_basin, capsys):
    """A repeated identical row is no conflict (a schedule pasted together from two sheets)."""
    from hydro.io.basin import read_basin
    from hydro.stages.rehearsal import read_forecast_lateral, read_schedule
    from hydro.io.netcdf import read_network

    (whatif_basin / "s.csv").write_text("time,reservoir,release_m3s\n2026-07-01T00:00,dam,20\n"
                                        "2026-07-01T06:00,dam,250\n2026-07-01T06:00,dam,250\n")
    network, _ = read_network(whatif_basin / "network.nc")
    _, times, _ = read_forecast_lateral(whatif_basin / "forecast.nc", network)
    release = read_schedule(whatif_basin / "s.csv", read_basin(whatif_basin / "basin.toml"), times)["dam"]
    assert list(release[:8]) == [20.0] * 6 + [250.0] * 2


def test_rehearsal_from_a_cycle_folder_without_complete_is_refused(whatif_basin, capsys):
    """A cycle folder that a killed hydro run left: its files, but no COMPLETE marker (written last)."""
    import shutil

    cycle = whatif_basin / "cycle_20260701T0000"
    cycle.mkdir()
    shutil.copy(whatif_basin / "forecast.nc", cycle / "forecast.nc")
    shutil.copy(whatif_basin / "forecast.nc", cycle / "forecast_qlat.nc")
    code, err = run_cli(capsys, "rehearse", whatif_basin / "basin.toml", "--forecast", cycle, "--output-dir",
                        whatif_basin / "out")
    assert_refused(code, err, [str(cycle), "did not complete", "rerun the cycle"], expected_codes=(3,))
    assert not (whatif_basin / "out").exists()


# --------------------------------------------------------------------------- the user cache (demo basin)
def test_demo_refuses_a_cache_that_is_a_file(tmp_path, capsys, monkeypatch):
    (tmp_path / "cachefile").write_text("x")
    monkeypatch.setenv("HYDRO_CACHE_DIR", str(tmp_path / "cachefile"))
    code, err = run_cli(capsys, "demo", "--output-dir", tmp_path / "d")
    assert_refused(code, err, [str(tmp_path / "cachefile"), "HYDRO_CACHE_DIR", "writable folder"], expected_codes=(2,))
    assert sorted(tmp_path.iterdir()) == [tmp_path / "cachefile"]


def test_a_cache_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    """A read-only cache (a read-only mount: root ignores a folder's mode, so the refusal of the file system is
    what is simulated here) is a ConfigError naming it, not a traceback from mkdtemp."""
    import errno
    import tempfile

    from hydro.core.errors import ConfigError
    from hydro.core.workspace import cached_build

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    with pytest.raises(ConfigError, match=r"ro: the hydro user cache cannot be written there \(Read-only file system\)"):
        cached_build(tmp_path / "ro" / "demo", lambda tmp: None)
    assert not (tmp_path / "ro" / "demo").exists()


def test_a_damaged_cached_folder_is_rebuilt_with_a_warning(tmp_path, caplog):
    from hydro.core.workspace import cached_build

    def build(folder):
        (folder / "value.txt").write_text("42")

    def verify(folder):
        if (folder / "value.txt").read_text() != "42":
            raise ValueError("value.txt is cut")

    folder = cached_build(tmp_path / "demo", build, verify)
    (folder / "value.txt").write_text("4")  # cut
    with caplog.at_level("WARNING", logger="hydro"):
        assert cached_build(tmp_path / "demo", build, verify) == folder
    assert (folder / "value.txt").read_text() == "42"
    assert any("damaged (value.txt is cut); rebuilding it" in r.getMessage() for r in caplog.records)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no aside or building folder left


def test_the_demo_basin_check_refuses_a_cut_network(whatif_basin):
    from hydro.demo import _readable_basin

    _readable_basin(whatif_basin)
    data = (whatif_basin / "network.nc").read_bytes()
    (whatif_basin / "network.nc").write_bytes(data[: len(data) // 2])
    with pytest.raises(Exception, match="network.nc"):
        _readable_basin(whatif_basin)


def test_a_release_no_river_carries_is_refused(whatif_basin, capsys):
    """1e6 m3/s in a dispatcher's schedule was capped at the capacity and reported; hydro reservoir route refused
    the same value: both refuse it now (sweep round 3)."""
    code, err = _rehearse_schedule(whatif_basin, capsys, "time,reservoir,release_m3s\n2026-07-01T00:00,dam,20\n"
                                   "2026-07-01T01:00,dam,1e6\n")
    assert_refused(code, err, ["s.csv", "release_m3s 1e6", "more than any river carries"], expected_codes=(3,))
    assert not (whatif_basin / "out").exists()


def test_a_reservoir_table_names_the_point_that_does_not_increase(tmp_path, capsys):
    from tests.io.test_cli_reservoir import PROB_822

    text = PROB_822.replace("81.0e6", "75.0e6")
    assert text != PROB_822
    (tmp_path / "res.toml").write_text(text)
    (tmp_path / "in.csv").write_text("time,inflow_m3s\n2024-07-01T00:00,60\n2024-07-01T01:00,80\n")
    code, err = run_cli(capsys, "reservoir", "route", tmp_path / "res.toml", "--inflow", tmp_path / "in.csv",
                        "--output", tmp_path / "o.csv")
    assert_refused(code, err, ["res.toml", "storage_m3[1] = 7.5e+07 after storage_m3[0] = 7.5e+07"])
    assert not (tmp_path / "o.csv").exists()


def test_a_schedule_for_another_period_is_refused(tmp_path, capsys):
    from tests.io.test_cli_reservoir import GATED

    (tmp_path / "res.toml").write_text(GATED)
    (tmp_path / "in.csv").write_text("time,inflow_m3s\n2024-07-01T00:00,60\n2024-07-01T06:00,80\n")
    (tmp_path / "s.csv").write_text("time,release_m3s\n2024-07-05T00:00,50\n2024-07-05T06:00,60\n")
    code, err = run_cli(capsys, "reservoir", "route", tmp_path / "res.toml", "--inflow", tmp_path / "in.csv",
                        "--output", tmp_path / "o.csv", "--schedule", tmp_path / "s.csv")
    assert_refused(code, err, ["s.csv", "every release", "after the inflow's end"], expected_codes=(3,))
    assert not (tmp_path / "o.csv").exists()


def _reach_files(tmp_path, inflow_text):
    write_small_reach_sections(tmp_path / "s.csv")
    (tmp_path / "q.csv").write_text(inflow_text)
    return ["hydraulics", "run", "--sections", tmp_path / "s.csv", "--upstream", tmp_path / "q.csv",
            "--downstream", "normal", "--output", tmp_path / "out.nc"]


def test_a_hydraulics_inflow_cut_while_written_is_refused(tmp_path, capsys):
    """The hydraulics' CSV files are read by the shared table reader: an inflow file cut in its last value (80
    read as 8) was a silently wrong flood; it is refused naming the line."""
    args = _reach_files(tmp_path, "time,discharge_m3s\n2024-07-01T00:00,50\n2024-07-01T03:00,60\n2024-07-01T06:00,8")
    code, err = run_cli(capsys, *args)
    assert_refused(code, err, ["q.csv", "line 4", "cut off while being written"], expected_codes=(3,))
    assert not (tmp_path / "out.nc").exists()


def test_a_hydraulics_file_names_the_line_an_editor_shows(tmp_path, capsys):
    """Comment and blank lines count: the bad value is named at its physical line."""
    args = _reach_files(tmp_path, "time,discharge_m3s\n# gauge 12\n\n2024-07-01T00:00,50\n2024-07-01T03:00,x\n"
                                  "2024-07-01T06:00,80\n")
    code, err = run_cli(capsys, *args)
    assert_refused(code, err, ["q.csv", "discharge_m3s is 'x' at row 5"], expected_codes=(3,))
