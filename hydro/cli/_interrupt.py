"""SIGTERM and SIGINT during a command: one clean stop (KeyboardInterrupt, which :func:`hydro.cli.main` turns
into exit 130 and "hydro: interrupted"), raised only where hydro's own code runs.

A signal handler that raises runs between any two bytecodes of whatever Python code the main thread is in. In a
library that can be between a lock's ``acquire`` and the ``try`` that releases it: xarray's
``CombinedLock.acquire`` interrupted just after taking its netCDF4/HDF5 lock leaves it held, and ``to_netcdf``'s
cleanup (``store.close()``) then waits on it forever: a stopped ``hydro run`` that never ends and keeps its state
folder locked (issue 17, found by tests/hostile/test_random_kills.py). So a signal that finds the main thread in
another package's code only marks the stop as pending; the KeyboardInterrupt is raised at the first line of
hydro's code that runs next, through a trace function on the main thread (as ``pdb.set_trace`` does: every hydro
frame on the stack, and every new call). Libraries unwind from it as from any exception of a callback. A second
signal stops at once, wherever it lands: the way out of a library call that does not return."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _DeferredStop:
    """The signal handler and the trace function of one command run."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.pending = False
        self.previous_trace = None

    def own(self, frame: FrameType) -> bool:
        """Code of ``package``, this module excepted (its cleanup must not be interrupted)."""
        if frame.f_globals is globals():
            return False
        name = frame.f_globals.get("__name__") or ""
        return name == self.package or name.startswith(self.package + ".")

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.pending or frame is None or self.own(frame):
            self.disarm()
            raise KeyboardInterrupt
        self.pending = True
        self.previous_trace = sys.gettrace()
        caller = frame
        while caller is not None:  # the hydro frames a library call will return into
            if self.own(caller):
                caller.f_trace = self.trace
            caller = caller.f_back
        sys.settrace(self.trace)

    def trace(self, frame: FrameType, event: str, arg: object):
        if not self.pending:
            return None
        if self.own(frame):
            self.disarm()
            raise KeyboardInterrupt
        return None  # a library's frame: no line events, its calls still come here

    def disarm(self) -> None:
        if self.pending:
            self.pending = False
            sys.settrace(self.previous_trace)


@contextmanager
def signals_stop_at_own_code(package: str = "hydro") -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT raise KeyboardInterrupt in ``package``'s code only (see the
    module's docstring); the handlers (and a trace function) before it are restored after it, and a stop still
    pending at its end is raised there. Outside the main
    thread nothing changes: signals reach only the main thread, and an embedding program keeps its handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stop = _DeferredStop(package)
    previous = {signum: signal.signal(signum, stop.handle) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
        pending = stop.pending
        stop.disarm()
    if pending:  # the block ended in other code than the package's: the stop is not lost
        raise KeyboardInterrupt
