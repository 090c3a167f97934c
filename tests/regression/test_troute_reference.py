"""hydro route against the t-route reference run on the real Lower Colorado network.

See shared/data/nwm_lower_colorado/README.md: the reference is bit-identical to t-route (MC
kernel built with -finit-local-zero). Compared on the 10,877 routed segments, values > 1 m3/s.
"""

import numpy as np
import pytest
import xarray as xr

from hydro.cli import main

THRESHOLDS = {"nwm": (1e-5, 1e-3), "fast": (1e-5, 1e-2)}  # (median, 99.9th percentile) relative error


def _route(nwm_dir, out, *extra):
    args = [
        "route", "--routelink", str(nwm_dir / "original/RouteLink.nc"),
        "--lakeparm", str(nwm_dir / "original/LAKEPARM.nc"),
        "--lateral", str(nwm_dir / "original/channel_forcing"), "--dt", "300", "--output", str(out),
        "--no-progress", *extra,
    ]
    assert main(args) == 0
    return xr.load_dataset(out)


def _relative_errors(flow, ref_flow, is_lake):
    mask = (ref_flow > 1.0) & ~is_lake[None, :]
    return np.abs(flow - ref_flow)[mask] / ref_flow[mask]


@pytest.fixture(scope="module")
def reference(nwm_dir):
    return xr.load_dataset(nwm_dir / "reference_flow_troute_mc.nc")


@pytest.mark.parametrize("solver", ["nwm", "fast"])
def test_cold_shortts_hourly(nwm_dir, reference, tmp_path, solver):
    out = _route(nwm_dir, tmp_path / "OUT.nc", "--mc-solver", solver)
    assert out.streamflow.attrs["units"] == "m3 s-1" and out.sizes["time"] == 28
    assert int(out.is_lake.sum()) == 30 and int((out.lake_interior == 0).sum()) == 10_907
    assert out.sizes["feature_id"] == 11_278  # every RouteLink reach kept, lake-interior ones flagged
    ref = reference.flow_hourly.sel(experiment="cold_shortts").values[1:]
    flow = out.streamflow.sel(feature_id=reference.feature_id.values).values
    rel = _relative_errors(flow, ref, reference.is_lake.values)
    median_max, p999_max = THRESHOLDS[solver]
    assert np.median(rel) <= median_max
    assert np.percentile(rel, 99.9) <= p999_max
    if solver == "nwm":  # bit for bit on values > 1 m3/s; lakes too
        assert rel.max() == 0.0
        elev = out.water_sfc_elev.sel(lake_id=reference.lake.values).values
        np.testing.assert_array_equal(elev, reference.lake_water_elevation_hourly.sel(experiment="cold_shortts").values[1:])


@pytest.mark.parametrize("solver", ["nwm", "fast"])
def test_warm_shortts_every_step(nwm_dir, reference, tmp_path, solver):
    # Warm state as the reference defines it: NWM streamflow at t0 (NaN -> 0), lake node = NWM
    # flow at its outlet link, depth 0, lakes at the cold-start elevation.
    lateral = xr.load_dataset(nwm_dir / "lateral_inflow.nc")
    q0 = np.nan_to_num(lateral.nwm_streamflow.isel(time=0).to_series())
    q0 = dict(zip(lateral.feature_id.values.tolist(), q0.tolist()))
    for lake, outlet in zip(reference.lake.values.tolist(), reference.lake_outlet_link.values.tolist()):
        q0[lake] = q0[outlet]
    fid = reference.feature_id.values
    state = xr.Dataset(
        {"streamflow": ("feature_id", np.array([q0[f] for f in fid.tolist()], np.float32)),
         "depth": ("feature_id", np.zeros(fid.size, np.float32))},
        coords={"feature_id": fid},
    )
    state.to_netcdf(tmp_path / "warm.nc")
    out = _route(nwm_dir, tmp_path / "OUT.nc", "--mc-solver", solver, "--initial-state", str(tmp_path / "warm.nc"),
                 "--output-interval", "300")
    assert out.sizes["time"] == 336
    ref = reference.flow.values[1:]
    flow = out.streamflow.sel(feature_id=fid).values
    rel = _relative_errors(flow, ref, reference.is_lake.values)
    median_max, p999_max = THRESHOLDS[solver]
    assert np.median(rel) <= median_max
    assert np.percentile(rel, 99.9) <= p999_max
    if solver == "nwm":
        depth = out.depth.sel(feature_id=fid).values
        channel = ~reference.is_lake.values
        np.testing.assert_allclose(depth[:, channel], reference.depth.values[1:, channel], rtol=1e-5, atol=1e-6)
