"""Bad input: exit non-zero with one line naming file, variable and ids; no traceback, no output."""

import shutil
import subprocess
import sys

import netCDF4
import numpy as np
import pytest

from hydro.io.netcdf import lateral_dataset, write_network
from tests.helpers import make_network


def _run(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "hydro.cli", *args], capture_output=True, text=True, cwd=cwd)
    return proc.returncode, proc.stderr


def _assert_one_line_error(code, stderr, *needles):
    assert code != 0
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("hydro: error:")]
    assert len(errors) == 1, stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.fixture
def small_case(tmp_path):
    net = make_network([1, 2, 3], [3, 3, 0])
    write_network(tmp_path / "net.nc", net)
    times = np.datetime64("2026-01-01T00", "ns") + np.arange(3) * np.timedelta64(1, "h")
    qlat = np.ones((3, 3), np.float32)
    lateral_dataset(qlat, net.feature_id, times).to_netcdf(tmp_path / "qlat.nc")
    return tmp_path


def test_small_case_routes(small_case):
    code, err = _run("route", "--network", str(small_case / "net.nc"), "--lateral", str(small_case / "qlat.nc"),
                     "--output", str(small_case / "out.nc"), "--no-progress")
    assert code == 0, err
    assert (small_case / "out.nc").is_file()


def test_lateral_with_nan_and_negative(small_case):
    with netCDF4.Dataset(small_case / "qlat.nc", "a") as ds:
        ds["qlat"][1, 2] = np.nan
    out = small_case / "out.nc"
    code, err = _run("route", "--network", str(small_case / "net.nc"), "--lateral", str(small_case / "qlat.nc"),
                     "--output", str(out))
    _assert_one_line_error(code, err, "qlat.nc", "NaN", "feature_id 3", "2026-01-01T01:00")
    assert not out.exists()
    code, err = _run("route", "--network", str(small_case / "net.nc"), "--lateral", str(small_case / "qlat.nc"),
                     "--output", str(out), "--bad-lateral", "zero", "--no-progress")
    assert code == 0 and "replaced 1" in err


def test_output_directory_missing(small_case):
    code, err = _run("route", "--network", str(small_case / "net.nc"), "--lateral", str(small_case / "qlat.nc"),
                     "--output", str(small_case / "nope" / "out.nc"))
    _assert_one_line_error(code, err, "does not exist")


def _routelink_copy(nwm_dir, tmp_path, edit):
    path = tmp_path / "RouteLink.nc"
    shutil.copy(nwm_dir / "original/RouteLink.nc", path)
    path.chmod(0o644)
    with netCDF4.Dataset(path, "a") as ds:
        edit(ds)
    return path


def _route_real(nwm_dir, routelink, out, lateral=None):
    return _run("route", "--routelink", str(routelink), "--lateral", str(lateral or nwm_dir / "original/channel_forcing"),
                "--output", str(out))


def test_routelink_with_cycle(nwm_dir, tmp_path):
    def edit(ds):
        link = ds["link"][:]
        ds["to"][5] = link[6]
        ds["to"][6] = link[5]
    rl = _routelink_copy(nwm_dir, tmp_path, edit)
    code, err = _route_real(nwm_dir, rl, tmp_path / "out.nc")
    link = netCDF4.Dataset(rl)["link"][:]
    _assert_one_line_error(code, err, "RouteLink.nc", "cycle", str(link[5]))
    assert not (tmp_path / "out.nc").exists()


def test_routelink_unknown_downstream(nwm_dir, tmp_path):
    def edit(ds):
        ds["to"][10] = 123456789
    rl = _routelink_copy(nwm_dir, tmp_path, edit)
    code, err = _route_real(nwm_dir, rl, tmp_path / "out.nc")
    _assert_one_line_error(code, err, "RouteLink.nc", "->123456789", "names no segment")


def test_routelink_negative_length(nwm_dir, tmp_path):
    def edit(ds):
        ds["Length"][3] = -10.0
    rl = _routelink_copy(nwm_dir, tmp_path, edit)
    link = netCDF4.Dataset(rl)["link"][3]
    code, err = _route_real(nwm_dir, rl, tmp_path / "out.nc")
    _assert_one_line_error(code, err, "RouteLink.nc", "length must be > 0", str(link))


def test_chrtout_directory_with_missing_hour(nwm_dir, tmp_path):
    forcing = tmp_path / "forcing"
    forcing.mkdir()
    for f in sorted((nwm_dir / "original/channel_forcing").iterdir()):
        if not f.name.startswith("202108231500"):
            (forcing / f.name).symlink_to(f)
    code, err = _route_real(nwm_dir, nwm_dir / "original/RouteLink.nc", tmp_path / "out.nc", lateral=forcing)
    _assert_one_line_error(code, err, "202108231400.CHRTOUT_DOMAIN1", "202108231600.CHRTOUT_DOMAIN1", "missing")
    assert not (tmp_path / "out.nc").exists()
