"""Every reader, every damage: a file cut at half, 64 bytes flipped, an empty file, a folder where the file
belongs, a file without read permission. Each run ends in exit 2 or 3 with one line naming the file, no
traceback, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import DAMAGE, assert_refused, damage_ids, listing, run_cli

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

ROUTE = ["route", "--output", "out/out.nc", "--no-progress"]
CALIBRATE = ["calibrate", "--model", "gr4j", "--warmup", "2020-01-01/2020-01-10", "--calibration",
             "2020-01-11/2020-02-28", "--evaluations", "16", "--no-plots", "--no-catchment", "--output", "out/p.toml"]
RESERVOIR = ["reservoir", "route", "--output", "out/o.csv"]
RUN = ["run", "cycle.toml", "--stage", "forecast", "--cold"]  # reads every basin file; no climatology to simulate

# reader: (file damaged, the command reading it)
CASES = {
    "network_netcdf": ("net.nc", ROUTE + ["--network", "net.nc", "--lateral", "qlat.nc"]),
    "routelink": ("RouteLink.nc", ROUTE + ["--routelink", "RouteLink.nc", "--lateral", "qlat.nc"]),
    "lateral_qlat": ("qlat.nc", ROUTE + ["--network", "net.nc", "--lateral", "qlat.nc"]),
    "lateral_chrtout": ("chrtout/202601010100.CHRTOUT_DOMAIN1", ROUTE + ["--network", "net.nc", "--lateral", "chrtout"]),
    "radar_cf_netcdf": ("radar.nc", ["nowcast", "--radar", "radar.nc", "--issue-time", "2026-01-01T00:30",
                                     "--lead-minutes", "10", "--method", "persistence", "--output", "out/now.nc"]),
    "cycle_toml": ("cycle.toml", RUN),
    "basin_toml": ("basin/basin.toml", RUN),
    "basin_network": ("basin/network.nc", RUN),
    "flow_direction_tif": ("basin/flow_direction.tif", RUN),
    "channel_segments_tif": ("basin/channel_segments.tif", RUN),
    "catchment_record": ("record.nc", CALIBRATE + ["--data", "record.nc", "--bounds", "bounds.toml"]),
    "calibration_bounds": ("bounds.toml", CALIBRATE + ["--data", "record.nc", "--bounds", "bounds.toml"]),
    "flood_events_csv": ("record_events.csv", CALIBRATE + ["--data", "record.nc", "--bounds", "bounds.toml",
                                                           "--events", "record_events.csv"]),
    "reservoir_toml": ("res.toml", RESERVOIR + ["res.toml", "--inflow", "inflow.csv"]),
    "inflow_csv": ("inflow.csv", RESERVOIR + ["res.toml", "--inflow", "inflow.csv"]),
    "schedule_csv": ("schedule.csv", RESERVOIR + ["res.toml", "--inflow", "inflow.csv", "--schedule", "schedule.csv"]),
}

# the real radar formats (one frame each, from ../shared/data/radar/original)
RADAR_FORMATS = {"odim_hdf5": "odim_hdf5_opera", "knmi_hdf5": "knmi_hdf5", "geotiff": "fmi_geotiff",
                 "mch_gif": "mch_gif", "fmi_pgm": "fmi_pgm"}


def assert_same_content(damaged: Path, original: Path) -> None:
    """A NetCDF whose flipped bytes fell in padding or unused header space: every variable and attribute
    reads as the original's (NetCDF-3 and HDF5 raw data carry no checksum, so damage to values themselves
    is caught only where it leaves the plausible range)."""
    import xarray as xr

    with xr.open_dataset(damaged) as a, xr.open_dataset(original) as b:
        assert a.identical(b), f"{damaged.name}: flipped bytes changed the data and the run still exited 0"


@pytest.fixture
def in_workspace(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    return workspace


@pytest.mark.parametrize("reader", list(CASES))
def test_valid_inputs_are_read(reader, in_workspace, capsys):
    """The same command on the undamaged files gets past the reader (so the refusals below are the damage's)."""
    command = CASES[reader][1][0]
    if command == "run":  # a whole cycle is tests/io's; here its readers: config, basin, network, rasters
        from hydro.pipeline.cycle import load_basin, load_config

        assert load_basin(load_config(Path("cycle.toml")), Path("cycle.toml").resolve()).network.size > 3
        return
    if command == "calibrate":  # a calibration is tests/io's; here its readers
        from hydro.io.catchment import read_catchment, read_events
        from hydro.io.parameters import read_parameter_space

        assert read_catchment(Path("record.nc")).events and read_events(Path("record_events.csv"))
        assert read_parameter_space(Path("bounds.toml"), "gr4j", ["X1", "X2", "X3", "X4"]).free.all()
        return
    code, err = run_cli(capsys, *CASES[reader][1])
    assert code == 0, err


@pytest.mark.parametrize("damage", damage_ids())
@pytest.mark.parametrize("reader", list(CASES))
def test_damaged_file_is_one_line(reader, damage, in_workspace, valid_inputs, capsys):
    name, command = CASES[reader]
    path = in_workspace / name
    DAMAGE[damage](path)
    state = listing(in_workspace / "state") if (in_workspace / "state").exists() else {}
    code, err = run_cli(capsys, *command)
    if damage == "flipped" and code == 0:  # only right if the flipped bytes are none the reader uses
        assert_same_content(path, valid_inputs / name)
        return
    assert_refused(code, err, Path(name).name)
    assert listing(in_workspace / "out") == {}, "an output was left behind"
    if (in_workspace / "state").exists():
        assert {k: v for k, v in listing(in_workspace / "state").items() if not k.startswith(".")} == state


@pytest.mark.parametrize("damage", damage_ids())
@pytest.mark.parametrize("fmt", list(RADAR_FORMATS))
def test_damaged_radar_file_is_one_line(fmt, damage, in_workspace, capsys):
    source = DATA / "radar" / "original" / RADAR_FORMATS[fmt]
    files = sorted(p for p in source.glob("*") if p.is_file() and not p.name.endswith((".md", ".txt"))) if source.is_dir() else []
    if not files:
        pytest.skip(f"real {fmt} radar files not found at {source} (shared/data is checked out beside the repo)")
    path = in_workspace / files[0].name
    path.write_bytes(files[0].read_bytes())
    DAMAGE[damage](path)
    code, err = run_cli(capsys, "nowcast", "--radar", path, "--issue-time", "2026-01-01T00:30", "--lead-minutes", "10",
                        "--method", "persistence", "--output", "out/now.nc")
    assert_refused(code, err, path.name)
    assert listing(in_workspace / "out") == {}
