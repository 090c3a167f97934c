"""Declared variables: one table of CF attributes drives every writer (never typed inline)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

CF_ATTRS: dict[str, dict[str, str]] = {
    "streamflow": {
        "long_name": "River Flow",
        "units": "m3 s-1",
        "standard_name": "water_volume_transport_in_river_channel",
    },
    "velocity": {"long_name": "River Velocity", "units": "m s-1"},
    "depth": {"long_name": "Muskingum-Cunge flow depth", "units": "m"},
    "q_lateral": {"long_name": "Runoff into channel reach", "units": "m3 s-1"},
    "water_sfc_elev": {
        "long_name": "Lake water surface elevation",
        "units": "m",
        "standard_name": "water_surface_height_above_reference_datum",
    },
    "feature_id": {"long_name": "Reach ID", "cf_role": "timeseries_id", "comment": "NHDPlus COMID or lake id"},
    "lake_id": {"long_name": "Lake ID (NHD waterbody COMID)"},
    "is_lake": {
        "long_name": "node is a collapsed lake / reservoir (level pool)",
        "flag_meanings": "channel_segment lake_node",
    },
    "reference_time": {"long_name": "model initialization time", "standard_name": "forecast_reference_time"},
    "time": {"long_name": "valid output time", "standard_name": "time"},
    # network file
    "to": {"long_name": "downstream feature_id (0 = outlet)"},
    "length": {"long_name": "segment length", "units": "m"},
    "slope": {"long_name": "channel bed slope", "units": "1"},
    "mannings_n": {"long_name": "Manning roughness, main channel", "units": "s m-1/3"},
    "mannings_n_cc": {"long_name": "Manning roughness, compound channel (floodplain)", "units": "s m-1/3"},
    "bottom_width": {"long_name": "trapezoid bottom width", "units": "m"},
    "top_width": {"long_name": "bankfull top width", "units": "m"},
    "top_width_cc": {"long_name": "compound channel (floodplain) top width", "units": "m"},
    "side_slope": {"long_name": "channel side slope (rise over run)", "units": "1"},
    "waterbody": {"long_name": "NHD waterbody id the segment lies in (-9999 = none)"},
    "musk_k": {"long_name": "linear Muskingum storage constant", "units": "s"},
    "musk_x": {"long_name": "linear Muskingum weighting factor", "units": "1"},
    "latitude": {"long_name": "segment latitude", "units": "degrees_north", "standard_name": "latitude"},
    "longitude": {"long_name": "segment longitude", "units": "degrees_east", "standard_name": "longitude"},
    "stream_order": {"long_name": "Strahler stream order", "units": "1"},
    # per-feature descriptions in the routing output, as NWM CHRTOUT carries them (from the RouteLink)
    "order": {"long_name": "Strahler stream order", "units": "1",
              "comment": "a lake node: the highest order of its reaches; -9999 where unknown"},
    "elevation": {"long_name": "segment elevation at its upstream node (RouteLink alt, NAVD88)", "units": "m",
                  "standard_name": "height_above_geopotential_datum", "geopotential_datum_name": "NAVD88",
                  "positive": "up"},
    "lake_interior": {
        "long_name": "reach lies inside a collapsed lake (not routed)",
        "flag_meanings": "routed_node lake_interior_reach",
        "comment": "streamflow of a lake-interior reach is its lake's outflow; velocity and depth are missing",
    },
    "lake_id_of_reach": {"long_name": "NHD waterbody COMID the feature lies in (-9999 = none)"},
    "reservoir": {"long_name": "reservoir id"},
    "reservoir_feature_id": {"long_name": "feature_id of the reservoir's outlet segment"},
    "section": {"long_name": "river section id"},
    "member": {"long_name": "ensemble member", "standard_name": "realization", "units": "1"},
    "rainfall_rate": {"long_name": "rain rate", "units": "mm h-1", "standard_name": "rainfall_rate"},
    "rainfall_rate_members": {"long_name": "ensemble member rain rate", "units": "mm h-1",
                              "standard_name": "rainfall_rate"},
    "projection_x": {"long_name": "x coordinate of projection", "units": "m", "standard_name": "projection_x_coordinate"},
    "projection_y": {"long_name": "y coordinate of projection", "units": "m", "standard_name": "projection_y_coordinate"},
    "time_bounds": {"long_name": "averaging interval of each field"},
    # hydro calibrate's simulation file: the calibrated set run over warm-up, calibration and validation
    "discharge_simulated": {"long_name": "simulated discharge at the catchment outlet (calibrated parameter set)",
                            "units": "m3 s-1", "standard_name": "water_volume_transport_in_river_channel"},
    "discharge_observed": {"long_name": "observed discharge at the catchment outlet (the record's; missing where "
                                        "it has none)", "units": "m3 s-1",
                           "standard_name": "water_volume_transport_in_river_channel",
                           "coverage_content_type": "physicalMeasurement"},
    "precipitation_amount": {"long_name": "catchment precipitation over the record step stamped at each time (as "
                                          "the model was given it)", "units": "mm",
                             "standard_name": "lwe_thickness_of_precipitation_amount"},
    "potential_evapotranspiration_amount": {"long_name": "potential evapotranspiration over the record step stamped "
                                                         "at each time", "units": "mm"},
    "calibration_period": {"long_name": "split-sample period of each step (warm-up steps are simulated, not scored)",
                           "flag_meanings": "warmup calibration validation unscored"},
}

# One encoding of times and one fill value for floats across every output file (route, nowcast, the
# cycle's files, restarts): integer minutes since the epoch on the standard calendar, and -9999 (as
# NWM writes) where a value is missing (NaN in memory; xarray masks it back to NaN on reading).
TIME_ENCODING: dict[str, str] = {"units": "minutes since 1970-01-01", "calendar": "standard", "dtype": "int64"}
FLOAT_FILL_VALUE = -9999.0
INT_FILL_VALUE = -9999
CONVENTIONS = "CF-1.11"

# Ranges of the numerics a user sets. The routing step divides the 10-minute forcing interval; below
# 10 s Muskingum-Cunge gains nothing (its own Courant limit is far above) and a 328,000-segment day
# would take hours.
FORCING_INTERVAL_S = 600.0
ROUTING_STEP_RANGE_S = (10.0, FORCING_INTERVAL_S)


def check_routing_step(dt_s: float) -> str | None:
    """The reason ``dt_s`` cannot be a routing step, or None."""
    lo, hi = ROUTING_STEP_RANGE_S
    if not lo <= dt_s <= hi:
        return f"routing step {dt_s:g} s is outside [{lo:g}, {hi:g}] s (steps under {lo:g} s would make a run take hours)"
    ratio = FORCING_INTERVAL_S / dt_s
    if abs(ratio - round(ratio)) > 1e-9:
        return f"routing step {dt_s:g} s does not divide the {FORCING_INTERVAL_S:g} s forcing interval (use e.g. 60, 300 or 600)"
    return None


# --------------------------------------------------------------------------- units and plausible ranges
# Every variable hydro reads from a user's file, with its canonical (UDUNITS) unit, the range a value can
# take in a real basin and what a reader does outside it. Readers convert a file's ``units`` attribute to
# the canonical unit with pint (:func:`to_canonical`) and check the range (:func:`check_range`); nothing
# below the readers sees another unit. "refuse": InputDataError naming the file, variable, location and
# value. "qc": values above the range go to the radar quality control (``--max-rate``, ``--implausible``),
# which counts and handles them (radar clutter is routine); values below it are refused all the same.
# Missing values (NaN) are the readers' own policy (``--bad-lateral``, ``--missing-frames``), not a range.
@dataclass(frozen=True)
class InputVariable:
    units: str  # canonical UDUNITS unit
    valid_range: tuple[float, float]  # inclusive; beyond it the value is not physical for a basin
    action: str  # "refuse" or "qc"
    read_by: str  # the reader(s) that apply it
    why: str = ""  # where the bounds come from


INPUT_VARIABLES: dict[str, InputVariable] = {
    # lateral inflow per segment: the largest rivers carry ~2e5 m3 s-1 in total; one segment's local inflow
    # above 1e5 is a unit or fill-value error (1e30, ft3 read as m3 of a large river, ...)
    "lateral_inflow": InputVariable("m3 s-1", (0.0, 1e5), "refuse", "io.nwm (qlat, CHRTOUT qBucket + qSfcLatRunoff)",
                                    "largest total river discharge ~2e5 m3 s-1"),
    "rainfall_rate": InputVariable("mm h-1", (0.0, 500.0), "qc", "io.radar_formats.read_cf_netcdf",
                                   "world-record rates ~400 mm h-1 over minutes"),
    "precipitation": InputVariable("mm", (0.0, 2000.0), "refuse", "io.catchment (per record step)",
                                   "world-record daily rain 1,825 mm"),
    "pet": InputVariable("mm", (0.0, 50.0), "refuse", "io.catchment (per record step)",
                         "potential evaporation rarely exceeds 15 mm per day"),
    "discharge": InputVariable("m3 s-1", (0.0, 3e5), "refuse", "io.catchment (observed flow)",
                               "Amazon peak discharge ~3e5 m3 s-1"),
    "streamflow": InputVariable("m3 s-1", (0.0, 3e5), "refuse", "io.netcdf.read_state (initial state)",
                                "Amazon peak discharge ~3e5 m3 s-1"),
    "depth": InputVariable("m", (0.0, 500.0), "refuse", "stages.pipeline (initial state depth)",
                           "the deepest river channels are ~200 m deep"),
    "water_sfc_elev": InputVariable("m", (-450.0, 9000.0), "refuse", "stages.pipeline (initial lake elevation)",
                                    "Dead Sea shore to Everest"),
    # reservoir curves (basin TOML; no units attribute there: the key names the unit)
    "reservoir_level": InputVariable("m", (-450.0, 9000.0), "refuse", "io.basin (level_m and characteristic levels)",
                                     "Dead Sea shore to Everest"),
    "reservoir_storage": InputVariable("m3", (0.0, 2e12), "refuse", "io.basin (storage_m3)",
                                       "largest reservoir (Kariba) holds 1.8e11 m3"),
    # generous: the synthetic national benchmark sizes its dams for a 10 mm/h storm over 2.5e5 km2 (4e6 m3 s-1)
    "reservoir_capacity": InputVariable("m3 s-1", (0.0, 1e7), "refuse", "io.basin (capacity_m3s, releases)",
                                        "Three Gorges' design discharge ~1.0e5 m3 s-1; fill values and 1e30 refused"),
    # river network geometry (hydro network file)
    "length": InputVariable("m", (1e-3, 1e6), "refuse", "io.netcdf.read_network", "a reach of 1 mm to 1,000 km"),
    "slope": InputVariable("1", (0.0, 10.0), "refuse", "io.netcdf.read_network", "rise over run"),
    "mannings_n": InputVariable("s m-1/3", (1e-3, 1.0), "refuse", "io.netcdf.read_network",
                                "Chow (1959): 0.01 (glass) .. 0.4 (dense brush)"),
    "mannings_n_cc": InputVariable("s m-1/3", (1e-3, 1.0), "refuse", "io.netcdf.read_network", "as mannings_n"),
    "bottom_width": InputVariable("m", (0.0, 1e5), "refuse", "io.netcdf.read_network", ""),
    "top_width": InputVariable("m", (0.0, 1e5), "refuse", "io.netcdf.read_network", ""),
    "top_width_cc": InputVariable("m", (0.0, 1e6), "refuse", "io.netcdf.read_network", ""),
    "side_slope": InputVariable("1", (0.0, 1e3), "refuse", "io.netcdf.read_network", "NWM ChSlp, rise over run (z = 1 / ChSlp)"),
    # level-pool lakes (NWM LAKEPARM, or the lakes of a hydro network file), by LevelPoolParameters field
    "lake_area_km2": InputVariable("km2", (1e-6, 4e5), "refuse", "io.nwm.read_lakeparm, io.netcdf.read_network",
                                   "LkArea; the Caspian Sea is 3.7e5 km2"),
    "lake_max_elevation": InputVariable("m", (-450.0, 9000.0), "refuse", "LAKEPARM LkMxE", "Dead Sea to Everest"),
    "lake_weir_elevation": InputVariable("m", (-450.0, 9000.0), "refuse", "LAKEPARM WeirE", ""),
    "lake_orifice_elevation": InputVariable("m", (-450.0, 9000.0), "refuse", "LAKEPARM OrificeE", ""),
    "lake_weir_coefficient": InputVariable("1", (0.0, 10.0), "refuse", "LAKEPARM WeirC", "NWM uses 0.4"),
    "lake_weir_length": InputVariable("m", (0.0, 1e5), "refuse", "LAKEPARM WeirL", ""),
    "lake_dam_length": InputVariable("m", (0.0, 1e5), "refuse", "LAKEPARM Dam_Length", ""),
    "lake_orifice_coefficient": InputVariable("1", (0.0, 1.0), "refuse", "LAKEPARM OrificeC",
                                              "a discharge coefficient, NWM 0.1"),
    "lake_orifice_area": InputVariable("m2", (0.0, 1e5), "refuse", "LAKEPARM OrificeA", ""),
    "lake_initial_fraction_depth": InputVariable("1", (0.0, 1.0), "refuse", "LAKEPARM ifd",
                                                 "a fraction of the depth between orifice and maximum"),
}

# Precipitation given as a mass flux (kg m-2 s-1, CF's precipitation_flux) becomes a depth rate through
# the density of liquid water.
WATER_DENSITY_KG_M3 = 1000.0


@lru_cache(maxsize=1)
def _unit_registry():
    """pint's registry (built once, on first use: pint is imported only by the readers that convert), with the
    two flow abbreviations hydrological files use."""
    import pint

    registry = pint.UnitRegistry()
    registry.define("cfs = foot ** 3 / second")
    registry.define("cms = meter ** 3 / second")
    return registry


def _pint_expression(units: str) -> str:
    """UDUNITS ``m3 s-1`` / ``kg m-2 s-1`` / ``mm/h`` -> pint ``m**3*s**-1``: exponents after a letter,
    products by spaces."""
    import re

    text = units.strip()
    if text.lower() in ("-", "unitless", "none", "dimensionless"):  # what tools write for a ratio (a slope)
        return "dimensionless"
    text = text.replace("^", "**")  # s/m^(1/3), m^3 s^-1
    text = re.sub(r"(?<=[A-Za-z])(-?\d+(?:/\d+)?)", r"**(\1)", text)
    return re.sub(r"\s+", "*", text)


def unit_factor(units: str, canonical: str) -> float | None:
    """The factor that turns a value in ``units`` into ``canonical``; None when they measure different things.
    Raises ValueError for a string pint cannot parse."""
    import pint

    registry = _unit_registry()
    try:
        given = registry.Quantity(1.0, _pint_expression(units))
        target = registry.Unit(_pint_expression(canonical))
    except Exception as exc:  # noqa: BLE001 - pint's parser raises AssertionError, TokenError, ... on garbage
        raise ValueError(f"unknown units {units!r} ({exc})") from None
    try:
        if given.dimensionality == target.dimensionality:
            return float(given.to(target).magnitude)
        density = registry.Quantity(WATER_DENSITY_KG_M3, "kg / m**3")
        if (given / density).dimensionality == target.dimensionality:  # a water mass flux as a depth rate
            return float((given / density).to(target).magnitude)
    except pint.errors.PintError:  # offset units (degC) and the like measure something else
        return None
    return None


def to_canonical(values, units: str | None, variable: str, source: str, default: str | None = None):
    """``values`` converted from ``units`` to the variable's canonical unit (a new array; the same array
    when no conversion is needed). A missing units attribute takes ``default`` when a format defines one
    (NWM CHRTOUT: m3 s-1) and is refused otherwise; units that do not measure the same thing are refused
    with one line naming the file and variable."""
    import numpy as np

    from .errors import InputDataError

    spec = INPUT_VARIABLES[variable]
    if units is None or not str(units).strip():
        if default is None:
            raise InputDataError(f"{source}: {variable} has no units attribute; add units = \"{spec.units}\" "
                                 "(or any unit convertible to it)")
        units = default
    try:
        factor = unit_factor(str(units), spec.units)
    except ValueError as exc:
        raise InputDataError(f"{source}: {variable}: {exc}; give UDUNITS units convertible to {spec.units}") from None
    if factor is None:
        raise InputDataError(f"{source}: {variable} in {units!r} cannot be converted to {spec.units}; "
                             "fix the units attribute or the data")
    if factor == 1.0:
        return values
    return np.asarray(values) * np.asarray(factor, dtype=np.asarray(values).dtype)


def check_range(values, variable: str, source: str, locate=None, label: str | None = None, lower: bool = True) -> None:
    """Refuse a value outside the variable's range: one line with the file, variable, where (``locate``,
    a function of the flat index into ``values`` giving e.g. "feature_id 3, time 2026-01-01T01:00";
    else the index) and the value. NaN is left to the reader's missing-data policy, and so are values below
    the range with ``lower=False`` (``--bad-lateral zero`` replaces negative inflow). A "qc" variable only has
    its lower bound checked here."""
    import numpy as np

    from .errors import InputDataError

    spec = INPUT_VARIABLES[variable]
    lo, hi = spec.valid_range
    arr = np.asarray(values)
    with np.errstate(invalid="ignore"):
        bad = arr < lo if lower else np.zeros(arr.shape, bool)
        if spec.action == "refuse":
            bad |= arr > hi
    if not bad.any():
        return
    flat = int(np.flatnonzero(bad.ravel())[0])
    where = locate(flat) if locate is not None else (
        f"index {np.unravel_index(flat, arr.shape) if arr.ndim > 1 else flat}")
    value = arr.ravel()[flat]
    unit = "" if spec.units == "1" else f" {spec.units}"
    raise InputDataError(f"{source}: {label or variable} = {value:g}{unit} at {where} is outside the plausible "
                         f"range [{lo:g}, {hi:g}] ({int(bad.sum())} value(s)); check the units and the data")
