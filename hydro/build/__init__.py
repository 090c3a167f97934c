"""``hydro basin build``: a basin folder from a DEM, and ``hydro basin info``.

The flow routines are pyflwdir's (Eilander et al. 2021, doi:10.5194/hess-25-5287-2021): depression filling by
priority flood (Wang & Liu 2006), D8 directions, upstream area with geodesic cell areas on a lat/lon grid, and the
IHU upscaling of a D8 network to a coarser runoff grid. This package cuts the streams into segments, snaps the
gauges, reservoirs and control sections, assigns channel geometry, and writes the basin folder the cycle reads
(docs/basin-build.md). It reads and writes files, so it sits at the stages level of ``.importlinter``.
"""

from .folder import BuildOptions, build_basin
from .info import basin_info

__all__ = ["BuildOptions", "build_basin", "basin_info"]
