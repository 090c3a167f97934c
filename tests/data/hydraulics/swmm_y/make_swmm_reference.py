"""EPA SWMM 5.2 dynamic-wave reference for hydro's network solver: a Y of two trapezoidal reaches.

Run in a scratch environment outside the repository (SWMM is not a dependency of hydro):

    python3 -m venv /tmp/swmmenv && /tmp/swmmenv/bin/pip install pyswmm swmm-toolkit pandas numpy
    /tmp/swmmenv/bin/python tests/data/hydraulics/swmm_y/make_swmm_reference.py [--quick]

It writes, next to itself: sections.csv (both reaches, with a reach column), junctions.csv, inflow_main.csv
and inflow_trib.csv (hydro's formats), swmm_reference.csv (discharge and depth at the reported points each
minute, finest SWMM mesh), convergence.csv (peaks for every mesh) and prints the convergence table. The
SWMM options are those of ../swmm_trapezoid (see its README: full dynamic wave, no inertial damping,
NORMAL_FLOW_LIMITED FROUDE, fixed step, no losses, tight head tolerance).
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

# --- the network: main 15 km (60 m bottom), tributary 10 km (30 m bottom) joining it at 7.5 km -------------
REACHES = {
    #        length, bottom, side, n, slope, bed at its end
    "main": (15_000.0, 60.0, 2.0, 0.035, 0.0005, 100.0),
    "trib": (10_000.0, 30.0, 2.0, 0.035, 0.0008, 100.0 + 0.0005 * 7_500.0),
}
JUNCTION_M = 7_500.0  # chainage of the main reach where the tributary enters
CHANNEL_DEPTH_M = 10.0
HYDRO_SECTION_SPACING_M = 250.0
# reported points: (reach, chainage)
POINTS = (("main", 5_000.0), ("main", 10_000.0), ("main", 15_000.0), ("trib", 5_000.0))

# --- inflows: base flow, a gamma pulse (as ../swmm_trapezoid), base flow again ----------------------------
START = pd.Timestamp("2024-01-01T00:00:00")
DURATION_H = 36.0
INFLOWS = {"main": (80.0, 800.0, 2.0, 6.0), "trib": (40.0, 500.0, 2.0, 4.0)}  # base, peak, rise start, time to peak
GAMMA_SHAPE = 4.0
INFLOW_STEP_MIN = 5

MESHES = ((500.0, 10.0), (250.0, 5.0), (125.0, 2.0), (62.5, 1.0))
REPORT_STEP_S = 60


def release(hours: np.ndarray, reach: str) -> np.ndarray:
    base, peak, rise, tp = INFLOWS[reach]
    tau = np.clip((hours - rise) / tp, 0.0, None)
    return base + (peak - base) * tau**GAMMA_SHAPE * np.exp(GAMMA_SHAPE * (1.0 - tau))


def bed(reach: str, chainage_m):
    length, _, _, _, slope, end = REACHES[reach]
    return end + slope * (length - np.asarray(chainage_m))


def normal_depth(reach: str, q: float) -> float:
    _, b, z, n, s, _ = REACHES[reach]
    lo, hi = 1e-6, CHANNEL_DEPTH_M
    for _ in range(200):
        y = 0.5 * (lo + hi)
        a, p = (b + z * y) * y, b + 2.0 * y * math.sqrt(1.0 + z * z)
        if a * (a / p) ** (2.0 / 3.0) * math.sqrt(s) / n < q:
            lo = y
        else:
            hi = y
    return 0.5 * (lo + hi)


def inflow_table(reach: str) -> pd.DataFrame:
    minutes = np.arange(0, DURATION_H * 60 + INFLOW_STEP_MIN, INFLOW_STEP_MIN)
    times = START + pd.to_timedelta(minutes, unit="min")
    return pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "discharge_m3s": np.round(release(minutes / 60.0, reach), 4)})


def sections_table() -> pd.DataFrame:
    rows = []
    for reach, (length, b, z, n, _, _) in REACHES.items():
        setback = z * CHANNEL_DEPTH_M
        st = np.array([0.0, setback, setback + b, 2 * setback + b])
        for k, x in enumerate(np.arange(0.0, length + 0.5, HYDRO_SECTION_SPACING_M)):
            zb = float(bed(reach, x))
            for s, dz in zip(st, (CHANNEL_DEPTH_M, 0.0, 0.0, CHANNEL_DEPTH_M), strict=True):
                rows.append({"reach": reach, "section": f"{reach[0].upper()}{k:03d}", "chainage_m": x, "station_m": s,
                             "elevation_m": round(zb + dz, 6), "manning_n": n, "left_bank_m": st[0],
                             "right_bank_m": st[-1]})
    return pd.DataFrame(rows)


def write_inp(path: Path, dx: float, step_s: float) -> None:
    """Main: nodes M0.. every dx, outfall OUT at 15 km; tributary: nodes T0.. every dx, its last conduit
    ending at the main's node at 7.5 km (the junction)."""
    end = START + pd.Timedelta(hours=DURATION_H)
    n_main, n_trib = int(round(REACHES["main"][0] / dx)), int(round(REACHES["trib"][0] / dx))
    k_junction = int(round(JUNCTION_M / dx))
    q_main, q_trib = INFLOWS["main"][0], INFLOWS["trib"][0]
    lines = ["[TITLE]", f"hydro peer reference: Y network, dx={dx:g} m, dt={step_s:g} s", "", "[OPTIONS]",
             "FLOW_UNITS CMS", "FLOW_ROUTING DYNWAVE", "LINK_OFFSETS ELEVATION",
             "START_DATE " + START.strftime("%m/%d/%Y"), "START_TIME " + START.strftime("%H:%M:%S"),
             "REPORT_START_DATE " + START.strftime("%m/%d/%Y"), "REPORT_START_TIME " + START.strftime("%H:%M:%S"),
             "END_DATE " + end.strftime("%m/%d/%Y"), "END_TIME " + end.strftime("%H:%M:%S"),
             "SWEEP_START 01/01", "SWEEP_END 12/31", "DRY_DAYS 0",
             f"REPORT_STEP 00:{REPORT_STEP_S // 60:02d}:{REPORT_STEP_S % 60:02d}", "WET_STEP 00:05:00",
             "DRY_STEP 00:05:00", f"ROUTING_STEP {step_s:g}", "ALLOW_PONDING NO", "SKIP_STEADY_STATE NO",
             "IGNORE_RAINFALL YES", "IGNORE_SNOWMELT YES", "IGNORE_GROUNDWATER YES", "IGNORE_RDII YES",
             "IGNORE_QUALITY YES", "INERTIAL_DAMPING NONE", "VARIABLE_STEP 0", "LENGTHENING_STEP 0",
             "MIN_SURFAREA 0.01", "NORMAL_FLOW_LIMITED FROUDE", "SURCHARGE_METHOD EXTRAN", "FORCE_MAIN_EQUATION H-W",
             "MAX_TRIALS 50", "HEAD_TOLERANCE 0.00001", "SYS_FLOW_TOL 5", "LAT_FLOW_TOL 5", "MINIMUM_STEP 0.5",
             "THREADS 1", "", "[JUNCTIONS]", ";Name Elevation MaxDepth InitDepth SurDepth Aponded"]
    x_main = np.linspace(0.0, REACHES["main"][0], n_main + 1)
    x_trib = np.linspace(0.0, REACHES["trib"][0], n_trib + 1)
    for k in range(n_main):
        y0 = normal_depth("main", q_main if k < k_junction else q_main + q_trib)
        lines.append(f"M{k} {bed('main', x_main[k]):.6f} {CHANNEL_DEPTH_M:g} {y0:.6f} 0 0")
    for k in range(n_trib):
        lines.append(f"T{k} {bed('trib', x_trib[k]):.6f} {CHANNEL_DEPTH_M:g} {normal_depth('trib', q_trib):.6f} 0 0")
    lines += ["", "[OUTFALLS]", ";Name Elevation Type StageData Gated",
              f"OUT {bed('main', REACHES['main'][0]):.6f} NORMAL NO", "",
              "[CONDUITS]", ";Name From To Length Roughness InOffset OutOffset InitFlow MaxFlow"]
    xs = []
    main_nodes = [f"M{k}" for k in range(n_main)] + ["OUT"]
    trib_nodes = [f"T{k}" for k in range(n_trib)] + [f"M{k_junction}"]
    for reach, nodes, x, q in (("main", main_nodes, x_main, None), ("trib", trib_nodes, x_trib, q_trib)):
        _, b, z, n, _, _ = REACHES[reach]
        for k in range(len(nodes) - 1):
            flow = q if q is not None else (q_main if k < k_junction else q_main + q_trib)
            name = f"{reach[0].upper()}C{k + 1}"
            lines.append(f"{name} {nodes[k]} {nodes[k + 1]} {dx:g} {n} {bed(reach, x[k]):.6f} {bed(reach, x[k + 1]):.6f} "
                         f"{flow:g} 0")
            xs.append(f"{name} TRAPEZOIDAL {CHANNEL_DEPTH_M:g} {b:g} {z:g} {z:g} 1")
    lines += ["", "[XSECTIONS]", ";Link Shape Geom1 Geom2 Geom3 Geom4 Barrels Culvert", *xs, "",
              "[INFLOWS]", ";Node Constituent TimeSeries Type Mfactor Sfactor Baseline Pattern",
              "M0 FLOW MAIN FLOW 1.0 1.0", "T0 FLOW TRIB FLOW 1.0 1.0", "", "[TIMESERIES]", ";Name Date Time Value"]
    for reach in ("main", "trib"):
        table = inflow_table(reach)
        for t, q in zip(pd.to_datetime(table["time"]), table["discharge_m3s"], strict=True):
            lines.append(f"{reach.upper()} {t.strftime('%m/%d/%Y %H:%M:%S')} {q:.4f}")
    lines += ["", "[REPORT]", "INPUT NO", "CONTROLS NO", "NODES NONE", "LINKS NONE", ""]
    path.write_text("\n".join(lines))


def run_swmm(inp: Path, dx: float) -> dict[str, np.ndarray]:
    """Depth and discharge at the points every routing step: an interior node's discharge is the mean of its
    two conduits; at the outfall the last conduit's (dx/2 upstream)."""
    from pyswmm import Links, Nodes, Simulation

    n_main = int(round(REACHES["main"][0] / dx))
    where = []
    for reach, x in POINTS:
        i = int(round(x / dx))
        p = reach[0].upper()
        node = "OUT" if (reach == "main" and i == n_main) else f"{p}{i}"
        links = [f"{p}C{i}"] if node == "OUT" else [f"{p}C{i}", f"{p}C{i + 1}"]
        where.append((node, links))
    junction = f"M{int(round(JUNCTION_M / dx))}"
    seconds, depth, flow, jdepth = [], [], [], []
    with Simulation(str(inp)) as sim:
        nodes, links = Nodes(sim), Links(sim)
        nd = [nodes[n] for n, _ in where]
        lk = [[links[c] for c in cs] for _, cs in where]
        jn = nodes[junction]
        t0 = sim.start_time
        for _ in sim:
            seconds.append((sim.current_time - t0).total_seconds())
            depth.append([n.depth for n in nd])
            flow.append([sum(c.flow for c in cs) / len(cs) for cs in lk])
            jdepth.append(jn.depth)
        err = sim.flow_routing_error
    return {"seconds": np.array(seconds), "depth": np.array(depth), "flow": np.array(flow),
            "junction_depth": np.array(jdepth), "routing_error_pct": err}


def peak(seconds: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """(peak value, time of the vertex of a parabola fitted over +-10 min around the largest value (h))."""
    k = int(np.argmax(q))
    window = np.abs(seconds - seconds[k]) <= 600.0
    c2, c1, _ = np.polyfit((seconds[window] - seconds[k]) / 3600.0, q[window], 2)
    return float(q[k]), (seconds[k] / 3600.0 - c1 / (2.0 * c2)) if c2 < 0 else seconds[k] / 3600.0


def label(reach: str, x: float) -> str:
    return f"{reach}_{x:.0f}m"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the two coarsest meshes only; writes nothing")
    ap.add_argument("--keep-inp", type=Path, help="folder to keep the SWMM .inp files in")
    args = ap.parse_args(argv)
    import pyswmm
    from swmm.toolkit import solver

    meshes = MESHES[:2] if args.quick else MESHES
    tmp = tempfile.TemporaryDirectory()
    folder = args.keep_inp or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    rows, results = [], {}
    for dx, step in meshes:
        inp = folder / f"y_dx{dx:g}_dt{step:g}.inp"
        write_inp(inp, dx, step)
        res = results[dx] = run_swmm(inp, dx)
        for j, (reach, x) in enumerate(POINTS):
            qp, tv = peak(res["seconds"], res["flow"][:, j])
            rows.append({"conduit_length_m": dx, "routing_step_s": step, "reach": reach, "chainage_m": x,
                         "peak_discharge_m3s": round(qp, 3), "peak_time_parabola_h": round(tv, 4),
                         "peak_depth_m": round(float(res["depth"][:, j].max()), 4),
                         "flow_routing_error_pct": round(res["routing_error_pct"], 4)})
        print(f"dx {dx:g} m dt {step:g} s: " + "; ".join(
            f"{r['reach']} {r['chainage_m'] / 1000:g} km {r['peak_discharge_m3s']:.2f} m3/s at "
            f"{r['peak_time_parabola_h']:.3f} h" for r in rows[-len(POINTS):])
            + f"; continuity error {res['routing_error_pct']:.3f} %", flush=True)
    print(f"SWMM engine {solver.swmm_version_info()}, pyswmm {pyswmm.__version__}")
    conv = pd.DataFrame(rows)
    finer, fine = sorted(results)[0], sorted(results)[1]
    a = conv[conv.conduit_length_m == fine].reset_index(drop=True)
    b = conv[conv.conduit_length_m == finer].reset_index(drop=True)
    for j, (reach, x) in enumerate(POINTS):
        dq = 100.0 * (a.peak_discharge_m3s[j] - b.peak_discharge_m3s[j]) / b.peak_discharge_m3s[j]
        dt_min = 60.0 * (a.peak_time_parabola_h[j] - b.peak_time_parabola_h[j])
        print(f"{reach} {x / 1000:g} km: dx {fine:g} vs {finer:g} m: peak {dq:+.3f} %, time {dt_min:+.2f} min")
    if args.quick:
        return 0
    best = results[finer]
    on_report = np.round(best["seconds"]) % REPORT_STEP_S == 0
    sec = best["seconds"][on_report]
    ref = pd.DataFrame({"time": (START + pd.to_timedelta(sec, unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ")})
    for j, (reach, x) in enumerate(POINTS):
        ref[f"discharge_{label(reach, x)}_m3s"] = np.round(best["flow"][on_report, j], 3)
        ref[f"depth_{label(reach, x)}_m"] = np.round(best["depth"][on_report, j], 4)
    ref["depth_junction_m"] = np.round(best["junction_depth"][on_report], 4)
    ref.to_csv(HERE / "swmm_reference.csv", index=False)
    conv.to_csv(HERE / "convergence.csv", index=False)
    for reach in ("main", "trib"):
        inflow_table(reach).to_csv(HERE / f"inflow_{reach}.csv", index=False)
    sections_table().to_csv(HERE / "sections.csv", index=False)
    pd.DataFrame({"reach": ["trib"], "joins": ["main"], "chainage_m": [JUNCTION_M]}).to_csv(HERE / "junctions.csv",
                                                                                          index=False)
    print(f"wrote {HERE}/{{swmm_reference,convergence,inflow_main,inflow_trib,sections,junctions}}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
