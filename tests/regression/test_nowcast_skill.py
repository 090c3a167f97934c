"""Nowcast skill on the two real radar events, scored as the reference pySTEPS figures were."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from hydro.stages.nowcast import run_verification
from hydro.verification import Contingency

KNMI_TIMES = [f"2010-08-26T0{h}:30" for h in range(6)]
MCH_TIMES = ["2016-07-11T21:10", "2016-07-11T21:30", "2016-07-11T21:50"]


@pytest.fixture(scope="module")
def scores(radar_dir):
    cases = [(radar_dir / "knmi_20100826.nc", KNMI_TIMES), (radar_dir / "mch_20160711.nc", MCH_TIMES)]
    return run_verification(cases, 60, ("sprog", "persistence"))


def test_persistence_reproduces_the_reference_protocol(scores):
    """Persistence is method-free, so it checks our scoring against the published pySTEPS figures."""
    csi = [round(r["csi_1"], 2) for r in scores["persistence"]["leads"]]
    assert csi == [0.49, 0.31, 0.23, 0.17, 0.14, 0.12]


def test_sprog_beats_the_reference_extrapolation(scores):
    leads = scores["sprog"]["leads"]
    assert scores["sprog"]["mean_csi_1"] >= 0.56  # measured 0.572; pySTEPS LK + SL 0.50, S-PROG 0.55
    assert all(0.0 <= r["far_1"] <= 1.0 and 0.0 <= r["pod_1"] <= 1.0 for r in leads)
    assert leads[0]["fss"] > leads[-1]["fss"] > 0.5


def test_cli_output_is_scored_independently(radar_dir, tmp_path):
    out = tmp_path / "nowcast.nc"
    proc = subprocess.run([sys.executable, "-m", "hydro.cli", "nowcast", "--radar", str(radar_dir / "mch_20160711.nc"),
                           "--issue-time", "2016-07-11T21:30", "--lead-minutes", "60", "--output", str(out), "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["fields"] == 6
    with xr.open_dataset(out) as fc, xr.open_dataset(radar_dir / "mch_20160711.nc") as obs:
        assert fc.rainfall_rate.attrs["units"] == "mm h-1" and fc.rainfall_rate.dims == ("time", "y", "x")
        assert str(fc.time.values[0])[:16] == "2016-07-11T21:40" and len(fc.time) == 6
        valid = np.isfinite(obs.rainfall_rate.values).all(axis=0)
        table = Contingency()
        for t in fc.time.values:  # the mean of the two 5-minute frames ending at the valid time
            o = obs.rainfall_rate.sel(time=[t - np.timedelta64(5, "m"), t]).mean("time").values
            table.add(fc.rainfall_rate.sel(time=t).values[valid], o[valid], 1.0)
        assert table.csi > 0.4


def test_cli_errors_are_one_line(radar_dir, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hydro.cli", "nowcast", "--radar", str(radar_dir / "knmi_20100826.nc"),
                           "--issue-time", "2010-08-26T00:33", "--output", str(tmp_path / "x.nc")],
                          capture_output=True, text=True)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr and "no frame at 2010-08-26T00:33" in proc.stderr


def test_steps_ensemble_beats_its_deterministic_core(radar_dir):
    """At every lead the 20-member ensemble's CRPS is below the S-PROG forecast's MAE (the CRPS of a one-member
    ensemble); at 60 min it holds the figure measured with the 25 km motion smoothing (0.2506 at KNMI 03:30,
    where pySTEPS STEPS scores 0.248; 0.2583 with 10 km smoothing, 0.297 with the conditional AR(2))."""
    case = [(radar_dir / "knmi_20100826.nc", ["2010-08-26T03:30"])]
    ens = run_verification(case, 60, ("steps",), members=20)["steps"]["leads"]
    det = run_verification(case, 60, ("sprog",))["sprog"]["leads"]
    for e, d in zip(ens, det, strict=True):
        assert e["crps"] < d["mae"], (e["lead_minutes"], e["crps"], d["mae"])
    assert ens[-1]["crps"] < 0.26
