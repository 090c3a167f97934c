"""Gauge observations (the cycle's [assimilation] observations, hydro.io.observations.read_gauge_observations)
damaged or implausible, and a nowcast ensemble too large for memory: each is one line naming the file (or the
option), the row and the value, exit 3 (input data) or 2 (a request too large), no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hydro.core.errors import InputDataError
from hydro.io.observations import read_gauge_observations

from .conftest import DAMAGE, assert_refused, damage_ids, listing, run_cli

HEADER = "time,link,discharge_m3s,quality\n"
# gauges on segments 3 and 5 of the hostile basin (feature_id 1..25), over the analysis hour
ROWS = [f"2026-07-01T00:{m:02d}:00,{link},{q:.3f},100\n" for m in (0, 15, 30, 45) for link, q in ((3, 1.25), (5, 0.75))]
RUN = ["run", "cycle.toml", "--stage", "forecast", "--cold"]


@pytest.fixture
def cycle_with_gauges(workspace, monkeypatch):
    """The hostile workspace's cycle with [assimilation] observations = gauges.csv (valid)."""
    monkeypatch.chdir(workspace)
    with open(workspace / "cycle.toml", "a") as f:
        f.write('\n[assimilation]\nobservations = "gauges.csv"\n')
    (workspace / "gauges.csv").write_text(HEADER + "".join(ROWS))
    return workspace


def refused_run(capsys, workspace: Path, names) -> str:
    """``hydro run`` refuses with one line naming ``names``; no output, the state as it was (lock aside)."""
    code, err = run_cli(capsys, *RUN)
    assert_refused(code, err, names, expected_codes=(3,))
    assert listing(workspace / "out") == {}, "an output was left behind"
    assert {k for k in listing(workspace / "state") if not Path(k).name.startswith(".")} == set()
    return err


def test_valid_observations_are_read_in_order(cycle_with_gauges):
    obs = read_gauge_observations(Path("gauges.csv"), np.arange(1, 26))
    assert obs.feature_id.tolist() == [3, 5]
    assert obs.times[0] == np.datetime64("2026-07-01T00:00:00") and obs.times.size == 4
    assert np.all(obs.flow == [1.25, 0.75]) and np.all(obs.quality == 1.0)


@pytest.mark.parametrize("damage", damage_ids())
def test_damaged_observation_file_is_one_line(damage, cycle_with_gauges, capsys):
    DAMAGE[damage](cycle_with_gauges / "gauges.csv")
    refused_run(capsys, cycle_with_gauges, "gauges.csv")


# (what is written in place of the valid table, what the line must name)
BAD_TABLES = {
    "missing_column": ("time,link,flow\n2026-07-01T00:00:00,3,1.0\n", ["gauges.csv", "discharge_m3s"]),
    "header_only": (HEADER, ["gauges.csv", "no rows"]),
    "non_numeric_discharge": (HEADER + ROWS[0] + "2026-07-01T00:15:00,3,high,100\n", ["row 2 (line 3)", "'high'"]),
    "negative_discharge": (HEADER + ROWS[0] + "2026-07-01T00:15:00,3,-999999,100\n", ["row 2 (line 3)", "-999999"]),
    "implausible_discharge": (HEADER + "2026-07-01T00:15:00,3,1e30,100\n", ["row 1 (line 2)", "1e+30", "300000"]),
    "nan_discharge": (HEADER + ROWS[0] + "2026-07-01T00:15:00,3,NaN,100\n", ["row 2 (line 3)", "missing"]),
    "empty_discharge": (HEADER + "2026-07-01T00:15:00,3,,100\n", ["row 1 (line 2)", "missing"]),
    "time_not_parsing": (HEADER + ROWS[0] + "01/07/2026 25:00,3,1.0,100\n", ["row 2 (line 3)", "'01/07/2026 25:00'"]),
    "link_not_an_id": (HEADER + "2026-07-01T00:15:00,3.5,1.0,100\n", ["row 1 (line 2)", "link", "'3.5'"]),
    "quality_out_of_range": (HEADER + "2026-07-01T00:15:00,3,1.0,150\n", ["row 1 (line 2)", "quality", "'150'"]),
    "no_gauge_on_the_network": (HEADER + "2026-07-01T00:15:00,999,1.0,100\n",
                                ["gauges.csv", "row 1 (line 2)", "'999'", "not a segment of the network"]),
    "one_stray_gauge": (HEADER + ROWS[0] + "2026-07-01T00:15:00,999,1.0,100\n",
                        ["gauges.csv", "row 2 (line 3)", "'999'", "not a segment of the network"]),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_implausible_rows_are_one_line(case, cycle_with_gauges, capsys):
    text, names = BAD_TABLES[case]
    (cycle_with_gauges / "gauges.csv").write_text(text)
    refused_run(capsys, cycle_with_gauges, names)


def test_a_link_off_the_network_is_named(tmp_path):
    path = tmp_path / "gauges.csv"
    path.write_text(HEADER + "".join(ROWS) + "2026-07-01T00:15:00,4711,1.0,100\n")
    with pytest.raises(InputDataError, match=r"gauges.csv: link = '4711' at row 9 \(line 10\) is not a segment"):
        read_gauge_observations(path, np.arange(1, 26))


def test_a_csv_cut_while_being_written_is_refused_naming_its_last_line(tmp_path):
    """Cut in the middle of the last discharge (no final newline): 0.7 read from 0.750 would be a wrong number
    that looks right. The line counts the comment and blank lines an editor shows (the shared CSV reader)."""
    path = tmp_path / "gauges.csv"
    text = "# USGS timeslices\n" + HEADER + "\n" + "".join(ROWS)
    path.write_text(text[:-7])  # ...,5,0.750,100\n cut to ...,5,0.7
    with pytest.raises(InputDataError) as refused:
        read_gauge_observations(path, np.arange(1, 26))
    message = str(refused.value)
    assert message.startswith(f"{path}: line 11: ") and "discharge_m3s '0.7'" in message and "cut off" in message
    assert "\n" not in message
    # the complete file is read; its rows are named by their physical lines
    path.write_text(text)
    assert read_gauge_observations(path, np.arange(1, 26)).flow.shape == (4, 2)
    path.write_text(text + "2026-07-01T00:15:00,4711,1.0,100\n")
    with pytest.raises(InputDataError, match=r"link = '4711' at row 9 \(line 12\)"):
        read_gauge_observations(path, np.arange(1, 26))


@pytest.mark.parametrize("damage", ["nul", "latin1"])
def test_a_binary_observation_file_is_refused_naming_the_line(damage, tmp_path):
    path = tmp_path / "gauges.csv"
    rows = (HEADER + "".join(ROWS)).encode()
    bad = b"\x00\x01\x02" if damage == "nul" else "Höhe".encode("latin-1")
    at = rows.index(b"\n", rows.index(b"\n") + 1) + 1  # the start of line 3
    path.write_bytes(rows[:at] + bad + rows[at:])
    with pytest.raises(InputDataError) as refused:
        read_gauge_observations(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: line 3: gauge observation table") and "\n" not in message
    assert ("NUL bytes" if damage == "nul" else "not UTF-8") in message


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty"])
def test_damaged_parquet_is_one_line(damage, tmp_path):
    import pandas as pd

    path = tmp_path / "gauges.parquet"
    frame = pd.DataFrame({"time": pd.date_range("2026-07-01", periods=200, freq="15min"), "link": 3,
                          "discharge_m3s": np.linspace(1.0, 5.0, 200), "quality": 100})
    frame.to_parquet(path)
    assert read_gauge_observations(path).flow.shape == (200, 1)
    DAMAGE[damage](path)
    try:
        obs = read_gauge_observations(path)
    except InputDataError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    else:  # flipped bytes that parquet's decoder did not notice must at least leave plausible values
        assert damage == "flipped" and np.all((obs.flow >= 0) & (obs.flow <= 3e5))


NOWCAST = ["nowcast", "--radar", "radar.nc", "--issue-time", "2026-01-01T00:30", "--lead-minutes", "10",
           "--method", "sprog", "--output", "out/now.nc"]


def test_a_nowcast_ensemble_too_large_for_memory_is_refused(workspace, monkeypatch, capsys):
    monkeypatch.chdir(workspace)
    monkeypatch.setattr("hydro.core.memory.available_memory_bytes", lambda: 64 * 2**10)
    code, err = run_cli(capsys, *NOWCAST, "--members", "50")
    assert_refused(code, err, ["50-member nowcast", "32 x 32 cells", "MiB of memory", "0.1 MiB is available",
                               "--members"], expected_codes=(2,))
    assert listing(workspace / "out") == {}


def test_a_nowcast_ensemble_within_memory_runs(workspace, monkeypatch, capsys):
    monkeypatch.chdir(workspace)
    code, err = run_cli(capsys, *NOWCAST, "--members", "2")
    assert code == 0, err
    assert (workspace / "out" / "now.nc").is_file()
