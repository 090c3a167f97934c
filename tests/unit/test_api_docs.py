"""docs/api.md: its Python examples run as written, and hydro.route equals `hydro route` bit for bit."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "docs/api.md").read_text(), re.S)


def test_the_api_page_examples_run(tmp_path, monkeypatch, capsys):
    if not (DATA / "nwm_lower_colorado/original/RouteLink.nc").is_file():
        pytest.skip(f"real NWM Lower Colorado data not found at {DATA}")
    monkeypatch.chdir(tmp_path)
    scope = {"DATA": DATA, "REPO": REPO}
    blocks = _blocks()
    assert len(blocks) == 3
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), scope)  # noqa: S102 (our own documentation)
    printed = capsys.readouterr().out
    assert "28 hours of lateral inflow" in printed and "('time', 'feature_id') m3 s-1 30 lakes" in printed
    assert scope["result"].rehearsal["verdict"]["accepted"] in (True, False)
    assert (tmp_path / "out" / "cycle_20260701T0200" / "report.html").is_file()


def test_hydro_route_equals_the_command_bit_for_bit(nwm_dir, tmp_path):
    import hydro
    from hydro.cli import main

    lc = nwm_dir / "original"
    out = tmp_path / "OUT.nc"
    assert main(["route", "--routelink", str(lc / "RouteLink.nc"), "--lakeparm", str(lc / "LAKEPARM.nc"),
                 "--lateral", str(lc / "channel_forcing"), "--dt", "300", "--output", str(out), "--no-progress"]) == 0
    net = hydro.RiverNetwork.from_routelink(lc / "RouteLink.nc", lakeparm=lc / "LAKEPARM.nc")
    ds = hydro.route(net, hydro.read_lateral(lc / "channel_forcing"), dt=300.0, solver="nwm")
    with xr.open_dataset(out) as cli:
        for name in ("streamflow", "velocity", "depth", "water_sfc_elev"):
            np.testing.assert_array_equal(ds[name].values, cli[name].values, err_msg=name)
        np.testing.assert_array_equal(ds.feature_id.values, cli.feature_id.values)
        np.testing.assert_array_equal(ds.time.values, cli.time.values)


def test_import_hydro_is_lazy_and_bad_input_is_named():
    import subprocess
    import sys

    code = "import sys, hydro; print(sorted(m for m in sys.modules if m.startswith(('numba', 'xarray'))))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    import hydro

    with pytest.raises(hydro.ConfigError, match="network must be a hydro.RiverNetwork"):
        hydro.route(None, xr.DataArray(np.zeros(3)))
    with pytest.raises(hydro.InputDataError, match="dims \\(time, feature_id\\)"):
        hydro.api._lateral_from(xr.DataArray(np.zeros(3)))
