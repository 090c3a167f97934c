"""Where a run's inputs come from and where generated things go: a workspace, not the checkout.

hydro runs the same from a source checkout and from a wheel installed anywhere; nothing here looks
for the repository. The rules:

* **Paths in a config resolve against the config file's folder** (or are absolute). A cycle config's
  basin, forcing set-up and parameter set, and any path inside those files, are found beside the
  file that names them, never against the current directory or the source tree.
* **Packaged defaults** ship inside the package as data (``hydro/data/``) and are found by name when
  no file of that name sits beside the config: ``models/<model>/*.toml`` (parameter sets such as
  ``xaj/grid_default.toml``, calibration search ranges ``xaj/hourly.toml`` / ``daily.toml``, the same
  for ``gr4j``), ``forcing/*.toml`` (``demo_storm.toml``) and ``demo/cycle.toml`` (the demo's cycle
  config). A file beside the config shadows the packaged one of the same name. :func:`packaged`
  returns one, :func:`resolve_asset` applies the rule, and a name found in neither place is a
  ``ConfigError`` naming the config file, the key and both places looked.
* **Basins** are folders holding ``basin.toml``, relative to the config (:func:`resolve_basin`). The
  one special value is ``"demo"``: the embedded demo basin, generated deterministically on first use
  into the user cache by the generator the caller passes in (``hydro.demo.ensure_demo_basin``; core
  imports nothing above it). A folder of your own named ``demo`` is written ``"./demo"``.
* **The user cache** (:func:`cache_dir`) is ``$HYDRO_CACHE_DIR``, else ``$XDG_CACHE_HOME/hydro``, else
  ``~/.cache/hydro``. It holds only what hydro can regenerate: the demo basin under
  ``basins_v<N>/demo/`` (N changes when the generator does, so an old cache is never reused) and,
  for an installed hydro, numba's compiled kernels under ``numba/``. Cached folders are built in a temporary sibling
  and renamed into place (:func:`cached_build`), so a killed run or two concurrent runs never leave
  a half-built folder; delete the cache at any time.
* **numba's compiled kernels** (``cache=True``) are kept beside the sources in a checkout; when hydro
  is installed into site-packages they go to ``<cache>/numba`` instead (:func:`keep_numba_cache_out_of_package`,
  unless ``NUMBA_CACHE_DIR`` is set).
* **Outputs** go where the command or config says (``--output-dir``, ``--output``, ``output_dir``
  relative to the config); no command writes into the source tree or the installed package.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError

KINDS = ("models", "forcing", "demo")
DEMO = "demo"  # the cycle.basin value that names the embedded demo basin
DEMO_BASIN_VERSION = 2  # bump when hydro.demo's generator changes: a new cache folder, the old one unused
STALE_BUILD_S = 3600.0  # a temporary build folder older than this belongs to a killed run


def _dir_mode() -> int:
    """What mkdir() would give a new folder: 0o777 less the umask (read once, at import, before any threads)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


DIR_MODE = _dir_mode()


def data_root() -> Path:
    """The packaged data folder (``hydro/data`` inside the installed package)."""
    root = importlib.resources.files("hydro") / "data"
    if not isinstance(root, Path):  # e.g. a zip import: package data has no file-system path
        raise ConfigError(f"hydro's packaged data ({root}) is not on the file system; install hydro unzipped")
    return root


def _packaged_path(kind: str, name: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"packaged kind {kind!r}: expected one of {', '.join(KINDS)}")
    folder = data_root() / kind
    path = (folder / name).resolve()
    if folder.resolve() not in path.parents:
        raise ConfigError(f"packaged {kind} name {name!r} leaves the packaged {kind} folder")
    return path


def packaged_names(kind: str) -> list[str]:
    """The packaged files of one kind, as names relative to its folder (``xaj/hourly.toml``)."""
    folder = data_root() / kind
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.toml")) if folder.is_dir() else []


def packaged(kind: str, name: str) -> Path:
    """A file shipped with the package: ``packaged("models", "xaj/hourly.toml")``; ``kind`` is one of
    ``models``, ``forcing``, ``demo``. Raises ConfigError (listing what is packaged) when absent."""
    path = _packaged_path(kind, name)
    if not path.is_file():
        have = ", ".join(packaged_names(kind)) or "none"
        raise ConfigError(f"no packaged {kind} file {name!r} in {data_root() / kind} (packaged: {have})")
    return path


def resolve_asset(value: str, config_path: Path, kind: str, what: str) -> Path:
    """The file a config names under key ``what``: ``value`` relative to the config file's folder (or
    absolute) when that file exists, else the packaged ``kind`` file of that name (``kind`` is
    ``models`` or ``forcing``). Raises ConfigError naming the config, the key and both places looked."""
    config_path = Path(config_path)
    given = Path(value).expanduser()
    local = given if given.is_absolute() else config_path.parent / given
    if local.is_file():
        return local.resolve()
    if not given.is_absolute():
        try:
            bundled = _packaged_path(kind, value)
        except ConfigError:
            bundled = None
        if bundled is not None and bundled.is_file():
            return bundled
    where = f"{local.resolve()}" if given.is_absolute() else \
        f"{local.resolve()} (relative to the config) nor packaged {kind}/{value} in {data_root() / kind}"
    have = ", ".join(packaged_names(kind)) or "none"
    raise ConfigError(f"{config_path}: {what} {value!r} not found: not {where} (packaged {kind}: {have})")


def resolve_basin(value: str, config_path: Path, build_demo: Callable[[Path], object] | None = None) -> Path:
    """The basin folder a config names (``cycle.basin``): a folder holding basin.toml, relative to the
    config file's folder (or absolute). ``"demo"`` is the embedded demo basin in the user cache, built on
    first use by ``build_demo(folder)`` (the generator, ``hydro.demo.ensure_demo_basin``, sits above core,
    so the caller passes it in). Raises ConfigError naming the config and the folder looked at."""
    config_path = Path(config_path)
    if value == DEMO:
        folder = demo_basin_folder()
        if build_demo is not None:
            return cached_build(folder, build_demo)
        if (folder / "basin.toml").is_file():
            return folder
        raise ConfigError(f"{config_path}: cycle.basin \"{DEMO}\": the demo basin is not in the cache ({folder}) "
                          "and no generator was given; `hydro demo` builds it")
    given = Path(value).expanduser()
    folder = given if given.is_absolute() else config_path.parent / given
    if (folder / "basin.toml").is_file():
        return folder.resolve()
    raise ConfigError(f"{config_path}: cycle.basin {value!r} not found: no basin.toml in {folder.resolve()} "
                      f"(a basin folder relative to the config, or \"{DEMO}\" for the embedded demo basin)")


def cache_dir() -> Path:
    """The user cache: ``$HYDRO_CACHE_DIR``, else ``$XDG_CACHE_HOME/hydro``, else ``~/.cache/hydro``
    (not created here)."""
    if os.environ.get("HYDRO_CACHE_DIR"):
        return Path(os.environ["HYDRO_CACHE_DIR"]).expanduser().resolve()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser().resolve() / "hydro"
    return Path.home() / ".cache" / "hydro"


def demo_basin_folder() -> Path:
    """Where the demo basin is cached (it may not exist yet; :func:`hydro.demo.demo_basin_dir` builds it)."""
    return cache_dir() / f"basins_v{DEMO_BASIN_VERSION}" / DEMO


def cache_unusable(path: Path, exc: OSError) -> ConfigError:
    """The one-line refusal for a user cache hydro cannot write: a file where a folder belongs, a
    read-only or full disk, no permission."""
    reason = exc.strerror or type(exc).__name__
    return ConfigError(f"{path}: the hydro user cache cannot be written there ({reason}); set HYDRO_CACHE_DIR to a "
                       "writable folder (or remove what is in the way: the cache only holds what hydro rebuilds)")


def cached_build(folder: Path, build: Callable[[Path], object],
                 verify: Callable[[Path], object] | None = None) -> Path:
    """``folder``, built by ``build(tmp)`` into a temporary sibling and renamed into place when absent.
    The rename is atomic: a killed run leaves only a temporary folder (removed by a later build once
    stale), and of two concurrent builds the first rename wins and the other's copy is discarded.
    With ``verify``, a cached folder that it refuses (raises) is damaged: a cache is rebuildable, so it is
    logged as a WARNING, removed and built again. A cache that cannot be written is a ConfigError."""
    import logging

    folder = Path(folder)
    if folder.is_dir():
        if verify is None:
            return folder
        try:
            verify(folder)
            return folder
        except Exception as exc:  # noqa: BLE001  (any refusal of a cached copy means: rebuild it)
            logging.getLogger("hydro").warning("%s: the cached copy is damaged (%s); rebuilding it", folder,
                                               str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        try:  # renamed aside first: a concurrent reader never sees a half-removed folder
            aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.damaged.", dir=folder.parent))
            os.rename(folder, aside / folder.name)
            shutil.rmtree(aside, ignore_errors=True)
        except OSError as exc:
            if folder.is_dir():
                raise cache_unusable(folder, exc) from None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cache_unusable(folder.parent, exc) from None
    prefix = f".{folder.name}.building."
    for old in folder.parent.glob(prefix + "*"):
        try:
            if time.time() - old.stat().st_mtime > STALE_BUILD_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    try:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=folder.parent))
    except OSError as exc:
        raise cache_unusable(folder.parent, exc) from None
    try:
        try:
            build(tmp)
        except OSError as exc:  # the cache's disk full or gone read-only mid-build
            raise cache_unusable(folder.parent, exc) from None
        os.chmod(tmp, DIR_MODE)  # mkdtemp makes it private (0700); a cache folder gets the usual mode
        try:
            os.rename(tmp, folder)
        except OSError:
            if not folder.is_dir():  # not lost to a concurrent build: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def installed_in_site_packages() -> bool:
    """Whether the package runs from an installed copy (site-packages) rather than a source folder."""
    package = Path(__file__).resolve().parents[1]
    roots = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    return any(root in package.parents for root in roots)


def keep_numba_cache_out_of_package() -> None:
    """Installed into site-packages, numba's kernel cache goes to ``<cache>/numba`` (unless
    ``NUMBA_CACHE_DIR`` is set), not beside the installed sources. Call before the kernels are
    imported (numba picks a cache folder when a kernel is defined)."""
    if os.environ.get("NUMBA_CACHE_DIR") or not installed_in_site_packages():
        return
    os.environ["NUMBA_CACHE_DIR"] = str(cache_dir() / "numba")
    if "numba" in sys.modules:  # already imported: numba read its environment then
        sys.modules["numba"].config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
