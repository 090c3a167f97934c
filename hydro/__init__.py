"""hydro: digital-twin watershed flood forecasting (forecast, warning, rehearsal, plan)."""

__version__ = "0.1.0"
