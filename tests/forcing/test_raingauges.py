"""Rain gauges onto the basin grid: IDW reproduces the stations at their cells and stays within their range,
Thiessen is the nearest station, missing values are left out per time step, bad files are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from rasterio.transform import Affine

from hydro.core.errors import InputDataError
from hydro.stages.forcing import Forcing, gauge_field
from tests.forcing.helpers import grid_basin, write_setup

# a 30 x 40 cell lat/lon basin grid of 0.01 degree near 46.5 N, 8.5 E
SHAPE, TRANSFORM = (30, 40), Affine(0.01, 0.0, 8.3, 0.0, -0.01, 46.6)


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 2**31 - 1), n_stations=st.integers(1, 12), power=st.floats(0.5, 4.0),
       max_stations=st.one_of(st.none(), st.integers(1, 6)), missing=st.floats(0.0, 0.6))
def test_idw_reproduces_stations_at_their_cells_and_lies_within_their_range(seed, n_stations, power, max_stations,
                                                                          missing):
    rng = np.random.default_rng(seed)
    n_cells = 200
    cell_xy = rng.uniform(0.0, 50_000.0, (n_cells, 2))
    station_cell = rng.choice(n_cells, n_stations, replace=False)  # one station per cell, off the cell centre
    station_xy = cell_xy[station_cell] + rng.uniform(-400.0, 400.0, (n_stations, 2))
    values = rng.gamma(0.8, 3.0, (5, n_stations))
    values[rng.random(values.shape) < missing] = np.nan
    values[:, 0] = np.where(np.isfinite(values).any(axis=1), values[:, 0], 1.0)  # at least one reports
    field, unreached = gauge_field(cell_xy, station_xy, values, "idw", power, None, max_stations, station_cell)
    assert not unreached.any()
    for t in range(len(values)):
        reporting = np.isfinite(values[t])
        np.testing.assert_array_equal(field[t, station_cell[reporting]], values[t, reporting])
        assert field[t].min() >= np.nanmin(values[t]) - 1e-12 and field[t].max() <= np.nanmax(values[t]) + 1e-12


def test_thiessen_is_the_nearest_reporting_station_by_geodesic_distance(tmp_path):
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(8.25, 8.75, 9), rng.uniform(46.25, 46.65, 9)
    rain = np.round(rng.gamma(0.8, 3.0, (6, 9)), 1)
    rain[2, [0, 4]] = np.nan
    setup = _gauge_files(tmp_path, lon, lat, rain, method="thiessen")
    forcing = Forcing(setup, grid_basin(SHAPE, TRANSFORM, "EPSG:4326"))
    field = forcing.rain(forcing.start, forcing.end).reshape(6, 6, -1).sum(axis=1)  # hourly totals per cell
    cols, rows = np.meshgrid(np.arange(SHAPE[1]) + 0.5, np.arange(SHAPE[0]) + 0.5)
    clon, clat = (TRANSFORM.c + TRANSFORM.a * cols).ravel(), (TRANSFORM.f + TRANSFORM.e * rows).ravel()
    geod = Geod(ellps="WGS84")
    distance = np.stack([geod.inv(clon, clat, np.full(clon.size, x), np.full(clon.size, y))[2] for x, y in zip(lon, lat)])
    for t in range(6):
        reporting = np.flatnonzero(np.isfinite(rain[t]))
        d = distance[reporting]
        order = np.sort(d, axis=0)
        clear = order[1] > order[0] * 1.01  # skip cells nearly equidistant from two stations
        nearest = reporting[np.argmin(d, axis=0)]
        np.testing.assert_allclose(field[t, clear], rain[t, nearest[clear]], rtol=1e-6)
    assert "Thiessen" in forcing.rain_source


def test_gauge_kind_spreads_totals_over_the_interval_and_leaves_missing_stations_out(tmp_path):
    lon, lat = np.array([8.4, 8.6, 8.5]), np.array([46.5, 46.4, 46.3])
    rain = np.array([[1.2, 2.4, 0.6], [np.nan, 3.0, 0.0], [0.0, 0.0, 0.0]])
    setup = _gauge_files(tmp_path / "long", lon, lat, rain, layout="long", power=2.0)
    basin = grid_basin(SHAPE, TRANSFORM, "EPSG:4326")
    steps = Forcing(setup, basin).rain(np.datetime64("2026-07-01T00:00"), np.datetime64("2026-07-01T03:00"))
    assert steps.shape == (18,) + SHAPE
    hourly = steps.reshape(3, 6, -1)
    np.testing.assert_allclose(hourly, np.repeat(hourly[:, :1], 6, axis=1))  # stepwise: 1/6 of the total each
    # hour 2 without station A equals a network of B and C only
    without_a = _gauge_files(tmp_path / "bc", lon[1:], lat[1:], rain[:, 1:], layout="wide", power=2.0)
    only_bc = Forcing(without_a, basin).rain(np.datetime64("2026-07-01T00:00"), np.datetime64("2026-07-01T03:00"))
    np.testing.assert_allclose(steps[6:12], only_bc[6:12], rtol=1e-6)
    assert not np.allclose(steps[:6], only_bc[:6])
    # long and wide layouts read the same
    wide = _gauge_files(tmp_path / "wide", lon, lat, rain, layout="wide", power=2.0)
    np.testing.assert_array_equal(steps, Forcing(wide, basin).rain(np.datetime64("2026-07-01T00:00"),
                                                                     np.datetime64("2026-07-01T03:00")))
    total = steps.sum(axis=0).reshape(-1)
    assert 0.6 <= total.min() and total.max() <= 5.4 + 1e-5


def test_gauge_errors_name_file_station_and_time(tmp_path):
    basin = grid_basin(SHAPE, TRANSFORM, "EPSG:4326")
    lon, lat = np.array([8.4, 8.6]), np.array([46.5, 46.4])
    window = (np.datetime64("2026-07-01T00:00"), np.datetime64("2026-07-01T02:00"))
    silent = _gauge_files(tmp_path / "silent", lon, lat, np.array([[1.0, 2.0], [np.nan, np.nan]]))
    with pytest.raises(InputDataError, match=r"series.csv: no station reports at 2026-07-01T02:00"):
        Forcing(silent, basin).rain(*window)
    far = _gauge_files(tmp_path / "far", np.array([8.4, 12.0]), lat, np.ones((2, 2)))
    with pytest.raises(InputDataError, match=r"station 'G1' at lon 12 lat 46.4 is 2\d\d km from the basin grid"):
        Forcing(far, basin).rain(*window)
    gap = _gauge_files(tmp_path / "gap", lon, lat, np.ones((2, 2)))
    series = gap.parent / "series.csv"
    series.write_text(series.read_text().replace("2026-07-01T02:00", "2026-07-01T03:00"))
    with pytest.raises(InputDataError, match=r"series.csv: gap in the series between 2026-07-01T01:00 and "
                                             r"2026-07-01T03:00 \(interval_minutes = 60\)"):
        Forcing(gap, basin).rain(*window)
    negative = _gauge_files(tmp_path / "neg", lon, lat, np.array([[1.0, -2.0], [1.0, 1.0]]))
    with pytest.raises(InputDataError, match=r"series.csv: line 2: station 'G1' rain -2 mm is negative"):
        Forcing(negative, basin).rain(*window)
    radius = _gauge_files(tmp_path / "radius", lon, lat, np.ones((2, 2)), search_radius_km=3.0)
    with pytest.raises(InputDataError, match=r"basin cells have no reporting station within search_radius_km = 3"):
        Forcing(radius, basin).rain(*window)


def _gauge_files(folder, lon, lat, rain, layout="wide", method="idw", **options):
    """stations.csv, series.csv (hourly, from 2026-07-01T01:00) and the set-up TOML in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"G{k}" for k in range(len(lon))]
    (folder / "stations.csv").write_text("id,lon,lat,elevation_m\n" + "".join(
        f"{i},{x},{y},{100 + 10 * k}\n" for k, (i, x, y) in enumerate(zip(ids, lon, lat))))
    times = [f"2026-07-01T{h + 1:02d}:00" for h in range(len(rain))]
    cell = lambda v: "" if np.isnan(v) else f"{v:g}"  # noqa: E731
    if layout == "wide":
        text = "time," + ",".join(ids) + "\n" + "".join(
            t + "," + ",".join(cell(v) for v in row) + "\n" for t, row in zip(times, rain))
    else:
        text = "time,station,rain_mm\n" + "".join(
            f"{t},{i},{cell(v)}\n" for t, row in zip(times, rain) for i, v in zip(ids, row))
    (folder / "series.csv").write_text(text)
    extra = "".join(f"{k} = {v}\n" for k, v in options.items())
    return write_setup(folder, f'kind = "raingauge"\nstart = "2026-07-01T00:00:00"\nhours = {len(rain)}\n'
                               f'[gauges]\nstations = "stations.csv"\nseries = "series.csv"\ninterval_minutes = 60\n'
                               f'method = "{method}"\n{extra}')
