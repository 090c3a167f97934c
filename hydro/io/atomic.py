"""Atomic file writes: write to a temporary name in the target directory, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..core.errors import InputDataError


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
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path
