"""Folders of a source checkout that some commands use when they are there: ``benchmarks/`` (``hydro
bench``) and ``basins/catchments/`` (default catchment descriptions for ``hydro calibrate``). Installed
from a wheel there is no checkout (``IN_CHECKOUT`` is False) and these folders do not exist; nothing
here is written to. Everything else resolves through :mod:`hydro.core.workspace` (relative to a config
file, packaged defaults, the user cache)."""

from pathlib import Path

_SOURCE = Path(__file__).resolve().parents[2]
IN_CHECKOUT = (_SOURCE / "pyproject.toml").is_file()
BASINS_DIR = _SOURCE / "basins"
BENCHMARKS_DIR = _SOURCE / "benchmarks"
