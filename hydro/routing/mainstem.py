"""A main stem routed by the diffusive wave, fed by the Muskingum-Cunge network's tributaries.

The main stem is a chain of network segments (upstream first). Each segment is split into cells of
about ``cell_length`` m; the bed falls by slope x length along the chain; the section is rectangular
with the stem's mean bottom width and Manning n (one prismatic reach, stated simplification). The
network is routed by MC as usual; the flow leaving the segment above the stem enters its first cell,
and every tributary segment draining into a stem segment enters that segment's first cell. The result
is discharge and depth (stage above the bed) at the end of every stem segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.errors import ConfigError, NumericalError
from ..kernels.hydraulics import diffusive_wave
from ..network import RiverNetwork
from .channel import MuskingumCunge


@dataclass
class MainStemResult:
    discharge: NDArray[np.float64]  # [n_hours, n_stem_segments] at each segment's downstream end
    depth: NDArray[np.float64]  # [n_hours, n_stem_segments] in each segment's last cell
    inflow_volume_m3: float
    outflow_volume_m3: float
    storage_change_m3: float


class MainStem:
    def __init__(self, network: RiverNetwork, stem_ids: list[int], cell_length: float = 500.0):
        pos = [int(network.index_of(f)[0]) for f in stem_ids]
        down = network.downstream_index
        for a, b in zip(pos[:-1], pos[1:], strict=False):
            if down[a] != b:
                raise ConfigError(f"main stem: {network.feature_id[a]} does not drain to {network.feature_id[b]}; "
                                  "list the stem segments upstream first along one flow path")
        self.network, self.pos = network, np.array(pos)
        cells = [max(int(round(network.length[p] / cell_length)), 1) for p in pos]
        self.first_cell = np.concatenate([[0], np.cumsum(cells)[:-1]])
        self.last_cell = np.cumsum(cells) - 1
        self.n_cells = int(np.sum(cells))
        total_length = float(network.length[self.pos].sum())
        self.dx = total_length / self.n_cells
        slope_per_cell = np.repeat(network.slope[self.pos], cells)
        self.bed = -np.concatenate([[0.0], np.cumsum(slope_per_cell[:-1] * self.dx)])
        self.outlet_slope = float(network.slope[self.pos[-1]])
        self.width = float(network.bottom_width[self.pos].mean())
        self.manning = float(network.mannings_n[self.pos].mean())
        upstream = np.flatnonzero(np.isin(down, self.pos))
        self.feeders = [(int(i), int(np.flatnonzero(self.pos == down[i])[0])) for i in upstream if i not in self.pos]

    def run(self, lateral: NDArray, dt: float = 300.0) -> MainStemResult:
        """Route ``lateral`` [n_hours, n] (hourly, network order): MC everywhere, then the stem by the
        diffusive wave with the MC flows of its feeders as inflows."""
        n_hours = lateral.shape[0]
        steps = int(round(3600.0 / dt))
        mc = MuskingumCunge(self.network, None, dt).run(np.asarray(lateral, np.float32), 3600.0, n_hours * steps,
                                                         None, steps)
        flow = mc.streamflow.astype(np.float64)
        times = n_hours + 1
        inflow = np.zeros(times)
        tributary = np.zeros((times, self.n_cells))
        for node, seg in self.feeders:
            series = np.concatenate([[flow[0, node]], flow[:, node]])
            if seg == 0:  # above the stem: its upstream boundary
                inflow += series
            else:
                tributary[:, self.first_cell[seg]] += series
        for seg, p in enumerate(self.pos):  # the stem segments' own lateral inflow, spread on their cells
            cells = slice(self.first_cell[seg], self.last_cell[seg] + 1)
            n_seg_cells = self.last_cell[seg] - self.first_cell[seg] + 1
            own = np.concatenate([[lateral[0, p]], lateral[:, p]]) / n_seg_cells
            tributary[:, cells] += own[:, None]
        depth = np.full(self.n_cells, self._normal_depth(max(inflow[0] + tributary[0].sum(), 1e-3)))
        storage0 = depth.sum() * self.width * self.dx
        outflow = np.empty(n_hours)
        stage = np.empty((n_hours, self.n_cells))
        volume = np.zeros(3)
        status = diffusive_wave(depth, self.bed, inflow, tributary, 3600.0, self.dx, self.width, self.manning,
                                self.outlet_slope, n_hours, 3600.0, outflow, stage, volume, self.n_cells)
        if status:
            raise NumericalError("main stem: depth went negative; shorten the cells or check the inflows")
        discharge = self._segment_discharge(stage)
        discharge[:, -1] = outflow
        return MainStemResult(discharge, stage[:, self.last_cell], volume[0], volume[1],
                              depth.sum() * self.width * self.dx - storage0)

    def _normal_depth(self, q: float) -> float:
        return (q * self.manning / (self.width * np.sqrt(self.outlet_slope))) ** 0.6

    def _segment_discharge(self, stage: NDArray) -> NDArray:
        """Diffusive-wave flux across each segment's downstream face, from the stored depths."""
        out = np.empty((stage.shape[0], len(self.pos)))
        for seg in range(len(self.pos) - 1):
            i = self.last_cell[seg]
            sf = (self.bed[i] + stage[:, i] - self.bed[i + 1] - stage[:, i + 1]) / self.dx
            h = np.where(sf >= 0, stage[:, i], stage[:, i + 1])
            out[:, seg] = self.width * h ** (5 / 3) / self.manning * np.sqrt(np.abs(sf)) * np.sign(sf)
        return out
