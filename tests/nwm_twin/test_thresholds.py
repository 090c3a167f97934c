"""User warning thresholds (hydro/io/thresholds.py) and their grading (stages/warning.py grade_levels)."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.core.errors import ConfigError
from hydro.io.thresholds import read_thresholds
from hydro.stages.warning import grade_levels

HEADER = "id,feature_id,section,quantity,units,blue,yellow,orange,red,source\n"


def test_csv_and_toml_read_the_same_stations_in_si_units(tmp_path):
    (tmp_path / "t.csv").write_text("# levels of the flood office\n" + HEADER
                                    + "austin,5781917,,discharge,ft3 s-1,,10000,20000,40000,NWS example\n"
                                    + "town,,outlet_town,stage,ft,17,18,25,30,county plan 2024\n")
    (tmp_path / "t.toml").write_text(
        '[[threshold]]\nid = "austin"\nfeature_id = 5781917\nunits = "ft3 s-1"\nyellow = 10000\norange = 20000\n'
        'red = 40000\nsource = "NWS example"\n\n'
        '[[threshold]]\nid = "town"\nsection = "outlet_town"\nquantity = "stage"\nunits = "ft"\nblue = 17\n'
        'yellow = 18\norange = 25\nred = 30\nsource = "county plan 2024"\n')
    csv, toml = read_thresholds(tmp_path / "t.csv"), read_thresholds(tmp_path / "t.toml")
    assert csv == toml
    austin, town = csv
    assert austin.levels[0] is None and austin.levels[1] == pytest.approx(10000 * 0.3048**3)  # 283.17 m3/s
    assert austin.feature_id == 5781917 and austin.section is None and austin.units == "m3 s-1"
    assert town.levels == pytest.approx((17 * 0.3048, 18 * 0.3048, 25 * 0.3048, 30 * 0.3048))
    assert town.section == "outlet_town" and town.source == "county plan 2024"


@pytest.mark.parametrize("row, message", [
    ("a,1,,discharge,m3 s-1,10,5,20,30,office", "must rise"),
    ("a,1,,discharge,m3 s-1,1,2,3,4,", "'source' is missing"),
    ("a,1,s1,discharge,m3 s-1,1,2,3,4,office", "exactly one of feature_id"),
    ("a,1,,discharge,m,1,2,3,4,office", "units 'm' are not a discharge unit"),
    ("a,1,,stage,furlong s-1,1,2,3,4,office", "units 'furlong s-1' are not a stage unit"),
    ("a,1,,depth,m,1,2,3,4,office", "quantity 'depth'"),
    ("a,1,,discharge,m3 s-1,,,,,office", "no level given"),
    ("a,1,,discharge,m3 s-1,1,x,3,4,office", "'x' is not a number"),
])
def test_bad_rows_are_one_line_errors_naming_file_row_and_station(tmp_path, row, message):
    path = tmp_path / "t.csv"
    path.write_text(HEADER + row + "\n")
    with pytest.raises(ConfigError, match=message) as err:
        read_thresholds(path)
    assert str(err.value).startswith(f"{path}: line 2 (a)")
    assert "\n" not in str(err.value)


def test_duplicate_station_and_unknown_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "a,1,,discharge,m3 s-1,1,2,3,4,x\na,2,,discharge,m3 s-1,1,2,3,4,x\n")
    with pytest.raises(ConfigError, match=r"duplicate station id\(s\) \['a'\]"):
        read_thresholds(path)
    path.write_text("id,feature_id,colour,source\na,1,red,x\n")
    with pytest.raises(ConfigError, match=r"unknown column\(s\) \['colour'\]"):
        read_thresholds(path)


def test_grade_is_the_highest_level_reached_with_first_crossing_and_hours():
    times = np.arange("2021-08-23T14", "2021-08-23T20", dtype="datetime64[h]").astype("datetime64[ns]")
    flow = np.array([10.0, 40.0, 120.0, 250.0, 180.0, 90.0])
    w = grade_levels(times, flow, (50.0, 100.0, 200.0, 400.0), "g", "discharge")
    assert (w.grade, w.first_crossing, w.hours_at_grade, w.peak) == ("orange", "2021-08-23T17:00", 1.0, 250.0)
    assert w.trigger == "discharge >= orange level (200)"
    w = grade_levels(times, flow, (None, 100.0, None, None), "g", "discharge")  # a gap in the levels
    assert (w.grade, w.first_crossing, w.hours_at_grade) == ("yellow", "2021-08-23T16:00", 3.0)
    w = grade_levels(times, flow, (300.0, 400.0, 500.0, 600.0), "g", "discharge")
    assert (w.grade, w.first_crossing, w.trigger) == ("none", None, "no level reached")


def test_stations_on_segments_and_on_a_section_stage(tmp_path):
    from hydro.io.basin import BasinSpec
    from hydro.stages.warning import grade_user_thresholds

    spec = BasinSpec.model_validate({"name": "b", "control_sections": [{
        "id": "town", "feature_id": 2, "safe_discharge": 300.0, "warning_stage": 5.0, "guaranteed_stage": 7.0,
        "rating_stage_m": [2.0, 6.0, 10.0], "rating_discharge_m3s": [0.0, 200.0, 600.0]}]})
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "up,1,,discharge,m3 s-1,5,10,20,40,office\n"
                    + "town,,town,stage,m,4.0,5.0,7.0,9.0,county plan\n")
    times = np.arange("2021-01-01T01", "2021-01-01T04", dtype="datetime64[h]").astype("datetime64[ns]")
    flow = np.array([[1.0, 50.0], [12.0, 150.0], [8.0, 260.0]])  # [hours, segments 1 and 2]
    stage = {"town": np.interp(flow[:, 1], [0.0, 200.0, 600.0], [2.0, 6.0, 10.0])}  # 3.0, 5.0, 6.6 m
    records, series = grade_user_thresholds(read_thresholds(path), spec, np.array([1, 2]), times, flow,
                                            {"town": flow[:, 1]}, stage)
    by_id = {r["id"]: r for r in records}
    assert by_id["up"]["grade"] == "yellow" and by_id["up"]["peak_m3s"] == 12.0
    assert by_id["town"]["grade"] == "yellow" and by_id["town"]["peak_stage_m"] == pytest.approx(6.6)
    assert by_id["town"]["first_crossing"] == "2021-01-01T02:00" and by_id["town"]["threshold_source"] == "county plan"
    assert set(series) == {"up", "town"}
    path.write_text(HEADER + "x,,nowhere,stage,m,1,2,3,4,office\n")
    with pytest.raises(ConfigError, match="section 'nowhere' is not a control section of basin b"):
        grade_user_thresholds(read_thresholds(path), spec, np.array([1, 2]), times, flow, {}, {})
    path.write_text(HEADER + "x,1,,stage,m,1,2,3,4,office\n")
    with pytest.raises(ConfigError, match="stage levels need a control section"):
        grade_user_thresholds(read_thresholds(path), spec, np.array([1, 2]), times, flow, {}, {})
