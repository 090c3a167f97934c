"""Hostile input: valid small inputs of every format hydro reads (built once per session), damaged copies of
them, and the command line run in-process (``hydro.cli.main``) with its stderr captured.

Every case asserts the exit code, exactly one error line naming the file or option, no traceback and no
output left behind (``assert_refused``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from hydro.cli import main
from tests.io.test_cli_reservoir import GATED

TIMES = np.datetime64("2026-01-01T00", "ns") + np.arange(4) * np.timedelta64(1, "h")
RESERVOIR = GATED  # one reservoir in the basin file's schema (hydro reservoir route)
BOUNDS = """model = "gr4j"
[parameters]
X1 = { low = 100.0, high = 1200.0 }
X2 = { low = -5.0, high = 3.0 }
X3 = { low = 20.0, high = 300.0 }
X4 = { low = 1.1, high = 48.0 }
"""


def run_cli(capsys, *args) -> tuple[int, str]:
    """``hydro ARGS`` in this process: (exit code, stderr). argparse's refusals exit through SystemExit."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def write_small_reach_sections(path: Path) -> Path:
    """A sections file for a 2 km reach of three 20 m trapezoids (1 m walls to 5 m), bed slope 0.001, n 0.03."""
    rows = ["section,chainage_m,station_m,elevation_m,manning_n"]
    for k, x in enumerate((0.0, 1000.0, 2000.0)):
        for st, el in ((0.0, 105.0), (1.0, 100.0), (21.0, 100.0), (22.0, 105.0)):
            rows.append(f"XS{k},{x},{st},{el - 0.001 * x},{0.03 if st < 22.0 else ''}")
    path.write_text("\n".join(rows) + "\n")
    return path


def assert_refused(code: int, stderr: str, names: str | list[str], expected_codes=(2, 3)) -> None:
    """Exit ``expected_codes``, exactly one error line naming each of ``names``, no traceback (the caller
    checks that nothing was written)."""
    assert code in expected_codes, f"exit {code}: {stderr}"
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1, stderr
    for name in [names] if isinstance(names, str) else names:
        assert name in errors[0], f"{name!r} not in {errors[0]!r}"


# --------------------------------------------------------------------------- damage
def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip(path: Path) -> None:
    """XOR 64 bytes from a quarter into the file: header structures of small files, chunks of larger ones."""
    data = bytearray(path.read_bytes())
    start = len(data) // 4
    for i in range(start, min(start + 64, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def folder(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    path.mkdir()
    (path / "stray.txt").write_text("a folder where a file belongs\n")


def unreadable(path: Path) -> None:
    path.chmod(0)


DAMAGE = {"truncated": truncate, "flipped": flip, "empty": empty, "folder": folder, "unreadable": unreadable}


def damage_ids():
    kinds = list(DAMAGE)
    if os.geteuid() == 0:  # root reads a mode-0 file: the case cannot be made here
        kinds.remove("unreadable")
    return kinds


# --------------------------------------------------------------------------- valid inputs
def _network(folder: Path) -> None:
    from hydro.io.netcdf import lateral_dataset, write_network
    from tests.helpers import make_network

    net = make_network([1, 2, 3], [3, 3, 0])
    write_network(folder / "net.nc", net)
    lateral_dataset(np.ones((TIMES.size, 3), np.float32), net.feature_id, TIMES).to_netcdf(folder / "qlat.nc")
    with netCDF4.Dataset(folder / "RouteLink.nc", "w") as ds:  # the NWM names read_routelink needs
        ds.createDimension("feature_id", 3)
        values = {"link": [1, 2, 3], "to": [3, 3, 0], "Length": [1000.0] * 3, "So": [0.01] * 3, "n": [0.05] * 3,
                  "nCC": [0.1] * 3, "BtmWdth": [5.0] * 3, "TopWdth": [10.0] * 3, "TopWdthCC": [30.0] * 3,
                  "ChSlp": [0.5] * 3}
        for name, v in values.items():
            ds.createVariable(name, "i8" if name in ("link", "to") else "f4", ("feature_id",))[:] = v
    chrtout = folder / "chrtout"
    chrtout.mkdir()
    for k, t in enumerate(TIMES):
        stamp = str(t)[:16].replace("-", "").replace("T", "").replace(":", "")
        with netCDF4.Dataset(chrtout / f"{stamp}.CHRTOUT_DOMAIN1", "w") as ds:
            ds.createDimension("feature_id", 3)
            ds.createVariable("feature_id", "i8", ("feature_id",))[:] = [1, 2, 3]
            for name in ("qBucket", "qSfcLatRunoff"):
                var = ds.createVariable(name, "f4", ("feature_id",))
                var.units = "m3 s-1"
                var[:] = [0.5 + k, 0.5, 0.5]


def _radar(folder: Path) -> None:
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    from hydro.io.radar import write_cf_netcdf
    from hydro.nowcast.frames import RadarFrames

    rng = np.random.default_rng(1)
    rate = (rng.random((4, 32, 32)) * 5.0).astype(np.float32)
    times = np.datetime64("2026-01-01T00:00", "ns") + np.arange(4) * np.timedelta64(10, "m")
    frames = RadarFrames("synthetic", rate, times, CRS.from_epsg(3035), Affine(1000.0, 0, 4e6, 0, -1000.0, 3e6), "RATE")
    write_cf_netcdf(folder / "radar.nc", frames)


def _catchment(folder: Path) -> None:
    import xarray as xr

    times = np.datetime64("2020-01-01", "ns") + np.arange(24 * 60) * np.timedelta64(1, "h")
    rng = np.random.default_rng(2)
    rain = np.where(rng.random(times.size) < 0.05, rng.random(times.size) * 8.0, 0.0)
    ds = xr.Dataset({"precipitation": ("time", rain, {"units": "mm"}),
                     "pet": ("time", np.full(times.size, 0.1), {"units": "mm"}),
                     "discharge": ("time", 1.0 + np.convolve(rain, np.ones(48) / 8, "same"), {"units": "m3 s-1"})},
                    coords={"time": times}, attrs={"catchment_area_km2": 50.0, "time_step_hours": 1})
    ds.to_netcdf(folder / "record.nc")
    (folder / "record_events.csv").write_text("event_id,start,end\ne1,2020-01-10,2020-01-20\n")
    (folder / "bounds.toml").write_text(BOUNDS)


def _reservoir(folder: Path) -> None:
    (folder / "res.toml").write_text(RESERVOIR)
    hours = np.arange(12)
    lines = ["time,inflow_m3s"] + [f"2026-07-01T{h:02d}:00,{200 + 100 * min(h, 11 - h):.1f}" for h in hours]
    (folder / "inflow.csv").write_text("\n".join(lines) + "\n")
    (folder / "schedule.csv").write_text("time,release_m3s\n2026-07-01T00:00,300\n2026-07-01T06:00,500\n")


def _basin(folder: Path) -> None:
    """A 12 x 12 km D8 basin without reservoirs, and a cycle config on it (read, never run, by these tests)."""
    from hydro.io import netcdf
    from hydro.io.grid import d8_codes, write_raster
    from hydro.synthetic import synthetic_grid_basin

    basin = synthetic_grid_basin(12, 12, seed=1, channel_cells=4)
    b = folder / "basin"
    b.mkdir()
    netcdf.write_network(b / "network.nc", basin.network)
    write_raster(b / "flow_direction.tif", d8_codes(basin.down, basin.shape), basin.transform, basin.crs, nodata=255)
    write_raster(b / "channel_segments.tif", basin.channel_ids.astype(np.int32), basin.transform, basin.crs, nodata=0)
    (b / "basin.toml").write_text('name = "tiny"\nnetwork = "network.nc"\nflow_direction = "flow_direction.tif"\n'
                                  'channel_segments = "channel_segments.tif"\nrunoff_parameters = "xaj/grid_default.toml"\n')
    (folder / "cycle.toml").write_text('[cycle]\nbasin = "basin"\nstart = "2026-07-01T00:00:00"\nhours = 1\n'
                                       'forecast_hours = 1\nnowcast_hours = 0\noutput_dir = "out"\nstate_dir = "state"\n'
                                       '[forcing]\nsetup = "demo_storm.toml"\n')


@pytest.fixture(scope="session")
def valid_inputs(tmp_path_factory) -> Path:
    """One folder of valid inputs of every kind; tests copy what they damage (``workspace``)."""
    folder = tmp_path_factory.mktemp("valid_inputs")
    for build in (_network, _radar, _catchment, _reservoir, _basin):
        build(folder)
    return folder


@pytest.fixture
def workspace(valid_inputs, tmp_path) -> Path:
    """A private copy of the valid inputs, and an empty ``out`` folder for outputs."""
    work = tmp_path / "work"
    shutil.copytree(valid_inputs, work)
    (work / "out").mkdir()
    yield work
    for path in work.rglob("*"):  # let pytest remove what a test made unreadable
        path.chmod(0o755 if path.is_dir() else 0o644)


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (what 'nothing written, nothing changed' compares)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
