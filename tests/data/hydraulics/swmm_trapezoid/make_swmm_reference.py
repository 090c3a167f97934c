"""EPA SWMM 5.2 dynamic-wave reference for hydro's Saint-Venant solver: a 15 km trapezoidal reach.

Run in a scratch environment outside the repository (SWMM is not a dependency of hydro):

    python3 -m venv /tmp/swmmenv && /tmp/swmmenv/bin/pip install pyswmm swmm-toolkit pandas numpy
    /tmp/swmmenv/bin/python tests/data/hydraulics/swmm_trapezoid/make_swmm_reference.py [--quick]

It writes, next to itself: sections.csv and inflow.csv (the reach and the release in hydro's formats),
swmm_reference.csv (discharge and depth at 5, 10, 15 km each minute, finest SWMM mesh), convergence.csv
(peaks for every mesh) and prints the convergence table. The .inp files go to a temporary folder
(--keep-inp DIR keeps them). --quick runs only the two coarsest meshes (a smoke test of the script).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

# --- the reach: prismatic trapezoid, uniform slope, one Manning n -----------------------------------
LENGTH_M = 15_000.0
BOTTOM_WIDTH_M = 60.0
SIDE_SLOPE_H = 2.0            # horizontal per 1 vertical, both banks
CHANNEL_DEPTH_M = 10.0        # SWMM full height; the flood stays well below it (no surcharge)
MANNING_N = 0.035
BED_SLOPE = 0.0005
OUTLET_BED_M = 100.0          # bed elevation at 15 km; 107.5 m at the upstream boundary
POINTS_KM = (5.0, 10.0, 15.0)
HYDRO_SECTION_SPACING_M = 250.0

# --- the reservoir release: base flow, a Pearson III-like (gamma) pulse, base flow again --------------
START = pd.Timestamp("2024-01-01T00:00:00")
DURATION_H = 36.0
BASE_M3S = 100.0
PEAK_M3S = 1200.0
RISE_START_H = 2.0            # two hours of steady base flow first (initial state settles)
TIME_TO_PEAK_H = 6.0          # rise over 6 h, peak at 8 h
GAMMA_SHAPE = 4.0             # recession: 29 % of the pulse left 6 h after the peak, 3 % after 12 h
INFLOW_STEP_MIN = 5

# --- meshes (conduit length, fixed routing step): Courant (|v| + c) dt / dx <= ~0.8 at the peak ------
MESHES = ((1000.0, 20.0), (500.0, 10.0), (250.0, 5.0), (125.0, 2.0), (62.5, 1.0))
REPORT_STEP_S = 60


def release(hours: np.ndarray) -> np.ndarray:
    """Discharge (m3/s): base flow, then Q_b + (Q_p - Q_b) (t/tp)^k exp(k (1 - t/tp)), smooth (C1) at the start."""
    tau = np.clip((hours - RISE_START_H) / TIME_TO_PEAK_H, 0.0, None)
    return BASE_M3S + (PEAK_M3S - BASE_M3S) * tau**GAMMA_SHAPE * np.exp(GAMMA_SHAPE * (1.0 - tau))


def trapezoid(y: float) -> tuple[float, float, float]:
    area = (BOTTOM_WIDTH_M + SIDE_SLOPE_H * y) * y
    perimeter = BOTTOM_WIDTH_M + 2.0 * y * math.sqrt(1.0 + SIDE_SLOPE_H**2)
    top = BOTTOM_WIDTH_M + 2.0 * SIDE_SLOPE_H * y
    return area, perimeter, top


def normal_depth(q: float) -> float:
    lo, hi = 1e-6, CHANNEL_DEPTH_M
    for _ in range(200):
        y = 0.5 * (lo + hi)
        a, p, _ = trapezoid(y)
        if a * (a / p) ** (2.0 / 3.0) * math.sqrt(BED_SLOPE) / MANNING_N < q:
            lo = y
        else:
            hi = y
    return 0.5 * (lo + hi)


def bed(chainage_m: np.ndarray | float) -> np.ndarray | float:
    return OUTLET_BED_M + BED_SLOPE * (LENGTH_M - np.asarray(chainage_m))


def inflow_table() -> pd.DataFrame:
    minutes = np.arange(0, DURATION_H * 60 + INFLOW_STEP_MIN, INFLOW_STEP_MIN)
    q = release(minutes / 60.0)
    times = START + pd.to_timedelta(minutes, unit="min")
    return pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "discharge_m3s": np.round(q, 4)})


def sections_table() -> pd.DataFrame:
    """hydro SECTIONS.csv: one trapezoid per 250 m, points left top, left toe, right toe, right top."""
    setback = SIDE_SLOPE_H * CHANNEL_DEPTH_M
    stations = np.array([0.0, setback, setback + BOTTOM_WIDTH_M, 2 * setback + BOTTOM_WIDTH_M])
    rows = []
    for k, x in enumerate(np.arange(0.0, LENGTH_M + 0.5, HYDRO_SECTION_SPACING_M)):
        z = float(bed(x))
        for s, dz in zip(stations, (CHANNEL_DEPTH_M, 0.0, 0.0, CHANNEL_DEPTH_M), strict=True):
            rows.append({"section": f"XS{k:03d}", "chainage_m": x, "station_m": s, "elevation_m": round(z + dz, 6),
                         "manning_n": MANNING_N, "left_bank_m": stations[0], "right_bank_m": stations[-1]})
    return pd.DataFrame(rows)


def write_inp(path: Path, dx: float, step_s: float, inflow: pd.DataFrame, normal_flow_limited: str = "FROUDE",
              inertial_damping: str = "NONE", min_surfarea: float = 0.01) -> list[str]:
    """SWMM input: junctions J0..J(n-1) at every dx, outfall OUT (NORMAL) at 15 km; returns node names."""
    n_links = int(round(LENGTH_M / dx))
    chain = np.linspace(0.0, LENGTH_M, n_links + 1)
    names = [f"J{k}" for k in range(n_links)] + ["OUT"]
    y0 = normal_depth(BASE_M3S)
    end = START + pd.Timedelta(hours=DURATION_H)
    lines = ["[TITLE]", f"hydro peer reference: trapezoid b={BOTTOM_WIDTH_M:g} m z={SIDE_SLOPE_H:g} n={MANNING_N} "
             f"S={BED_SLOPE} L={LENGTH_M:g} m, dx={dx:g} m, dt={step_s:g} s", "",
             "[OPTIONS]",
             "FLOW_UNITS CMS", "FLOW_ROUTING DYNWAVE", "LINK_OFFSETS ELEVATION",
             "START_DATE " + START.strftime("%m/%d/%Y"), "START_TIME " + START.strftime("%H:%M:%S"),
             "REPORT_START_DATE " + START.strftime("%m/%d/%Y"), "REPORT_START_TIME " + START.strftime("%H:%M:%S"),
             "END_DATE " + end.strftime("%m/%d/%Y"), "END_TIME " + end.strftime("%H:%M:%S"),
             "SWEEP_START 01/01", "SWEEP_END 12/31", "DRY_DAYS 0",
             f"REPORT_STEP 00:{REPORT_STEP_S // 60:02d}:{REPORT_STEP_S % 60:02d}",
             "WET_STEP 00:05:00", "DRY_STEP 00:05:00",
             f"ROUTING_STEP {step_s:g}",
             "ALLOW_PONDING NO", "SKIP_STEADY_STATE NO", "IGNORE_RAINFALL YES", "IGNORE_SNOWMELT YES",
             "IGNORE_GROUNDWATER YES", "IGNORE_RDII YES", "IGNORE_QUALITY YES",
             f"INERTIAL_DAMPING {inertial_damping}",
             "VARIABLE_STEP 0",           # fixed routing step
             "LENGTHENING_STEP 0",        # no artificial conduit lengthening
             f"MIN_SURFAREA {min_surfarea:g}",  # m2; the node area (half the adjacent conduits' top width x length) governs
             f"NORMAL_FLOW_LIMITED {normal_flow_limited}",
             "SURCHARGE_METHOD EXTRAN", "FORCE_MAIN_EQUATION H-W",
             "MAX_TRIALS 50", "HEAD_TOLERANCE 0.00001", "SYS_FLOW_TOL 5", "LAT_FLOW_TOL 5",
             "MINIMUM_STEP 0.5", "THREADS 1", "",
             "[JUNCTIONS]", ";Name Elevation MaxDepth InitDepth SurDepth Aponded"]
    for name, x in zip(names[:-1], chain[:-1], strict=True):
        lines.append(f"{name} {bed(x):.6f} {CHANNEL_DEPTH_M:g} {y0:.6f} 0 0")
    lines += ["", "[OUTFALLS]", ";Name Elevation Type StageData Gated", f"OUT {bed(LENGTH_M):.6f} NORMAL NO", "",
              "[CONDUITS]", ";Name From To Length Roughness InOffset OutOffset InitFlow MaxFlow"]
    for k in range(n_links):
        lines.append(f"C{k + 1} {names[k]} {names[k + 1]} {dx:g} {MANNING_N} {bed(chain[k]):.6f} "
                     f"{bed(chain[k + 1]):.6f} {BASE_M3S:g} 0")
    lines += ["", "[XSECTIONS]", ";Link Shape Geom1 Geom2 Geom3 Geom4 Barrels Culvert"]
    for k in range(n_links):
        lines.append(f"C{k + 1} TRAPEZOIDAL {CHANNEL_DEPTH_M:g} {BOTTOM_WIDTH_M:g} {SIDE_SLOPE_H:g} {SIDE_SLOPE_H:g} 1")
    lines += ["", "[LOSSES]", ";none: no entrance/exit losses", "",
              "[INFLOWS]", ";Node Constituent TimeSeries Type Mfactor Sfactor Baseline Pattern",
              "J0 FLOW RELEASE FLOW 1.0 1.0", "",
              "[TIMESERIES]", ";Name Date Time Value"]
    for t, q in zip(pd.to_datetime(inflow["time"]), inflow["discharge_m3s"], strict=True):
        lines.append(f"RELEASE {t.strftime('%m/%d/%Y %H:%M:%S')} {q:.4f}")
    lines += ["", "[REPORT]", "INPUT NO", "CONTROLS NO", "NODES NONE", "LINKS NONE", ""]
    path.write_text("\n".join(lines))
    return names


def run_swmm(inp: Path, dx: float) -> dict[str, np.ndarray]:
    """Step SWMM through pyswmm and record, every routing step, depth and discharge at the three points.

    SWMM keeps depth at nodes and one discharge per conduit (its value stands for the conduit's middle):
    the discharge at an interior point is the mean of the conduits on either side of the node; at the
    outfall it is the last conduit's (dx/2 upstream of 15 km)."""
    from pyswmm import Links, Nodes, Simulation

    n_links = int(round(LENGTH_M / dx))
    idx = [int(round(km * 1000.0 / dx)) for km in POINTS_KM]
    node_names = [f"J{i}" if i < n_links else "OUT" for i in idx]
    link_pairs = [([f"C{i}", f"C{i + 1}"] if i < n_links else [f"C{i}"]) for i in idx]
    seconds, depth, flow = [], [], []
    with Simulation(str(inp)) as sim:
        nodes, links = Nodes(sim), Links(sim)
        nd = [nodes[n] for n in node_names]
        lk = [[links[c] for c in pair] for pair in link_pairs]
        t0 = sim.start_time
        for _ in sim:
            seconds.append((sim.current_time - t0).total_seconds())
            depth.append([n.depth for n in nd])
            flow.append([sum(c.flow for c in pair) / len(pair) for pair in lk])
        routing_error = sim.flow_routing_error
    return {"seconds": np.array(seconds), "depth": np.array(depth), "flow": np.array(flow),
            "routing_error_pct": routing_error}


def peak(seconds: np.ndarray, q: np.ndarray) -> tuple[float, float, float]:
    """(peak discharge, time of the largest stepped value (h), time of the vertex of a parabola fitted over
    +-10 min (h)); the parabola makes the time of a broad peak independent of the step."""
    k = int(np.argmax(q))
    window = np.abs(seconds - seconds[k]) <= 600.0
    c2, c1, _ = np.polyfit((seconds[window] - seconds[k]) / 3600.0, q[window], 2)
    vertex = seconds[k] / 3600.0 - c1 / (2.0 * c2) if c2 < 0 else seconds[k] / 3600.0
    return float(q[k]), seconds[k] / 3600.0, float(vertex)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two coarsest meshes only; writes nothing")
    ap.add_argument("--keep-inp", type=Path, help="folder to keep the SWMM .inp files in")
    ap.add_argument("--normal-flow-limited", default="FROUDE", help="SWMM NORMAL_FLOW_LIMITED (default FROUDE)")
    ap.add_argument("--inertial-damping", default="NONE", help="SWMM INERTIAL_DAMPING (default NONE)")
    ap.add_argument("--min-surfarea", type=float, default=0.01, help="SWMM MIN_SURFAREA, m2 (default 0.01)")
    ap.add_argument("--only", action="append", metavar="DX:DT",
                    help="sensitivity run: these meshes only (conduit length m:routing step s); writes nothing")
    args = ap.parse_args(argv)

    import pyswmm
    from swmm.toolkit import solver

    inflow = inflow_table()
    meshes = MESHES[:2] if args.quick else MESHES
    if args.only:
        meshes = tuple(tuple(float(v) for v in m.split(":")) for m in args.only)
    tmp = tempfile.TemporaryDirectory()
    folder = args.keep_inp or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    rows, results = [], {}
    for dx, step in meshes:
        inp = folder / f"trapezoid_dx{dx:g}_dt{step:g}.inp"
        write_inp(inp, dx, step, inflow, args.normal_flow_limited, args.inertial_damping, args.min_surfarea)
        res = run_swmm(inp, dx)
        results[dx] = res
        for j, km in enumerate(POINTS_KM):
            qp, tp, tv = peak(res["seconds"], res["flow"][:, j])
            rows.append({"conduit_length_m": dx, "routing_step_s": step, "chainage_m": km * 1000.0,
                         "peak_discharge_m3s": round(qp, 3), "peak_time_h": round(tp, 4),
                         "peak_time_parabola_h": round(tv, 4),
                         "peak_depth_m": round(float(res["depth"][:, j].max()), 4),
                         "flow_routing_error_pct": round(res["routing_error_pct"], 4)})
        print(f"dx {dx:g} m dt {step:g} s: " + "; ".join(
            f"{r['chainage_m'] / 1000:g} km {r['peak_discharge_m3s']:.2f} m3/s at {r['peak_time_parabola_h']:.3f} h"
            for r in rows[-3:]) + f"; continuity error {res['routing_error_pct']:.3f} %", flush=True)
    conv = pd.DataFrame(rows)
    print(f"SWMM engine {solver.swmm_version_info()}, pyswmm {pyswmm.__version__}; NORMAL_FLOW_LIMITED "
          f"{args.normal_flow_limited}, INERTIAL_DAMPING {args.inertial_damping}, MIN_SURFAREA {args.min_surfarea:g}")
    if len(results) < 2:
        return 0
    # differences between the two finest meshes
    fine, finer = sorted(results)[1], sorted(results)[0]
    a = conv[conv.conduit_length_m == fine].reset_index(drop=True)
    b = conv[conv.conduit_length_m == finer].reset_index(drop=True)
    for j in range(len(POINTS_KM)):
        dq = 100.0 * (a.peak_discharge_m3s[j] - b.peak_discharge_m3s[j]) / b.peak_discharge_m3s[j]
        dt_min = 60.0 * (a.peak_time_parabola_h[j] - b.peak_time_parabola_h[j])
        print(f"{POINTS_KM[j]:g} km: dx {fine:g} vs {finer:g} m: peak {dq:+.3f} %, peak time {dt_min:+.2f} min")
    if args.quick or args.only:
        return 0

    best = results[finer]
    on_report = (np.round(best["seconds"]) % REPORT_STEP_S == 0)
    sec = np.concatenate([[0.0], best["seconds"][on_report]])
    y0 = normal_depth(BASE_M3S)
    ref = pd.DataFrame({"time": (START + pd.to_timedelta(sec, unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ")})
    for j, km in enumerate(POINTS_KM):
        q = np.concatenate([[BASE_M3S], best["flow"][on_report, j]])
        y = np.concatenate([[y0], best["depth"][on_report, j]])
        ref[f"discharge_{km * 1000:.0f}m_m3s"] = np.round(q, 3)
        ref[f"depth_{km * 1000:.0f}m_m"] = np.round(y, 4)
    ref.to_csv(HERE / "swmm_reference.csv", index=False)
    conv.to_csv(HERE / "convergence.csv", index=False)
    inflow.to_csv(HERE / "inflow.csv", index=False)
    sections_table().to_csv(HERE / "sections.csv", index=False)
    print(f"wrote {HERE}/{{swmm_reference,convergence,inflow,sections}}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
