"""``hydro hydraulics run|steady`` (one main stem on surveyed cross-sections) and ``hydro bench hydraulics``."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from . import _types as arg

log = logging.getLogger("hydro")

_SECTIONS_HELP = ("SECTIONS.csv: [reach,]section,chainage_m,station_m,elevation_m,manning_n[,left_bank_m,right_bank_m], one "
                  "row per point, sections upstream first, chainage increasing downstream; a reach column makes a network "
                  "of main stems (with --junctions)")
_JUNCTIONS_HELP = ("JUNCTIONS.csv: reach,joins,chainage_m: reach `reach` ends into reach `joins` at that chainage of `joins` "
                   "(a network of main stems; SECTIONS.csv then has a reach column). See docs/hydraulics.md")
_DOWNSTREAM_HELP = ("outlet condition: normal (Manning normal depth on the last reach's bed slope), normal:SLOPE, "
                    "stage:FILE.csv (time,water_level_m) or rating:FILE.csv (water_level_m,discharge_m3s)")


def _add_geometry_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-dx", type=arg.float_range(1.0, 1e5), default=250.0,
                   help="largest distance between computational nodes [m]; sections are interpolated between surveyed "
                   "ones (default 250)")
    p.add_argument("--table-dz", type=arg.float_range(0.001, 1.0), default=0.02,
                   help="stage step of the section property tables [m] (default 0.02)")


def _add_junction_condition(p: argparse.ArgumentParser) -> None:
    p.add_argument("--junction-condition", default="level", choices=["level", "energy"],
                   help="a network's junctions: level: equal water levels at the reach ends meeting there (default, "
                   "HEC-RAS's default); energy: equal energy heads (level + velocity head, no junction loss)")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hydraulics", help="one-dimensional hydrodynamics of a main stem (Saint-Venant on surveyed sections)",
                       description="Saint-Venant equations on surveyed cross-sections. See docs/hydraulics.md.")
    hsub = p.add_subparsers(dest="hydraulics_command", required=True)
    r = hsub.add_parser(
        "run", help="unsteady flow: Preissmann four-point scheme, Newton iteration, transcritical treatment",
        description="Route an upstream discharge hydrograph (and lateral inflows) down a main stem by the full "
        "Saint-Venant equations (Preissmann scheme, Newton iteration per step; critical controls, supercritical reaches and "
        "hydraulic jumps treated by default), from the standard-step steady profile of the first inflow. Writes OUT.nc: "
        "discharge, water_level, depth (time, chainage), CF-1.11, atomically; the mass balance goes to the log and "
        "the file's attributes. A step that does not converge (after halving it 5 times) stops the run naming the "
        "section and time; nothing is written.")
    r.add_argument("--sections", type=Path, required=True, help=_SECTIONS_HELP)
    r.add_argument("--upstream", action="append", required=True, metavar="[REACH=]INFLOW.csv",
                   help="INFLOW.csv: time,discharge_m3s (instantaneous, linear between); a network: REACH=INFLOW.csv for "
                   "every reach that starts at an upstream boundary (repeat the option)")
    r.add_argument("--junctions", type=Path, help=_JUNCTIONS_HELP)
    _add_junction_condition(r)
    r.add_argument("--downstream", required=True, help=_DOWNSTREAM_HELP)
    r.add_argument("--lateral", type=Path, help="LATERAL.csv: [reach,]time,chainage_m,discharge_m3s (enters at the nearest "
                   "node; a network's file names the reach)")
    r.add_argument("--structures", type=Path, help="STRUCTURES.csv: [reach,]name,chainage_m,type (weir|gate),crest_m,width_m,"
                   "coefficient,initial_level_m,schedule: internal weirs (Villemonte submergence) and gated dams "
                   "releasing a schedule (time,release_m3s)")
    r.add_argument("--dt", type=arg.float_range(0.1, 3600.0), default=30.0, help="internal step [s] (default 30)")
    r.add_argument("--output-interval", type=arg.float_range(0.1, 86400.0), default=300.0,
                   help="seconds between output records, a multiple of --dt (default 300)")
    r.add_argument("--hours", type=arg.positive_float, help="hours to run (default: the whole inflow series)")
    r.add_argument("--theta", type=arg.float_range(0.5, 1.0), default=0.6, help="Preissmann time weight (default 0.6)")
    r.add_argument("--inertia", default="transcritical", choices=["transcritical", "lpi", "full", "diffusive"],
                   help="transcritical (default): full dynamic wave, critical depth at subcritical-to-supercritical "
                   "controls, supercritical reaches from upstream, jumps placed by specific force (a network: LPI with "
                   "m = 10); lpi: local partial inertia, the inertia terms times 1 - Fr^m, none where Fr >= 1 (Fread et "
                   "al. 1996); full: full dynamic wave (subcritical reaches only); diffusive: no inertia terms")
    r.add_argument("--upstream-stage", type=arg.float_range(),
                   help="water level at the first section [m] while the inflow there is supercritical (its second "
                   "condition; default critical depth); one reach, --inertia transcritical")
    r.add_argument("--lpi-exponent", type=arg.float_range(0.1, 100.0), default=4.0,
                   help="m of the LPI factor 1 - Fr^m, Fr the larger of a reach's two nodes (default 4: 99 %% of the "
                   "inertia kept at Fr 0.3; 10 keeps more near Fr 1 but lets a hydraulic jump's toe hop between nodes)")
    _add_geometry_options(r)
    r.add_argument("--initial-state", type=Path, metavar="STATE.nc",
                   help="start from a state saved by --final-state (at its time, which the inflow series must cover) "
                   "instead of the steady profile of the first inflow; same sections, junctions, --max-dx and --dt")
    r.add_argument("--final-state", type=Path, metavar="STATE.nc",
                   help="save the state at the end (water level and discharge per node, and one step before): a run "
                   "continuing from it with --initial-state reproduces the uninterrupted run bit for bit")
    r.add_argument("--output", type=arg.output_file, required=True, help="OUT.nc (written atomically)")
    r.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    r.set_defaults(func=_cmd_run)
    s = hsub.add_parser(
        "steady", help="steady profile by the standard-step method",
        description="Steady gradually varied flow by the standard-step method (energy equation, average-conveyance "
        "friction slope, alpha from the subdivided conveyance; critical depth where no root exists, counted in the "
        "summary). Subcritical: from the downstream condition upwards; supercritical: from --upstream-stage (default "
        "normal depth on the first reach) downwards; mixed (default): subcritical, then supercritical below every "
        "critical-depth control with the jump placed by specific force (HEC-RAS's mixed mode). Writes OUT.csv or OUT.nc.")
    s.add_argument("--sections", type=Path, required=True, help=_SECTIONS_HELP)
    s.add_argument("--discharge", type=_reach_value, action="append", required=True, metavar="[REACH=]Q",
                   help="discharge [m3 s-1]; a network: REACH=Q for every reach that starts at an upstream boundary "
                   "(repeat the option), the reaches below carry the sum")
    s.add_argument("--junctions", type=Path, help=_JUNCTIONS_HELP)
    _add_junction_condition(s)
    s.add_argument("--downstream", default="normal", help=_DOWNSTREAM_HELP + " (stage: the file's first level)")
    s.add_argument("--regime", default="mixed", choices=["mixed", "subcritical", "supercritical"],
                   help="mixed (default): subcritical from the outlet, supercritical below critical-depth controls, "
                   "jumps placed by specific force; subcritical; supercritical from --upstream-stage")
    s.add_argument("--upstream-stage", type=arg.float_range(),
                   help="water level at the first section [m]: supercritical regime; mixed: a supercritical inflow "
                   "(below critical depth)")
    _add_geometry_options(s)
    s.add_argument("--output", type=arg.output_file, required=True, help="OUT.csv or OUT.nc (written atomically)")
    s.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    s.set_defaults(func=_cmd_steady)


_JUNCTION_CONDITION = {"level": "equal water levels; discharges in = discharge out",
                       "energy": "equal energy heads (level + alpha V^2 / 2g); discharges in = discharge out"}


def _reach_value(text: str) -> tuple[str | None, float]:
    """``Q`` or ``REACH=Q`` (Q > 0)."""
    rid, sep, value = text.rpartition("=")
    return (rid.strip() if sep else None), arg.float_range(0.0, 1e7, lo_open=True)(value)


def _reach_files(values: list[str], option: str) -> dict[str, Path]:
    """``REACH=FILE`` options of a network run."""
    from ..core.errors import ConfigError

    out: dict[str, Path] = {}
    for v in values:
        rid, sep, path = v.partition("=")
        if not sep or not rid.strip() or not path:
            raise ConfigError(f"{option} {v!r}: a network run takes {option} REACH=FILE.csv for each reach that starts at "
                              "an upstream boundary")
        if rid.strip() in out:
            raise ConfigError(f"{option}: reach {rid.strip()!r} given twice")
        out[rid.strip()] = Path(path)
    return out


def _is_network(args: argparse.Namespace) -> bool:
    from ..io.hydraulics import has_reach_column

    return args.junctions is not None or has_reach_column(args.sections)


def add_benchmarks(bench: argparse._SubParsersAction) -> None:
    b = bench.add_parser(
        "hydraulics", help="Saint-Venant (Preissmann + Newton) on a synthetic surveyed main stem",
        description="A deterministic synthetic main stem of --sections compound sections 500 m apart (channel and "
        "floodplains, 0.02 % bed slope), a flood wave that wets the floodplains and 10 tributaries, normal depth at "
        "the outlet, dt 30 s over --hours. Prints ns_per_section_step (the kernel's wall time per node and step, "
        "Newton iterations included; ns_per_section_step_cpu counts CPU time only, which on a busy machine excludes the time "
        "the process waited for a core), wall_s (set-up, steady start and run) and the Newton statistics.")
    b.add_argument("--sections", type=arg.int_range(3, 1_000_000), default=600, help="surveyed sections (default 600)")
    b.add_argument("--hours", type=arg.int_range(1, 24 * 30), default=72, help="simulated hours (default 72)")
    b.add_argument("--dt", type=arg.float_range(1.0, 600.0), default=30.0, help="step [s] (default 30)")
    b.add_argument("--json", action="store_true", help="one JSON object")
    b.set_defaults(func=_cmd_bench)


def _cmd_run(args: argparse.Namespace) -> int:
    _check_output_interval(args)
    if _is_network(args):
        return _cmd_run_network(args)
    from ..core.errors import ConfigError, InputDataError
    from ..hydraulics.sections import Reach
    from ..hydraulics.unsteady import SaintVenant, SolverOptions
    from ..io.atomic import check_output_dir
    from ..io.hydraulics import (hydraulics_dataset, read_downstream, read_hydraulic_state, read_lateral, read_sections,
                                 read_series, read_structures, write_hydraulic_state, write_hydraulics)

    check_output_dir(args.output)
    if args.final_state:
        check_output_dir(args.final_state)
    t0 = time.perf_counter()
    if len(args.upstream) != 1:
        raise ConfigError(f"--upstream given {len(args.upstream)} times: one reach takes one inflow file (a network of "
                          "reaches needs a reach column in the sections file and --junctions)")
    args.upstream = Path(args.upstream[0])
    if args.upstream_stage is not None and args.inertia != "transcritical":
        # the other kernels have no supercritical inflow condition: the level would be dropped without a word
        raise ConfigError(f"--upstream-stage is the supercritical inflow's level of --inertia transcritical; --inertia "
                          f"{args.inertia} takes none: leave --upstream-stage out or run --inertia transcritical")
    sections = read_sections(args.sections)
    _check_upstream_stage(args, sections)
    upstream = read_series(args.upstream, "discharge_m3s", "inflow series", True)
    downstream = read_downstream(args.downstream)
    lateral = read_lateral(args.lateral) if args.lateral else None
    structures = read_structures(args.structures) if args.structures else []
    options = SolverOptions(dt=args.dt, output_interval=args.output_interval, theta=args.theta,
                            inertia=args.inertia, lpi_exponent=args.lpi_exponent)
    reach = Reach(sections, max_dx=args.max_dx, table_dz=args.table_dz, structures=structures)
    span_h = (upstream.time[-1] - upstream.time[0]).astype("timedelta64[s]").astype(float) / 3600.0
    if args.hours is not None and args.initial_state is None and args.hours > span_h + 1e-9:
        # named here with the option, before the output's size is estimated from it
        raise InputDataError(f"--hours {args.hours:g}: {args.upstream} covers {span_h:g} h from "
                             f"{str(upstream.time[0])[:19]}; ask for at most {span_h:g} h, or give a longer inflow")
    hours = args.hours or span_h
    records = int(hours * 3600 // args.output_interval) + 1  # discharge, level, depth in float64 per node and record
    check_output_dir(args.output, reach.size * records * 24, f"{reach.size:,} nodes x {records:,} records x 24 bytes")
    initial = read_hydraulic_state(args.initial_state) if args.initial_state else None
    if initial is not None:
        _check_state_above_bed(initial, reach, args.initial_state)
    elif not upstream.values[0] > 0:  # the solver would blame the sections file's first section
        raise InputDataError(f"{args.upstream}: discharge_m3s {upstream.values[0]:g} at its first time "
                             f"{str(upstream.time[0])[:19]}; a run starts from the steady profile of its first "
                             "inflow, which needs Q > 0: give a base flow, or an --initial-state")
    result = SaintVenant(reach, options).run(upstream, downstream, lateral, args.hours, initial, args.upstream_stage)
    mb = result.mass_balance
    log.info("hydraulics: %d nodes (%d surveyed), %d steps of %g s, %.2f Newton iterations per step (at most %d); "
             "mass balance: inflow %.6g m3 + lateral %.6g m3 - outflow %.6g m3 - storage change %.6g m3 = %.3g m3 "
             "(%.2g relative)", reach.size, len(sections), result.stats["steps"], args.dt,
             result.stats["mean_newton_iterations"], result.stats["max_newton_iterations"], mb["inflow_volume_m3"],
             mb["lateral_volume_m3"], mb["outflow_volume_m3"], mb["storage_change_m3"], mb["mass_balance_error_m3"],
             mb["mass_balance_relative_error"])
    attrs = {**{k: float(v) for k, v in mb.items()}, "dt_seconds": args.dt, "theta": args.theta,
             "inertia": args.inertia, "lpi_exponent": args.lpi_exponent, "max_dx_m": args.max_dx, "table_dz_m": args.table_dz,
             "downstream_boundary": args.downstream, "sections_file": str(args.sections),
             "upstream_file": str(args.upstream), "lateral_file": str(args.lateral or ""),
             "structures_file": str(args.structures or ""), "initial_state": str(args.initial_state or ""),
             "newton_iterations_mean": result.stats["mean_newton_iterations"],
             "comment": "chainage runs downstream from the upstream boundary; discharge positive downstream"}
    ds = hydraulics_dataset(result, [s.name for s in sections], attrs)
    write_hydraulics(args.output, ds)
    if args.final_state:
        write_hydraulic_state(args.final_state, result.final_state, {"sections_file": str(args.sections)})
    peaks = []
    for i in range(reach.size):
        if reach.surveyed[i] >= 0:
            k = int(result.discharge[:, i].argmax())
            peaks.append({"section": reach.node_name(i), "chainage_m": float(reach.chainage[i]),
                          "peak_discharge_m3s": round(float(result.discharge[k, i]), 3),
                          "peak_time": str(result.time[k])[:19],
                          "peak_water_level_m": round(float(result.water_level[:, i].max()), 3)})
    summary = {"output": str(args.output), "nodes": reach.size, "sections": len(sections), **result.stats,
               **mb, "above_surveyed_top_nodes": result.above_top_nodes, "seconds": round(time.perf_counter() - t0, 3),
               "peaks": peaks}
    if args.json:
        print(json.dumps(summary))
    else:
        every = max(1, -(-len(peaks) // 12))  # at most a dozen lines; --json lists every section
        for p in peaks[::every] + ([peaks[-1]] if (len(peaks) - 1) % every else []):
            print(f"{p['section']:>12s} {p['chainage_m']:10.1f} m  peak {p['peak_discharge_m3s']:10.2f} m3/s at "
                  f"{p['peak_time']}  max level {p['peak_water_level_m']:.3f} m")
        print(f"-> {args.output}  (mass balance {mb['mass_balance_relative_error']:.2g} relative)")
    return 0


def _cmd_steady(args: argparse.Namespace) -> int:
    if _is_network(args):
        return _cmd_steady_network(args)
    import numpy as np

    from ..core.errors import ConfigError

    from ..hydraulics.sections import Reach
    from ..hydraulics.steady import G, check_contained, steady_profile
    from ..io.atomic import check_output_dir
    from ..io.hydraulics import read_downstream, read_sections, steady_dataset, write_steady

    check_output_dir(args.output)
    if len(args.discharge) != 1 or args.discharge[0][0] is not None:
        raise ConfigError("--discharge: one reach takes one number (REACH=Q is for a network: a reach column in the "
                          "sections file and --junctions)")
    args.discharge = args.discharge[0][1]
    sections = read_sections(args.sections)
    _check_upstream_stage(args, sections)
    reach = Reach(sections, max_dx=args.max_dx, table_dz=args.table_dz)
    downstream = read_downstream(args.downstream) if args.regime != "supercritical" else None
    when = downstream.series.time[0] if downstream is not None and downstream.series is not None else None
    profile = steady_profile(reach, np.full(reach.size, args.discharge), downstream, when, args.regime,
                             args.upstream_stage)
    check_contained(reach, profile.water_level, "the steady")
    props = reach.properties(profile.water_level)
    velocity = profile.discharge / props["area"]
    froude = velocity / np.sqrt(G * props["area"] / props["top_width"])
    attrs = {"discharge_m3s": args.discharge, "regime": args.regime, "critical_depth_nodes": profile.critical_nodes,
             "supercritical_nodes": profile.supercritical_nodes,
             "downstream_boundary": args.downstream if downstream is not None else "", "sections_file": str(args.sections)}
    write_steady(args.output, steady_dataset(profile, velocity, froude, reach.thalweg, reach.surveyed,
                                             [s.name for s in sections], attrs))
    summary = {"output": str(args.output), "nodes": reach.size, "regime": args.regime,
               "critical_depth_nodes": profile.critical_nodes, "supercritical_nodes": profile.supercritical_nodes,
               "upstream_water_level_m": round(float(profile.water_level[0]), 4),
               "downstream_water_level_m": round(float(profile.water_level[-1]), 4),
               "max_froude": round(float(froude.max()), 3)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"steady {args.regime} profile for {args.discharge:g} m3/s on {reach.size} nodes: level "
              f"{summary['upstream_water_level_m']} m upstream, {summary['downstream_water_level_m']} m at the outlet, "
              f"Froude up to {summary['max_froude']}, {profile.critical_nodes} node(s) at critical depth -> {args.output}")
    return 0


def _check_state_above_bed(state, reach, path: Path) -> None:
    """A state whose water level lies below a node's dry-channel slot was saved on other sections (or another
    datum): refused naming the node, not left to fail the first step as a numerical error. The node count
    and chainages are the solver's own check (HydraulicState.check). ``reach``: a Reach or a ReachNetwork
    (both give ``thalweg`` per node and ``where``)."""
    from ..core.errors import InputDataError
    from ..hydraulics.sections import SLOT_DEPTH

    if state.water_level.shape != reach.thalweg.shape:
        return
    below = reach.thalweg - SLOT_DEPTH - state.water_level
    k = int(below.argmax())
    if below[k] > 1e-6:
        raise InputDataError(f"{path}: water_level {state.water_level[k]:.3f} m at {reach.where(k)} lies "
                             f"{below[k] + SLOT_DEPTH:.3f} m below the bed there ({reach.thalweg[k]:.3f} m): the state was "
                             "saved for other sections or another datum; use the geometry of the run that saved it")


def _read_network(args: argparse.Namespace, structures: bool = False):
    from ..hydraulics.network import ReachNetwork
    from ..io.hydraulics import read_junctions, read_network_sections, read_network_structures

    sections = read_network_sections(args.sections)
    junctions = read_junctions(args.junctions) if args.junctions else []
    st = read_network_structures(args.structures) if structures and args.structures else {}
    return ReachNetwork(sections, junctions, max_dx=args.max_dx, table_dz=args.table_dz, structures=st,
                        source=str(args.sections), junction_condition=args.junction_condition)


def _check_upstream_stage(args: argparse.Namespace, sections: list) -> None:
    """--upstream-stage between the first section's thalweg and its lower end, refused naming the option (the
    profile would blame the section for a level it was given)."""
    from ..core.errors import ConfigError

    if args.upstream_stage is None:
        return
    first = sections[0]
    bed, top = float(first.elevation.min()), float(min(first.elevation[0], first.elevation[-1]))
    if not bed < args.upstream_stage <= top:
        raise ConfigError(f"--upstream-stage {args.upstream_stage:g} m is outside the first section '{first.name}' of "
                          f"{args.sections} ({bed:g} m thalweg .. {top:g} m lower end); give a water level in the "
                          "sections' datum within it")


def _check_output_interval(args: argparse.Namespace) -> None:
    """--output-interval a whole multiple of --dt, refused naming both options (the solver knows no options)."""
    from ..core.errors import ConfigError

    ratio = args.output_interval / args.dt
    if ratio < 1 or abs(ratio - round(ratio)) > 1e-9:
        raise ConfigError(f"--output-interval {args.output_interval:g} s is not a whole multiple of --dt {args.dt:g} s; "
                          f"give e.g. --output-interval {max(1, round(ratio)) * args.dt:g}")


def _cmd_run_network(args: argparse.Namespace) -> int:
    """``hydro hydraulics run`` on a network of reaches joined at junctions (all solved together)."""
    from ..core.errors import ConfigError, InputDataError
    from ..hydraulics.network import NetworkSaintVenant
    from ..hydraulics.unsteady import SolverOptions
    from ..io.atomic import check_output_dir
    from ..io.hydraulics import (has_reach_column, network_hydraulics_dataset, read_downstream, read_hydraulic_state,
                                 read_network_lateral, read_series, write_hydraulic_state, write_hydraulics)

    check_output_dir(args.output)
    if args.final_state:
        check_output_dir(args.final_state)
    if args.upstream_stage is not None:
        raise ConfigError("--upstream-stage is for one reach (a network runs local partial inertia, which takes none)")
    t0 = time.perf_counter()
    files = _reach_files(args.upstream, "--upstream")
    network = _read_network(args, structures=True)
    upstream = {rid: read_series(path, "discharge_m3s", f"inflow series of reach {rid!r}", True)
                for rid, path in files.items()}
    downstream = read_downstream(args.downstream)
    lateral = None
    if args.lateral:
        if not has_reach_column(args.lateral):
            raise InputDataError(f"{args.lateral}: a network's lateral inflow file needs a reach column "
                                 "(reach,time,chainage_m,discharge_m3s)")
        lateral = read_network_lateral(args.lateral)
    options = SolverOptions(dt=args.dt, output_interval=args.output_interval, theta=args.theta,
                            inertia=args.inertia, lpi_exponent=args.lpi_exponent)
    initial = read_hydraulic_state(args.initial_state) if args.initial_state else None
    if initial is not None:
        _check_state_above_bed(initial, network, args.initial_state)
    result = NetworkSaintVenant(network, options).run(upstream, downstream, lateral, args.hours, initial)
    mb = result.mass_balance
    log.info("hydraulics: %d reaches, %d junctions, %d nodes, %d steps of %g s, %.2f Newton iterations per step (at "
             "most %d); mass balance: inflow %.6g m3 + lateral %.6g m3 - outflow %.6g m3 - storage change %.6g m3 = "
             "%.3g m3 (%.2g relative)", len(network.ids), len(network.junction_keys), network.size, result.stats["steps"],
             args.dt, result.stats["mean_newton_iterations"], result.stats["max_newton_iterations"],
             mb["inflow_volume_m3"], mb["lateral_volume_m3"], mb["outflow_volume_m3"], mb["storage_change_m3"],
             mb["mass_balance_error_m3"], mb["mass_balance_relative_error"])
    attrs = {**{k: float(v) for k, v in mb.items()}, "dt_seconds": args.dt, "theta": args.theta,
             "inertia": args.inertia, "lpi_exponent": args.lpi_exponent, "max_dx_m": args.max_dx,
             "table_dz_m": args.table_dz, "downstream_boundary": args.downstream, "outlet_reach": network.outlet,
             "sections_file": str(args.sections), "junctions_file": str(args.junctions or ""),
             "upstream_files": " ".join(args.upstream), "lateral_file": str(args.lateral or ""),
             "structures_file": str(args.structures or ""), "initial_state": str(args.initial_state or ""),
             "junction_condition": _JUNCTION_CONDITION[args.junction_condition],
             "newton_iterations_mean": result.stats["mean_newton_iterations"],
             "comment": "chainage runs downstream from each reach's upstream boundary; discharge positive downstream; a "
                        "receiving reach's node at a junction appears twice (above and below the confluence)"}
    write_hydraulics(args.output, network_hydraulics_dataset(result, attrs))
    if args.final_state:
        write_hydraulic_state(args.final_state, result.final_state,
                              {"sections_file": str(args.sections), "junctions_file": str(args.junctions or "")})
    peaks = []
    for i in range(network.size):
        if result.surveyed[i] >= 0:
            k = int(result.discharge[:, i].argmax())
            peaks.append({"reach": str(result.reach[i]), "section": str(result.section[i]),
                          "chainage_m": float(result.chainage[i]),
                          "peak_discharge_m3s": round(float(result.discharge[k, i]), 3),
                          "peak_time": str(result.time[k])[:19],
                          "peak_water_level_m": round(float(result.water_level[:, i].max()), 3)})
    summary = {"output": str(args.output), "reaches": len(network.ids), "junctions": len(network.junction_keys),
               "nodes": network.size, **result.stats, **mb, "above_surveyed_top_nodes": result.above_top_nodes,
               "seconds": round(time.perf_counter() - t0, 3), "peaks": peaks}
    if args.json:
        print(json.dumps(summary))
    else:
        for rid in network.ids:
            mine = [p for p in peaks if p["reach"] == rid]
            for p in (mine[0], mine[-1]):
                print(f"{rid:>10s} {p['section']:>10s} {p['chainage_m']:10.1f} m  peak {p['peak_discharge_m3s']:10.2f} "
                      f"m3/s at {p['peak_time']}  max level {p['peak_water_level_m']:.3f} m")
        print(f"-> {args.output}  (mass balance {mb['mass_balance_relative_error']:.2g} relative)")
    return 0


def _cmd_steady_network(args: argparse.Namespace) -> int:
    """``hydro hydraulics steady`` on a network: standard step from the outlet, each tributary from the level of
    its junction."""
    import numpy as np

    from ..core.errors import ConfigError
    from ..hydraulics.steady import G
    from ..io.atomic import check_output_dir
    from ..io.hydraulics import network_steady_dataset, read_downstream, write_steady

    check_output_dir(args.output)
    if args.regime == "supercritical":
        raise ConfigError("--regime supercritical: a network's steady profile is subcritical or mixed (from the outlet)")
    flows: dict[str, float] = {}
    for rid, q in args.discharge:
        if rid is None or rid in flows:
            raise ConfigError(f"--discharge {q:g}: a network takes REACH=Q once for each reach that starts at an upstream "
                              "boundary")
        flows[rid] = q
    network = _read_network(args)
    unknown = [r for r in flows if r not in network.sources]
    if unknown:
        raise ConfigError(f"--discharge {unknown[0]}=...: {unknown[0]!r} is not a reach starting at an upstream boundary "
                          f"({', '.join(network.sources)})")
    downstream = read_downstream(args.downstream)
    when = downstream.series.time[0] if downstream.series is not None else None
    q = network.steady_discharge(flows)
    z, n_critical, n_super = network.steady_profile(q, downstream, when, args.regime)
    network.check_contained(z, "the steady")
    props = network.properties(z)
    velocity = q / props["area"]
    froude = velocity / np.sqrt(G * props["area"] / props["top_width"])
    attrs = {"regime": args.regime, "critical_depth_nodes": n_critical, "supercritical_nodes": n_super,
             "downstream_boundary": args.downstream, "outlet_reach": network.outlet,
             "upstream_discharge": " ".join(f"{r}={v:g}" for r, v in flows.items()),
             "sections_file": str(args.sections), "junctions_file": str(args.junctions or ""),
             "junction_condition": _JUNCTION_CONDITION[args.junction_condition]}
    write_steady(args.output, network_steady_dataset(network.node_reach.astype(str), network.chainage,
                                                     network.section_names(), network.thalweg, network.surveyed, q, z,
                                                     velocity, froude, attrs))
    ends = {rid: {"upstream_water_level_m": round(float(z[network.node_reach == rid][0]), 4),
                  "downstream_water_level_m": round(float(z[network.node_reach == rid][-1]), 4),
                  "outflow_m3s": round(float(q[network.node_reach == rid][-1]), 4)} for rid in network.ids}
    summary = {"output": str(args.output), "nodes": network.size, "regime": args.regime, "reaches": ends,
               "critical_depth_nodes": n_critical, "supercritical_nodes": n_super,
               "max_froude": round(float(froude.max()), 3)}
    if args.json:
        print(json.dumps(summary))
    else:
        for rid, e in ends.items():
            print(f"{rid:>10s}: level {e['upstream_water_level_m']} m upstream, {e['downstream_water_level_m']} m at its "
                  f"end, {e['outflow_m3s']} m3/s out")
        print(f"steady {args.regime} profile, {network.size} nodes, Froude up to {summary['max_froude']}, {n_critical} "
              f"node(s) at critical depth -> {args.output}")
    return 0


def synthetic_reach(n_sections: int, spacing: float = 500.0):
    """A deterministic compound-section main stem: trapezoidal channel (60 m bottom, 2:1 sides, 5 m deep,
    n 0.03-0.04) with 300 m floodplains (n 0.06) rising to high ground, bed slope 2e-4 with +-0.2 m noise."""
    import numpy as np

    from ..hydraulics.sections import CrossSection

    rng = np.random.default_rng(1)
    sections = []
    for k in range(n_sections):
        bed = 100.0 - 2e-4 * spacing * k + rng.uniform(-0.2, 0.2)
        bottom = 60.0 + rng.uniform(-5, 5)
        st = np.array([0.0, 40.0, 340.0, 350.0, 360.0 + bottom, 370.0 + bottom, 670.0 + bottom, 710.0 + bottom])
        el = bed + np.array([12.0, 6.0, 5.2, 0.0, 0.0, 5.2, 6.0, 12.0])
        n = np.array([0.06, 0.06, 0.06, 0.03 + 0.01 * rng.random(), 0.03, 0.06, 0.06, 0.06])
        sections.append(CrossSection(f"XS{k:04d}", k * spacing, st, el, n, 340.0, 370.0 + bottom, "synthetic"))
    return sections


def _cmd_bench(args: argparse.Namespace) -> int:
    import os

    import numba
    import numpy as np

    from ..hydraulics.boundaries import Downstream, Lateral, TimeSeries
    from ..hydraulics.sections import Reach
    from ..hydraulics.unsteady import SaintVenant, SolverOptions

    start = np.datetime64("2026-07-01T00:00", "ns")

    def case(n_sections: int, hours: int):
        t_h = np.arange(hours + 1, dtype=float)
        times = start + (t_h * 3600e9).astype("timedelta64[ns]")
        peak = 24.0 if hours >= 36 else hours / 3
        flood = 300.0 + 2700.0 * (t_h / peak) ** 4 * np.exp(4 * (1 - t_h / peak))
        inflow = TimeSeries(times, flood, "synthetic", "discharge_m3s")
        x = np.linspace(0.1, 0.9, 10) * (n_sections - 1) * 500.0
        lat = 20.0 + 200.0 * (t_h[:, None] / (peak + 6)) ** 3 * np.exp(3 * (1 - t_h[:, None] / (peak + 6)))
        lateral = Lateral(times, x, np.repeat(lat, 10, axis=1), "synthetic")
        return inflow, lateral

    warm_inflow, warm_lateral = case(5, 2)  # compile the kernels outside the timing
    SaintVenant(Reach(synthetic_reach(5), max_dx=500.0), SolverOptions(dt=args.dt, output_interval=args.dt * 10)).run(
        warm_inflow, Downstream("normal", slope=2e-4), warm_lateral)
    t0 = time.perf_counter()
    reach = Reach(synthetic_reach(args.sections), max_dx=500.0)
    inflow, lateral = case(args.sections, args.hours)
    solver = SaintVenant(reach, SolverOptions(dt=args.dt, output_interval=3600.0 if 3600 % args.dt == 0 else args.dt))
    t1 = time.perf_counter()
    result = solver.run(inflow, Downstream("normal", slope=2e-4), lateral)
    t2 = time.perf_counter()
    kernel_s = solver.last_kernel_seconds
    steps = result.stats["steps"]
    row = {"benchmark": "hydraulics", "sections": args.sections, "nodes": reach.size, "hours": args.hours,
           "dt_s": args.dt, "steps": steps, "ns_per_section_step": round(kernel_s * 1e9 / (reach.size * steps), 1),
           "ns_per_section_step_cpu": round(solver.last_kernel_cpu_seconds * 1e9 / (reach.size * steps), 1),
           "wall_s": round(t2 - t0, 3), "setup_s": round(t1 - t0, 3), "kernel_s": round(kernel_s, 3),
           "newton_iterations_mean": round(result.stats["mean_newton_iterations"], 3),
           "newton_iterations_max": result.stats["max_newton_iterations"], "steps_retried": result.stats["steps_retried"],
           "peak_inflow_m3s": round(float(inflow.values.max()), 1),
           "peak_outflow_m3s": round(float(result.discharge[:, -1].max()), 1),
           "mass_balance_relative_error": result.mass_balance["mass_balance_relative_error"],
           "threads": 1, "cpu": _cpu_model(), "cpus": os.cpu_count(),
           "numba": numba.__version__}
    if args.json:
        print(json.dumps(row), flush=True)
    else:
        print(f"hydraulics: {row['nodes']} sections x {steps} steps of {args.dt:g} s: {row['ns_per_section_step']} "
              f"ns/section-step ({row['newton_iterations_mean']} Newton iterations per step), wall {row['wall_s']} s "
              f"(set-up {row['setup_s']} s)", flush=True)
    return 0


def _cpu_model() -> str:
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
