"""Shared fixtures: the real Lower Colorado data in ../shared/data, resolved relative to the repo."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NWM_DIR = REPO.parent / "shared" / "data" / "nwm_lower_colorado"


@pytest.fixture(scope="session")
def nwm_dir() -> Path:
    if not (NWM_DIR / "reference_flow_troute_mc.nc").is_file():
        pytest.skip(f"real NWM Lower Colorado data not found at {NWM_DIR} (shared/data is checked out beside the repo)")
    return NWM_DIR


CATCHMENTS_DIR = REPO.parent / "shared" / "data" / "catchments"


@pytest.fixture(scope="session")
def catchments_dir() -> Path:
    if not (CATCHMENTS_DIR / "sieve_fornacina_hourly" / "sieve_fornacina_hourly.nc").is_file():
        pytest.skip(f"real catchment data not found at {CATCHMENTS_DIR} (shared/data is checked out beside the repo)")
    return CATCHMENTS_DIR


RADAR_DIR = REPO.parent / "shared" / "data" / "radar"


@pytest.fixture(scope="session")
def radar_dir() -> Path:
    if not (RADAR_DIR / "knmi_20100826.nc").is_file():
        pytest.skip(f"real radar data not found at {RADAR_DIR} (shared/data is checked out beside the repo)")
    return RADAR_DIR
