"""Every real radar format in shared/data/radar/original reads into rainfall_rate(time, y, x) [mm h-1]."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import xarray as xr

from hydro.core.errors import InputDataError
from hydro.io.radar import read_radar
from hydro.io.radar_formats import ZR, read_odim


def test_every_original_file_reads(radar_dir):
    files = sorted(p for p in (radar_dir / "original").rglob("*") if p.is_file())
    assert len(files) == 15
    for path in files:
        frames = read_radar(path)
        assert frames.rate.ndim == 3 and frames.rate.shape[0] == 1 and frames.rate.dtype == np.float32
        assert frames.crs is not None and frames.transform.a > 0 and frames.transform.e < 0
        v = frames.rate[0]
        assert np.isnan(v).any() and (v == 0).any() and (np.nan_to_num(v) > 0.1).any(), path.name
        assert np.nanmin(v) >= 0.0


def test_cell_size_follows_the_projection_units(radar_dir):
    """Motion smoothing and STEPS' motion perturbations are in km, so the cell side must be too."""
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    assert read_radar(radar_dir / "knmi_20100826.nc").cell_km == pytest.approx(1.0)  # stereographic in km
    assert read_radar(radar_dir / "mch_20160711.nc").cell_km == pytest.approx(1.0)  # Swiss grid in metres
    geotiff = next((radar_dir / "original" / "fmi_geotiff").iterdir())
    assert read_radar(geotiff).cell_km == pytest.approx(0.25, rel=1e-4)
    frames = read_radar(radar_dir / "mch_20160711.nc")
    frames.crs, frames.transform = CRS.from_epsg(4326), Affine(0.01, 0.0, 10.0, 0.0, -0.01, 60.0 + 3.2)
    # 0.01 deg at ~60 N: 1.113 km north-south, 0.557 km east-west; geometric mean 0.787 km
    assert frames.cell_km == pytest.approx(0.787, rel=0.01)


def test_knmi_hdf5_and_mch_gif_equal_the_event_netcdf(radar_dir):
    """The event NetCDFs hold what pySTEPS decodes from the same originals (a trusted peer's output)."""
    for folder, event, rtol in (("knmi_hdf5", "knmi_20100826.nc", 0.0), ("mch_gif", "mch_20160711.nc", 2e-7)):
        with xr.open_dataset(radar_dir / event) as ds:
            for path in sorted((radar_dir / "original" / folder).iterdir()):
                frames = read_radar(path)
                ref = ds.rainfall_rate.sel(time=frames.times[0]).values
                np.testing.assert_array_equal(np.isnan(ref), np.isnan(frames.rate[0]))
                np.testing.assert_allclose(frames.rate[0], ref, rtol=rtol, equal_nan=True)
                y, x = frames.coords()
                np.testing.assert_allclose(x, ds.x.values)
                np.testing.assert_allclose(y, ds.y.values)


def test_odim_keeps_nodata_and_undetect_apart_and_converts_reflectivity(radar_dir):
    rate = read_radar(radar_dir / "original/odim_hdf5_opera/T_PAAH22_C_EUOC_20241126010000.hdf")
    assert rate.quantity == "RATE" and rate.crs.to_dict()["proj"] == "laea"
    v = rate.rate[0]
    assert 0.3 < np.isnan(v).mean() < 0.7 and (v == 0).mean() > 0.3  # outside coverage vs measured dry
    dbz = read_odim(radar_dir / "original/odim_hdf5_opera/T_PABV21_C_EUOC_20241126010000.hdf")
    assert dbz.quantity == "DBZH"
    halved = read_odim(radar_dir / "original/odim_hdf5_opera/T_PABV21_C_EUOC_20241126010000.hdf", ZR(a=400.0, b=1.6))
    wet = np.nan_to_num(dbz.rate[0]) > 0
    np.testing.assert_allclose(halved.rate[0][wet], dbz.rate[0][wet] * 0.5 ** (1 / 1.6), rtol=1e-5)


def test_bad_radar_files_give_one_clear_error(radar_dir, tmp_path):
    truncated = tmp_path / "truncated.hdf"
    data = (radar_dir / "original/odim_hdf5_opera/T_PAAH22_C_EUOC_20241126010000.hdf").read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputDataError, match="truncated"):
        read_radar(truncated)
    with pytest.raises(InputDataError, match="no VRAD data .*quantities: RATE"):
        read_odim(radar_dir / "original/odim_hdf5_opera/T_PAAH22_C_EUOC_20241126010000.hdf", quantity="VRAD")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputDataError, match="unknown radar format"):
        read_radar(text)
    gif = tmp_path / "AQC161932200V.gif"
    shutil.copy(radar_dir / "original/mch_gif/AQC161932200V_00005.801.gif", gif)
    assert read_radar(gif).times[0] == np.datetime64("2016-07-11T22:00")


def test_a_directory_of_frames_is_one_series_and_nowcasts(radar_dir, tmp_path):
    from hydro.stages.nowcast import NowcastOptions, run_nowcast

    frames = read_radar(radar_dir / "original" / "knmi_hdf5")
    assert len(frames.times) == 4 and frames.step == np.timedelta64(5, "m")
    summary = run_nowcast(NowcastOptions(radar=radar_dir / "original" / "knmi_hdf5", issue_time="2010-08-26T03:35",
                                         lead_minutes=30, output=tmp_path / "nc.nc"))
    assert summary["fields"] == 3
    series = tmp_path / "series"
    series.mkdir()
    for name in ("RAD_NL25_RAP_5min_201008260320.h5", "RAD_NL25_RAP_5min_201008260330.h5",
                 "RAD_NL25_RAP_5min_201008260335.h5"):
        shutil.copy(radar_dir / "original" / "knmi_hdf5" / name, series / name)
    with pytest.raises(InputDataError, match="missing or empty frame.*03:25"):
        run_nowcast(NowcastOptions(radar=series, issue_time="2010-08-26T03:35", lead_minutes=30,
                                   output=tmp_path / "gap.nc"))
    assert not (tmp_path / "gap.nc").exists()
    shutil.copy(series / "RAD_NL25_RAP_5min_201008260335.h5", series / "copy.h5")
    with pytest.raises(InputDataError, match="two files hold the frame at 2010-08-26T03:35"):
        read_radar(series)
