"""A damaged restart (cut, flipped, empty, a folder in its place, unreadable) stops the next cycle with one
line naming it; the state folder and the earlier cycle's outputs stay as they were."""

from __future__ import annotations

import shutil

import pytest
import xarray as xr

from .conftest import DAMAGE, _basin, assert_refused, damage_ids, listing, run_cli

RESTART = "restart_2026-07-01T0100.nc"


@pytest.fixture(scope="module")
def rolled(tmp_path_factory):
    """The tiny basin after one cycle's forecast stage: the restart at 01:00 the next cycle starts from."""
    from hydro.cli import main

    folder = tmp_path_factory.mktemp("rolled")
    _basin(folder)
    assert main(["run", str(folder / "cycle.toml"), "--stage", "forecast", "--cold"]) == 0
    assert (folder / "state" / RESTART).is_file()
    return folder


def restarts(work):
    """The state folder's files but its lock (which names the last run's pid and start)."""
    return {k: v for k, v in listing(work / "state").items() if k != ".hydro.lock"}


@pytest.mark.parametrize("damage", damage_ids())
def test_damaged_restart_is_refused_and_nothing_changes(damage, rolled, tmp_path, capsys):
    work = tmp_path / "work"
    shutil.copytree(rolled, work)
    DAMAGE[damage](work / "state" / RESTART)
    capsys.readouterr()
    before = {"state": restarts(work), "out": listing(work / "out")}
    code, err = run_cli(capsys, "run", work / "cycle.toml", "--stage", "forecast", "--start", "2026-07-01T01:00")
    if damage == "flipped" and code == 0:  # the bytes fell in HDF5 free space: the state read is the one written
        with xr.open_dataset(work / "state" / RESTART) as damaged, xr.open_dataset(rolled / "state" / RESTART) as intact:
            assert damaged.identical(intact)
        return
    assert_refused(code, err, RESTART, expected_codes=(3,))
    assert restarts(work) == before["state"]
    assert listing(work / "out") == before["out"], "the refused cycle wrote outputs"


@pytest.mark.parametrize("variable", ["streamflow", "depth", "hillslope_water"])
def test_flipped_state_values_are_refused_by_the_checksum(variable, rolled, tmp_path, capsys):
    """64 bytes flipped inside a state variable's stored values (NetCDF keeps no checksum of its own)."""
    import h5py

    work = tmp_path / "work"
    shutil.copytree(rolled, work)
    path = work / "state" / RESTART
    with h5py.File(path, "r") as h5:
        if variable not in h5:
            pytest.skip(f"the tiny basin's restart has no {variable}")
        offset, size = h5[variable].id.get_offset(), h5[variable].id.get_storage_size()
    if offset is None or size == 0:
        pytest.skip(f"{variable} is stored chunked or empty; its bytes cannot be located")
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + min(64, size)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    before = restarts(work)
    code, err = run_cli(capsys, "run", work / "cycle.toml", "--stage", "forecast", "--start", "2026-07-01T01:00")
    assert_refused(code, err, [RESTART, "checksum"], expected_codes=(3,))
    assert restarts(work) == before


def test_the_restart_rolls_on_when_intact(rolled, tmp_path, capsys):
    work = tmp_path / "work"
    shutil.copytree(rolled, work)
    code, err = run_cli(capsys, "run", work / "cycle.toml", "--stage", "forecast", "--start", "2026-07-01T01:00")
    assert code == 0, err
    assert (work / "state" / "restart_2026-07-01T0200.nc").is_file()


@pytest.fixture(scope="module")
def rolled_main_stem(tmp_path_factory):
    """A copy of the demo basin with a Saint-Venant main stem after one 3-hour cycle's forecast stage: its restart
    carries the main stem's hydraulic state."""
    from hydro.cli import main
    from tests.hydraulics.test_mainstem_restart import demo_with_main_stem

    folder = tmp_path_factory.mktemp("rolled_main_stem")
    demo_with_main_stem(folder)
    (folder / "cycle.toml").write_text('[cycle]\nbasin = "basin"\nstart = "2026-07-01T00:00:00"\nhours = 3\n'
                                       'forecast_hours = 2\nnowcast_hours = 1\noutput_dir = "out"\nstate_dir = "state"\n'
                                       '[forcing]\nsetup = "demo_storm.toml"\n')
    assert main(["run", str(folder / "cycle.toml"), "--stage", "forecast", "--cold"]) == 0
    return folder


@pytest.mark.parametrize("variable", ["main_stem_water_level", "main_stem_discharge_previous_step", "main_stem_lateral"])
def test_flipped_main_stem_state_is_refused_by_the_checksum(variable, rolled_main_stem, tmp_path, capsys):
    """64 bytes flipped in a main stem's hydraulic state: the next cycle stops with one line, nothing changes."""
    import h5py

    work = tmp_path / "work"
    shutil.copytree(rolled_main_stem, work)
    path = work / "state" / "restart_2026-07-01T0300.nc"
    with h5py.File(path, "r") as h5:
        offset, size = h5[variable].id.get_offset(), h5[variable].id.get_storage_size()
    assert offset is not None and size > 0, f"{variable} is stored chunked or empty"
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + min(64, size)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    before = {"state": restarts(work), "out": listing(work / "out")}
    code, err = run_cli(capsys, "run", work / "cycle.toml", "--stage", "forecast", "--start", "2026-07-01T03:00")
    assert_refused(code, err, [path.name, "checksum"], expected_codes=(3,))
    assert restarts(work) == before["state"] and listing(work / "out") == before["out"]
