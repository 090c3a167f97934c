"""Plan stage: schemes rehearsed, ranked by the stated priority order, and the decision package written."""

from __future__ import annotations

import numpy as np

from hydro.io.basin import BasinSpec
from hydro.stages.plan import rank, rehearse_schemes, write_plan
from hydro.stages.rehearsal import RehearsalInputs, forward, read_schedule
from tests.helpers import make_network
from tests.physics.test_rehearsal_forward import RESERVOIR, SECTION

# two tributaries with a dam each (2 and 4) join at 5 above the town 6
NETWORK = make_network([1, 2, 3, 4, 5, 6], [2, 5, 4, 5, 6, 0], bottom_width=np.full(6, 40.0),
                       top_width=np.full(6, 60.0), top_width_cc=np.full(6, 200.0))


def _case():
    dams = [{**RESERVOIR, "id": "A", "feature_id": 2, "safe_release": 900.0},
            {**RESERVOIR, "id": "B", "feature_id": 4, "safe_release": 900.0}]
    basin = BasinSpec(name="b", reservoirs=dams, control_sections=[SECTION])
    hours = 72
    t = np.arange(hours)
    lateral = np.full((hours, 6), 5.0)
    lateral[:, 0] += 600.0 * np.exp(-0.5 * ((t - 12) / 4.0) ** 2)
    lateral[:, 2] += 500.0 * np.exp(-0.5 * ((t - 15) / 4.0) ** 2)
    times = np.datetime64("2026-07-01T01:00") + t * np.timedelta64(1, "h")
    return basin, lateral, times


def test_schemes_are_ranked_by_dam_safety_then_sections_then_storage(tmp_path):
    basin, lateral, times = _case()
    schemes = rehearse_schemes(RehearsalInputs.of(NETWORK, basin, lateral, times))
    names = [s.name for s in schemes]
    assert names[:5] == ["rules", "min_peak", "max_margin", "min_storage", "pre_release"]
    assert {"without_A", "without_B"} <= set(names)
    ranked = rank(schemes, basin)
    keys = [i.rank_key() for _, i in ranked]
    assert keys == sorted(keys)
    impacts = {s.name: i for s, i in ranked}
    assert impacts["rules"].excess_volume_m3 > 0.0  # the current rules flood the town
    best, best_impact = ranked[0]
    assert best.verified and best_impact.excess_volume_m3 == 0.0 and best_impact.dam_rise_above_fch_m == 0.0
    # among schemes equally safe for dams and the town, storage kept decides
    ties = [i for _, i in ranked if i.rank_key()[:6] == best_impact.rank_key()[:6]]
    assert best_impact.storage_left_m3 == max(i.storage_left_m3 for i in ties)

    summary = write_plan(tmp_path, ranked, basin, "forecast.nc")
    for name in ("plan.md", "plan.html", "plan_schedule.csv", "plan_comparison.png", "plan_recommended.png",
                 "plan.json", f"scheme_{best.name}.nc"):
        assert (tmp_path / name).stat().st_size > 0, name
    md = (tmp_path / "plan.md").read_text()
    assert f"Recommendation: `{best.name}`" in md and "## Dispatch order" in md and "## Monitoring" in md
    assert "<table>" in (tmp_path / "plan.html").read_text()
    assert summary["recommended"] == best.name
    # the recommended schedule, re-simulated independently from the CSV, keeps the town safe
    csv = np.genfromtxt(tmp_path / "plan_schedule.csv", delimiter=",", names=True, dtype=None, encoding=None)
    schedules = {"A": csv["A_release_m3s"].astype(float), "B": csv["B_release_m3s"].astype(float)}
    check = forward(NETWORK, basin, lateral, times, schedules=schedules)
    assert check.section_discharge["town"].max() <= SECTION["safe_discharge"] + 0.01
    # its times are "from" times, as a dispatcher's --schedule reads them: written out as one, the same releases
    # (the CSV once stamped each release with the end of its hour: read as "from", every change came an hour late)
    rows = ["time,reservoir,release_m3s"] + [f"{t},{rid},{csv[f'{rid}_release_m3s'][k]}"
                                             for k, t in enumerate(csv["time"]) for rid in ("A", "B")]
    (tmp_path / "again.csv").write_text("\n".join(rows) + "\n")
    again = read_schedule(tmp_path / "again.csv", basin, times)
    for rid in ("A", "B"):
        np.testing.assert_array_equal(again[rid], best.schedule[rid][:len(times)])
    # the monitoring table lists each dam at the start of an hour with the release from then (as the order does)
    assert summary["dispatch_order"]
    for o in summary["dispatch_order"]:
        for when, _, release in o["checkpoints"]:
            k = int(np.flatnonzero(np.array([str(t - np.timedelta64(1, "h"))[:16] for t in times]) == when)[0])
            assert release == round(float(best.schedule[o["reservoir"]][k]), 0)


def test_schemes_as_dask_tasks_equal_the_serial_run():
    basin, lateral, times = _case()
    serial = rank(rehearse_schemes(RehearsalInputs.of(NETWORK, basin, lateral, times)), basin)
    tasks = rank(rehearse_schemes(RehearsalInputs.of(NETWORK, basin, lateral, times), dask=True), basin)
    assert [i for _, i in serial] == [i for _, i in tasks]
