"""RiverNetwork: river segments (and collapsed lake nodes) with NWM channel geometry.

A network is a forest of trees: every node drains to at most one downstream node (``to``; 0 marks an
outlet). Geometry follows the NWM RouteLink: a trapezoidal main channel (``bottom_width``,
``top_width``, ``side_slope``) with a rectangular compound channel of width ``top_width_cc`` above
bankfull. Arrays are stored in float64 (float32 RouteLink values are represented exactly).

Construction validates the network and raises :class:`~hydro.core.errors.NetworkError` listing one
line per problem, each naming the offending ids: duplicate ids, unknown downstream ids, cycles,
non-positive length/slope/width, NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from .core.errors import InputDataError, NetworkError
from .core.ids import lookup
from .kernels.graph import kahn_order, postorder

NO_WATERBODY = -9999
_CHANNEL_FIELDS = (
    "length",
    "slope",
    "mannings_n",
    "mannings_n_cc",
    "bottom_width",
    "top_width",
    "top_width_cc",
    "side_slope",
)
# Quantities that must be strictly positive on channel segments (NWM geometry needs them).
_POSITIVE_FIELDS = ("length", "slope", "mannings_n", "bottom_width", "top_width")
# Quantities that must be >= 0 (0 is legal: no floodplain, vertical walls).
_NON_NEGATIVE_FIELDS = ("mannings_n_cc", "top_width_cc", "side_slope")


def _ids_text(ids: NDArray, limit: int = 8) -> str:
    ids = np.asarray(ids)
    shown = ", ".join(str(int(i)) for i in ids[:limit])
    more = f" and {ids.size - limit} more" if ids.size > limit else ""
    return shown + more


@dataclass(frozen=True, eq=False)
class RiverNetwork:
    """River network of segments (and optionally lake nodes), one entry per node.

    Units: length [m], slope [m m-1], Manning n [s m-1/3], widths [m], side_slope [rise/run].
    ``is_lake`` marks nodes that are collapsed lakes/reservoirs; their channel fields are ignored.
    """

    feature_id: NDArray[np.int64]
    to: NDArray[np.int64]
    length: NDArray[np.float64]
    slope: NDArray[np.float64]
    mannings_n: NDArray[np.float64]
    mannings_n_cc: NDArray[np.float64]
    bottom_width: NDArray[np.float64]
    top_width: NDArray[np.float64]
    top_width_cc: NDArray[np.float64]
    side_slope: NDArray[np.float64]
    waterbody: NDArray[np.int64] | None = None
    is_lake: NDArray[np.bool_] | None = None
    musk_k: NDArray[np.float64] | None = None
    musk_x: NDArray[np.float64] | None = None
    latitude: NDArray[np.float64] | None = None
    longitude: NDArray[np.float64] | None = None
    gage: NDArray[np.str_] | None = None
    source: str = field(default="network", compare=False)

    def __post_init__(self) -> None:
        n = np.asarray(self.feature_id).size
        set_ = object.__setattr__
        set_(self, "feature_id", np.asarray(self.feature_id, dtype=np.int64))
        set_(self, "to", np.asarray(self.to, dtype=np.int64))
        for name in _CHANNEL_FIELDS + ("musk_k", "musk_x", "latitude", "longitude"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, np.asarray(value, dtype=np.float64))
        set_(
            self,
            "waterbody",
            np.full(n, NO_WATERBODY, np.int64)
            if self.waterbody is None
            else np.asarray(self.waterbody, dtype=np.int64),
        )
        set_(self, "is_lake", np.zeros(n, bool) if self.is_lake is None else np.asarray(self.is_lake, bool))
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and value.shape != (n,):
                raise InputDataError(
                    f"{self.source}: variable {f.name!r} has shape {value.shape}, expected ({n},)"
                )
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        problems: list[str] = []
        ids, to = self.feature_id, self.to
        uniq, counts = np.unique(ids, return_counts=True)
        if np.any(counts > 1):
            problems.append(f"duplicate feature_id: {_ids_text(uniq[counts > 1])}")
        if np.any(ids == 0):
            problems.append("feature_id 0 is reserved for 'no downstream segment'")
        unknown = (to != 0) & ~np.isin(to, ids)
        if unknown.any():
            pairs = [f"{a}->{b}" for a, b in zip(ids[unknown][:8], to[unknown][:8])]
            more = f" and {unknown.sum() - 8} more" if unknown.sum() > 8 else ""
            problems.append(
                f"{unknown.sum()} segment(s) have a downstream id (to) that names no segment: "
                + ", ".join(pairs)
                + more
            )
        self_loop = to == ids
        if self_loop.any():
            problems.append(f"segment(s) drain into themselves: {_ids_text(ids[self_loop])}")
        channel = ~self.is_lake
        for name in _CHANNEL_FIELDS:
            value = getattr(self, name)
            bad = channel & np.isnan(value)
            if bad.any():
                problems.append(f"{name} is NaN on segment(s) {_ids_text(ids[bad])}")
        for name in _POSITIVE_FIELDS:
            value = getattr(self, name)
            bad = channel & (value <= 0)
            if bad.any():
                problems.append(f"{name} must be > 0; found {value[bad][0]:g} on segment(s) {_ids_text(ids[bad])}")
        for name in _NON_NEGATIVE_FIELDS:
            value = getattr(self, name)
            bad = channel & (value < 0)
            if bad.any():
                problems.append(f"{name} must be >= 0; found {value[bad][0]:g} on segment(s) {_ids_text(ids[bad])}")
        if not problems:
            cyc = self._cycle_members()
            if cyc.size:
                problems.append(f"cycle(s) through segment(s) {_ids_text(cyc)}")
        if problems:
            raise NetworkError(self.source, problems)

    def _cycle_members(self) -> NDArray[np.int64]:
        order = _kahn_order(self.downstream_index)
        if order.size == self.size:
            return np.empty(0, np.int64)
        in_order = np.zeros(self.size, bool)
        in_order[order] = True
        # Nodes left over either lie on a cycle or drain into one; report those on the cycle.
        left = np.flatnonzero(~in_order)
        down = self.downstream_index
        on_cycle = []
        for start in left[:1000]:
            seen, node = set(), start
            while node >= 0 and node not in seen:
                seen.add(node)
                node = down[node]
            if node == start:
                on_cycle.append(start)
        return self.feature_id[np.array(sorted(on_cycle) or left, dtype=np.int64)]

    # ------------------------------------------------------------------ topology
    @property
    def size(self) -> int:
        return int(self.feature_id.size)

    def index_of(self, ids: NDArray | list[int] | int) -> NDArray[np.int64]:
        """Positions of ``ids`` in this network; raises naming ids that are not in it."""
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        pos, found = lookup(self.feature_id, ids)
        if not found.all():
            raise InputDataError(f"{self.source}: feature_id(s) not in the network: {_ids_text(ids[~found])}")
        return pos

    @cached_property
    def downstream_index(self) -> NDArray[np.int64]:
        """Index of each node's downstream node, -1 for outlets."""
        pos, found = lookup(self.feature_id, self.to)
        return np.where(found, pos, -1)

    @cached_property
    def upstream_csr(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Upstream lists as CSR: nodes upstream of i are ``idx[ptr[i]:ptr[i+1]]`` (ascending index)."""
        down = self.downstream_index
        child = np.flatnonzero(down >= 0)
        parents = down[child]
        order = np.lexsort((child, parents))
        counts = np.bincount(parents, minlength=self.size)
        ptr = np.zeros(self.size + 1, np.int64)
        np.cumsum(counts, out=ptr[1:])
        return ptr, child[order].astype(np.int64)

    def topological_order(self) -> NDArray[np.int64]:
        """Node indices, every node after all of its upstream nodes (Kahn's algorithm)."""
        return _kahn_order(self.downstream_index)

    def dfs_layout(self) -> NDArray[np.int64]:
        """A contiguous depth-first layout: a post-order DFS from the outlets.

        Upstream nodes come first and each sub-basin occupies one contiguous index range, so a
        network reordered by this permutation (:meth:`take`) is topologically sorted and cache-local.
        """
        ptr, idx = self.upstream_csr
        return _postorder(ptr, idx, np.flatnonzero(self.downstream_index < 0))

    @cached_property
    def levels(self) -> NDArray[np.int64]:
        """Longest path (in nodes) from a headwater; headwaters are level 0."""
        level = np.zeros(self.size, np.int64)
        down = self.downstream_index
        for i in self.topological_order():
            d = down[i]
            if d >= 0 and level[d] < level[i] + 1:
                level[d] = level[i] + 1
        return level

    def accumulate(self, values: NDArray) -> NDArray[np.float64]:
        """Sum of ``values`` over each node and everything upstream of it (e.g. drainage area)."""
        total = np.asarray(values, np.float64).copy()
        down = self.downstream_index
        for i in self.topological_order():
            if down[i] >= 0:
                total[down[i]] += total[i]
        return total

    def take(self, index: NDArray[np.int64]) -> RiverNetwork:
        """The network restricted to / reordered by node positions ``index``.

        Downstream ids that fall outside the selection become outlets (``to = 0``). Distinct nodes of a valid
        network make a valid network (ids unique, values checked, no cycle), so that part is not checked again:
        a what-if builds a model for each part its releases reach.
        """
        index = np.asarray(index, dtype=np.int64)
        kwargs = {}
        for f in fields(self):
            value = getattr(self, f.name)
            kwargs[f.name] = value[index] if isinstance(value, np.ndarray) else value
        kept = np.isin(kwargs["to"], kwargs["feature_id"])
        kwargs["to"] = np.where(kept, kwargs["to"], 0)
        if np.unique(index).size != index.size:
            return RiverNetwork(**kwargs)  # a node taken twice: the check names the repeated ids
        part = object.__new__(RiverNetwork)
        for name, value in kwargs.items():
            object.__setattr__(part, name, value)
        return part

    def upstream_positions(self, feature_id: int) -> NDArray[np.int64]:
        """Positions of the nodes draining to ``feature_id`` (that node included), upstream first."""
        root = int(self.index_of(feature_id)[0])
        ptr, idx = self.upstream_csr
        return _postorder(ptr, idx, np.array([root]))

    def upstream_of(self, feature_id: int) -> RiverNetwork:
        """The basin draining to ``feature_id`` (that segment included, as the outlet)."""
        return replace(self.take(self.upstream_positions(feature_id)), source=f"{self.source}[upstream of {feature_id}]")

    def collapse_lakes(self, lake_ids: NDArray[np.int64]) -> RiverNetwork:
        """Collapse every lake in ``lake_ids`` into a single node, as the NWM does.

        Segments whose ``waterbody`` is a listed lake are removed; one node with ``feature_id =
        lake_id`` and ``is_lake = True`` replaces them, appended at the end. Segments that drained
        into any member now drain into the lake node; the lake node drains where the lake's outlet
        segment (the member whose ``to`` leaves the lake) drained.
        """
        lake_ids = np.asarray(lake_ids, dtype=np.int64)
        member = np.isin(self.waterbody, lake_ids) & ~self.is_lake
        if not member.any():
            return self
        lake_of = dict(zip(self.feature_id[member].tolist(), self.waterbody[member].tolist()))
        clash = np.isin(lake_ids, self.feature_id[~member])
        if clash.any():
            raise NetworkError(self.source, [f"lake id(s) equal to segment id(s): {_ids_text(lake_ids[clash])}"])
        present = np.unique(self.waterbody[member])
        lake_to = {}
        for lake in present.tolist():
            in_lake = member & (self.waterbody == lake)
            leaving = in_lake & ~np.isin(self.to, self.feature_id[in_lake])
            targets = np.unique(self.to[leaving])
            if targets.size != 1:
                raise NetworkError(
                    self.source,
                    [f"lake {lake} must have exactly one outlet; its segments drain to {_ids_text(targets)}"],
                )
            target = int(targets[0])
            lake_to[lake] = lake_of.get(target, target)
        keep = np.flatnonzero(~member)
        to = np.array([lake_of.get(t, t) for t in self.to[keep].tolist()], dtype=np.int64)
        n_lake = present.size
        nan = np.full(n_lake, np.nan)

        def cat(name: str, fill: NDArray) -> NDArray | None:
            value = getattr(self, name)
            return None if value is None else np.concatenate([value[keep], fill.astype(value.dtype)])

        kwargs = {name: cat(name, nan) for name in _CHANNEL_FIELDS}
        return RiverNetwork(
            feature_id=np.concatenate([self.feature_id[keep], present]),
            to=np.concatenate([to, np.array([lake_to[k] for k in present.tolist()], np.int64)]),
            waterbody=np.concatenate([self.waterbody[keep], present]),
            is_lake=np.concatenate([self.is_lake[keep], np.ones(n_lake, bool)]),
            musk_k=cat("musk_k", nan),
            musk_x=cat("musk_x", nan),
            latitude=cat("latitude", nan),
            longitude=cat("longitude", nan),
            gage=None if self.gage is None else np.concatenate([self.gage[keep], np.full(n_lake, "")]),
            source=self.source,
            **kwargs,
        )


def _kahn_order(down: NDArray[np.int64]) -> NDArray[np.int64]:
    return kahn_order(np.ascontiguousarray(down, np.int64))


def _postorder(ptr: NDArray[np.int64], idx: NDArray[np.int64], roots: NDArray[np.int64]) -> NDArray[np.int64]:
    """Post-order DFS over the reversed (upstream) graph from ``roots``."""
    return postorder(np.ascontiguousarray(ptr, np.int64), np.ascontiguousarray(idx, np.int64),
                     np.ascontiguousarray(roots, np.int64))
