"""Calibration skill on real catchments (shared/data/catchments), split-sample, as `hydro calibrate` runs it.

Floors sit below the figures measured with the default settings (see the issue notes) and at or
above the peer implementations listed in the catchments README, so a regression in the kernels,
the optimiser or the scoring shows up here.
"""

from __future__ import annotations

import numpy as np

from hydro.stages.calibrate import CalibrateOptions, run_calibration


def _run(path, model, split, tmp_path, **kw):
    warmup, calibration, validation = split
    return run_calibration(CalibrateOptions(data=path, model=model, warmup=warmup, calibration=calibration,
                                            validation=validation, output=tmp_path / f"{model}.toml", plots=False,
                                            progress=False, **kw))


def test_sieve_hourly_xaj(catchments_dir, tmp_path):
    summary = _run(catchments_dir / "sieve_fornacina_hourly" / "sieve_fornacina_hourly.nc", "xaj",
                   ("1992-01-01/1992-03-31", "1992-04-01/1994-12-31", "1995-01-01/1996-12-31"), tmp_path)
    assert summary["calibration"]["nse"] > 0.92  # peer XAJ 0.88
    assert summary["validation"]["nse"] > 0.75 and summary["validation"]["kge"] > 0.80  # peer 0.78 / 0.81
    assert summary["evaluations"] == 10_000


ARNO_SPLIT = ("1992-01-01/1992-12-31", "1993-01-01/2002-12-31", "2003-01-01/2013-12-31")


def test_arno_daily_gr4j(catchments_dir, tmp_path):
    # basins/catchments/arno_subbiano_daily.toml moves the rain back to the day it fell (see there)
    summary = _run(catchments_dir / "arno_subbiano_daily" / "arno_subbiano_daily.nc", "gr4j", ARNO_SPLIT, tmp_path)
    assert summary["precipitation_lead_steps"] == 1
    assert summary["calibration"]["nse"] > 0.90 and summary["validation"]["nse"] > 0.84  # peers 0.78-0.79


def test_arno_rain_as_stamped_is_a_day_late(catchments_dir, tmp_path):
    # The same calibration on the record exactly as stamped: worse on the calibration period itself
    # (the evidence the catchment description cites), and simulated peaks a day late more often.
    path = catchments_dir / "arno_subbiano_daily" / "arno_subbiano_daily.nc"
    aligned = _run(path, "gr4j", ARNO_SPLIT, tmp_path)
    stamped = _run(path, "gr4j", ARNO_SPLIT, tmp_path, use_catchment=False)
    assert stamped["precipitation_lead_steps"] == 0
    assert stamped["calibration"]["nse"] < aligned["calibration"]["nse"] - 0.01

    def late(summary):
        return sum(e["peak_time_error_h"] > 0 for e in summary["calibration"]["events"])

    assert late(stamped) > late(aligned)


def test_biliu_event_calibration_scores_events_per_gbt22482(catchments_dir, tmp_path):
    summary = _run(catchments_dir / "biliuhe_hourly" / "biliuhe_hourly.nc", "xaj",
                   ("2012-06-10/2012-07-09", "2012-07-10/2017-08-31", "2017-09-01/2022-08-31"), tmp_path,
                   objective="nse_events")
    val = summary["validation"]
    # suspect windows (inflow back-calculation artefacts) are excluded, only 'ok' events scored
    assert set(val["events_excluded"]) == {"2018032509", "2018080505"} and val["n_events"] == 11
    assert val["qr_peak"] >= 36.0  # peers: 27-36 % of peaks within 20 %
    assert np.isfinite(val["dc_mean"]) and val["grade"] in {"A", "B", "C", "-"}
