"""Folder names kept for code that has not moved to :mod:`hydro.core.workspace` yet (interim).

New code resolves paths with ``hydro.core.workspace`` (relative to the config file, packaged defaults,
the user cache) and uses none of these. Until the last users switch:

* ``MODELS_DIR`` is the packaged parameter sets and search ranges (``hydro/data/models``), in a
  checkout and in an installed wheel alike.
* In a source checkout (a ``pyproject.toml`` beside the package) ``REPO_ROOT`` is the checkout and
  ``BASINS_DIR`` / ``BENCHMARKS_DIR`` its ``basins/`` and ``benchmarks/``.
* Installed from a wheel there is no checkout: ``REPO_ROOT`` is the packaged data folder (so
  ``REPO_ROOT / "forcing"`` is the packaged forcing set-ups), ``BASINS_DIR`` the user cache's basin
  folder (``BASINS_DIR / "demo"`` is the cached demo basin) and ``BENCHMARKS_DIR`` does not exist.
  Nothing here points into site-packages for writing.
"""

from pathlib import Path

from .workspace import data_root, demo_basin_folder

_SOURCE = Path(__file__).resolve().parents[2]
IN_CHECKOUT = (_SOURCE / "pyproject.toml").is_file()
MODELS_DIR = data_root() / "models"
if IN_CHECKOUT:
    REPO_ROOT = _SOURCE
    BASINS_DIR = REPO_ROOT / "basins"
else:
    REPO_ROOT = data_root()
    BASINS_DIR = demo_basin_folder().parent
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
