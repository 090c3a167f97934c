"""Cases of the independent hostile sweep, round 5 (issue 17): each fixed failure refused in one line naming the
file, option or value, or converted and the result right."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.core.errors import ConfigError

from .conftest import assert_refused, run_cli, write_small_reach_sections

INFLOW = "time,discharge_m3s\n2024-01-01T00:00:00Z,20\n2024-01-01T02:00:00Z,60\n2024-01-01T04:00:00Z,20\n"


def _reach(tmp_path):
    write_small_reach_sections(tmp_path / "sec.csv")
    (tmp_path / "in.csv").write_text(INFLOW)
    return ["hydraulics", "run", "--sections", tmp_path / "sec.csv", "--upstream", tmp_path / "in.csv",
            "--downstream", "normal", "--dt", "60", "--output-interval", "600"]


def _edit_state(path, edit):
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    edit(ds)
    path.unlink()
    ds.to_netcdf(path)


def test_an_initial_state_in_feet_is_converted(tmp_path, capsys):
    """A --final-state whose levels were converted to ft (units attribute "ft") was read as metres: the run
    started 250 m above the sections and routed 93,000 m3/s. Now converted: the continuation is the same."""
    run = _reach(tmp_path)
    assert run_cli(capsys, *run, "--hours", "1", "--output", tmp_path / "a.nc", "--final-state", tmp_path / "s.nc")[0] == 0
    more = [*run, "--hours", "2", "--initial-state", tmp_path / "s.nc"]
    assert run_cli(capsys, *more, "--output", tmp_path / "clean.nc")[0] == 0

    def to_feet(ds):
        for name in ("water_level", "water_level_previous_step"):
            ds[name] = (ds[name] / 0.3048).assign_attrs(ds[name].attrs, units="ft")
        ds["discharge"] = (ds["discharge"] * 35.3146667).assign_attrs(ds["discharge"].attrs, units="ft3 s-1")
    _edit_state(tmp_path / "s.nc", to_feet)
    assert run_cli(capsys, *more, "--output", tmp_path / "feet.nc")[0] == 0
    with xr.open_dataset(tmp_path / "clean.nc") as a, xr.open_dataset(tmp_path / "feet.nc") as b:
        np.testing.assert_allclose(b.water_level.values, a.water_level.values, rtol=0, atol=1e-6)
        np.testing.assert_allclose(b.discharge.values, a.discharge.values, rtol=1e-6, atol=1e-6)


def test_an_initial_state_in_another_quantity_is_refused(tmp_path, capsys):
    run = _reach(tmp_path)
    assert run_cli(capsys, *run, "--hours", "1", "--output", tmp_path / "a.nc", "--final-state", tmp_path / "s.nc")[0] == 0
    _edit_state(tmp_path / "s.nc", lambda ds: ds["water_level"].attrs.update(units="degC"))
    code, err = run_cli(capsys, *run, "--hours", "2", "--initial-state", tmp_path / "s.nc", "--output", tmp_path / "b.nc")
    assert_refused(code, err, ["s.nc", "water_level", "degC"])
    assert not (tmp_path / "b.nc").exists()


def test_upstream_stage_with_another_inertia_is_refused(tmp_path, capsys):
    """--upstream-stage with --inertia lpi ran and dropped the level without a word (only the transcritical
    kernel has a supercritical inflow condition)."""
    code, err = run_cli(capsys, *_reach(tmp_path), "--upstream-stage", "102", "--inertia", "lpi",
                        "--output", tmp_path / "h.nc")
    assert_refused(code, err, ["--upstream-stage", "--inertia lpi"], expected_codes=(2,))
    assert not (tmp_path / "h.nc").exists()


def test_a_main_stem_step_that_does_not_divide_the_hour_is_refused(tmp_path):
    """dt_s = 7 in a basin's [[main_stems]] ended in the solver's 'output interval 3600 s is not a whole multiple
    of dt 7 s', naming neither the basin file nor the main stem nor dt_s."""
    from hydro.hydraulics.network_coupling import CoupledMainStem
    from tests.hydraulics.test_mainstem_coupling import definition, network

    with pytest.raises(ConfigError) as err:
        CoupledMainStem(network(), definition(tmp_path, dt_s=7.0))
    text = str(err.value)
    assert "basin.toml: main stem 'lower'" in text and "dt_s 7 s does not divide the hour" in text and "\n" not in text


def test_chainage_of_segments_is_printed_as_numbers(tmp_path):
    from hydro.hydraulics.network_coupling import CoupledMainStem
    from tests.hydraulics.test_mainstem_coupling import definition, network

    with pytest.raises(ConfigError) as err:
        CoupledMainStem(network(), definition(tmp_path, segment_chainage=(2000.0, 4000.0, 3000.0, 8000.0)))
    assert "chainage_of_segments [2000, 4000, 3000, 8000] must increase" in str(err.value)


def _stem_state(tmp_path, edit=None):
    """The chain's main stem (tests/hydraulics/test_mainstem_coupling.py) and a plausible state of it: 1 m of
    water over the bed, 10 m3/s; ``edit(level, discharge)`` damages it in place."""
    from hydro.hydraulics.network_coupling import CoupledMainStem, MainStemState
    from hydro.hydraulics.unsteady import HydraulicState
    from tests.hydraulics.test_mainstem_coupling import definition, network

    stem = CoupledMainStem(network(), definition(tmp_path))
    level, discharge = stem.reach.thalweg + 1.0, np.full(stem.reach.size, 10.0)
    if edit:
        edit(level, discharge)
    hydraulic = HydraulicState(np.datetime64("2026-07-01T03:00", "ns"), stem.reach.chainage, level, discharge,
                               level.copy(), discharge.copy(), stem.options.dt)
    return stem, MainStemState(hydraulic, 10.0, stem.geometry, np.zeros(4))


@pytest.mark.parametrize("edit, message", [
    (lambda z, q: z.__setitem__(3, 1e6), "deeper than any river"),
    (lambda z, q: z.__setitem__(3, -500.0), "below the bed there"),
    (lambda z, q: q.__setitem__(3, -1e6), "beyond any river's"),
])
def test_a_main_stem_state_no_river_holds_is_refused(tmp_path, edit, message):
    """A restart's main-stem level of 1e6 m or -500 m, or a discharge of -1e6 m3/s (checksum recomputed), went
    to the solver, which failed the first step blaming --dt and the sections ('did not converge', 'fell below the
    dry-channel slot')."""
    from hydro.core.errors import InputDataError
    from hydro.hydraulics.network_coupling import check_main_stem_states

    stem, state = _stem_state(tmp_path)
    check_main_stem_states([stem], {"lower": state}, "r.nc")  # the plausible one passes
    stem, state = _stem_state(tmp_path, edit)
    with pytest.raises(InputDataError) as err:
        check_main_stem_states([stem], {"lower": state}, "r.nc")
    text = str(err.value)
    assert text.startswith("r.nc: main stem 'lower'") and message in text and "chainage" in text and "\n" not in text


@pytest.mark.parametrize("name, units", [("streamflow", "ft3 s-1"), ("reservoir_level", "ft"),
                                         ("main_stem_water_level", "ft"), ("main_stem_discharge", "ft3 s-1")])
def test_a_restart_variable_in_other_units_is_refused(name, units):
    """The checksum covers values, not attributes: a restart converted to ft / ft3 s-1 was read as m / m3 s-1
    (a main stem in ft started 230 m too high and the cycle ended exit 0)."""
    from hydro.core.errors import InputDataError
    from hydro.io.restart_checks import check_restart_values

    ds = xr.Dataset({name: ("n", np.ones(3), {"units": units})})
    with pytest.raises(InputDataError, match=rf"r\.nc: restart variable {name} is in '{units}'; hydro writes restarts in"):
        check_restart_values(ds, "r.nc")


def _network_file(tmp_path, units, scale):
    from hydro.io.netcdf import write_network
    from tests.helpers import make_network

    write_network(tmp_path / "net.nc", make_network([1, 2, 3], [3, 3, 0]))
    _edit_state(tmp_path / "net.nc", lambda ds: ds.__setitem__(
        "length", (ds["length"] * scale).assign_attrs(ds["length"].attrs, units=units)))
    return tmp_path / "net.nc"


def test_a_network_file_in_km_is_converted(tmp_path):
    """A basin's network.nc with length in km (units "km") was read as metres: the demo what-if routed 3,570 m3/s
    off the same basin in metres."""
    from hydro.io.netcdf import read_network
    from tests.helpers import make_network

    net, _ = read_network(_network_file(tmp_path, "km", 1e-3))
    np.testing.assert_allclose(net.length, make_network([1, 2, 3], [3, 3, 0]).length, rtol=1e-12)


def test_a_network_length_in_another_quantity_is_refused(tmp_path):
    from hydro.core.errors import InputDataError
    from hydro.io.netcdf import read_network

    with pytest.raises(InputDataError, match=r"net\.nc: length.*'kg' cannot be converted to m"):
        read_network(_network_file(tmp_path, "kg", 1.0))
