"""Nowcast pieces against what is known exactly: advection, probability matching, QC, CRPS."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.transform import Affine

from hydro.core.errors import InputDataError
from hydro.io.radar import RadarFrames
from hydro.kernels import nowcast as kn
from hydro.nowcast.qc import QCPolicy, fill_not_measured, quality_control
from hydro.nowcast.sprog import SProg, Steps, _probability_match
from hydro.verification import Contingency, crps_ensemble


def _blob(ny, nx, cy, cx, width=6.0, peak=20.0):
    yy, xx = np.mgrid[0:ny, 0:nx]
    return peak * np.exp(-0.5 * ((yy - cy) ** 2 + (xx - cx) ** 2) / width**2)


def test_semi_lagrangian_moves_a_field_by_whole_cells_exactly():
    field = _blob(64, 64, 20, 20)
    u, v = np.full((64, 64), 2.0), np.full((64, 64), 1.0)  # 2 cells/step east, 1 south
    dy, dx = np.zeros((64, 64)), np.zeros((64, 64))
    out = np.empty((64, 64))
    for _ in range(5):
        kn.advance_displacement(u, v, dy, dx)
    kn.warp(field, dy, dx, 0.0, out)
    np.testing.assert_allclose(out[5:, 10:], field[:-5, :-10], atol=1e-12)
    assert (out[:5] == 0).all() and (out[:, :10] == 0).all()  # came from outside the grid


def test_sprog_tracks_a_translating_storm():
    """Three frames of a storm moving 1.5 cells/step: the 6-step nowcast overlaps the true position."""
    ny = nx = 96
    frames = np.stack([_blob(ny, nx, 30, 20 + 1.5 * k) + _blob(ny, nx, 60, 30 + 1.5 * k, 4, 8) for k in range(3)])
    truth = _blob(ny, nx, 30, 20 + 1.5 * 8) + _blob(ny, nx, 60, 30 + 1.5 * 8, 4, 8)
    fc = SProg(6).forecast(frames, 6).rates[-1]
    table = Contingency()
    table.add(fc, truth, 1.0)
    assert table.csi > 0.8
    # probability matching keeps the observed wet area (advection only softens the edges)
    assert abs((fc > 1.0).sum() / (frames[-1] > 1.0).sum() - 1.0) < 0.1


def test_probability_matching_keeps_order_and_values():
    rng = np.random.default_rng(0)
    forecast = rng.random((10, 10))
    target = np.sort(rng.gamma(0.5, 3.0, 100))
    out = _probability_match(forecast, target)
    np.testing.assert_array_equal(np.sort(out.ravel()), target)
    assert (np.argsort(out.ravel()) == np.argsort(forecast.ravel())).all()
    # a target with a dry floor: the wettest forecast cells take the wet values, the rest the floor
    dry_target = np.sort(np.concatenate([np.full(70, -15.0), rng.uniform(0, 20, 30)]))
    out = _probability_match(forecast, dry_target)
    wettest = np.argsort(forecast.ravel())[-30:]
    np.testing.assert_array_equal(np.sort(out.ravel()[wettest]), dry_target[70:])
    assert (np.delete(out.ravel(), wettest) == -15.0).all()


def test_ensemble_members_differ_and_are_reproducible():
    frames = np.stack([_blob(48, 48, 20, 15 + k) for k in range(3)])
    a = Steps(4, 3, seed=5).forecast(frames, 3).rates
    b = Steps(4, 3, seed=5).forecast(frames, 3).rates
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])
    # interval means accumulated as the members run equal the means of the stored steps
    pairs = Steps(4, 3, seed=5).forecast(frames, 4, per_output=2).rates
    full = Steps(4, 3, seed=5).forecast(frames, 4).rates
    np.testing.assert_allclose(pairs, full.reshape(3, 2, 2, 48, 48).mean(axis=2), rtol=1e-6, atol=1e-6)


def test_crps_limits():
    obs = np.array([0.0, 1.0, 5.0])
    assert np.allclose(crps_ensemble(np.repeat(obs[None], 10, axis=0), obs), 0.0)
    one = np.array([[1.0, 3.0, 2.0]])
    np.testing.assert_allclose(crps_ensemble(one, obs), np.abs(one[0] - obs))  # one member: CRPS = MAE


def _frames(rate, minutes):
    times = np.datetime64("2026-06-01T00:00", "ns") + np.array(minutes) * np.timedelta64(1, "m")
    return RadarFrames("test.h5", np.asarray(rate, np.float32), times, None, Affine(1000, 0, 0, 0, -1000, 0))


def test_quality_control_policy_counts_every_action():
    rate = np.zeros((3, 20, 20), np.float32)
    rate[:, 10, 10] = 30.0  # isolated spike (all neighbours measured, dry)
    rate[:, 2:6, 2:6] = 3.0  # a real rain area
    rate[1, 15, 15] = 900.0  # implausible
    rate[:, 0, :] = np.nan  # outside coverage
    frames, report = quality_control(_frames(rate, [0, 5, 10]), np.timedelta64(5, "m"))
    assert report["spike_cells"] == 3 and report["implausible_cells"] == 1
    assert (frames.rate[:, 10, 10] == 0).all() and np.isnan(frames.rate[1, 15, 15])
    assert (frames.rate[:, 3, 3] == 3.0).all() and np.isnan(frames.rate[:, 0, 0]).all()
    gap = _frames(rate[[0, 2]], [0, 10])
    with pytest.raises(InputDataError, match="1 missing or empty frame.*00:05"):
        quality_control(gap, np.timedelta64(5, "m"))
    filled, report = quality_control(gap, np.timedelta64(5, "m"), QCPolicy(missing_frames="persist"))
    assert len(filled.times) == 3 and report["filled_frames"] == 1
    with pytest.raises(InputDataError, match="not measured"):
        fill_not_measured(frames.rate, "error", "basin demo")
    assert np.isfinite(fill_not_measured(frames.rate, "zero", "basin demo")).all()


def test_motion_smoothing_is_in_km_and_checked():
    """The same storm on cells half the size moves the same physical distance; a negative scale is refused."""
    from hydro.core.errors import ConfigError
    from hydro.nowcast.sprog import estimate_motion

    ny = nx = 96
    frames = np.stack([_blob(ny, nx, 48, 30 + 1.5 * k, 8) for k in range(3)])
    wet = frames[-1] > 1.0
    u_plain, _ = estimate_motion(frames, 1.0, 0.0)
    u_km, _ = estimate_motion(frames, 2.0, 10.0)  # 10 km on 2 km cells: 5 cells, the same as below
    u_cells, _ = estimate_motion(frames, 1.0, 5.0)
    np.testing.assert_allclose(u_km, u_cells)
    assert abs(u_plain[wet].mean() - 1.5) < 0.05
    with pytest.raises(ConfigError, match="motion smoothing"):
        SProg(6, motion_smoothing_km=-1.0)
