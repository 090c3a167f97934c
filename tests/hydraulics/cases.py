"""Shared test cases: MacDonald-type steady profiles (SWASHES forms) on prismatic sections, built from the
sections' own exact geometry, and helpers to make reaches and series."""

from __future__ import annotations

import numpy as np

from hydro.hydraulics.boundaries import TimeSeries
from hydro.hydraulics.sections import CrossSection

G = 9.81
START = np.datetime64("2026-07-01T00:00", "ns")


def trapezoid(name, chainage, bed, bottom, side, n, height=12.0):
    """Trapezoid (side slope ``side`` H:1V) as a 4-point station-elevation table, banks at its top corners."""
    st = np.array([0.0, side * height, side * height + bottom, 2 * side * height + bottom])
    el = bed + np.array([height, 0.0, 0.0, height])
    return CrossSection(name, chainage, st, el, np.full(4, n), float(st[0]), float(st[-1]), "test")


def series(hours, values, variable="discharge_m3s"):
    t = START + (np.asarray(hours, float) * 3600e9).astype("timedelta64[ns]")
    return TimeSeries(t, np.asarray(values, float), "test", variable)


def macdonald(h_of_x, dh_of_x, q, length, n_nodes, bottom, side, n, z_end=0.0, fine=200_001):
    """Sections whose bed makes h(x) the exact steady solution of the Saint-Venant equations (prismatic
    trapezoid, beta = alpha = 1): dZ/dx = -Q^2/K(h)^2 + Q^2 B(h) h'(x) / (g A(h)^3), integrated on a fine
    grid (trapezoid rule) and sampled at n_nodes nodes. Returns (sections, x, h)."""
    x = np.linspace(0.0, length, fine)
    h, dh = h_of_x(x), dh_of_x(x)
    a = h * (bottom + side * h)
    b = bottom + 2 * side * h
    p = bottom + 2 * h * np.sqrt(1 + side**2)
    k = a * (a / p) ** (2 / 3) / n
    # the bed slope dZ/dx - h'(x) (finite across a jump in h, where the surface itself jumps)
    slope = -(q / k) ** 2 + q**2 * b * dh / (G * a**3) - dh
    bed = np.concatenate([[0.0], np.cumsum(0.5 * (slope[1:] + slope[:-1]) * np.diff(x))])
    bed += z_end - h[-1] - bed[-1]
    idx = np.linspace(0, fine - 1, n_nodes).round().astype(int)
    sections = [trapezoid(f"s{m}", float(x[i]), float(bed[i]), bottom, side, n) for m, i in enumerate(idx)]
    return sections, x[idx], h[idx]


def subcritical_case(n_nodes):
    """SWASHES-like bump in depth, Fr 0.2 .. 0.3: 5 km trapezoid, 20 m bottom, 1:1 sides, n 0.03, Q 30."""
    L = 5000.0
    h = lambda x: 1.6 * (1 + 0.3 * np.exp(-16 * (x / L - 0.5) ** 2))  # noqa: E731
    dh = lambda x: 1.6 * 0.3 * np.exp(-16 * (x / L - 0.5) ** 2) * (-32 * (x / L - 0.5) / L)  # noqa: E731
    return macdonald(h, dh, 30.0, L, n_nodes, 20.0, 1.0, 0.03), 30.0


def supercritical_case(n_nodes):
    """SWASHES supercritical form h = hc (a - b exp(-36 (x/L - 1/2)^2)), Fr 1.5 .. 2.3 (rectangle 10 m)."""
    L, q = 1000.0, 20.0
    hc = (q**2 / (G * 10.0**2)) ** (1 / 3)
    h = lambda x: hc * (0.75 - 0.15 * np.exp(-36 * (x / L - 0.5) ** 2))  # noqa: E731
    dh = lambda x: -hc * 0.15 * np.exp(-36 * (x / L - 0.5) ** 2) * (-72 * (x / L - 0.5) / L)  # noqa: E731
    return macdonald(h, dh, q, L, n_nodes, 10.0, 0.0, 0.02), q


def swashes_classic(kind, n_nodes):
    """The SWASHES MacDonald forms themselves (1 km, q = 2 m2/s on a 10 m rectangle, n 0.033), near
    critical at both ends: subcritical h = hc (1 + exp(-16 (x/L - 1/2)^2) / 2) (Fr 0.54 .. 0.99),
    supercritical h = hc (1 - exp(-36 (x/L - 1/2)^2) / 5) (Fr 1.0 .. 1.4)."""
    L, q, width = 1000.0, 20.0, 10.0
    hc = (2.0**2 / G) ** (1 / 3)
    if kind == "subcritical":
        h = lambda x: hc * (1 + 0.5 * np.exp(-16 * (x / L - 0.5) ** 2))  # noqa: E731
        dh = lambda x: hc * 0.5 * np.exp(-16 * (x / L - 0.5) ** 2) * (-32 * (x / L - 0.5) / L)  # noqa: E731
    else:
        h = lambda x: hc * (1 - 0.2 * np.exp(-36 * (x / L - 0.5) ** 2))  # noqa: E731
        dh = lambda x: -hc * 0.2 * np.exp(-36 * (x / L - 0.5) ** 2) * (-72 * (x / L - 0.5) / L)  # noqa: E731
    return macdonald(h, dh, q, L, n_nodes, width, 0.0, 0.033), q


# SWASHES (Delestre et al. 2013, section 3.1) MacDonald forms on a 10 m rectangle, q per metre of width, 1 km
# unless said; HC = critical depth for q = 2 m2/s. Each returns (h(x), h'(x), unit discharge, n, length).
HC = (4.0 / G) ** (1 / 3)


def _bump(a, c, sign):
    return (lambda x: HC * (1 + sign * a * np.exp(-c * (x / 1000 - 0.5) ** 2)),  # noqa: E731
            lambda x: HC * sign * a * np.exp(-c * (x / 1000 - 0.5) ** 2) * (-2 * c * (x / 1000 - 0.5) / 1000))


def _sub_to_super():
    def h(x):
        u = x / 1000 - 0.5
        return HC * np.where(x <= 500, 1 - np.tanh(3 * u) / 3, 1 - np.tanh(6 * u) / 6)

    def dh(x):
        u = x / 1000 - 0.5
        return HC * np.where(x <= 500, -1 / np.cosh(3 * u) ** 2, -1 / np.cosh(6 * u) ** 2) / 1000
    return h, dh


_JUMP_A = (-0.348427, 0.552264, -0.55558, 0.0891794)


def _jump():
    """Supercritical inflow (h(0) = 0.73 HC), jump at x = 500 m, subcritical outflow."""
    def h(x):
        u = x / 1000 - 0.5
        sub = 1 + sum(a * np.exp(-20 * (k + 1) * u) for k, a in enumerate(_JUMP_A[:3])) + 0.8 * np.exp(x / 1000 - 1)
        return HC * np.where(x < 500, 0.9 - np.exp(-x / 250) / 6, sub)

    def dh(x):
        u = x / 1000 - 0.5
        sub = sum(a * (-0.02 * (k + 1)) * np.exp(-20 * (k + 1) * u) for k, a in enumerate(_JUMP_A[:3])) \
            + 0.8e-3 * np.exp(x / 1000 - 1)
        return HC * np.where(x < 500, np.exp(-x / 250) / 1500, sub)
    return h, dh


def swashes(kind, n_nodes, width=10.0):
    """SWASHES MacDonald case ``kind`` on a ``width`` m rectangle: sections, node chainage, exact depth, total
    discharge. subcritical: Fr 0.54 .. 0.99 (q 2, n 0.033); supercritical: Fr 1.25 .. 1.75, a supercritical
    inflow (q 2.5, n 0.04); long_subcritical: 5 km, h = 9/8 + sin(pi x / 500) / 4 (q 2, n 0.03); transcritical:
    subcritical to supercritical through critical depth at 500 m (q 2, n 0.0218); jump: supercritical inflow,
    hydraulic jump at 500 m, subcritical outflow (q 2, n 0.0218)."""
    length, q, n = 1000.0, 2.0, 0.0218
    if kind == "subcritical":
        (h, dh), n = _bump(0.5, 16, 1), 0.033
    elif kind == "supercritical":
        (h, dh), q, n = _bump(0.2, 36, -1), 2.5, 0.04
    elif kind == "long_subcritical":
        length, n = 5000.0, 0.03
        h = lambda x: 9 / 8 + np.sin(np.pi * x / 500) / 4  # noqa: E731
        dh = lambda x: np.pi / 2000 * np.cos(np.pi * x / 500)  # noqa: E731
    elif kind == "transcritical":
        h, dh = _sub_to_super()
    elif kind == "jump":
        h, dh = _jump()
    else:
        raise ValueError(kind)
    sections, x, depth = macdonald(h, dh, q * width, length, n_nodes, width, 0.0, n)
    return sections, x, depth, q * width
