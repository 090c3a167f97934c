"""Units attributes as tools write them convert (hydro.core.variables.unit_factor, through pint): a ratio marked
'-' or 'unitless' (a slope), powers written with '^' (Manning's s/m^(1/3)); units of another quantity do not."""

from __future__ import annotations

import pytest

from hydro.core.variables import unit_factor


@pytest.mark.parametrize("given, canonical, factor", [
    ("-", "1", 1.0), ("unitless", "1", 1.0), ("m/m", "1", 1.0), ("m m-1", "1", 1.0),
    ("s/m^(1/3)", "s m-1/3", 1.0), ("s m-1/3", "s m-1/3", 1.0), ("m^3 s^-1", "m3 s-1", 1.0),
    ("ft3 s-1", "m3 s-1", 0.3048 ** 3), ("km", "m", 1000.0), ("kg m-2 s-1", "mm h-1", 3600.0)])
def test_units_as_tools_write_them_convert(given, canonical, factor):
    assert unit_factor(given, canonical) == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize("given, canonical", [("m", "1"), ("m", "m3 s-1"), ("-", "m")])
def test_units_of_another_quantity_do_not(given, canonical):
    assert unit_factor(given, canonical) is None
