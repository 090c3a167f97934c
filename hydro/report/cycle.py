"""The cycle report: report.html (the cycle at a glance, with the figures) and the summary lines the CLI prints."""

from __future__ import annotations

from pathlib import Path

from ..io.atomic import write_atomic
from .warnings import COLOURS


def write_report(out: Path, summary: dict) -> Path:
    """report.html: the cycle at a glance, with the figures, for a browser."""
    import html

    def img(rel: str, alt: str) -> str:
        return f"<p><img src='{rel}' alt='{alt}' style='max-width:100%'></p>" if (out / rel).is_file() else ""

    parts = [f"<h1>hydro cycle: {html.escape(summary['basin'])}</h1>",
             f"<p>analysis {summary['analysis']}, forecast {summary['forecast']} (config {html.escape(summary['config'])}, "
             f"hash {summary['config_hash']})</p>",
             "<h2>Summary</h2><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(summary)) + "</ul>"]
    wrn = summary.get("warning")
    if wrn:
        parts.append("<h2>Warnings</h2><table><tr><th>station</th><th>grade</th><th>trigger</th><th>first crossing</th>"
                     "<th>peak stage [m]</th><th>peak [m3/s]</th><th>peak time</th><th>hours at grade</th></tr>"
                     + "".join(f"<tr><td>{s['id']}</td><td style='background:{COLOURS.get(s['grade'], '#fff')}'>{s['grade']}</td>"
                               f"<td>{html.escape(s['trigger'])}</td><td>{s['first_crossing']}</td><td>{s.get('peak_stage_m', '')}</td>"
                               f"<td>{s['peak_m3s']}</td><td>{s['peak_time']}</td><td>{s['hours_at_grade']}</td></tr>"
                               for s in wrn["stations"]) + "</table>")
        parts.append("<p>Segments: " + ", ".join(f"{g} {n}" for g, n in wrn["segment_counts"].items())
                     + f" of {wrn['segments_graded']} (details in <a href='warnings.csv'>warnings.csv</a>, "
                     "<a href='warnings.geojson'>warnings.geojson</a>); return-period flows from the climatology: "
                     + html.escape(wrn.get("climatology", "not stated")) + "</p>")
        parts += [img("warnings_map.png", "warning map"), img("warnings_hydrographs.png", "hydrographs")]
    reh = summary.get("rehearsal")
    if reh and "verdict" in reh:
        parts.append("<h2>Rehearsal</h2><p>" + html.escape(rehearsal_line(reh)) + "</p>")
        parts += [img("rehearsal/f2.png", "rehearsal F2")]
    elif reh and "nothing_to_dispatch" in reh:
        parts.append("<h2>Rehearsal</h2><p>" + html.escape(reh["nothing_to_dispatch"]) + "</p>")
    elif reh and "no_feasible_schedule" in reh:
        parts.append("<h2>Rehearsal</h2><p>" + html.escape(infeasible_line(reh)) + "</p>")
    plan = summary.get("plan")
    if plan and "nothing_to_dispatch" in plan:
        parts.append("<h2>Plan</h2><p>No dispatch plan (<a href='plan/plan.html'>plan/plan.html</a> says why and "
                     "shows the lakes).</p>")
    elif plan and "recommended" in plan:
        parts.append(f"<h2>Plan</h2><p>Recommended scheme <b>{plan['recommended']}</b>; full document: "
                     "<a href='plan/plan.html'>plan/plan.html</a></p>")
        parts += [img("plan/plan_comparison.png", "schemes compared")]
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>hydro cycle report</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:3px 6px}</style></head><body>" + "".join(parts) + "</body></html>")
    return write_atomic(out / "report.html", lambda tmp: tmp.write_text(page))


def _f1_text(reh: dict) -> str:
    """F1 at the rehearsal's first control section."""
    f1 = reh["f1"]["control_sections"][0]
    return (f"F1 (current rules): {f1['id']} peak {f1['peak_discharge']:.0f} m3/s (safe {f1['safe_discharge']:.0f}) -> "
            f"{reh['f1']['risk'][f1['id']]}")


def rehearsal_line(reh: dict) -> str:
    verdict = reh["verdict"]
    f2 = reh["f2"]["control_sections"][0]
    binding = reh.get("binding", [])
    return (f"{_f1_text(reh)}; F2 (derived schedule): peak {f2['peak_discharge']:.0f} m3/s -> "
            f"{reh['f2']['risk'][f2['id']]}; {'ACCEPTED' if verdict['accepted'] else 'NOT accepted'}; binding: "
            f"{binding[0] if binding else 'none'}{f' (+{len(binding) - 1} more)' if len(binding) > 1 else ''}")


def infeasible_line(reh: dict) -> str:
    """A rehearsal whose dams' limits leave no schedule: F1 at the first section, and why."""
    infeasible = reh["no_feasible_schedule"]
    return f"{_f1_text(reh)}; no feasible {infeasible['objective']} schedule: {infeasible['reason']}"


def summary_lines(summary: dict) -> list[str]:
    lines = []
    fc = summary.get("forecast_stage")
    if fc:
        forcing = (f"forcing {fc['forcing']}" if "forcing" in fc else  # lateral inflow, no rain (no runoff grid)
                   f"analysis rain {fc['basin_rain_mm']} mm, nowcast rain {fc['nowcast_rain_mm']} mm")
        lines.append(f"forecast: {fc['start'] if fc['start'].startswith('cold') else 'hot start'}; {forcing}"
                     + (f", {fc['members']} members" if fc["members"] else "")
                     + "".join(f"; {k} at {v['level_m']} m releasing {v['release_m3s']} m3/s"
                               for k, v in fc.get("reservoirs_at_issue", {}).items())
                     + f"; restart {fc['restart']}")
    wrn = summary.get("warning")
    if wrn:
        st = "; ".join(f"{s['id']} {s['grade'].upper()} ({s['trigger']}, first {s['first_crossing'] or '-'}, peak "
                       + (f"{s['peak_stage_m']} m" if "peak_stage_m" in s else f"{s['peak_m3s']} m3/s")
                       + f" at {s['peak_time']})" for s in wrn["stations"])
        lines.append(f"warnings: stations: {st or 'none'}; segments: "
                     + (", ".join(f"{n} {g}" for g, n in wrn["segment_counts"].items() if n) or "none")
                     + f" of {wrn['segments_graded']} graded"
                     + f"; return-period flows from climatology: {wrn.get('climatology', 'not stated')}")
    reh = summary.get("rehearsal")
    if reh and "verdict" in reh:
        lines.append("rehearsal: " + rehearsal_line(reh))
    elif reh and "nothing_to_dispatch" in reh:
        lines.append("rehearsal: " + reh["nothing_to_dispatch"])
    elif reh and "no_feasible_schedule" in reh:
        lines.append("rehearsal: " + infeasible_line(reh))
    plan = summary.get("plan")
    if plan and "nothing_to_dispatch" in plan:
        lines.append("plan: " + plan["nothing_to_dispatch"])
    elif plan and "recommended" in plan:
        acts = "; ".join(f"{o['reservoir']} from {o['acts_at']}" for o in plan["dispatch_order"] if o["acts_at"])
        lines.append(f"plan: recommended {plan['recommended']} ({'verified' if plan['verified'] else 'NOT verified'}); "
                     f"dispatch order: {acts or 'no change to the rules'}")
    return lines
