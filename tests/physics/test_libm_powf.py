"""The NWM solver's powers R^(2/3) and R^(5/3) come from glibc's powf algorithm inlined (hydro.kernels.libm), not a
libm call: they must be libm's bits for every float32, as t-route's reference is (tests/regression)."""

import platform

import numpy as np
import pytest

from hydro.kernels import libm

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                                reason="the inlined powf reproduces glibc's; this libm is another")


def _bits(lo: float, hi: float) -> tuple[int, int]:
    return int(np.float32(lo).view(np.int32)), int(np.float32(hi).view(np.int32))


def test_every_float_of_a_hydraulic_radius_is_libm_powf():
    # every float32 from 2^-12 to 2^12 m (201 M values; hydraulic radii are 1e-3 to 1e2 m), scalar and lane versions
    lo, hi = _bits(2.0**-12, 2.0**12)
    assert libm.count_libm_differences(lo, hi) == 0
    assert libm.count_lane_differences(lo, hi) == 0


def test_special_and_far_values_are_libm_powf():
    # zero, subnormals, the fallback's edges, inf, NaN, negatives: libm's own answer (the lanes call it there)
    edges = [0.0, 1e-45, 1e-40, 2.0**-126, 2.0**-75, 2.0**75, 3.0e38, np.inf, np.nan, -1.0, -0.0]
    for x in edges:
        b = int(np.float32(x).view(np.uint32))
        assert libm.count_libm_differences(b, b + 1) == 0, x
        assert libm.count_lane_differences(b, b + 1) == 0, x
    lo, hi = _bits(2.0**-80, 2.0**-70)  # across the lanes' lower limit
    assert libm.count_lane_differences(lo, hi) == 0


def test_chunks_spread_over_all_float32_are_libm_powf():
    # 512 runs of 8,192 consecutive bit patterns spread over all 2^32 (positive, negative, NaN payloads). The whole
    # range was run once when this was written (libm.count_libm_differences(0, 1 << 32) and count_lane_differences:
    # 0 and 0, ~3 min on 2 cores)
    for start in np.linspace(0, (1 << 32) - 8192, 512).astype(np.int64):
        assert libm.count_libm_differences(int(start), int(start) + 8192) == 0, hex(start)
        assert libm.count_lane_differences(int(start), int(start) + 8192) == 0, hex(start)
