"""A read-only output folder, a disk that fills during a write, an output path that is a folder: one line
naming the output, no partial or temporary file, earlier outputs and the restart folder unchanged.

The machine's tests may run as root, for whom a read-only folder is writable; the file system's refusal is
therefore simulated where it happens (tempfile's file makers, the NetCDF writer), as the errors the OS and
netCDF4 raise."""

from __future__ import annotations

import errno
import tempfile

import pytest
import xarray as xr

from .conftest import _basin, assert_refused, listing, run_cli

ROUTE = ["route", "--network", "net.nc", "--lateral", "qlat.nc", "--output", "out/out.nc", "--no-progress"]


def _read_only(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


def _make_read_only(monkeypatch):
    """Every temporary file refused: the writability probe's unnamed file and the atomic writes' named ones."""
    monkeypatch.setattr(tempfile, "mkstemp", _read_only)
    monkeypatch.setattr(tempfile, "TemporaryFile", _read_only)


def _disk_fills(self, path=None, *args, **kwargs):
    """Write half a file, then fail as a full disk does."""
    with open(path, "wb") as fh:
        fh.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 4096)
    raise OSError(errno.ENOSPC, "No space left on device")


def _hdf_error(self, path=None, *args, **kwargs):
    """netCDF4's report of the same (the HDF5 library hit ENOSPC underneath)."""
    with open(path, "wb") as fh:
        fh.write(b"\x89HDF\r\n\x1a\n")
    raise RuntimeError("NetCDF: HDF error")


@pytest.fixture
def in_workspace(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    return workspace


@pytest.mark.parametrize("failure", ["read_only", "disk_full", "hdf_error"])
def test_route_output_cannot_be_written(failure, in_workspace, monkeypatch, capsys):
    (in_workspace / "out" / "out.nc").write_bytes(b"an earlier output")  # must survive the failed run
    if failure == "read_only":
        # the kernels compiled first (numba's cache writes its index through tempfile, which is refused below)
        assert run_cli(capsys, *ROUTE[:-2], "warm.nc", "--no-progress")[0] == 0
        (in_workspace / "warm.nc").unlink()
        _make_read_only(monkeypatch)
    else:
        monkeypatch.setattr(xr.Dataset, "to_netcdf", _disk_fills if failure == "disk_full" else _hdf_error)
    code, err = run_cli(capsys, *ROUTE)
    # a read-only folder is found by the check before any work; a disk that fills, at the write
    said = ["out.nc", "cannot be written", "nothing was done"] if failure == "read_only" else ["out.nc", "cannot write"]
    assert_refused(code, err, said, expected_codes=(3,))
    assert listing(in_workspace / "out") == {"out.nc": b"an earlier output"}  # no temporary, old file intact


def test_output_path_that_is_a_folder(in_workspace, capsys):
    (in_workspace / "out" / "out.nc").mkdir()
    code, err = run_cli(capsys, *ROUTE)
    assert_refused(code, err, ["out.nc", "is a folder"], expected_codes=(3,))
    assert listing(in_workspace / "out") == {}


def test_output_path_that_is_a_pipe_or_ends_in_a_slash(in_workspace, capsys):
    """A fifo (or a device: as root, --output /dev/null once replaced the device by a file) is refused, not
    renamed over; a name ending in '/' means a folder and is refused, not written as a file of that name."""
    import os
    import stat

    os.mkfifo(in_workspace / "out" / "pipe")
    code, err = run_cli(capsys, *ROUTE[:-2], "out/pipe", "--no-progress")
    assert_refused(code, err, ["pipe", "is not a regular file"], expected_codes=(3,))
    assert stat.S_ISFIFO(os.stat(in_workspace / "out" / "pipe").st_mode)
    code, err = run_cli(capsys, *ROUTE[:-2], "out/new/", "--no-progress")
    assert_refused(code, err, ["out/new/", "names a folder"], expected_codes=(2,))  # argparse: the option's value
    assert os.listdir(in_workspace / "out") == ["pipe"]


@pytest.fixture
def rolled(tmp_path):
    """The tiny basin after one cycle: a restart at 01:00 that the next cycle starts from."""
    from hydro.cli import main

    _basin(tmp_path)
    assert main(["run", str(tmp_path / "cycle.toml"), "--stage", "forecast", "--cold"]) == 0
    return tmp_path


def _restarts(folder):
    return {k: v for k, v in listing(folder / "state").items() if k != ".hydro.lock"}


@pytest.mark.parametrize("failure", ["outputs_read_only", "disk_full_at_restart"])
def test_cycle_that_cannot_write_keeps_the_state(failure, rolled, monkeypatch, capsys):
    """The next cycle fails to write: one line, the restart folder exactly as before (no new restart, no
    temporary), and the cycle folder not marked COMPLETE."""
    capsys.readouterr()
    before = _restarts(rolled)
    if failure == "outputs_read_only":
        _make_read_only(monkeypatch)
    else:
        import hydro.io.restart as restart

        original = restart.write_dataset

        def full_at_restart(path, ds):
            monkeypatch.setattr(xr.Dataset, "to_netcdf", _disk_fills)
            return original(path, ds)

        monkeypatch.setattr(restart, "write_dataset", full_at_restart)
    code, err = run_cli(capsys, "run", rolled / "cycle.toml", "--stage", "forecast", "--start", "2026-07-01T01:00")
    assert_refused(code, err, ["state folder cannot be written"] if failure == "outputs_read_only" else ["cannot write"],
                   expected_codes=(3,))
    assert _restarts(rolled) == before
    folder = rolled / "out" / "cycle_20260701T0200"
    assert not (folder / "COMPLETE").exists() and not (folder / "report.html").exists()
    assert not [p for p in rolled.rglob(".*.tmp")], "a temporary file was left behind"


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 8 KiB tmpfs (a disk that fills), where this machine lets the tests mount one (root in a
    container with CAP_SYS_ADMIN); skipped elsewhere, the monkeypatched cases above cover the same code."""
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.decode().strip() or 'not permitted'})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)  # lazy: HDF5 may still hold the failed file open


def test_route_onto_a_full_disk(tiny_disk, in_workspace, capsys):
    """Refused by the free-space check before any work (tests/hostile/test_preflight.py has the other commands)."""
    (tiny_disk / "out.nc").write_bytes(b"an earlier output")
    code, err = run_cli(capsys, "route", "--network", "net.nc", "--lateral", "qlat.nc", "--output",
                        tiny_disk / "out.nc", "--no-progress")
    assert_refused(code, err, [str(tiny_disk), "out.nc", "KiB free", "needs about", "nothing was done"],
                   expected_codes=(3,))
    assert listing(tiny_disk) == {"out.nc": b"an earlier output"}
