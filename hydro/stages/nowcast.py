"""``hydro nowcast`` and ``hydro verify`` wiring: radar file -> QC -> nowcast -> 10-minute means -> NetCDF / scores.

Output convention: one field per output interval (10 minutes by default), stamped at the interval
end, holding the mean rain rate over the interval: the mean of the forecast frames (at the input
step) that end inside it. The input step must divide the output interval.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..core.variables import CF_ATTRS
from ..io.radar import RadarFrames, read_radar, write_cf_netcdf
from ..nowcast.qc import QCPolicy, quality_control
from ..nowcast import MOTION_SMOOTHING_KM
from ..nowcast.sprog import SProg, Steps, estimate_motion, warm_up
from ..verification import LeadScores

log = logging.getLogger("hydro")
METHODS = ("sprog", "extrapolation", "persistence")


@dataclass
class NowcastOptions:
    radar: Path
    issue_time: str
    lead_minutes: int = 60
    output: Path | None = None
    method: str = "sprog"
    levels: int = 6
    members: int = 0
    seed: int = 1
    output_minutes: int = 10
    motion_smoothing_km: float = MOTION_SMOOTHING_KM
    qc: QCPolicy = field(default_factory=QCPolicy)


def _parse_time(text: str, option: str) -> np.datetime64:
    try:
        return np.datetime64(text.rstrip("Z"), "ns")
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not an ISO time (e.g. 2010-08-26T00:30)") from None


def prepare_frames(radar: Path, qc: QCPolicy, until: np.datetime64 | None = None,
                   span_minutes: float = 60.0) -> tuple[RadarFrames, np.timedelta64, dict]:
    """Read and quality-control the frames; with ``until``, only those in the ``span_minutes`` ending then
    (a nowcast needs the last three frames and the last output interval, not the whole archive)."""
    window = None if until is None else (until - np.timedelta64(int(span_minutes * 60), "s"), until)
    frames = read_radar(radar, window=window)
    frames.check_order()
    frames, report = quality_control(frames, np.min(np.diff(frames.times)), qc)
    return frames, frames.step, report  # step raises if QC left the frames unevenly spaced


def forecast_intervals(frames: RadarFrames, step: np.timedelta64, issue: np.datetime64, lead_minutes: int,
                       method: str, levels: int = 6, members: int = 0, seed: int = 1,
                       output_minutes: int = 10, motion_smoothing_km: float = MOTION_SMOOTHING_KM
                       ) -> tuple[NDArray[np.float32], NDArray[np.datetime64], float]:
    """Nowcast from the frames up to ``issue``: interval means [n_out, ny, nx] (or [members, n_out, ny, nx]),
    their valid times, and the seconds the nowcast took (motion included)."""
    if method not in METHODS:
        raise ConfigError(f"unknown nowcast method {method!r}; choose {', '.join(METHODS)}")
    step_min = step / np.timedelta64(1, "m")
    per_output = output_minutes / step_min
    if abs(per_output - round(per_output)) > 1e-9 or per_output < 1:
        raise ConfigError(f"input step {step_min:g} min does not divide the {output_minutes}-minute output interval")
    per_output = int(round(per_output))
    if lead_minutes % output_minutes:
        raise ConfigError(f"--lead-minutes {lead_minutes} is not a multiple of {output_minutes}")
    n_out = lead_minutes // output_minutes
    n_steps = n_out * per_output
    past = frames.select(issue, 3)
    cell_km = frames.cell_km
    if members and method != "persistence":
        from ..core.memory import require_memory

        cells = int(np.prod(frames.shape))
        # the members' interval means (float32), their copy on writing and the ensemble mean, and the
        # cascade's per-level complex fields (float64 filters and spectra, complex64 member states)
        require_memory(4.0 * cells * n_out * (2 * members + 1) + 64.0 * levels * cells,
                       f"a {members}-member nowcast of {n_out} {output_minutes}-minute fields on "
                       f"{frames.shape[0]:,} x {frames.shape[1]:,} cells", "lower --members or --lead-minutes")
    warm_up()  # kernel loading is start-up cost, reported by the caller, not nowcast time
    t0 = time.perf_counter()
    means = None
    if method == "persistence":  # the last output interval, held (the reference baseline)
        last = frames.select(issue, per_output).rate.mean(axis=0) if per_output > 1 else past.rate[-1]
        rates = np.repeat(last[None], n_steps, axis=0)
    elif members:
        steps = Steps(levels, members, seed, step_min, cell_km, motion_smoothing_km=motion_smoothing_km)
        means = steps.forecast(past.rate, n_steps, per_output=per_output).rates  # averaged as it goes
    else:
        model = SProg(levels if method == "sprog" else 1, cell_km, motion_smoothing_km)
        motion = estimate_motion(past.rate, cell_km, motion_smoothing_km)
        rates = model.forecast(past.rate, n_steps, motion=motion).rates
    if means is None:
        means = rates.reshape((n_out, per_output) + rates.shape[1:]).mean(axis=1, dtype=np.float32)
    seconds = time.perf_counter() - t0
    outside = ~np.isfinite(past.rate[-1])  # never measured: unknown, not dry
    means[..., outside] = np.nan
    valid_times = issue + np.arange(1, n_out + 1) * np.timedelta64(output_minutes, "m")
    return means, valid_times.astype("datetime64[ns]"), seconds


def run_nowcast(opts: NowcastOptions) -> dict:
    started = time.perf_counter()
    issue = _parse_time(opts.issue_time, "--issue-time")
    frames, step, report = prepare_frames(opts.radar, opts.qc, until=issue, span_minutes=max(30, opts.output_minutes))
    if opts.output is not None:
        from ..io.atomic import check_output_dir

        check_output_dir(opts.output)
    means, valid_times, seconds = forecast_intervals(frames, step, issue, opts.lead_minutes, opts.method, opts.levels,
                                                     opts.members, opts.seed, opts.output_minutes,
                                                     opts.motion_smoothing_km)
    summary = {"radar": str(opts.radar), "issue_time": str(issue)[:16], "method": opts.method,
               "members": opts.members, "lead_minutes": opts.lead_minutes, "fields": len(valid_times),
               "seconds": round(seconds, 3), "qc": report}
    summary["total_seconds"] = round(time.perf_counter() - started, 3)  # reading, QC, start-up, nowcast
    if opts.output is not None:
        out = replace(frames, rate=means if not opts.members else means.mean(axis=0), times=valid_times,
                      source=f"hydro nowcast ({opts.method}) from {opts.radar}")
        extra = None
        if opts.members:
            extra = {"rainfall_rate_members": (("member", "time", "y", "x"), means,
                                               dict(CF_ATTRS["rainfall_rate_members"]))}
        write_cf_netcdf(opts.output, out, reference_time=issue, interval_minutes=opts.output_minutes, extra=extra)
        summary["output"] = str(opts.output)
    return summary


def observed_intervals(frames: RadarFrames, step: np.timedelta64, issue: np.datetime64, lead_minutes: int,
                       output_minutes: int = 10) -> NDArray[np.float32]:
    """Observed interval-mean rain [n_out, ny, nx] after ``issue`` (the frames ending inside each interval)."""
    per_output = int(round(output_minutes / (step / np.timedelta64(1, "m"))))
    n_out = lead_minutes // output_minutes
    end = issue + np.timedelta64(lead_minutes, "m")
    later = frames.select(end, n_out * per_output)
    if later.times[0] != issue + step:
        raise InputDataError(f"{frames.source}: observations after {issue} are incomplete")
    return later.rate.reshape((n_out, per_output) + frames.shape).mean(axis=1)


def run_verification(cases: list[tuple[Path, list[str]]], lead_minutes: int = 60, methods=("sprog", "persistence"),
                     levels: int = 6, members: int = 0, seed: int = 1, output_minutes: int = 10,
                     fss_threshold: float = 1.0, fss_scale_km: float = 16.0, qc: QCPolicy | None = None,
                     motion_smoothing_km: float = MOTION_SMOOTHING_KM) -> dict:
    """Score nowcasts issued at each time of each radar file against the later observed frames,
    contingency tables pooled over all issue times; cells valid in every frame of a file."""
    qc = qc or QCPolicy()
    n_out = lead_minutes // output_minutes
    scores = {m: [LeadScores((k + 1) * output_minutes) for k in range(n_out)] for m in methods}
    timings: dict[str, list[float]] = {m: [] for m in methods}
    total = sum(len(times) for _, times in cases) * len(methods)
    for radar, issue_times in cases:
        frames, step, _ = prepare_frames(radar, qc)  # read and QC each file once, for every method
        valid = np.isfinite(frames.rate).all(axis=0)
        cell_km = frames.cell_km
        scale = max(int(round(fss_scale_km / cell_km)), 1)
        for text in issue_times:
            issue = _parse_time(text, "--issue-times")
            obs = observed_intervals(frames, step, issue, lead_minutes, output_minutes)
            for method in methods:
                use_members = members if method == "steps" else 0
                fc, _, seconds = forecast_intervals(frames, step, issue, lead_minutes,
                                                    "sprog" if method == "steps" else method, levels,
                                                    use_members, seed, output_minutes, motion_smoothing_km)
                timings[method].append(seconds)
                done = sum(len(t) for t in timings.values())
                log.info("verify: %s %s from %s: %.2f s (%d/%d)", method, radar.name, text, seconds, done, total)
                for k in range(n_out):
                    if use_members:
                        scores[method][k].add(fc[:, k].mean(axis=0), obs[k], valid, fss_threshold, scale,
                                              members=fc[:, k])
                    else:
                        scores[method][k].add(fc[k], obs[k], valid, fss_threshold, scale)
    results: dict = {}
    for method in methods:
        rows = [s.to_dict(ensemble=method == "steps") for s in scores[method]]
        results[method] = {
            "leads": rows,
            "mean_csi_1": float(np.mean([r["csi_1"] for r in rows])),
            "seconds_per_nowcast_median": float(np.median(timings[method])),
            "seconds_per_nowcast_max": float(np.max(timings[method])),
            "nowcasts": len(timings[method]),
        }
    return results
