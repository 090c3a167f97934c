"""Plan stage: rehearse a set of dispatch schemes, rank them, and write the decision package.

Schemes: the current operating rules (F1), the inverse-optimal schedules for each objective
(min_peak, max_margin, min_storage; each verified by F2), min_peak with pre-release allowed, and
min_peak without dispatching one dam (it keeps its rules) for each of the largest dams. Every scheme
is judged on its own full-model run (F1 for the rules, F2 for the others).

Every scheme runs over the forecast horizon and the routing tail after it (``rehearsal.extend_f1``: until
the releases made within the horizon have passed every control section, at most 48 h; each dam's last
release held, lateral inflow held at the forecast's last hour), and is judged over both, so no scheme
gains by pushing water past the horizon. The rules scheme is F1 continued through the tail under the rules.

Ranking, in this stated priority order (shared/domain/rehearsal.md section 6):
1. dam safety: the largest rise of any dam above its flood-control high level (none is best);
2. protected sections: hours above the guaranteed stage, then the excess volume above the safe
   discharges, then hours above the warning stage, then the smallest freeboard (largest first);
3. detention used: the volume diverted into detention basins (least first);
4. storage kept: the flood storage left over all dams (most first).
Detention basins (hydro.routing.detention) open by their triggers under the rules and by the inverse's
schedule in the derived schemes; the plan lists each basin the recommended scheme uses (when it opens, the
volume, the area and population affected) in the dispatch order after the reservoirs.
A scheme that F2 did not verify ranks after every verified one.

The package: ``plan.md`` and ``plan.html`` (the recommended scheme, its dispatch order: release
schedule per reservoir in the order the dams act, its triggers and the monitoring that confirms it,
and the ranking table), ``plan_schedule.csv`` (hourly releases of the recommended scheme over the horizon, each
row holding from its time until the next: the hour's start, as the dispatch order and ``--schedule`` read times),
``plan_comparison.png``, one NetCDF per scheme and ``plan.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError
from ..io.basin import BasinSpec
from .rehearsal import (STORAGE_RULES, ForwardResult, InfeasibleDispatch, RehearsalInputs, RehearsalResult, Tail,
                        detention_use, forward_is_safe, rehearse, stage_text, storage_at_horizon)


@dataclass
class Scheme:
    name: str
    description: str
    result: ForwardResult
    verified: bool
    schedule: dict[str, NDArray[np.float64]]  # hourly over the horizon
    binding: list[str] = field(default_factory=list)
    horizon: int | None = None  # hours of forecast horizon in ``result`` (the rest is the tail); None: all
    hold_hours: dict[str, int] = field(default_factory=dict)  # per dam: hours each release holds (1: hourly)
    # a centre's own scheme: every hour a dam could not release what it says, and why (rehearsal.cannot_follow)
    cannot_follow: list[dict] = field(default_factory=list)


@dataclass
class Impact:
    scheme: str
    verified: bool
    dam_rise_above_fch_m: float  # largest peak level above the flood-control high level (0 if none)
    hours_above_guaranteed: float
    excess_volume_m3: float
    hours_above_warning: float
    min_freeboard_m: float  # smallest (guaranteed stage - peak stage) over the sections
    storage_left_m3: float  # flood storage left over all dams at their peak levels
    storage_left_at_horizon_m3: float  # flood storage left over all dams at the horizon's end
    section_peaks: dict[str, float]
    dam_peak_levels: dict[str, float]
    detention_volume_m3: float = 0.0  # diverted into detention basins, horizon and tail
    detention_population: int = 0  # living in the basins that take water

    def rank_key(self) -> tuple:
        return (not self.verified, round(self.dam_rise_above_fch_m, 2), self.hours_above_guaranteed,
                round(self.excess_volume_m3, -3), self.hours_above_warning, -round(self.min_freeboard_m, 2),
                round(self.detention_volume_m3, -3), -self.storage_left_m3)


def detention_of(scheme: Scheme, basin: BasinSpec) -> list[dict]:
    """The detention basins a scheme's run uses (``rehearsal.detention_use``), in their order."""
    record = scheme.result.run.detention
    if record is None:
        return []
    return detention_use(basin, scheme.result.times, record.diversion, _horizon(scheme))


def impact(scheme: Scheme, basin: BasinSpec) -> Impact:
    r = scheme.result
    used = detention_of(scheme, basin)
    rise = max([max(ind.peak_level - ind.flood_control_high_level, 0.0) for ind in r.reservoir_indicators], default=0.0)
    sections = {s.id: s for s in basin.control_sections}
    return Impact(
        scheme.name, scheme.verified, float(rise),
        float(sum(s.hours_above_guaranteed for s in r.sections)), float(sum(s.excess_volume_m3 for s in r.sections)),
        float(sum(s.hours_above_warning for s in r.sections)),
        float(min((sections[s.id].guaranteed_stage - s.peak_stage for s in r.sections), default=np.inf)),
        float(sum(ind.flood_storage_left_m3 for ind in r.reservoir_indicators)),
        float(sum(v["flood_storage_left_m3"] for v in storage_at_horizon(r, basin, _horizon(scheme)).values())),
        {s.id: round(s.peak_discharge, 1) for s in r.sections},
        {ind.id: round(ind.peak_level, 3) for ind in r.reservoir_indicators},
        float(sum(b["volume_m3"] for b in used)), int(sum(b["population"] for b in used)),
    )


def _horizon(scheme: Scheme) -> int:
    return len(scheme.result.times) if scheme.horizon is None else scheme.horizon


def _rehearse_variant(inputs: RehearsalInputs, tail: Tail, kwargs):
    """One derived scheme's (F2, accepted, schedule, binding, hold hours), or the reason no schedule exists."""
    try:
        out = rehearse(inputs.network, inputs.basin, inputs.lateral, inputs.times, routing=inputs.routing,
                       start=inputs.start, f1=inputs.forward(), tail=tail, initial=inputs.initial,
                       interval_s=inputs.interval_s, nudging_for=inputs.nudging_for, **kwargs)
    except InfeasibleDispatch as exc:  # this scheme has nothing to offer; the others may
        return exc.reason
    return out.f2, out.accepted, out.inverse.schedule, out.inverse.binding, out.inverse.hold_hours


def rehearse_schemes(inputs: RehearsalInputs, dams_to_hold: int = 3, dask: bool = False, scheduler: str | None = None,
                     known: dict[str, RehearsalResult] | None = None, unsolved: dict[str, str] | None = None) -> list[Scheme]:
    """The scheme set (module docstring), each rehearsed on the full model from the same issue-time state
    and F1; with ``dask`` the schemes run as tasks on a LocalCluster (or the scheduler at ``scheduler``).
    ``known`` holds rehearsals already made for this F1 by objective (the rehearsal stage's), reused as
    their schemes. A derived scheme with no feasible schedule is left out, its reason put in ``unsolved``."""
    basin = inputs.basin
    f1 = inputs.forward()
    T = len(f1.times)
    if not (basin.reservoirs or basin.detention_basins) or not basin.control_sections:
        return [Scheme("rules", "current operating rules (F1)", f1, True,
                       {r.id: f1.reservoirs[r.id].release for r in basin.reservoirs}, horizon=T)]
    # every scheme runs through the same tail and linearises around the same F1 (its unit responses): routed
    # once per forecast, by the rehearsal stage when it ran first
    tail = inputs.tail()
    schemes = [Scheme("rules", "current operating rules (F1)", tail.f1, forward_is_safe(basin, tail.f1, 0.0),
                      {r.id: tail.f1.reservoirs[r.id].release[:T] for r in basin.reservoirs}, horizon=T,
                      hold_hours={r.id: 1 for r in basin.reservoirs})]
    variants = [("min_peak", "inverse: lowest peak at the first control section", {"objective": "min_peak"}),
                ("max_margin", "inverse: widest margin below every safe discharge", {"objective": "max_margin"}),
                ("min_storage", "inverse: least flood storage that keeps every section safe", {"objective": "min_storage"}),
                ("pre_release", "inverse min_peak with pre-release below the flood-limit level",
                 {"objective": "min_peak", "pre_release": True})]
    if len(basin.reservoirs) > 1:
        largest = sorted(basin.reservoirs, key=lambda r: -(r.curves().storage(r.flood_control_high_level)
                                                            - r.curves().storage(r.flood_limit_level)))
        for res in largest[:dams_to_hold]:
            variants.append((f"without_{res.id}", f"inverse min_peak, {res.id} kept on its rules",
                             {"objective": "min_peak", "hold": (res.id,)}))
    known = known or {}
    todo = [(name, kw) for name, _, kw in variants if name not in known]
    if todo and (dask or scheduler):
        from .ensemble import client_for

        client, cluster = client_for(scheduler)
        try:
            shared = [client.scatter(x, broadcast=True) for x in (inputs, tail)]
            results = client.gather([client.submit(_rehearse_variant, *shared, kw, pure=False) for _, kw in todo])
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        results = [_rehearse_variant(inputs, tail, kw) for _, kw in todo]
    done = dict(zip([name for name, _ in todo], results, strict=True))
    for name, r in known.items():
        done[name] = (r.f2, r.accepted, r.inverse.schedule, r.inverse.binding, r.inverse.hold_hours)
    for name, description, _ in variants:
        if isinstance(done[name], str):
            if unsolved is not None:
                unsolved[name] = done[name]
            continue
        f2, accepted, schedule, binding, hold_hours = done[name]
        schemes.append(Scheme(name, description, f2, accepted, schedule, binding, T, hold_hours))
    return schemes


def rank(schemes: list[Scheme], basin: BasinSpec) -> list[tuple[Scheme, Impact]]:
    pairs = [(s, impact(s, basin)) for s in schemes]
    return sorted(pairs, key=lambda p: p[1].rank_key())


def _changes(times: NDArray, release: NDArray) -> list[tuple[str, float]]:
    """The hours a release changes, as (from, m3 s-1): the first hour, then each change. Releases are
    whole m3 s-1 (what the LP's block-constant schedule was rounded to and F2 verified)."""
    rounded = np.round(np.asarray(release, np.float64))
    at = np.flatnonzero(np.diff(rounded, prepend=np.nan))
    return [(str(times[t] - np.timedelta64(1, "h"))[:16], float(rounded[t])) for t in at]


def dispatch_order(best: Scheme, rules: Scheme, basin: BasinSpec) -> list[dict]:
    """Reservoirs in the order they must act (first hour their release departs from the rules), with the
    release changes only ("from 06:00 release 1,800 m3/s"; a release holds at least ``hold_hours``), what
    holds after the horizon (the last release, through the routing tail), the trigger (the inflow at
    that hour) and the levels that confirm the schedule. A dam left on its rules (or whose rules already
    do what the plan needs) is ordered to keep its rules rather than given hourly figures."""
    T = _horizon(best)
    times = best.result.times[:T]
    orders = []
    for res in basin.reservoirs:
        planned, ruled = best.schedule[res.id][:T], rules.result.reservoirs[res.id].release[:T]
        hold = best.hold_hours.get(res.id, 1)
        departs = np.flatnonzero(np.abs(planned - ruled) > np.maximum(0.01 * np.abs(ruled), 5.0))
        first = int(departs[0]) if departs.size else None
        inflow = best.result.reservoir_inflow[res.id][1:]
        level = best.result.reservoirs[res.id].level[1:]
        peak = int(np.argmax(level))
        changes = [] if first is None else _changes(times, planned)
        orders.append({
            "reservoir": res.id,
            "acts_at": str(times[first] - np.timedelta64(1, "h"))[:16] if first is not None else None,
            "trigger": (f"at {str(times[first] - np.timedelta64(1, 'h'))[:16]}, when the forecast inflow to {res.id} "
                        f"is {inflow[first]:.0f} m3/s and the rules would release {ruled[first]:.0f} m3/s; "
                        f"act on the forecast, confirmed by the observed inflow"
                        if first is not None else "none: the current rules already do what the plan needs" if best.verified
                        else "none: no scheme found does better than the current rules, which do NOT keep every "
                             "target (plan.md)"),
            "hold_hours": hold,
            "changes": [{"from": a, "release_m3s": q} for a, q in changes],
            "order": ([f"from {a} release {q:,.0f} m3/s" for a, q in changes] if changes
                      else ["keep operating by the current rules"]),
            "after_horizon": (f"hold {planned[-1]:,.0f} m3/s after {str(times[-1])[:16]} until the next plan"
                              if changes else "keep operating by the current rules"),
            "peak_level_m": round(float(level[peak]), 2), "peak_level_time": str(best.result.times[peak])[:16],
            "flood_control_high_level": res.flood_control_high_level,
            # at the start of hour t: the level then, and the release from then (as the order reads times)
            "checkpoints": [(str(times[t] - np.timedelta64(1, "h"))[:16],
                             round(float(best.result.reservoirs[res.id].level[t]), 2), round(float(planned[t]), 0))
                            for t in range(0, T, max(1, T // 8))],
        })
    return sorted(orders, key=lambda o: (o["acts_at"] is None, o["acts_at"] or ""))


def write_plan(output_dir, ranked: list[tuple[Scheme, Impact]], basin: BasinSpec, forecast: str,
               unsolved: dict[str, str] | None = None) -> dict:
    """The decision package (module docstring); returns the plan summary (also written as plan.json).
    ``unsolved``: derived schemes with no feasible schedule, and why (listed, not ranked)."""
    import markdown

    from ..io.atomic import clear_earlier_outputs, write_atomic
    from ..io.netcdf import write_dataset
    from .rehearsal import plot_scheme, scheme_dataset

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    clear_earlier_outputs(out, "plan")
    best, best_impact = ranked[0]
    rules = ranked_rules(ranked)
    rules_impact = next(i for s, i in ranked if s.name == "rules")
    times = best.result.times[:_horizon(best)]
    order = dispatch_order(best, rules, basin) if basin.reservoirs else []
    for scheme, _ in ranked:
        write_dataset(out / f"scheme_{scheme.name}.nc", scheme_dataset(scheme.result, basin, scheme.name,
                                                                        _horizon(scheme)))
    plot_scheme(out / "plan_recommended.png", best.result, basin, f"plan: {best.name}", rules.result, _horizon(best))
    _plot_comparison(out / "plan_comparison.png", ranked, basin)

    record = best.result.run.detention
    basins = [b.id for b in sorted(basin.detention_basins, key=lambda b: (b.order, b.id))] if record is not None else []

    def schedule_csv(tmp: Path) -> None:
        # each row holds from its time until the next (the hour's start, as the dispatch order and --schedule
        # read times); the result's times are the hours' ends
        header = "time," + ",".join([f"{r.id}_release_m3s" for r in basin.reservoirs]
                                    + [f"{b}_diversion_m3s" for b in basins])
        rows = [f"{str(t - np.timedelta64(1, 'h'))[:16]}," + ",".join([f"{best.schedule[r.id][k]:.2f}" for r in basin.reservoirs]
                                                                      + [f"{record.diversion[b][k]:.2f}" for b in basins])
                for k, t in enumerate(times)]
        tmp.write_text("\n".join([header, *rows]) + "\n")

    write_atomic(out / "plan_schedule.csv", schedule_csv)
    detention = detention_of(best, basin)
    md = _markdown(ranked, basin, forecast, order, best, best_impact, rules_impact, detention, unsolved or {})
    write_atomic(out / "plan.md", lambda tmp: tmp.write_text(md))
    body = markdown.markdown(md, extensions=["tables"])
    html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hydro plan: {basin.name}</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
            "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #bbb;padding:3px 6px}"
            "th{background:#eef}img{max-width:100%}</style></head><body>" + body + "</body></html>")
    write_atomic(out / "plan.html", lambda tmp: tmp.write_text(html))
    summary = {
        "basin": basin.name, "forecast": forecast, "recommended": best.name, "verified": best.verified,
        "routing": {"dt_s": best.result.run.dt, "solver": best.result.run.solver},
        "ranking": [asdict(i) for _, i in ranked], "dispatch_order": order,
        "detention_order": detention,
        "cannot_follow": {scheme.name: scheme.cannot_follow for scheme, _ in ranked if scheme.cannot_follow},
        "no_feasible_schedule": dict(unsolved or {}),
        "horizon_hours": _horizon(best), "tail_hours": len(best.result.times) - _horizon(best),
        "storage_rule": STORAGE_RULES.get(best.name, STORAGE_RULES["min_peak"]),
        "storage_at_horizon": storage_at_horizon(best.result, basin, _horizon(best)),
        "outputs": [str(out / n) for n in ("plan.md", "plan.html", "plan_schedule.csv", "plan_comparison.png",
                                           "plan_recommended.png")]
                   + [str(out / f"scheme_{s.name}.nc") for s, _ in ranked],
    }
    write_atomic(out / "plan.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
    return summary


def _markdown(ranked, basin, forecast, order, best, best_impact, rules_impact, detention=(), unsolved=None) -> str:
    T = _horizon(best)
    times = best.result.times[:T]
    tail = len(best.result.times) - T
    lines = [f"# Flood dispatch plan: {basin.name}", "",
             f"Forecast `{forecast}`, {str(times[0] - np.timedelta64(1, 'h'))[:16]} to {str(times[-1])[:16]}.", "",
             "## Situation under the current rules", ""]
    for s in ranked_rules(ranked).result.sections:
        sec = next(c for c in basin.control_sections if c.id == s.id)
        lines.append(f"- **{s.id}**: peak {s.peak_discharge:.0f} m3/s at {s.peak_time} (safe {s.safe_discharge:.0f}), "
                     f"{stage_text(s)} (warning {sec.warning_stage}, guaranteed {sec.guaranteed_stage}), "
                     f"{s.hours_above_warning:.0f} h above warning, {s.hours_above_guaranteed:.0f} h above guaranteed.")
    lines += ["", f"## Recommendation: `{best.name}` ({best.description})", "",
              f"{'Verified on the full model (F2).' if best.verified else '**Not verified by F2: treat with care.**'} "
              f"Dams rise at most {best_impact.dam_rise_above_fch_m:.2f} m above their flood-control high level; "
              f"{best_impact.hours_above_guaranteed:.0f} h above guaranteed stage (rules: {rules_impact.hours_above_guaranteed:.0f}); "
              f"excess volume {best_impact.excess_volume_m3 / 1e6:.2f} hm3 (rules: {rules_impact.excess_volume_m3 / 1e6:.2f}); "
              f"smallest freeboard {best_impact.min_freeboard_m:.2f} m (rules: {rules_impact.min_freeboard_m:.2f}); "
              f"flood storage left {best_impact.storage_left_m3 / 1e6:.1f} hm3 at the highest levels, "
              f"{best_impact.storage_left_at_horizon_m3 / 1e6:.1f} hm3 at the horizon's end.", "",
              f"Judged over the forecast horizon and a {tail} h routing tail after it (until the releases made "
              "within the horizon have passed every control section; each dam's last release held, lateral inflow "
              f"held at the forecast's last hour): peak through the tail "
              + ", ".join(f"{s.id} {best.result.section_discharge[s.id][T:].max():,.0f} m3/s (safe {s.safe_discharge:,.0f})"
                          for s in basin.control_sections if tail) + ("." if tail else "none."), "",
              f"End-of-horizon storage: {STORAGE_RULES.get(best.name, STORAGE_RULES['min_peak'])}.", "",
              "| reservoir | level at horizon end [m] | flood storage used [hm3] | left [hm3] |", "|---|---|---|---|",
              *[f"| {rid} | {v['level_m']:.2f} | {v['flood_storage_used_m3'] / 1e6:.1f} | {v['flood_storage_left_m3'] / 1e6:.1f} |"
                for rid, v in storage_at_horizon(best.result, basin, T).items()], "",
              "![recommended scheme](plan_recommended.png)", "", "## Dispatch order", ""]
    for k, o in enumerate(order, 1):
        lines += [f"### {k}. {o['reservoir']}: acts {o['acts_at'] or 'no change'}", "",
                  f"- Trigger: {o['trigger']}.",
                  f"- Peak level {o['peak_level_m']} m at {o['peak_level_time']} "
                  f"(flood-control high {o['flood_control_high_level']} m).",
                  f"- Each release holds at least {o['hold_hours']} h:" if o["changes"] else "- Order:", ""]
        lines += [f"  {k2}. {row}" for k2, row in enumerate(o["order"], 1)]
        lines += ["", f"- After the horizon: {o['after_horizon']}.", ""]
    for k, b in enumerate(detention, len(order) + 1):  # after the reservoirs: used only where they cannot do it
        lines += [f"### {k}. detention basin {b['detention_basin']}: opens {b['opens_at']}", "",
                  f"- Open the inlet at {b['opens_at']} and divert up to {b['peak_diversion_m3s']:,.0f} m3/s "
                  f"(inlet capacity {b['max_intake_m3s']:,.0f}) until {b['takes_water_until']}"
                  + (" (into the routing tail after the horizon)" if b["in_tail"] else "") + ".",
                  f"- Volume {b['volume_m3'] / 1e6:.2f} hm3 of its {b['capacity_m3'] / 1e6:.2f} hm3; affects "
                  f"{b['area_km2']:,.1f} km2 and {b['population']:,} people: evacuate before it opens.",
                  f"- Confirm on section {b['trigger_section']}.", ""]
    lines += ["## Monitoring that confirms the plan", "",
              "Re-rehearse at once if an observation leaves these bounds: a control section above its planned "
              "discharge by more than 10 %, or a dam level more than 0.2 m above its planned level.", "",
              "| where | time | planned | |", "|---|---|---|---|"]
    step = max(1, len(times) // 8)
    for s in basin.control_sections:
        q = best.result.section_discharge[s.id]
        lines += [f"| section {s.id} | {str(times[t])[:16]} | {q[t]:.0f} m3/s | stage {best.result.section_stage[s.id][t]:.2f} m |"
                  for t in range(0, len(times), step)]
    for o in order:
        lines += [f"| dam {o['reservoir']} | {t} | {lvl:.2f} m | release {q:.0f} m3/s |" for t, lvl, q in o["checkpoints"]]
    lines += ["", "## Schemes ranked", "",
              "Priority: dam safety, then the protected sections (hours above guaranteed stage, excess volume, "
              "hours above warning stage, freeboard), then detention used, then flood storage kept. Unverified "
              "schemes rank last.", "",
              "| rank | scheme | verified | dam rise above FCH [m] | h above guaranteed | excess [hm3] | h above warning "
              "| min freeboard [m] | storage left [hm3] |", "|---|---|---|---|---|---|---|---|---|"]
    for k, (s, i) in enumerate(ranked, 1):
        lines.append(f"| {k} | {s.name} | {'yes' if i.verified else 'no'} | {i.dam_rise_above_fch_m:.2f} | "
                     f"{i.hours_above_guaranteed:.0f} | {i.excess_volume_m3 / 1e6:.2f} | {i.hours_above_warning:.0f} | "
                     f"{i.min_freeboard_m:.2f} | {i.storage_left_m3 / 1e6:.1f} |")
    for s, _ in ranked:  # a centre's scheme is ranked by what the dams can do with it: say where that differs
        if s.cannot_follow:
            first = "; ".join(e["message"] for e in s.cannot_follow[:3])
            lines += ["", f"**{s.name}** cannot be followed as written in {len(s.cannot_follow)} hour(s); it is ranked "
                          f"by what the dams can release: {first}" + ("; ... (all in plan.json)" if len(s.cannot_follow) > 3 else "")]
    for name, why in (unsolved or {}).items():  # derived schemes the dams' limits leave no schedule for
        lines += ["", f"**{name}**: no feasible schedule, not ranked ({why})"]
    if basin.detention_basins:
        lines += ["", "Detention used by each scheme (ranked after the protected sections, before storage kept):", "",
                  "| scheme | detention [hm3] | people in the basins used |", "|---|---|---|",
                  *[f"| {s.name} | {i.detention_volume_m3 / 1e6:.2f} | {i.detention_population:,} |" for s, i in ranked]]
    lines += ["", "![schemes compared](plan_comparison.png)", ""]
    return "\n".join(lines)


def ranked_rules(ranked) -> Scheme:
    return next(s for s, _ in ranked if s.name == "rules")


def _plot_comparison(png: Path, ranked, basin: BasinSpec) -> None:
    from ..plots import figure, save

    rows = len(basin.control_sections) + (1 if basin.reservoirs else 0)
    fig = figure(figsize=(11, 3 * max(rows, 1)))
    for k, section in enumerate(basin.control_sections, 1):
        ax = fig.add_subplot(rows, 1, k)
        for rank_no, (scheme, _) in enumerate(ranked, 1):
            ax.plot(scheme.result.times, scheme.result.section_discharge[section.id], lw=2.2 if rank_no == 1 else 1,
                    ls="--" if scheme.name == "rules" else "-", label=f"{rank_no}. {scheme.name}")
        ax.axhline(section.safe_discharge, color="red", lw=1, label="safe discharge")
        ax.set_ylabel("m3 s-1")
        ax.set_title(f"control section {section.id}: schemes compared", fontsize=9)
        ax.legend(fontsize=7, ncol=3)
        ax.grid(alpha=0.3)
    if basin.reservoirs:
        ax = fig.add_subplot(rows, 1, rows)
        for rank_no, (scheme, _) in enumerate(ranked, 1):
            rise = [scheme.result.reservoirs[r.id].level[1:] - r.flood_control_high_level for r in basin.reservoirs]
            ax.plot(scheme.result.times, np.max(rise, axis=0), lw=2.2 if rank_no == 1 else 1, label=f"{rank_no}. {scheme.name}")
        ax.axhline(0.0, color="k", lw=1, ls=":")
        ax.set_ylabel("highest dam level - FCH [m]")
        ax.legend(fontsize=7, ncol=3)
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    save(fig, png)


def run_plan(inputs: RehearsalInputs, output_dir, dask: bool = False, scheduler: str | None = None,
             known: dict[str, RehearsalResult] | None = None, own_schemes: dict[str, dict] | None = None) -> dict:
    """``hydro plan`` and the cycle's plan stage: rehearse the schemes, rank them, write the package.
    ``own_schemes`` (name -> release schedules per reservoir, e.g. from a centre's CSV) are run forward from
    the same issue-time state and ranked beside the derived ones; verified means every target held."""
    from .rehearsal import cannot_follow, nothing_to_dispatch

    reason = nothing_to_dispatch(inputs.basin, int(inputs.network.is_lake.sum()))
    if reason is not None and not own_schemes:
        return write_no_dispatch_plan(output_dir, inputs, reason)
    unsolved: dict[str, str] = {}
    schemes = rehearse_schemes(inputs, dask=dask, scheduler=scheduler, known=known, unsolved=unsolved)
    for name, schedules in (own_schemes or {}).items():
        if any(s.name == name for s in schemes) or name in unsolved:
            raise ConfigError(f"--scheme {name}: a derived scheme has that name; choose another")
        result, verified = inputs.verify(schedules)  # judged as F2 judges a derived scheme, tail included
        full = {r.id: result.reservoirs[r.id].release[:len(inputs.times)] for r in inputs.basin.reservoirs}
        # ranked by what the dams can do with it; the hours they cannot follow it are listed with the plan
        events = cannot_follow(result, inputs.basin, schedules)
        what = "the centre's own schedule" + (f" (the dams cannot follow it in {len(events)} hour(s))" if events else "")
        schemes.append(Scheme(name, what, result, verified, full, horizon=len(inputs.times), cannot_follow=events))
    return write_plan(output_dir, rank(schemes, inputs.basin), inputs.basin, inputs.source, unsolved)


def write_no_dispatch_plan(output_dir, inputs: RehearsalInputs, reason: str) -> dict:
    """The plan of a basin with nothing to dispatch (``rehearsal.nothing_to_dispatch``): plan.md / plan.html /
    plan.json say so and why, with the forecast's situation (F1: control sections, lakes at the horizon's end
    against their maximum level), so a centre sees that the stage ran and why it has no schedule to give."""
    import markdown

    from ..core.ids import lookup
    from ..io.atomic import clear_earlier_outputs, write_atomic

    basin, f1 = inputs.basin, inputs.forward()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    clear_earlier_outputs(out, "plan")
    period = f"{str(f1.times[0] - np.timedelta64(1, 'h'))[:16]} to {str(f1.times[-1])[:16]}"
    lines = [f"# Flood dispatch plan: {basin.name}", "", f"Forecast `{inputs.source}`, {period}.", "",
             f"**No dispatch plan: {reason}**", "", "## Situation under the current rules (F1)", ""]
    for sec in f1.sections:
        lines.append(f"- **{sec.id}**: peak {sec.peak_discharge:.0f} m3/s at {sec.peak_time} (safe "
                     f"{sec.safe_discharge:.0f}), {sec.hours_above_warning:.0f} h above warning stage.")
    lakes = []
    routing = inputs.routing
    if routing.lakes is not None and routing.lake_id.size:
        idx, _ = lookup(routing.lakes.lake_id, routing.lake_id)
        final = f1.run.final.water_sfc_elev
        for k, lake in enumerate(routing.lake_id.tolist()):
            top = float(routing.lakes.max_elevation[idx[k]])
            lakes.append({"lake_id": int(lake), "level_at_end_m": round(float(final[k]), 3), "max_elevation_m": top,
                          "below_max_m": round(top - float(final[k]), 3)})
        closest = sorted(lakes, key=lambda r: r["below_max_m"])[:5]
        lines += [f"- {len(lakes)} uncontrolled level-pool lake(s); closest to their maximum level at the horizon's end:",
                  "", "| lake | level [m] | maximum [m] | below maximum [m] |", "|---|---|---|---|",
                  *[f"| {r['lake_id']} | {r['level_at_end_m']:.2f} | {r['max_elevation_m']:.2f} | {r['below_max_m']:.2f} |"
                    for r in closest], ""]
    if not f1.sections and not lakes:
        lines.append("- no control section and no lake: the warnings (warnings.csv) are the whole story.")
    lines += ["", "The warnings of this cycle (warnings.csv, warnings.json) grade the same forecast. To rehearse "
              "dispatch, add the operated reservoirs and the control sections they protect to the basin file."]
    md = "\n".join(lines) + "\n"
    write_atomic(out / "plan.md", lambda tmp: tmp.write_text(md))
    html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hydro plan: {basin.name}</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
            "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 6px}</style></head><body>"
            + markdown.markdown(md, extensions=["tables"]) + "</body></html>")
    write_atomic(out / "plan.html", lambda tmp: tmp.write_text(html))
    summary = {"basin": basin.name, "forecast": inputs.source, "nothing_to_dispatch": reason, "dispatch_order": [],
               "routing": {"dt_s": f1.run.dt, "solver": f1.run.solver}, "lakes_at_horizon_end": lakes,
               "outputs": [str(out / n) for n in ("plan.md", "plan.html", "plan.json")]}
    write_atomic(out / "plan.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
    return summary
