"""Cases of the independent hostile sweep fixed last: each refused in one line naming the file or option and the
value, nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.cli import main


def _one_line(capsys, code, *needles):
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_manning_n_no_channel_has_is_refused(tmp_path, capsys):
    """n = 1e6 at a section was accepted and the run completed."""
    rows = ["section,chainage_m,station_m,elevation_m,manning_n"]
    for k, x in enumerate((0.0, 1000.0, 2000.0)):
        for st, el in ((0.0, 105.0), (1.0, 100.0), (21.0, 100.0), (22.0, 105.0)):
            n = 1e6 if (k, st) == (1, 1.0) else 0.03
            rows.append(f"XS{k},{x},{st},{el - 0.001 * x},{n if st < 22.0 else ''}")
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "q.csv").write_text("time,discharge_m3s\n2024-07-01T00:00,50\n2024-07-01T06:00,80\n")
    code = main(["hydraulics", "run", "--sections", str(tmp_path / "s.csv"), "--upstream", str(tmp_path / "q.csv"),
                 "--downstream", "normal", "--output", str(tmp_path / "out.nc")])
    _one_line(capsys, code, "s.csv", "XS1", "manning_n 1e+06")
    assert not (tmp_path / "out.nc").exists()


def test_an_inflow_no_river_carries_is_refused(tmp_path, capsys):
    """An inflow of 1e30 m3/s was reported as the dam overtopping, naming neither the file nor the value."""
    from tests.io.test_cli_reservoir import PROB_822

    (tmp_path / "res.toml").write_text(PROB_822)
    (tmp_path / "in.csv").write_text("time,inflow_m3s\n2024-07-01T00:00,60\n2024-07-01T01:00,1e30\n")
    code = main(["reservoir", "route", str(tmp_path / "res.toml"), "--inflow", str(tmp_path / "in.csv"),
                 "--output", str(tmp_path / "o.csv")])
    _one_line(capsys, code, "in.csv", "row 3", "'1e30'")
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("name", ["", "  ", "a/b"])
def test_a_basin_needs_a_name(tmp_path, capsys, name):
    with pytest.raises(SystemExit) as exit_:
        main(["basin", "build", "--dem", str(tmp_path / "dem.tif"), "--outlet", "8.0,47.0", "--name", name,
              "--output", str(tmp_path / "b")])
    _one_line(capsys, exit_.value.code, "--name", "not a basin name")
    assert not (tmp_path / "b").exists()


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # writing the PNG itself
def test_a_png_named_tif_is_one_line(tmp_path, capsys):
    """rasterio's NotGeoreferencedWarning added two lines to the refusal."""
    import rasterio

    with rasterio.open(tmp_path / "dem.tif", "w", driver="PNG", width=8, height=8, count=1, dtype="uint8") as dst:
        dst.write(np.full((1, 8, 8), 7, np.uint8))
    code = main(["basin", "build", "--dem", str(tmp_path / "dem.tif"), "--outlet", "8.0,47.0", "--name", "x",
                 "--output", str(tmp_path / "b")])
    _one_line(capsys, code, "dem.tif", "no CRS")
    assert not (tmp_path / "b").exists()
