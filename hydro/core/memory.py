"""Memory a request would need, checked before it is allocated: a run too large for this machine is one
line with the estimate and the memory available, never an allocation of tens of GiB that the kernel kills."""

from __future__ import annotations

import os

from .errors import ConfigError


def available_memory_bytes() -> int:
    """Memory this process can still take: psutil's 'available' (free + reclaimable cache), else the
    free physical pages from sysconf."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # psutil is optional; sysconf ignores the page cache, so it under-states
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def require_memory(estimate_bytes: float, what: str, hint: str) -> None:
    """Refuse (ConfigError, exit 2) a request whose estimated memory exceeds what is available: one line with
    the estimate, the available memory and what to change."""
    available = available_memory_bytes()
    if estimate_bytes > available:
        raise ConfigError(f"{what} would need about {_size(estimate_bytes)} of memory, {_size(available)} is "
                          f"available; {hint}")


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**30:,.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.1f} MiB"
