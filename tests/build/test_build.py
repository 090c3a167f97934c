"""``hydro basin build`` / ``info``: areas against their definitions, the folder against what the cycle reads, bad
input as one line with nothing left behind, and drainage areas on the real Rhine DEM against published gauges."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from hydro.cli import main

from .conftest import RHINE_DEM, utm_lonlat, valley, write_dem

R_EARTH = 6_371_000.0
# pyflwdir's own use of affine's `*` (its deprecation, not ours)
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:pyflwdir.gis_utils")


def build(capsys, dem: Path, out: Path, outlet: str, *extra: str) -> tuple[int, str]:
    rc = main(["basin", "build", "--dem", str(dem), "--outlet", outlet, "--name", "t", "--output", str(out),
               "--json", "--no-map", *extra])
    captured = capsys.readouterr()
    return rc, captured.out if rc == 0 else captured.err


def info(capsys, folder: Path) -> dict:
    assert main(["basin", "info", str(folder), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def outlet_utm() -> str:
    lon, lat = utm_lonlat(47, 25)
    return f"{lon:.6f},{lat:.6f}"


@pytest.fixture(scope="module")
def utm_basin(utm_dem, tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "valley"
    rc = main(["basin", "build", "--dem", str(utm_dem), "--outlet", outlet_utm(), "--name", "valley", "--output",
               str(out), "--stream-area-km2", "0.1", "--segment-length-km", "1.0", "--snap-km", "0.3", "--json"])
    assert rc == 0
    return out


def _mapping(folder: Path):
    from hydro.io.basin import read_basin
    from hydro.io.grid import read_d8, read_id_raster
    from hydro.io.netcdf import read_network
    from hydro.runoff.coupling import CellMapping

    spec = read_basin(folder / "basin.toml")
    network, _ = read_network(folder / spec.network)
    grid = read_d8(folder / spec.flow_direction)
    ids = read_id_raster(folder / spec.channel_segments, grid)
    mapping = CellMapping.from_d8(grid.down, grid.shape, ids, network.feature_id, grid.cell_size_m, grid.cell_area_m2)
    return network, grid, mapping


def test_projected_areas_and_the_rasters_the_cycle_reads_agree(utm_basin, capsys):
    """Every cell of flow_direction.tif reaches a channel; the cells each segment collects, accumulated down the
    network, are exactly the upstream area network.nc gives it (100 m cells: 0.01 km2 each)."""
    import xarray as xr

    network, grid, mapping = _mapping(utm_basin)
    assert mapping.unmapped_area_m2 == 0.0
    accumulated = network.accumulate(mapping.segment_area_m2() / 1e6)
    with xr.open_dataset(utm_basin / "network.nc") as ds:
        upstream = ds["upstream_area"].values
        local = ds["local_area"].values
    np.testing.assert_allclose(accumulated, upstream, rtol=1e-6)  # pyflwdir's areas are float32
    np.testing.assert_allclose(local, mapping.segment_area_m2() / 1e6, rtol=1e-6)
    summary = info(capsys, utm_basin)
    basin_cells = int((grid.down != -2).sum())
    assert summary["cells"] == basin_cells
    assert summary["area_km2"] == pytest.approx(basin_cells * 0.01, abs=0.05)
    assert summary["outlets"][0]["upstream_area_km2"] == pytest.approx(basin_cells * 0.01, abs=0.05)
    assert summary["segments"] == network.size > 5


def test_segments_run_confluence_to_confluence_and_respect_the_length(utm_basin):
    """A segment longer than the maximum does not exist (one diagonal cell of slack), and a segment with a single
    segment above it only where one reach was cut in pieces (together longer than the maximum)."""
    network, _, _ = _mapping(utm_basin)
    max_m, cell_slack = 1000.0, 100.0 * math.sqrt(2.0)
    assert network.length.max() <= max_m + cell_slack
    down = network.downstream_index
    n_up = np.bincount(down[down >= 0], minlength=network.size)
    for i in np.flatnonzero(n_up == 1):
        above = int(np.flatnonzero(down == i)[0])
        assert network.length[above] + network.length[i] > max_m - cell_slack
    assert (n_up >= 2).any()  # the valley has confluences
    assert np.all(network.slope >= 1e-4) and np.all(network.bottom_width > 0)
    # channel width grows with area (Bieger et al. 2015: 2.70 A^0.352)
    assert network.top_width[network.to == 0][0] == network.top_width.max()


def test_latlon_upstream_area_is_the_sum_of_spherical_cell_areas(tmp_path, capsys):
    """On a lat/lon DEM the outlet's area equals the basin's cells summed as spherical cells R^2 dlon (sin phi_n -
    sin phi_s) (pyflwdir's geodesic areas; 0.3 % covers its ellipsoid against the sphere)."""
    dlon, dlat = 0.004, 0.003
    dem = write_dem(tmp_path / "ll.tif", valley(), from_origin(8.0, 47.5, dlon, dlat), "EPSG:4326")
    lon, lat = 8.0 + dlon * 25.5, 47.5 - dlat * 47.5
    rc, out = build(capsys, dem, tmp_path / "b", f"{lon},{lat}", "--stream-area-km2", "0.05", "--snap-km", "0.3")
    assert rc == 0, out
    from hydro.io.grid import read_d8

    grid = read_d8(tmp_path / "b" / "flow_direction.tif")
    rows = np.flatnonzero(grid.down != -2) // grid.shape[1]
    north = np.radians(47.5 - dlat * rows)
    sphere_km2 = (R_EARTH**2 * np.radians(dlon) * (np.sin(north) - np.sin(north - np.radians(dlat)))).sum() / 1e6
    outlet = info(capsys, tmp_path / "b")["outlets"][0]["upstream_area_km2"]
    assert outlet == pytest.approx(sphere_km2, rel=3e-3)
    assert json.loads(out)["outlets"][0]["upstream_area_km2"] == pytest.approx(outlet, abs=0.1)


def test_coarser_runoff_grid_by_ihu_keeps_the_area(utm_dem, utm_basin, tmp_path, capsys):
    """--grid-km 0.3 (3 x 3 DEM cells): the outlet's area is still read on the DEM river (IHU outlet pixels),
    and the coarse rasters load with every cell reaching a channel."""
    rc, out = build(capsys, utm_dem, tmp_path / "coarse", outlet_utm(), "--grid-km", "0.3", "--stream-area-km2", "0.1",
                    "--snap-km", "0.3")
    assert rc == 0, out
    fine = info(capsys, utm_basin)["outlets"][0]["upstream_area_km2"]
    coarse = json.loads(out)
    assert coarse["outlets"][0]["upstream_area_km2"] == pytest.approx(fine, rel=0.02)
    network, grid, mapping = _mapping(tmp_path / "coarse")
    assert mapping.unmapped_area_m2 == 0.0
    # the coarse cells' own areas add up to within 10 % of the DEM river's area (IHU moves cell outlines)
    assert mapping.segment_area_m2().sum() / 1e6 == pytest.approx(fine, rel=0.10)


def test_built_basin_loads_as_the_cycle_loads_it(utm_basin):
    from hydro.io.config import load_config
    from hydro.pipeline.cycle import load_basin

    config = load_config(utm_basin / "cycle.toml")
    basin = load_basin(config, utm_basin / "cycle.toml")
    assert basin.network.size == basin.mapping.feature_id.size
    text = (utm_basin / "cycle.toml").read_text()
    assert "SIMULATES" in text and "not official" in text  # the warning levels' source is stated
    assert "SYNTHETIC DESIGN STORM" in (utm_basin / "forcing.toml").read_text()


# ---------------------------------------------------------------- points: snapped by position and area


def test_points_snap_by_area_and_become_segment_ends(utm_dem, tmp_path, capsys):
    """A gauge with a reported area takes the cell whose area matches; it ends a segment, so its segment's area is
    the gauge's; sections and reservoirs go into basin.toml on their segments."""
    from hydro.io.basin import read_basin

    lon, lat = utm_lonlat(30, 25)
    section_lon, section_lat = utm_lonlat(38, 25)
    gauges = tmp_path / "gauges.csv"
    gauges.write_text(f"id,lon,lat\nmid,{lon},{lat}\n")
    sections = tmp_path / "sections.csv"
    sections.write_text("id,lon,lat,safe_discharge,warning_stage,guaranteed_stage,rating_stage_m,rating_discharge_m3s\n"
                        f"town,{section_lon},{section_lat},50,2.5,3.5,0;2;4,0;20;80\n")
    reservoirs = tmp_path / "res.toml"
    olon, olat = utm_lonlat(20, 25)
    reservoirs.write_text(f"""[[reservoirs]]
id = "dam"
lon = {olon}
lat = {olat}
level_m = [100.0, 110.0, 120.0]
storage_m3 = [0.0, 1e6, 3e6]
capacity_m3s = [0.0, 50.0, 150.0]
flood_limit_level = 105.0
flood_control_high_level = 112.0
design_level = 115.0
check_level = 118.0
safe_release = 40.0
""")
    rc, out = build(capsys, utm_dem, tmp_path / "b", outlet_utm(), "--stream-area-km2", "0.1", "--snap-km", "0.3",
                    "--gauges", str(gauges), "--sections", str(sections), "--reservoirs", str(reservoirs))
    assert rc == 0, out
    points = {p["id"]: p for p in json.loads(out)["points"]}
    spec = read_basin(tmp_path / "b" / "basin.toml")
    assert spec.control_sections[0].feature_id == points["town"]["feature_id"]
    assert spec.reservoirs[0].feature_id == points["dam"]["feature_id"]
    gauge_area = points["mid"]["upstream_area_km2"]
    # again with the area reported: the snap picks the cell with that area (within the tolerance)
    gauges.write_text(f"id,lon,lat,area_km2\nmid,{lon},{lat},{gauge_area}\n")
    rc, out = build(capsys, utm_dem, tmp_path / "c", outlet_utm(), "--stream-area-km2", "0.1", "--snap-km", "0.3",
                    "--gauges", str(gauges))
    assert rc == 0, out
    summary = info(capsys, tmp_path / "c")
    assert summary["gauges"][0]["upstream_area_km2"] == pytest.approx(gauge_area, abs=0.05)
    assert abs(summary["gauges"][0]["area_mismatch"]) < 0.01


# ---------------------------------------------------------------- bad input: one line, no folder


def _no_leftovers(parent: Path, keep: set[str]) -> None:
    assert {p.name for p in parent.iterdir()} <= keep, "a partial basin folder was left behind"


@pytest.mark.parametrize("case", ["no_crs", "outside", "nodata", "edge", "gauge_far", "gauge_area", "reservoir_no_river",
                                  "output_exists"])
def test_bad_input_is_one_line_and_leaves_nothing(case, tmp_path, capsys):
    elevation = valley()
    crs = "EPSG:32632"
    outlet = outlet_utm()
    extra: list[str] = []
    if case == "no_crs":
        crs = None
    elif case == "outside":
        outlet = "9.5,48.5"
    elif case == "nodata":
        elevation[44:50, 22:29] = -9999.0
    elif case == "edge":
        lon, lat = utm_lonlat(58, 25)
        outlet = f"{lon},{lat}"
    elif case in ("gauge_far", "gauge_area"):
        lon, lat = utm_lonlat(5, 1 if case == "gauge_far" else 25)
        (tmp_path / "g.csv").write_text(f"id,lon,lat,area_km2\nG1,{lon},{lat},{5000 if case == 'gauge_area' else ''}\n")
        extra = ["--gauges", str(tmp_path / "g.csv")]
    elif case == "reservoir_no_river":
        lon, lat = utm_lonlat(5, 1)
        (tmp_path / "r.toml").write_text(f'[[reservoirs]]\nid = "R1"\nlon = {lon}\nlat = {lat}\n')
        extra = ["--reservoirs", str(tmp_path / "r.toml")]
    elif case == "output_exists":
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "keep.txt").write_text("x")
    dem = write_dem(tmp_path / "dem.tif", elevation, from_origin(500_000.0, 5_300_000.0, 100.0, 100.0), crs)
    before = {p.name for p in tmp_path.iterdir()}
    rc, err = build(capsys, dem, tmp_path / "b", outlet, "--stream-area-km2", "0.1", "--snap-km", "0.3", *extra)
    expected = {"no_crs": (3, "has no CRS"), "outside": (3, "outside the DEM"), "nodata": (3, "nodata cell"),
                "edge": (3, "leaves the DEM"), "gauge_far": (3, "no cell of a river"),
                "gauge_area": (3, "upstream area within"), "reservoir_no_river": (3, "reservoir 'R1'"),
                "output_exists": (2, "not an empty folder")}[case]
    assert rc == expected[0], err
    assert expected[1] in err and err.count("\n") == 1 and "Traceback" not in err
    _no_leftovers(tmp_path, before)


# ---------------------------------------------------------------- the real Rhine DEM against published areas

# Drainage areas published by the Swiss Federal Office for the Environment (BAFU, hydrodaten.admin.ch station pages);
# positions of the stations rounded to 0.001 degree.
BAFU_GAUGES = {
    "2289": ("Rhein - Basel, Rheinhalle", 7.617, 47.559, 35897.0),
    "2016": ("Aare - Brugg", 8.190, 47.483, 11681.0),
    "2044": ("Thur - Andelfingen", 8.681, 47.596, 1696.0),
}


@pytest.mark.skipif(not RHINE_DEM.is_file(), reason="../shared/data/dem/rhine_elv0.tif absent (shared data not mounted)")
def test_rhine_gauge_areas_within_3_percent_of_bafu(tmp_path, capsys):
    gauges = tmp_path / "gauges.csv"
    gauges.write_text("id,lon,lat,area_km2\n" + "".join(f"{k},{lon},{lat},{a}\n" for k, (_, lon, lat, a)
                                                        in BAFU_GAUGES.items()))
    rc, out = build(capsys, RHINE_DEM, tmp_path / "rhine", "7.617,47.559,35897", "--gauges", str(gauges),
                    "--stream-area-km2", "50", "--segment-length-km", "20")
    assert rc == 0, out
    for gauge in info(capsys, tmp_path / "rhine")["gauges"]:
        published = BAFU_GAUGES[gauge["id"]][3]
        assert gauge["upstream_area_km2"] == pytest.approx(published, rel=0.03), gauge


def test_info_without_stored_areas_accumulates_them_from_the_rasters(utm_basin, tmp_path, capsys):
    """A basin folder whose network file has no upstream_area (the demo's, a hand-made one): info accumulates the
    runoff cells each segment collects down the network, and gets the build's figures."""
    from hydro.io.netcdf import read_network, write_network

    folder = tmp_path / "copy"
    shutil.copytree(utm_basin, folder)
    network, lakes = read_network(folder / "network.nc")
    (folder / "network.nc").unlink()
    write_network(folder / "network.nc", network, lakes)
    stored, accumulated = info(capsys, utm_basin), info(capsys, folder)
    assert accumulated["outlets"] == stored["outlets"]
    assert stored["upstream_area_source"].startswith("network.nc upstream_area")
    assert accumulated["upstream_area_source"].startswith("accumulated from the sub-catchments of")
    (outlet,) = stored["outlets"]  # every segment drains to the one outlet, and so does every metre of channel
    assert outlet["upstream_segments"] == stored["segments"] == network.size
    assert outlet["upstream_length_km"] == pytest.approx(network.length.sum() / 1000.0, abs=0.1)
    assert accumulated["cells"] == stored["cells"] and accumulated["segments"] == stored["segments"]
