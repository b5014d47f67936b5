"""The ``[[calendars]]`` keys of a local .ics calendar: a file, or a folder of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from calsync.config_reader import CalendarBase, Reader, Schema


@dataclass(frozen=True, kw_only=True)
class IcsCalendar(CalendarBase):
    """An .ics file, or a folder of .ics files, read (and written) in place."""

    provider: Literal["ics"] = "ics"
    path: Path


def parse(r: Reader, t: Mapping[str, Any], p: str, name: str | None, read_only: bool) -> IcsCalendar:
    """``path`` is required; the name defaults to the file's stem."""
    path = r.path_(t, "path", p)
    if path is None:
        r.fail(p + "path", "missing: an .ics file or a folder of .ics files")
    assert path is not None
    return IcsCalendar(name=name or path.stem, read_only=read_only, path=path)


SCHEMA = Schema(frozenset({"path"}), parse)
