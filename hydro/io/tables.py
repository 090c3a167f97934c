"""One reader for the CSV tables users give hydro (rain gauges, PET, flood events, warning thresholds,
reservoir inflow and schedules, dispatch schedules).

:func:`read_table` reads the whole file once and returns its header and rows, each row with the **physical
line** it starts on (1 is the first line of the file; blank lines and ``#`` comment lines are counted, and
skipped), so that every message points at the line an editor shows. What it refuses, in one line naming the
file (and the line):

* a missing file or a folder; bytes that are not UTF-8 text (naming the line of the first bad byte); NUL bytes
  (a binary or damaged file); a quote left open (``csv`` names the line);
* a file with no header line;
* **a file cut while being written**: a file that does not end in a newline and whose last field starts like
  a number (a value, a time, an id) may have lost the rest of that value, and ``12.5`` read from ``12.53`` is
  a wrong number that looks right. It is refused, saying how to accept the file if it is complete (add the
  final newline).

Readers then take values with :meth:`Table.error` messages, ``FILE: line N: COLUMN VALUE problem``, naming the
file, line, column and value."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import HydroError, InputDataError

_NUMBER_LIKE = re.compile(r"[+-]?\.?\d")  # a number, a time or an id: a cut one still parses


@dataclass(frozen=True)
class Row:
    """One record: the physical line it starts on and its fields, stripped of surrounding spaces."""

    line: int
    fields: list[str]


@dataclass
class Table:
    source: Path
    what: str
    header: list[str]  # as written, stripped (compare case-insensitively where the format says so)
    rows: list[Row] = field(default_factory=list)
    header_line: int = 1
    error_class: type[HydroError] = InputDataError

    def error(self, line: int, problem: str, column: str | None = None, value: str | None = None) -> HydroError:
        """``FILE: line N: COLUMN 'VALUE' problem`` (column and value where given), of the table's error class."""
        where = f"{self.source}: line {line}: "
        if column is not None:
            where += f"{column} {value!r} " if value is not None else f"{column} "
        return self.error_class(where + problem)

    def columns(self, required: tuple[str, ...], optional: tuple[str, ...] = (), lower: bool = True) -> dict[str, int]:
        """Where each named column is (``lower``: headers compared case-insensitively); refuses a table that
        lacks a required one, naming what it has."""
        names = [h.lower() if lower else h for h in self.header]
        missing = [c for c in required if c not in names]
        if missing:
            raise self.error_class(f"{self.source}: {self.what} needs columns {','.join(required)}; missing "
                                   f"{', '.join(missing)} (found {','.join(self.header) or 'none'})")
        return {c: names.index(c) for c in (*required, *optional) if c in names}

    def records(self) -> list[tuple[int, dict[str, str]]]:
        """``(line, {column: value})`` per row, as csv.DictReader gives them (missing fields are ``None``,
        extra fields dropped)."""
        return [(row.line, {name: (row.fields[k] if k < len(row.fields) else None) for k, name in enumerate(self.header)})
                for row in self.rows]


def _decode(path: Path, data: bytes, what: str, error_class: type[HydroError]) -> str:
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise error_class(f"{path}: line {line}: {what} holds NUL bytes: a binary or damaged file, not CSV text; "
                          "restore or re-export it")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise error_class(f"{path}: line {line}: {what} is not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                          "save it as a UTF-8 CSV") from None


def read_table(path: str | Path, what: str, comment: str = "#", error_class: type[HydroError] = InputDataError,
               check_truncation: bool = True, inline_comments: bool = False) -> Table:
    """The header and rows of the CSV at ``path`` (module docstring); ``what`` names the table in messages
    ("inflow series"), ``error_class`` is the error raised (InputDataError, ConfigError for a configuration
    table). ``inline_comments``: a row's text from an unquoted ``comment`` character on is a note, not data
    (``XS12,100.0,0.035 # gravel``), for tables whose fields never hold that character."""
    path = Path(path)
    if path.is_dir():
        raise error_class(f"{path}: is a folder, not a {what} (CSV); give the file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error_class(f"{path}: {what} not found; check the path") from None
    except OSError as exc:
        raise error_class(f"{path}: {what} cannot be read ({exc.strerror or exc})") from None
    text = _decode(path, data, what, error_class)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # strict: a quote left open is an error
    records: list[Row] = []
    end = 0  # the physical line the previous record ended on
    last_data_end = 0  # ... and the last data record
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith(comment):
                continue
            noted = next((k for k, f in enumerate(fields) if comment in f), None) if inline_comments else None
            if noted is not None:
                fields = fields[:noted] + [fields[noted].split(comment, 1)[0]]
            records.append(Row(start, [f.strip() for f in fields]))
            last_data_end = end if noted is None else -1  # a row ending in a note was not cut in its data
    except csv.Error as exc:
        raise error_class(f"{path}: line {end + 1}: {what} is not valid CSV ({exc}); check the quotes") from None
    if not records:
        raise error_class(f"{path}: empty file; {'an' if what[:1].lower() in 'aeiou' else 'a'} {what} needs a header line")
    last = records[-1]
    # a cut is suspected only where the file ends inside its last data row (not after a comment or blank line)
    if check_truncation and len(records) > 1 and text and not text.endswith(("\n", "\r")) and last_data_end == end \
            and _NUMBER_LIKE.match(last.fields[-1]):
        column = records[0].fields[len(last.fields) - 1] if len(last.fields) <= len(records[0].fields) else \
            f"field {len(last.fields)}"
        raise error_class(f"{path}: line {last.line}: the file ends without a newline right after {column} "
                          f"{last.fields[-1]!r}, so it may have been cut off while being written and that value may "
                          "be incomplete; restore the file, or if it is complete add the final newline")
    return Table(path, what, records[0].fields, records[1:], records[0].line, error_class)
