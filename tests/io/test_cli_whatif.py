"""What-if from the command line (`hydro rehearse --schedule`, `hydro plan --scheme`), and rehearsal on a real
NWM network with its LAKEPARM lakes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from hydro.cli import main
from hydro.io.netcdf import lateral_dataset, write_dataset, write_network
from tests.physics.test_rehearsal_forward import NETWORK, RESERVOIR, SECTION, _storm


def _toml(items: dict) -> str:
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in items.items())


@pytest.fixture()
def basin(tmp_path):
    """The small two-branch basin of the rehearsal tests as files: basin.toml, network.nc, a 24-hour forecast."""
    write_network(tmp_path / "network.nc", NETWORK, None)
    (tmp_path / "basin.toml").write_text('name = "b"\nnetwork = "network.nc"\n[[reservoirs]]\n' + _toml(RESERVOIR)
                                         + "[[control_sections]]\n" + _toml(SECTION))
    lateral, times = _storm(24)
    write_dataset(tmp_path / "forecast.nc", lateral_dataset(lateral.astype(np.float32), NETWORK.feature_id,
                                                             (times - np.timedelta64(1, "h")).astype("datetime64[ns]")))
    return tmp_path


@pytest.mark.parametrize("rows", [
    "2026-07-01T00:00,dam,20\n2026-07-01T06:00,dam,3000\n2026-07-01T12:00,dam,100\n",
    # the same in UTC+8: an offset is converted (14:00+08:00 is 06:00 UTC), never stripped (it ran 8 h late)
    "2026-07-01T08:00+08:00,dam,20\n2026-07-01T14:00+08:00,dam,3000\n2026-07-01T20:00+08:00,dam,100\n",
], ids=["utc", "utc_offset"])
def test_a_schedule_above_capacity_is_reported_not_silently_capped(basin, capsys, rows):
    (basin / "schedule.csv").write_text("time,reservoir,release_m3s\n" + rows)
    code = main(["rehearse", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--schedule",
                 str(basin / "schedule.csv"), "--output-dir", str(basin / "out"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    events = summary["cannot_follow"]
    assert events and {e["limit"] for e in events} == {"capacity"}
    first = events[0]
    assert first["time"] == "2026-07-01T06:00" and first["wanted_m3s"] == 3000.0 and first["released_m3s"] < 3000.0
    assert "dam cannot release 3,000 m3/s at 2026-07-01T06:00: capacity at" in first["message"]
    with xr.open_dataset(basin / "out" / "whatif.nc") as ds:  # what it could release, hour by hour
        released = ds.release.sel(reservoir="dam").values
    assert released[0] == 20.0 and np.all(released[6:12] < 3000.0) and np.all(released[12:] == 100.0)


@pytest.mark.parametrize("rows, message", [
    ("2026-07-01T00:00,weir,20", "row 2: reservoir 'weir' is not in basin b"),
    ("2026-07-01T00:00,dam,-5", "row 2: release_m3s -5 must be a finite number >= 0"),
    ("2026-07-01T00:00,dam,20\n2026-07-03T00:00,dam,20", r"row 3: time 2026-07-03T00:00 is outside the rehearsal horizon"),
    ("2026-07-01T02:00,dam,20", "dam's first release is at 2026-07-01T02:00, after the forecast start"),
    ("soon,dam,20", "row 2: time 'soon' is not an ISO time"),
    ("07/01/2026 00:00,dam,20", "row 2: time '07/01/2026 00:00' is not an ISO time"),  # month or day first?
    ("2026-07-01T00:00,dam,20\n2026-07-01T12:30,dam,50", "row 3: time 2026-07-01T12:30 is not on the hour"),
    ("2026-07-01T00:00,dam,lots", "row 2: release_m3s 'lots' is not a number"),
])
def test_bad_schedules_are_one_line_and_write_nothing(basin, capsys, rows, message):
    (basin / "schedule.csv").write_text("time,reservoir,release_m3s\n" + rows + "\n")
    code = main(["rehearse", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--schedule",
                 str(basin / "schedule.csv"), "--output-dir", str(basin / "out")])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert str(basin / "schedule.csv") in err
    import re

    assert re.search(message, err), err
    assert not (basin / "out").exists()


def test_plan_ranks_a_centres_own_scheme(basin, capsys):
    (basin / "hold.csv").write_text("time,reservoir,release_m3s\n2026-07-01T00:00,dam,250\n")
    (basin / "thin.csv").write_text("time,reservoir,release_m3s\n2026-07-01T00:00,dam,5\n")  # below min_release 20
    code = main(["plan", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--initial-level",
                 "dam=113:100", "--scheme", f"steady={basin / 'hold.csv'}", "--scheme", f"thin={basin / 'thin.csv'}",
                 "--output-dir", str(basin / "plan"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    ranked = {row["scheme"]: row for row in summary["ranking"]}
    assert "steady" in ranked and ranked["steady"]["section_peaks"]["town"] > 0.0
    assert (basin / "plan" / "scheme_steady.nc").is_file()
    # a scheme the dam cannot follow as written is ranked by what it can release, and the plan says so (it was
    # ranked 'verified yes' without a word, sweep 6)
    assert "steady" not in summary["cannot_follow"]
    assert {e["limit"] for e in summary["cannot_follow"]["thin"]} >= {"minimum"}
    assert "**thin** cannot be followed as written in" in (basin / "plan" / "plan.md").read_text()
    # planned again into the same folder without that scheme: its file goes, the user's own file stays
    (basin / "plan" / "notes.txt").write_text("the duty officer's notes")
    code = main(["plan", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--initial-level",
                 "dam=113:100", "--output-dir", str(basin / "plan"), "--json"])
    assert code == 0
    listed = {Path(p).name for p in json.loads(capsys.readouterr().out)["outputs"]}
    on_disk = {p.name for p in (basin / "plan").iterdir() if p.name != "notes.txt"}
    assert "scheme_steady.nc" not in on_disk and on_disk - {"plan.json"} <= listed  # every file is this plan's
    assert (basin / "plan" / "notes.txt").read_text() == "the duty officer's notes"


def test_a_whatif_into_a_rehearsal_folder_leaves_no_f1_f2_of_the_earlier_run(basin, capsys):
    args = ["rehearse", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--output-dir",
            str(basin / "out")]
    assert main(args) == 0 and (basin / "out" / "f2.nc").is_file()
    (basin / "schedule.csv").write_text("time,reservoir,release_m3s\n2026-07-01T00:00,dam,200\n")
    assert main([*args, "--schedule", str(basin / "schedule.csv")]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in (basin / "out").iterdir()) == ["summary.json", "whatif.nc", "whatif.png"]


def test_rehearse_runs_on_the_lower_colorado_network_with_its_lakes(nwm_dir, tmp_path, capsys):
    """The real NWM network with its 30 LAKEPARM lakes collapsed: the lakes route as level pools (not as
    missing segments), and with no dam in the way F1 at a section is `hydro route`'s flow there, bit for bit."""
    import hydro

    lc = nwm_dir / "original"
    net = hydro.RiverNetwork.from_routelink(lc / "RouteLink.nc", lakeparm=lc / "LAKEPARM.nc")
    write_network(tmp_path / "network.nc", net.network, net.lakes)
    assert main(["route", "--network", str(tmp_path / "network.nc"), "--lateral", str(lc / "channel_forcing"),
                 "--output", str(tmp_path / "route.nc"), "--no-progress"]) == 0
    with xr.open_dataset(tmp_path / "route.nc") as ds:
        routed = ds.streamflow.values
        outlet = int(np.argmax(routed.max(axis=0)))
        fid = int(ds.feature_id.values[outlet])
    section = {"id": "outlet", "feature_id": fid, "safe_discharge": 1e6, "warning_stage": 5.0, "guaranteed_stage": 7.0,
               "rating_stage_m": [0.0, 10.0], "rating_discharge_m3s": [0.0, 1e4]}
    (tmp_path / "basin.toml").write_text('name = "lower_colorado"\nnetwork = "network.nc"\n[[control_sections]]\n'
                                         + _toml(section))
    capsys.readouterr()
    assert main(["rehearse", str(tmp_path / "basin.toml"), "--forecast", str(lc / "channel_forcing"), "--output-dir",
                 str(tmp_path / "out"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    with xr.open_dataset(tmp_path / "out" / "f1.nc") as f1:
        np.testing.assert_array_equal(f1.discharge.sel(section="outlet").values, routed[:, outlet])
    assert summary["f1"]["control_sections"][0]["peak_discharge"] == pytest.approx(float(routed[:, outlet].max()))


def test_a_margin_that_swallows_a_target_is_refused_before_any_work(basin, capsys):
    code = main(["rehearse", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--margin", "1e30",
                 "--output-dir", str(basin / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "--margin 1e+30 m3/s leaves nothing of section" in err and "give a margin below it" in err
    assert not (basin / "out").exists()


def test_a_schedule_dam_safety_overrides_is_reported_as_dam_safety(basin, capsys):
    """Started at 135 m (above the flood-control high level, 125 m), the dam passes far more than the 50 m3/s
    scheduled: the report says dam safety released more, not that capacity kept it from releasing 50; the
    storage above the flood-control zone is 'exceeded', not a negative storage left."""
    (basin / "schedule.csv").write_text("time,reservoir,release_m3s\n2026-07-01T00:00,dam,50\n")
    code = main(["rehearse", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--schedule",
                 str(basin / "schedule.csv"), "--initial-level", "dam=135", "--output-dir", str(basin / "out")])
    out = capsys.readouterr().out
    assert code == 0
    assert "cannot follow: dam releases" in out and "not the 50 scheduled: above the flood-control high level 125" in out
    assert "capacity at" not in out
    assert "flood storage exceeded by" in out and "flood storage left -" not in out
    assert "dam started as given (--initial-level): 135.00 m" in out  # the override is on record (sweep 6)


def test_a_release_raised_by_the_minimum_or_held_by_the_ramp_names_that_limit(basin, capsys):
    """A dam that releases more than scheduled because of its minimum release, or because its gates can only close
    by the ramp limit from where they were set, was reported as 'dam safety passes the water on' ten metres below
    the flood-control high level (sweep 6): the report names the limit the operation recorded."""
    (basin / "basin.toml").write_text((basin / "basin.toml").read_text().replace(
        "min_release = 20.0", "min_release = 20.0\nmax_ramp_per_hour = 100.0"))
    (basin / "schedule.csv").write_text("time,reservoir,release_m3s\n2026-07-01T00:00,dam,5\n")
    code = main(["rehearse", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--schedule",
                 str(basin / "schedule.csv"), "--initial-level", "dam=113:300", "--output-dir", str(basin / "out"),
                 "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dam_start"]["dam"] == {"level_m": 113.0, "gate_release_m3s": 300.0, "source": "--initial-level"}
    events = summary["cannot_follow"]
    assert [e["limit"] for e in events[:3]] == ["ramp", "ramp", "minimum"]  # 300 -> 200 -> 100 -> 20
    assert events[0]["message"] == ("dam releases 200 m3/s at 2026-07-01T00:00, not the 5 scheduled: the ramp limit "
                                    "is 100 m3/s per hour from the gate setting before")
    assert events[2]["message"] == ("dam releases 20 m3/s at 2026-07-01T02:00, not the 5 scheduled: the minimum "
                                    "release is 20 m3/s")
    assert not any("dam safety" in e["message"] for e in events)


@pytest.mark.parametrize("flags", [["--margin", "500"], ["--objective", "min_storage"], ["--pre-release"]])
def test_a_whatif_refuses_the_options_of_the_derived_dispatch(basin, capsys, flags):
    """`--schedule ... --margin 500` ran the schedule and said every target was kept, 2,633 m3/s against a safe
    discharge of 3,000 less the 500 asked (sweep 6): options that only shape the derived dispatch are refused."""
    (basin / "schedule.csv").write_text("time,reservoir,release_m3s\n2026-07-01T00:00,dam,50\n")
    code = main(["rehearse", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--schedule",
                 str(basin / "schedule.csv"), *flags, "--output-dir", str(basin / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"{flags[0]} shape the derived dispatch; --schedule runs the given schedule as it is" in err
    assert not (basin / "out").exists()


def test_a_horizon_shorter_than_the_forecast_routes_the_forecast_in_its_tail(basin):
    """`--hours 10` on a longer forecast held the 10th hour through the routing tail while the forecast in the file
    still rose: a plan was accepted that the forecast itself floods, and F1 was called safe (sweep 6). The tail now
    routes the forecast's own hours past the horizon, and F1 is judged over horizon and tail, as F2 is."""
    from hydro.stages.rehearsal import load_rehearsal_inputs, run_rehearsal

    full = load_rehearsal_inputs(basin / "basin.toml", basin / "forecast.nc")
    short = load_rehearsal_inputs(basin / "basin.toml", basin / "forecast.nc", hours=8)
    assert full.beyond is None and short.beyond.shape == (16, full.lateral.shape[1])
    tail = short.tail()
    covered = min(tail.hours, 16)
    np.testing.assert_array_equal(tail.lateral[:covered], full.lateral[8:8 + covered])
    # the same F1 hours as the whole forecast's F1, bit for bit: the tail is the forecast routed on
    f1_full = full.forward()
    np.testing.assert_array_equal(tail.f1.section_discharge["town"], f1_full.section_discharge["town"][:8 + tail.hours])
    summary, result = run_rehearsal(short)
    horizon = summary["f1"]["control_sections"][0]  # F1 over the horizon is the forecast's (one twin)
    assert horizon["peak_discharge"] == pytest.approx(float(short.forward().section_discharge["town"].max()))
    town = summary["f1"]["through_tail"]["control_sections"][0]  # and judged as F2 is, through the tail
    assert town["peak_discharge"] == pytest.approx(float(result.f1_tail.section_discharge["town"].max()))
    assert town["peak_discharge"] > horizon["peak_discharge"]  # the flood came after hour 8


def test_a_reservoir_started_twice_is_refused(basin, capsys):
    code = main(["rehearse", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--initial-level",
                 "dam=113", "--initial-level", "dam=118", "--output-dir", str(basin / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "reservoir dam was given a start already" in err
    assert not (basin / "out").exists()


def test_a_plan_goes_on_without_a_scheme_that_has_no_feasible_schedule(basin, capsys, monkeypatch):
    """Started above its flood-control high level, one derived scheme's LP had no feasible schedule and `hydro plan`
    wrote nothing at all (sweep 6): the plan now leaves that scheme out, says why, and ranks the others."""
    import hydro.stages.plan as plan
    from hydro.stages.rehearsal import InfeasibleDispatch

    real = plan.rehearse

    def no_schedule_for_max_margin(*args, **kwargs):
        if kwargs.get("objective") == "max_margin":
            raise InfeasibleDispatch("b: the inverse dispatch has no feasible schedule: dam starts at 126.00 m, above",
                                     "dam starts at 126.00 m, above")
        return real(*args, **kwargs)

    monkeypatch.setattr(plan, "rehearse", no_schedule_for_max_margin)
    code = main(["plan", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--output-dir",
                 str(basin / "plan"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert "max_margin" in summary["no_feasible_schedule"] and "max_margin" not in {r["scheme"] for r in summary["ranking"]}
    assert {"rules", "min_peak"} <= {r["scheme"] for r in summary["ranking"]}
    assert summary["no_feasible_schedule"]["max_margin"] == "dam starts at 126.00 m, above"  # the reason, once
    assert ("**max_margin**: no feasible schedule, not ranked (dam starts at 126.00 m, above)"
            in (basin / "plan" / "plan.md").read_text())


def test_a_folder_where_an_output_goes_is_refused_before_anything_is_removed_or_written(basin, capsys):
    """f2.nc made a folder: the rehearsal stopped at it with f1.nc and f1.png new and the earlier run's summary.json
    and f2.png gone (sweep 6). Now nothing is removed or written."""
    out = basin / "out"
    args = ["rehearse", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--output-dir", str(out)]
    assert main(args) == 0
    (out / "f2.nc").unlink()
    (out / "f2.nc").mkdir()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err
    assert code == 3 and len(err.strip().splitlines()) == 1 and "f2.nc: is a folder, where this rehearse writes" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_dam_above_its_flood_control_high_level_gets_f1_and_the_reason_not_an_error(basin, capsys):
    """Started above its flood-control high level, no schedule can keep the dam at or below it from the first hour:
    `hydro rehearse` stopped with exit 2 and printed nothing of F1, and the cycle's rehearsal stage stopped the
    cycle before its plan, in the emergency a centre most needs both for. Now F1 and the reason are the answer."""
    from hydro.report.cycle import summary_lines

    out = basin / "out"
    code = main(["rehearse", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--initial-level",
                 "dam=126", "--output-dir", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "F1 current rules: section town peak" in text
    assert "I (min_peak): no feasible schedule: dam starts at 126.00 m, above its flood-control high level 125.0 m" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["no_feasible_schedule"]["objective"] == "min_peak"
    assert "verdict" not in summary and "f2" not in summary
    assert (out / "f1.nc").is_file() and not (out / "f2.nc").exists()
    # the cycle's report line (hydro.pipeline.cycle keeps these keys of the rehearsal's summary)
    line = summary_lines({"rehearsal": {k: summary[k] for k in ("f1", "no_feasible_schedule")}})[0]
    assert line.startswith("rehearsal: F1 (current rules): town peak") and "no feasible min_peak schedule: dam starts" in line


def test_a_plan_whose_rules_are_best_but_not_safe_does_not_say_the_rules_do_what_it_needs(basin, capsys):
    code = main(["plan", str(basin / "basin.toml"), "--forecast", str(basin / "forecast.nc"), "--initial-level",
                 "dam=126", "--output-dir", str(basin / "plan"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["recommended"] == "rules" and not summary["verified"]
    (order,) = summary["dispatch_order"]
    assert order["trigger"].startswith("none: no scheme found does better than the current rules, which do NOT keep")
