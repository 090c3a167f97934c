"""More cases of the independent hostile sweep: ``hydro run`` with a garbage ``--start`` or a dead or garbage
``--scheduler``; ``hydro demo`` with a user cache that is a file, read-only, or damaged, and on a full disk;
``hydro rehearse`` with a schedule giving two releases for one reservoir and time, or an unfinished cycle folder.
Each refusal: the documented exit code, one error line naming the option or file, no traceback, nothing written."""

from __future__ import annotations

import pytest

from .conftest import assert_refused, listing, run_cli

CONFIG = """[cycle]
basin = "demo"
start = "2026-07-01T00:00:00"
hours = 2
forecast_hours = 2
nowcast_hours = 1
output_dir = "out"
state_dir = "state"

[forcing]
setup = "demo_storm.toml"
"""


@pytest.mark.parametrize(("option", "value"), [
    ("--start", "tomorrow"),
    ("--scheduler", "not-an-address"),
    ("--scheduler", "tcp://127.0.0.1:9"),  # the discard port: nothing answers
])
def test_run_refuses_bad_start_or_scheduler(tmp_path, capsys, option, value):
    (tmp_path / "cycle.toml").write_text(CONFIG)
    before = listing(tmp_path)
    code, err = run_cli(capsys, "run", tmp_path / "cycle.toml", "--stage", "forecast", "--members", "2", option, value)
    assert_refused(code, err, [option, value], expected_codes=(2,))
    assert listing(tmp_path) == before and sorted(tmp_path.rglob("*")) == [tmp_path / "cycle.toml"]
