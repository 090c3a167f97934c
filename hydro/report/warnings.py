"""Warning outputs: warnings.csv, warnings.geojson (WGS84, RFC 7946), the warning map and
the hydrographs PNG, and warnings.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..basin import BasinModel
from ..io.atomic import write_atomic
from ..stages.warning import GRADES, ForecastWarnings


def write_warnings(out: Path, basin: BasinModel, warnings: ForecastWarnings, flow: NDArray, frequency: str) -> dict:
    """All warning outputs into ``out``; returns the warning summary (also warnings.json)."""
    seg, thresholds, times = warnings.segments, warnings.thresholds, warnings.times
    _write_csv(out / "warnings.csv", warnings.rows)
    xy = segment_xy(basin)
    _write_geojson(out / "warnings.geojson", basin, xy, seg, thresholds, times, warnings.stations)
    _plot_warning_map(out / "warnings_map.png", basin, xy, seg, frequency, warnings.stations,
                      graded=bool(np.isfinite(thresholds).any()))
    _plot_warning_hydrographs(out / "warnings_hydrographs.png", times, flow, seg, thresholds, warnings.station_series, basin)
    counts = {g: int((seg.grade == k).sum()) for k, g in enumerate(GRADES) if k}
    graded = int(basin.network.size) if np.isfinite(thresholds).any() else 0  # none without a climatology
    summary = {"scheme": warnings.scheme, "segments_graded": graded, "segment_counts": counts,
               "stations": warnings.stations, "ensemble_members": warnings.members,
               "highest_segment_grade": GRADES[int(seg.grade.max())],
               "climatology": warnings.climatology or "not stated",  # what forced the return-period flows
               "outputs": [str(out / n) for n in ("warnings.csv", "warnings.geojson", "warnings_map.png",
                                                  "warnings_hydrographs.png")]}
    write_atomic(out / "warnings.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
    return summary


def segment_xy(basin: BasinModel) -> NDArray[np.float64]:
    """Map coordinates [n, 2] of each segment: the centre of its channel cells; without a runoff grid, the
    network's longitude/latitude (NWM RouteLink midpoints; lake nodes at their lake's centroid or unplaced)."""
    if basin.grid is None:
        return _network_lonlat(basin)
    ids = np.asarray(basin.channel_ids).reshape(-1)
    cells = np.flatnonzero(ids > 0)
    pos = basin.network.index_of(ids[cells])
    rows, cols = np.divmod(cells, basin.grid.shape[1])
    n = basin.network.size
    count = np.bincount(pos, minlength=n).astype(float)
    r = np.bincount(pos, rows, minlength=n) / np.maximum(count, 1)
    c = np.bincount(pos, cols, minlength=n) / np.maximum(count, 1)
    t = basin.grid.transform
    return np.column_stack([t.c + (c + 0.5) * t.a, t.f + (r + 0.5) * t.e])


def _network_lonlat(basin: BasinModel) -> NDArray[np.float64]:
    network = basin.network
    if network.longitude is None or network.latitude is None:
        return np.zeros((network.size, 2))
    xy = np.column_stack([network.longitude, network.latitude]).astype(np.float64)
    # a collapsed lake node has no coordinates of its own: draw it at the segment it drains to
    down = network.downstream_index
    for j in np.flatnonzero(~np.isfinite(xy).all(axis=1)):
        xy[j] = xy[down[j]] if down[j] >= 0 and np.isfinite(xy[down[j]]).all() else 0.0
    return xy


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    keys = list(dict.fromkeys(k for r in rows for k in r)) or ["kind", "id", "grade"]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, keys)
            w.writeheader()
            w.writerows(rows)

    write_atomic(path, write)


def _write_geojson(path: Path, basin: BasinModel, xy, seg, thresholds, times, stations: list[dict] | None = None) -> None:
    """Warned segments as LineStrings in WGS84 longitude/latitude (RFC 7946), from the grid's CRS."""
    from rasterio.warp import transform

    lon, lat = (xy[:, 0], xy[:, 1]) if basin.grid is None else transform(
        basin.grid.crs, "EPSG:4326", xy[:, 0].tolist(), xy[:, 1].tolist())
    lonlat = np.round(np.column_stack([lon, lat]), 5)
    down = basin.network.downstream_index
    features = []
    for j in np.flatnonzero(seg.grade > 0):
        end = lonlat[down[j]] if down[j] >= 0 else lonlat[j]
        props = {"feature_id": int(basin.network.feature_id[j]), "grade": GRADES[seg.grade[j]], "trigger": seg.trigger[j],
                 "peak_m3s": round(float(seg.peak[j]), 2), "peak_time": str(times[seg.peak_index[j]])[:16] + "Z",
                 "hours_at_grade": float(seg.hours_at_grade[j]), "flow_5yr": round(float(thresholds[0, j]), 2)}
        if seg.probability:
            props.update({f"p_{g}": round(float(seg.probability[g][j]), 3) for g in GRADES[1:]})
        features.append({"type": "Feature", "properties": props, "geometry": {
            "type": "LineString", "coordinates": [lonlat[j].tolist(), end.tolist()]}})
    position = {int(f): i for i, f in enumerate(basin.network.feature_id)}
    for s in stations or []:  # user-threshold stations as points on their segments, with levels and source
        if s.get("kind") == "threshold" and s.get("feature_id") in position:
            props = {k: v for k, v in s.items() if k != "kind"}
            props["peak_time"] = props["peak_time"] + "Z"
            features.append({"type": "Feature", "properties": {"kind": "threshold station", **props}, "geometry": {
                "type": "Point", "coordinates": lonlat[position[s["feature_id"]]].tolist()}})
    doc = {"type": "FeatureCollection", "name": f"hydro warnings {basin.name}", "features": features}
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(doc)))


COLOURS = {"none": "#c8d7e6", "blue": "#1f5fd6", "yellow": "#f2c200", "orange": "#f07800", "red": "#d7191c"}


def _plot_warning_map(png: Path, basin: BasinModel, xy, seg, frequency: str, stations: list[dict] | None = None,
                      graded: bool = True) -> None:
    from matplotlib.collections import LineCollection

    from ..plots import figure, save
    down = basin.network.downstream_index
    has_down = down >= 0
    fig = figure(figsize=(8, 8))
    ax = fig.add_subplot(1, 1, 1)
    order = np.argsort(seg.grade, kind="stable")  # graded segments drawn on top
    lines = [[xy[j], xy[down[j]]] for j in order if has_down[j]]
    colours = [COLOURS[GRADES[seg.grade[j]]] for j in order if has_down[j]]
    widths = [0.6 + 0.7 * seg.grade[j] for j in order if has_down[j]]
    ax.add_collection(LineCollection(lines, colors=colours, linewidths=widths))
    ax.autoscale()
    ax.set_aspect("equal")
    for g in GRADES:
        ax.plot([], [], color=COLOURS[g], lw=3, label=f"{g} ({int((np.asarray(GRADES)[seg.grade] == g).sum())})")
    position = {int(f): i for i, f in enumerate(basin.network.feature_id)}
    for s in stations or []:  # user-threshold stations on their segments (hydro.io.thresholds)
        if s.get("kind") == "threshold" and s.get("feature_id") in position:
            x, y = xy[position[s["feature_id"]]]
            ax.plot(x, y, "o", ms=9, mec="k", color=COLOURS.get(s["grade"], "#ffffff"), zorder=3)
            ax.annotate(f"{s['id']} ({s['grade']})", (x, y), xytext=(6, 6), textcoords="offset points", fontsize=7)
    ax.legend(title="segment warning", fontsize=8, loc="upper right")
    how = f"return-period flows, {frequency}" if graded else "no climatology: segments not graded; dots: user thresholds"
    ax.set_title(f"{basin.name}: warnings on every segment ({how})", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    save(fig, png)


def _plot_warning_hydrographs(png: Path, times, flow, seg, thresholds, station_series, basin: BasinModel) -> None:
    from ..plots import figure, save
    top = [int(j) for j in np.argsort(-(seg.grade * 1e9 + seg.peak / np.maximum(thresholds[0], 1e-9)))[:3]]
    if not np.isfinite(thresholds).any():  # no climatology: no segment to rank against its return-period flows
        top = []
    n = len(station_series) + len(top)
    fig = figure(figsize=(10, 2.6 * max(n, 1)))
    k = 1
    for sid, (t, h, section) in station_series.items():
        ax = fig.add_subplot(n, 1, k)
        k += 1
        if hasattr(section, "levels"):  # a user-threshold station (stages.warning.ThresholdSeries)
            unit = "m" if section.quantity == "stage" else "m3 s-1"
            ax.plot(t, h, lw=2, color="tab:blue", label=f"{section.quantity} at {sid}")
            for level, g in zip(section.levels, GRADES[1:], strict=True):
                if level is not None:
                    ax.axhline(level, color=COLOURS[g], lw=1.2, label=f"{g} level")
            ax.set_title(f"levels: {section.source}", fontsize=8)
            ax.set_ylabel(unit)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
            continue
        ax.plot(t, h, lw=2, color="tab:blue", label=f"stage at {sid} (current reservoir rules)")
        ax.axhline(section.warning_stage, color=COLOURS["yellow"], lw=1.2, label="warning stage")
        ax.axhline(section.guaranteed_stage, color=COLOURS["orange"], lw=1.2, label="guaranteed stage")
        ax.set_ylabel("stage [m]")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for j in top:
        ax = fig.add_subplot(n, 1, k)
        k += 1
        ax.plot(times, flow[:, j], lw=2, color="tab:blue", label=f"segment {basin.network.feature_id[j]} "
                f"({GRADES[seg.grade[j]]})")
        for q, name, g in zip(thresholds[:, j], ("5-year", "20-year", "50-year"), ("yellow", "orange", "red"), strict=True):
            ax.axhline(q, color=COLOURS[g], lw=1.2, label=f"{name} flow")
        ax.set_ylabel("m3 s-1")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    save(fig, png)
