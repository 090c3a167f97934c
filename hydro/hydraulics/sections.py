"""Surveyed cross-sections and the per-node property tables the Saint-Venant kernels interpolate.

A section is a station-elevation table (station increasing from the left bank looking downstream; equal
stations make a vertical wall) with a Manning n per point that applies from that point to the next, and
left/right bank stations. Conveyance is computed by subdivision as HEC-RAS does by default: each
overbank is split wherever n changes, each part gets K = A R^(2/3) / n; the main channel (between the
banks) is one subdivision whose n, where the channel's n varies, is the Horton-Einstein composite
(sum P_i n_i^1.5 / P)^(2/3). The vertical lines between subdivisions are not wetted perimeter. All area
below the water level counts (no levees, no ineffective flow areas). Total conveyance is the sum;
alpha = A^2 sum(K_i^3 / A_i^2) / K^3 and beta = A sum(K_i^2 / A_i) / K^2.

``Reach`` turns sections (chainage increasing downstream) into computational nodes, at most ``max_dx``
apart: between two surveyed sections the nodes interpolate the two property tables at equal depth above
the thalweg, whose elevation is interpolated linearly (MIKE 11 / SOBEK practice for processed data).
Each table runs on a uniform stage grid of ``table_dz`` from ``SLOT_DEPTH`` below the thalweg: a slot of
width ``SLOT_WIDTH`` keeps a dry channel's area positive (Preissmann slot), so floodplains and channels
wet and dry through the tables themselves.

Reference: HEC-RAS Hydraulic Reference Manual (2016), ch. 2, "Subdivision of cross section for conveyance
calculations", "Composite Manning's n for the main channel", "Velocity weighting coefficient alpha".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, InputDataError
from ..kernels.saint_venant import ALPHA, AREA, BETA, CHANNEL, CONVEYANCE, GATE, N_PROPERTIES, WEIR, WIDTH

SLOT_DEPTH = 0.5  # [m] slot below each thalweg
SLOT_WIDTH = 0.01  # [m]
TABLE_DZ = 0.02  # [m] default stage step of the property tables
MAX_LEVELS = 20_000
STRUCTURE_LENGTH = 1.0  # [m] between a structure's upstream and downstream face nodes
JOIN_SNAP = 1e-3  # [m] a junction this close to a surveyed section lies at that section


@dataclass(frozen=True)
class Structure:
    """An internal boundary at ``chainage`` [m]: two nodes ``STRUCTURE_LENGTH`` apart joined by the
    structure's flow instead of the Saint-Venant equations. ``kind`` "weir": Q = ``coefficient`` x
    ``width`` x h^1.5 over ``crest`` [m] (Villemonte submergence, either direction; coefficient ~1.7
    m0.5 s-1 for a broad-crested weir); "gate": Q = the ``release`` schedule [m3 s-1] at ``release_time``
    (a dam's release from a schedule or the reservoir model), from ``initial_level`` [m] upstream."""

    name: str
    chainage: float
    kind: str
    crest: float = float("nan")
    width: float = float("nan")
    coefficient: float = 1.7
    release_time: NDArray[np.datetime64] | None = None
    release: NDArray[np.float64] | None = None
    initial_level: float = float("nan")
    source: str = ""

    def __post_init__(self) -> None:
        where = f"{self.source}: structure {self.name!r} (chainage {self.chainage:g} m)"
        if self.kind == "weir":
            if not (np.isfinite(self.crest) and self.width > 0 and self.coefficient > 0):
                raise InputDataError(f"{where}: a weir needs crest_m, width_m > 0 and coefficient > 0 (found "
                                     f"{self.crest:g}, {self.width:g}, {self.coefficient:g})")
        elif self.kind == "gate":
            if self.release is None or self.release_time is None or self.release.size < 2:
                raise InputDataError(f"{where}: a gate needs a release schedule (time,release_m3s) of 2 rows or more")
            if not np.isfinite(self.initial_level):
                raise InputDataError(f"{where}: a gate needs initial_level_m, the level upstream at the start")
        else:
            raise InputDataError(f"{where}: type {self.kind!r}; use weir or gate")


@dataclass(frozen=True)
class CrossSection:
    """One surveyed section. ``manning[k]`` applies from point k to point k + 1 (the last is unused)."""

    name: str
    chainage: float  # [m] distance downstream from the upstream boundary
    station: NDArray[np.float64]  # [m]
    elevation: NDArray[np.float64]  # [m]
    manning: NDArray[np.float64]  # [s m-1/3]
    left_bank: float  # [m] station
    right_bank: float  # [m] station
    source: str = ""

    def __post_init__(self) -> None:
        where = f"{self.source}: section {self.name!r} (chainage {self.chainage:g} m)"
        st, el, n = self.station, self.elevation, self.manning
        if st.size < 3:
            raise InputDataError(f"{where}: {st.size} point(s); a section needs at least 3 station-elevation points")
        if not (np.isfinite(st).all() and np.isfinite(el).all()):
            raise InputDataError(f"{where}: station or elevation is empty or not a number; fill every point")
        back = np.flatnonzero(np.diff(st) < 0)
        if back.size:
            k = int(back[0]) + 1
            raise InputDataError(f"{where}: station_m goes back from {st[k - 1]:g} to {st[k]:g} at point {k + 1}; "
                                 "stations must not decrease from left to right (equal stations make a vertical wall)")
        bad_n = np.flatnonzero(~(n[:-1] > 0) | ~np.isfinite(n[:-1]))
        if bad_n.size:
            k = int(bad_n[0])
            raise InputDataError(f"{where}: manning_n = {n[k]:g} at station {st[k]:g} m; n must be > 0")
        for label, bank in (("left_bank_m", self.left_bank), ("right_bank_m", self.right_bank)):
            if not (st[0] <= bank <= st[-1]):
                raise InputDataError(f"{where}: {label} = {bank:g} m is outside the section (stations {st[0]:g} .. "
                                     f"{st[-1]:g} m); give a bank station inside it")
        if not self.left_bank < self.right_bank:
            raise InputDataError(f"{where}: left_bank_m {self.left_bank:g} is not left of right_bank_m "
                                 f"{self.right_bank:g}; the channel lies between them")
        if np.ptp(el) <= 0:
            raise InputDataError(f"{where}: all points at elevation {el[0]:g} m: no wetted area at any flow")

    @property
    def thalweg(self) -> float:
        return float(self.elevation.min())

    @property
    def top(self) -> float:
        """Lowest end elevation: water above it spills past the surveyed section."""
        return float(min(self.elevation[0], self.elevation[-1]))

    def _segments(self) -> list[tuple[float, float, float, float, float, int]]:
        """(x1, y1, x2, y2, n, zone) with zone 0 left overbank, 1 channel, 2 right overbank; segments
        crossing a bank station are split there."""
        out = []
        st, el, n = self.station, self.elevation, self.manning
        for k in range(st.size - 1):
            x1, y1, x2, y2 = float(st[k]), float(el[k]), float(st[k + 1]), float(el[k + 1])
            cuts = [x1] + [b for b in (self.left_bank, self.right_bank) if x1 < b < x2] + [x2]
            for a, b in zip(cuts[:-1], cuts[1:], strict=True):
                ya = y1 if x2 == x1 else y1 + (y2 - y1) * (a - x1) / (x2 - x1)
                yb = y2 if x2 == x1 else y1 + (y2 - y1) * (b - x1) / (x2 - x1)
                mid = 0.5 * (a + b)
                zone = 0 if mid < self.left_bank else (2 if mid > self.right_bank else 1)
                if x2 == x1:  # a vertical wall belongs to the side it bounds
                    zone = 0 if a < self.left_bank else (2 if a > self.right_bank else 1)
                out.append((a, ya, b, yb, float(n[k]), zone))
        return out

    def properties(self, stage: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """Exact properties at each ``stage`` [m]: area, top_width (a flat part counts from its own level
        up: the limit from above), wetted_perimeter,
        conveyance, alpha, beta, and the subdivision conveyances (``subdivisions``, shape (n_sub, n_stage))."""
        z = np.asarray(stage, np.float64)
        groups: list[list[tuple]] = []
        last_key = None
        for seg in self._segments():
            key = (seg[5], seg[4]) if seg[5] != 1 else (1, None)  # overbanks break at n changes
            if key != last_key:
                groups.append([])
                last_key = key
            groups[-1].append(seg)
        area = np.zeros_like(z)
        top = np.zeros_like(z)
        perimeter = np.zeros_like(z)
        sub_k, sub_a = [], []
        for group in groups:
            a_g = np.zeros_like(z)
            p_g = np.zeros_like(z)
            pn_g = np.zeros_like(z)  # sum P_i n_i^1.5 for the composite channel n
            for x1, y1, x2, y2, n, _ in group:
                a, p, b = _wetted(x1, y1, x2, y2, z)
                a_g += a
                p_g += p
                pn_g += p * n**1.5
                top += b
            wet = p_g > 0
            n_g = np.where(wet, (pn_g / np.where(wet, p_g, 1.0)) ** (2.0 / 3.0), 1.0)
            k_g = np.where(wet & (a_g > 0), a_g ** (5.0 / 3.0) / (n_g * np.where(wet, p_g, 1.0) ** (2.0 / 3.0)), 0.0)
            area += a_g
            perimeter += p_g
            sub_k.append(k_g)
            sub_a.append(a_g)
        k_s, a_s = np.array(sub_k), np.array(sub_a)
        conveyance = k_s.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            safe_a = np.where(a_s > 0, a_s, 1.0)
            alpha = np.where(conveyance > 0, area**2 * (k_s**3 / safe_a**2).sum(axis=0) / conveyance**3, 1.0)
            beta = np.where(conveyance > 0, area * (k_s**2 / safe_a).sum(axis=0) / conveyance**2, 1.0)
        return {"area": area, "top_width": top, "wetted_perimeter": perimeter, "conveyance": conveyance,
                "alpha": alpha, "beta": beta, "subdivisions": k_s}

    def table(self, dz: float, levels: int) -> NDArray[np.float64]:
        """Property table (levels, N_PROPERTIES) on stages thalweg - SLOT_DEPTH + k dz (see kernels)."""
        z = self.thalweg - SLOT_DEPTH + dz * np.arange(levels)
        p = self.properties(z)
        top = p["top_width"]
        slot = z < self.thalweg + 1e-12
        depth_in_slot = np.clip(z - (self.thalweg - SLOT_DEPTH), 0.0, None)
        out = np.empty((levels, N_PROPERTIES))
        out[:, AREA] = SLOT_WIDTH * np.minimum(depth_in_slot, SLOT_DEPTH) + p["area"]
        out[:, WIDTH] = np.where(slot, SLOT_WIDTH, np.maximum(top, SLOT_WIDTH))
        n_channel = float(np.min(self.manning[:-1]))
        slot_k = SLOT_WIDTH * np.minimum(depth_in_slot, SLOT_DEPTH) * (SLOT_WIDTH / 2.0) ** (2.0 / 3.0) / n_channel
        out[:, CONVEYANCE] = slot_k + p["conveyance"]
        out[:, BETA] = p["beta"]
        out[:, ALPHA] = p["alpha"]
        return out


def _wetted(x1: float, y1: float, x2: float, y2: float, z: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """Area, wetted perimeter and top width of one straight segment below water level ``z``."""
    w = x2 - x1
    length = math.hypot(w, y2 - y1)
    d1, d2 = z - y1, z - y2
    lo, hi = np.minimum(d1, d2), np.maximum(d1, d2)
    full = lo >= 0
    part = (hi > 0) & ~full
    frac = np.where(part, hi / np.where(part, hi - lo, 1.0), np.where(full, 1.0, 0.0))
    area = np.where(full, 0.5 * (d1 + d2) * w, np.where(part, 0.5 * hi * frac * w, 0.0))
    if y1 == y2:  # a flat segment is part of the top width from its own level up (the width's limit from above)
        return area, frac * length, np.where(d1 >= 0, w, 0.0)
    return area, frac * length, frac * w


def _extend(table: NDArray, levels: int, dz: float) -> NDArray:
    """Pad a table to ``levels`` with vertical walls (as the kernel extrapolates above the top)."""
    have = table.shape[0]
    if have >= levels:
        return table
    extra = dz * np.arange(1, levels - have + 1)
    pad = np.repeat(table[-1:], levels - have, axis=0)
    pad[:, AREA] += table[-1, WIDTH] * extra
    pad[:, CONVEYANCE] += (table[-1, CONVEYANCE] - table[-2, CONVEYANCE]) / dz * extra
    return np.concatenate([table, pad])


@dataclass
class Reach:
    """Computational nodes of one main stem, upstream first, with their property tables."""

    sections: list[CrossSection]
    max_dx: float = 250.0
    table_dz: float = TABLE_DZ
    structures: list[Structure] = field(default_factory=list)
    # chainages [m] that must be nodes (junctions of a network); one within JOIN_SNAP of a section is that section
    extra_nodes: tuple[float, ...] = ()
    chainage: NDArray[np.float64] = field(init=False)  # [m]
    thalweg: NDArray[np.float64] = field(init=False)  # [m]
    top: NDArray[np.float64] = field(init=False)  # [m] lowest end of the (interpolated) section
    surveyed: NDArray[np.int64] = field(init=False)  # index of the surveyed section at each node, -1 between
    table: NDArray[np.float64] = field(init=False)
    z0: NDArray[np.float64] = field(init=False)
    nlev: NDArray[np.int64] = field(init=False)
    reach_kind: NDArray[np.int64] = field(init=False)  # per reach: CHANNEL, WEIR or GATE
    reach_crest: NDArray[np.float64] = field(init=False)
    reach_cw: NDArray[np.float64] = field(init=False)
    reach_gate: NDArray[np.int64] = field(init=False)  # column of the gate's release, -1 elsewhere
    reach_level: NDArray[np.float64] = field(init=False)  # a gate's initial upstream level

    def __post_init__(self) -> None:
        if len(self.sections) < 2:
            raise InputDataError(f"{self.sections[0].source if self.sections else 'sections'}: "
                                 f"{len(self.sections)} section(s); a reach needs at least 2")
        if not (self.max_dx > 0 and self.table_dz > 0):
            raise ConfigError("max_dx and table_dz must be > 0")
        chain = np.array([s.chainage for s in self.sections])
        if not (np.diff(chain) > 0).all():
            k = int(np.flatnonzero(np.diff(chain) <= 0)[0]) + 1
            raise InputDataError(f"{self.sections[k].source}: section {self.sections[k].name!r} chainage "
                                 f"{chain[k]:g} m does not increase from {chain[k - 1]:g} m (sections upstream first)")
        dz = self.table_dz
        tables = []
        for s in self.sections:
            levels = int(math.ceil((float(s.elevation.max()) - s.thalweg + SLOT_DEPTH) / dz)) + 2
            if levels > MAX_LEVELS:
                raise ConfigError(f"section {s.name!r}: {levels} table levels at table_dz {dz:g} m; raise table_dz")
            tables.append(s.table(dz, levels))
        nodes_x, nodes_t, nodes_top, nodes_tab, surveyed = [], [], [], [], []
        for k, s in enumerate(self.sections):
            nodes_x.append(s.chainage)
            nodes_t.append(s.thalweg)
            nodes_top.append(s.top)
            nodes_tab.append(tables[k])
            surveyed.append(k)
            if k + 1 == len(self.sections):
                break
            nxt = self.sections[k + 1]
            length = nxt.chainage - s.chainage
            parts = int(math.ceil(length / self.max_dx - 1e-9))
            levels = max(tables[k].shape[0], tables[k + 1].shape[0])
            ta, tb = _extend(tables[k], levels, dz), _extend(tables[k + 1], levels, dz)
            faces = [f for st in self.structures
                     if s.chainage + STRUCTURE_LENGTH < st.chainage < nxt.chainage - 2 * STRUCTURE_LENGTH
                     for f in ((st.chainage - s.chainage) / length, (st.chainage + STRUCTURE_LENGTH - s.chainage) / length)]
            inner = [m / parts for m in range(1, parts)
                     if all(abs(m / parts - f) * length > 2 * STRUCTURE_LENGTH for f in faces)]
            forced = [(x - s.chainage) / length for x in self.extra_nodes
                      if s.chainage + JOIN_SNAP < x < nxt.chainage - JOIN_SNAP]
            if forced:  # a forced node replaces the regular nodes less than a quarter spacing from it
                inner = [w for w in inner if all(abs(w - f) * parts > 0.25 for f in forced)]
            for w in sorted(inner + faces + forced):
                nodes_x.append(s.chainage + w * (nxt.chainage - s.chainage))
                nodes_t.append((1 - w) * s.thalweg + w * nxt.thalweg)
                nodes_top.append((1 - w) * (s.top - s.thalweg) + w * (nxt.top - nxt.thalweg) + nodes_t[-1])
                nodes_tab.append((1 - w) * ta + w * tb)
                surveyed.append(-1)
        self.chainage = np.array(nodes_x)
        self.thalweg = np.array(nodes_t)
        self.top = np.array(nodes_top)
        self.surveyed = np.array(surveyed, np.int64)
        self.nlev = np.array([t.shape[0] for t in nodes_tab], np.int64)
        self.table = np.zeros((len(nodes_tab), int(self.nlev.max()), N_PROPERTIES))
        for i, t in enumerate(nodes_tab):
            self.table[i, : t.shape[0]] = t
        self.z0 = self.thalweg - SLOT_DEPTH
        self._place_structures()

    def _place_structures(self) -> None:
        nr = self.size - 1
        self.reach_kind = np.full(nr, CHANNEL, np.int64)
        self.reach_crest = np.zeros(nr)
        self.reach_cw = np.zeros(nr)
        self.reach_gate = np.full(nr, -1, np.int64)
        self.reach_level = np.zeros(nr)
        gates = 0
        for st in self.structures:
            where = f"{st.source}: structure {st.name!r} (chainage {st.chainage:g} m)"
            hits = np.flatnonzero(np.abs(self.chainage - st.chainage) < 1e-6)
            if hits.size != 1 or hits[0] == self.size - 1 or self.surveyed[hits[0]] >= 0 or \
                    self.surveyed[hits[0] + 1] >= 0 or self.reach_kind[hits[0]] != CHANNEL:
                raise InputDataError(f"{where}: must lie between two surveyed sections, more than "
                                     f"{STRUCTURE_LENGTH:g} m from each and from another structure")
            j = int(hits[0])
            if st.kind == "weir":
                self.reach_kind[j] = WEIR
                self.reach_crest[j] = st.crest
                self.reach_cw[j] = st.coefficient * st.width
            else:
                self.reach_kind[j] = GATE
                self.reach_gate[j] = gates
                self.reach_level[j] = st.initial_level
                gates += 1
    @property
    def size(self) -> int:
        return int(self.chainage.size)

    @property
    def dx(self) -> NDArray[np.float64]:
        return np.diff(self.chainage)

    @property
    def outlet_slope(self) -> float:
        """Bed slope of the last surveyed reach (thalweg drop / length)."""
        a, b = self.sections[-2], self.sections[-1]
        return (a.thalweg - b.thalweg) / (b.chainage - a.chainage)

    def node_name(self, i: int) -> str:
        """The surveyed section's name, or "" for an interpolated node."""
        k = int(self.surveyed[i])
        return self.sections[k].name if k >= 0 else ""

    def where(self, i: int) -> str:
        """"section 'XS3' (chainage 1500 m)" or "the interpolated node at chainage 1250 m", for messages."""
        name = self.node_name(i)
        x = f"{self.chainage[i]:g} m"
        return f"section {name!r} (chainage {x})" if name else f"the interpolated node at chainage {x}"

    def properties(self, z: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """Tabulated area, top width and conveyance at water level ``z`` per node (as the kernels see them)."""
        from ..kernels.saint_venant import lookup

        out = np.array([lookup(self.table, self.z0, self.nlev, self.table_dz, i, float(z[i]))
                        for i in range(self.size)])
        return {"area": out[:, 0], "top_width": out[:, 1], "conveyance": out[:, 2], "beta": out[:, 4],
                "alpha": out[:, 6]}
