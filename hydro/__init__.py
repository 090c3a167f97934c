"""hydro: digital-twin watershed flood forecasting (forecast, warning, rehearsal, plan).

The library API is loaded on first use, so ``import hydro`` and ``hydro --version`` stay fast:

* networks and routing: ``RiverNetwork`` (``.from_routelink``, ``.from_netcdf``), ``read_lateral``, ``route``
* the cycle: ``Cycle`` (``.from_config(...).run()``), ``CycleResult``
* runoff models: ``Xinanjiang``, ``GR4``; nowcasts: ``SProg``, ``Steps``, ``read_radar``
* methods by name: ``get_method(kind, name)``, ``methods()``; errors: ``HydroError``, ``ConfigError``,
  ``InputDataError``, ``NumericalError``
* BMI 2.0: ``hydro.bmi.BmiXinanjiang``, ``hydro.bmi.BmiNetworkRouting``

See docs/api.md.
"""

from __future__ import annotations

import importlib
import os
import sys

# numba optimises a kernel once at O3 after an O0 inlining pass; the NWM Muskingum-Cunge lane loops only
# vectorise on a second O3 pass. A caller links in its callees' optimised code and optimises it again, and the
# on-disk cache holds that copy; a process that compiled the kernels itself calls their own once-optimised copy:
# 200 ns per segment-step against 67 from the cache. 'max' makes the first pass O3 with loop vectorisation (same
# compile time, same numbers: no kernel uses fastmath). It counts where numba builds its code generator after
# this (its first compile or cache load); a user's own NUMBA_OPT wins (docs/api.md).
os.environ.setdefault("NUMBA_OPT", "max")
if "numba" in sys.modules:  # imported before hydro: it read its configuration without this
    sys.modules["numba"].core.config.reload_config()

__version__ = "0.1.0"

_LAZY = {
    "RiverNetwork": "hydro.api", "read_lateral": "hydro.api", "route": "hydro.api", "Cycle": "hydro.api",
    "CycleResult": "hydro.api",
    "Xinanjiang": "hydro.runoff", "GR4": "hydro.runoff",
    "SProg": "hydro.nowcast.sprog", "Steps": "hydro.nowcast.sprog", "read_radar": "hydro.io.radar",
    "get_method": "hydro.core.registry", "methods": "hydro.core.registry",
    "HydroError": "hydro.core.errors", "ConfigError": "hydro.core.errors", "InputDataError": "hydro.core.errors",
    "NumericalError": "hydro.core.errors",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'hydro' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
