"""Cross-section geometry: subdivided conveyance of a compound section against a hand calculation, and the
property tables the kernels interpolate against the exact geometry."""

from __future__ import annotations

import numpy as np
import pytest

from hydro.hydraulics.sections import CrossSection, Reach
from hydro.kernels.saint_venant import lookup

from .cases import trapezoid

# compound section: left floodplain 100 m at +3 m (n 0.06), channel 20 m wide 3 m deep with vertical walls
# (n 0.03), right floodplain 100 m at +3 m whose outer half is rougher (n 0.08 from station 170)
STATION = np.array([0.0, 0.0, 100.0, 100.0, 120.0, 120.0, 170.0, 220.0, 220.0])
ELEVATION = np.array([8.0, 3.0, 3.0, 0.0, 0.0, 3.0, 3.0, 3.0, 8.0])
MANNING = np.array([0.06, 0.06, 0.03, 0.03, 0.03, 0.05, 0.08, 0.08, np.nan])


def compound():
    return CrossSection("c", 0.0, STATION, ELEVATION, MANNING, 100.0, 120.0, "hand")


def test_compound_conveyance_equals_hand_calculation():
    """Water at 4.0 m. By hand (HEC-RAS subdivision: overbanks break at n changes, channel one part):
    left overbank   A = 100 x 1 = 100, P = 1 (wall) + 100 = 101, K = 100 (100/101)^(2/3) / 0.06
    channel         A = 20 x 4 = 80,   P = 3 + 20 + 3 = 26,       K = 80 (80/26)^(2/3) / 0.03
    right, n 0.05   A = 50 x 1 = 50,   P = 50,                    K = 50 (50/50)^(2/3) / 0.05 = 1000
    right, n 0.08   A = 50 x 1 = 50,   P = 50 + 1 (wall) = 51,    K = 50 (50/51)^(2/3) / 0.08
    alpha = A^2 sum(K^3/A^2) / K^3, beta = A sum(K^2/A) / K^2 with A = 280."""
    k = np.array([100 * (100 / 101) ** (2 / 3) / 0.06, 80 * (80 / 26) ** (2 / 3) / 0.03, 1000.0,
                  50 * (50 / 51) ** (2 / 3) / 0.08])
    a = np.array([100.0, 80.0, 50.0, 50.0])
    p = compound().properties(np.array([4.0]))
    np.testing.assert_allclose(p["subdivisions"][:, 0], k, rtol=1e-12)
    assert p["conveyance"][0] == pytest.approx(k.sum(), rel=1e-12)
    assert p["area"][0] == pytest.approx(280.0)
    assert p["top_width"][0] == pytest.approx(220.0)
    assert p["wetted_perimeter"][0] == pytest.approx(101 + 26 + 50 + 51)
    assert p["alpha"][0] == pytest.approx(280.0**2 * np.sum(k**3 / a**2) / k.sum() ** 3, rel=1e-12)
    assert p["beta"][0] == pytest.approx(280.0 * np.sum(k**2 / a) / k.sum() ** 2, rel=1e-12)


def test_composite_channel_n_when_the_channel_n_varies():
    """A channel with two n values is one subdivision with the Horton-Einstein n = (sum P n^1.5 / P)^(2/3)."""
    s = CrossSection("v", 0.0, np.array([0.0, 0.0, 10.0, 20.0, 20.0]), np.array([5.0, 0.0, 0.0, 0.0, 5.0]),
                     np.array([0.02, 0.02, 0.04, 0.04, np.nan]), 0.0, 20.0, "hand")
    p = s.properties(np.array([2.0]))
    perim = np.array([2.0, 10.0, 10.0, 2.0])
    n = np.array([0.02, 0.02, 0.04, 0.04])
    n_c = (np.sum(perim * n**1.5) / perim.sum()) ** (2 / 3)
    assert p["conveyance"][0] == pytest.approx(40.0 * (40.0 / 24.0) ** (2 / 3) / n_c, rel=1e-12)
    assert p["alpha"][0] == pytest.approx(1.0)


def test_tables_reproduce_the_geometry():
    """The kernel's lookup equals the exact geometry at table levels and stays within 0.1 % between them
    (area exact for straight-sided parts), across the floodplain's onset."""
    reach = Reach([compound(), CrossSection("d", 1000.0, STATION, ELEVATION - 0.5, MANNING, 100.0, 120.0, "hand")],
                  max_dx=1000.0)
    stages = np.linspace(0.3, 7.9, 97)
    exact = compound().properties(stages)
    for j, z in enumerate(stages):
        a, b, k, _, beta, _, alpha = lookup(reach.table, reach.z0, reach.nlev, reach.table_dz, 0, z)
        slot = 0.01 * 0.5
        assert a - slot == pytest.approx(exact["area"][j], rel=1e-3, abs=1e-3)
        assert k == pytest.approx(exact["conveyance"][j], rel=2e-3, abs=0.5)


def test_interpolated_nodes_sit_between_the_surveyed_sections():
    a = trapezoid("a", 0.0, 10.0, 20.0, 2.0, 0.03)
    b = trapezoid("b", 1000.0, 9.0, 30.0, 2.0, 0.03)
    reach = Reach([a, b], max_dx=250.0)
    np.testing.assert_allclose(reach.chainage, [0, 250, 500, 750, 1000])
    np.testing.assert_allclose(reach.thalweg, [10, 9.75, 9.5, 9.25, 9])
    assert list(reach.surveyed) == [0, -1, -1, -1, 1]
    mid = lookup(reach.table, reach.z0, reach.nlev, reach.table_dz, 2, 9.5 + 2.0)[0]
    ends = [lookup(reach.table, reach.z0, reach.nlev, reach.table_dz, i, t + 2.0)[0] for i, t in ((0, 10.0), (4, 9.0))]
    assert mid == pytest.approx(0.5 * sum(ends), rel=1e-12)  # equal depth above the thalweg
