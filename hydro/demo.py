"""``hydro demo`` / ``make demo``: the complete forecast cycle on the embedded demo basin with a generated storm.

The demo basin is generated deterministically (seed 7): a 110 x 110 km grid with D8 drainage (GeoTIFF),
about 3,000 one-cell river segments and two level-pool reservoirs, with a reservoir and a town for the
rehearsal. It is built once into the user cache (``hydro.core.workspace``: ``$HYDRO_CACHE_DIR``, else
``$XDG_CACHE_HOME/hydro``, else ``~/.cache/hydro``; folder ``basins_v2/demo``) and found by the cycle
config value ``basin = "demo"``. The packaged config ``hydro/data/demo/cycle.toml`` runs the cycle: a
convective storm (packaged forcing ``demo_storm.toml``) observed to the issue time, an S-PROG nowcast
after it, gridded Xinanjiang (packaged ``xaj/grid_default.toml``), hillslope travel time, NWM
Muskingum-Cunge; warnings on every segment and at the town; forward-inverse-forward rehearsal of the
dam; the ranked plan; an HTML report. No external data; nothing is written outside ``--output-dir``
and the cache.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .synthetic import ensure_demo_basin  # noqa: F401  (the generator lives with the synthetic basins)

log = logging.getLogger("hydro")


def demo_basin_dir() -> Path:
    """The demo basin's folder in the user cache, generated on first use (atomically: built in a
    temporary folder and renamed, so a killed or concurrent run never leaves half a basin)."""
    from .core.workspace import cached_build, demo_basin_folder, keep_numba_cache_out_of_package

    keep_numba_cache_out_of_package()

    return cached_build(demo_basin_folder(), ensure_demo_basin, verify=_readable_basin)


def _readable_basin(folder: Path) -> None:
    """Raises unless the cached demo basin's basin.toml and network read (a cut or flipped cache file)."""
    from .io.basin import read_basin
    from .io.netcdf import read_network

    basin = read_basin(folder / "basin.toml")
    read_network(folder / basin.network)


def demo_config() -> Path:
    """The packaged demo cycle config (``hydro/data/demo/cycle.toml``)."""
    from .core.workspace import packaged

    return packaged("demo", "cycle.toml")


def run_demo(output_dir: Path) -> dict:
    """The complete cycle (forecast -> warning -> rehearsal -> plan) on the demo basin, cold start, into
    ``output_dir`` (outputs and the restart under ``output_dir/state``); prints a short summary and
    returns the cycle summary. Writes nothing else but the demo basin (and its climatology) in the cache."""
    from .core.workspace import keep_numba_cache_out_of_package

    keep_numba_cache_out_of_package()  # first: numba picks its cache folder as the kernels are imported
    from .pipeline.cycle import run_cycle, summary_lines

    output_dir = Path(output_dir).resolve()
    basin = demo_basin_dir()
    log.info("demo basin: %s", basin)
    made = not output_dir.exists()
    try:
        summary = run_cycle(demo_config(), cold=True,
                            overrides={"output_dir": str(output_dir), "state_dir": str(output_dir / "state")})
    except BaseException:
        if made:  # the demo is all or nothing: a refused or failed run leaves no folder of its own making
            import shutil

            shutil.rmtree(output_dir, ignore_errors=True)
        raise
    for line in summary_lines(summary):
        print(f"demo: {line}")
    folder = Path(summary["folder"])
    print(f"demo: stage times {summary['seconds']} s")
    print(f"demo: outputs in {folder}: analysis.nc, forecast.nc, warnings.csv/.geojson/_map.png, rehearsal/, plan/plan.html")
    print(f"demo: report: {folder / 'report.html'}")
    return summary
