"""Basin definitions for the rehearsal stage: reservoirs (curves, levels, rules) and control sections, in TOML.

Validated with pydantic (unknown keys are errors; every error names the key path and the file);
tables are given as parallel arrays. Example (basins/<name>/basin.toml)::

    name = "han"
    [[reservoirs]]
    id = "danjiangkou"
    feature_id = 1001                      # the network node it sits on
    level_m = [140, 150, 160, 170, 176]
    storage_m3 = [5e9, 9e9, 15e9, 24e9, 30e9]
    capacity_m3s = [2000, 12000, 25000, 40000, 50000]
    flood_limit_level = 160.0
    flood_control_high_level = 171.7
    design_level = 172.2
    check_level = 174.35
    safe_release = 11000.0
    min_release = 490.0
    max_ramp_per_hour = 2000.0
    end_target_level = 160.0

    [[control_sections]]
    id = "huangzhuang"
    feature_id = 2001
    safe_discharge = 20000.0
    warning_stage = 44.5
    guaranteed_stage = 46.5
    rating_stage_m = [38, 42, 46, 48]
    rating_discharge_m3s = [2000, 9000, 21000, 28000]

    [[detention_basins]]                   # docs/detention.md
    id = "dujiatai"
    feature_id = 1900                      # the segment its inlet takes water from
    capacity_hm3 = 1100.0
    max_intake_m3s = 5300.0
    trigger_section = "huangzhuang"
    trigger_stage_m = 45.5                 # and/or trigger_discharge_m3s
    order = 1                              # lower opens first
    area_km2 = 614.0
    population = 220000

    [[main_stems]]                         # Saint-Venant reach in the twin: docs/hydraulics.md
    id = "lower"
    segments = [1950, 1990, 2001]          # upstream first, each draining into the next, the last to an outlet
    sections = "lower/SECTIONS.csv"        # relative to this file
    downstream = "normal"                  # or normal:SLOPE, rating:FILE.csv
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from ..core.errors import ConfigError, InputDataError
from ..core.variables import INPUT_VARIABLES, check_range
from ..reservoir.operation import OperatingRules, ReservoirCurves


class _Strict(BaseModel):
    # nan passes no check; strict: a number written as a string ("112") or a boolean is refused, not read as one
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class ReservoirSpec(_Strict):
    id: str = Field(min_length=1)
    feature_id: int
    level_m: list[float] = Field(min_length=2)
    storage_m3: list[float] = Field(min_length=2)
    capacity_m3s: list[float] = Field(min_length=2)
    flood_limit_level: float
    flood_control_high_level: float
    design_level: float
    check_level: float
    safe_release: float = Field(ge=0)
    min_release: float = Field(default=0.0, ge=0)
    max_ramp_per_hour: float = Field(default=float("inf"), gt=0)
    end_target_level: float | None = None
    # a dispatched release holds at least this many hours between changes (blocks from the issue time)
    hold_hours: int = Field(default=3, ge=1, le=24)

    @model_validator(mode="after")
    def _tables(self) -> ReservoirSpec:
        if not len(self.level_m) == len(self.storage_m3) == len(self.capacity_m3s):
            raise ValueError("level_m, storage_m3 and capacity_m3s must have the same length")
        if max(self.capacity_m3s) <= 0:  # routed, it overtops at the first step with a message about the curve
            raise ValueError(f"{self.id}: capacity_m3s is 0 at every level, so the dam can release nothing; give the "
                             "outlets' discharge capacity at each level")
        try:
            for key, variable in (("level_m", "reservoir_level"), ("storage_m3", "reservoir_storage"),
                                  ("capacity_m3s", "reservoir_capacity"), ("safe_release", "reservoir_capacity")):
                if getattr(self, key) is not None:  # a free spillway has no safe_release
                    check_range(np.atleast_1d(np.asarray(getattr(self, key), float)), variable, f"reservoir {self.id}",
                                label=key)
            self.curves()
        except InputDataError as exc:  # raised as a ValueError so the error names the reservoir's key path
            raise ValueError(str(exc)) from None
        return self

    def curves(self) -> ReservoirCurves:
        return ReservoirCurves(np.array(self.level_m), np.array(self.storage_m3), np.array(self.capacity_m3s),
                               name=self.id)

    def rules(self) -> OperatingRules:
        return OperatingRules(self.flood_limit_level, self.flood_control_high_level, self.design_level,
                              self.check_level, self.safe_release, self.min_release, self.max_ramp_per_hour,
                              self.end_target_level)


class ControlSectionSpec(_Strict):
    id: str = Field(min_length=1)
    feature_id: int
    safe_discharge: float = Field(gt=0)
    warning_stage: float
    guaranteed_stage: float
    rating_stage_m: list[float] = Field(min_length=2)
    rating_discharge_m3s: list[float] = Field(min_length=2)
    bed_datum_m: float | None = None  # bed elevation in the stage datum: needed on a hydrodynamic main stem
    target_stage: float | None = None  # optional stage target; converted to discharge by the rating

    @property
    def target_discharge(self) -> float:
        """The discharge the rehearsal keeps the section below: the safe discharge, or less when a target
        stage is set (its discharge on the rating)."""
        if self.target_stage is None:
            return self.safe_discharge
        return min(self.safe_discharge, float(np.interp(self.target_stage, self.rating_stage_m,
                                                        self.rating_discharge_m3s)))

    @model_validator(mode="after")
    def _rating(self) -> ControlSectionSpec:
        h, q = np.array(self.rating_stage_m), np.array(self.rating_discharge_m3s)
        if h.shape != q.shape or not (np.all(np.diff(h) > 0) and np.all(np.diff(q) > 0)):
            raise ValueError("rating_stage_m and rating_discharge_m3s must have the same length and both increase")
        if self.guaranteed_stage < self.warning_stage:
            raise ValueError("guaranteed_stage must not be below warning_stage")
        return self

    def stage(self, discharge: np.ndarray) -> np.ndarray:
        """Stage [m] from discharge [m3 s-1] by the rating (linear between points, clamped at the ends)."""
        return np.interp(discharge, self.rating_discharge_m3s, self.rating_stage_m)


#: beyond any river's flood: a unit or typing error (the inputs' plausible range of streamflow)
MAX_DISCHARGE_M3S = INPUT_VARIABLES["streamflow"].valid_range[1]
#: more than any flood storage area holds (the largest hold a few thousand hm3): a unit error (m3 for hm3)
MAX_DETENTION_HM3 = 1e5


class DetentionBasinSpec(_Strict):
    """A detention basin (flood storage area, 蓄滞洪区): water diverted from its segment through an inlet (gate
    or breach) is stored and not returned within the horizon. Capacity in hm3 (1 hm3 = 1e6 m3), as flood
    storage areas are published; the trigger is the control section whose discharge (or stage, by its
    rating) opens it; ``order`` ranks the basins (lower opens first); area and population are what the
    plan reports for the decision. Forward-model rule and LP use: docs/detention.md."""

    id: str = Field(min_length=1)
    feature_id: int  # the segment the inlet takes water from
    capacity_hm3: float = Field(gt=0, le=MAX_DETENTION_HM3)
    max_intake_m3s: float = Field(gt=0, le=MAX_DISCHARGE_M3S)
    trigger_section: str
    trigger_stage_m: float | None = None
    trigger_discharge_m3s: float | None = Field(default=None, gt=0, le=MAX_DISCHARGE_M3S)
    order: int = Field(ge=1)
    area_km2: float = Field(default=0.0, ge=0)
    population: int = Field(default=0, ge=0)
    description: str = ""

    @model_validator(mode="after")
    def _trigger(self) -> DetentionBasinSpec:
        if self.trigger_stage_m is None and self.trigger_discharge_m3s is None:
            raise ValueError(f"detention basin {self.id}: give trigger_stage_m or trigger_discharge_m3s "
                             f"(at section {self.trigger_section})")
        return self

    @property
    def capacity_m3(self) -> float:
        return self.capacity_hm3 * 1e6

    def trigger_discharge(self, section: ControlSectionSpec) -> float:
        """The discharge at ``section`` that opens the basin: the trigger discharge, or the trigger stage on
        the section's rating, whichever is reached first (the lower)."""
        values = [] if self.trigger_discharge_m3s is None else [self.trigger_discharge_m3s]
        if self.trigger_stage_m is not None:
            values.append(float(np.interp(self.trigger_stage_m, section.rating_stage_m, section.rating_discharge_m3s)))
        return min(values)


class MainStemSpec(_Strict):
    """A main-stem reach run by the Saint-Venant solver in the twin (docs/hydraulics.md "Main stems in the
    twin"): the network segments it replaces, upstream first, each draining into the next, the last one
    draining out of the network, into a plain segment (its outflow fed to it) or into another main stem's
    segment (a junction: the two run as one network), and its surveyed sections (SECTIONS.csv, relative to
    the basin file). ``chainage_of_segments``: each segment's downstream end [m] in the sections' chainage
    (default: cumulative segment lengths of the network, scaled to the surveyed length)."""

    id: str
    segments: list[int] = Field(min_length=1)
    sections: str
    chainage_of_segments: list[float] | None = None
    downstream: str = "normal"  # normal, normal:SLOPE or rating:FILE.csv (relative to the basin file)
    dt_s: float = Field(default=30.0, gt=0)
    # as `hydro hydraulics run`: full inertia with the transcritical treatment (joined main stems: HEC-RAS's LPI)
    inertia: Literal["transcritical", "lpi", "full", "diffusive"] = "transcritical"
    max_dx_m: float = Field(default=250.0, gt=0)
    _definition: object = PrivateAttr(default=None)  # hydro.hydraulics.network_coupling.MainStemDefinition

    @model_validator(mode="after")
    def _downstream(self) -> MainStemSpec:
        kind, _, arg = self.downstream.partition(":")
        if not (kind == "normal" or (kind == "rating" and arg)):
            raise ValueError(f"main stem {self.id}: downstream {self.downstream!r}; use normal, normal:SLOPE or "
                             "rating:FILE.csv (a stage series cannot follow a forecast)")
        if self.chainage_of_segments is not None and len(self.chainage_of_segments) != len(self.segments):
            raise ValueError(f"main stem {self.id}: chainage_of_segments has {len(self.chainage_of_segments)} values "
                             f"for {len(self.segments)} segments")
        return self

    @property
    def definition(self):
        """The main stem with its files read (set by :func:`read_basin`)."""
        if self._definition is None:
            raise ConfigError(f"main stem {self.id}: its sections are not read; read the basin file with "
                              "hydro.io.basin.read_basin")
        return self._definition


class BasinSpec(_Strict):
    name: str
    description: str = ""
    network: str | None = None  # hydro network file (CF NetCDF), relative to the basin file
    # the grid the forecast stage runs on (hydro run), relative to the basin file
    flow_direction: str | None = None  # ESRI D8 GeoTIFF
    channel_segments: str | None = None  # GeoTIFF: feature_id of the segment in each channel cell
    runoff_parameters: str | None = None  # parameter set under models/
    hillslope_velocity: float = Field(default=0.3, gt=0)  # m s-1
    outlet_feature_id: int | None = None
    main_stem: list[int] | None = None  # feature ids, upstream first, routed by the diffusive wave
    main_stems: list[MainStemSpec] = Field(default_factory=list)  # Saint-Venant reaches (docs/hydraulics.md)
    reservoirs: list[ReservoirSpec] = Field(default_factory=list)
    control_sections: list[ControlSectionSpec] = Field(default_factory=list)
    detention_basins: list[DetentionBasinSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> BasinSpec:
        for kind, items in (("reservoir", self.reservoirs), ("control section", self.control_sections),
                            ("detention basin", self.detention_basins)):
            ids = [i.id for i in items]
            if len(ids) != len(set(ids)):
                raise ValueError(f"duplicate {kind} id in {ids}")
            if any(not i.strip() for i in ids):
                raise ValueError(f"a {kind} has an empty id; give each a name")
        shared = {r.id for r in self.reservoirs} & {b.id for b in self.detention_basins}
        if shared:  # the plan and the dispatch order name storages by id alone
            raise ValueError(f"id(s) {', '.join(sorted(shared))} name both a reservoir and a detention basin; give each "
                             "its own id")
        dams = {r.feature_id: r.id for r in self.reservoirs}
        for section in self.control_sections:
            if section.feature_id in dams:  # it would see the dam's inflow, which no release changes
                raise ValueError(f"control section {section.id}: feature_id {section.feature_id} is reservoir "
                                 f"{dams[section.feature_id]}'s segment, where the flow is the dam's inflow; put the "
                                 "section on a segment below the dam")
        stems = [m.id for m in self.main_stems]
        if len(stems) != len(set(stems)):
            raise ValueError(f"duplicate main stem id in {stems}")
        if self.main_stems and self.main_stem:
            raise ValueError("give main_stems (Saint-Venant on surveyed sections) or the legacy main_stem (rectangular "
                             "diffusive wave), not both")
        owner: dict[int, str] = {}
        for m in self.main_stems:
            for f in m.segments:
                if f in owner:
                    raise ValueError(f"segment {f} is in main stems {owner[f]} and {m.id}; a segment belongs to one")
                owner[f] = m.id
        for section in self.control_sections:
            if self.main_stem and section.feature_id in self.main_stem and section.bed_datum_m is None:
                raise ValueError(f"control section {section.id} is on the main stem: give bed_datum_m "
                                 "(bed elevation in the stage datum) so the hydrodynamic depth becomes a stage")
        self._check_detention()
        return self

    def _check_detention(self) -> None:
        sections = {s.id for s in self.control_sections}
        dams = {r.feature_id: r.id for r in self.reservoirs}
        on_segment: dict[int, str] = {}
        for b in self.detention_basins:
            if b.feature_id in on_segment:
                raise ValueError(f"overlapping basins on a segment: detention basins {on_segment[b.feature_id]} and "
                                 f"{b.id} both take water from feature_id {b.feature_id}; merge them into one basin")
            on_segment[b.feature_id] = b.id
            if b.trigger_section not in sections:
                raise ValueError(f"detention basin {b.id}: trigger_section {b.trigger_section!r} is not a control "
                                 f"section of this basin (have {', '.join(sorted(sections)) or 'none'})")
            section = next(s for s in self.control_sections if s.id == b.trigger_section)
            lo, hi = section.rating_stage_m[0], section.rating_stage_m[-1]
            if b.trigger_stage_m is not None and not lo <= b.trigger_stage_m <= hi:
                # the rating would clamp it: a trigger above its top would open the basin too early
                raise ValueError(f"detention basin {b.id}: trigger_stage_m {b.trigger_stage_m:g} is outside section "
                                 f"{section.id}'s rating ({lo:g} .. {hi:g} m); extend the rating or lower the trigger")
            if b.feature_id in dams:
                raise ValueError(f"detention basin {b.id}: feature_id {b.feature_id} is reservoir "
                                 f"{dams[b.feature_id]}'s segment; put the inlet on a river segment")


def toml_text(path: Path) -> dict:
    """A TOML file's table. A UTF-8 byte-order mark (Windows editors write one) is dropped, as TOML's UTF-8
    allows; text in another encoding is a UnicodeDecodeError whose message says to save it as UTF-8."""
    with open(path, "rb") as fh:  # an OSError goes to the caller
        data = fh.read()
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnicodeDecodeError(exc.encoding, exc.object, exc.start, exc.end,
                                 f"{exc.reason}: not UTF-8 (save the file as UTF-8)") from None
    return tomllib.loads(text)


def read_toml_model(path: Path, model: type[BaseModel], what: str):
    """Read a TOML file into a pydantic ``model``; one ConfigError naming the file and every problem with
    its key path (unknown keys, missing keys, wrong types, failed checks)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found{' (that is a folder)' if path.is_dir() else ''}")
    try:
        doc = toml_text(path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:  # no read permission, a folder of that name, an I/O error
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        def problem(e: dict) -> str:
            where = ".".join(str(p) for p in e["loc"]) or "(top)"
            if e["type"] in ("extra_forbidden", "missing"):
                return f"{where}: {'unknown key' if e['type'] == 'extra_forbidden' else 'missing key'}"
            got = e.get("input")
            if not e["loc"] or isinstance(got, dict):
                # a check across the whole file or a whole entry: its message names what is wrong; the content is noise
                return f"{where}: {str(e['msg']).removeprefix('Value error, ')}"
            text = repr(got)
            return f"{where}: {e['msg']} (got {text if len(text) <= 80 else text[:77] + '...'})"

        raise ConfigError(f"{path}: " + "; ".join(problem(e) for e in exc.errors())) from None


def check_on_network(spec: BasinSpec, path: Path, feature_ids) -> None:
    """Refuse, naming the basin file and the entry, a reservoir, control section or detention basin whose
    feature_id is not a segment of the basin's network (the routing would only know the id, not the file)."""
    known = set(np.asarray(feature_ids).tolist())
    for key in ("reservoirs", "control_sections", "detention_basins"):
        for k, item in enumerate(getattr(spec, key)):
            if item.feature_id not in known:
                raise ConfigError(f"{path}: {key}.{k} ({item.id}): feature_id {item.feature_id} is not a segment of "
                                  f"the network {spec.network}; give the id of the river segment it sits on")


def read_basin(path: Path) -> BasinSpec:
    """Read and validate a basin TOML; one ConfigError listing every problem with its key path."""
    spec = read_toml_model(path, BasinSpec, "basin file")
    for k, reservoir in enumerate(spec.reservoirs):
        try:
            reservoir.rules().check(reservoir.curves())  # levels inside the curves and rising
        except ConfigError as exc:  # name the file and the key path, as the other checks of the file do
            raise ConfigError(f"{path}: reservoirs.{k}: {exc}") from None
    for stem in spec.main_stems:
        others = tuple((f, m.id) for m in spec.main_stems if m is not stem for f in m.segments)
        stem._definition = main_stem_definition(stem, Path(path), others)
    return spec


def main_stem_definition(stem: MainStemSpec, basin_file: Path, other_stem_segments: tuple = ()):
    """Read a main stem's sections (and rating) relative to ``basin_file``; errors name the file and stem.
    ``other_stem_segments``: (feature id, main stem id) of the other main stems' segments (junctions)."""
    from ..hydraulics.network_coupling import MainStemDefinition
    from .hydraulics import read_downstream, read_sections

    folder = Path(basin_file).parent
    where = f"{basin_file}: main stem {stem.id!r}"
    sections_path = folder / stem.sections
    if not sections_path.is_file():
        raise ConfigError(f"{where}: sections file {sections_path} not found")
    try:
        sections = read_sections(sections_path)
        kind, _, arg = stem.downstream.partition(":")
        downstream = read_downstream(f"rating:{folder / arg}" if kind == "rating" else stem.downstream)
    except (InputDataError, ConfigError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    chain = None if stem.chainage_of_segments is None else tuple(stem.chainage_of_segments)
    return MainStemDefinition(stem.id, tuple(stem.segments), sections, downstream, stem.dt_s, stem.inertia, stem.max_dx_m,
                              chain, str(basin_file), other_stem_segments)
