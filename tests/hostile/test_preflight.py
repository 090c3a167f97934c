"""Permissions and free space are checked before any work (hydro/io/atomic.py check_writable), for every command
that writes: a read-only or a full output (or state) folder is one line naming the folder, what is needed and
what is free, exit 3, and nothing ran (the command's computation is replaced by a tripwire that fails the test)
and nothing was written.

The disks are real: a small tmpfs, mounted read-only or nearly full, where the machine lets the tests mount one
(root with CAP_SYS_ADMIN, as here); a read-only folder cannot be made otherwise for root, who writes through
any mode bits. Elsewhere these cases are skipped and the unit tests at the end still run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hydro.io import atomic

from .conftest import assert_refused, listing, run_cli


def _mount(point: Path, options: str) -> None:
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.decode().strip() or 'not permitted'})")


@pytest.fixture
def disk(tmp_path):
    """``disk(kind)``: a folder on its own tmpfs, ``read_only`` (holding an earlier output, then remounted
    read-only) or ``full`` (64 KiB, far less than any command's margin)."""
    mounted = []

    def make(kind: str) -> Path:
        point = tmp_path / f"disk_{kind}"
        point.mkdir()
        _mount(point, "size=64k" if kind == "full" else "size=1m")
        mounted.append(point)
        (point / "earlier.txt").write_text("an earlier output\n")
        if kind == "read_only":
            subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=True)


def _tripwire(monkeypatch, module: str, name: str) -> None:
    """Replace the command's computation: reaching it means the check came too late."""
    import importlib

    def computed(*args, **kwargs):
        raise AssertionError(f"{module}.{name} ran before the preflight refused the output folder")

    monkeypatch.setattr(importlib.import_module(module), name, computed)


def _fake_rehearsal_inputs(monkeypatch):
    """rehearse/plan read their basin and forecast before the check (the estimate needs the horizon): a stand-in
    with one section and one dam over 24 hours, so the test needs no basin with reservoirs."""
    import hydro.stages.rehearsal as rehearsal

    basin = SimpleNamespace(control_sections=[object()], reservoirs=[object()], detention_basins=[])
    monkeypatch.setattr(rehearsal, "load_rehearsal_inputs", lambda *a, **k: SimpleNamespace(basin=basin, times=range(24)))


def _hydraulics_inputs(work: Path) -> None:
    from tests.hydraulics.test_cli import write_inflow, write_sections

    write_sections(work / "sections.csv")
    write_inflow(work / "inflow.csv", hours=6)


# command -> (arguments with OUT for the bad folder, the computation's module and name)
COMMANDS = {
    "route": (["route", "--network", "net.nc", "--lateral", "qlat.nc", "--output", "OUT/out.nc", "--no-progress"],
              "hydro.stages.pipeline", "route"),
    "nowcast": (["nowcast", "--radar", "radar.nc", "--issue-time", "2026-01-01T00:30", "--output", "OUT/now.nc"],
                "hydro.stages.nowcast", "run_nowcast"),
    "calibrate": (["calibrate", "--data", "record.nc", "--model", "gr4j", "--warmup", "2020-01-01/2020-01-10",
                   "--calibration", "2020-01-11/2020-02-28", "--bounds", "bounds.toml", "--output", "OUT/p.toml"],
                  "hydro.stages.calibrate", "run_calibration"),
    "reservoir route": (["reservoir", "route", "res.toml", "--inflow", "inflow.csv", "--output", "OUT/res.csv"],
                        "hydro.stages.reservoir_route", "operate"),
    "rehearse": (["rehearse", "basin/basin.toml", "--forecast", "qlat.nc", "--output-dir", "OUT/rehearsal"],
                 "hydro.stages.rehearsal", "run_rehearsal"),
    "plan": (["plan", "basin/basin.toml", "--forecast", "qlat.nc", "--output-dir", "OUT/plan"],
             "hydro.stages.plan", "run_plan"),
    "hydraulics run": (["hydraulics", "run", "--sections", "sections.csv", "--upstream", "inflow.csv", "--downstream",
                        "normal", "--output", "OUT/h.nc"], "hydro.hydraulics.unsteady", "SaintVenant"),
    "run (cycle folder)": (["run", "cycle.toml", "--stage", "forecast", "--cold", "--output-dir", "OUT/cycles"],
                           "hydro.stages.forecast", "run_forecast"),
    "run (state folder)": (["run", "cycle.toml", "--stage", "forecast", "--cold", "--state-dir", "OUT/state"],
                           "hydro.stages.forecast", "run_forecast"),
}


@pytest.mark.parametrize("kind", ["read_only", "full"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_output_folder_is_refused_before_any_work(command, kind, disk, workspace, monkeypatch, capsys):
    monkeypatch.chdir(workspace)
    bad = disk(kind)
    args, module, name = COMMANDS[command]
    _tripwire(monkeypatch, module, name)
    if command in ("rehearse", "plan"):
        _fake_rehearsal_inputs(monkeypatch)
    if command == "hydraulics run":
        _hydraulics_inputs(workspace)
    before = listing(workspace)
    code, err = run_cli(capsys, *[a.replace("OUT", str(bad)) for a in args])
    said = ["cannot be written", "Read-only file system"] if kind == "read_only" else ["KiB free", "needs about"]
    assert_refused(code, err, [str(bad), *said, "nothing was done"], expected_codes=(3,))
    assert listing(bad) == {"earlier.txt": b"an earlier output\n"}  # nothing written, no temporary
    def outside_state(files):  # the cycle's lock file in its state folder is the one thing a run may leave
        return {k: v for k, v in files.items() if not k.startswith("state/")}
    assert outside_state(listing(workspace)) == outside_state(before), "something was written before the check"


def test_the_state_and_cycle_folders_are_checked_as_one_disk(workspace, monkeypatch, capsys):
    """On one disk the cycle needs the restart and the cycle folder together: a disk with room for either alone
    is refused, naming both; the cycle's estimate is stated."""
    monkeypatch.chdir(workspace)
    _tripwire(monkeypatch, "hydro.stages.forecast", "run_forecast")
    usage = atomic.shutil.disk_usage(workspace)
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda path: usage._replace(free=int(1.3 * 2**20)))
    code, err = run_cli(capsys, "run", "cycle.toml", "--stage", "forecast", "--cold")
    assert_refused(code, err, ["output folder has 1.3 MiB free", "segments x 2 hours", "restart of 144 cells",
                               "on the same disk", "--output-dir"], expected_codes=(3,))
    assert not (workspace / "out" / "cycle_20260701T0100").exists()


def test_a_dead_runs_temporaries_go_a_live_writers_stay(workspace, monkeypatch, capsys):
    """``hydro route`` sweeps its output's temporary copies left by a dead writer, never a live one's, never
    another output's."""
    monkeypatch.chdir(workspace)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = workspace / "out"
        (out / f".out.nc.{dead.pid}.abc123.tmp").write_bytes(b"half a file of a killed run")
        (out / f".out.nc.{alive.pid}.def456.tmp").write_bytes(b"being written now")
        (out / f".other.nc.{dead.pid}.ghi789.tmp").write_bytes(b"another output's")
        code, err = run_cli(capsys, "route", "--network", "net.nc", "--lateral", "qlat.nc", "--output", "out/out.nc",
                            "--no-progress")
        assert code == 0, err
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [f".out.nc.{alive.pid}.def456.tmp", f".other.nc.{dead.pid}.ghi789.tmp", "out.nc"])
    finally:
        alive.kill()
        alive.wait()


# --------------------------------------------------------------------------- the check itself
def test_check_writable_tries_rather_than_asks_and_names_everything(tmp_path, monkeypatch):
    from hydro.core.errors import InputDataError

    target = tmp_path / "a" / "b"  # not there yet: its nearest existing parent is tried
    assert atomic.check_writable(target, 10) == target and not target.exists()
    assert not list(tmp_path.rglob("*.tmp"))  # the probe is gone
    usage = atomic.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda path: usage._replace(free=5 * 2**20))
    atomic.check_writable(target, 3 * 2**20)  # 3 MiB + 25 % + 1 MiB = 4.75 MiB fits
    with pytest.raises(InputDataError) as caught:
        atomic.check_writable(target, 4 * 2**20, "output folder", "4 things of 1 MiB", "choose another --output")
    assert str(caught.value) == (f"{target}: output folder has 5.0 MiB free, this run needs about 6.0 MiB there "
                                 "(4 things of 1 MiB, plus 25 % and 1 MiB); nothing was done: free space on that disk "
                                 "or choose another --output")
    (tmp_path / "file").write_text("")
    with pytest.raises(InputDataError, match="is a file, not a folder"):
        atomic.check_writable(tmp_path / "file" / "sub")


def test_sweep_keeps_what_is_not_stale(tmp_path):
    import os
    import time

    mine = tmp_path / f".x.nc.{os.getpid()}.aaa.tmp"  # this process's own: never swept
    old_style = tmp_path / ".x.nc.bbbbbb.tmp"  # no pid in the name: stale once older than the given time
    nested = tmp_path / "plan" / ".p.nc.999999999.ccc.tmp"  # a pid above any pid_max: dead
    nested.parent.mkdir()
    for p in (mine, old_style, nested):
        p.write_text("x")
    assert atomic.sweep_stale_temporaries(tmp_path, older_than=time.time() - 60) == []
    assert atomic.sweep_stale_temporaries(tmp_path, recursive=True) == [nested]
    assert atomic.sweep_stale_temporaries(tmp_path, older_than=time.time() + 1) == [old_style]
    assert mine.exists()
