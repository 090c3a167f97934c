"""Kills at random moments: ``hydro run`` (the forecast stage of a rolling cycle on the tiny basin, a process
of its own, see FORKER) is sent SIGKILL or SIGTERM at moments drawn from a seeded generator: half over the part
of the run that holds the state lock (from the moment the lock is taken to the end of an unkilled run, measured
first; before it nothing is written), half over its writing (from its first file in the cycle folder). A signal
that comes after the run ended is no kill: another moment is drawn, over no more than that run lasted (a busy
machine can make the measured run slower than the later ones), until six runs were interrupted. After every kill:

* the previous restart is intact, byte for byte, and a new restart is either absent or complete (the
  reference's bytes);
* the cycle folder is complete by the cycle's rule (``COMPLETE`` written last) with every file equal to the
  unkilled run's, or it has no ``COMPLETE``;
* the lock is free at once (the kernel drops a dead holder's flock);
* the next run succeeds, sweeps the dead run's temporary files and writes outputs bit-identical to the
  unkilled reference run.

A SIGTERM is the clean stop (exit 130, "hydro: interrupted", no traceback) once hydro's handler is in place, and
it ends the run: a run still alive a minute after its signal fails the test with its Python stack (faulthandler).
That once hung here: a SIGTERM raised inside xarray's lock handling left netCDF4's lock taken and the cleanup waited
on it forever; hydro now raises the stop in its own code only (hydro.cli._interrupt, issue 17)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hydro.cli import main
from hydro.io.atomic import FolderLock

from .conftest import _basin, listing

SEED = 20261127
KILLS = [signal.SIGKILL] * 4 + [signal.SIGTERM] * 2
PREVIOUS, NEW = "restart_2026-07-01T0100.nc", "restart_2026-07-01T0200.nc"
CYCLE = "out/cycle_20260701T0200"
DATA = ("analysis.nc", "forecast.nc", "forecast_qlat.nc")  # the cycle folder's numbers (summary.json has timings)
SECOND_CYCLE = ["run", "cycle.toml", "--stage", "forecast", "--start", "2026-07-01T01:00"]
DEADLINE_S = 60.0  # a run (0.3 s unkilled) not ended this long after its start or its signal hangs

# Each run is a process of its own, forked from a parent that has run the same cycle once in a folder of its own
# (its imports done, numba's kernels loaded): the process a `hydro run` is once started, without paying seconds
# of imports and kernel loading per run on a loaded machine, so the kills fall in the run's work. numba's
# workqueue threading layer survives a fork (GNU OpenMP does not); the results are bit-identical across layers
# (the next runs, in this process, are compared with them). The parent reports each run's pid and, when asked
# (after the test has sent its signal: until then an ended run stays a zombie, so its pid cannot be reused),
# its exit status (a negative signal number when killed, as subprocess gives it).
FORKER = f"""
import contextlib, faulthandler, os, signal, sys
from hydro.cli import main
os.chdir(sys.argv[1])
with contextlib.redirect_stdout(sys.stderr):
    assert main({SECOND_CYCLE!r}) == 0
for line in sys.stdin:
    folder, err = line.rstrip("\\n").split("\\t")
    pid = os.fork()
    if pid == 0:
        os.chdir(folder)
        null, log = os.open(os.devnull, os.O_WRONLY), os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(null, 0); os.dup2(null, 1); os.dup2(log, 2)
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test's view of a run that does not end
        code = main({SECOND_CYCLE!r})
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # main has returned: a process exiting, as hydro's does
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    print(pid, flush=True)
    sys.stdin.readline()  # "reap"
    _, status = os.waitpid(pid, 0)
    print(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status), flush=True)
"""


class Run:
    """One ``hydro run`` of the second cycle in ``folder``, forked by the parent ``forker``."""

    def __init__(self, forker: subprocess.Popen, folder: Path, err: Path):
        self.forker, self.err = forker, err
        forker.stdin.write(f"{folder}\t{err}\n")
        forker.stdin.flush()
        self.pid = int(forker.stdout.readline())
        self.lock = folder / "state" / ".hydro.lock"

    def ended(self) -> bool:
        return Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie

    def lasts(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the run ends first; whether it was still running then."""
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            if self.ended():
                return False
            time.sleep(0.0005)
        return True

    def wait_for_lock(self) -> bool:
        """Until the run holds the state lock (its pid in .hydro.lock); False if it ended first."""
        deadline = time.monotonic() + DEADLINE_S
        while not self.ended():
            try:
                if f"pid {self.pid} since" in self.lock.read_text():
                    return True
            except OSError:
                pass
            self.fail_if_past(deadline, "taking the state lock")
            time.sleep(0.002)
        return False

    def fail_if_past(self, deadline: float, doing: str) -> None:
        """A run alive past ``deadline`` hangs: its Python stack (faulthandler, to its stderr), then SIGKILL."""
        if time.monotonic() < deadline:
            return
        os.kill(self.pid, signal.SIGUSR1)
        time.sleep(1.0)
        os.kill(self.pid, signal.SIGKILL)
        _, err = self.wait()
        pytest.fail(f"run {self.pid} hangs ({doing}, {DEADLINE_S:g} s); its stderr and stack:\n{err}")

    def wait(self) -> tuple[int, str]:
        """Reap the run: its exit status and its stderr."""
        deadline = time.monotonic() + DEADLINE_S
        while not self.ended():
            self.fail_if_past(deadline, "ending")
            time.sleep(0.002)
        self.forker.stdin.write("reap\n")
        self.forker.stdin.flush()
        return int(self.forker.stdout.readline()), self.err.read_text()


@pytest.fixture(scope="module")
def forker(rolled, tmp_path_factory):
    warm = tmp_path_factory.mktemp("warm") / "w"
    shutil.copytree(rolled, warm)
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    parent = subprocess.Popen([sys.executable, "-c", FORKER, str(warm)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env)
    yield parent
    parent.stdin.close()
    try:
        parent.wait(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _outputs(folder: Path) -> dict[str, bytes]:
    files = {name: (folder / CYCLE / name).read_bytes() for name in DATA}
    files[NEW] = (folder / "state" / NEW).read_bytes()
    return files


@pytest.fixture(scope="module")
def rolled(tmp_path_factory) -> Path:
    """The tiny basin after its first cycle (a restart at 01:00, the second cycle's start), run in process."""
    folder = tmp_path_factory.mktemp("rolled")
    _basin(folder)
    assert main(["run", str(folder / "cycle.toml"), "--stage", "forecast", "--cold"]) == 0
    shutil.rmtree(folder / "out")
    return folder


def test_kills_at_random_moments_leave_the_state_intact_and_the_next_run_identical(rolled, forker, tmp_path,
                                                                                    monkeypatch):
    previous = (rolled / "state" / PREVIOUS).read_bytes()

    folder = tmp_path / "work"  # one path for every run: the outputs name their restart by its path
    shutil.copytree(rolled, folder)
    run = Run(forker, folder, tmp_path / "stderr.txt")
    assert run.wait_for_lock(), run.wait()
    locked, first_write = time.perf_counter(), None
    deadline = time.monotonic() + DEADLINE_S
    while not run.ended():  # when the cycle folder gets its first (temporary) file: the outputs are being written
        if first_write is None and (folder / CYCLE).is_dir() and any((folder / CYCLE).iterdir()):
            first_write = time.perf_counter() - locked
        run.fail_if_past(deadline, "the unkilled run")
        time.sleep(0.002)
    work_s = time.perf_counter() - locked  # from the lock to the end: where files change
    code, err = run.wait()
    assert code == 0 and first_write is not None, err
    expected = _outputs(folder)

    spans = [work_s - first_write, work_s]  # the moments' range, from the first write (even k) and from the lock
    rng = random.Random(SEED)
    kills = rng.sample(KILLS, len(KILLS))
    interrupted, attempts = 0, 0
    while interrupted < len(kills):  # a signal that comes after the run ended is no kill: draw another moment
        attempts += 1
        assert attempts <= 3 * len(kills), f"only {interrupted} of {attempts - 1} signals came before the run ended"
        k, signum = interrupted, kills[interrupted]
        # half the moments over the whole locked span from the lock, half over the writing from its first file (a
        # short part of the run, where the outputs and the restart are written: uniform moments would seldom hit it)
        moment = rng.uniform(0.0, spans[k % 2])
        shutil.rmtree(folder)
        shutil.copytree(rolled, folder)
        run = Run(forker, folder, tmp_path / "stderr.txt")
        assert run.wait_for_lock(), run.wait()
        deadline = time.monotonic() + DEADLINE_S
        while k % 2 == 0 and not run.ended() and not ((folder / CYCLE).is_dir() and any((folder / CYCLE).iterdir())):
            run.fail_if_past(deadline, "before its first write")
            time.sleep(0.001)  # a writing-phase kill: from this run's first write
        start = time.perf_counter()
        if not run.lasts(moment):  # ended before its signal: the next moments fall within this run's length
            spans[k % 2] = min(spans[k % 2], time.perf_counter() - start)
        os.kill(run.pid, signum)  # not reaped yet: the pid is still the run's, even if it has ended
        code, err = run.wait()
        interrupted += code != 0
        where = f"kill {k} ({signum.name} {moment:.3f} s after the {'first write' if k % 2 == 0 else 'lock'}, exit {code})"
        if signum == signal.SIGKILL:
            assert code in (-signal.SIGKILL, 0), f"{where}: {err}"
        elif code == -signal.SIGTERM:  # only once main had returned: the run was complete
            assert (folder / CYCLE / "COMPLETE").exists(), f"{where}: SIGTERM was not handled: {err}"
        else:  # hydro's handler: the same clean stop as Ctrl-C
            assert code in (130, 0), f"{where}: {err}"
            assert "Traceback" not in err, f"{where}: {err}"
            assert code == 0 or err.strip().splitlines()[-1] == "hydro: interrupted", f"{where}: {err}"

        # the previous state is intact; a new restart is whole or absent
        assert (folder / "state" / PREVIOUS).read_bytes() == previous, where
        new = folder / "state" / NEW
        assert not new.exists() or new.read_bytes() == expected[NEW], f"{where}: a partial restart"
        # a cycle folder is complete by the cycle's rule, and then whole, or visibly incomplete
        cycle = folder / CYCLE
        if (cycle / "COMPLETE").exists():
            assert _outputs(folder) == expected, f"{where}: COMPLETE beside files that differ from the reference"
        # the lock is free at once
        with FolderLock(folder / "state", "state folder"):
            pass

        # the next run succeeds, leaves no temporary file and gives the reference's bytes
        monkeypatch.chdir(folder)
        assert main(SECOND_CYCLE) == 0, where
        assert (cycle / "COMPLETE").exists(), where
        assert _outputs(folder) == expected, f"{where}: the next run differs from the unkilled reference"
        assert (folder / "state" / PREVIOUS).read_bytes() == previous, where
        left = [name for name in listing(folder) if Path(name).name.startswith(".") and name.endswith(".tmp")]
        assert not left, f"{where}: temporary files left: {left}"
