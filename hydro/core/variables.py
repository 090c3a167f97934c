"""Declared variables: one table of CF attributes drives every writer (never typed inline)."""

from __future__ import annotations

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
