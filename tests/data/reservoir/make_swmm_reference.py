"""Make the peer reference for tests/io/test_cli_reservoir.py: an ungated reservoir routed by EPA SWMM 5.2.

Run in a scratch environment, NOT the project's (pyswmm is no dependency of hydro):

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install pyswmm==2.2.0
    /tmp/peer/bin/python tests/data/reservoir/make_swmm_reference.py

The reservoir: a storage unit whose surface area is tabulated against depth (linear between the points,
so SWMM's volume is the exact integral, quadratic within a segment), an outlet with a tabulated rating
(free, crest 2 m above the invert), an outfall far below. Kinematic-wave routing: SWMM routes a storage
unit as a level pool, V2 = V1 + dt (I1 + I2 - O1 - O2) / 2 with O from the rating at the new depth
(flowrout.c, updateStorageState: iterated to a depth tolerance of 0.005 ft, so its own trapezoidal
balance closes to a few m3/s), at a 1-hour routing and report step. The inflow is a time series at
3-hour points. SWMM does not route exactly those values at the hours (its node inflow at 01:00 is the
series' value near 00:55), so the inflow handed to hydro is the one SWMM reports it routed, hour by hour:
the comparison is of the level-pool integration, not of the time-series lookup.

Writes, beside this script:
  peer_reservoir.toml  the same reservoir for ``hydro reservoir route`` (level-storage tabulated every
                       0.05 m from the area table's exact integral, capacity from the rating, spillway free)
  peer_inflow.csv      the inflow SWMM routed at each hour (time,inflow_m3s)
  swmm_reference.csv   SWMM's result at every hour: time,inflow_m3s,release_m3s,level_m,storage_m3
"""

from __future__ import annotations

import csv
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from pyswmm import Links, Nodes, Simulation

HERE = Path(__file__).parent
INVERT = 200.0  # m
AREA_DEPTH = [0.0, 4.0, 8.0, 12.0]  # m
AREA_M2 = [1.0e6, 2.0e6, 3.5e6, 5.0e6]
RATING_DEPTH = [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0]  # m above the invert
RATING_M3S = [0.0, 0.0, 60.0, 170.0, 320.0, 500.0, 950.0, 1500.0, 2100.0]
INFLOW_HOURS = list(range(0, 97, 3))
INFLOW_M3S = [20, 40, 120, 350, 800, 1400, 1900, 2100, 1850, 1450, 1100, 820, 600, 450, 340, 260, 200, 160,
              130, 105, 85, 70, 60, 50, 45, 40, 35, 30, 28, 26, 24, 22, 20]
START = datetime(2024, 7, 1)
HOURS = 96


def volume(depth: np.ndarray) -> np.ndarray:
    """Exact integral of the linearly interpolated area from the invert to ``depth``."""
    z = np.asarray(AREA_DEPTH)
    a = np.asarray(AREA_M2)
    out = np.zeros_like(depth, dtype=float)
    for k in range(len(z) - 1):
        h = np.clip(depth - z[k], 0.0, z[k + 1] - z[k])
        slope = (a[k + 1] - a[k]) / (z[k + 1] - z[k])
        out += a[k] * h + 0.5 * slope * h * h
    return out


def inp_text() -> str:
    ts = "\n".join(f"INFLOW {(START + timedelta(hours=h)).strftime('%m/%d/%Y %H:%M')} {q}"
                   for h, q in zip(INFLOW_HOURS, INFLOW_M3S))
    area = "\n".join(f"AREA {'STORAGE' if i == 0 else '':8s} {d} {a}" for i, (d, a) in enumerate(zip(AREA_DEPTH, AREA_M2)))
    rating = "\n".join(f"RATE {'RATING' if i == 0 else '':8s} {d} {q}" for i, (d, q) in enumerate(zip(RATING_DEPTH, RATING_M3S)))
    end = START + timedelta(hours=HOURS)
    return f"""[TITLE]
hydro reservoir route peer reference

[OPTIONS]
FLOW_UNITS CMS
FLOW_ROUTING KINWAVE
START_DATE {START:%m/%d/%Y}
START_TIME {START:%H:%M:%S}
REPORT_START_DATE {START:%m/%d/%Y}
REPORT_START_TIME {START:%H:%M:%S}
END_DATE {end:%m/%d/%Y}
END_TIME {end:%H:%M:%S}
REPORT_STEP 01:00:00
ROUTING_STEP 3600
ALLOW_PONDING NO

[OUTFALLS]
OUT 150 FREE

[STORAGE]
RES {INVERT} 12 2 TABULAR AREA 0 0

[OUTLETS]
SPILL RES OUT 0 TABULAR/DEPTH RATE NO

[CURVES]
{area}
{rating}

[TIMESERIES]
{ts}

[INFLOWS]
RES FLOW INFLOW FLOW 1.0 1.0

[COORDINATES]
OUT 0 0
RES 0 100
"""


def main() -> None:
    depth_grid = np.round(np.arange(0.0, 12.0001, 0.05), 10)
    capacity = np.interp(depth_grid, RATING_DEPTH, RATING_M3S)
    with open(HERE / "peer_reservoir.toml", "w") as fh:
        fh.write('# made by make_swmm_reference.py: the SWMM storage unit RES and its outlet SPILL\n')
        fh.write('id = "swmm_peer"\nspillway = "free"\n')
        fh.write("level_m = [" + ", ".join(f"{INVERT + d:.2f}" for d in depth_grid) + "]\n")
        fh.write("storage_m3 = [" + ", ".join(f"{v:.1f}" for v in volume(depth_grid)) + "]\n")
        fh.write("capacity_m3s = [" + ", ".join(f"{q:.6g}" for q in capacity) + "]\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "peer.inp"
        inp.write_text(inp_text())
        with Simulation(str(inp)) as sim:
            res, spill = Nodes(sim)["RES"], Links(sim)["SPILL"]
            sim.step_advance(3600)
            rows.append((START, float(np.interp(0.0, INFLOW_HOURS, INFLOW_M3S)), 0.0, INVERT + 2.0,
                         float(volume(np.array([2.0]))[0])))
            for _ in sim:
                t = sim.current_time
                rows.append((t, res.total_inflow, spill.flow, INVERT + res.depth, res.volume))
    with open(HERE / "swmm_reference.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "inflow_m3s", "release_m3s", "level_m", "storage_m3"])
        for t, q, o, z, v in rows:
            w.writerow([t.isoformat(), f"{q:.6f}", f"{o:.6f}", f"{z:.6f}", f"{v:.1f}"])
    with open(HERE / "peer_inflow.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "inflow_m3s"])
        for t, q, *_ in rows:
            w.writerow([t.isoformat(), f"{q:.6f}"])


if __name__ == "__main__":
    main()
