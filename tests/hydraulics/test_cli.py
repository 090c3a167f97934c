"""``hydro hydraulics run|steady`` end to end, and bad input: one line naming file, section and value,
exit 3, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.cli import main

BED_SLOPE = 4e-4


def write_sections(path: Path, chainages=(0.0, 5000.0, 10000.0, 15000.0), points=None, banks=True, n=0.035):
    """A trapezoidal reach (20 m bottom, 2:1 sides, 6 m deep) as SECTIONS.csv."""
    rows = []
    for k, x in enumerate(chainages):
        bed = 50.0 - BED_SLOPE * x
        pts = points or [(0.0, 6.0), (12.0, 0.0), (32.0, 0.0), (44.0, 6.0)]
        for st, dz in pts:
            row = {"section": f"XS{k}", "chainage_m": x, "station_m": st, "elevation_m": bed + dz, "manning_n": n}
            if banks:
                row.update(left_bank_m=0.0, right_bank_m=pts[-1][0])
            rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_inflow(path: Path, hours=24, peak=400.0, base=40.0, every_min=15, values=None):
    t = np.arange(0, hours * 60 + 1, every_min) / 60
    q = base + (peak - base) * np.exp(-0.5 * ((t - 6) / 2) ** 2) if values is None else values
    times = pd.Timestamp("2026-07-01T00:00") + pd.to_timedelta(t, unit="h")
    pd.DataFrame({"time": [x.isoformat() for x in times], "discharge_m3s": q}).to_csv(path, index=False)
    return path


def test_run_writes_cf_netcdf_with_mass_balance(tmp_path, capsys):
    sections = write_sections(tmp_path / "sections.csv")
    inflow = write_inflow(tmp_path / "inflow.csv")
    lateral = tmp_path / "lateral.csv"
    t = pd.Timestamp("2026-07-01T00:00") + pd.to_timedelta(np.arange(0, 25), unit="h")
    pd.DataFrame({"time": [x.isoformat() for x in t], "chainage_m": 7500.0, "discharge_m3s": 25.0}).to_csv(lateral, index=False)
    out = tmp_path / "out.nc"
    code = main(["hydraulics", "run", "--sections", str(sections), "--upstream", str(inflow), "--downstream", "normal",
                 "--lateral", str(lateral), "--dt", "30", "--output-interval", "300", "--output", str(out), "--json"])
    assert code == 0
    with xr.open_dataset(out) as ds:
        assert ds["discharge"].dims == ("time", "chainage")
        assert ds["discharge"].attrs["units"] == "m3 s-1"
        assert ds["water_level"].attrs["standard_name"] == "water_surface_height_above_reference_datum"
        assert ds["depth"].attrs["units"] == "m"
        assert ds.attrs["Conventions"].startswith("CF-")
        assert ds.sizes["time"] == 24 * 12 + 1 and ds["chainage"].values[-1] == 15000.0
        assert int(ds["surveyed"].sum()) == 4 and ds.sizes["chainage"] == 61  # 250 m nodes
        assert abs(ds.attrs["mass_balance_relative_error"]) < 1e-6
        q = ds["discharge"].values
        assert q[-1, -1] == pytest.approx(65.0, rel=0.02)  # base flow + tributary
        peaks = q.max(axis=0)
        assert peaks[0] == pytest.approx(400.0, rel=1e-6) and np.all(np.diff(peaks[:30]) < 0)  # attenuates


def test_steady_csv_and_netcdf(tmp_path, capsys):
    sections = write_sections(tmp_path / "sections.csv")
    for name in ("steady.csv", "steady.nc"):
        assert main(["hydraulics", "steady", "--sections", str(sections), "--discharge", "200", "--downstream", "normal",
                     "--output", str(tmp_path / name)]) == 0
    table = pd.read_csv(tmp_path / "steady.csv")
    assert list(table.columns[:6]) == ["chainage_m", "section", "thalweg_m", "discharge_m3s", "water_level_m", "depth_m"]
    # a uniform channel at normal depth: Manning's equation for the trapezoid
    h = table["depth_m"].to_numpy()
    np.testing.assert_allclose(h, h[-1], rtol=1e-6)
    a, p = h[0] * (20 + 2 * h[0]), 20 + 2 * h[0] * np.sqrt(5)
    assert a * (a / p) ** (2 / 3) / 0.035 * np.sqrt(BED_SLOPE) == pytest.approx(200.0, rel=1e-3)
    with xr.open_dataset(tmp_path / "steady.nc") as ds:
        np.testing.assert_allclose(ds["depth"].values, h, rtol=1e-5)


def _bad(tmp_path, case):
    """(arguments, words the message must hold) for one bad-input case."""
    sec = tmp_path / "sections.csv"
    inflow = write_inflow(tmp_path / "inflow.csv")
    down = "normal"
    if case == "non_monotonic_chainage":
        write_sections(sec, chainages=(0.0, 5000.0, 4000.0, 15000.0))
        words = ["XS2", "4000", "does not increase"]
    elif case == "decreasing_chainage":
        write_sections(sec, chainages=(15000.0, 10000.0, 5000.0, 0.0))
        words = ["decreases", "increasing downstream", "HEC-RAS"]
    elif case == "two_points":
        write_sections(sec)
        df = pd.read_csv(sec)
        df = df.drop(index=[5, 6]).reset_index(drop=True)
        df.to_csv(sec, index=False)
        words = ["XS1", "2 point", "at least 3"]
    elif case == "bank_outside":
        write_sections(sec)
        df = pd.read_csv(sec)
        df.loc[df["section"] == "XS2", "right_bank_m"] = 60.0
        df.to_csv(sec, index=False)
        words = ["XS2", "right_bank_m = 60", "outside"]
    elif case == "manning_not_positive":
        write_sections(sec)
        df = pd.read_csv(sec)
        df.loc[9, "manning_n"] = 0.0
        df.to_csv(sec, index=False)
        words = ["XS2", "manning_n = 0", "> 0"]
    elif case == "rating_not_increasing":
        write_sections(sec)
        rating = tmp_path / "rating.csv"
        pd.DataFrame({"water_level_m": [44.5, 45.0, 45.5, 46.0], "discharge_m3s": [0.0, 100.0, 90.0, 400.0]}).to_csv(rating, index=False)
        down = f"rating:{rating}"
        words = ["rating.csv", "discharge_m3s", "not increasing", "row 4", "100 then 90"]
    elif case == "inflow_gap":
        write_sections(sec)
        df = pd.read_csv(inflow).drop(index=[10, 11]).reset_index(drop=True)
        df.to_csv(inflow, index=False)
        words = ["inflow.csv", "gap", "45 min"]
    elif case == "inflow_nan":
        write_sections(sec)
        df = pd.read_csv(inflow)
        df["discharge_m3s"] = df["discharge_m3s"].astype(object)
        df.loc[7, "discharge_m3s"] = ""
        df.to_csv(inflow, index=False)
        words = ["inflow.csv", "discharge_m3s is empty", "row 9"]
    elif case == "not_contained":
        write_sections(sec, points=[(0.0, 1.0), (2.0, 0.0), (22.0, 0.0), (24.0, 1.0)])
        words = ["XS", "above the section", "extend"]
    else:
        raise AssertionError(case)
    return ["hydraulics", "run", "--sections", str(sec), "--upstream", str(inflow), "--downstream", down,
            "--output", str(tmp_path / "out.nc")], words


@pytest.mark.parametrize("case", ["non_monotonic_chainage", "decreasing_chainage", "two_points", "bank_outside",
                                  "manning_not_positive", "rating_not_increasing", "inflow_gap", "inflow_nan",
                                  "not_contained"])
def test_bad_input_is_one_line_exit_3_and_writes_nothing(tmp_path, capsys, case):
    argv, words = _bad(tmp_path, case)
    assert main(argv) == 3
    err = capsys.readouterr().err.strip().splitlines()
    message = [line for line in err if line.startswith("hydro: error:")]
    assert len(message) == 1, err
    for word in words:
        assert word in message[0], (word, message[0])
    assert not (tmp_path / "out.nc").exists()
    assert not list(tmp_path.glob(".out.nc*"))


def test_run_with_a_gated_dam_and_a_weir(tmp_path, capsys):
    sections = write_sections(tmp_path / "sections.csv", points=[(0.0, 12.0), (24.0, 0.0), (44.0, 0.0), (68.0, 12.0)])
    inflow = write_inflow(tmp_path / "inflow.csv")
    t = pd.Timestamp("2026-07-01T00:00") + pd.to_timedelta([0, 6, 12, 24], unit="h")
    pd.DataFrame({"time": [x.isoformat() for x in t], "release_m3s": [40.0, 150.0, 40.0, 40.0]}).to_csv(
        tmp_path / "release.csv", index=False)
    pd.DataFrame({"name": ["dam", "weir"], "chainage_m": [3000.0, 12000.0], "type": ["gate", "weir"],
                  "crest_m": [np.nan, 47.0], "width_m": [np.nan, 20.0], "coefficient": [np.nan, 1.7],
                  "initial_level_m": [53.0, np.nan], "schedule": ["release.csv", ""]}).to_csv(
        tmp_path / "structures.csv", index=False)
    out = tmp_path / "out.nc"
    assert main(["hydraulics", "run", "--sections", str(sections), "--upstream", str(inflow), "--downstream", "normal",
                 "--structures", str(tmp_path / "structures.csv"), "--output", str(out)]) == 0
    with xr.open_dataset(out) as ds:
        below_dam = ds["discharge"].sel(chainage=3001.0).values
        assert below_dam[12 * 6] == pytest.approx(150.0, rel=1e-6)  # 06:00, the schedule (linear between its rows)
        assert below_dam[12 * 9] == pytest.approx(95.0, rel=1e-6)  # 09:00
        assert abs(ds.attrs["mass_balance_relative_error"]) < 1e-6


def test_a_gate_without_its_schedule_is_one_line(tmp_path, capsys):
    sections = write_sections(tmp_path / "sections.csv")
    inflow = write_inflow(tmp_path / "inflow.csv")
    pd.DataFrame({"name": ["dam"], "chainage_m": [3000.0], "type": ["gate"], "initial_level_m": [53.0]}).to_csv(
        tmp_path / "structures.csv", index=False)
    assert main(["hydraulics", "run", "--sections", str(sections), "--upstream", str(inflow), "--downstream", "normal",
                 "--structures", str(tmp_path / "structures.csv"), "--output", str(tmp_path / "out.nc")]) == 3
    assert "gate 'dam' at row 2 needs a schedule" in capsys.readouterr().err
    assert not (tmp_path / "out.nc").exists()
