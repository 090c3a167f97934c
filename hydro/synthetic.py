"""Deterministic synthetic river networks, storms and basins (benchmarks, the embedded demo basin).

Networks grow by attaching each new segment upstream of an existing one: with probability
``p_chain`` it continues the previous segment's chain (long unbranched reaches), otherwise it joins
a random earlier segment (a junction). Measured with seed 1: 74 / 109 / 127 levels and Strahler
order 8 / 9 / 9 at 1e4 / 1e5 / 3.28e5 segments. That is shallower than NHD (Lower Colorado: 648
levels at 1.1e4 segments). Local drainage areas are lognormal (mean 3.0 km2, as NHDPlus catchments); channel geometry follows NWM-style hydraulic geometry scaled with the
accumulated drainage area A [km2]: top width 2.44 A^0.34 m, bottom width 0.6 x top width,
floodplain 3 x top width; slope 0.01 A^-0.35 clipped to [1e-5, 0.05].
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .network import RiverNetwork
from .reservoir.levelpool import LevelPoolParameters


def synthetic_network(n_segments: int, seed: int = 1, p_chain: float = 0.75, n_outlets: int = 1) -> tuple[RiverNetwork, NDArray[np.float64]]:
    """A random dendritic network of ``n_segments`` and the local drainage area [km2] of each."""
    rng = np.random.default_rng(seed)
    n = int(n_segments)
    idx = np.arange(n)
    # Segment i drains to parent[i] < i; segment 0 (and a few more with n_outlets) are outlets.
    parent = np.where(rng.random(n) < p_chain, idx - 1, (rng.random(n) * idx).astype(np.int64))
    outlets = np.concatenate([[0], rng.choice(np.arange(1, n), size=n_outlets - 1, replace=False)]) if n > 1 else np.array([0])
    parent[outlets] = -1
    local_area = rng.lognormal(mean=np.log(2.5), sigma=0.6, size=n)
    area = local_area.copy()
    for i in range(n - 1, 0, -1):  # parents have smaller indices: accumulate downstream
        if parent[i] >= 0:
            area[parent[i]] += area[i]
    top_width = 2.44 * area**0.34
    length = rng.lognormal(np.log(1800.0), 0.5, n).clip(50.0, 20_000.0)
    musk_k = np.maximum(length / 1.0, 300.0)  # travel time at ~1 m/s; stable at dt <= 300 s with musk_x below
    network = RiverNetwork(
        feature_id=idx + 1,
        to=np.where(parent >= 0, parent + 1, 0),
        length=length,
        slope=np.clip(0.01 * area**-0.35 * rng.lognormal(0.0, 0.5, n), 1e-5, 0.05),
        mannings_n=np.full(n, 0.055),
        mannings_n_cc=np.full(n, 0.12),
        bottom_width=0.6 * top_width,
        top_width=top_width,
        top_width_cc=3.0 * top_width,
        side_slope=rng.uniform(0.4, 1.2, n),
        musk_k=musk_k,
        musk_x=np.minimum(0.2, 140.0 / musk_k),
        source=f"synthetic network ({n} segments, seed {seed})",
    )
    return network, local_area


def strahler_order(network: RiverNetwork) -> NDArray[np.int64]:
    """Strahler stream order of every node."""
    order = np.ones(network.size, np.int64)
    top = np.zeros(network.size, np.int64)  # highest incoming order
    count = np.zeros(network.size, np.int64)  # how many tributaries carry that order
    down = network.downstream_index
    for i in network.topological_order():
        if count[i] >= 2:
            order[i] = top[i] + 1
        elif count[i] == 1:
            order[i] = top[i]
        d = down[i]
        if d >= 0:
            if order[i] > top[d]:
                top[d], count[d] = order[i], 1
            elif order[i] == top[d]:
                count[d] += 1
    return order


def storm_runoff(local_area_km2: NDArray[np.float64], hours: int, peak_mm_h: float = 8.0, peak_hour: float = 6.0, seed: int = 1) -> NDArray[np.float32]:
    """Hourly lateral inflow [hours, n] in m3 s-1 from a moving storm over the basin.

    Runoff rate r(t) [mm h-1] is a gamma-shaped pulse peaking at ``peak_hour`` with ``peak_mm_h``,
    modulated per segment by a smooth random field; plus 0.05 mm h-1 baseflow.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(hours) + 0.5
    shape = (t / peak_hour) ** 3 * np.exp(3.0 * (1.0 - t / peak_hour))
    spatial = rng.lognormal(0.0, 0.35, local_area_km2.size)
    rate_mm_h = 0.05 + peak_mm_h * shape[:, None] * spatial[None, :]
    return (rate_mm_h * local_area_km2[None, :] / 3.6).astype(np.float32)  # mm/h * km2 -> m3/s


def synthetic_lakes(network: RiverNetwork, local_area_km2: NDArray[np.float64], count: int, seed: int = 1) -> tuple[RiverNetwork, LevelPoolParameters]:
    """Put ``count`` level-pool reservoirs on large rivers: each takes one segment, becoming a
    collapsed lake node with a weir sized to pass roughly its mean inflow."""
    rng = np.random.default_rng(seed)
    area = network.accumulate(local_area_km2)
    candidates = np.flatnonzero((area > np.quantile(area, 0.97)) & (network.to != 0))
    chosen = np.sort(rng.choice(candidates, size=min(count, candidates.size), replace=False))
    lake_id = 10_000_000 + np.arange(chosen.size)
    waterbody = network.waterbody.copy()
    waterbody[chosen] = lake_id
    base = np.round(rng.uniform(50.0, 400.0, chosen.size), 1)
    lakes = LevelPoolParameters(
        lake_id=lake_id,
        area_km2=np.clip(area[chosen] / 40.0, 0.5, 60.0),
        max_elevation=base + 12.0,
        weir_elevation=base + 9.0,
        weir_coefficient=np.full(chosen.size, 0.4),
        weir_length=np.clip(area[chosen] / 20.0, 10.0, 200.0),
        dam_length=np.full(chosen.size, 10.0),
        orifice_elevation=base + 1.0,
        orifice_coefficient=np.full(chosen.size, 0.6),
        orifice_area=np.clip(area[chosen] / 400.0, 1.0, 40.0),
        initial_fraction_depth=np.full(chosen.size, 0.8),
        source="synthetic lakes",
    )
    return replace(network, waterbody=waterbody), lakes


@dataclass
class GridBasin:
    """A synthetic basin on a raster: D8 drainage, channel cells as segments, and the network."""

    down: NDArray[np.int64]  # flat D8 downstream index (-1 outlet, -2 outside)
    shape: tuple[int, int]
    cell_size_m: float
    channel_ids: NDArray[np.int64]  # [ny, nx] feature_id of the segment in a channel cell, else 0
    network: RiverNetwork
    local_area_km2: NDArray[np.float64]  # per segment, in network order

    @property
    def transform(self):
        from rasterio.transform import from_origin

        # a UTM 50N grid (eastern China); the demo needs a real CRS only so GIS tools place it
        return from_origin(500_000.0, 4_500_000.0, self.cell_size_m, self.cell_size_m)

    crs = "EPSG:32650"


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_cells: float) -> NDArray[np.float64]:
    """Gaussian-correlated noise (FFT filter), unit variance."""
    white = rng.standard_normal(shape)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    field = np.fft.irfft2(np.fft.rfft2(white) * np.exp(-2.0 * (np.pi * scale_cells) ** 2 * (kx**2 + ky**2)), s=shape)
    return (field - field.mean()) / field.std()


def synthetic_grid_basin(ny: int, nx: int, seed: int = 1, channel_cells: int = 4,
                         cell_size_m: float = 1000.0) -> GridBasin:
    """A pit-free D8 basin on an ``ny`` x ``nx`` grid whose channel cells (drainage >= ``channel_cells``
    cells) each become one river segment. The basin outline is a noisy ellipse, the terrain smooth noise
    rising away from the outlet (bottom centre); drainage is grown by priority flood, so it is dendritic
    and every cell reaches the outlet. Channel geometry as ``synthetic_network``."""
    from .kernels import grid as kg

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx]
    cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
    radius = np.hypot((yy - cy) / (ny / 2.0), (xx - cx) / (nx / 2.0))
    inside = radius < 0.95 + 0.08 * _smooth_noise(rng, (ny, nx), max(ny, nx) / 12.0)
    bottom = np.flatnonzero(inside[:, int(cx)])[-1]
    outlet = int(bottom * nx + int(cx))
    distance = np.hypot(yy - bottom, xx - cx)
    elevation = 0.002 * cell_size_m * distance + 30.0 * _smooth_noise(rng, (ny, nx), 6.0)
    down = kg.priority_flood_d8(elevation, inside, outlet)
    order, _ = kg.upstream_first_order(down)
    cell_km2 = (cell_size_m / 1000.0) ** 2
    acc_cells = kg.accumulate(down, order, (down != kg.OUTSIDE).astype(np.float64))
    channel = (acc_cells >= channel_cells) & (down != kg.OUTSIDE)
    cells = np.flatnonzero(channel)
    n = cells.size
    seg_of_cell = np.full(ny * nx, -1, dtype=np.int64)
    seg_of_cell[cells] = np.arange(n)
    feature_id = np.arange(1, n + 1, dtype=np.int64)
    to = np.zeros(n, dtype=np.int64)
    has_down = down[cells] >= 0
    to[has_down] = feature_id[seg_of_cell[down[cells[has_down]]]]
    step = kg.d8_step_length(down, nx, cell_size_m, cell_size_m)
    length = np.where(step[cells] > 0, step[cells], cell_size_m)
    target, _ = kg.trace_to_channel(down, order, seg_of_cell, step)
    local_area = np.bincount(target[target >= 0], minlength=n) * cell_km2
    area = acc_cells[cells] * cell_km2
    top_width = 2.44 * area**0.34
    musk_k = np.maximum(length / 1.0, 300.0)
    network = RiverNetwork(
        feature_id=feature_id, to=to, length=length,
        slope=np.clip(0.01 * area**-0.35 * rng.lognormal(0.0, 0.3, n), 1e-4, 0.05),
        mannings_n=np.full(n, 0.055), mannings_n_cc=np.full(n, 0.12),
        bottom_width=0.6 * top_width, top_width=top_width, top_width_cc=3.0 * top_width,
        side_slope=rng.uniform(0.4, 1.2, n), musk_k=musk_k, musk_x=np.minimum(0.2, 140.0 / musk_k),
        source=f"synthetic grid basin ({ny}x{nx} cells, seed {seed})",
    )
    ids = np.zeros(ny * nx, dtype=np.int64)
    ids[cells] = feature_id
    return GridBasin(down, (ny, nx), cell_size_m, ids.reshape(ny, nx), network, local_area)


def synthetic_storm(shape: tuple[int, int], n_steps: int, dt_hours: float, seed: int = 1, peak_mm_h: float = 30.0,
                    duration_h: float = 10.0) -> NDArray[np.float64]:
    """Rain [n_steps, ny, nx] in mm per step: three convective cells (Gaussian, ~15 km) crossing the grid
    from south-west to north-east over ``duration_h``, on a light stratiform background."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    t_h = (np.arange(n_steps) + 0.5) * dt_hours
    rain = np.zeros((n_steps, ny, nx))
    envelope = np.clip(np.sin(np.pi * t_h / duration_h), 0.0, None) * (t_h < duration_h)
    for _ in range(3):
        y0, x0 = rng.uniform(0.6, 1.0) * ny, rng.uniform(-0.2, 0.3) * nx
        vy, vx = -rng.uniform(0.4, 0.8) * ny / duration_h, rng.uniform(0.6, 1.0) * nx / duration_h
        width = rng.uniform(10.0, 18.0)
        peak = peak_mm_h * rng.uniform(0.6, 1.0)
        for k in np.flatnonzero(envelope > 0):
            cy, cx = y0 + vy * t_h[k], x0 + vx * t_h[k]
            rain[k] += peak * envelope[k] * np.exp(-0.5 * ((yy - cy) ** 2 + (xx - cx) ** 2) / width**2)
    rain += 1.5 * envelope[:, None, None]
    return rain * dt_hours


@dataclass
class DamBasin:
    """A synthetic basin for rehearsal: network, reservoirs and control sections, an hourly forecast."""

    network: RiverNetwork
    basin: object  # BasinSpec
    lateral: NDArray[np.float64]  # [hours, n] m3 s-1
    times: NDArray[np.datetime64]


def synthetic_reservoirs(network: RiverNetwork, area: NDArray, runoff_m3: NDArray, peak_m3s: NDArray, count: int,
                         seed: int = 1) -> tuple[list[dict], NDArray[np.int64]]:
    """``count`` dams (basin-file dicts) on medium rivers (1-25 % of the basin's area, cascades allowed),
    and their positions. Each dam's flood storage holds about a third of ``runoff_m3`` (the storm volume
    reaching its segment) and its current rule passes up to 90 % of ``peak_m3s`` (lax)."""
    rng = np.random.default_rng(seed)
    total = area.max()
    candidates = np.flatnonzero((area > 0.01 * total) & (area < 0.25 * total))
    chosen = np.sort(rng.choice(candidates, size=min(count, candidates.size), replace=False))
    reservoirs = []
    for k, i in enumerate(chosen):
        flood = max(runoff_m3[i] / 3.0, 1e6)
        cap = 3.0 * peak_m3s[i]
        reservoirs.append(dict(
            id=f"dam{k:02d}", feature_id=int(network.feature_id[i]), level_m=[100.0, 110.0, 120.0, 130.0, 140.0],
            storage_m3=[0.0, 2.0 * flood, 3.0 * flood, 4.0 * flood, 5.0 * flood],
            capacity_m3s=[0.0, 0.5 * cap, cap, 1.5 * cap, 2.0 * cap], flood_limit_level=110.0,
            flood_control_high_level=120.0, design_level=128.0, check_level=135.0,
            safe_release=0.9 * peak_m3s[i], min_release=0.0))
    return reservoirs, chosen


def synthetic_dam_basin(n_segments: int, n_reservoirs: int, hours: int, seed: int = 1,
                        n_sections: int = 3) -> DamBasin:
    """A D8 grid basin of about ``n_segments`` with ``n_reservoirs`` dams on medium rivers (1-25 % of
    the basin's area, cascades allowed) and ``n_sections`` control sections: the outlet and the
    largest confluences below dams. Each dam's flood storage holds about a third of its basin's storm
    runoff and its current rule passes up to 90 % of its inflow peak (lax, so floods reach the
    sections). The safe discharges are left at +inf: the caller sets them (e.g. from F1's peaks)."""
    from .io.basin import BasinSpec

    side = int(np.ceil(np.sqrt(3.1 * n_segments)))
    grid = synthetic_grid_basin(side, side, seed=seed, channel_cells=6)
    network, local = grid.network, grid.local_area_km2
    area = network.accumulate(local)
    lateral = storm_runoff(local, hours, peak_mm_h=6.0, peak_hour=min(15.0, hours / 3.0), seed=seed).astype(np.float64)
    peak_m3s = network.accumulate(lateral.max(axis=0))  # an upper bound of each segment's peak
    reservoirs, chosen = synthetic_reservoirs(network, area, network.accumulate(lateral.sum(axis=0) * 3600.0), peak_m3s,
                                              n_reservoirs, seed)
    # sections: the outlet and the largest segments downstream of a dam but not themselves dams
    outlet = int(np.flatnonzero(network.to == 0)[0])
    below = np.zeros(network.size, bool)
    down = network.downstream_index
    for i in chosen:
        j = down[i]
        while j >= 0 and not below[j]:
            below[j] = True
            j = down[j]
    below[chosen] = False
    below[outlet] = False
    order = np.argsort(-area * below)
    picks = [outlet] + [int(i) for i in order[: n_sections - 1] if below[i]]
    sections = [dict(id=f"section{k}", feature_id=int(network.feature_id[i]), safe_discharge=1e12,
                     warning_stage=5.0, guaranteed_stage=7.0, rating_stage_m=[0.0, 5.0, 10.0],
                     rating_discharge_m3s=[0.0, 0.5 * peak_m3s[i], 1.5 * peak_m3s[i]]) for k, i in enumerate(picks)]
    basin = BasinSpec(name=f"synthetic-{network.size}", reservoirs=reservoirs, control_sections=sections)
    times = np.datetime64("2026-07-01T01:00") + np.arange(hours) * np.timedelta64(1, "h")
    return DamBasin(network, basin, lateral, times)


# --- the embedded demo basin ------------------------------------------------------------------------

DEMO_GRID = (110, 110)
DEMO_CHANNEL_CELLS = 8
DEMO_SEED = 7
HILLSLOPE_VELOCITY = 0.3  # m s-1
BASIN_TOML = """# hydro demo basin (generated by `hydro demo`; deterministic, seed {seed})
# {segments} one-cell segments on a 110 x 110 km grid; no lakes (the dam's reservoir is the one storage).
name = "demo"
description = "Synthetic 1 km grid basin (D8 priority flood): a dam on the main stem above the outlet town"
network = "network.nc"                  # CF network file: segments, NWM channel geometry
flow_direction = "flow_direction.tif"   # ESRI D8 codes, 1 km cells
channel_segments = "channel_segments.tif"  # feature_id of the segment in each channel cell
runoff_parameters = "xaj/grid_default.toml"  # packaged parameter set (hydro/data/models)
hillslope_velocity = {velocity}          # m s-1, flow-path length -> hillslope travel time
outlet_feature_id = {outlet}

[[reservoirs]]
id = "demo_dam"
feature_id = {dam}
level_m = [100.0, 110.0, 120.0, 130.0, 140.0]
storage_m3 = [0.0, 100e6, 250e6, 450e6, 700e6]
capacity_m3s = [0.0, 3000.0, 8000.0, 14000.0, 20000.0]
flood_limit_level = 110.0
flood_control_high_level = 120.0
design_level = 128.0
check_level = 135.0
safe_release = 4000.0        # the current rule's release cap: too lax for the town below
min_release = 50.0
max_ramp_per_hour = 1500.0

[[control_sections]]
id = "outlet_town"
feature_id = {outlet}
safe_discharge = 3000.0
warning_stage = 5.5
guaranteed_stage = 7.5
rating_stage_m = [2.0, 4.0, 6.0, 8.0, 10.0]
rating_discharge_m3s = [100.0, 800.0, 2000.0, 3500.0, 6000.0]
"""


def ensure_demo_basin(basin_dir: Path) -> Path:
    """Generate the demo basin into ``basin_dir`` if its files are missing (or from an older layout);
    return basin.toml. The dam sits on the segment of the first generated lake, the town at the outlet."""
    from .core.errors import ConfigError
    from .io import netcdf
    from .io.grid import d8_codes, write_raster

    basin_dir = Path(basin_dir)
    toml = basin_dir / "basin.toml"
    if toml.is_file() and (basin_dir / "flow_direction.tif").is_file() and "[[control_sections]]" in toml.read_text():
        return toml
    basin_dir.mkdir(parents=True, exist_ok=True)
    basin = synthetic_grid_basin(*DEMO_GRID, seed=DEMO_SEED, channel_cells=DEMO_CHANNEL_CELLS)
    # the dam goes where the first of two lake sites would (the demo's numbers since it was made); the network
    # file lists no lakes: the other site was never collapsed into a lake node, so it routed as a channel anyway
    sites, lakes = synthetic_lakes(basin.network, basin.local_area_km2, count=2, seed=DEMO_SEED)
    network = basin.network
    netcdf.write_network(basin_dir / "network.nc", network)
    write_raster(basin_dir / "flow_direction.tif", d8_codes(basin.down, basin.shape), basin.transform, basin.crs,
                 nodata=255)
    write_raster(basin_dir / "channel_segments.tif", basin.channel_ids.astype(np.int32), basin.transform, basin.crs,
                 nodata=0)
    dam_segments = network.feature_id[sites.waterbody == lakes.lake_id[0]]
    if dam_segments.size == 0:
        raise ConfigError(f"{basin_dir}: the generated network has no lake segment to put the dam on")
    outlet = int(network.feature_id[network.to == 0][0])
    (basin_dir / "climatology.nc").unlink(missing_ok=True)  # belongs to the previous network
    toml.write_text(BASIN_TOML.format(seed=DEMO_SEED, segments=network.size, outlet=outlet,
                                      velocity=HILLSLOPE_VELOCITY, dam=int(dam_segments[0])))
    logging.getLogger("hydro").info("generated demo basin: %d x %d km grid, %d segments, 1 reservoir, max Strahler order %d -> %s",
             *DEMO_GRID, network.size, strahler_order(network).max(), basin_dir)
    return toml
