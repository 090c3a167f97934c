"""Hydraulic restart: ``hydro hydraulics run --final-state`` saves the solver's state, ``--initial-state``
continues from it bit for bit (the state holds the step before too, which the first step's predictor uses)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.cli import main

from .test_cli import write_inflow, write_sections
from .test_junctions import write_network


def _run(argv, out, *extra):
    assert main(["hydraulics", "run", *argv, "--downstream", "normal", "--output", str(out), *extra]) == 0
    with xr.open_dataset(out) as ds:
        return ds.load()


def _lateral(path, reach=None):
    t = pd.Timestamp("2026-07-01T00:00") + pd.to_timedelta(np.arange(0, 25), unit="h")
    q = 10.0 + 60.0 * np.exp(-0.5 * ((np.arange(25) - 9.0) / 2.0) ** 2)
    table = pd.DataFrame({"time": [x.isoformat() for x in t], "chainage_m": 3000.0, "discharge_m3s": q})
    if reach:
        table.insert(0, "reach", reach)
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("network", [False, True], ids=["one reach", "network"])
def test_a_run_continued_from_its_state_is_bit_for_bit_the_uninterrupted_run(tmp_path, network):
    """24 h in one run, and the same as 7 h + 17 h from the saved state (the flood mid-way): every record of
    the continuation equals the uninterrupted run's exactly."""
    if network:
        argv = [*write_network(tmp_path), "--upstream", f"main={tmp_path / 'main.csv'}", "--upstream",
                f"trib={tmp_path / 'trib.csv'}", "--lateral", str(_lateral(tmp_path / "lateral.csv", "trib"))]
    else:
        argv = ["--sections", str(write_sections(tmp_path / "sections.csv")), "--upstream",
                str(write_inflow(tmp_path / "inflow.csv")), "--lateral", str(_lateral(tmp_path / "lateral.csv"))]
    whole = _run(argv, tmp_path / "whole.nc")
    first = _run(argv, tmp_path / "first.nc", "--hours", "7", "--final-state", str(tmp_path / "state.nc"))
    rest = _run(argv, tmp_path / "rest.nc", "--initial-state", str(tmp_path / "state.nc"))
    k = first.sizes["time"] - 1
    assert rest["time"].values[0] == whole["time"].values[k] and rest.sizes["time"] == whole.sizes["time"] - k
    for name in ("discharge", "water_level"):
        assert np.array_equal(rest[name].values, whole[name].values[k:]), name
    with xr.open_dataset(tmp_path / "state.nc") as state:
        assert state.attrs["valid_time"] == "2026-07-01T07:00:00Z" and state["discharge"].attrs["units"] == "m3 s-1"
        assert np.array_equal(state["water_level"].values, whole["water_level"].values[k])
    # the two parts hold the whole run's water: storage change and volumes add up
    total = first.attrs["storage_change_m3"] + rest.attrs["storage_change_m3"]
    assert total == pytest.approx(whole.attrs["storage_change_m3"], rel=1e-9, abs=1e-3)


def test_a_state_of_other_nodes_or_step_is_refused(tmp_path, capsys):
    sections = str(write_sections(tmp_path / "sections.csv"))
    argv = ["--sections", sections, "--upstream", str(write_inflow(tmp_path / "inflow.csv"))]
    _run(argv, tmp_path / "a.nc", "--hours", "2", "--final-state", str(tmp_path / "state.nc"))
    capsys.readouterr()
    for extra, words in ((["--max-dx", "500"], "the state holds 61 nodes, the run 31"),
                         (["--dt", "60"], "dt 30 s, this run has dt 60 s")):
        assert main(["hydraulics", "run", *argv, "--downstream", "normal", "--initial-state", str(tmp_path / "state.nc"),
                     "--output", str(tmp_path / "b.nc"), *extra]) == 3
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("hydro: error:")]
        assert len(err) == 1 and words in err[0] and "state.nc" in err[0], err
        assert not (tmp_path / "b.nc").exists()
