"""Rehearsal benchmark: wall time of one forward-inverse-forward on a basin with many dams.

Run through the CLI: ``hydro bench rehearse --segments 10000 --reservoirs 30 --hours 72 --json``.
The basin is synthetic (``hydro.synthetic.synthetic_dam_basin``): a D8 grid network, dams on medium
rivers with lax current rules, a storm forecast. Set-up (not timed) runs F1 once without targets and
sets each control section's safe discharge to 75 % of its F1 peak, so the inverse has work to do at
every section. The timed part is one ``rehearse`` call: F1, the unit responses and the LP, F2, and
any margin-tightening repeats (``steps_s``: the wall time of each step; ``cpu_s``: CPU seconds of all its threads; ``load_average_1min``: the host's load,
as wall times on a shared host are upper bounds). ``verified`` is true when F2 met every target. ``whatif_s`` times one
forward run of a given schedule (the derived one) over the horizon and its tail, as ``hydro rehearse
--schedule`` runs it once F1 and the tail are known (a centre trying variants pays this per variant).
The kernels are compiled
before timing (a warm-up on a tiny basin); ``first_call_s`` reports the whole first call too.
"""

from __future__ import annotations

import os
import time

import numba

from hydro.stages.rehearsal import RehearsalInputs, forward, rehearse
from hydro.synthetic import synthetic_dam_basin


def bench_rehearse(segments: int = 10_000, reservoirs: int = 30, hours: int = 72, seed: int = 1,
                   objective: str = "min_peak") -> dict:
    t0 = time.perf_counter()
    case = synthetic_dam_basin(segments, reservoirs, hours, seed=seed)
    f1 = forward(case.network, case.basin, case.lateral, case.times)
    sections = [s.model_copy(update={"safe_discharge": round(0.75 * float(f1.section_discharge[s.id].max()), 1)})
                for s in case.basin.control_sections]
    basin = case.basin.model_copy(update={"control_sections": sections})
    setup_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    out = rehearse(case.network, basin, case.lateral, case.times, objective=objective)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # what-if: one forward run of a given schedule (the derived one), reservoirs and tail included, as
    # `hydro rehearse --schedule` runs it once the forecast's F1 and tail are known
    whatif = RehearsalInputs.of(case.network, basin, case.lateral, case.times)
    whatif.f1 = out.f1
    whatif.tail()
    t0, c0 = time.perf_counter(), time.process_time()
    _, whatif_safe = whatif.verify(out.inverse.schedule)
    whatif_s, whatif_cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "benchmark": "rehearse", "segments": case.network.size, "reservoirs": len(basin.reservoirs),
        "control_sections": len(sections), "hours": hours, "objective": objective, "threads": numba.get_num_threads(),
        "wall_s": round(wall, 3), "verified": bool(out.accepted), "iterations": out.iterations,
        # where the wall time went: F1, the tail (unit responses and F1 through it), the inverse (LP and set-up), F2
        "steps_s": {step: round(s, 3) for step, s in out.seconds.items()},
        "whatif_s": round(whatif_s, 3), "whatif_safe": bool(whatif_safe),
        # CPU seconds of all threads, and the host's load: on a shared host wall times are upper bounds
        "cpu_s": round(cpu, 3), "whatif_cpu_s": round(whatif_cpu, 3), "load_average_1min": round(os.getloadavg()[0], 2),
        "feasible": bool(out.inverse.feasible) if out.inverse else None,
        "f1_peak_over_safe": {s.id: round(float(f1.section_discharge[s.id].max() / s.safe_discharge), 3) for s in sections},
        "f2_peak_over_safe": {s.id: round(float(out.f2.section_discharge[s.id].max() / s.safe_discharge), 3)
                              for s in sections} if out.f2 else None,
        "binding": len(out.inverse.binding) if out.inverse else 0, "setup_s": round(setup_s, 2),
        "rehearsals_in_5_min": int(300 // wall) if wall > 0 else None,
    }
