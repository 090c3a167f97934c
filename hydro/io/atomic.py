"""Atomic file writes: write to a temporary name in the target directory, then rename."""

from __future__ import annotations

import os
import shutil
import tempfile
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


def check_output_dir(path: str | os.PathLike) -> Path:
    """Raise before any work is done if ``path``'s directory does not exist."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputDataError(f"{path}: output directory {path.parent} does not exist; create it first")
    return path


def check_new_folder(path: str | os.PathLike, what_to_do: str) -> Path:
    """Raise before any work is done unless ``path`` is a new (or empty) folder in an existing one."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ConfigError(f"{path}: its parent folder {path.parent} does not exist; create it first")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"{path}: exists and is not an empty folder; {what_to_do}")
    return path


def write_folder_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_folder)`` on a temporary sibling of ``path`` (new or empty, see :func:`check_new_folder`)
    and rename it into place: an error leaves no folder behind."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
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
    path = check_output_dir(path)
    if path.is_dir():
        raise InputDataError(f"{path}: is a folder; give a file name for the output")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    the kernel releases the lock when its holder exits, however it exits."""

    def __init__(self, folder: str | os.PathLike, what: str = "folder") -> None:
        self.folder, self.what = Path(folder), what
        self._fh = None

    def __enter__(self) -> FolderLock:
        import fcntl
        from datetime import datetime, timezone

        self.folder.mkdir(parents=True, exist_ok=True)
        if not os.access(self.folder, os.W_OK):
            raise InputDataError(f"{self.folder}: {self.what} is not writable; fix its permissions or choose another")
        fh = open(self.folder / ".hydro.lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise InputDataError(f"{self.folder}: {self.what} is in use by {holder}; wait for it or use another "
                                 "folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n")
        fh.flush()
        self._fh = fh
        # temporary files a killed run left behind (write_atomic's) go now: nobody else writes here
        for stale in self.folder.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
