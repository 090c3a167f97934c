"""Cases of the independent hostile sweep (issue 17) for ``hydro nowcast`` and the hydraulics' downstream
boundary: each refused in one line naming the file or option, the variable and the value, nothing written;
or, where the input is merely redundant, accepted with what was replaced logged.

The radar inputs are small synthetic CF NetCDF files (a rain blob moving east on a 1 km grid, 5-minute
frames), damaged the way the sweep damaged the KNMI event file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from .conftest import run_cli

T0 = np.datetime64("2010-08-26T00:00", "ns")
STEP = np.timedelta64(5, "m")


@pytest.fixture(autouse=True)
def _output_folder(tmp_path):
    (tmp_path / "out").mkdir()


def assert_one_line(code: int, err: str, expected_code: int, *needles: str) -> None:
    assert code == expected_code, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and ": error:" in lines[0], err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def radar_dataset(ny: int = 32, nx: int = 32, frames: int = 10) -> xr.Dataset:
    """rainfall_rate(time, y, x) [mm h-1]: a Gaussian storm moving one cell per frame east, north-up 1 km grid
    in the Dutch RD projection (EPSG:28992), as hydro's CF writer lays it out."""
    from hydro.io.radar import grid_mapping_attrs

    y = 450_500.0 - 1000.0 * np.arange(ny)
    x = 100_500.0 + 1000.0 * np.arange(nx)
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    rate = np.stack([8.0 * np.exp(-((yy - ny / 2) ** 2 + (xx - 6 - k) ** 2) / 18.0) for k in range(frames)])
    times = T0 + np.arange(frames) * STEP
    return xr.Dataset(
        {"rainfall_rate": (("time", "y", "x"), rate.astype(np.float32),
                           {"units": "mm h-1", "grid_mapping": "crs"}),
         "crs": ((), np.int32(0), grid_mapping_attrs("EPSG:28992"))},
        coords={"time": times, "y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"})})


def write_radar(path: Path, ds: xr.Dataset) -> Path:
    ds.to_netcdf(path)
    return path


def nowcast(tmp_path: Path, radar: Path | str, issue: str = "2010-08-26T00:30", *extra) -> list:
    return ["nowcast", "--radar", radar, "--issue-time", issue, "--output", tmp_path / "out" / "now.nc",
            "--lead-minutes", "20", *extra]


def nothing_written(tmp_path: Path) -> bool:
    return not any((tmp_path / "out").iterdir())


def test_a_clean_synthetic_radar_nowcasts(tmp_path, capsys):
    """The base the damaged files below start from."""
    radar = write_radar(tmp_path / "radar.nc", radar_dataset())
    code, err = run_cli(capsys, *nowcast(tmp_path, radar))
    assert code == 0, err
    with xr.open_dataset(tmp_path / "out" / "now.nc") as ds:
        assert ds.rainfall_rate.shape == (2, 32, 32) and float(ds.rainfall_rate.max()) > 1.0


def test_a_grid_too_small_for_the_motion_is_refused(tmp_path, capsys):
    """6 x 6 cells: OpenCV's DIS optical flow raised a cv2.error traceback."""
    radar = write_radar(tmp_path / "radar.nc", radar_dataset(6, 6))
    code, err = run_cli(capsys, *nowcast(tmp_path, radar))
    assert_one_line(code, err, 3, "--radar grid of 6 x 6 cells", "at least 12 x 12", "--method persistence")
    assert nothing_written(tmp_path)
    code, err = run_cli(capsys, *nowcast(tmp_path, radar, "2010-08-26T00:30", "--method", "persistence"))
    assert code == 0, err  # persistence needs no motion


def test_a_meteoswiss_file_name_with_minute_99_is_refused(tmp_path, capsys):
    """AQC161932299: numpy's 'Minutes out of range' ValueError escaped as a traceback."""
    folder = tmp_path / "rd"
    folder.mkdir()
    (folder / "AQC161932299V_00005.801.gif").write_bytes(b"GIF89a" + bytes(64))
    code, err = run_cli(capsys, *nowcast(tmp_path, folder, "2016-07-11T22:15"))
    assert_one_line(code, err, 3, "AQC161932299V_00005.801.gif", "impossible time", "22:99", "minute 00-59")
    assert nothing_written(tmp_path)


def test_a_time_given_twice_with_different_frames_is_refused(tmp_path, capsys):
    """The first time repeated (every later frame 5 minutes late): accepted without a word."""
    ds = radar_dataset()
    ds = ds.assign_coords(time=np.r_[ds.time.values[:1], ds.time.values[:-1]])
    radar = write_radar(tmp_path / "radar.nc", ds)
    code, err = run_cli(capsys, *nowcast(tmp_path, radar))
    assert_one_line(code, err, 3, "radar.nc", "time 2010-08-26T00:00:00 is given twice", "rainfall_rate")
    assert nothing_written(tmp_path)


def test_an_identical_repeated_frame_is_dropped_with_a_warning(tmp_path, capsys, caplog):
    """A file concatenated with an overlap: the same frame twice is redundant, not wrong."""
    ds = radar_dataset()
    ds = xr.concat([ds.isel(time=slice(0, 5)), ds.isel(time=slice(3, 10))], dim="time", data_vars="minimal")
    radar = write_radar(tmp_path / "radar.nc", ds)
    code, err = run_cli(capsys, *nowcast(tmp_path, radar))
    assert code == 0, err
    assert "2 frame(s) repeated with the same time and identical rainfall_rate" in caplog.text
    clean = write_radar(tmp_path / "clean.nc", radar_dataset())
    code, err = run_cli(capsys, "nowcast", "--radar", clean, "--issue-time", "2010-08-26T00:30", "--output",
                        tmp_path / "clean_now.nc", "--lead-minutes", "20")
    assert code == 0, err
    with xr.open_dataset(tmp_path / "out" / "now.nc") as got, xr.open_dataset(tmp_path / "clean_now.nc") as want:
        np.testing.assert_array_equal(got.rainfall_rate.values, want.rainfall_rate.values)


def test_an_irregular_x_spacing_is_refused(tmp_path, capsys):
    """x stepping 1 km then 1.7 km mid-grid: the nowcast ran on it as if regular, exit 0."""
    ds = radar_dataset()
    ds = ds.assign_coords(x=ds.x.values + np.where(np.arange(ds.sizes["x"]) > 20, 700.0, 0.0))
    radar = write_radar(tmp_path / "radar.nc", ds)
    code, err = run_cli(capsys, *nowcast(tmp_path, radar))
    assert_one_line(code, err, 3, "radar.nc", "x coordinate is not evenly spaced", "largest deviation 700 m",
                    "1000 m step", "x[20] = 120500")
    assert nothing_written(tmp_path)


def test_an_issue_time_after_the_radar_names_the_span(tmp_path, capsys):
    """'need at least two frames, found 0' did not say the issue time lay a day after the data."""
    radar = write_radar(tmp_path / "radar.nc", radar_dataset())
    code, err = run_cli(capsys, *nowcast(tmp_path, radar, "2010-08-27T00:00"))
    assert_one_line(code, err, 3, "radar.nc", "2010-08-27T00:00 is outside the radar's time span",
                    "2010-08-26T00:00 .. 2010-08-26T00:45")
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(("issue", "needle"), [("99999-01-01T00:00", "year 99999 is out of range"),
                                               ("1677-01-01T00:00", "year 1677 is out of range"),
                                               ("2010-08-26T00:99", "not an ISO 8601 time")])
def test_an_absurd_issue_time_is_refused_by_the_command_line(tmp_path, capsys, issue, needle):
    """Year 99999 overflowed numpy's nanosecond times to 1793 and was reported as 'found 0 frames'."""
    radar = write_radar(tmp_path / "radar.nc", radar_dataset())
    code, err = run_cli(capsys, *nowcast(tmp_path, radar, issue))
    assert_one_line(code, err, 2, "argument --issue-time", needle)
    assert nothing_written(tmp_path)


def test_an_issue_time_with_an_offset_is_converted_to_utc(tmp_path, capsys):
    radar = write_radar(tmp_path / "radar.nc", radar_dataset())
    code, err = run_cli(capsys, *nowcast(tmp_path, radar, "2010-08-26T02:30+02:00"))
    assert code == 0, err
    with xr.open_dataset(tmp_path / "out" / "now.nc") as ds:
        assert str(ds.time.values[0])[:16] == "2010-08-26T00:40"


# --------------------------------------------------------------------------- hydraulics: the outlet condition
def _reach(tmp_path: Path) -> list:
    """Three trapezoid sections 1 km apart, bed 100 m falling 1 m/km, banks 5 m high; inflow 50 m3/s."""
    rows = ["section,chainage_m,station_m,elevation_m,manning_n"]
    for k, x in enumerate((0.0, 1000.0, 2000.0)):
        for st, el in ((0.0, 105.0), (5.0, 100.0), (25.0, 100.0), (30.0, 105.0)):
            rows.append(f"XS{k},{x},{st},{el - 0.001 * x},{0.03 if st < 30.0 else ''}")
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "q.csv").write_text("time,discharge_m3s\n2024-07-01T00:00,50\n2024-07-01T01:00,60\n"
                                    "2024-07-01T02:00,50\n")
    return ["hydraulics", "run", "--sections", tmp_path / "s.csv", "--upstream", tmp_path / "q.csv",
            "--output", tmp_path / "out" / "h.nc"]


@pytest.mark.parametrize(("kind", "text", "needles"), [
    ("rating", "water_level_m,discharge_m3s\n10,0\n11,500\n12,2000\n",
     ["r.csv", "rating water_level_m 10 m at row 2", "below the outlet section's thalweg", "'XS2'", "98 .. 103 m"]),
    ("rating", "water_level_m,discharge_m3s\n98.5,0\n100,100\n104,500\n",
     ["r.csv", "rating water_level_m 104 m at row 4", "above the outlet section's highest point", "98 .. 103 m"]),
    ("stage", "time,water_level_m\n2024-07-01T00:00,99\n2024-07-01T01:00,50\n2024-07-01T02:00,99\n",
     ["r.csv", "stage water_level_m 50 m at row 3", "below the outlet section's thalweg", "98 .. 103 m"]),
])
def test_an_outlet_level_outside_the_outlet_section_is_refused(tmp_path, capsys, kind, text, needles):
    """A rating 100 m below the bed (or a stage of 50 m) was refused as the *upstream* section not containing
    the flow; it is the boundary file's level that lies outside the outlet section."""
    (tmp_path / "r.csv").write_text(text)
    code, err = run_cli(capsys, *_reach(tmp_path), "--downstream", f"{kind}:{tmp_path / 'r.csv'}")
    assert_one_line(code, err, 3, *needles)
    assert nothing_written(tmp_path)


def test_an_outlet_rating_inside_the_section_runs(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("water_level_m,discharge_m3s\n98,0\n99,40\n100,120\n103,600\n")
    code, err = run_cli(capsys, *_reach(tmp_path), "--downstream", f"rating:{tmp_path / 'r.csv'}")
    assert code == 0, err
    with xr.open_dataset(tmp_path / "out" / "h.nc") as ds:
        assert np.isfinite(ds.water_level.values).all()
        assert 98.0 < float(ds.water_level[:, -1].min()) and float(ds.water_level[:, -1].max()) < 103.0


# --------------------------------------------------------------------------- round 3: radar formats, verify, states
def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "rd"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(("time", "gain", "needles"), [
    ("201609281699", "0.5", ["'Observation time' '201609281699'", "YYYYMMDDhhmm"]),
    ("201609281605", "half_dbz", ["attribute Gain = 'half_dbz' is not a number"]),
])
def test_a_geotiff_with_unreadable_metadata_is_refused(tmp_path, capsys, time, gain, needles):
    """FMI-style GeoTIFF whose GDAL metadata gives the time 201609281699 or a Gain in words: strptime's and
    float()'s ValueError escaped as tracebacks."""
    import rasterio
    from rasterio.transform import Affine

    meta = (f'<GDALMetadata>\n<Item name="Observation time" format="YYYYMMDDhhmm">{time}</Item>\n'
            f'<Item name="Quantity" unit="dBZ">Corrected reflectivity</Item>\n<Item name="Gain">{gain}</Item>\n'
            '<Item name="Offset">-32.0</Item>\n<Item name="Nodata">255</Item>\n</GDALMetadata>')
    path = _folder(tmp_path) / "201609281605_FINUTM.tif"
    with rasterio.open(path, "w", driver="GTiff", width=16, height=16, count=1, dtype="uint8", crs="EPSG:3067",
                       transform=Affine(1000.0, 0.0, 300_000.0, 0.0, -1000.0, 7_000_000.0)) as dst:
        dst.write(np.full((1, 16, 16), 100, np.uint8))
        dst.update_tags(GDAL_METADATA=meta)
    code, err = run_cli(capsys, *nowcast(tmp_path, path.parent, "2016-09-28T16:05"))
    assert_one_line(code, err, 3, "201609281605_FINUTM.tif", *needles)
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(("header", "needle"), [
    (b"P5\n# obstime 201609281605\n760 1226", "header ends before its width, height and maximum value"),
    (b"P5\n# obstime 201609281605\nwide tall\n255\n", "'wide tall' should hold whole numbers"),
    (b"P5\n# obstime 201609281605\n16 16\n255\n" + bytes(100), "holds 100 values, header says 16 x 16"),
])
def test_a_damaged_pgm_header_is_refused(tmp_path, capsys, header, needle):
    """A PGM header without a line end (ValueError from bytes.index), numbers written as words (int()) or too
    few pixels (numpy's frombuffer): tracebacks before."""
    path = _folder(tmp_path) / "201609281605_fmi.radar.composite.lowest_FIN_SUOMI1.pgm"
    path.write_bytes(header)
    code, err = run_cli(capsys, *nowcast(tmp_path, path.parent, "2016-09-28T16:05"))
    assert_one_line(code, err, 3, "FIN_SUOMI1.pgm", needle)
    assert nothing_written(tmp_path)


def test_an_odim_cell_size_written_as_text_is_refused(tmp_path, capsys):
    """where/xscale = '2km': float() raised a ValueError traceback."""
    import h5py

    path = _folder(tmp_path) / "T_PAAH22_C_EUOC_20241126010000.hdf"
    with h5py.File(path, "w") as h5:
        h5.attrs["Conventions"] = np.bytes_(b"ODIM_H5/V2_2")
        what = h5.create_group("what")
        what.attrs.update({"date": np.bytes_(b"20241126"), "time": np.bytes_(b"010000"), "quantity": np.bytes_(b"RATE")})
        where = h5.create_group("where")
        where.attrs.update({"projdef": np.bytes_(b"+proj=laea +lat_0=55 +lon_0=10 +ellps=WGS84"),
                            "xscale": np.bytes_(b"2km"), "yscale": 2000.0, "UL_lon": 0.0, "UL_lat": 60.0})
        h5.create_dataset("dataset1/data1/data", data=np.zeros((16, 16), np.uint8))
    code, err = run_cli(capsys, *nowcast(tmp_path, path.parent, "2024-11-26T01:00"))
    assert_one_line(code, err, 3, "T_PAAH22_C_EUOC_20241126010000.hdf", "xscale = '2km' is not a number")
    assert nothing_written(tmp_path)


def test_a_knmi_file_without_its_pixel_size_is_refused(tmp_path, capsys, radar_dir):
    """geographic/geo_pixel_size_x deleted: a KeyError traceback."""
    import shutil

    import h5py

    source = sorted((radar_dir / "original" / "knmi_hdf5").iterdir())[-1]
    path = _folder(tmp_path) / source.name
    shutil.copy(source, path)
    path.chmod(0o644)
    with h5py.File(path, "a") as h5:
        del h5["geographic"].attrs["geo_pixel_size_x"]
    code, err = run_cli(capsys, *nowcast(tmp_path, path.parent, "2010-08-26T03:35"))
    assert_one_line(code, err, 3, source.name, "geographic/geo_pixel_size_x missing")
    assert nothing_written(tmp_path)


@pytest.mark.parametrize("damage", ["no_units", "missing_value"])
def test_a_cf_time_without_units_or_value_is_refused(tmp_path, capsys, damage):
    """time as plain numbers was read as nanoseconds after 1970; a NaT time passed the reader."""
    ds = radar_dataset()
    if damage == "no_units":
        ds = ds.assign_coords(time=np.arange(ds.sizes["time"]) * 5)
        needle = "variable time is not a time coordinate"
    else:
        ds = ds.assign_coords(time=np.where(np.arange(ds.sizes["time"]) == 8, np.datetime64("NaT", "ns"), ds.time.values))
        needle = "time [8] is missing (NaT)"
    radar = write_radar(tmp_path / "radar.nc", ds)
    code, err = run_cli(capsys, *nowcast(tmp_path, radar))
    assert_one_line(code, err, 3, "radar.nc", needle)
    assert nothing_written(tmp_path)


def test_verify_refuses_an_issue_time_in_year_99999(tmp_path, capsys):
    radar = write_radar(tmp_path / "radar.nc", radar_dataset())
    code, err = run_cli(capsys, "verify", "--radar", radar, "--issue-times", "2010-08-26T00:15,99999-01-01T00:00",
                        "--lead-minutes", "10", "--methods", "persistence")
    assert_one_line(code, err, 2, "--issue-times", "year 99999 is out of range")


def test_an_initial_state_from_other_sections_is_refused(tmp_path, capsys):
    """A state saved on sections 50 m lower (same chainages) failed the first step as a numerical error naming
    the upstream section; it is the state that lies below the bed."""
    args = _reach(tmp_path)
    sections = (tmp_path / "s.csv").read_text()
    lowered = [sections.splitlines()[0]] + [
        ",".join(p[:3] + [f"{float(p[3]) - 50.0:g}"] + p[4:]) for p in (line.split(",") for line in sections.splitlines()[1:])]
    (tmp_path / "low.csv").write_text("\n".join(lowered) + "\n")
    code, err = run_cli(capsys, "hydraulics", "run", "--sections", tmp_path / "low.csv", "--upstream", tmp_path / "q.csv",
                        "--downstream", "normal", "--hours", "1", "--output", tmp_path / "low.nc",
                        "--final-state", tmp_path / "state.nc")
    assert code == 0, err
    code, err = run_cli(capsys, *args, "--downstream", "normal", "--initial-state", tmp_path / "state.nc")
    assert_one_line(code, err, 3, "state.nc", "below the bed there", "saved for other sections")
    assert nothing_written(tmp_path)


def test_float32_coordinates_of_a_regular_grid_are_taken(tmp_path):
    """The regularity check allows the rounding of float32 storage: northings near 7,600 km round to 0.5 m,
    0.2 % of a 250 m cell (FMI's 250.004 m grid), and the cell size is the mean step, not a rounded one."""
    from hydro.io.radar import read_radar

    ds = radar_dataset(ny=600, nx=16, frames=2)
    y = (7_600_000.0 - 125.0 - 250.004 * np.arange(ds.sizes["y"])).astype(np.float32)
    steps = np.diff(y.astype(np.float64))
    assert np.abs(steps - np.median(steps)).max() > 0.25  # rounding beyond 0.1 % of a cell
    ds = ds.assign_coords(y=("y", y, {"units": "m"}), x=("x", (ds.x.values * 0.250004).astype(np.float32), {"units": "m"}))
    frames = read_radar(write_radar(tmp_path / "radar.nc", ds))
    assert frames.transform.e == pytest.approx(-250.004, abs=0.02)
    assert frames.transform.a == pytest.approx(250.004, abs=1e-3)


def test_a_network_state_from_other_sections_is_refused(tmp_path, capsys):
    """The same for a network of main stems (tests/data/hydraulics/swmm_y): the state names the reach."""
    data = Path(__file__).resolve().parents[1] / "data" / "hydraulics" / "swmm_y"
    text = (data / "sections.csv").read_text().splitlines()
    lowered = [text[0]] + [",".join(p[:4] + [f"{float(p[4]) - 50.0:g}"] + p[5:]) for p in (r.split(",") for r in text[1:])]
    (tmp_path / "low.csv").write_text("\n".join(lowered) + "\n")
    common = ["--junctions", data / "junctions.csv", "--upstream", f"main={data / 'inflow_main.csv'}",
              "--upstream", f"trib={data / 'inflow_trib.csv'}", "--downstream", "normal"]
    code, err = run_cli(capsys, "hydraulics", "run", "--sections", tmp_path / "low.csv", *common, "--hours", "1",
                        "--output", tmp_path / "low.nc", "--final-state", tmp_path / "state.nc")
    assert code == 0, err
    code, err = run_cli(capsys, "hydraulics", "run", "--sections", data / "sections.csv", *common, "--hours", "2",
                        "--output", tmp_path / "out" / "h.nc", "--initial-state", tmp_path / "state.nc")
    assert_one_line(code, err, 3, "state.nc", "reach 'trib' section 'T000'", "below the bed there")
    assert nothing_written(tmp_path)
