"""Where the project's asset folders live (the package is installed editable from the repository)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO_ROOT / "models"
BASINS_DIR = REPO_ROOT / "basins"
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
