"""Peer comparison: ``hydro hydraulics run`` against EPA SWMM 5.2's dynamic wave on the same 15 km
trapezoidal reach and reservoir release (tests/data/hydraulics/swmm_trapezoid/, made by the script there,
mesh-converged at 62.5 m / 1 s). Peaks at 5, 10 and 15 km within 1 %, peak times within 10 min."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "hydraulics" / "swmm_trapezoid"


def peak(t_h, q):
    """Peak value and time [h], refined by a parabola through the three highest samples."""
    k = int(np.argmax(q))
    y0, y1, y2 = q[k - 1], q[k], q[k + 1]
    shift = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return y1 - 0.25 * (y0 - y2) * shift, t_h[k] + shift * (t_h[1] - t_h[0])


@pytest.fixture(scope="module")
def hydro_run(tmp_path_factory):
    if not (DATA / "swmm_reference.csv").is_file():
        pytest.skip(f"SWMM reference not found in {DATA}")
    out = tmp_path_factory.mktemp("swmm") / "out.nc"
    assert main(["hydraulics", "run", "--sections", str(DATA / "sections.csv"), "--upstream", str(DATA / "inflow.csv"),
                 "--downstream", "normal", "--output-interval", "60", "--output", str(out)]) == 0
    with xr.open_dataset(out) as ds:
        return ds.load()


@pytest.mark.parametrize("km", [5, 10, 15])
def test_peaks_match_swmm_dynamic_wave(hydro_run, km):
    """Measured at the defaults (250 m, 30 s; 50 m / 5 s changes the peaks by < 0.01 %): peaks -0.17 %,
    -0.33 %, -0.43 %, times -0.1, +0.2, +0.5 min at 5, 10, 15 km; whole hydrographs within 0.23 %, 0.51 %,
    0.70 % of the peak. hydro attenuates the peak by 47 m3/s over 15 km, SWMM by 42."""
    ref = pd.read_csv(DATA / "swmm_reference.csv")
    t_ref = (pd.to_datetime(ref["time"]) - pd.to_datetime(ref["time"]).iloc[0]).dt.total_seconds().to_numpy() / 3600
    q_ref, t_peak_ref = peak(t_ref, ref[f"discharge_{km * 1000}m_m3s"].to_numpy())
    series = hydro_run["discharge"].sel(chainage=km * 1000.0)
    t = (series["time"].values - series["time"].values[0]) / np.timedelta64(1, "h")
    q, t_peak = peak(t, series.values)
    assert q == pytest.approx(q_ref, rel=0.01)
    assert abs(t_peak - t_peak_ref) * 60 < 10
    # the whole hydrograph, not only its peak: within 1 % of the peak at every minute
    on_ref = np.interp(t_ref, t, series.values)
    assert np.abs(on_ref - ref[f"discharge_{km * 1000}m_m3s"].to_numpy()).max() < 0.01 * q_ref
