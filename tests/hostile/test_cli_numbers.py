"""Absurd numbers on the command line: refused by argparse (exit 2, one line naming the option), before any
file is read or anything allocated; a run too large for this machine's memory is refused with the estimate."""

from __future__ import annotations

import pytest

from .conftest import assert_refused, listing, run_cli

ROUTE = ["route", "--network", "net.nc", "--lateral", "qlat.nc", "--output", "out/out.nc"]
NOWCAST = ["nowcast", "--radar", "radar.nc", "--issue-time", "2026-01-01T00:30", "--output", "out/now.nc"]
CALIBRATE = ["calibrate", "--data", "record.nc", "--model", "gr4j", "--warmup", "2020-01-01/2020-01-10",
             "--calibration", "2020-01-11/2020-02-28", "--output", "out/p.toml"]
REHEARSE = ["rehearse", "basin/basin.toml", "--forecast", "qlat.nc"]
RESERVOIR = ["reservoir", "route", "res.toml", "--inflow", "inflow.csv", "--output", "out/o.csv"]

CASES = [
    (ROUTE, "--dt", "0"), (ROUTE, "--dt", "-300"), (ROUTE, "--dt", "nan"), (ROUTE, "--dt", "inf"),
    (ROUTE, "--dt", "0.001"), (ROUTE, "--dt", "abc"), (ROUTE, "--hours", "-5"), (ROUTE, "--hours", "0"),
    (ROUTE, "--output-interval", "0"), (ROUTE, "--nudge-coefficient", "2"), (ROUTE, "--nudge-tau", "-1"),
    (ROUTE, "--threads", "0"), (ROUTE, "--threads", "1.5"),
    (NOWCAST, "--lead-minutes", "-10"), (NOWCAST, "--lead-minutes", "100000"), (NOWCAST, "--members", "-1"),
    (NOWCAST, "--members", "100000"), (NOWCAST, "--levels", "0"), (NOWCAST, "--max-rate", "-5"),
    (NOWCAST, "--motion-smoothing-km", "-1"), (NOWCAST, "--seed", "-1"),
    (["verify", "--radar", "radar.nc", "--issue-times", "2026-01-01T00:30"], "--lead-minutes", "0"),
    (["run", "cycle.toml"], "--hours", "-5"), (["run", "cycle.toml"], "--cycles", "0"),
    (["run", "cycle.toml"], "--members", "-3"),
    (CALIBRATE, "--evaluations", "0"), (CALIBRATE, "--batch", "0"), (CALIBRATE, "--seed", "-1"),
    (REHEARSE, "--margin", "-1"), (REHEARSE, "--hours", "0"), (REHEARSE, "--dt", "0.001"),
    (["plan", "basin/basin.toml", "--forecast", "qlat.nc"], "--dt", "7"),
    (["bench", "route"], "--segments", "-1"), (["bench", "route"], "--steps", "0"),
    (["bench", "runoff"], "--cells", "-1"), (["bench", "rehearse"], "--reservoirs", "0"),
    (["bench", "cycle"], "--segments", "0"), (["bench", "cycle"], "--hours", "-72"),
    (["bench", "cycle"], "--segments", "1.5"), (["bench", "cycle"], "--threads", "0"),
    (RESERVOIR, "--dt", "0"), (RESERVOIR, "--initial-level", "nan"),
]


@pytest.fixture
def in_workspace(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    return workspace


@pytest.mark.parametrize("command,option,value", CASES, ids=[
    f"{' '.join(c[:2]) if c[0] in ('bench', 'reservoir') else c[0]} {o}={v}" for c, o, v in CASES])
def test_absurd_number_is_refused_by_argparse(command, option, value, in_workspace, capsys):
    code, err = run_cli(capsys, *command, option, value)
    assert_refused(code, err, [f"argument {option}", value], expected_codes=(2,))
    assert listing(in_workspace / "out") == {}


@pytest.mark.parametrize("args", [
    ["bench", "cycle", "--segments", "1e9"],
    ["bench", "route", "--segments", "1e10"],
    ["bench", "runoff", "--cells", "1e9", "--steps", "1000"],
    ["bench", "rehearse", "--segments", "1e9", "--hours", "720"],
], ids=["cycle", "route", "runoff", "rehearse"])
def test_run_too_large_for_memory_is_refused_before_allocating(args, capsys):
    from hydro.cli._types import available_memory_bytes

    code, err = run_cli(capsys, *args)
    assert_refused(code, err, ["GiB of memory", "available", f"bench {args[1]}"], expected_codes=(2,))
    estimate = float(err.split("about ")[1].split(" GiB")[0].replace(",", ""))
    assert estimate * 2**30 > available_memory_bytes()


def test_memory_estimate_matches_a_measured_run():
    """The bench cycle estimate against the peak memory measured for 200,000 cells, 12,359 segments, 12 h
    (0.41 GB resident, Python and numba included): the same order, on the safe side."""
    cells, segments, hours = 200_000, 12_359, 12
    steps = hours * 6
    estimate = cells * (steps * 4 + 36 * 4 * 3 + 600) + segments * (steps * 4 * 2 + hours * 4 * 6 + 2000)
    assert 0.25e9 < estimate < 0.8e9


def test_ensemble_too_large_for_memory_is_refused_before_allocating(workspace, monkeypatch, capsys):
    """The members' rain fields are estimated before they are allocated (here against 1 MiB available)."""
    import hydro.core.memory

    monkeypatch.chdir(workspace)
    monkeypatch.setattr(hydro.core.memory, "available_memory_bytes", lambda: 2**20)
    code, err = run_cli(capsys, "run", "cycle.toml", "--stage", "forecast", "--cold", "--members", "400")
    assert_refused(code, err, ["400-member ensemble", "MiB of memory", "1.0 MiB is available", "--members"], expected_codes=(2,))
    assert not (workspace / "state" / "restart_2026-07-01T0100.nc").exists()
