"""Gridded QPF after the nowcast and PET from a file: units, layouts, coverage, and their effect in a cycle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from rasterio.transform import Affine

from hydro.basin import advance, cold_state
from hydro.core.errors import InputDataError
from hydro.io.config import ForcingSection, load_config
from hydro.pipeline.cycle import load_basin, run_cycle
from hydro.stages.forcing import Forcing
from tests.forcing.helpers import grid_basin, write_setup

STORM = 'kind = "synthetic_storm"\nstart = "2026-07-01T00:00:00"\nhours = 24\n'
SMALL = grid_basin((30, 40), Affine(0.01, 0.0, 8.3, 0.0, -0.01, 46.6), "EPSG:4326")  # lon 8.3-8.7, lat 46.3-46.6


def latlon_dataset(values_mm_h: np.ndarray, ends, lon, lat, name="precipitation_flux", units="kg m-2 s-1",
                   factor=1 / 3600.0, bounds=False) -> xr.Dataset:
    ds = xr.Dataset({name: (("time", "lat", "lon"), (values_mm_h * factor).astype(np.float32), {"units": units})},
                    coords={"time": ("time", np.asarray(ends, "datetime64[ns]")),
                            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"})})
    if bounds:
        ends = np.asarray(ends, "datetime64[ns]")
        ds["time_bnds"] = (("time", "nv"), np.stack([ends - np.timedelta64(1, "h"), ends], axis=1))
        ds["time"].attrs["bounds"] = "time_bnds"
        ds["time"].encoding["units"] = ds["time_bnds"].encoding["units"] = "minutes since 2026-01-01"
    return ds


def _field(n_hours: int, lon, lat) -> np.ndarray:
    """mm h-1 per hour: a west-east gradient scaled by the hour."""
    return (1.0 + np.arange(n_hours))[:, None, None] * (1.0 + (lon - lon.min())[None, None, :]) * np.ones((1, len(lat), 1))


def test_qpf_rates_amounts_and_accumulations_give_the_same_rain(tmp_path):
    lon, lat = np.arange(8.0, 9.01, 0.1), np.arange(46.0, 47.01, 0.1)  # latitude ascending
    ends = np.datetime64("2026-07-01T03:00") + np.arange(1, 4) * np.timedelta64(1, "h")
    rate = _field(3, lon, lat)
    latlon_dataset(rate, ends, lon, lat).to_netcdf(tmp_path / "flux.nc")
    latlon_dataset(rate, ends, lon, lat, "precipitation_amount", "mm", 1.0, bounds=True).to_netcdf(tmp_path / "amount.nc")
    total = np.concatenate([np.zeros((1,) + rate.shape[1:]), np.cumsum(rate, axis=0)]) / 1000.0  # m since 03:00
    latlon_dataset(total, np.concatenate([[ends[0] - np.timedelta64(1, "h")], ends]), lon, lat, "tp", "m",
                   1.0).to_netcdf(tmp_path / "tp.nc")
    setup = write_setup(tmp_path, STORM)
    window = (np.datetime64("2026-07-01T03:00"), np.datetime64("2026-07-01T03:30"), np.datetime64("2026-07-01T06:00"))
    rains = []
    for name, accumulated in (("flux.nc", False), ("amount.nc", False), ("tp.nc", True)):
        section = ForcingSection(setup="x", qpf={"path": name, "accumulated": accumulated})
        rains.append(Forcing(setup, SMALL, section, tmp_path).qpf_rain(*window))
    assert rains[0].shape == (15,) + SMALL.grid.shape
    np.testing.assert_allclose(rains[1], rains[0], rtol=1e-5)
    np.testing.assert_allclose(rains[2], rains[0], rtol=1e-4)
    # the basin's western column (8.30-8.31 E) lies in the QPF cell 8.25-8.35 E: 1 + 0.3 mm h-1 times the hour
    np.testing.assert_allclose(rains[0][:3, :, 0], 1.3 / 6.0, rtol=1e-5)  # 03:30-04:00: hour 1
    np.testing.assert_allclose(rains[0][3:9, :, 0], 2 * 1.3 / 6.0, rtol=1e-5)


def test_qpf_errors_name_file_variable_and_what_to_do(tmp_path):
    lon, lat = np.arange(8.0, 9.01, 0.1), np.arange(46.0, 47.01, 0.1)
    ends = np.datetime64("2026-07-01T03:00") + np.arange(1, 4) * np.timedelta64(1, "h")
    setup = write_setup(tmp_path, STORM)
    window = (np.datetime64("2026-07-01T03:00"), np.datetime64("2026-07-01T03:00"), np.datetime64("2026-07-01T06:00"))

    def qpf(ds: xr.Dataset, name="q.nc", section=None):
        ds.to_netcdf(tmp_path / name)
        return Forcing(setup, SMALL, ForcingSection(setup="x", qpf=section or {"path": name}), tmp_path).qpf_rain(*window)

    no_units = latlon_dataset(_field(3, lon, lat), ends, lon, lat)
    del no_units["precipitation_flux"].attrs["units"]
    with pytest.raises(InputDataError, match=r"q.nc: precipitation_flux has no units; add units"):
        qpf(no_units)
    with pytest.raises(InputDataError, match=r"precipitation_flux units 'K' are neither a rate"):
        qpf(latlon_dataset(_field(3, lon, lat), ends, lon, lat, units="K"))
    east = lon + 10.0
    with pytest.raises(InputDataError, match=r"q.nc: precipitation_flux: QPF missing in 1200 of 1200 basin cells at "
                                             r"2026-07-01T04:00; use a QPF grid that covers the basin"):
        qpf(latlon_dataset(_field(3, east, lat), ends, east, lat))
    with pytest.raises(InputDataError, match=r"precipitation_flux: no data for the 10 minutes ending 2026-07-01T05:10"):
        qpf(latlon_dataset(_field(2, lon, lat), ends[:2], lon, lat))
    with pytest.raises(InputDataError, match=r"q.nc: precipitation_flux is accumulated but its units 'kg m-2 s-1' are a rate"):
        qpf(latlon_dataset(_field(3, lon, lat), ends, lon, lat), section={"path": "q.nc", "accumulated": True})


def test_pet_from_csv_is_applied_stepwise_and_changes_evaporation_as_expected(tmp_path):
    """Daily and hourly PET files spread each total evenly over their interval; on the demo basin, wet soils
    lose K (1 - IM) times the extra PET to evaporation (Xinanjiang upper layer), and nothing else changes."""
    config = _demo_config(tmp_path)
    basin = load_basin(load_config(config), config)
    (tmp_path / "daily.csv").write_text("time,pet_mm\n2026-07-01T00:00,1.2\n2026-07-02T00:00,2.4\n")
    (tmp_path / "hourly.csv").write_text("time,pet_mm\n" + "".join(
        f"2026-07-01T{h:02d}:00,{v}\n" for h, v in zip(range(1, 5), (0.0, 0.6, 1.2, 0.0))))
    setup = write_setup(tmp_path / "storm", STORM)
    start, end = np.datetime64("2026-07-01T00:00"), np.datetime64("2026-07-01T03:00")
    daily = Forcing(setup, basin, ForcingSection(setup="x", pet="daily.csv"), tmp_path).pet(start, end, 0.0)
    np.testing.assert_allclose(daily, 0.1)  # 2.4 mm per day = 0.1 mm h-1 in every 10-minute step
    hourly = Forcing(setup, basin, ForcingSection(setup="x", pet="hourly.csv"), tmp_path).pet(start, end, 0.0)
    np.testing.assert_allclose(hourly, np.repeat([0.0, 0.6, 1.2], 6))
    state = cold_state(basin, start, 0.02, 0.85)
    dry = np.zeros((18,) + basin.grid.shape, np.float32)
    constant, after_constant = advance(basin, state, dry, 0.1)
    from_file, after_file = advance(basin, state, dry, hourly)
    from_daily, after_daily = advance(basin, state, dry, daily)
    np.testing.assert_allclose(from_daily.lateral, constant.lateral, rtol=1e-12)
    np.testing.assert_array_equal(from_file.lateral, constant.lateral)  # no rain: runoff drains free water only
    lost = (basin.model.storage(basin.table, after_constant.runoff) - basin.model.storage(basin.table, after_file.runoff))
    k, im = _k_im()
    np.testing.assert_allclose(lost, k * (1 - im) * (1.8 - 0.3), rtol=1e-9)


def test_qpf_is_picked_up_after_the_nowcast_in_a_demo_cycle(tmp_path):
    """A uniform 3 mm h-1 lat/lon QPF (the demo basin is on UTM 50N) in the forecast hour after the nowcast:
    the analysis and the nowcast hour are unchanged, the basin gets 3 mm more rain and more lateral inflow."""
    lon, lat = np.arange(116.5, 119.01, 0.1), np.arange(41.2, 39.19, -0.1)
    ends = np.datetime64("2026-07-01T02:00") + np.arange(1, 7) * np.timedelta64(1, "h")
    latlon_dataset(np.full((6, len(lat), len(lon)), 3.0), ends, lon, lat).to_netcdf(tmp_path / "qpf_2026070102.nc")
    plain = run_cycle(_demo_config(tmp_path / "plain"), cold=True, stage="forecast")
    with_qpf = run_cycle(_demo_config(tmp_path / "qpf", qpf=f'path = "{tmp_path}/qpf_{{issue:%Y%m%d%H}}.nc"'),
                         cold=True, stage="forecast")
    assert plain["forecast_stage"]["qpf_rain_mm"] == 0.0 and plain["forecast_stage"]["rain_after_nowcast"] == "none (no QPF)"
    assert with_qpf["forecast_stage"]["qpf_rain_mm"] == pytest.approx(3.0, abs=1e-6)
    assert "qpf_{issue:%Y%m%d%H}.nc" in with_qpf["forecast_stage"]["rain_after_nowcast"]
    out_plain, out_qpf = (Path(s["folder"]) for s in (plain, with_qpf))
    with xr.open_dataset(out_plain / "analysis.nc") as a, xr.open_dataset(out_qpf / "analysis.nc") as b:
        np.testing.assert_array_equal(a.streamflow.values, b.streamflow.values)
    with xr.open_dataset(out_plain / "forecast_qlat.nc") as a, xr.open_dataset(out_qpf / "forecast_qlat.nc") as b:
        qa, qb = a.qlat.values, b.qlat.values
    np.testing.assert_array_equal(qa[:6], qb[:6])  # the nowcast hour
    assert qb[6:].sum() > qa[6:].sum() * 1.05
    with xr.open_dataset(out_qpf / "forecast.nc") as ds:
        assert "QPF" in ds.attrs["rain_after_nowcast"]
    assert json.loads((out_qpf / "summary.json").read_text())["forecast_stage"]["pet"].startswith("constant")


def _k_im():
    from hydro.core.workspace import packaged
    from hydro.io.parameters import read_parameter_set
    from hydro.runoff import Xinanjiang

    values = read_parameter_set(packaged("models", "xaj/grid_default.toml"), "xaj", Xinanjiang(1.0).parameter_names)
    names = list(Xinanjiang(1.0).parameter_names)
    return values[names.index("K")], values[names.index("IM")]


def _demo_config(folder: Path, qpf: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cycle.toml"
    path.write_text('[cycle]\nbasin = "demo"\nstart = "2026-07-01T00:00:00"\nhours = 2\nforecast_hours = 2\n'
                    'nowcast_hours = 1\noutput_dir = "out"\nstate_dir = "state"\n[forcing]\nsetup = "demo_storm.toml"\n'
                    + (f"[forcing.qpf]\n{qpf}\n" if qpf else ""))
    return path


def test_gridded_pet_netcdf_is_regridded_and_spread_over_its_day(tmp_path):
    """Daily PET amounts [mm] on a lat/lon grid: each basin cell gets its QPF-style regridded value / 24 per hour."""
    lon, lat = np.arange(8.0, 9.01, 0.1), np.arange(47.0, 45.99, -0.1)
    pet = np.broadcast_to((2.0 + (lon - 8.0) * 10.0)[None, None, :], (2, len(lat), len(lon)))  # 2..12 mm per day
    ends = np.array(["2026-07-02T00:00", "2026-07-03T00:00"], "datetime64[ns]")
    latlon_dataset(pet, ends, lon, lat, "pet", "mm", 1.0).to_netcdf(tmp_path / "pet.nc")
    setup = write_setup(tmp_path, STORM)
    forcing = Forcing(setup, SMALL, ForcingSection(setup="x", pet="pet.nc"), tmp_path)
    field = forcing.pet(np.datetime64("2026-07-01T22:00"), np.datetime64("2026-07-02T02:00"), 0.1)
    assert field.shape == (24,) + SMALL.grid.shape
    np.testing.assert_allclose(field[:, :, 0], 5.0 / 24.0, rtol=1e-6)  # 8.30-8.31 E lies in the 8.25-8.35 E cell
    np.testing.assert_allclose(field[:, :, -1], 9.0 / 24.0, rtol=1e-6)  # 8.69-8.70 E in 8.65-8.75 E
    assert forcing.pet_source.startswith("file pet.nc")
    with pytest.raises(InputDataError, match=r"pet.nc: pet: no data for the 10 minutes ending 2026-07-03T00:10"):
        forcing.pet(np.datetime64("2026-07-02T23:00"), np.datetime64("2026-07-03T01:00"), 0.1)
