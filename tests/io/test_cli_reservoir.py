"""``hydro reservoir route``: free spill against a peer, schedules, and bad input (one line, exit 2/3, no output)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hydro.cli import main

DATA = Path(__file__).parent.parent / "data" / "reservoir"

PROB_822 = """id = "prob822"
level_m = [0.0, 1.0, 2.0, 3.0, 4.0]
storage_m3 = [75.0e6, 81.0e6, 87.5e6, 100.0e6, 110.2e6]
capacity_m3s = [57.0, 227.0, 519.0, 1330.0, 2270.0]
spillway = "free"
"""

GATED = """id = "dam"
feature_id = 7
level_m = [100.0, 110.0, 120.0, 130.0, 140.0]
storage_m3 = [0.0, 50e6, 150e6, 300e6, 500e6]
capacity_m3s = [0.0, 800.0, 2500.0, 5000.0, 8000.0]
flood_limit_level = 112.0
flood_control_high_level = 125.0
design_level = 132.0
check_level = 136.0
safe_release = 1500.0
min_release = 50.0
"""


def _hourly_csv(path: Path, values, column="inflow_m3s", every_h=1, start="2024-07-01T00:00"):
    times = pd.Timestamp(start) + pd.to_timedelta(np.arange(len(values)) * every_h, unit="h")
    pd.DataFrame({"time": [t.isoformat() for t in times], column: values}).to_csv(path, index=False)
    return path


def _run(capsys, *args):
    code = main(["reservoir", "route", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_free_spill_reproduces_chow_problem_8_2_2(tmp_path, capsys):
    """Chow, Maidment & Mays (1988) Problem 8.2.2 at its textbook step of 2 h: the published storage-
    indication outflows (peak 1,148 m3/s at 16 h), through the command."""
    (tmp_path / "res.toml").write_text(PROB_822)
    inflow = _hourly_csv(tmp_path / "in.csv", [60, 100, 232, 300, 520, 1310, 1930, 1460, 930, 650] + [0] * 9, every_h=2)
    code, out, _ = _run(capsys, tmp_path / "res.toml", "--inflow", inflow, "--output", tmp_path / "out.csv", "--dt", 7200)
    assert code == 0 and "peak release 1,147.9 m3/s at 2024-07-01T16:00:00" in out
    got = pd.read_csv(tmp_path / "out.csv")
    assert list(got.columns) == ["time", "inflow_m3s", "release_m3s", "level_m", "storage_m3"]
    published = [57.0, 61.3, 80.6, 115.0, 169.6, 348.2, 768.3, 1119.2, 1147.9, 1012.3,
                 752.1, 481.0, 347.0, 250.4, 196.2, 159.9, 130.3, 106.2, 86.5]
    np.testing.assert_allclose(got["release_m3s"], published, atol=0.1)
    assert got["time"].iloc[0] == "2024-07-01T00:00:00" and len(got) == 19


def test_free_spill_against_swmm_level_pool_at_one_hour(tmp_path, capsys):
    """A free-spill reservoir (tabulated area and outlet rating) routed by EPA SWMM 5.2 (pyswmm 2.2.0,
    kinematic-wave routing of a storage unit: trapezoidal level pool with the outlet's tabulated rating)
    at 1-hour routing and report steps; tests/data/reservoir/make_swmm_reference.py made the reference.
    Release within 0.1 % of the peak, level within 1 cm."""
    ref = pd.read_csv(DATA / "swmm_reference.csv")
    code, out, _ = _run(capsys, DATA / "peer_reservoir.toml", "--inflow", DATA / "peer_inflow.csv",
                        "--output", tmp_path / "out.csv")
    assert code == 0, out
    got = pd.read_csv(tmp_path / "out.csv")
    assert list(got["time"]) == list(ref["time"])
    peak = ref["release_m3s"].max()
    assert np.abs(got["release_m3s"] - ref["release_m3s"]).max() <= 1e-3 * peak
    assert np.abs(got["level_m"] - ref["level_m"]).max() <= 0.01


def test_constant_schedule_above_capacity_is_reported(tmp_path, capsys):
    (tmp_path / "res.toml").write_text(GATED)
    inflow = _hourly_csv(tmp_path / "in.csv", [1000.0] * 13)
    schedule = _hourly_csv(tmp_path / "s.csv", [3000.0], column="release_m3s")
    code, out, _ = _run(capsys, tmp_path / "res.toml", "--inflow", inflow, "--output", tmp_path / "out.csv",
                        "--schedule", schedule, "--initial-level", 114)
    assert code == 0
    lines = [line for line in out.splitlines() if "cannot follow" in line]
    assert len(lines) == 12 and "2024-07-01T00:00:00: cannot release 3,000.0 m3/s: capacity at" in lines[0]
    got = pd.read_csv(tmp_path / "out.csv")
    storage = got["storage_m3"].to_numpy()
    cap = np.interp(storage, [0.0, 50e6, 150e6, 300e6, 500e6], [0.0, 800.0, 2500.0, 5000.0, 8000.0])
    assert (got["release_m3s"] <= cap * (1 + 1e-8)).all() and (got["release_m3s"] < 3000.0).all()


def test_rules_and_a_schedule_within_capacity(tmp_path, capsys):
    (tmp_path / "res.toml").write_text(GATED)
    inflow = _hourly_csv(tmp_path / "in.csv", [600.0, 3000.0, 4000.0, 2000.0, 600.0], every_h=3)
    code, out, _ = _run(capsys, tmp_path / "res.toml", "--inflow", inflow, "--output", tmp_path / "rule.csv")
    assert code == 0 and "cannot follow" not in out
    rule = pd.read_csv(tmp_path / "rule.csv")
    assert len(rule) == 13 and rule["level_m"].iloc[0] == 112.0 and rule["release_m3s"].max() == pytest.approx(1500.0)
    # linear interpolation of the inflow between its times
    assert rule["inflow_m3s"].iloc[1] == pytest.approx(600.0 + 2400.0 / 3)
    schedule = tmp_path / "s.csv"
    schedule.write_text("time,release_m3s\n2024-07-01T00:00,800\n2024-07-01T06:00,1200\n")
    code, out, _ = _run(capsys, tmp_path / "res.toml", "--inflow", inflow, "--output", tmp_path / "s_out.csv",
                        "--schedule", schedule, "--dt", 1800)
    got = pd.read_csv(tmp_path / "s_out.csv")
    assert code == 0 and "cannot follow" not in out and len(got) == 25
    np.testing.assert_allclose(got["release_m3s"].iloc[1:13], 800.0)
    np.testing.assert_allclose(got["release_m3s"].iloc[13:], 1200.0)


BAD = [
    # (what to break, exit code, words the one error line must hold)
    ("inflow_text", 3, ["in.csv", "row 4", "'abc'", "not a number"]),
    ("inflow_negative", 3, ["in.csv", "row 3", "'-5'"]),
    ("inflow_time", 3, ["in.csv", "row 3", "'yesterday'", "ISO time"]),
    ("inflow_time_not_iso", 3, ["in.csv", "row 3", "'01 01:00:00'", "ISO time"]),  # pandas alone: year 1
    ("inflow_order", 3, ["in.csv", "row 4", "not after"]),
    ("inflow_columns", 3, ["in.csv", "time,inflow_m3s", "missing inflow_m3s"]),
    ("toml_unknown_key", 2, ["res.toml", "colour", "unknown key"]),
    ("toml_empty_id", 2, ["res.toml", "id: String should have at least 1 character"]),
    ("toml_levels", 2, ["res.toml", "level and storage must increase"]),
    ("gated_without_rules", 2, ["res.toml", "needs flood_limit_level"]),
    ("free_with_schedule", 2, ["res.toml", "no gates"]),
    ("schedule_late", 3, ["s.csv", "row 2", "after the first inflow time"]),
    ("initial_level", 2, ["--initial-level 9", "outside"]),
    ("overtops", 3, ["prob822", "overtops"]),
    # a 12-hour step over an hourly flood: the step ends would see 60 m3/s, not the 520 m3/s peak
    ("dt_steps_over_the_peak", 3, ["in.csv", "--dt 14400 s is too coarse", "520.0 m3/s", "divides 3600 s"]),
    ("years_of_steps", 3, ["in.csv", "more than 2,000,000", "mistyped year"]),
    ("duplicate_column", 3, ["in.csv", "inflow_m3s appear more than once"]),
    ("schedule_zone_mismatch", 3, ["s.csv", "carry a time zone", "in.csv"]),
    ("schedule_other_reservoir", 3, ["s.csv", "row 2", "'other' is not 'dam'"]),
    ("schedule_before", 3, ["s.csv", "before the inflow's start", "another period"]),
    ("schedule_between_steps", 3, ["s.csv", "2024-07-01T00:30:00 changes between two step starts"]),
]


@pytest.mark.parametrize("case, exit_code, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, case, exit_code, words):
    res = tmp_path / "res.toml"
    res.write_text(PROB_822)
    values = [60.0, 100.0, 232.0, 300.0, 520.0]
    inflow = _hourly_csv(tmp_path / "in.csv", values)
    extra = []
    if case == "inflow_text":
        inflow.write_text(inflow.read_text().replace(",232.0", ",abc"))
    elif case == "inflow_negative":
        inflow.write_text(inflow.read_text().replace(",100.0", ",-5"))
    elif case == "inflow_time":
        inflow.write_text(inflow.read_text().replace("2024-07-01T01:00:00", "yesterday"))
    elif case == "inflow_time_not_iso":
        inflow.write_text(inflow.read_text().replace("2024-07-01T01:00:00", "01 01:00:00"))
    elif case == "inflow_order":
        inflow.write_text(inflow.read_text().replace("2024-07-01T02:00:00", "2024-07-01T00:30:00"))
    elif case == "inflow_columns":
        inflow.write_text(inflow.read_text().replace("inflow_m3s", "flow"))
    elif case == "toml_empty_id":
        res.write_text(PROB_822.replace('id = "prob822"', 'id = ""'))
    elif case == "toml_unknown_key":
        res.write_text(PROB_822 + 'colour = "blue"\n')
    elif case == "toml_levels":
        res.write_text(PROB_822.replace("[0.0, 1.0, 2.0", "[0.0, 2.0, 1.0"))
    elif case == "gated_without_rules":
        res.write_text(PROB_822.replace('spillway = "free"', ""))
    elif case == "free_with_schedule":
        extra = ["--schedule", _hourly_csv(tmp_path / "s.csv", [100.0], column="release_m3s")]
    elif case == "schedule_late":
        res.write_text(GATED)
        extra = ["--schedule", _hourly_csv(tmp_path / "s.csv", [100.0], column="release_m3s", start="2024-07-01T02:00")]
    elif case == "initial_level":
        extra = ["--initial-level", 9]
    elif case == "overtops":
        inflow = _hourly_csv(tmp_path / "in.csv", [20000.0] * 30)
    elif case == "dt_steps_over_the_peak":
        inflow = _hourly_csv(tmp_path / "in.csv", [60.0, 100.0, 232.0, 300.0, 520.0, 300.0, 200.0, 100.0, 60.0])
        extra = ["--dt", 14400]
    elif case == "years_of_steps":
        inflow.write_text("time,inflow_m3s\n0001-01-01T00:00,600\n9999-12-31T00:00,700\n")
    elif case == "duplicate_column":
        inflow.write_text("time,inflow_m3s,inflow_m3s\n" + "".join(f"2024-07-01T0{h}:00,{v},1\n" for h, v in enumerate(values)))
    elif case == "schedule_zone_mismatch":
        res.write_text(GATED)
        (tmp_path / "s.csv").write_text("time,release_m3s\n2024-07-01T00:00+08:00,800\n2024-07-01T06:00+08:00,1200\n")
        extra = ["--schedule", tmp_path / "s.csv"]
    elif case == "schedule_other_reservoir":
        res.write_text(GATED)
        (tmp_path / "s.csv").write_text("time,reservoir,release_m3s\n2024-07-01T00:00,other,800\n")
        extra = ["--schedule", tmp_path / "s.csv"]
    elif case == "schedule_between_steps":
        res.write_text(GATED)
        (tmp_path / "s.csv").write_text("time,release_m3s\n2024-07-01T00:00,800\n2024-07-01T00:30,3000\n"
                                        "2024-07-01T01:00,800\n")
        extra = ["--schedule", tmp_path / "s.csv"]
    elif case == "schedule_before":
        res.write_text(GATED)
        (tmp_path / "s.csv").write_text("time,release_m3s\n2024-06-01T00:00,800\n2024-06-02T00:00,900\n")
        extra = ["--schedule", tmp_path / "s.csv"]
    out = tmp_path / "out.csv"
    code, _, err = _run(capsys, res, "--inflow", inflow, "--output", out, *extra)
    assert code == exit_code, err
    errors = [line for line in err.splitlines() if line.startswith("hydro: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in errors[0], errors[0]
    assert not out.exists() and not list(tmp_path.glob(".out.csv.*"))
