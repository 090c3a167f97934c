"""Atomic file writes: write to a temporary name in the target directory, then rename; and the checks a
command makes before any work (:func:`check_writable`: the output folder can be written and holds the space
the command will need).

Temporary names are hidden and carry the writer's pid, ``.<name>.<pid>.<random>.tmp`` (a folder:
``.<name>.<pid>.<random>.tmp/``), so that a later run can tell a dead run's leftovers (pid gone) from a live
writer's file and remove only the former (:func:`sweep_stale_temporaries`)."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..core.errors import ConfigError, InputDataError
from ..core.workspace import DIR_MODE


def _file_mode() -> int:
    """What open() would give a new file: 0o666 less the umask (read once, at import, before any threads)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()
MARGIN_BYTES = 1 << 20  # added to every space estimate: file-format overheads, logs, small files
MARGIN_FRACTION = 0.25  # and a quarter of the estimate: compression and chunking vary
STALE_UNNAMED_S = 3600.0  # a temporary without a pid in its name (older hydro) is stale after this


def _temporary_prefix(name: str) -> str:
    return f".{name}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _is_stale(path: Path, older_than: float) -> bool:
    """A temporary ``.<name>.<pid>.<random>.tmp`` is stale when its writer's pid is gone (pids are of this
    machine); one without a pid in its name when it was last changed before ``older_than`` (epoch s)."""
    parts = path.name[:-len(".tmp")].split(".")
    if len(parts) >= 4 and parts[-2].isdigit():
        return int(parts[-2]) != os.getpid() and not _pid_alive(int(parts[-2]))
    try:
        return path.lstat().st_mtime < older_than
    except OSError:
        return False


def sweep_stale_temporaries(folder: str | os.PathLike, older_than: float | None = None, name: str = "*",
                            recursive: bool = False, every: bool = False) -> list[Path]:
    """Remove the temporary files and folders (``.<name>.*.tmp``) that a killed run left in ``folder``: those
    whose writer is dead, or without a writer's pid that were last changed before ``older_than`` (default an
    hour ago); all of them with ``every`` (a folder under this run's lock, where nobody else writes). A live
    writer's temporary (another command writing there now) is left alone. Returns what went."""
    folder = Path(folder)
    older_than = time.time() - STALE_UNNAMED_S if older_than is None else older_than
    pattern = f".{name if name == '*' else glob.escape(name)}.*.tmp"
    removed = []
    try:
        found = sorted(folder.rglob(pattern) if recursive else folder.glob(pattern))
    except OSError:
        return removed
    for path in found:
        if not every and not _is_stale(path, older_than):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:  # gone meanwhile, or not ours to remove: the run goes on
            pass
    return removed


def size_text(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} B" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024.0
    raise AssertionError


def _existing(folder: Path) -> Path:
    """``folder``, or the nearest folder above it that exists (where it will be created)."""
    here = folder
    while not here.exists() and here != here.parent:
        here = here.parent
    return here


def check_writable(folder: str | os.PathLike, need_bytes: int = 0, what: str = "output folder", basis: str = "",
                   todo: str = "choose another folder") -> Path:
    """Before any work: raise an InputDataError (exit 3, as a refused write) unless ``folder`` (or, when it does
    not exist yet, the folder it will be created in) can be written and its disk has ``need_bytes`` plus a
    margin (a quarter, and 1 MiB) free. Writability is tried, not asked (``os.access`` says yes to root on a
    read-only mount): a temporary file is created there and removed. ``basis`` says how ``need_bytes`` was
    estimated; ``todo`` how else the user can go on (``choose another --output``)."""
    folder = Path(folder)
    here = _existing(folder)
    if not here.is_dir():
        raise InputDataError(f"{folder}: {what}: {here} is a file, not a folder; {todo}")
    try:
        # an unnamed file where the system allows it (Linux O_TMPFILE): a run killed here leaves nothing behind
        with tempfile.TemporaryFile(prefix=_temporary_prefix("hydro-probe"), suffix=".tmp", dir=here):
            pass
        sweep_stale_temporaries(here, name="hydro-probe")  # elsewhere: a killed run's named probe
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise InputDataError(f"{folder}: {what} cannot be written ({reason}); nothing was done: make {here} writable "
                             f"(permissions, a read-only mount) or {todo}") from None
    need = int(need_bytes * (1 + MARGIN_FRACTION)) + MARGIN_BYTES
    free = shutil.disk_usage(here).free
    if free < need:
        how = f"{basis}, plus 25 % and 1 MiB" if basis else "a margin of 1 MiB"
        raise InputDataError(f"{folder}: {what} has {size_text(free)} free, this run needs about {size_text(need)} "
                             f"there ({how}); nothing was done: free space on that disk or {todo}")
    return folder


def check_output_dir(path: str | os.PathLike, need_bytes: int = 0, basis: str = "") -> Path:
    """Raise before any work is done if ``path``'s directory does not exist, cannot be written or lacks the
    space (:func:`check_writable`); a dead run's temporary copies of ``path`` there are removed."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputDataError(f"{path}: output directory {path.parent} does not exist; create it first")
    check_writable(path.parent, need_bytes, f"output folder of {path.name}", basis, "choose another output path")
    sweep_stale_temporaries(path.parent, name=path.name)
    return path


def check_output_not_input(output: str | os.PathLike | None, inputs: dict[str, str | os.PathLike | None]) -> None:
    """Refuse an output file that is one of the command's inputs (the same path, or the same file through a link):
    the atomic write would silently replace the input with the result. ``inputs``: option -> path given."""
    if output is None:
        return
    out = Path(output)
    for option, given in inputs.items():
        if given is None:
            continue
        given = Path(given)
        try:
            same = os.path.samefile(out, given) if out.exists() and given.exists() else (
                out.resolve() == given.resolve())
        except (OSError, RuntimeError):  # a symlink loop (pathlib: RuntimeError) or unreadable: its reader reports it
            continue
        if same:
            raise ConfigError(f"{output}: the output is also the {option} input ({given}); writing it would replace "
                              "the input: choose another output path")


#: the files each folder-writing command writes, so that a later run into the same folder removes its
#: predecessor's first: no f1.nc of a rehearsal beside a what-if's summary.json, no scheme of an earlier plan
#: beside a plan.json that does not list it. The summary (summary.json, plan.json) is written last: a folder
#: without it holds a run that did not finish.
EARLIER_OUTPUTS = {
    "rehearse": ("f1.nc", "f1.png", "f2.nc", "f2.png", "whatif.nc", "whatif.png", "summary.json"),
    "plan": ("plan.json", "plan.md", "plan.html", "plan_schedule.csv", "plan_*.png", "scheme_*.nc"),
}


def clear_earlier_outputs(folder: str | os.PathLike, command: str) -> None:
    """Remove what an earlier ``command`` wrote into ``folder`` (:data:`EARLIER_OUTPUTS`), before this run
    writes its own; other files stay. A folder or device where one of them goes is refused first, before anything
    is removed or written (the run stopped at it, half its outputs new and the earlier run's summary gone)."""
    earlier = [path for pattern in EARLIER_OUTPUTS[command] for path in Path(folder).glob(pattern)]
    for path in earlier:
        if not path.is_file():
            what = "a folder" if path.is_dir() else "not a regular file"
            raise InputDataError(f"{path}: is {what}, where this {command} writes an output; move it away or "
                                 "choose another output folder (nothing was written)")
    for path in earlier:
        try:
            path.unlink()
        except OSError as exc:
            raise _cannot_write(path, exc) from None


def check_new_folder(path: str | os.PathLike, what_to_do: str) -> Path:
    """Raise before any work is done unless ``path`` is a new (or empty) folder in an existing one."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ConfigError(f"{path}: its parent folder {path.parent} does not exist; create it first")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"{path}: exists and is not an empty folder; {what_to_do}")
    check_writable(path.parent, 0, "parent folder", todo=what_to_do)  # writable, with a margin, before the build
    sweep_stale_temporaries(path.parent, name=path.name)  # a killed build's half-written copy
    return path


def write_folder_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_folder)`` on a temporary sibling of ``path`` (new or empty, see :func:`check_new_folder`)
    and rename it into place: an error leaves no folder behind."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(path.name), suffix=".tmp", dir=path.parent))
    try:
        write(tmp)
        os.chmod(tmp, DIR_MODE)  # mkdtemp makes it private (0700); a basin folder gets the usual mode
        if path.is_dir():
            path.rmdir()  # empty (check_new_folder)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _cannot_write(path: Path, exc: BaseException) -> InputDataError:
    """One line for a write the file system refused: a read-only folder, a full disk, a quota. netCDF4 and
    HDF5 report these as "NetCDF: HDF error" (a RuntimeError or an OSError without errno)."""
    errno = getattr(exc, "errno", None)
    reason = os.strerror(errno) if errno and errno > 0 else (str(exc).splitlines() or [type(exc).__name__])[0]
    return InputDataError(f"{path}: cannot write ({reason}); nothing was written and earlier files are unchanged: "
                          "check the folder's permissions and free space")


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path``; no partial file on failure. A write the
    file system refuses (read-only folder, full disk) is an InputDataError naming ``path``."""
    raw = os.fspath(path)
    if raw.endswith(("/", os.sep)):  # Path() would drop the slash and write a file named like the folder
        raise InputDataError(f"{raw}: names a folder (it ends in '/'); give a file name for the output")
    path = check_output_dir(path)
    if path.is_dir():
        raise InputDataError(f"{path}: is a folder; give a file name for the output")
    if path.exists() and not path.is_file():  # a device, pipe or socket: the rename would replace it (as root, /dev/null)
        raise InputDataError(f"{path}: is not a regular file (a device, pipe or socket); give a file name for the output")
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path.name), suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, FILE_MODE)  # mkstemp makes the file private (0600); outputs are meant to be shared
        os.replace(tmp_path, path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    except RuntimeError as exc:
        if not str(exc).startswith("NetCDF:"):
            raise
        raise _cannot_write(path, exc) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


class FolderLock:
    """An exclusive lock on a folder (``.hydro.lock`` in it, flock), held for a ``with`` block: a second run
    on the same state folder fails at once, naming the holder's pid and start time. The lock file stays;
    the kernel releases the lock when its holder exits, however it exits. ``only_hydro_runs``: only runs that take
    this lock write into the folder (a state folder), so every temporary file in it is a killed run's and goes;
    otherwise (an output folder other commands may write into) only those whose writer is dead."""

    def __init__(self, folder: str | os.PathLike, what: str = "folder", only_hydro_runs: bool = True) -> None:
        self.folder, self.what, self.only_hydro_runs = Path(folder), what, only_hydro_runs
        self.since = 0.0  # when the lock was taken (epoch s)
        self._fh = None

    def __enter__(self) -> FolderLock:
        import fcntl
        from datetime import datetime, timezone

        check_writable(self.folder, 0, self.what, todo=f"choose another {self.what}")  # tried: os.access lies to root
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fh = open(self.folder / ".hydro.lock", "a+")
        except OSError as exc:
            raise _cannot_write(self.folder / ".hydro.lock", exc) from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise InputDataError(f"{self.folder}: {self.what} is in use by {holder}; wait for it or use another "
                                 "folder") from None
        self.since = time.time()
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} since {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n")
            fh.flush()
        except OSError as exc:  # a full disk
            fh.close()
            raise _cannot_write(self.folder / ".hydro.lock", exc) from None
        self._fh = fh
        # temporary files a killed run left behind (write_atomic's) go now
        sweep_stale_temporaries(self.folder, every=self.only_hydro_runs)
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


# --------------------------------------------------------------------------- what a command will write
# Estimates for check_writable, read from the inputs' headers before any work. A header that cannot be read
# gives no estimate (0 bytes: only writability and the margin are checked) and the reader reports the file.


def _netcdf_dimensions(path: Path) -> dict[str, int] | None:
    try:
        import netCDF4

        with netCDF4.Dataset(path) as ds:
            return {name: len(dim) for name, dim in ds.dimensions.items()}
    except Exception:  # noqa: BLE001 - a damaged file is its reader's to report, with its own message
        return None


def route_output_estimate(network: Path | None, lateral: Path, hours: float | None,
                          output_interval_s: float) -> tuple[int, str]:
    """``hydro route``: streamflow, velocity and depth (float32) per segment and output record, and ~64 bytes of
    per-segment attributes. Segments from the network's ``feature_id`` dimension; records from ``--hours``,
    else the lateral inflow's span (a NetCDF's time coordinate, or one hourly CHRTOUT file per hour)."""
    dims = _netcdf_dimensions(Path(network)) if network is not None else None
    segments = (dims or {}).get("feature_id") or (dims or {}).get("link")
    if not segments:
        return 0, ""
    lateral = Path(lateral)
    if lateral.is_dir():
        span = max(len([p for p in lateral.iterdir() if p.is_file()]), 1)
    elif not lateral.is_file():  # missing, a symlink loop: the reader reports it, in one line
        return 0, ""
    else:
        try:
            import warnings

            import numpy as np
            import xarray as xr

            with warnings.catch_warnings():  # xarray's engine guessing warns on a file no engine reads
                warnings.simplefilter("ignore")
                with xr.open_dataset(lateral) as ds:
                    t = ds["time"].values
            span = float((t[-1] - t[0]) / np.timedelta64(1, "h")) + 1.0
        except Exception:  # noqa: BLE001 - see _netcdf_dimensions
            return 0, ""
    records = int(min(hours or span, span) * 3600.0 // output_interval_s) + 1  # no more than the forcing covers
    return segments * (records * 12 + 64), f"{segments:,} segments x {records:,} output times x 12 bytes"


def nowcast_output_estimate(radar: Path, lead_minutes: int) -> tuple[int, str]:
    """``hydro nowcast``: one float32 field per 10 minutes of lead on the radar grid (its cells from the file's
    largest 2-D or 3-D variable, or the raster's size; the largest file of a folder of one-frame files)."""
    radar = Path(radar)
    if radar.is_dir():
        files = [p for p in radar.iterdir() if p.is_file()]
        if not files:
            return 0, ""
        radar = max(files, key=lambda p: p.stat().st_size)
    cells = 0
    try:
        import netCDF4

        with netCDF4.Dataset(radar) as ds:
            shapes = [v.shape[-2:] for group in (ds, *ds.groups.values()) for v in group.variables.values()
                      if len(v.shape) >= 2]
            cells = max((a * b for a, b in shapes), default=0)
    except Exception:  # noqa: BLE001 - not NetCDF/HDF5: a raster format, else see _netcdf_dimensions
        try:
            import rasterio

            with rasterio.open(radar) as src:
                cells = src.width * src.height
        except Exception:  # noqa: BLE001
            return 0, ""
    fields = max(lead_minutes // 10, 1)
    return fields * cells * 4, f"{fields} ten-minute fields x {cells:,} cells x 4 bytes"


def rehearsal_output_estimate(series: int, hours: int, schemes: int, plots: int) -> tuple[int, str]:
    """``hydro rehearse`` / ``hydro plan``: per scheme a NetCDF of its section, reservoir and detention series
    (about 5 float64 variables each, the routing tail doubling the hours, 32 KiB of HDF5 overhead) and about
    150 KiB per PNG."""
    per_scheme = series * hours * 2 * 5 * 8 + 32 * 1024
    return (schemes * per_scheme + plots * 150 * 1024,
            f"{schemes} scheme file(s) of {series} series x {hours} h, {plots} plot(s) of 150 KiB")
