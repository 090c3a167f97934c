"""Runoff-generation models (registered under kind "runoff"): Xinanjiang and GR4J/GR4H."""

from .base import RunoffModel, RunoffState, StepTable
from .gr4 import GR4
from .xaj import Xinanjiang

__all__ = ["GR4", "RunoffModel", "RunoffState", "StepTable", "Xinanjiang"]
