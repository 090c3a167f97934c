"""Atomic file writes: write to a temporary name in the target directory, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..core.errors import InputDataError


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


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path``; no partial file on failure."""
    path = check_output_dir(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, FILE_MODE)  # mkstemp makes the file private (0600); outputs are meant to be shared
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path
