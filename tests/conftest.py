"""Shared fixtures: the real data in ../shared/data, resolved relative to the repo; skipped with the
reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def pytest_configure(config):
    """One user cache per test session (the demo basin and the simulated climatology are built once in
    it), so tests neither read nor fill the developer's own cache."""
    import os
    import tempfile

    os.environ.setdefault("HYDRO_CACHE_DIR", tempfile.mkdtemp(prefix="hydro-test-cache-"))


def _data(folder: str, marker: str, what: str) -> Path:
    path = DATA / folder
    if not (path / marker).is_file():
        pytest.skip(f"{what} not found at {path} (shared/data is checked out beside the repo)")
    return path


@pytest.fixture(scope="session")
def nwm_dir() -> Path:
    return _data("nwm_lower_colorado", "reference_flow_troute_mc.nc", "real NWM Lower Colorado data")


@pytest.fixture(scope="session")
def catchments_dir() -> Path:
    return _data("catchments", "sieve_fornacina_hourly/sieve_fornacina_hourly.nc", "real catchment data")


@pytest.fixture(scope="session")
def radar_dir() -> Path:
    return _data("radar", "knmi_20100826.nc", "real radar data")
