"""argparse types for the numbers of the command line (and, re-exported, the memory check before a large run).

Every numeric option takes one of these as ``type=``: a value out of range is refused by argparse itself
(exit 2, one ``hydro <command>: error: argument --dt: ...`` line naming the option), never a traceback
deep in a kernel or an allocation of tens of GiB. ``1e3`` is accepted for an integer option when it is
a whole number, so ``--segments 1e9`` reaches the memory check instead of a parse error.

Not a command group: the name starts with '_' (``hydro.cli._command_modules`` skips it).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

from ..core.memory import available_memory_bytes, require_memory  # noqa: F401 - the CLI's memory checks


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _whole(text: str) -> int:
    value = _number(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def output_file(text: str) -> Path:
    """An output file's path. One ending in '/' names a folder: refused here, since ``Path`` drops the slash
    and the output would become a file named like the folder."""
    if text.endswith("/"):
        raise argparse.ArgumentTypeError(f"{text!r} names a folder (it ends in '/'); give a file name")
    return Path(text)


def _describe(lo: float | None, hi: float | None, lo_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    return f"<= {hi:g}"


def int_range(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An integer in [lo, hi] (either end open when None)."""

    def parse(text: str) -> int:
        value = _whole(text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text} is out of range: must be an integer {_describe(lo, hi, False)}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its 'invalid <type> value' message
    return parse


def float_range(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Callable[[str], float]:
    """A finite number in [lo, hi] ((lo, hi] with ``lo_open``); NaN and inf are refused."""

    def parse(text: str) -> float:
        value = _number(text)
        low_bad = lo is not None and (value <= lo if lo_open else value < lo)
        if low_bad or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text} is out of range: must be {_describe(lo, hi, lo_open)}")
        return value

    parse.__name__ = "number"
    return parse


def iso_time(text: str) -> str:
    """An ISO 8601 time between the years 1900 and 2200 (numpy's nanosecond times overflow past 2262 without a
    word: 99999-01-01 became 1793), with a UTC offset converted, never stripped; returned as naive UTC
    ``YYYY-MM-DDTHH:MM:SS``."""
    from datetime import datetime

    from ..core.times import utc_naive

    long_year = re.match(r"\s*[+-]?(\d{5,})-", text)  # ISO 8601 expanded years: datetime takes 4 digits only
    try:
        when = utc_naive(datetime.fromisoformat(text.strip()))
    except ValueError:
        if long_year:
            raise argparse.ArgumentTypeError(f"{text!r}: year {int(long_year.group(1))} is out of range: must be in "
                                             "[1900, 2200]") from None
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2010-08-26T00:30)") from None
    if not 1900 <= when.year <= 2200:
        raise argparse.ArgumentTypeError(f"{text!r}: year {when.year} is out of range: must be in [1900, 2200]")
    return when.isoformat(timespec="seconds")


iso_time.__name__ = "time"


positive_int = int_range(1)
non_negative_int = int_range(0)
positive_float = float_range(0.0, lo_open=True)
non_negative_float = float_range(0.0)
threads = int_range(1, 4096)  # the numba thread count is checked against this machine's cores when set


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line (``hydro route: error: argument --dt: ...; see hydro route
    --help``) instead of the usage block and the error: every refusal of hydro is one line on stderr.
    Subparsers are made of the same class (argparse's ``add_subparsers`` uses the parent's type)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")
