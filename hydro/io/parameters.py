"""Parameter files in ``models/<model>/*.toml``: search ranges for calibration and calibrated sets.

A file has ``model = "<name>"`` and a ``[parameters]`` table whose entries are either a number (a
calibrated value) or ``{ low, high, default }`` (a search range; low == high fixes the value).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import tomli_w
from numpy.typing import NDArray

from ..core.errors import ConfigError
from ..runoff.parameter_space import ParameterSpace
from .atomic import write_atomic
from .basin import toml_text

__all__ = ["ParameterSpace", "read_parameter_set", "read_parameter_space", "write_parameter_set"]


def _read_toml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found")
    try:
        return toml_text(path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:  # no read permission, an I/O error
        raise ConfigError(f"{path}: cannot read the parameter file ({exc.strerror or exc})") from None


def read_parameter_space(path: Path, model: str, names: list[str]) -> ParameterSpace:
    """Read search ranges for ``model``; every parameter in ``names`` must appear, nothing else."""
    path = Path(path)
    doc = _read_toml(path)
    if doc.get("model") != model:
        raise ConfigError(f"{path}: model = {doc.get('model')!r}, expected {model!r}")
    table = doc.get("parameters")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: missing [parameters] table")
    unknown = sorted(set(table) - set(names))
    missing = [n for n in names if n not in table]
    if unknown or missing:
        raise ConfigError(f"{path}: parameters.{', parameters.'.join(unknown or missing)} "
                          f"{'unknown' if unknown else 'missing'}; {model} has {', '.join(names)}")
    low, high, default = [], [], []
    for name in names:
        entry = table[name]
        if isinstance(entry, (int, float)) and not isinstance(entry, bool):
            lo = hi = de = _number(path, name, None, entry)
        elif isinstance(entry, dict) and {"low", "high"} <= set(entry) and set(entry) <= {"low", "high", "default"}:
            lo, hi = _number(path, name, "low", entry["low"]), _number(path, name, "high", entry["high"])
            de = _number(path, name, "default", entry.get("default", 0.5 * (lo + hi)))
        else:
            raise ConfigError(f"{path}: parameters.{name} must be a number or {{ low, high, default }}, got {entry!r}")
        if not lo <= de <= hi:
            raise ConfigError(f"{path}: parameters.{name}: need low <= default <= high, got {lo}, {de}, {hi}")
        low.append(lo)
        high.append(hi)
        default.append(de)
    return ParameterSpace(str(path), list(names), np.array(low), np.array(high), np.array(default))


def _number(path, name: str, key: str | None, value) -> float:
    """A finite TOML number; a quoted "1.0", a boolean or nan/inf is refused rather than coerced."""
    where = f"parameters.{name}" + (f".{key}" if key else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}: {where} = {value!r} is not a number; write a bare TOML number (no quotes)")
    if not np.isfinite(value):
        raise ConfigError(f"{path}: {where} = {value!r} is not finite; give a finite bound")
    return float(value)


def read_parameter_set(path: Path, model: str, names: list[str]) -> NDArray[np.float64]:
    """Read one calibrated set (numbers only) in the order of ``names``."""
    space = read_parameter_space(path, model, names)
    if space.free.any():
        raise ConfigError(f"{Path(path)}: parameters {', '.join(np.array(names)[space.free])} are ranges, "
                          "not values; give a calibrated set")
    return space.default


def write_parameter_set(path: Path, model: str, names: list[str], values: NDArray[np.float64],
                        metadata: dict) -> None:
    """Write a calibrated set atomically: ``model``, ``[parameters]`` values and a ``[calibration]`` record."""
    doc = {"model": model, "parameters": {n: float(v) for n, v in zip(names, values, strict=True)},
           "calibration": metadata}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            tomli_w.dump(doc, fh)

    write_atomic(path, write)
