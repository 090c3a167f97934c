"""Reservoir and lake models."""
