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
    dzdx = -(q / k) ** 2 + q**2 * b * dh / (G * a**3)
    surface = np.concatenate([[0.0], np.cumsum(0.5 * (dzdx[1:] + dzdx[:-1]) * np.diff(x))])
    surface += z_end - surface[-1]
    bed = surface - h
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
