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
    ("a,1,,discharge,cfs,1,2,3,4,office", "units 'cfs'"),
    ("a,1,,depth,m,1,2,3,4,office", "quantity 'depth'"),
    ("a,1,,discharge,m3 s-1,,,,,office", "no level given"),
    ("a,1,,discharge,m3 s-1,1,x,3,4,office", "'x' is not a number"),
])
def test_bad_rows_are_one_line_errors_naming_file_row_and_station(tmp_path, row, message):
    path = tmp_path / "t.csv"
    path.write_text(HEADER + row + "\n")
    with pytest.raises(ConfigError, match=message) as err:
        read_thresholds(path)
    assert str(err.value).startswith(f"{path}: row 2 (a)")
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
