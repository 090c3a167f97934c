"""``hydro calibrate``: the JSON interface on real data, where its defaults come from and go, and one-line
errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from hydro.core.workspace import packaged
from tests.conftest import REPO
from tests.io.test_cli_bad_input import _assert_one_line_error

SIEVE_SPLIT = ["--warmup", "1992-01-01/1992-03-31", "--calibration", "1992-04-01/1994-12-31",
               "--validation", "1995-01-01/1996-12-31"]


def _calibrate(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "hydro.cli", "calibrate", *args], capture_output=True, text=True,
                          cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], capture_output=True, text=True,
                          cwd=REPO, check=True).stdout


@pytest.mark.parametrize("model", ["xaj", "gr4j"])
def test_calibrate_prints_one_json_object_with_both_blocks(catchments_dir, tmp_path, model):
    data = catchments_dir / "sieve_fornacina_hourly" / "sieve_fornacina_hourly.nc"
    out = tmp_path / f"{model}.toml"
    code, stdout, stderr = _calibrate("--data", str(data), "--model", model, *SIEVE_SPLIT, "--json",
                                      "--evaluations", "300", "--output", str(out))
    assert code == 0, stderr
    summary = json.loads(stdout)
    for block in ("calibration", "validation"):
        b = summary[block]
        for key in ("nse", "kge", "dc", "qr_peak", "qr_peak_time", "qr_depth", "qr", "grade", "n_events"):
            assert key in b, key
        assert b["n_events"] > 0 and -1.0 < b["nse"] <= 1.0
    assert summary["evaluations"] == 300
    # even a short search beats the mean-flow predictor on the calibration period
    assert summary["calibration"]["nse"] > 0.5
    written = out.read_text()
    assert f'model = "{summary["model"]}"' in written and "[calibration" in written
    assert len(summary["plots"]) == 2
    # the calibrated set's run: the scores computed again from the file are the printed ones
    with xr.open_dataset(summary["simulation"]) as ds:
        for code, block in ((1, "calibration"), (2, "validation")):
            on = ds.calibration_period.values == code
            obs, sim = ds.discharge_observed.values[on], ds.discharge_simulated.values[on]
            have = np.isfinite(obs)
            nse = 1.0 - np.sum((sim[have] - obs[have]) ** 2) / np.sum((obs[have] - obs[have].mean()) ** 2)
            assert nse == pytest.approx(summary[block]["nse"], rel=1e-9) and ds.attrs[f"{block}_nse"] == summary[block]["nse"]
        assert (ds.calibration_period.values == 0).sum() == 91 * 24  # the warm-up, 1992-01-01 .. 03-31
        assert ds.attrs["model"] == summary["model"] and ds.discharge_simulated.attrs["units"] == "m3 s-1"


def test_calibrate_writes_to_the_current_directory_by_default(catchments_dir, tmp_path):
    """No --output: ``<data stem>_<model>.toml`` and its event PNGs in the current directory, search ranges
    from the packaged defaults, nothing written into the checkout; no catchment description is a log line."""
    data = catchments_dir / "sieve_fornacina_hourly" / "sieve_fornacina_hourly.nc"
    before = _git_status()
    code, stdout, stderr = _calibrate("--data", str(data), "--model", "xaj", *SIEVE_SPLIT, "--json",
                                      "--evaluations", "32", cwd=tmp_path)
    assert code == 0, stderr
    summary = json.loads(stdout)
    out = tmp_path / "sieve_fornacina_hourly_xaj.toml"
    assert summary["output"] == str(out) and out.is_file()
    assert summary["bounds"] == str(packaged("models", "xaj/hourly.toml"))
    assert summary["plots"] and all(Path(p).parent == tmp_path for p in summary["plots"])
    series = tmp_path / "sieve_fornacina_hourly_xaj_simulation.nc"
    assert summary["simulation"] == str(series)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, series.name] + [Path(p).name for p in summary["plots"]])
    assert summary["catchment"] is None and "no catchment description at" in stderr
    assert _git_status() == before


def _bad_record(tmp_path, catchments_dir, change):
    src = catchments_dir / "sieve_fornacina_hourly" / "sieve_fornacina_hourly.nc"
    with xr.open_dataset(src) as ds:
        ds = ds.isel(time=slice(0, 24 * 200)).load()
    change(ds)
    path = tmp_path / "bad.nc"
    ds.to_netcdf(path)
    return path


def test_nan_precipitation_is_named(catchments_dir, tmp_path):
    def poke(ds):
        ds["precipitation"][100] = np.nan

    path = _bad_record(tmp_path, catchments_dir, poke)
    code, _, stderr = _calibrate("--data", str(path), "--model", "xaj", "--warmup", "1992-01-01/1992-01-31",
                                 "--calibration", "1992-02-01/1992-06-30", "--output", str(tmp_path / "p.toml"))
    _assert_one_line_error(code, stderr, "bad.nc", "precipitation", "1992-01-05T04")
    assert code == 3 and not (tmp_path / "p.toml").exists()


def test_period_outside_record_and_bad_bounds(catchments_dir, tmp_path):
    data = catchments_dir / "sieve_fornacina_hourly" / "sieve_fornacina_hourly.nc"
    code, _, stderr = _calibrate("--data", str(data), "--model", "xaj", "--warmup", "1991-01-01/1991-12-31",
                                 "--calibration", "1992-01-01/1992-12-31", "--output", str(tmp_path / "p.toml"))
    _assert_one_line_error(code, stderr, "--warmup 1991-01-01/1991-12-31", "outside the record")
    bounds = tmp_path / "bounds.toml"
    bounds.write_text('model = "xaj"\n[parameters]\nK = { low = 0.5, high = 5.0 }\n')
    code, _, stderr = _calibrate("--data", str(data), "--model", "xaj", *SIEVE_SPLIT, "--bounds", str(bounds),
                                 "--output", str(tmp_path / "p.toml"))
    _assert_one_line_error(code, stderr, "bounds.toml", "missing")
    code, _, stderr = _calibrate("--data", str(data), "--model", "hbv", *SIEVE_SPLIT)
    _assert_one_line_error(code, stderr, "unknown runoff method 'hbv'", "xaj")


def test_catchment_description_moves_rain_back_and_bad_keys_are_named(tmp_path):
    from hydro.core.errors import ConfigError
    from hydro.io.catchment import CatchmentRecord, read_catchment_spec

    times = np.arange(np.datetime64("2000-01-01"), np.datetime64("2000-01-06"))
    record = CatchmentRecord("r.nc", times, np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.zeros(5), np.ones(5), 10.0, 24.0)
    record.align_precipitation(1, "test")
    np.testing.assert_array_equal(record.precipitation, [2.0, 3.0, 4.0, 5.0, 0.0])

    spec = tmp_path / "c.toml"
    spec.write_text('name = "x"\nprecipitation_lead_step = 1\n')
    with pytest.raises(ConfigError, match=r"c.toml.*precipitation_lead_step: unknown key"):
        read_catchment_spec(spec)
    spec.write_text('name = "x"\nprecipitation_lead_steps = -1\n')
    with pytest.raises(ConfigError, match=r"precipitation_lead_steps: "):
        read_catchment_spec(spec)


def test_a_period_that_cannot_be_scored_is_refused(catchments_dir, tmp_path):
    """A calibration period whose discharge is all missing, or one hour long, gave NSE nan or -inf and wrote a
    parameter file (found by the independent sweep): refused in one line, nothing written."""
    def blank(ds):
        ds["discharge"][:] = np.nan

    path = _bad_record(tmp_path, catchments_dir, blank)
    code, _, stderr = _calibrate("--data", str(path), "--model", "gr4j", "--warmup", "1992-01-01/1992-01-31",
                                 "--calibration", "1992-02-01/1992-06-30", "--output", str(tmp_path / "p.toml"))
    _assert_one_line_error(code, stderr, "--calibration 1992-02-01/1992-06-30", "0 finite discharge")
    assert code == 3 and not (tmp_path / "p.toml").exists()
    data = catchments_dir / "sieve_fornacina_hourly" / "sieve_fornacina_hourly.nc"
    code, _, stderr = _calibrate("--data", str(data), "--model", "gr4j", "--warmup", "1992-01-01/1992-03-31",
                                 "--calibration", "1992-04-01T00:00/1992-04-01T00:00", "--output", str(tmp_path / "p.toml"))
    _assert_one_line_error(code, stderr, "--calibration 1992-04-01T00:00/1992-04-01T00:00", "1 finite discharge")
    assert code == 3 and not (tmp_path / "p.toml").exists()


def test_a_record_of_several_stations_is_refused(catchments_dir, tmp_path):
    """discharge(station, time) raised an IndexError deep in the scoring (found by the independent sweep)."""
    def two_stations(ds):
        ds["discharge"] = ds["discharge"].expand_dims(station=2).copy()

    path = _bad_record(tmp_path, catchments_dir, two_stations)
    code, _, stderr = _calibrate("--data", str(path), "--model", "gr4j", "--warmup", "1992-01-01/1992-01-31",
                                 "--calibration", "1992-02-01/1992-06-30", "--output", str(tmp_path / "p.toml"))
    _assert_one_line_error(code, stderr, "bad.nc", "discharge('station', 'time')", "dimension time only")
    assert code == 3 and not (tmp_path / "p.toml").exists()
