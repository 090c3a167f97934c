"""Basic Model Interface 2.0 (``bmipy``) for the gridded Xinanjiang runoff model and the network routing.

Two thin BMI layers over the existing model objects (no physics here):

* :class:`BmiXinanjiang` runs :class:`hydro.runoff.Xinanjiang` on every node of a uniform rectilinear
  grid, one model step per ``update``.
* :class:`BmiNetworkRouting` runs :class:`hydro.routing.channel.MuskingumCunge` (NWM Muskingum-Cunge
  with level-pool lakes) on a :class:`hydro.network.RiverNetwork`, one output step per ``update``,
  carrying the :class:`~hydro.routing.channel.RoutingState` so that N updates equal one N-step run
  bit for bit.

Variables carry CSDMS standard names and UDUNITS units; time is in seconds from the start (0). Each
class reads a small TOML file given to ``initialize`` (``examples/bmi/*.toml``; relative paths in it
resolve against the file's folder). Only input variables can be set; values are checked when set and
again before each step (NaN, infinite or negative values raise :class:`InputDataError` naming the
variable and the element), so a framework writing through ``get_value_ptr`` cannot slip NaN into a
model. See ``docs/bmi.md`` for the variable tables and how to run ``bmi-test``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from bmipy import Bmi
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator

from .core.errors import ConfigError, InputDataError

__all__ = ["BmiXinanjiang", "BmiNetworkRouting"]

_TIME_TOL = 1e-9  # relative tolerance when a time must be a whole number of steps


# ----------------------------------------------------------------------------------------- config
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _GridConfig(_Strict):
    shape: tuple[int, int]  # rows (y), columns (x)
    spacing: tuple[float, float]  # dy, dx [m]
    origin: tuple[FiniteFloat, FiniteFloat] = (0.0, 0.0)  # y, x of node (0, 0) [m]

    @model_validator(mode="after")
    def _positive(self) -> _GridConfig:
        if min(self.shape) < 1:
            raise ValueError(f"shape must be two positive counts [rows, columns], got {list(self.shape)}")
        if not all(math.isfinite(s) and s > 0 for s in self.spacing):
            raise ValueError(f"spacing must be two positive lengths [dy, dx] in m, got {list(self.spacing)}")
        return self


class _TimeConfig(_Strict):
    time_step: float = Field(gt=0, allow_inf_nan=False)  # [s]
    end_time: float = Field(default=float("inf"), gt=0)  # [s]; inf: no end


class _RoutingTime(_TimeConfig):
    time_step: float = Field(default=300.0, gt=0, allow_inf_nan=False)  # [s]; the NWM routing step


class _RunoffForcing(_Strict):
    precipitation: float = Field(default=0.0, ge=0, allow_inf_nan=False)  # mm h-1
    potential_evaporation: float = Field(default=0.0, ge=0, allow_inf_nan=False)  # mm h-1


class _RunoffInitial(_Strict):
    tension_fraction: float = Field(default=0.5, ge=0, le=1)
    flow: float = Field(default=0.0, ge=0, allow_inf_nan=False)  # mm h-1 drained by groundwater at the start


class _XinanjiangConfig(_Strict):
    model: Literal["xaj"]
    grid: _GridConfig
    time: _TimeConfig
    forcing: _RunoffForcing = _RunoffForcing()
    initial: _RunoffInitial = _RunoffInitial()
    parameter_file: str | None = None
    parameters: dict[str, float | dict[str, float]] | None = None  # checked by hydro.io.parameters

    @model_validator(mode="after")
    def _one_parameter_source(self) -> _XinanjiangConfig:
        if (self.parameter_file is None) == (self.parameters is None):
            raise ValueError("give exactly one of parameter_file = \"...\" or a [parameters] table")
        return self


class _SyntheticNetwork(_Strict):
    segments: int = Field(ge=1, le=2_000_000)
    seed: int = 1
    lakes: int = Field(default=0, ge=0)


class _NetworkSource(_Strict):
    synthetic: _SyntheticNetwork | None = None
    file: str | None = None  # hydro network NetCDF (hydro.io.netcdf.write_network)
    routelink: str | None = None  # NWM RouteLink
    lakeparm: str | None = None  # NWM LAKEPARM (with file or routelink)

    @model_validator(mode="after")
    def _one_source(self) -> _NetworkSource:
        given = [k for k in ("synthetic", "file", "routelink") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of synthetic = { segments, seed }, file = \"network.nc\" or "
                             f"routelink = \"RouteLink.nc\" (got {', '.join(given) or 'none'})")
        if self.lakeparm is not None and self.synthetic is not None:
            raise ValueError("lakeparm goes with file or routelink; a synthetic network takes lakes = N")
        return self


class _RoutingOptions(_Strict):
    dt: float | None = Field(default=None, gt=0, allow_inf_nan=False)  # routing step [s]; default time_step
    solver: Literal["nwm", "fast"] = "nwm"
    upstream: Literal["previous", "current"] = "previous"


class _RoutingForcing(_Strict):
    lateral_inflow: float = Field(default=0.0, ge=0, allow_inf_nan=False)  # m3 s-1 per node


class _RoutingConfig(_Strict):
    network: _NetworkSource
    time: _RoutingTime = _RoutingTime()
    routing: _RoutingOptions = _RoutingOptions()
    forcing: _RoutingForcing = _RoutingForcing()


def _read_config(config_file: str | Path | None, model: type[BaseModel], what: str) -> tuple[Path, BaseModel]:
    from .io.basin import read_toml_model

    if config_file is None or str(config_file) == "":
        raise ConfigError(f"{what}: initialize needs the path of a TOML config file (see examples/bmi/)")
    path = Path(config_file).expanduser()
    if not path.is_absolute() and not path.is_file() and Path(path.name).is_file():
        # bmi-tester copies --root-dir into a scratch folder and initializes from there, so a config named
        # relative to where the command ran (examples/bmi/x.toml) sits in the working folder by its name
        path = Path(path.name)
    path = path.resolve()
    return path, read_toml_model(path, model, f"{what} config")


def _relative(config: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else config.parent / path


# ------------------------------------------------------------------------------------------ grids
class _UniformGrid:
    """BMI uniform rectilinear grid: node (i, j) at (origin_y + i dy, origin_x + j dx), row-major."""

    type = "uniform_rectilinear"

    def __init__(self, shape: tuple[int, int], spacing: tuple[float, float], origin: tuple[float, float]):
        self.shape = tuple(int(s) for s in shape)
        self.spacing = tuple(float(s) for s in spacing)
        self.origin = tuple(float(o) for o in origin)

    @property
    def rank(self) -> int:
        return 2

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def x(self) -> NDArray[np.float64]:
        return self.origin[1] + self.spacing[1] * np.arange(self.shape[1])

    @property
    def y(self) -> NDArray[np.float64]:
        return self.origin[0] + self.spacing[0] * np.arange(self.shape[0])

    @property
    def edges(self) -> NDArray[np.int64]:
        """[n_edges, 2] node pairs: the row edges, then the column edges."""
        ny, nx = self.shape
        node = np.arange(self.size).reshape(ny, nx)
        across = np.stack([node[:, :-1].ravel(), node[:, 1:].ravel()], axis=1)
        down = np.stack([node[:-1, :].ravel(), node[1:, :].ravel()], axis=1)
        return np.concatenate([across, down]).astype(np.int64)

    @property
    def face_nodes(self) -> NDArray[np.int64]:
        """[n_faces, 4] corner nodes of each quadrilateral, counter-clockwise from the lower left."""
        ny, nx = self.shape
        node = np.arange(self.size).reshape(ny, nx)
        return np.stack([node[:-1, :-1].ravel(), node[:-1, 1:].ravel(), node[1:, 1:].ravel(),
                         node[1:, :-1].ravel()], axis=1).astype(np.int64)

    @property
    def face_edges(self) -> NDArray[np.int64]:
        """[n_faces, 4] edges of each quadrilateral: bottom, right, top, left (indices into ``edges``)."""
        ny, nx = self.shape
        n_across = ny * (nx - 1)
        across = np.arange(n_across).reshape(ny, nx - 1)
        down = n_across + np.arange((ny - 1) * nx).reshape(ny - 1, nx)
        return np.stack([across[:-1, :].ravel(), down[:, 1:].ravel(), across[1:, :].ravel(),
                         down[:, :-1].ravel()], axis=1).astype(np.int64)


class _PointGrid:
    """BMI unstructured grid of points (network nodes) joined by edges (the downstream links)."""

    type = "unstructured"

    def __init__(self, x: NDArray[np.float64], y: NDArray[np.float64], edges: NDArray[np.int64]):
        self._x = np.ascontiguousarray(x, np.float64)
        self._y = np.ascontiguousarray(y, np.float64)
        self.edges = np.ascontiguousarray(edges, np.int64).reshape(-1, 2)

    rank = 2

    @property
    def size(self) -> int:
        return int(self._x.size)

    @property
    def x(self) -> NDArray[np.float64]:
        return self._x

    @property
    def y(self) -> NDArray[np.float64]:
        return self._y

    face_nodes = np.zeros((0, 0), np.int64)
    face_edges = np.zeros((0, 0), np.int64)


# -------------------------------------------------------------------------------------- variables
@dataclass(frozen=True)
class BmiVariable:
    """One BMI variable: UDUNITS units, whether it is an input, its grid and a description."""

    units: str
    input: bool
    grid: int
    description: str


class _HydroBmi(Bmi):
    """Shared BMI plumbing: variable table, value access, grids and time (subclasses fill them in)."""

    _COMPONENT = "hydro"
    VARIABLES: dict[str, BmiVariable] = {}

    def __init__(self) -> None:
        self._arrays: dict[str, NDArray] = {}
        self._variables: dict[str, BmiVariable] = {}
        self._grids: list[_UniformGrid | _PointGrid] = []
        self._time = 0.0
        self._dt = 0.0
        self._end = float("inf")
        self._config_path: Path | None = None

    # -------------------------------------------------------------- helpers
    def _ready(self) -> None:
        if not self._arrays:
            raise ConfigError(f"{type(self).__name__}: call initialize(config_file) first")

    def _var(self, name: str) -> BmiVariable:
        self._ready()
        try:
            return self._variables[name]
        except KeyError:
            raise ConfigError(f"{type(self).__name__}: unknown variable {name!r}; "
                              f"available: {', '.join(self._variables)}") from None

    def _grid(self, grid: int) -> _UniformGrid | _PointGrid:
        self._ready()
        if not 0 <= int(grid) < len(self._grids):
            raise ConfigError(f"{type(self).__name__}: no grid {grid}; grids are 0..{len(self._grids) - 1}")
        return self._grids[int(grid)]

    def _check_input(self, name: str, values: NDArray) -> None:
        """Raise InputDataError naming ``name`` and the first element that is NaN, infinite or negative."""
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputDataError(f"{type(self).__name__}: {name} is {float(values[i])!r} at element {i} "
                                 f"({int(bad.sum())} NaN, infinite or negative values in all); give finite values >= 0 "
                                 f"[{self._variables[name].units}]")

    def _check_inputs(self) -> None:
        for name, var in self._variables.items():
            if var.input:
                self._check_input(name, self._arrays[name])

    def _settable(self, name: str) -> NDArray:
        if not self._var(name).input:
            inputs = [n for n, v in self._variables.items() if v.input]
            raise ConfigError(f"{type(self).__name__}: {name} is an output and cannot be set; "
                              f"inputs: {', '.join(inputs)}")
        return self._arrays[name]

    # -------------------------------------------------------------- control
    def update(self) -> None:
        """Advance the model by one time step."""
        self._ready()
        self._check_inputs()
        self._step()
        self._time += self._dt

    def update_until(self, time: float) -> None:
        """Advance the model to ``time`` [s], a whole number of time steps after the current time."""
        self._ready()
        n = (float(time) - self._time) / self._dt
        if n < -_TIME_TOL or abs(n - round(n)) > _TIME_TOL * max(1.0, abs(n)):
            raise ConfigError(f"{type(self).__name__}: update_until({time!r}) is not a whole number of "
                              f"{self._dt:g} s steps after the current time {self._time:g} s")
        for _ in range(int(round(n))):
            self.update()

    def finalize(self) -> None:
        """Release the model's arrays; ``initialize`` may be called again."""
        self.__init__()

    # -------------------------------------------------------------- info
    def get_component_name(self) -> str:
        return self._COMPONENT

    def get_input_item_count(self) -> int:
        return len(self.get_input_var_names())

    def get_output_item_count(self) -> int:
        return len(self.get_output_var_names())

    # bmi-tester still probes the BMI 1.0 names of the two counts
    get_input_var_name_count = get_input_item_count
    get_output_var_name_count = get_output_item_count

    def get_input_var_names(self) -> tuple[str, ...]:
        return tuple(n for n, v in (self._variables or self.VARIABLES).items() if v.input)

    def get_output_var_names(self) -> tuple[str, ...]:
        return tuple(n for n, v in (self._variables or self.VARIABLES).items() if not v.input)

    # -------------------------------------------------------------- variables
    def get_var_grid(self, name: str) -> int:
        return self._var(name).grid

    def get_var_type(self, name: str) -> str:
        self._var(name)
        return str(self._arrays[name].dtype)

    def get_var_units(self, name: str) -> str:
        return self._var(name).units

    def get_var_itemsize(self, name: str) -> int:
        self._var(name)
        return int(self._arrays[name].itemsize)

    def get_var_nbytes(self, name: str) -> int:
        self._var(name)
        return int(self._arrays[name].nbytes)

    def get_var_location(self, name: str) -> str:
        self._var(name)
        return "node"

    # -------------------------------------------------------------- time
    def get_current_time(self) -> float:
        return float(self._time)

    def get_start_time(self) -> float:
        return 0.0

    def get_end_time(self) -> float:
        return float(self._end)

    def get_time_units(self) -> str:
        return "s"

    def get_time_step(self) -> float:
        return float(self._dt)

    # -------------------------------------------------------------- values
    def get_value(self, name: str, dest: NDArray) -> NDArray:
        self._var(name)
        dest[:] = self._arrays[name].reshape(-1)
        return dest

    def get_value_ptr(self, name: str) -> NDArray:
        self._var(name)
        return self._arrays[name]

    def get_value_at_indices(self, name: str, dest: NDArray, inds: NDArray) -> NDArray:
        self._var(name)
        dest[:] = self._arrays[name].reshape(-1)[np.asarray(inds, np.int64)]
        return dest

    def set_value(self, name: str, src: NDArray) -> None:
        target = self._settable(name)
        values = np.asarray(src, target.dtype).reshape(-1)
        if values.size != target.size:
            raise InputDataError(f"{type(self).__name__}: {name} needs {target.size} values, got {values.size}")
        self._check_input(name, values)
        target[:] = values

    def set_value_at_indices(self, name: str, inds: NDArray, src: NDArray) -> None:
        target = self._settable(name)
        inds = np.asarray(inds, np.int64).reshape(-1)
        values = np.asarray(src, target.dtype).reshape(-1)
        if inds.size and (inds.min() < 0 or inds.max() >= target.size):
            raise InputDataError(f"{type(self).__name__}: {name} indices must be in [0, {target.size}), "
                                 f"got [{inds.min()}, {inds.max()}]")
        self._check_input(name, values)
        target[inds] = values

    # -------------------------------------------------------------- grids
    def get_grid_rank(self, grid: int) -> int:
        return int(self._grid(grid).rank)

    def get_grid_size(self, grid: int) -> int:
        return int(self._grid(grid).size)

    def get_grid_type(self, grid: int) -> str:
        return self._grid(grid).type

    def _uniform(self, grid: int, what: str) -> _UniformGrid:
        g = self._grid(grid)
        if not isinstance(g, _UniformGrid):
            raise ConfigError(f"{type(self).__name__}: grid {grid} is {g.type}; it has no {what} "
                              "(use get_grid_x/get_grid_y and get_grid_node_count)")
        return g

    def get_grid_shape(self, grid: int, shape: NDArray) -> NDArray:
        shape[:] = self._uniform(grid, "shape").shape
        return shape

    def get_grid_spacing(self, grid: int, spacing: NDArray) -> NDArray:
        spacing[:] = self._uniform(grid, "spacing").spacing
        return spacing

    def get_grid_origin(self, grid: int, origin: NDArray) -> NDArray:
        origin[:] = self._uniform(grid, "origin").origin
        return origin

    def get_grid_x(self, grid: int, x: NDArray) -> NDArray:
        x[:] = self._grid(grid).x
        return x

    def get_grid_y(self, grid: int, y: NDArray) -> NDArray:
        y[:] = self._grid(grid).y
        return y

    def get_grid_z(self, grid: int, z: NDArray) -> NDArray:
        raise ConfigError(f"{type(self).__name__}: grid {grid} is two-dimensional (rank 2); it has no z")

    def get_grid_node_count(self, grid: int) -> int:
        return int(self._grid(grid).size)

    def get_grid_edge_count(self, grid: int) -> int:
        return int(self._grid(grid).edges.shape[0])

    def get_grid_face_count(self, grid: int) -> int:
        return int(self._grid(grid).face_nodes.shape[0])

    def get_grid_edge_nodes(self, grid: int, edge_nodes: NDArray) -> NDArray:
        edge_nodes[:] = self._grid(grid).edges.reshape(-1)
        return edge_nodes

    def get_grid_face_edges(self, grid: int, face_edges: NDArray) -> NDArray:
        face_edges[:] = self._grid(grid).face_edges.reshape(-1)
        return face_edges

    def get_grid_face_nodes(self, grid: int, face_nodes: NDArray) -> NDArray:
        face_nodes[:] = self._grid(grid).face_nodes.reshape(-1)
        return face_nodes

    def get_grid_nodes_per_face(self, grid: int, nodes_per_face: NDArray) -> NDArray:
        faces = self._grid(grid).face_nodes
        nodes_per_face[:] = faces.shape[1] if faces.shape[0] else 0
        return nodes_per_face

    # -------------------------------------------------------------- subclass hooks
    def _step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


# ------------------------------------------------------------------------------- Xinanjiang runoff
PRECIPITATION = "atmosphere_water__precipitation_leq-volume_flux"
PET = "land_surface_water__potential_evaporation_volume_flux"
RUNOFF = "land_surface_water__runoff_volume_flux"
EVAPORATION = "land_surface_water__evaporation_volume_flux"
TENSION_WATER = "soil_water~tension__volume-per-area_storage_density"
FREE_WATER = "soil_water~free__volume-per-area_storage_density"
STORAGE = "land_region_water__volume-per-area_storage_density"


class BmiXinanjiang(_HydroBmi):
    """BMI 2.0 for the Xinanjiang runoff model on a uniform rectilinear grid (one model per node).

    Config (TOML, see ``examples/bmi/xinanjiang.toml``)::

        model = "xaj"
        [grid]                # shape = [rows, columns]; spacing = [dy, dx] m; origin = [y, x] of node (0, 0)
        [time]                # time_step [s] (one model step per update), end_time [s] (default: none)
        [forcing]             # precipitation, potential_evaporation [mm h-1] until set_value (default 0)
        [initial]             # tension_fraction (0.5), flow [mm h-1] drained by groundwater (0)
        [parameters]          # K, UM, ... as models/xaj/*.toml; or parameter_file = "path"

    One parameter set serves every node; its units are step-independent and converted to the time step
    (:mod:`hydro.runoff.xaj`). Fluxes are rates over the last step [mm h-1]; storages are depths [mm].
    Outputs per step close the water balance: (P - E - R) dt = change of the total storage.
    """

    _COMPONENT = "Xinanjiang runoff (hydro)"
    VARIABLES = {
        PRECIPITATION: BmiVariable("mm h-1", True, 0, "precipitation rate over the next step"),
        PET: BmiVariable("mm h-1", True, 0, "potential evapotranspiration over the next step (scaled by K)"),
        RUNOFF: BmiVariable("mm h-1", False, 0, "runoff leaving the cell over the last step"),
        EVAPORATION: BmiVariable("mm h-1", False, 0, "actual evapotranspiration over the last step"),
        TENSION_WATER: BmiVariable("mm", False, 0, "tension water W = WU + WL + WD on the pervious area"),
        FREE_WATER: BmiVariable("mm", False, 0, "free water S x FR on the pervious area"),
        STORAGE: BmiVariable("mm", False, 0, "all water held by the cell (soil, reservoirs, lag)"),
    }

    def initialize(self, config_file: str) -> None:
        """Read the TOML ``config_file``, check the parameters and set the cold start state."""
        from .io.parameters import read_parameter_set
        from .runoff import Xinanjiang

        self.__init__()
        path, cfg = _read_config(config_file, _XinanjiangConfig, "Xinanjiang BMI")
        self._config_path = path
        try:
            model = Xinanjiang(cfg.time.time_step / 3600.0)
            source = path if cfg.parameters is not None else _relative(path, cfg.parameter_file)
            values = read_parameter_set(source, model.name, model.parameter_names)
            table = model.step_table(values[None, :])
        except ConfigError as exc:
            text = str(exc)
            raise ConfigError(text if text.startswith(str(path)) else f"{path}: {text}") from None
        grid = _UniformGrid(cfg.grid.shape, cfg.grid.spacing, cfg.grid.origin)
        n = grid.size
        dt_h = cfg.time.time_step / 3600.0
        self._model, self._table, self._dt_h = model, table, dt_h
        self._state = model.cold_state(table, n, initial_flow_mm=cfg.initial.flow * dt_h,
                                       tension_fraction=cfg.initial.tension_fraction)
        self._grids = [grid]
        self._variables = dict(self.VARIABLES)
        self._dt, self._end = float(cfg.time.time_step), float(cfg.time.end_time)
        self._arrays = {name: np.zeros(n) for name in self.VARIABLES}
        self._arrays[PRECIPITATION][:] = cfg.forcing.precipitation
        self._arrays[PET][:] = cfg.forcing.potential_evaporation
        self._refresh_state()

    def _refresh_state(self) -> None:
        from .kernels import runoff as kr

        state = self._state.arrays["state"]
        self._arrays[TENSION_WATER][:] = state[:, kr.XAJ_WU] + state[:, kr.XAJ_WL] + state[:, kr.XAJ_WD]
        self._arrays[FREE_WATER][:] = state[:, kr.XAJ_S] * state[:, kr.XAJ_FR]
        self._arrays[STORAGE][:] = self._model.storage(self._table, self._state)

    def _step(self) -> None:
        dt_h = self._dt_h
        precip = (self._arrays[PRECIPITATION] * dt_h)[None, :]  # mm h-1 -> mm per step
        pet = (self._arrays[PET] * dt_h)[None, :]
        runoff, evaporation = self._model.run(precip, pet, self._table, self._state)
        self._arrays[RUNOFF][:] = runoff[0] / dt_h
        self._arrays[EVAPORATION][:] = evaporation / dt_h
        self._refresh_state()

    @property
    def model(self):
        """The wrapped :class:`hydro.runoff.Xinanjiang` (its ``step_table`` is :attr:`table`)."""
        return self._model

    @property
    def table(self):
        """Parameters converted to the time step (:class:`hydro.runoff.base.StepTable`)."""
        return self._table

    @property
    def state(self):
        """The live :class:`hydro.runoff.base.RunoffState` (advanced in place by ``update``)."""
        return self._state


# -------------------------------------------------------------------------------- network routing
LATERAL_INFLOW = "channel_water__lateral_inflow_volume_flow_rate"
DISCHARGE = "channel_water_x-section__volume_flow_rate"
DEPTH = "channel_water__depth"
VELOCITY = "channel_water_flow__speed"
LAKE_ELEVATION = "lake_water_surface__elevation"


class BmiNetworkRouting(_HydroBmi):
    """BMI 2.0 for NWM Muskingum-Cunge routing with level-pool lakes on a river network.

    Config (TOML, see ``examples/bmi/routing.toml``)::

        [network]   # synthetic = { segments = 200, seed = 1, lakes = 0 }, or file = "network.nc"
                    # (hydro network NetCDF), or routelink = "RouteLink.nc"; lakeparm = "LAKEPARM.nc"
        [time]      # time_step [s] (one update; default 300), end_time [s] (default: none)
        [routing]   # dt [s] (routing step, default time_step), solver = "nwm" | "fast",
                    # upstream = "previous" | "current"
        [forcing]   # lateral_inflow [m3 s-1] on every node until set_value (default 0)

    Grid 0 is an unstructured grid whose nodes are the network nodes in the network's order (lakes
    collapsed, appended last) and whose edges are the downstream links. Node coordinates are the
    network's longitude / latitude when every node has them, else x = node index and y = 0. With lakes,
    grid 1 holds the lake nodes (their water-surface elevation). Lateral inflow is held constant over an
    update; discharge, depth and velocity are the values at the end of it. Starts cold (zero flow).
    """

    _COMPONENT = "NWM Muskingum-Cunge network routing (hydro)"
    VARIABLES = {
        LATERAL_INFLOW: BmiVariable("m3 s-1", True, 0, "lateral inflow into each node over the next step "
                                    "(dropped on lake nodes, as the NWM does)"),
        DISCHARGE: BmiVariable("m3 s-1", False, 0, "outflow of each node (streamflow)"),
        DEPTH: BmiVariable("m", False, 0, "Muskingum-Cunge flow depth (0 on lake nodes)"),
        VELOCITY: BmiVariable("m s-1", False, 0, "NWM mean flow velocity (0 on lake nodes)"),
    }
    LAKE_VARIABLE = BmiVariable("m", False, 1, "level-pool lake water-surface elevation")

    def initialize(self, config_file: str) -> None:
        """Read the TOML ``config_file``, build the network and the router, and start cold."""
        from .routing.channel import MuskingumCunge

        self.__init__()
        path, cfg = _read_config(config_file, _RoutingConfig, "network routing BMI")
        self._config_path = path
        step = float(cfg.time.time_step)
        dt = float(cfg.routing.dt or step)
        substeps = step / dt
        if abs(substeps - round(substeps)) > _TIME_TOL * substeps or round(substeps) < 1:
            raise ConfigError(f"{path}: time.time_step = {step:g} s must be a whole multiple of routing.dt = {dt:g} s")
        network, lakes = self._network(path, cfg.network)
        try:
            model = MuskingumCunge(network, lakes, dt, solver=cfg.routing.solver, upstream=cfg.routing.upstream)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        self._model, self._substeps = model, int(round(substeps))
        self._routing_state = model.cold_state()
        self._dt, self._end = step, float(cfg.time.end_time)
        n = network.size
        x, y = self._coordinates(network)
        down = network.downstream_index
        linked = np.flatnonzero(down >= 0)
        self._grids = [_PointGrid(x, y, np.stack([linked, down[linked]], axis=1))]
        self._variables = dict(self.VARIABLES)
        self._arrays = {name: np.zeros(n, np.float32) for name in self.VARIABLES}
        self._arrays[LATERAL_INFLOW][:] = cfg.forcing.lateral_inflow
        if model.lake_node_index.size:
            lake = model.lake_node_index
            self._grids.append(_PointGrid(x[lake], y[lake], np.zeros((0, 2), np.int64)))
            self._variables[LAKE_ELEVATION] = self.LAKE_VARIABLE
            self._arrays[LAKE_ELEVATION] = np.zeros(lake.size, np.float32)
        self._publish(self._routing_state, None, None)

    @staticmethod
    def _network(path: Path, source: _NetworkSource):
        """(network with lakes collapsed, lake parameters or None) from the [network] table."""
        if source.synthetic is not None:
            from .synthetic import synthetic_lakes, synthetic_network

            syn = source.synthetic
            network, local_area = synthetic_network(syn.segments, seed=syn.seed)
            if not syn.lakes:
                return network, None
            network, lakes = synthetic_lakes(network, local_area, syn.lakes, seed=syn.seed)
            return network.collapse_lakes(lakes.lake_id), lakes
        from .stages.pipeline import load_network

        files = {key: _relative(path, getattr(source, key)) for key in ("file", "routelink", "lakeparm")
                 if getattr(source, key) is not None}
        for key, file in files.items():
            if not file.is_file():
                raise ConfigError(f"{path}: network.{key} = {getattr(source, key)!r}: {file} not found")
        return load_network(files.get("routelink"), files.get("file"), files.get("lakeparm"))

    @staticmethod
    def _coordinates(network) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        lon, lat = network.longitude, network.latitude
        if lon is not None and lat is not None and np.isfinite(lon).all() and np.isfinite(lat).all():
            return lon.astype(np.float64), lat.astype(np.float64)
        return np.arange(network.size, dtype=np.float64), np.zeros(network.size)

    def _publish(self, state, depth: NDArray | None, velocity: NDArray | None) -> None:
        self._arrays[DISCHARGE][:] = state.streamflow
        self._arrays[DEPTH][:] = np.nan_to_num(state.depth if depth is None else depth, nan=0.0)  # NaN on lakes
        self._arrays[VELOCITY][:] = 0.0 if velocity is None else velocity  # cold start: no flow
        if LAKE_ELEVATION in self._arrays:
            self._arrays[LAKE_ELEVATION][:] = state.water_sfc_elev

    def _step(self) -> None:
        n = self._substeps
        result = self._model.run(self._arrays[LATERAL_INFLOW][None, :], self._dt, n, self._routing_state,
                                 output_every=n)
        self._model.check_converged(result)
        self._routing_state = result.final_state
        self._publish(result.final_state, result.depth[0], result.velocity[0])

    @property
    def model(self):
        """The wrapped :class:`hydro.routing.channel.MuskingumCunge`."""
        return self._model

    @property
    def state(self):
        """The current :class:`hydro.routing.channel.RoutingState` (replaced by each ``update``)."""
        return self._routing_state
