"""``hydro calibrate`` wiring: read a catchment record and search ranges, calibrate, score, write.

Like pipeline.py, this is the one place that connects readers, the model and writers for calibration.
Periods are given as ``START/END`` dates (ISO); END is inclusive: a date means through that day.

Where things come from and go (``hydro.core.workspace``): the search ranges default to the packaged
``models/<model>/hourly.toml`` or ``daily.toml`` (by the record's step); the calibrated set goes to
``--output``, by default ``<data stem>_<model>.toml`` in the current directory, with its run over the
record (``<output stem>_simulation.nc``: simulated and observed discharge, rain, PET, the period of each step)
and the event PNGs beside it (never into the source tree or the installed package); the catchment description
defaults to ``basins/catchments/<data stem>.toml`` of a source checkout and is skipped, with a log line, when
absent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from ..core.errors import ConfigError, InputDataError
from ..core.paths import BASINS_DIR
from ..core.registry import get_method
from ..core.workspace import packaged
from ..io.catchment import (CatchmentRecord, FloodEvent, find_events, read_catchment, read_catchment_spec,
                             read_events, write_calibration_series)
from ..io.parameters import read_parameter_space, write_parameter_set
from ..runoff import RunoffModel
from ..runoff.calibration import Periods, calibrate
from ..scoring import GBT22482, kge, nse, score_events

log = logging.getLogger("hydro")


@dataclass
class CalibrateOptions:
    data: Path
    model: str
    warmup: str
    calibration: str
    validation: str | None = None
    objective: str = "nse"
    bounds: Path | None = None
    evaluations: int = 10_000
    batch: int = 16
    seed: int = 1
    output: Path | None = None  # default ./<data stem>_<model>.toml
    events: Path | None = None
    plots: bool = True
    progress: bool = True
    catchment: Path | None = None  # description; default basins/catchments/<data stem>.toml of a checkout, where present
    use_catchment: bool = True  # False: the record as stamped, no description


def parse_period(text: str, option: str) -> tuple[np.datetime64, np.datetime64]:
    """``2001-01-01/2001-12-31`` -> [start, end + 1 day) when END is a date, [start, end] + 1 s otherwise."""
    import warnings

    try:
        start_s, end_s = text.split("/")
        with warnings.catch_warnings():  # numpy applies a UTC offset and warns that it keeps no zone
            warnings.simplefilter("ignore", UserWarning)
            start = np.datetime64(start_s.strip(), "ns")
            end = np.datetime64(end_s.strip(), "ns")
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected START/END as ISO dates, e.g. 1992-01-01/1992-03-31") from None
    whole_day = len(end_s.strip()) == 10
    return start, end + (np.timedelta64(1, "D") if whole_day else np.timedelta64(1, "s"))


# the fewest finite observed discharges a calibration or validation period is scored on
MIN_SCORED_STEPS = 10


def _model(name: str, dt_hours: float) -> RunoffModel:
    import hydro.runoff  # noqa: F401  (registers the runoff models)

    cls = get_method("runoff", name)
    return cls(dt_hours)


def _events(record: CatchmentRecord, override: Path | None) -> tuple[list[FloodEvent], str]:
    if override is not None:
        return read_events(override), str(override)
    if record.events:
        return record.events, str(record.events_source)
    return find_events(record.times, record.discharge, record.dt_hours), "detected (99th-percentile peaks)"


def _block(record: CatchmentRecord, sim: np.ndarray, window: slice, events: list[FloodEvent],
           rules: GBT22482) -> tuple[dict, list]:
    """Scores of one period: NSE, KGE, bias, and the GB/T 22482 event statistics on 'ok' events inside it."""
    obs = record.discharge[window]
    times = record.times[window]
    inside = [e for e in events if e.start >= times[0] and e.end <= times[-1]]
    usable = [(e.event_id, e.start, e.end) for e in inside if e.quality == "ok"]
    summary = score_events(times, sim, obs, usable, record.area_km2, record.dt_hours, rules)
    ok = np.isfinite(obs)
    block = {
        "start": str(times[0])[:19], "end": str(times[-1])[:19], "nse": nse(sim, obs), "kge": kge(sim, obs),
        "dc": nse(sim, obs), "bias": float(sim[ok].sum() / obs[ok].sum() - 1.0),
        "events_excluded": [e.event_id for e in inside if e.quality != "ok"],
    }
    block.update(summary.to_dict())
    return block, summary.events


def default_catchment(data: Path) -> Path:
    """``basins/catchments/<data stem>.toml`` of the source checkout (it may not exist; from an
    installed wheel it never does)."""
    return BASINS_DIR / "catchments" / f"{Path(data).stem}.toml"


def default_output(data: Path, model: str) -> Path:
    """``<data stem>_<model>.toml`` in the current directory."""
    return Path.cwd() / f"{Path(data).stem}_{model}.toml"


def run_calibration(opts: CalibrateOptions) -> dict:
    """Calibrate, score both periods, write the calibrated set, its run over the record
    (``<output stem>_simulation.nc``) and event plots; return the summary."""
    record = read_catchment(opts.data)
    spec_path = opts.catchment or default_catchment(opts.data)
    spec = None
    if opts.use_catchment and (opts.catchment is not None or spec_path.is_file()):
        spec = read_catchment_spec(spec_path)
        record.align_precipitation(spec.precipitation_lead_steps, f"precipitation_lead_steps in {spec_path}")
    elif opts.use_catchment:
        log.info("no catchment description at %s: the record as stamped (--catchment names one)", spec_path)
    model = _model(opts.model, record.dt_hours)
    step_kind = "daily" if record.dt_hours >= 24 else "hourly"
    bounds = opts.bounds or packaged("models", f"{model.name}/{step_kind}.toml")
    space = read_parameter_space(bounds, model.name, model.parameter_names)
    windows = {}
    for name, text in (("warmup", opts.warmup), ("calibration", opts.calibration), ("validation", opts.validation)):
        if text is not None:
            start, end = parse_period(text, f"--{name}")
            windows[name] = record.index(start, end, f"--{name} {text}")
    for name in ("calibration", "validation"):  # a period that cannot be scored gives NSE nan or -inf
        if name in windows:
            obs = record.discharge[windows[name]]
            finite = obs[np.isfinite(obs)]
            if finite.size < MIN_SCORED_STEPS or np.ptp(finite) <= 0.0:
                raise InputDataError(
                    f"{opts.data}: --{name} {getattr(opts, name)}: {finite.size} finite discharge value(s) in it"
                    + (", all equal" if finite.size and np.ptp(finite) <= 0.0 else "")
                    + f"; NSE and KGE need at least {MIN_SCORED_STEPS} that vary: choose a period with observed discharge")
            if finite.size < obs.size:
                log.info("--%s: %d of its %d steps have no observed discharge; the scores leave them out", name,
                         obs.size - finite.size, obs.size)
    periods = Periods(windows["warmup"], windows["calibration"], windows.get("validation"))
    output = opts.output or default_output(opts.data, model.name)
    output.parent.mkdir(parents=True, exist_ok=True)
    if opts.evaluations < 1 or opts.batch < 1:
        raise ConfigError("--evaluations and --batch must be positive")

    bar = None
    if opts.progress:
        from tqdm import tqdm

        bar = tqdm(total=opts.evaluations, unit="run", desc=f"calibrating {model.name}", leave=False)

    def progress(n: int, best: float) -> None:
        bar.update(n)
        bar.set_postfix({opts.objective: f"{best:.4f}"})

    events, events_source = _events(record, opts.events)
    outside = [e for e in events if e.end < record.times[0] or e.start > record.times[-1]]
    if outside:  # a table for another record (or another datum of time): say so instead of empty statistics
        log.warning("%s: %d of %d flood event(s) lie outside the record (%s .. %s), e.g. %r (%s .. %s); they are "
                    "left out of the event statistics", events_source, len(outside), len(events),
                    str(record.times[0])[:16], str(record.times[-1])[:16], outside[0].event_id,
                    str(outside[0].start)[:16], str(outside[0].end)[:16])
    objective, _, where = opts.objective.partition("_")
    scored_steps = None
    if where == "events":  # event calibration: score only the 'ok' flood windows
        scored_steps = np.zeros(len(record.times), dtype=bool)
        for e in events:
            if e.quality == "ok":
                scored_steps |= (record.times >= e.start) & (record.times <= e.end)
    try:
        result = calibrate(model, record, space, periods, objective, opts.evaluations, opts.batch, opts.seed,
                           progress if bar is not None else None, scored_steps)
    finally:
        if bar is not None:
            bar.close()
    log.info("%s: %d evaluations in %.1f s, %s = %.4f", model.name, result.evaluations, result.seconds,
             opts.objective, result.objective_value)

    rules = GBT22482()
    summary: dict = {
        "model": model.name, "data": str(opts.data), "time_step_hours": record.dt_hours,
        "objective": opts.objective, "evaluations": result.evaluations, "seconds": round(result.seconds, 2),
        "seed": opts.seed, "bounds": str(bounds), "events_source": events_source,
        "parameters": dict(zip(model.parameter_names, map(float, result.values), strict=True)),
        "catchment": str(spec_path) if spec is not None else None,
        "precipitation_lead_steps": spec.precipitation_lead_steps if spec is not None else 0,
    }
    start = periods.warmup.start
    scored = {}
    for name in ("calibration", "validation"):
        window = windows.get(name)
        if window is None:
            continue
        sim = result.simulated[window.start - start:window.stop - start]
        summary[name], event_scores = _block(record, sim, window, events, rules)
        scored[name] = (window, sim, event_scores)
    metadata = {
        "data": str(opts.data), "objective": opts.objective, "evaluations": result.evaluations,
        "seed": opts.seed, "bounds": str(bounds), "hydro_version": __version__,
        "catchment": str(spec_path) if spec is not None else "",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "periods": {k: v for k, v in (("warmup", opts.warmup), ("calibration", opts.calibration),
                                      ("validation", opts.validation)) if v},
        "scores": {k: {m: summary[k][m] for m in ("nse", "kge", "qr", "grade")} for k in scored},
    }
    # the calibrated set's run, to plot or re-score with other tools; written before the set, so a failure
    # leaves neither new
    series = output.with_name(f"{output.stem}_simulation.nc")
    write_calibration_series(series, record, start, result.simulated, windows, {
        "model": model.name, "objective": opts.objective, "evaluations": result.evaluations, "seed": opts.seed,
        "parameter_file": output.name, "hydro_version": __version__, "history": f"{metadata['created']} hydro calibrate",
        **{f"parameter_{k}": v for k, v in summary["parameters"].items()},
        **{f"{k}_{m}": float(summary[k][m]) for k in scored for m in ("nse", "kge")}})
    write_parameter_set(output, model.name, model.parameter_names, result.values, metadata)
    summary["output"], summary["simulation"] = str(output), str(series)
    if opts.plots:
        from ..plots import plot_events

        summary["plots"] = []
        for name, (window, sim, event_scores) in scored.items():
            if event_scores:
                png = output.with_name(f"{output.stem}_{name}_events.png")
                plot_events(png, record, window, sim, event_scores, f"{model.name} {name}: {Path(opts.data).stem}")
                summary["plots"].append(str(png))
    return summary
