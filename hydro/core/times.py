"""Times as hydro keeps them: naive datetimes in UTC. A time written with an offset is converted, never
stripped (``2026-07-01T08:00+08:00`` is 00:00 UTC, not 08:00)."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_naive(when: datetime) -> datetime:
    """``when`` in UTC without tzinfo; a naive time is taken as UTC already."""
    return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo is not None else when
