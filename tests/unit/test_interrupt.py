"""SIGTERM/SIGINT during a command (hydro.cli._interrupt): the KeyboardInterrupt comes in the command's own code,
never inside a library that holds a lock, so a stop cannot leave a lock taken and hang (issue 17: xarray's netCDF4
lock, taken and never released, hung a stopped ``hydro run`` forever). A second signal stops at once.

The "library" is code compiled into a namespace named ``somelib``: it takes a lock, is signalled while holding
it, and releases it a few hundred bytecodes later, without a ``try`` (as xarray's ``CombinedLock.acquire`` between
the acquire and the ``with`` that would release it). The "own code" is this module's."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from hydro.cli._interrupt import signals_stop_at_own_code

OWN = __name__
LIBRARY = """
def hold_lock_while_signalled(lock, signals, done):
    lock.acquire()
    for signum in signals:
        os.kill(os.getpid(), signum)  # the handler runs at the next bytecodes, here in the library
    for _ in range(2000):
        pass
    lock.release()
    done.append("released")
"""


def _library():
    namespace = {"__name__": "somelib", "os": os}
    exec(compile(LIBRARY, "somelib.py", "exec"), namespace)
    return namespace["hold_lock_while_signalled"]


def _own_code_after(call, *args):
    call(*args)
    return "own code ran on"  # the first line of own code: the stop comes here


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_in_a_library_stops_at_the_next_line_of_own_code_with_the_lock_released(signum):
    lock, done = threading.Lock(), []
    with signals_stop_at_own_code(OWN):
        with pytest.raises(KeyboardInterrupt):
            _own_code_after(_library(), lock, [signum], done)
    assert done == ["released"], "the library was interrupted"
    assert not lock.locked()


def test_a_signal_in_own_code_stops_at_once():
    with signals_stop_at_own_code(OWN):
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100_000):
                pass
            pytest.fail("the loop ran to its end")


def test_a_second_signal_stops_at_once_even_in_a_library():
    lock, done = threading.Lock(), []
    with signals_stop_at_own_code(OWN):
        with pytest.raises(KeyboardInterrupt):
            _own_code_after(_library(), lock, [signal.SIGTERM, signal.SIGTERM], done)
    assert done == [] and lock.locked()  # the way out of a library call that would not return


def test_handlers_and_tracing_are_restored_after_the_block():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with signals_stop_at_own_code(OWN):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before
    lock, done = threading.Lock(), []
    with pytest.raises(KeyboardInterrupt):  # a stop still pending when the block ends is raised there
        with signals_stop_at_own_code("no_such_package"):
            _library()(lock, [signal.SIGINT], done)
    assert done == ["released"]
