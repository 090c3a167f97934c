"""Command line: every `hydro ...` command. Groups with their own module in this package register themselves.

Logs go to stderr, results to the paths given. Exit codes: 0 ok, 1 unexpected, 2 configuration,
3 input data, 4 numerical. Errors print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path

from .. import __version__
from ..core.errors import HydroError
from . import _types as arg


def _add_route(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "route",
        help="route lateral inflow through a river network (NWM Muskingum-Cunge + level-pool lakes)",
        description="Route lateral inflow through a river network and write CF NetCDF with NWM CHRTOUT "
        "names: streamflow(time, feature_id) [m3 s-1], velocity, depth; lake nodes marked by is_lake.",
    )
    net = p.add_argument_group("network")
    net.add_argument("--routelink", type=Path, help="NWM RouteLink NetCDF")
    net.add_argument("--network", type=Path, help="hydro CF network file (alternative to --routelink)")
    net.add_argument("--lakeparm", type=Path, help="NWM LAKEPARM NetCDF: collapse these lakes into level-pool nodes")
    p.add_argument("--lateral", type=Path, required=True, help="directory of CHRTOUT files (qBucket + qSfcLatRunoff) or NetCDF with qlat(time, feature_id)")
    p.add_argument("--output", type=arg.output_file, required=True, help="output NetCDF (written atomically)")
    p.add_argument("--dt", type=arg.float_range(10.0, 3600.0), default=300.0, help="routing step [s] (default 300, as NWM)")
    p.add_argument("--method", default="muskingum_cunge", choices=["muskingum_cunge", "muskingum"], help="routing method")
    p.add_argument("--mc-solver", default="nwm", choices=["nwm", "fast"], help="nwm: t-route's float32 secant, bit for bit (default); fast: the same secant on SIMD lanes of segments (~4x faster, float32 noise apart)")
    p.add_argument("--upstream", default="previous", choices=["previous", "current"], help="upstream inflow from the previous step (NWM, default) or the current step (t-route default)")
    p.add_argument("--output-interval", type=arg.float_range(10.0, 31 * 86400.0), default=3600.0, help="seconds between output records (default 3600)")
    p.add_argument("--hours", type=arg.positive_float, help="hours to route (default: the whole forcing)")
    p.add_argument("--initial-state", type=Path, help="NetCDF with streamflow(feature_id) [, depth, water_sfc_elev(lake_id)]; default cold start")
    p.add_argument("--bad-lateral", default="error", choices=["error", "zero"], help="NaN or negative lateral inflow: stop (default) or replace by 0 and log the count")
    p.add_argument("--nudge", type=Path, help="gauge observations (parquet/CSV: time, link, discharge_m3s[, quality]) to nudge towards, as the NWM does")
    p.add_argument("--nudge-coefficient", type=arg.float_range(0.0, 1.0), default=1.0, help="nudging coefficient G (default 1)")
    p.add_argument("--nudge-tau", type=arg.positive_float, default=900.0, help="time radius of an observation's influence [s] (default 900)")
    p.add_argument("--threads", type=arg.threads, help="numba threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_route)


def _cmd_route(args: argparse.Namespace) -> int:
    from ..io.atomic import check_output_dir, route_output_estimate
    from ..stages.pipeline import RouteOptions, route

    _set_threads(args.threads)
    check_output_dir(args.output, *route_output_estimate(args.routelink or args.network, args.lateral, args.hours,
                                                         args.output_interval))  # before any work
    summary = route(
        RouteOptions(
            output=args.output, lateral=args.lateral, routelink=args.routelink, network=args.network,
            lakeparm=args.lakeparm, dt=args.dt, method=args.method, mc_solver=args.mc_solver,
            upstream=args.upstream, output_interval=args.output_interval, hours=args.hours,
            initial_state=args.initial_state, bad_lateral=args.bad_lateral, progress=not args.no_progress,
            nudge=args.nudge, nudge_coefficient=args.nudge_coefficient, nudge_tau_s=args.nudge_tau,
        )
    )
    print(json.dumps(summary))
    return 0


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="calibrate a runoff model (xaj, gr4j) on a catchment record, split-sample, with GB/T 22482 scores",
        description="Calibrate a lumped runoff model on a catchment record (precipitation, pet, discharge) with "
        "batch-parallel Dynamically Dimensioned Search on NSE or KGE. The model runs continuously from the "
        "warm-up start; warm-up is never scored. Prints NSE, KGE and the GB/T 22482-2008 event statistics "
        "(DC, peak / peak-time / runoff-depth qualified rates, QR, grade) for calibration and validation, and "
        "writes the calibrated set to --output (default <data stem>_<model>.toml in the current directory) with "
        "its run over the record (<output stem>_simulation.nc, CF: simulated and observed discharge, rain, PET, "
        "the period of each step) and event hydrograph PNGs beside it. Search ranges default to the packaged models/<model>/hourly.toml or "
        "daily.toml. A catchment description (--catchment, or basins/catchments/<data stem>.toml of a source "
        "checkout where present) corrects what the record gets wrong, such as precipitation stamped a step late.",
    )
    p.add_argument("--data", type=Path, required=True, help="catchment NetCDF (precipitation, pet [mm per step], discharge [m3 s-1])")
    p.add_argument("--model", required=True, help="runoff model: xaj (xinanjiang) or gr4j (gr4h)")
    p.add_argument("--warmup", required=True, help="START/END (ISO dates, END inclusive), simulated but not scored")
    p.add_argument("--calibration", required=True, help="START/END of the calibration period")
    p.add_argument("--validation", help="START/END of the validation period (continues the same run)")
    p.add_argument("--objective", default="nse", choices=["nse", "kge", "nse_events", "kge_events"], help="objective to maximise on the calibration period (default nse); *_events scores only the flood-event windows flagged ok")
    p.add_argument("--bounds", type=Path, help="search ranges TOML (default: the packaged models/<model>/hourly.toml or daily.toml, by the data step)")
    p.add_argument("--evaluations", type=arg.int_range(1, 10_000_000), default=10_000, help="model runs (default 10000)")
    p.add_argument("--batch", type=arg.int_range(1, 4096), help="parameter sets run in parallel per DDS iteration (default 16, at most --evaluations)")
    p.add_argument("--seed", type=arg.non_negative_int, default=1, help="random seed (default 1)")
    p.add_argument("--events", type=Path, help="flood-event CSV (event_id,start,end[,quality]); default: the *_events.csv beside the data, else detected")
    p.add_argument("--output", type=arg.output_file, help="calibrated parameter file; its simulation NetCDF and event PNGs go beside it (default ./<data stem>_<model>.toml)")
    p.add_argument("--catchment", type=Path, help="catchment description TOML (default basins/catchments/<data stem>.toml of a source checkout, where present)")
    p.add_argument("--no-catchment", action="store_true", help="ignore the catchment description: the record exactly as stamped")
    p.add_argument("--no-plots", action="store_true", help="do not write event hydrograph PNGs")
    p.add_argument("--threads", type=arg.threads, help="numba threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from ..io.atomic import check_writable
    from ..stages.calibrate import CalibrateOptions, default_output, run_calibration

    _set_threads(args.threads)
    if args.batch is not None and args.batch > args.evaluations:  # one batch would use the budget: no search
        from ..core.errors import ConfigError

        raise ConfigError(f"--batch {args.batch} is more than --evaluations {args.evaluations}: each search iteration "
                          "runs one batch; give --batch at most --evaluations")
    batch = args.batch if args.batch is not None else min(16, args.evaluations)
    output = args.output or default_output(args.data, args.model)
    check_writable(output.parent, 0 if args.no_plots else 20 * 150 * 1024, basis="event plots of 150 KiB, up to 20",
                   todo="choose another --output")  # before any work
    summary = run_calibration(CalibrateOptions(
        data=args.data, model=args.model, warmup=args.warmup, calibration=args.calibration,
        validation=args.validation, objective=args.objective, bounds=args.bounds, evaluations=args.evaluations,
        batch=batch, seed=args.seed, output=args.output, events=args.events, plots=not args.no_plots,
        progress=not args.no_progress and not args.json, catchment=args.catchment, use_catchment=not args.no_catchment,
    ))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['model']} on {summary['data']}: {summary['evaluations']} runs in {summary['seconds']} s")
    if summary["catchment"]:
        print(f"  catchment  {summary['catchment']} (precipitation moved back {summary['precipitation_lead_steps']} step(s))")
    for name in ("calibration", "validation"):
        if name in summary:
            b = summary[name]
            print(f"  {name:<11s} {b['start'][:10]}..{b['end'][:10]}  NSE {b['nse']:.3f}  KGE {b['kge']:.3f}  "
                  f"bias {100 * b['bias']:+.1f}%  events {b['n_events']}: QR peak {b['qr_peak']:.0f}% "
                  f"time {b['qr_peak_time']:.0f}% depth {b['qr_depth']:.0f}%  QR {b['qr']:.0f}%  grade {b['grade']}")
    print(f"  parameters -> {summary['output']}")
    for png in summary.get("plots", []):
        print(f"  events     -> {png}")
    return 0


def _add_nowcast(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nowcast",
        help="radar rainfall nowcast (S-PROG / extrapolation / STEPS-style ensemble) to NetCDF",
        description="Read radar frames (CF NetCDF, ODIM_H5, KNMI HDF5, GeoTIFF, MeteoSwiss GIF, FMI PGM), apply "
        "quality control, estimate motion by dense optical flow and nowcast from the issue time. Writes "
        "rainfall_rate(time, y, x) [mm h-1] on the input grid, one field per 10-minute valid time (the mean "
        "rate over the 10 minutes ending then); NaN where the radar never measured.",
    )
    p.add_argument("--radar", type=Path, required=True, help="radar file with the frames up to the issue time, or a directory of one-frame files (ODIM, KNMI HDF5, GeoTIFF, GIF, PGM)")
    p.add_argument("--issue-time", type=arg.iso_time, required=True, help="ISO time of the last observed frame, e.g. 2010-08-26T00:30 (an offset is converted to UTC)")
    p.add_argument("--lead-minutes", type=arg.int_range(10, 360), default=60, help="forecast length (default 60, up to 360)")
    p.add_argument("--output", type=arg.output_file, required=True, help="output NetCDF (written atomically)")
    p.add_argument("--method", default="sprog", choices=["sprog", "extrapolation", "persistence"], help="deterministic method (default sprog)")
    p.add_argument("--members", type=arg.int_range(0, 500), default=0, help="ensemble members (STEPS-style); 0 = deterministic")
    p.add_argument("--levels", type=arg.int_range(1, 12), default=6, help="cascade levels (default 6)")
    p.add_argument("--seed", type=arg.non_negative_int, default=1, help="ensemble random seed")
    _add_motion_option(p)
    _add_qc_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd_nowcast)


def _add_motion_option(p: argparse.ArgumentParser) -> None:
    from ..nowcast import MOTION_SMOOTHING_KM

    p.add_argument("--motion-smoothing-km", type=arg.float_range(0.0, 500.0), default=MOTION_SMOOTHING_KM,
                   help=f"Gaussian smoothing of the optical-flow motion, standard deviation in km (default {MOTION_SMOOTHING_KM:g}; "
                   "0 = none; lower it where small storms cross wide dry areas, which it slows)")


def _add_qc_options(p: argparse.ArgumentParser) -> None:
    q = p.add_argument_group("radar quality control")
    q.add_argument("--max-rate", type=arg.float_range(0.0, 1000.0, lo_open=True), default=250.0, help="rates above this [mm h-1] are implausible (default 250)")
    q.add_argument("--implausible", default="nan", choices=["nan", "clip"], help="implausible rates become not measured (default) or are clipped")
    q.add_argument("--missing-frames", default="error", choices=["error", "persist", "zero"], help="gaps and all-NaN frames: stop (default), repeat the previous frame, or insert a dry frame")


def _qc_policy(args: argparse.Namespace):
    from ..nowcast.qc import QCPolicy

    return QCPolicy(max_rate_mm_h=args.max_rate, implausible=args.implausible, missing_frames=args.missing_frames)


def _cmd_nowcast(args: argparse.Namespace) -> int:
    from ..io.atomic import check_output_dir, nowcast_output_estimate
    from ..stages.nowcast import NowcastOptions, run_nowcast

    with warnings.catch_warnings():  # rasterio warns on a GIF or PGM frame (no geotransform) sized for the estimate
        warnings.simplefilter("ignore")
        estimate = nowcast_output_estimate(args.radar, args.lead_minutes)
    check_output_dir(args.output, *estimate)  # before any work
    summary = run_nowcast(NowcastOptions(
        radar=args.radar, issue_time=args.issue_time, lead_minutes=args.lead_minutes, output=args.output,
        method=args.method, levels=args.levels, members=args.members, seed=args.seed,
        motion_smoothing_km=args.motion_smoothing_km, qc=_qc_policy(args)))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"nowcast {summary['method']}{' x ' + str(summary['members']) if summary['members'] else ''} from "
              f"{summary['issue_time']}: {summary['fields']} ten-minute fields in {summary['seconds']} s -> {summary['output']}")
    return 0


def _add_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="score nowcasts against the later radar frames (CSI/POD/FAR, FSS, MAE, CRPS) per lead time",
        description="Issue nowcasts at the given times, score their 10-minute mean rain against the observed "
        "frames, contingency tables pooled over all issue times, on cells valid in every frame of each file. "
        "Repeat --radar/--issue-times to pool several events. Reports persistence too, and the time per nowcast.",
    )
    p.add_argument("--radar", type=Path, action="append", required=True, help="radar file (repeatable)")
    p.add_argument("--issue-times", action="append", required=True, help="comma-separated ISO issue times for the matching --radar")
    p.add_argument("--lead-minutes", type=arg.int_range(10, 360), default=60, help="lead time scored (default 60)")
    p.add_argument("--methods", default="sprog,extrapolation,persistence", help="comma-separated: sprog, extrapolation, persistence, steps")
    p.add_argument("--members", type=arg.int_range(1, 500), default=20, help="members for the steps method (default 20)")
    p.add_argument("--levels", type=arg.int_range(1, 12), default=6, help="cascade levels (default 6)")
    p.add_argument("--plot", type=Path, help="PNG of skill against lead time")
    _add_motion_option(p)
    _add_qc_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_verify)


def _cmd_verify(args: argparse.Namespace) -> int:
    from ..core.errors import ConfigError
    from ..stages.nowcast import run_verification

    if len(args.radar) != len(args.issue_times):
        raise ConfigError("give one --issue-times per --radar")
    cases = [(radar, [t.strip() for t in times.split(",") if t.strip()]) for radar, times in zip(args.radar, args.issue_times, strict=True)]
    for (radar, times), given in zip(cases, args.issue_times, strict=True):
        if not times:
            raise ConfigError(f"--issue-times {given!r} for --radar {radar}: no issue time; give comma-separated ISO "
                              "times, e.g. 2010-08-26T00:30,2010-08-26T01:00")
        for k, text in enumerate(times):  # as --issue-time: ISO 8601, years 1900-2200, offsets converted to UTC
            try:
                times[k] = arg.iso_time(text)
            except argparse.ArgumentTypeError as exc:
                raise ConfigError(f"--issue-times for --radar {radar}: {exc}") from None
        repeated = sorted({t for t in times if times.count(t) > 1})
        if repeated:  # scored twice it would count twice in the pooled scores
            raise ConfigError(f"--issue-times for --radar {radar}: {str(repeated[0])[:16]} is given "
                              f"{times.count(repeated[0])} times; give each issue time once")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ConfigError(f"--methods {args.methods!r}: no method; give e.g. sprog,extrapolation,persistence")
    results = run_verification(cases, args.lead_minutes, methods, args.levels, args.members, qc=_qc_policy(args),
                               motion_smoothing_km=args.motion_smoothing_km)
    if args.plot:
        from ..plots import plot_skill

        plot_skill(args.plot, results)
    if args.json:
        print(json.dumps(results))
        return 0
    for method, res in results.items():
        leads = res["leads"]
        print(f"{method:>13s}  CSI(1 mm/h) " + " ".join(f"{r['csi_1']:.2f}" for r in leads)
              + f"  mean {res['mean_csi_1']:.3f}  FSS " + " ".join(f"{r['fss']:.2f}" for r in leads)
              + ("  CRPS " + " ".join(f"{r['crps']:.3f}" for r in leads) if "crps" in leads[0] else "")
              + f"  | {res['nowcasts']} nowcasts, median {res['seconds_per_nowcast_median']:.2f} s")
    if args.plot:
        print(f"skill plot -> {args.plot}")
    return 0


def _add_rehearse(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rehearse",
        help="forward-inverse-forward dispatch rehearsal of a basin's reservoirs against a forecast",
        description="F1: route the forecast through the reservoirs' operating rules and report, per control "
        "section, peak discharge and stage, hours above the warning and guaranteed stages and the excess volume "
        "above the safe discharge, and per reservoir the peak level and flood storage used and left. I: a linear "
        "programme (HiGHS) on unit responses from the routing kernel gives releases that keep every section at "
        "or below its safe discharge (minus --margin) within every reservoir limit, with the binding constraints "
        "and each dam's allowable release envelope. F2: the schedule re-run on the full model; accepted only if "
        "every target holds, else the margin grows and I runs again.",
    )
    p.add_argument("basin", type=Path, help="basin TOML with reservoirs, control sections and 'network'")
    p.add_argument("--forecast", type=Path, required=True, help="hourly qlat(time, feature_id) NetCDF [m3 s-1], a CHRTOUT folder, or a hydro run cycle folder / its forecast.nc")
    # None: not given (a what-if refuses them: they shape the derived dispatch, not a given schedule)
    p.add_argument("--objective", choices=["min_peak", "max_margin", "min_storage"], help="inverse objective (default min_peak at the first control section)")
    p.add_argument("--margin", type=arg.non_negative_float, help="safety margin below each safe discharge [m3 s-1] (default 0)")
    p.add_argument("--pre-release", action="store_true", help="let the inverse draw reservoirs below their flood-limit level ahead of the flood")
    p.add_argument("--hours", type=arg.int_range(1, 24 * 30), help="rehearsal horizon in hours (default: the whole forecast, which must cover it)")
    p.add_argument("--initial-level", action="append", default=[], metavar="ID=LEVEL[:RELEASE]",
                   help="a reservoir's level [m] (and gate setting [m3 s-1]) at the start; default its flood-limit level")
    p.add_argument("--schedule", type=Path, help="what-if: run this schedule forward instead of F-I-F (CSV time,reservoir,"
                   "release_m3s; each release holds from its time; reservoirs it does not name keep their rules)")
    p.add_argument("--output-dir", type=Path, help="write f1.nc, f2.nc (or whatif.nc), summary.json and PNGs here")
    _add_routing_numerics(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_rehearse)


def _add_routing_numerics(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dt", type=_routing_step, help="routing step [s], a divisor of 600 from 10 (default: the cycle's for a "
                   "cycle folder, else 300 as NWM)")
    p.add_argument("--mc-solver", choices=["nwm", "fast"], help="Muskingum-Cunge depth solver (default: the cycle's, else nwm)")


def _routing_step(text: str) -> float:
    from ..core.variables import check_routing_step

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    problem = check_routing_step(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def _dam_starts(items: list[str]) -> dict:
    from ..core.errors import ConfigError
    from ..reservoir.operation import DamStart

    starts = {}
    for item in items:
        try:
            rid, value = item.split("=", 1)
            level, _, release = value.partition(":")
            start = DamStart(float(level), float(release) if release else None)
        except ValueError:
            raise ConfigError(f"--initial-level {item!r}: expected ID=LEVEL or ID=LEVEL:RELEASE, e.g. dam=112.5:800") from None
        if rid in starts:  # which of the two is meant is not ours to guess
            raise ConfigError(f"--initial-level {item!r}: reservoir {rid} was given a start already; give it once")
        starts[rid] = start
    return starts


def _check_dam_starts(basin_file: Path, basin, items: list[str]) -> None:
    """``--initial-level ID=LEVEL[:RELEASE]`` on the reservoir's curves: the level within its level-storage table,
    the gate release within 0 .. the outlet's largest capacity (an infeasible start otherwise ends in an
    optimiser's message that names neither)."""
    from ..core.errors import ConfigError

    if not items:
        return
    reservoirs = {r.id: r for r in basin.reservoirs}
    for rid, start in _dam_starts(items).items():
        if rid not in reservoirs:
            continue  # the rehearsal names an unknown reservoir itself
        res = reservoirs[rid]
        lo, hi = min(res.level_m), max(res.level_m)
        if not lo <= start.level <= hi:
            raise ConfigError(f"--initial-level {rid}={start.level!r}: outside the level-storage curve of reservoir "
                              f"{rid} in {basin_file} ({lo:g} .. {hi:g} m); give a level on the curve")
        top = max(res.capacity_m3s)
        if start.release is not None and not 0.0 <= start.release <= top:
            raise ConfigError(f"--initial-level {rid}={start.level:g}:{start.release:g}: the gate release is outside "
                              f"0 .. {top:g} m3/s (the largest outlet capacity of {rid} in {basin_file})")


def _cmd_rehearse(args: argparse.Namespace) -> int:
    from ..core.errors import ConfigError
    from ..stages.rehearsal import (load_rehearsal_inputs, read_schedule, run_rehearsal, run_whatif, stage_text,
                                    storage_left_text)

    derived_only = [flag for flag, given in (("--objective", args.objective is not None),
                                             ("--margin", args.margin is not None), ("--pre-release", args.pre_release))
                    if given]
    if args.schedule is not None and derived_only:  # a what-if ran without them, and said every target was kept
        raise ConfigError(f"{', '.join(derived_only)} shape the derived dispatch; --schedule runs the given schedule as "
                          "it is and judges it against the safe discharges: leave them out, or leave out --schedule")
    args.objective = args.objective or "min_peak"
    args.margin = 0.0 if args.margin is None else args.margin
    inputs = load_rehearsal_inputs(args.basin, args.forecast, args.hours, _dam_starts(args.initial_level), args.dt,
                                   args.mc_solver)
    _check_dam_starts(args.basin, inputs.basin, args.initial_level)
    if args.output_dir is not None:  # before the rehearsal runs: f1, f2 (or whatif) files and their plots
        _check_scheme_output(args.output_dir, inputs, 1 if args.schedule is not None else 2, "--output-dir")
    if args.schedule is not None:
        summary = run_whatif(inputs, read_schedule(args.schedule, inputs.basin, inputs.times), args.output_dir)
        if args.json:
            print(json.dumps(summary))
            return 0
        print(f"what-if of {summary['basin']} {summary['start']} .. {summary['end']} ({summary['initial_state']}): "
              f"{'every target kept' if summary['safe'] else 'NOT safe'}")
        _print_given_starts(summary)
        for s in summary["whatif"]["control_sections"]:
            print(f"  section {s['id']} peak {s['peak_discharge']:.0f} m3/s (safe {s['safe_discharge']:.0f}) at "
                  f"{s['peak_time']}, {stage_text(s)} -> {summary['whatif']['risk'][s['id']]}")
        for r in summary["whatif"]["reservoirs"]:
            print(f"  reservoir {r['id']} peak level {r['peak_level']:.2f} m (flood-control high "
                  f"{r['flood_control_high_level']}), {storage_left_text(r['flood_storage_left_m3'])}")
        for event in summary["cannot_follow"]:
            print(f"  cannot follow: {event['message']}")
        for path in summary.get("outputs", []):
            print(f"  -> {path}")
        return 0
    summary, _ = run_rehearsal(inputs, args.objective, args.margin, args.output_dir, args.pre_release)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"rehearsal of {summary['basin']} {summary['start']} .. {summary['end']}")
    _print_given_starts(summary)
    for step in ("f1", "f2"):
        if step not in summary:
            continue
        label = "F1 current rules" if step == "f1" else "F2 derived schedule"
        for s in summary[step]["control_sections"]:
            print(f"  {label}: section {s['id']} peak {s['peak_discharge']:.0f} m3/s (safe {s['safe_discharge']:.0f}) at "
                  f"{s['peak_time']}, {stage_text(s)}, {s['hours_above_warning']:.0f} h above warning, "
                  f"{s['hours_above_guaranteed']:.0f} h above guaranteed -> {summary[step]['risk'][s['id']]}")
        tail = summary[step].get("through_tail", {})
        for s in tail.get("control_sections", []):  # F1 judged as F2 is: the tail may hold what the horizon did not
            if tail["risk"][s["id"]] != summary[step]["risk"][s["id"]]:
                print(f"  {label}, horizon and routing tail: section {s['id']} peak {s['peak_discharge']:.0f} m3/s at "
                      f"{s['peak_time']}, {stage_text(s)} -> {tail['risk'][s['id']]}")
        for r in summary[step]["reservoirs"]:
            print(f"  {label}: reservoir {r['id']} peak level {r['peak_level']:.2f} m (flood-control high "
                  f"{r['flood_control_high_level']}), {storage_left_text(r['flood_storage_left_m3'])}")
    if "nothing_to_dispatch" in summary:
        print(f"  {summary['nothing_to_dispatch']}")
    if "no_feasible_schedule" in summary:
        infeasible = summary["no_feasible_schedule"]
        print(f"  I ({infeasible['objective']}): no feasible schedule: {infeasible['reason']}")
    if "verdict" in summary:
        inv, verdict = summary["inverse"], summary["verdict"]
        print(f"  I ({inv['objective']}): feasible {inv['feasible']}, binding: {', '.join(inv['binding'][:4]) or 'none'}")
        if "note" in inv:
            print(f"    {inv['note']}")
        print(f"  verdict: {'ACCEPTED' if verdict['accepted'] else 'NOT accepted'} after {verdict['iterations']} "
              f"iteration(s), margin {verdict['margin_m3s']:.0f} m3/s")
    for path in summary.get("outputs", []):
        print(f"  -> {path}")
    return 0


def _print_given_starts(summary: dict) -> None:
    """The reservoirs started from --initial-level rather than the forecast's own state, said in the report."""
    for rid, start in summary.get("dam_start", {}).items():
        if start["source"] == "--initial-level":
            gate = f", gates at {start['gate_release_m3s']:,.0f} m3/s" if start["gate_release_m3s"] is not None else ""
            print(f"  {rid} started as given (--initial-level): {start['level_m']:.2f} m{gate}")


def _check_scheme_output(folder: Path, inputs, schemes: int, option: str) -> None:
    from ..io.atomic import check_writable, rehearsal_output_estimate

    basin = inputs.basin
    series = len(basin.control_sections) + len(basin.reservoirs) + len(basin.detention_basins)
    need, basis = rehearsal_output_estimate(series, len(inputs.times), schemes, schemes + 2)
    check_writable(folder, need, basis=basis, todo=f"choose another {option}")


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="the forecast cycle: forecast -> warning -> rehearsal -> plan, rolling from restarts",
        description="Run the cycle of CONFIG.toml (basin, forcing set-up and parameters relative to the config, "
        "else packaged defaults; basin = \"demo\" is the embedded demo basin in the user cache): the analysis "
        "window from the previous cycle's restart (cold when there is none; an error when one is missing in a "
        "roll), the restart at its end, one forecast through the reservoirs' current rules (the rehearsal's F1), "
        "warnings on every segment and station, the reservoir rehearsal from the issue-time state and the ranked "
        "plan, with report.html. --cycles N rolls N consecutive cycles.",
    )
    p.add_argument("config", type=Path, nargs="+", help="cycle configuration TOML(s) (e.g. basins/demo/cycle.toml); "
                   "several independent basins run one after another, or as dask tasks with --dask / --scheduler")
    p.add_argument("--stage", choices=["forecast", "warning", "rehearsal", "plan"],
                   help="run only this stage, on the outputs of the previous ones in the cycle folder")
    p.add_argument("--cycles", type=arg.int_range(1, 10_000), default=1, help="consecutive cycles to run (default 1)")
    p.add_argument("--start", help="override cycle.start (ISO time)")
    p.add_argument("--hours", type=arg.int_range(1, 24 * 14), help="override cycle.hours (the analysis window, and the cycle advance)")
    p.add_argument("--cold", action="store_true", help="ignore any restart: cold start the first cycle")
    p.add_argument("--output-dir", help="override cycle.output_dir (cycle folders go here)")
    p.add_argument("--state-dir", help="override cycle.state_dir (restart files go here)")
    p.add_argument("--members", type=arg.int_range(0, 500), default=0, help="ensemble members (STEPS nowcast), run as dask tasks")
    p.add_argument("--scheduler", help="dask scheduler address for the members or basins (default: a LocalCluster)")
    p.add_argument("--dask", action="store_true", help="run several configs (independent basins) as dask tasks")
    p.add_argument("--json", action="store_true", help="print each cycle's summary as one JSON object")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from ..pipeline.cycle import run_basins, summary_lines

    if args.start is not None:  # refused here, before any work (numpy's ValueError otherwise escapes mid-run)
        import numpy as np

        from ..core.errors import ConfigError

        try:
            np.datetime64(args.start, "m")
        except ValueError:
            raise ConfigError(f"--start {args.start!r}: not an ISO time; give e.g. --start 2024-07-01T00:00") from None
    if args.members or args.dask or len(args.config) > 1:
        _check_scheduler(args.scheduler)  # an unreachable scheduler is refused before anything is written
    folders = {k: str(Path(v).resolve()) for k, v in (("output_dir", args.output_dir), ("state_dir", args.state_dir)) if v}
    summaries = run_basins(args.config, args.dask, args.scheduler, cycles=args.cycles, start=args.start,
                           hours=args.hours, cold=args.cold, stage=args.stage, members=args.members, folders=folders)
    for summary in summaries:
        if args.json:
            print(json.dumps(summary, default=str), flush=True)
            continue
        print(f"cycle {summary['basin']}: analysis {summary['analysis']}, forecast {summary['forecast']}")
        for line in summary_lines(summary):
            print(f"  {line}")
        print(f"  stage times {summary['seconds']} s; report {summary['folder']}/report.html", flush=True)
    return 0


def _add_plan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="rehearse dispatch schemes, rank them and write the plan document (Markdown + HTML)",
        description="Rehearse the schemes (current rules; inverse min_peak, max_margin, min_storage; min_peak with "
        "pre-release; min_peak without dispatching each of the largest dams), each verified on the full model, "
        "rank them by dam safety, then the protected sections (hours above guaranteed stage, excess volume, hours "
        "above warning stage, freeboard), then flood storage kept, and write plan.md / plan.html with the "
        "recommended dispatch order (release schedule per reservoir), its triggers and the monitoring that "
        "confirms it, plus plan_schedule.csv, PNGs, one NetCDF per scheme and plan.json.",
    )
    p.add_argument("basin", type=Path, help="basin TOML with reservoirs, control sections and 'network'")
    p.add_argument("--forecast", type=Path, required=True, help="hourly qlat(time, feature_id) NetCDF [m3 s-1], a CHRTOUT folder, or a hydro run cycle folder / its forecast.nc")
    p.add_argument("--output-dir", type=Path, default=Path("plan_output"), help="where the plan goes (default plan_output)")
    p.add_argument("--dask", action="store_true", help="rehearse the schemes as tasks on a dask LocalCluster")
    p.add_argument("--scheduler", help="rehearse the schemes as tasks on the dask scheduler at this address")
    p.add_argument("--initial-level", action="append", default=[], metavar="ID=LEVEL[:RELEASE]",
                   help="a reservoir's level [m] (and gate setting [m3 s-1]) at the start; default the cycle's, else its "
                   "flood-limit level")
    p.add_argument("--scheme", action="append", default=[], metavar="NAME=SCHEDULE.csv",
                   help="rank a centre's own schedule (CSV time,reservoir,release_m3s) beside the derived schemes")
    _add_routing_numerics(p)
    p.add_argument("--json", action="store_true", help="print the plan summary as one JSON object")
    p.set_defaults(func=_cmd_plan)


def _check_scheduler(address: str | None) -> None:
    """A ``--scheduler tcp://HOST:PORT`` that nothing answers at is refused in a few seconds, before any work
    (distributed would wait 30 s and raise its own traceback)."""
    import socket
    from urllib.parse import urlsplit

    from ..core.errors import ConfigError

    if not address:
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme != "tcp":
        return  # tls://, ucx://: left to distributed
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ConfigError(f"--scheduler {address!r}: expected tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786")
    try:
        socket.create_connection((host, port), timeout=5.0).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"--scheduler {address}: no dask scheduler answers there ({reason}); start one (dask "
                          "scheduler) or leave out --scheduler for a local cluster") from None


def _cmd_plan(args: argparse.Namespace) -> int:
    from ..stages.plan import run_plan
    from ..stages.rehearsal import load_rehearsal_inputs

    import re

    from ..core.errors import ConfigError
    from ..stages.rehearsal import read_schedule

    _check_scheduler(args.scheduler)
    names = [item.partition("=")[0] for item in args.scheme]
    for name in names:  # a scheme's name becomes its file name, scheme_<name>.nc in --output-dir
        if name and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
            raise ConfigError(f"--scheme {name}=...: a scheme name is 1 to 64 letters, digits, '_', '-' or '.', starting "
                              "with a letter or digit (it names the file scheme_<name>.nc)")
        if names.count(name) > 1:
            raise ConfigError(f"--scheme {name}=... is given {names.count(name)} times; give each scheme its own name")
    inputs = load_rehearsal_inputs(args.basin, args.forecast, start=_dam_starts(args.initial_level), dt=args.dt,
                                   solver=args.mc_solver)
    _check_dam_starts(args.basin, inputs.basin, args.initial_level)
    # before the schemes are rehearsed: rules, three inverse objectives, pre-release, one per large dam, own ones
    _check_scheme_output(args.output_dir, inputs, 5 + len(inputs.basin.reservoirs) + len(args.scheme), "--output-dir")
    own = {}
    for item in args.scheme:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--scheme {item!r}: expected NAME=SCHEDULE.csv")
        own[name] = read_schedule(Path(path), inputs.basin, inputs.times)
    summary = run_plan(inputs, args.output_dir, args.dask, args.scheduler, own_schemes=own)
    if args.json:
        print(json.dumps(summary))
        return 0
    if "nothing_to_dispatch" in summary:  # no dams or no sections: the plan says so (plan.md) and why
        print(f"plan for {summary['basin']}: {summary['nothing_to_dispatch']}\n  -> {summary['outputs'][0]}")
        return 0
    print(f"plan for {summary['basin']}: recommended scheme {summary['recommended']} "
          f"({'verified' if summary['verified'] else 'NOT verified'})")
    for k, row in enumerate(summary["ranking"], 1):
        print(f"  {k}. {row['scheme']:<22s} verified {str(row['verified']):<5s} dam rise {row['dam_rise_above_fch_m']:.2f} m  "
              f"{row['hours_above_guaranteed']:.0f} h above guaranteed  excess {row['excess_volume_m3'] / 1e6:.2f} hm3  "
              f"storage left {row['storage_left_m3'] / 1e6:.1f} hm3")
    for name in summary.get("no_feasible_schedule", {}):
        print(f"  -- {name:<22s} no feasible schedule (not ranked; why in plan.md)")
    for name, events in summary.get("cannot_follow", {}).items():
        print(f"  !! {name:<22s} cannot be followed as written in {len(events)} hour(s) (listed in plan.md)")
    for o in summary["dispatch_order"]:
        print(f"  dispatch: {o['reservoir']} acts {o['acts_at'] or '(no change)'}; trigger: {o['trigger']}")
    print(f"  -> {summary['outputs'][1]}")
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    p = sub.add_parser("bench", help="benchmarks (kernels on synthetic national-scale networks)")
    bsub = p.add_subparsers(dest="bench", required=True)
    r = bsub.add_parser(
        "route",
        help="ns per segment-step of each routing method on a synthetic network",
        description="Generate a deterministic synthetic river network and report ns per segment-step for "
        "Muskingum-Cunge (nwm and fast solvers) and linear Muskingum, with the thread count and a "
        "memory-bandwidth floor measured in the same run.",
    )
    r.add_argument("--segments", type=arg.int_range(100, 10**10), default=100_000, help="network size (default 100000)")
    r.add_argument("--steps", type=arg.int_range(12, 10**6), default=288, help="5-minute routing steps (default 288 = 24 h)")
    r.add_argument("--generator", default="tree", choices=["tree", "grid"], help="synthetic network: random tree (shallow) or D8 grid basin (deep, realistic)")
    _add_bench_common(r, "generator seed")
    r.set_defaults(func=_cmd_bench_route)
    ro = bsub.add_parser(
        "runoff",
        help="ns per cell-step of Xinanjiang and GR4 on a grid, and calibration runs per second",
        description="Run Xinanjiang and GR4 on a synthetic storm over a square grid at 10-minute steps and "
        "report ns per cell-step (best of 3 after the JIT warm-up), plus model runs per second of a "
        "calibration batch on the Sieve hourly record when shared/data is present.",
    )
    ro.add_argument("--cells", type=arg.int_range(100, 10**10), default=1_000_000, help="grid cells (default 1000000)")
    ro.add_argument("--steps", type=arg.int_range(1, 10**6), default=36, help="10-minute steps (default 36 = 6 h)")
    _add_bench_common(ro, "storm seed")
    ro.set_defaults(func=_cmd_bench_runoff)
    re = bsub.add_parser(
        "rehearse",
        help="wall time of one forward-inverse-forward rehearsal on a synthetic basin with many dams",
        description="Generate a D8 grid basin with dams on medium rivers (lax current rules) and a storm, set "
        "each control section's safe discharge to 75 %% of its peak under the current rules, and time one full "
        "F1 -> I -> F2 rehearsal. Prints wall_s and verified (F2 met every target).",
    )
    re.add_argument("--segments", type=arg.int_range(300, 10**10), default=10_000, help="network size (default 10000)")
    re.add_argument("--reservoirs", type=arg.int_range(1, 10_000), default=30, help="dams (default 30)")
    re.add_argument("--hours", type=arg.int_range(12, 24 * 30), default=72, help="forecast horizon in hours (default 72)")
    re.add_argument("--objective", default="min_peak", choices=["min_peak", "max_margin", "min_storage"])
    _add_bench_common(re, "basin seed")
    re.set_defaults(func=_cmd_bench_rehearse)
    cy = bsub.add_parser(
        "cycle",
        help="one national-scale forecast cycle (nowcast, runoff, 72 h routing, warnings), time per stage",
        description="Generate a synthetic D8 grid basin of --cells 1 km cells with about --segments river segments "
        "and time one cycle: a 6-hour S-PROG nowcast at 10 minutes, Xinanjiang on every cell, hillslope travel "
        "time and NWM Muskingum-Cunge at 5 minutes over --hours through --reservoirs dams operated by their rules, and warnings on every segment. Prints wall_s "
        "and the per-stage breakdown.",
    )
    cy.add_argument("--segments", type=arg.int_range(2_000, 10**10), default=328_000, help="river segments (default 328000)")
    cy.add_argument("--cells", type=arg.int_range(10_000, 10**11), default=1_000_000, help="grid cells (default 1000000)")
    cy.add_argument("--hours", type=arg.int_range(2, 24 * 30), default=72, help="routing horizon in hours (default 72)")
    cy.add_argument("--mc-solver", default="nwm", choices=["nwm", "fast"], help="Muskingum-Cunge solver")
    cy.add_argument("--reservoirs", type=arg.non_negative_int, default=30, help="dams operated by their rules in the forecast (default 30)")
    _add_bench_common(cy, "basin and storm seed")
    cy.set_defaults(func=_cmd_bench_cycle)
    return bsub


def _add_bench_common(p: argparse.ArgumentParser, seed_help: str) -> None:
    p.add_argument("--threads", type=arg.threads, help="numba threads (default: all cores)")
    p.add_argument("--seed", type=arg.non_negative_int, default=1, help=seed_help)
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def _cmd_bench_route(args: argparse.Namespace) -> int:
    hours = args.steps // 12 + 2  # the bench's lateral inflow, hourly; network fields and three outputs per segment
    arg.require_memory(args.segments * (hours * 4 * 2 + 1500), f"bench route of {args.segments:,} segments",
                       "lower --segments or --steps")
    bench_route = _load_benchmark("bench_route").bench_route
    _set_threads(args.threads)
    for row in bench_route(args.segments, args.steps, args.seed, args.generator):
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(
                f"{row['method']:>16s} {row['solver']:>5s}  {row['segments']:>8d} segments  {row['threads']} threads  "
                f"{row['ns_per_segment_step']:8.1f} ns/segment-step  (memory floor {row['memory_floor_ns']:.1f} ns)",
                flush=True,
            )
    return 0


def _cmd_bench_runoff(args: argparse.Namespace) -> int:
    # rain, evaporation and runoff per cell-step (float64), and the state and parameters per cell
    arg.require_memory(args.cells * (args.steps * 8 * 4 + 600), f"bench runoff of {args.cells:,} cells x {args.steps} steps",
                       "lower --cells or --steps")
    bench_runoff = _load_benchmark("bench_runoff").bench_runoff
    _set_threads(args.threads)
    for row in bench_runoff(args.cells, args.steps, args.seed):
        if args.json:
            print(json.dumps(row), flush=True)
        elif row["benchmark"] == "grid":
            print(f"{row['model']:>5s} grid  {row['cells']:>8d} cells x {row['steps']} steps of 10 min  "
                  f"{row['threads']} threads  {row['ns_per_cell_step']:7.2f} ns/cell-step  "
                  f"(wet {100 * row['wet_fraction']:.0f} % of cell-steps)", flush=True)
        else:
            print(f"{row['model']:>5s} calibration batch of {row['batch']} on {row['steps']} hourly steps: "
                  f"{row['runs_per_second']:.0f} runs/s ({row['ns_per_step']:.1f} ns per step per set; "
                  f"10,000 runs in {row['seconds_for_10000_runs']:.0f} s)", flush=True)
    return 0


def _cmd_bench_rehearse(args: argparse.Namespace) -> int:
    arg.require_memory(args.segments * args.hours * 6 * 4 * 4 + args.segments * 2000,
                       f"bench rehearse of {args.segments:,} segments over {args.hours} h", "lower --segments or --hours")
    bench_rehearse = _load_benchmark("bench_rehearse").bench_rehearse
    _set_threads(args.threads)
    bench_rehearse(min(args.segments, 300), min(args.reservoirs, 3), min(args.hours, 12), args.seed, args.objective)  # compile
    row = bench_rehearse(args.segments, args.reservoirs, args.hours, args.seed, args.objective)
    if args.json:
        print(json.dumps(row), flush=True)
    else:
        print(f"rehearse: {row['segments']} segments, {row['reservoirs']} dams, {row['control_sections']} sections, "
              f"{row['hours']} h: one F-I-F in {row['wall_s']:.2f} s ({row['threads']} threads), "
              f"{'verified' if row['verified'] else 'NOT verified'} after {row['iterations']} iteration(s); "
              f"what-if (one schedule forward, tail included) {row['whatif_s']:.2f} s; "
              f"{row['rehearsals_in_5_min']} rehearsals fit in 5 minutes", flush=True)
    return 0


def _cmd_bench_cycle(args: argparse.Namespace) -> int:
    # rain on every cell at 10 minutes (float32) and the storm frames; lateral inflow at 10 minutes and the
    # hourly flows per segment; grid and network set-up. Measured: 0.41 GB peak at 200,000 cells, 12 h.
    steps = args.hours * 6
    arg.require_memory(args.cells * (steps * 4 + 36 * 4 * 3 + 600) + args.segments * (steps * 4 * 2 + args.hours * 4 * 6 + 2000),
                       f"bench cycle of {args.cells:,} cells and {args.segments:,} segments over {args.hours} h",
                       "lower --cells, --segments or --hours")
    bench_cycle = _load_benchmark("bench_cycle").bench_cycle
    _set_threads(args.threads)
    bench_cycle(2_000, 10_000, 2, 1, args.seed, args.mc_solver, min(args.reservoirs, 3))  # compile and load the kernels
    row = bench_cycle(args.segments, args.cells, args.hours, 6, args.seed, args.mc_solver, args.reservoirs)
    if args.json:
        print(json.dumps(row), flush=True)
    else:
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in row["stages_s"].items())
        print(f"cycle: {row['segments']} segments, {row['cells']} cells, {row['reservoirs']} dams, {row['hours']} h: {row['wall_s']:.1f} s "
              f"({stages}); routing {row['routing_ns_per_segment_step']} ns/segment-step, {row['threads']} threads; "
              f"warnings {row['warnings']}", flush=True)
    return 0


def _load_benchmark(name: str):
    """Benchmarks live in a source checkout's benchmarks/ folder, beside the package; a wheel has none."""
    import importlib.util

    from ..core.errors import ConfigError
    from ..core.paths import BENCHMARKS_DIR, IN_CHECKOUT

    path = BENCHMARKS_DIR / f"{name}.py"
    if not IN_CHECKOUT or not path.is_file():
        raise ConfigError(f"benchmark {name}.py not found in {BENCHMARKS_DIR}: benchmarks are not installed with "
                          "the package; run from a source checkout (pip install -e .)")
    spec = importlib.util.spec_from_file_location(f"hydro_benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the complete forecast cycle on the embedded demo basin (forecast, warning, rehearsal, plan, HTML report)",
        description="Runs the packaged demo cycle config from a cold start: a generated storm observed to the issue "
        "time, an S-PROG nowcast, gridded Xinanjiang, NWM Muskingum-Cunge; warnings on every segment and at the town; "
        "the dam's forward-inverse-forward rehearsal; the ranked plan; report.html. Outputs and the restart go under "
        "--output-dir; the demo basin is generated once into the user cache ($HYDRO_CACHE_DIR, else "
        "$XDG_CACHE_HOME/hydro, else ~/.cache/hydro). Nothing else is written.",
    )
    p.add_argument("--output-dir", type=Path, default=Path("demo_output"),
                   help="where outputs go (default ./demo_output)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..io.atomic import check_writable

    check_writable(args.output_dir, what="demo output folder", todo="choose another --output-dir")  # before any work
    run_demo(args.output_dir)
    return 0


def _add_methods(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list the registered methods by kind")
    p.set_defaults(func=_cmd_methods)


def _cmd_methods(args: argparse.Namespace) -> int:
    from ..core.registry import methods

    for kind, names in methods().items():
        print(f"{kind}: {', '.join(names)}")
    return 0


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import numba

        from ..core.errors import ConfigError

        if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
            raise ConfigError(f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}")
        numba.set_num_threads(threads)


def _add_reservoir(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reservoir", help="one reservoir on its own: level-pool routing of an inflow hydrograph",
                       description="Commands on one reservoir described in the basin file's schema.")
    rsub = p.add_subparsers(dest="reservoir_command", required=True)
    r = rsub.add_parser(
        "route",
        help="route an inflow hydrograph through one reservoir (rules, a schedule, or a free spill)",
        description="Level-pool routing of INFLOW.csv (time,inflow_m3s; ISO times, any spacing, interpolated "
        "linearly) through the reservoir of RES.toml (one reservoir in the basin file's schema, plus spillway = "
        "\"free\" for an ungated outlet whose release is the capacity at the level, or \"gated\", the default: "
        "the zone rule or --schedule). Trapezoidal in time on the tabulated curves: a free spill is storage-"
        "indication routing of the same curves; a gate order is held over each step and capped by the capacity "
        "at the levels reached. Writes OUT.csv (time,inflow_m3s,release_m3s,level_m,storage_m3) at every step "
        "end, atomically; prints where a schedule cannot be followed.",
    )
    r.add_argument("reservoir", type=Path, help="RES.toml: one reservoir (level_m, storage_m3, capacity_m3s, ...)")
    r.add_argument("--inflow", type=Path, required=True, help="CSV time,inflow_m3s")
    r.add_argument("--output", type=arg.output_file, required=True, help="CSV to write (atomically)")
    r.add_argument("--schedule", type=Path, help="CSV time,release_m3s: each release held from its time (gated only)")
    r.add_argument("--dt", type=arg.float_range(1.0, 86400.0), default=3600.0, help="step [s] (default 3600)")
    r.add_argument("--initial-level", type=arg.float_range(), help="level at the first inflow time [m] (default: the flood-limit "
                   "level; for a free spill the crest, the highest level of zero capacity)")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(func=_cmd_reservoir_route)


def _cmd_reservoir_route(args: argparse.Namespace) -> int:
    from ..stages.reservoir_route import route_reservoir

    summary = route_reservoir(args.reservoir, args.inflow, args.output, args.schedule, args.dt, args.initial_level)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"reservoir {summary['reservoir']} ({summary['spillway']} spillway), {summary['steps']} steps of "
          f"{summary['dt_s']:g} s from {summary['initial_level_m']:.3f} m: peak inflow {summary['peak_inflow_m3s']:,.1f} "
          f"m3/s, peak release {summary['peak_release_m3s']:,.1f} m3/s at {summary['peak_release_time']}, peak level "
          f"{summary['peak_level_m']:.3f} m at {summary['peak_level_time']}")
    for event in summary["cannot_follow"]:
        print(f"  cannot follow: {event['message']}")
    print(f"  -> {summary['output']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = arg.OneLineParser(prog="hydro", description="hydro: digital-twin watershed flood forecasting")
    parser.add_argument("--version", action="version", version=f"hydro {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_route, _add_calibrate, _add_nowcast, _add_verify, _add_rehearse, _add_plan, _add_run, _add_demo, _add_methods, _add_reservoir):
        add(sub)
    bench = _add_bench(sub)
    for module in _command_modules():
        if hasattr(module, "add_commands"):
            module.add_commands(sub)
        if hasattr(module, "add_benchmarks"):
            module.add_benchmarks(bench)
    return parser


def _command_modules() -> list:
    """The command groups that live in their own module of this package (``hydro/cli/hydraulics.py`` gives
    ``hydro hydraulics ...``): each may define ``add_commands(sub)`` and ``add_benchmarks(bench_sub)``.
    Found by listing the package, in name order, so a new group needs no edit here."""
    import importlib
    import pkgutil

    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def _check_output_is_no_input(args: argparse.Namespace) -> None:
    """Every command: an ``--output`` file naming one of the paths the command reads is refused before any work
    (io.atomic.check_output_not_input)."""
    from ..io.atomic import check_output_not_input

    output = getattr(args, "output", None)
    if not isinstance(output, Path):
        return
    for name, value in vars(args).items():
        for path in value if isinstance(value, list) else [value]:
            if isinstance(path, Path) and not name.startswith("output"):  # --output-dir: a folder written into
                check_output_not_input(output, {f"--{name.replace('_', '-')}": path})


def main(argv: list[str] | None = None) -> int:
    from ..core.workspace import keep_numba_cache_out_of_package
    from ._interrupt import signals_stop_at_own_code

    keep_numba_cache_out_of_package()  # before any kernel module is imported: numba picks its cache folder then
    # SIGTERM as SIGINT: the same clean stop, no partial output; raised in hydro's code only, never inside a
    # library holding a lock (a stop that hung, issue 17)
    with signals_stop_at_own_code():
        try:
            args = build_parser().parse_args(argv)
            logging.basicConfig(
                level=logging.DEBUG if args.verbose else logging.INFO, format="hydro: %(message)s", stream=sys.stderr
            )
            _check_output_is_no_input(args)
            return args.func(args)
        except HydroError as exc:
            print(f"hydro: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print("hydro: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
