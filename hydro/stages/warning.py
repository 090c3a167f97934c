"""Warning stage: grade a forecast hydrograph per the MWR four-colour flood signals (水情预警发布管理办法, 2013).

A signal fires when **any** criterion of its grade is met (shared/domain/warning.md section 2):

| grade  | stage / discharge criterion               | return-period criterion |
|--------|-------------------------------------------|-------------------------|
| blue   | approaching the warning level             | approaching 5 years     |
| yellow | reaches the warning level                 | >= 5 years              |
| orange | reaches the guaranteed level              | >= 20 years             |
| red    | reaches the historical maximum            | >= 50 years             |

"Approaching" is not fixed by the rules: it is a station parameter (``approach_margin`` below the warning
stage, or ``approach_fraction`` of the warning discharge / 5-year flow). The grade is the highest over the
horizon; the result names the trigger that fired, the time of first crossing, the peak and its time and
the hours at or above the grade's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, NumericalError

GRADES = ("none", "blue", "yellow", "orange", "red")


@dataclass(frozen=True)
class StationThresholds:
    """Thresholds of one station or segment; stage [m] and/or discharge [m3 s-1] criteria."""

    id: str
    warning_stage: float | None = None
    guaranteed_stage: float | None = None
    historical_max_stage: float | None = None
    warning_discharge: float | None = None
    guaranteed_discharge: float | None = None
    historical_max_discharge: float | None = None
    flow_5yr: float | None = None
    flow_20yr: float | None = None
    flow_50yr: float | None = None
    approach_margin: float = 0.3  # m below the warning stage counts as approaching
    approach_fraction: float = 0.9  # of the warning discharge / 5-year flow counts as approaching

    def __post_init__(self) -> None:
        for name, levels in (("stage", (self.warning_stage, self.guaranteed_stage, self.historical_max_stage)),
                             ("discharge", (self.warning_discharge, self.guaranteed_discharge,
                                            self.historical_max_discharge)),
                             ("return-period flow", (self.flow_5yr, self.flow_20yr, self.flow_50yr))):
            given = [v for v in levels if v is not None]
            if given != sorted(given):
                raise ConfigError(f"station {self.id}: {name} thresholds must rise from grade to grade, got {levels}")


@dataclass
class Warning:
    station: str
    grade: str
    trigger: str  # e.g. "stage >= guaranteed stage", "discharge >= 20-year flow"
    first_crossing: str | None
    peak: float
    peak_time: str
    hours_at_grade: float


def _warning(station: str, grade_name: str, trigger: str, times: NDArray, main: NDArray, above: NDArray) -> Warning:
    """The warning record: first crossing of the grade's threshold, peak of ``main`` and hours at grade."""
    step_h = float((times[1] - times[0]) / np.timedelta64(1, "h")) if len(times) > 1 else 1.0
    i = int(np.argmax(main))
    first = str(times[int(np.argmax(above))])[:16] if above.any() else None
    return Warning(station, grade_name, trigger, first, float(main[i]), str(times[i])[:16], float(above.sum() * step_h))


def _criteria(th: StationThresholds, has_stage: bool, has_flow: bool) -> list[tuple[int, str, str, float]]:
    """(grade index, series kind, description, threshold) for every criterion the station defines."""
    out = []
    if has_stage:
        if th.warning_stage is not None:
            out.append((1, "stage", "stage approaching the warning stage", th.warning_stage - th.approach_margin))
            out.append((2, "stage", "stage >= warning stage", th.warning_stage))
        if th.guaranteed_stage is not None:
            out.append((3, "stage", "stage >= guaranteed stage", th.guaranteed_stage))
        if th.historical_max_stage is not None:
            out.append((4, "stage", "stage >= historical maximum", th.historical_max_stage))
    if has_flow:
        if th.warning_discharge is not None:
            out.append((1, "flow", "discharge approaching the warning discharge",
                        th.approach_fraction * th.warning_discharge))
            out.append((2, "flow", "discharge >= warning discharge", th.warning_discharge))
        if th.guaranteed_discharge is not None:
            out.append((3, "flow", "discharge >= guaranteed discharge", th.guaranteed_discharge))
        if th.historical_max_discharge is not None:
            out.append((4, "flow", "discharge >= historical maximum", th.historical_max_discharge))
        for grade, value, years in ((2, th.flow_5yr, 5), (3, th.flow_20yr, 20), (4, th.flow_50yr, 50)):
            if value is not None:
                if grade == 2:
                    out.append((1, "flow", "discharge approaching the 5-year flow", th.approach_fraction * value))
                out.append((grade, "flow", f"discharge >= {years}-year flow", value))
    return out


def grade(times: NDArray[np.datetime64], thresholds: StationThresholds, stage: NDArray | None = None,
          discharge: NDArray | None = None) -> Warning:
    """The station's warning over the forecast horizon (hourly or any regular step)."""
    if stage is None and discharge is None:
        raise ConfigError(f"station {thresholds.id}: give a stage or a discharge forecast")
    criteria = _criteria(thresholds, stage is not None, discharge is not None)
    if not criteria:
        raise ConfigError(f"station {thresholds.id}: no thresholds for the series given")
    series = {"stage": None if stage is None else np.asarray(stage, float),
              "flow": None if discharge is None else np.asarray(discharge, float)}
    best = (0, "", None, 0.0, np.zeros(len(times), bool))
    for g, kind, text, threshold in criteria:
        values = series[kind]
        above = values >= threshold
        if not above.any():
            continue
        first = int(np.argmax(above))
        # the higher grade wins; at equal grade the earlier crossing names the trigger
        if g > best[0] or (g == best[0] and best[2] is not None and first < best[2]):
            best = (g, text, first, threshold, above)
    main = series["stage"] if series["stage"] is not None else series["flow"]
    g, text, _, _, above = best
    return _warning(thresholds.id, GRADES[g], text or "no criterion met", times, main, above)


# --- return-period flows ------------------------------------------------------------------------------

FREQUENCY_METHODS = ("pearson3", "gev", "gumbel")


def return_period_flows(annual_maxima: NDArray, periods=(5, 20, 50), method: str = "pearson3") -> dict[int, float]:
    """Flows with the given return periods [years] from annual maxima (e.g. of a simulated climatology).

    ``pearson3``: Pearson type III, the distribution Chinese design-flood practice uses (SL 44-2006),
    fitted here by the method of moments (mean, standard deviation and bias-corrected skewness; the
    standard's curve fitting by eye is not reproduced); ``gev`` by maximum likelihood; ``gumbel`` by moments."""
    from scipy import stats

    x = np.asarray(annual_maxima, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 10:
        raise ConfigError(f"frequency analysis needs at least 10 annual maxima, got {x.size}")
    if method not in FREQUENCY_METHODS:
        raise ConfigError(f"unknown frequency method {method!r}; choose {', '.join(FREQUENCY_METHODS)}")
    prob = 1.0 - 1.0 / np.asarray(periods, dtype=float)  # non-exceedance
    mean, std = x.mean(), x.std(ddof=1)
    if method == "pearson3":
        n = x.size
        skew = n / ((n - 1) * (n - 2)) * np.sum(((x - mean) / std) ** 3)
        q = stats.pearson3.ppf(prob, skew, loc=mean, scale=std)
    elif method == "gev":
        shape, loc, scale = stats.genextreme.fit(x)
        q = stats.genextreme.ppf(prob, shape, loc=loc, scale=scale)
    else:
        scale = std * np.sqrt(6.0) / np.pi
        q = stats.gumbel_r.ppf(prob, loc=mean - 0.5772156649 * scale, scale=scale)
    return {int(p): float(v) for p, v in zip(periods, q, strict=True)}


NWS_CATEGORIES = ("none", "action", "minor", "moderate", "major")


def grade_nws(times: NDArray[np.datetime64], stage: NDArray, action: float, minor: float, moderate: float,
              major: float, station: str = "") -> Warning:
    """The US NWS flood categories as the alternative scheme: the highest of action / minor (flood
    stage) / moderate / major stage reached over the horizon."""
    levels = [action, minor, moderate, major]
    if levels != sorted(levels):
        raise ConfigError(f"station {station}: NWS stages must rise action <= minor <= moderate <= major, got {levels}")
    stage = np.asarray(stage, dtype=float)
    reached = [k for k, level in enumerate(levels, start=1) if (stage >= level).any()]
    g = max(reached, default=0)
    above = stage >= levels[g - 1] if g else np.zeros(stage.size, bool)
    return _warning(station, NWS_CATEGORIES[g], f"stage >= {NWS_CATEGORIES[g]} stage" if g else "no criterion met",
                    times, stage, above)


# --- every segment: return-period thresholds from a simulated climatology, graded at once -------------

def return_period_table(annual_maxima: NDArray, periods=(5, 20, 50), method: str = "pearson3") -> NDArray[np.float64]:
    """``return_period_flows`` for many series at once: annual maxima [years, n] -> flows [len(periods), n].
    Pearson III and Gumbel by moments are vectorised; GEV fits each series by maximum likelihood."""
    from scipy import stats

    x = np.asarray(annual_maxima, dtype=float)
    if x.ndim != 2 or x.shape[0] < 10 or not np.isfinite(x).all():
        raise ConfigError(f"frequency analysis needs at least 10 finite annual maxima per segment, got shape {x.shape}")
    if method == "gev":
        return np.array([list(return_period_flows(x[:, j], periods, "gev").values()) for j in range(x.shape[1])]).T
    if method not in FREQUENCY_METHODS:
        raise ConfigError(f"unknown frequency method {method!r}; choose {', '.join(FREQUENCY_METHODS)}")
    prob = (1.0 - 1.0 / np.asarray(periods, dtype=float))[:, None]
    n = x.shape[0]
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0, ddof=1), 1e-9)
    if method == "pearson3":
        skew = n / ((n - 1) * (n - 2)) * np.sum(((x - mean) / std) ** 3, axis=0)
        return stats.pearson3.ppf(prob, skew[None, :], loc=mean[None, :], scale=std[None, :])
    scale = std * np.sqrt(6.0) / np.pi
    return stats.gumbel_r.ppf(prob, loc=(mean - 0.5772156649 * scale)[None, :], scale=scale[None, :])


@dataclass
class SegmentGrades:
    """Warnings of every segment from its return-period flows (the MWR return-period criteria)."""

    grade: NDArray[np.int64]  # index into GRADES
    trigger: list[str]
    first_crossing: NDArray[np.int64]  # time index of the first crossing of the grade's threshold, -1 if none
    peak: NDArray[np.float64]
    peak_index: NDArray[np.int64]
    hours_at_grade: NDArray[np.float64]
    probability: dict[str, NDArray[np.float64]] | None = None  # ensemble: P(grade >= g) per segment


def grade_segments(flow: NDArray, flows_5_20_50: NDArray, step_hours: float, approach_fraction: float = 0.9,
                   members_axis: bool = False) -> SegmentGrades:
    """Grade ``flow`` [time, n] (or [member, time, n] with ``members_axis``: the ensemble median graded,
    and the probability of each grade from the members) against Q5/Q20/Q50 [3, n]: blue when approaching
    the 5-year flow (``approach_fraction`` of it), yellow >= Q5, orange >= Q20, red >= Q50."""
    flow = np.asarray(flow, dtype=float)
    q5, q20, q50 = flows_5_20_50
    levels = np.stack([approach_fraction * q5, q5, q20, q50])  # thresholds of grades 1..4
    probability = None
    if members_axis:
        member_peak = flow.max(axis=1)  # [member, n]
        member_grade = (member_peak[:, None, :] >= levels[None]).sum(axis=1)
        probability = {GRADES[g]: (member_grade >= g).mean(axis=0) for g in range(1, 5)}
        flow = np.median(flow, axis=0)
    peak_index = flow.argmax(axis=0)
    peak = flow.max(axis=0)
    grade_idx = (peak[None, :] >= levels).sum(axis=0)
    threshold = np.where(grade_idx > 0, levels[np.maximum(grade_idx - 1, 0), np.arange(flow.shape[1])], np.inf)
    above = flow >= threshold[None, :]
    first = np.where(above.any(axis=0), above.argmax(axis=0), -1)
    names = ["", "discharge approaching the 5-year flow", "discharge >= 5-year flow", "discharge >= 20-year flow",
             "discharge >= 50-year flow"]
    return SegmentGrades(grade_idx, [names[g] for g in grade_idx], first, peak, peak_index,
                         above.sum(axis=0) * step_hours, probability)


@dataclass
class ForecastWarnings:
    """Every segment and control section of one forecast graded (the warning stage's result)."""

    scheme: str
    times: NDArray[np.datetime64]
    segments: SegmentGrades
    thresholds: NDArray[np.float64]  # [3, n] 5-, 20-, 50-year flows
    rows: list[dict]  # one per warned segment, then the stations first (warnings.csv)
    stations: list[dict]
    station_series: dict  # section id -> (times, stage, section); user-threshold id -> (times, series, ThresholdSeries)
    members: int
    climatology: str = ""  # what forced the annual maxima behind the return-period flows (stated in the outputs)


def grade_forecast(scheme: str, frequency: str, approach_fraction: float, spec, feature_id: NDArray[np.int64],
                   times: NDArray, flow: NDArray, annual_max: NDArray, section_flow: dict, section_stage: dict,
                   members_flow: NDArray | None = None, stage_source: dict | None = None,
                   members_stage: dict | None = None) -> ForecastWarnings:
    """Grade a forecast: every segment of ``flow`` [hours, n] against return-period flows fitted to
    ``annual_max`` [years, n] (``frequency``), and every control section of ``spec`` on its stage
    (``section_stage``, the forecast through the current reservoir rules) by the MWR four colours or the
    NWS categories (``scheme``). With ``members_flow`` [members, hours, n] each grade carries its
    probability, each member read through the same rules, its stage by the section's rating or, with
    ``members_stage`` (section id -> [members, hours], the members' main-stem hydraulics), by the hydraulics.
    ``stage_source`` (section id -> text, the rehearsal's ``ForwardResult.stage_source``) is written per station
    when a section's stage comes from a Saint-Venant main stem (saying when the members' is still the rating's:
    a warning stage rerun from files, which keep no member stage)."""
    hydraulic = {k: v for k, v in (stage_source or {}).items() if v.startswith("hydraulics")}
    # no climatology (a basin forced by lateral inflow cannot simulate one): segments get no return-period grade
    thresholds = (np.full((3, len(feature_id)), np.nan) if annual_max is None
                  else return_period_table(annual_max, (5, 20, 50), frequency))
    seg = grade_segments(members_flow if members_flow is not None else flow, thresholds, 1.0, approach_fraction,
                         members_axis=members_flow is not None)
    rows = []
    for j in np.flatnonzero(seg.grade > 0):
        rows.append({"kind": "segment", "id": str(feature_id[j]), "grade": GRADES[seg.grade[j]], "trigger": seg.trigger[j],
                     "first_crossing": str(times[seg.first_crossing[j]])[:16] if seg.first_crossing[j] >= 0 else "",
                     "peak_m3s": round(float(seg.peak[j]), 2), "peak_time": str(times[seg.peak_index[j]])[:16],
                     "hours_at_grade": float(seg.hours_at_grade[j]), "flow_5yr": round(float(thresholds[0, j]), 2),
                     "flow_20yr": round(float(thresholds[1, j]), 2), "flow_50yr": round(float(thresholds[2, j]), 2),
                     **({f"p_{g}": round(float(seg.probability[g][j]), 3) for g in GRADES[1:]} if seg.probability else {})})
    stations, station_series = [], {}
    position = {int(f): i for i, f in enumerate(feature_id)}
    for section in spec.control_sections:
        q, h = section_flow[section.id], section_stage[section.id]
        j = position[section.feature_id]
        record = None if annual_max is None else float(section.stage(np.array([annual_max[:, j].max()]))[0])
        if scheme == "mwr":
            th = StationThresholds(section.id, warning_stage=section.warning_stage,
                                   guaranteed_stage=section.guaranteed_stage, historical_max_stage=record)

            def station_grade(stage, th=th):
                return grade(times, th, stage=stage)
            names = GRADES
        else:  # NWS: action 0.3 m below warning, minor = warning, moderate = guaranteed, major = record
            levels = (section.warning_stage - 0.3, section.warning_stage, section.guaranteed_stage,
                      max(record if record is not None else -np.inf, section.guaranteed_stage + 0.01))

            def station_grade(stage, levels=levels, sid=section.id):
                return grade_nws(times, stage, *levels, station=sid)
            names = NWS_CATEGORIES
        wrn = station_grade(h)
        probability = {}
        if members_flow is not None:  # each member through the current reservoir rules, as the forecast
            # the member's stage: by the main stem's hydraulics where they give it (members_stage), else the rating
            by_hydraulics = (members_stage or {}).get(section.id)
            member_stages = by_hydraulics if by_hydraulics is not None else [section.stage(m[:, j]) for m in members_flow]
            ranks = np.array([names.index(station_grade(s).grade) for s in member_stages])
            probability = {f"p_{g}": round(float((ranks >= k).mean()), 3) for k, g in enumerate(names) if k}
        stations.append({"kind": "station", "id": section.id, "grade": wrn.grade, "trigger": wrn.trigger, **probability,
                         "first_crossing": wrn.first_crossing or "", "peak_m3s": round(float(q.max()), 2),
                         "peak_stage_m": round(float(h.max()), 3), "peak_time": wrn.peak_time,
                         "hours_at_grade": wrn.hours_at_grade, "warning_stage": section.warning_stage,
                         "guaranteed_stage": section.guaranteed_stage,
                         **({"stage_source": (stage_source or {}).get(section.id, "rating (network discharge)")
                             + ("; member probabilities by the rating" if probability and section.id in hydraulic
                                and section.id not in (members_stage or {}) else "")} if hydraulic else {})})
        station_series[section.id] = (times, h, section)
    all_rows = stations + sorted(rows, key=lambda r: -GRADES.index(r["grade"]) if r["grade"] in GRADES else 0)
    return ForecastWarnings(scheme, times, seg, thresholds, all_rows, stations, station_series,
                            0 if members_flow is None else int(members_flow.shape[0]))


# --- stations with user thresholds (hydro.io.thresholds): four colours set by a centre, with their source -----

@dataclass(frozen=True)
class ThresholdSeries:
    """A user-threshold station's forecast series and levels, for the hydrograph figure."""

    quantity: str  # "discharge" or "stage"
    levels: tuple  # blue, yellow, orange, red (None: not set)
    source: str


def grade_levels(times: NDArray[np.datetime64], series: NDArray, levels, station: str, what: str) -> Warning:
    """The highest of blue/yellow/orange/red whose level ``series`` reaches over the horizon (levels None: unset)."""
    series = np.asarray(series, dtype=float)
    if not np.isfinite(series).all():  # a NaN never reaches a level: it would grade green without a word
        bad = int(np.flatnonzero(~np.isfinite(series))[0])
        raise NumericalError(f"station {station}: the forecast {what} is {series[bad]} at {str(times[bad])[:16]}; "
                             "it cannot be graded (check the forecast that feeds this station)")
    reached = [k for k, level in enumerate(levels, start=1) if level is not None and (series >= level).any()]
    g = max(reached, default=0)
    above = series >= levels[g - 1] if g else np.zeros(series.size, bool)
    trigger = f"{what} >= {GRADES[g]} level ({levels[g - 1]:g})" if g else "no level reached"
    return _warning(station, GRADES[g], trigger, times, series, above)


def grade_user_thresholds(thresholds: list, spec, feature_id: NDArray[np.int64], times: NDArray, flow: NDArray,
                          section_flow: dict, section_stage: dict,
                          members_flow: NDArray | None = None) -> tuple[list[dict], dict]:
    """Grade each user-threshold station (``hydro.io.thresholds.UserThreshold``) on the forecast ``flow``
    [hours, n] at its segment, or on its control section's discharge or stage (through the current reservoir
    rules). Returns the station records (with each level and its source) and their series for the figures.
    A station whose segment or section is not in the basin is a ConfigError."""
    position = {int(f): i for i, f in enumerate(feature_id)}
    sections = {s.id: s for s in spec.control_sections}
    records, series = [], {}
    for th in thresholds:
        if th.section is not None:
            if th.section not in sections:
                raise ConfigError(f"threshold station {th.id}: section {th.section!r} is not a control section of "
                                  f"basin {spec.name} (have: {sorted(sections) or 'none'})")
            values = (section_stage if th.quantity == "stage" else section_flow)[th.section]
            j = position[sections[th.section].feature_id]
            section = sections[th.section]
            on_stem = any(section.feature_id in m.segments for m in getattr(spec, "main_stems", []))
            top = section.rating_stage_m[-1]
            if th.quantity == "stage" and not on_stem and any(v is not None and v > top for v in th.levels):
                # the rating's stage stops at its top: a level above it could never be reached
                raise ConfigError(f"threshold station {th.id}: a stage level above section {section.id}'s rating "
                                  f"(top {top:g} m) can never be reached; extend the rating in the basin file")
        else:
            if th.quantity == "stage":
                raise ConfigError(f"threshold station {th.id}: stage levels need a control section with a rating "
                                  "(column section); a network segment gives discharge")
            if th.feature_id not in position:
                raise ConfigError(f"threshold station {th.id}: feature_id {th.feature_id} is not a segment of basin "
                                  f"{spec.name}")
            j = position[th.feature_id]
            values = flow[:, j]
        what = "stage" if th.quantity == "stage" else "discharge"
        wrn = grade_levels(times, values, th.levels, th.id, what)
        probability = {}
        if members_flow is not None and th.quantity == "discharge":
            ranks = np.array([GRADES.index(grade_levels(times, m[:, j], th.levels, th.id, what).grade)
                              for m in members_flow])
            probability = {f"p_{g}": round(float((ranks >= k).mean()), 3) for k, g in enumerate(GRADES) if k}
        records.append({"kind": "threshold", "id": th.id, "grade": wrn.grade, "trigger": wrn.trigger, **probability,
                        "first_crossing": wrn.first_crossing or "", "feature_id": int(feature_id[j]),
                        "peak_m3s": round(float(np.max(flow[:, j] if th.section is None else section_flow[th.section])), 2),
                        **({"peak_stage_m": round(float(np.max(values)), 3)} if th.quantity == "stage" else {}),
                        "peak_time": wrn.peak_time, "hours_at_grade": wrn.hours_at_grade,
                        **{f"{c}_{'m' if th.quantity == 'stage' else 'm3s'}": (None if v is None else round(v, 3))
                           for c, v in zip(GRADES[1:], th.levels, strict=True)},
                        "threshold_source": th.source})
        series[th.id] = (times, np.asarray(values, float), ThresholdSeries(th.quantity, th.levels, th.source))
    return records, series
