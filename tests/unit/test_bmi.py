"""BMI 2.0 layers (hydro.bmi): bmi-tester on the example configs, and the truth of what they expose.

Truth: N routing updates equal one N-step MuskingumCunge.run bit for bit; N runoff updates equal one
N-step Xinanjiang.run bit for bit; the runoff outputs close the water balance.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hydro.bmi import (
    DEPTH,
    DISCHARGE,
    EVAPORATION,
    LAKE_ELEVATION,
    LATERAL_INFLOW,
    PET,
    PRECIPITATION,
    RUNOFF,
    STORAGE,
    TENSION_WATER,
    VELOCITY,
    BmiNetworkRouting,
    BmiXinanjiang,
)
from hydro.core.errors import ConfigError, InputDataError
from hydro.routing.channel import MuskingumCunge
from hydro.runoff import Xinanjiang
from hydro.synthetic import synthetic_lakes, synthetic_network

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "bmi"
XAJ_PARAMETERS = np.array([0.9, 15.0, 80.0, 40.0, 0.15, 0.2, 0.02, 25.0, 1.2, 0.35, 0.30, 0.8, 0.98, 0.0, 0.0])


def _bmi_test_exe() -> str:
    exe = Path(sys.executable).with_name("bmi-test")
    found = str(exe) if exe.is_file() else shutil.which("bmi-test")
    if found is None:
        pytest.skip("bmi-test (package bmi-tester, in the [test] extra) is not installed")
    return found


def test_bmi_tester_passes_on_both_example_configs():
    """The documented commands, run side by side (each takes a few seconds):
    bmi-test hydro.bmi:<class> --root-dir examples/bmi --config-file examples/bmi/<its config>, from the repo root."""
    exe = _bmi_test_exe()
    runs = {}
    for cls, config in (("BmiXinanjiang", "xinanjiang.toml"), ("BmiNetworkRouting", "routing.toml")):
        cmd = [exe, f"hydro.bmi:{cls}", "--root-dir", "examples/bmi", "--config-file", f"examples/bmi/{config}"]
        runs[cls] = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for cls, proc in runs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"bmi-test {cls} failed:\n{out[-6000:]}"
        assert "All tests passed" in out and " failed" not in out, out[-6000:]


# ----------------------------------------------------------------------------------------- helpers
def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _xaj_config(tmp_path: Path, shape=(4, 5), time_step=600.0, extra: str = "") -> Path:
    params = "\n".join(f"{n} = {float(v)!r}" for n, v in zip(Xinanjiang(1.0).parameter_names, XAJ_PARAMETERS))
    return _write(tmp_path, "xaj.toml", f"""
model = "xaj"
{extra}
[grid]
shape = [{shape[0]}, {shape[1]}]
spacing = [500.0, 250.0]
origin = [10.0, 20.0]
[time]
time_step = {time_step}
[initial]
tension_fraction = 0.3
flow = 0.05
[parameters]
{params}
""")


def _routing_config(tmp_path: Path, network: str, time_step=300.0, dt=300.0, upstream="previous") -> Path:
    return _write(tmp_path, "routing.toml", f"""
[network]
{network}
[time]
time_step = {time_step}
[routing]
dt = {dt}
upstream = "{upstream}"
""")


def _run_bmi(bmi, name: str, inputs: np.ndarray, outputs: list[str]) -> dict[str, np.ndarray]:
    got = {o: [] for o in outputs}
    for k in range(inputs.shape[0]):
        bmi.set_value(name, inputs[k])
        bmi.update()
        for o in outputs:
            got[o].append(bmi.get_value_ptr(o).copy())
    return {o: np.array(v) for o, v in got.items()}


# ----------------------------------------------------------------------------------------- routing
@pytest.mark.parametrize(("time_step", "dt", "upstream"), [(300.0, 300.0, "previous"), (900.0, 300.0, "current")])
def test_routing_updates_equal_one_run_bit_for_bit(tmp_path, time_step, dt, upstream):
    n_updates, segments = 20, 120
    cfg = _routing_config(tmp_path, f"synthetic = {{ segments = {segments}, seed = 3 }}", time_step, dt, upstream)
    bmi = BmiNetworkRouting()
    bmi.initialize(str(cfg))
    rng = np.random.default_rng(5)
    qlat = (rng.gamma(2.0, 0.5, (n_updates, segments)) * (rng.random((n_updates, segments)) < 0.8)).astype(np.float32)
    got = _run_bmi(bmi, LATERAL_INFLOW, qlat, [DISCHARGE, DEPTH, VELOCITY])

    network, _ = synthetic_network(segments, seed=3)
    model = MuskingumCunge(network, None, dt, upstream=upstream)
    sub = int(time_step / dt)
    truth = model.run(qlat, time_step, n_updates * sub, output_every=sub)
    assert truth.nonconverged == 0
    assert np.array_equal(got[DISCHARGE], truth.streamflow)
    assert np.array_equal(got[DEPTH], truth.depth)
    assert np.array_equal(got[VELOCITY], truth.velocity)
    assert np.array_equal(bmi.state.streamflow, truth.final_state.streamflow)
    assert bmi.get_current_time() == n_updates * time_step
    assert got[DISCHARGE].dtype == np.float32 and got[DISCHARGE].max() > 1.0


def test_routing_with_lakes_has_no_nan_and_matches_the_model(tmp_path):
    segments, n_updates = 200, 12
    cfg = _routing_config(tmp_path, f"synthetic = {{ segments = {segments}, seed = 1, lakes = 3 }}")
    bmi = BmiNetworkRouting()
    bmi.initialize(str(cfg))
    assert LAKE_ELEVATION in bmi.get_output_var_names() and bmi.get_var_grid(LAKE_ELEVATION) == 1
    n = bmi.get_grid_node_count(0)
    qlat = np.full((n_updates, n), 0.5, np.float32)
    got = _run_bmi(bmi, LATERAL_INFLOW, qlat, [DISCHARGE, DEPTH, VELOCITY, LAKE_ELEVATION])
    for name, values in got.items():
        assert np.isfinite(values).all(), name

    network, area = synthetic_network(segments, seed=1)
    network, lakes = synthetic_lakes(network, area, 3, seed=1)
    model = MuskingumCunge(network.collapse_lakes(lakes.lake_id), lakes, 300.0)
    truth = model.run(qlat, 300.0, n_updates, output_every=1)
    assert np.array_equal(got[DISCHARGE], truth.streamflow)
    assert np.array_equal(got[LAKE_ELEVATION], truth.water_sfc_elev)
    assert bmi.get_grid_node_count(1) == lakes.size == 3


def test_routing_grid_is_the_network(tmp_path):
    cfg = _routing_config(tmp_path, "synthetic = { segments = 50, seed = 2 }")
    bmi = BmiNetworkRouting()
    bmi.initialize(str(cfg))
    network, _ = synthetic_network(50, seed=2)
    assert bmi.get_grid_type(0) == "unstructured" and bmi.get_grid_rank(0) == 2
    assert bmi.get_grid_size(0) == bmi.get_grid_node_count(0) == 50
    n_edges = bmi.get_grid_edge_count(0)
    assert n_edges == int((network.to != 0).sum()) and bmi.get_grid_face_count(0) == 0
    edges = bmi.get_grid_edge_nodes(0, np.empty(2 * n_edges, np.int32)).reshape(-1, 2)
    assert np.array_equal(network.feature_id[edges[:, 1]], network.to[edges[:, 0]])  # from -> downstream
    assert np.array_equal(bmi.get_grid_x(0, np.empty(50)), np.arange(50.0))  # no coordinates: indices
    with pytest.raises(ConfigError, match="unstructured"):
        bmi.get_grid_shape(0, np.empty(2, np.int32))


def test_routing_reads_a_network_file_relative_to_the_config(tmp_path):
    from hydro.io.netcdf import write_network

    network, _ = synthetic_network(30, seed=4)
    write_network(tmp_path / "net.nc", network)
    bmi = BmiNetworkRouting()
    bmi.initialize(str(_routing_config(tmp_path, 'file = "net.nc"')))
    assert bmi.get_grid_node_count(0) == 30
    bmi.update()
    assert np.array_equal(bmi.get_value(DISCHARGE, np.empty(30, np.float32)), np.zeros(30, np.float32))


@pytest.mark.parametrize(("network", "match"), [
    ('synthetic = { segments = 10 }\nfile = "x.nc"', "exactly one of synthetic"),
    ('file = "missing.nc"', "network.file = 'missing.nc'"),
    ("synthetic = { segments = 10, sed = 1 }", r"network\.synthetic\.sed: unknown key"),
])
def test_routing_bad_config_is_one_line_naming_file_and_key(tmp_path, network, match):
    cfg = _routing_config(tmp_path, network)
    with pytest.raises(ConfigError, match=match) as err:
        BmiNetworkRouting().initialize(str(cfg))
    assert str(cfg) in str(err.value) and "\n" not in str(err.value)


def test_routing_time_step_must_be_whole_routing_steps(tmp_path):
    cfg = _routing_config(tmp_path, "synthetic = { segments = 10 }", time_step=450.0, dt=300.0)
    with pytest.raises(ConfigError, match="whole multiple of routing.dt"):
        BmiNetworkRouting().initialize(str(cfg))


# ----------------------------------------------------------------------------------------- runoff
def _xaj_forcing(n_steps: int, n_cells: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rain = rng.gamma(0.6, 12.0, (n_steps, n_cells)) * (rng.random((n_steps, n_cells)) < 0.6)  # mm h-1, up to ~100
    pet = rng.uniform(0.0, 0.4, (n_steps, n_cells))
    return rain, pet


def _run_xaj_bmi(bmi, rain, pet):
    outputs = {RUNOFF: [], EVAPORATION: [], STORAGE: []}
    for k in range(rain.shape[0]):
        bmi.set_value(PRECIPITATION, rain[k])
        bmi.set_value(PET, pet[k])
        bmi.update()
        for name in outputs:
            outputs[name].append(bmi.get_value_ptr(name).copy())
    return {k: np.array(v) for k, v in outputs.items()}


def test_runoff_updates_equal_one_run_bit_for_bit(tmp_path):
    bmi = BmiXinanjiang()
    bmi.initialize(str(_xaj_config(tmp_path)))
    n_steps, n_cells = 48, 20
    rain, pet = _xaj_forcing(n_steps, n_cells)
    got = _run_xaj_bmi(bmi, rain, pet)

    dt_h = 600.0 / 3600.0
    model = Xinanjiang(dt_h)
    table = model.step_table(XAJ_PARAMETERS[None, :])
    state = model.cold_state(table, n_cells, initial_flow_mm=0.05 * dt_h, tension_fraction=0.3)
    runoff, _ = model.run(rain * dt_h, pet * dt_h, table, state)
    assert np.array_equal(got[RUNOFF], runoff / dt_h)
    assert np.array_equal(bmi.state.arrays["state"], state.arrays["state"])
    assert got[RUNOFF].max() > 1.0 and np.isfinite(got[RUNOFF]).all()


def test_runoff_closes_the_water_balance(tmp_path):
    bmi = BmiXinanjiang()
    bmi.initialize(str(_xaj_config(tmp_path, time_step=3600.0)))
    storage_0 = bmi.get_value(STORAGE, np.empty(20)).copy()
    rain, pet = _xaj_forcing(72, 20, seed=11)
    got = _run_xaj_bmi(bmi, rain, pet)
    dt_h = 1.0
    rain_in = rain.sum(axis=0) * dt_h
    out = (got[EVAPORATION].sum(axis=0) + got[RUNOFF].sum(axis=0)) * dt_h
    change = got[STORAGE][-1] - storage_0
    assert np.all(np.abs(rain_in - out - change) <= 1e-9 * rain_in.max())
    assert (got[EVAPORATION] <= pet * 0.9 + 1e-12).all()  # actual <= K x potential


def test_runoff_grid_and_time(tmp_path):
    bmi = BmiXinanjiang()
    bmi.initialize(str(_xaj_config(tmp_path, shape=(3, 4))))
    assert bmi.get_grid_type(0) == "uniform_rectilinear" and bmi.get_grid_rank(0) == 2
    assert list(bmi.get_grid_shape(0, np.empty(2, np.int32))) == [3, 4]
    assert list(bmi.get_grid_spacing(0, np.empty(2))) == [500.0, 250.0]
    assert list(bmi.get_grid_origin(0, np.empty(2))) == [10.0, 20.0]
    assert list(bmi.get_grid_x(0, np.empty(4))) == [20.0, 270.0, 520.0, 770.0]
    assert bmi.get_grid_edge_count(0) == 3 * 3 + 2 * 4 and bmi.get_grid_face_count(0) == 6
    faces = bmi.get_grid_face_nodes(0, np.empty(24, np.int32)).reshape(6, 4)
    assert list(faces[0]) == [0, 1, 5, 4]
    edges = bmi.get_grid_edge_nodes(0, np.empty(34, np.int32)).reshape(17, 2)
    face_edges = bmi.get_grid_face_edges(0, np.empty(24, np.int32)).reshape(6, 4)
    assert set(edges[face_edges[0]].ravel()) == set(faces[0])
    assert bmi.get_var_units(PRECIPITATION) == "mm h-1" and bmi.get_var_units(TENSION_WATER) == "mm"
    assert bmi.get_time_units() == "s" and bmi.get_time_step() == 600.0 and bmi.get_end_time() == np.inf
    bmi.update_until(3600.0)
    assert bmi.get_current_time() == 3600.0
    with pytest.raises(ConfigError, match="whole number"):
        bmi.update_until(3900.0)


def test_runoff_update_until_equals_updates(tmp_path):
    a, b = BmiXinanjiang(), BmiXinanjiang()
    cfg = str(_xaj_config(tmp_path, extra="[forcing]\nprecipitation = 7.5\npotential_evaporation = 0.2"))
    a.initialize(cfg)
    b.initialize(cfg)
    for _ in range(9):
        a.update()
    b.update_until(9 * 600.0)
    assert np.array_equal(a.get_value_ptr(RUNOFF), b.get_value_ptr(RUNOFF))
    assert np.array_equal(a.get_value_ptr(STORAGE), b.get_value_ptr(STORAGE))


def test_inputs_are_checked_and_outputs_cannot_be_set(tmp_path):
    bmi = BmiXinanjiang()
    bmi.initialize(str(_xaj_config(tmp_path)))
    bad = np.ones(20)
    bad[7] = np.nan
    with pytest.raises(InputDataError, match=f"{PRECIPITATION} is nan at element 7"):
        bmi.set_value(PRECIPITATION, bad)
    bmi.get_value_ptr(PET)[3] = -1.0  # written through the pointer: caught before the step
    with pytest.raises(InputDataError, match="at element 3"):
        bmi.update()
    assert bmi.get_current_time() == 0.0
    with pytest.raises(ConfigError, match="is an output"):
        bmi.set_value(RUNOFF, np.zeros(20))
    bmi.set_value_at_indices(PET, np.array([3, 4]), np.array([0.2, 0.3]))
    assert list(bmi.get_value_at_indices(PET, np.empty(2), np.array([3, 4]))) == [0.2, 0.3]
    with pytest.raises(ConfigError, match="unknown variable"):
        bmi.get_var_units("rain")
    bmi.finalize()
    with pytest.raises(ConfigError, match="call initialize"):
        bmi.update()


@pytest.mark.parametrize(("extra", "replace", "match"), [
    ("", ("LAG = 0.0", "LAG = 0.0\nLAGG = 1.0"), "parameters.LAGG unknown"),
    ("", ("K = 0.9", "K = 7.0"), "parameter K = 7"),
    ("", ("shape = [4, 5]", "shape = [0, 5]"), "grid: shape must be"),
    ("[forcing]\nprecipitation = -1.0", None, r"forcing\.precipitation"),
    ("parameter_file = 'nope.toml'", None, "exactly one of parameter_file"),
])
def test_runoff_bad_config_is_one_line_naming_file_and_key(tmp_path, extra, replace, match):
    cfg = _xaj_config(tmp_path, extra=extra)
    if replace is not None:
        cfg.write_text(cfg.read_text().replace(*replace))
    with pytest.raises(ConfigError, match=match) as err:
        BmiXinanjiang().initialize(str(cfg))
    assert str(cfg) in str(err.value) and "\n" not in str(err.value)


def test_runoff_parameter_file_resolves_against_the_config(tmp_path):
    (tmp_path / "sub").mkdir()
    cfg = _xaj_config(tmp_path / "sub")
    text = cfg.read_text()
    (tmp_path / "params.toml").write_text('model = "xaj"\n' + text[text.index("[parameters]"):])
    head = text[: text.index("[parameters]")]
    cfg.write_text(head.replace('model = "xaj"', 'model = "xaj"\nparameter_file = "../params.toml"'))
    bmi = BmiXinanjiang()
    bmi.initialize(str(cfg))
    assert np.array_equal(bmi.table.values, Xinanjiang(600 / 3600).step_table(XAJ_PARAMETERS[None, :]).values)
