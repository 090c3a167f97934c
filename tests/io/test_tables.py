"""The one CSV table reader (hydro/io/tables.py) and the readers built on it: physical line numbers, one-line
errors naming file, line, column and value, and a file cut while being written never read as a shorter number."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydro.core.errors import ConfigError, InputDataError
from hydro.io.tables import read_table
from hydro.stages.reservoir_route import read_series

INFLOW = "time,inflow_m3s\n" + "".join(f"2026-07-01T{h:02d}:00,{100 + 37.25 * h:.2f}\n" for h in range(8))


def test_rows_carry_their_physical_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('# a comment above the header\n\ntime,value\n2026-07-01T00:00,1\n\n# note\n"2026-07-01\n'
                    'T01:00",2\n2026-07-01T02:00,3\n')
    table = read_table(path, "test table")
    assert table.header == ["time", "value"] and table.header_line == 3
    assert [(r.line, r.fields[1]) for r in table.rows] == [(4, "1"), (7, "2"), (9, "3")]  # a quoted line break counts
    assert str(table.error(9, "is too large", "value", "3")) == f"{path}: line 9: value '3' is too large"


def test_a_reader_names_the_physical_line_blank_and_comment_lines_counted(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("# inflow at the dam, from the gauge\ntime,inflow_m3s\n2026-07-01T00:00,10\n\n"
                    "# the gauge was cleaned here\n2026-07-01T01:00,abc\n")
    with pytest.raises(InputDataError, match=r"in.csv: row 6: inflow_m3s 'abc' is not a number"):
        read_series(path, "inflow_m3s", "inflow")


@pytest.mark.parametrize("ending", ["", "\r"])
def test_a_file_cut_after_a_number_is_refused_and_says_how_to_accept_it(tmp_path, ending):
    path = tmp_path / "in.csv"
    path.write_text(INFLOW.rstrip("\n")[:-1] + ending)  # "...,360.75" cut to "...,360.7" (no final newline)
    if ending:
        assert read_series(path, "inflow_m3s", "inflow")[1][-1] == 360.7  # a line end: the file says it is whole
        return
    with pytest.raises(InputDataError) as caught:
        read_series(path, "inflow_m3s", "inflow")
    assert str(caught.value) == (f"{path}: line 9: the file ends without a newline right after inflow_m3s '360.7', so "
                                 "it may have been cut off while being written and that value may be incomplete; "
                                 "restore the file, or if it is complete add the final newline")
    path.write_text(INFLOW.rstrip("\n") + "\n")  # complete, newline added: read
    assert read_series(path, "inflow_m3s", "inflow")[1][-1] == 360.75


def test_text_last_fields_and_header_only_files_need_no_final_newline(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("event_id,start,end,quality\ne1,2020-01-10,2020-01-20,ok")  # text last: nothing to cut short
    assert read_table(path, "flood-event table").rows[0].fields[-1] == "ok"
    path.write_text("time,inflow_m3s")
    assert read_table(path, "inflow").rows == []


@pytest.mark.parametrize("damage, said", [
    (b"time,value\n1,2\n\xff\xfe3,4\n", "line 3: inflow is not UTF-8 text (byte 0xff)"),
    (b"time,value\n1,2\n3,\x004\n", "line 3: inflow holds NUL bytes"),
    (b'time,value\n1,"2\n', "line 2: inflow is not valid CSV"),
    (b"\n# only a comment\n", "empty file; an inflow needs a header line"),
])
def test_damage_is_one_line_naming_the_line(tmp_path, damage, said):
    path = tmp_path / "in.csv"
    path.write_bytes(damage)
    with pytest.raises(InputDataError, match="^" + str(path) + ": ") as caught:
        read_table(path, "inflow")
    assert said in str(caught.value) and "\n" not in str(caught.value)


def test_folder_missing_file_and_configuration_tables(tmp_path):
    with pytest.raises(InputDataError, match="is a folder, not a inflow"):
        read_table(tmp_path, "inflow")
    with pytest.raises(ConfigError, match="thresholds not found"):
        read_table(tmp_path / "nowhere.csv", "thresholds", error_class=ConfigError)


def test_migrated_readers_count_comment_lines(tmp_path):
    from hydro.io.catchment import read_events
    from hydro.io.raingauges import read_pet_csv
    from hydro.io.thresholds import read_thresholds

    events = tmp_path / "x_events.csv"
    events.write_text("# flood events of the record\nevent_id,start,end\n\ne1,2020-01-10,2020-01-20\ne2,2020-02-10,2020-02-01\n")
    with pytest.raises(InputDataError, match=r"x_events.csv:5: event 'e2' ends"):
        read_events(events)
    pet = tmp_path / "pet.csv"
    pet.write_text("time,pet_mm\n# estimated\n2026-07-01T01:00,0.1\n2026-07-01T02:00,-1\n")
    with pytest.raises(InputDataError, match=r"pet.csv: line 4: pet_mm '-1'"):
        read_pet_csv(pet)
    thresholds = tmp_path / "thresholds.csv"
    thresholds.write_text("# levels of the provincial office\nid,feature_id,blue,source\n\na,x,1,office\n")
    with pytest.raises(ConfigError, match=r"thresholds.csv: line 4 \(a\): feature_id: 'x' is not an integer id"):
        read_thresholds(thresholds)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=1, max_value=len(INFLOW) - 1))
def test_a_file_cut_anywhere_is_refused_or_read_as_a_whole_prefix(tmp_path_factory, cut):
    """Cut at any byte: either refused, or exactly the first complete rows, never a shortened value."""
    path = tmp_path_factory.mktemp("cut") / "in.csv"
    path.write_text(INFLOW[:cut])
    whole_t, whole_q, _ = read_series_text(tmp_path_factory, INFLOW)
    try:
        t, q, _ = read_series(path, "inflow_m3s", "inflow")
    except InputDataError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    assert INFLOW[:cut].endswith("\n") or INFLOW[cut - 1] == ","  # only at a line end (or an empty last value)
    np.testing.assert_array_equal(q, whole_q[:q.size])
    assert (t == whole_t[:t.size]).all()


def read_series_text(factory, text):
    path = factory.mktemp("whole") / "in.csv"
    path.write_text(text)
    return read_series(path, "inflow_m3s", "inflow")


@pytest.mark.parametrize("ending", ["\n# end of export", "\n   ", "\n\n# exported by a logger\n  "])
def test_a_complete_table_ending_in_a_comment_or_blank_line_without_newline_reads(tmp_path, ending):
    """Only a file that ends inside its last data row may have been cut: one ending in a comment or a blank line
    (no final newline) was refused as cut off, naming the wrong line (review of the shared reader)."""
    path = tmp_path / "t.csv"
    path.write_text("time,q\n2020-01-01T00:00,10\n2020-01-01T01:00,8" + ending)
    table = read_table(path, "test table")
    assert [row.fields for row in table.rows] == [["2020-01-01T00:00", "10"], ["2020-01-01T01:00", "8"]]


def test_hydraulics_tables_take_a_note_after_a_hash_as_before(tmp_path):
    """'...,0.035 # gravel' in a sections or inflow file was read as 0.035 (pandas' comment); the shared reader
    refused it as not a number. Tables opt in; a row ending in a note is not taken for a cut file."""
    path = tmp_path / "in.csv"
    path.write_text("time,discharge_m3s\n2020-01-01T00:00,10 # base flow\n2020-01-01T01:00,80 # peak, as gauged")
    rows = read_table(path, "inflow series", inline_comments=True).rows
    assert [row.fields for row in rows] == [["2020-01-01T00:00", "10"], ["2020-01-01T01:00", "80"]]
    assert read_table(path, "table").rows[0].fields == ["2020-01-01T00:00", "10 # base flow"]  # others keep the text
