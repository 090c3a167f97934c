"""The simulated climatology behind return-period thresholds uses the basin's configured PET, as the forecast does
(hydro/stages/climatology.py climatology_pet), and its outputs say which.

Truth: the PET file's own numbers (its time mean, per cell for a grid), the constant-PET run it must equal when the
file holds that constant, and Xinanjiang's response (more PET: drier soil, lower annual maxima)."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.io.config import ForcingSection, load_config
from hydro.pipeline.cycle import load_basin
from hydro.stages.climatology import ClimatologyPet, climatology_pet, simulate_climatology


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo basin with a cycle config (constant PET 0.1 mm h-1) in a folder of its own."""
    folder = tmp_path_factory.mktemp("climatology_pet")
    path = folder / "cycle.toml"
    path.write_text('[cycle]\nbasin = "demo"\nstart = "2026-07-01T00:00:00"\nhours = 2\nforecast_hours = 2\n'
                    'nowcast_hours = 1\noutput_dir = "out"\nstate_dir = "state"\n[forcing]\nsetup = "demo_storm.toml"\n'
                    "[runoff]\npet_mm_h = 0.1\n")
    config = load_config(path)
    return config, path, load_basin(config, path)


def test_pet_of_the_climatology_is_the_configured_one(demo):
    config, path, basin = demo
    constant = climatology_pet(basin, config, path.parent)
    assert constant.rate_mm_h == 0.1 and constant.description == "constant [runoff] pet_mm_h = 0.1 mm h-1"
    (path.parent / "pet.csv").write_text("time,pet_mm\n2026-07-01T00:00,2.4\n2026-07-02T00:00,4.8\n2026-07-03T00:00,7.2\n")
    config = config.model_copy(update={"forcing": ForcingSection(setup="demo_storm.toml", pet="pet.csv")})
    daily = climatology_pet(basin, config, path.parent)  # 2.4, 4.8, 7.2 mm per day: a mean of 0.2 mm h-1
    assert daily.rate_mm_h == pytest.approx(0.2)
    assert daily.description.startswith("mean of pet.csv over its record 2026-06-30T00:00 .. 2026-07-03T00:00: 0.2 mm h-1")
    assert daily.key() != constant.key()  # a cached climatology is not reused across PETs


def test_gridded_pet_is_averaged_per_cell_over_its_record(demo):
    """Two daily fields on a lat/lon grid around the demo's UTM grid (regridded as the forecast regrids): the
    per-cell climatology PET is their mean, and the basin mean is stated."""
    import xarray as xr
    from pyproj import Transformer

    config, path, basin = demo
    grid = basin.grid
    to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    x0, y0 = grid.transform @ (0, 0)
    x1, y1 = grid.transform @ (grid.shape[1], grid.shape[0])
    lons, lats = to_lonlat.transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    lon = np.arange(min(lons) - 0.2, max(lons) + 0.2, 0.05)
    lat = np.arange(max(lats) + 0.2, min(lats) - 0.2, -0.05)
    days = np.array(["2026-07-01T00:00", "2026-07-02T00:00"], "datetime64[ns]")
    amounts = np.stack([np.full((lat.size, lon.size), 2.4), np.full((lat.size, lon.size), 7.2)])  # mm per day
    xr.Dataset({"pet": (("time", "lat", "lon"), amounts, {"units": "mm"})},
               coords={"time": days, "lat": ("lat", lat, {"units": "degrees_north"}),
                       "lon": ("lon", lon, {"units": "degrees_east"})}).to_netcdf(path.parent / "pet.nc")
    config = config.model_copy(update={"forcing": ForcingSection(setup="demo_storm.toml", pet="pet.nc")})
    pet = climatology_pet(basin, config, path.parent)
    cells = np.unique(basin.mapping.cell)
    np.testing.assert_allclose(pet.rate_mm_h.reshape(-1)[cells], (2.4 + 7.2) / 2 / 24, rtol=1e-6)  # 0.2 mm h-1
    assert "mean of pet.nc (pet) over its record 2026-06-30T00:00 .. 2026-07-02T00:00, per cell" in pet.description
    assert "(basin mean 0.2 mm h-1)" in pet.description


def test_climatology_responds_to_pet_and_a_uniform_field_equals_the_constant(demo):
    config, _, basin = demo
    constant = simulate_climatology(basin, config, years=1)
    uniform = simulate_climatology(basin, config, years=1,
                                   pet=ClimatologyPet(np.full(basin.grid.shape, 0.1), "a field of 0.1 mm h-1"))
    np.testing.assert_array_equal(uniform, constant)  # per-cell path = constant path, bit for bit
    evaporating = simulate_climatology(basin, config, years=1, pet=ClimatologyPet(1.0, "1 mm h-1"))
    outlet = int(np.argmax(constant[0]))
    assert evaporating[0, outlet] < 0.99 * constant[0, outlet]  # more evaporation: a lower annual maximum
    assert np.all(evaporating <= constant + 1e-3)


def test_the_warning_outputs_state_the_climatology_pet(demo, tmp_path, monkeypatch):
    """climatology_for (what warnings.json, the summary and the report carry) names the PET file and its mean, and
    the cached climatology file states it too. One simulated year instead of 20, in a cache of its own."""
    import xarray as xr

    import hydro.stages.climatology as climatology
    from hydro.pipeline.cycle import climatology_for

    config, path, basin = demo
    (path.parent / "pet_e2e.csv").write_text("time,pet_mm\n2026-07-01T00:00,1.2\n2026-07-02T00:00,3.6\n")
    config = config.model_copy(update={"forcing": ForcingSection(setup="demo_storm.toml", pet="pet_e2e.csv")})
    real = climatology.simulate_climatology
    monkeypatch.setattr(climatology, "simulate_climatology",
                        lambda basin, config, pet=None: real(basin, config, years=1, pet=pet))
    monkeypatch.setenv("HYDRO_CACHE_DIR", str(tmp_path))  # after the demo basin was loaded from the session cache
    annual_max, stated = climatology_for(basin, config, path)
    assert annual_max.shape == (1, basin.network.size)
    assert stated.startswith("simulated (synthetic, not observed): synthetic storms")
    assert stated.endswith("PET: mean of pet_e2e.csv over its record 2026-06-30T00:00 .. 2026-07-02T00:00: "
                           "0.1 mm h-1 (basin-uniform)")
    (cached,) = (tmp_path / "climatology").glob("demo_*.nc")
    with xr.open_dataset(cached) as ds:
        assert ds.attrs["pet"].startswith("mean of pet_e2e.csv") and "PET: mean of pet_e2e.csv" in ds.attrs["forcing"]
