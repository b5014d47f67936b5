"""Local iCalendar files: the embedded default that needs no account.

The provider finds the files (one .ics file or a folder of them), reads each through
the one iCalendar reader (:mod:`calsync.ical.read`) and writes through the text-level
editor (:mod:`calsync.ical.edit`). A file that is not iCalendar fails with its name; in
a folder it is skipped with a warning and the other files count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path

from calsync.backends.base import Splice, Window, WriteResult
from calsync.config import CalendarConfig, Owner
from calsync.core.model import FetchResult, Occurrence
from calsync.errors import CalendarFileError
from calsync.ical.normalise import Reading, zone


def read_text(path: Path) -> tuple[str, str | None]:
    """A file's text; invalid UTF-8 is read as Windows-1252 with a warning, never dropped."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CalendarFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return decode(raw, path)


def decode(raw: bytes, path: Path) -> tuple[str, str | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        text = raw.decode("cp1252", errors="replace")
        return text, f"{path}: not UTF-8 (byte {exc.start}); read as Windows-1252"


def ics_files(path: Path) -> list[Path]:
    """The calendar files ``path`` names: itself, or the .ics files of a folder.

    A folder without any is an error: a typo in ``path`` must not read as "no 1on1s".
    """
    if path.is_dir():
        try:
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".ics" and p.is_file())
        except OSError as exc:
            raise CalendarFileError(f"{path}: cannot list the folder: {exc.strerror or exc}") from None
        if not found:
            raise CalendarFileError(f"{path}: a folder with no .ics files in it")
        return found
    if not path.exists():
        raise CalendarFileError(f"{path}: no such file or folder")
    return [path]


class IcsProvider:
    kind = "ics"

    def __init__(
        self,
        cal: CalendarConfig,
        owner: Owner,
        *,
        before_replace: Callable[[Path], None] | None = None,
        lock_wait: float = 10.0,
    ) -> None:
        """``before_replace`` runs with our finished temp file just before the rename (a
        seam for tests to save the file "concurrently"); ``lock_wait`` bounds the wait
        for another writer's lock."""
        assert cal.path is not None
        self.before_replace = before_replace
        self.lock_wait = lock_wait
        self.name = cal.name
        self.path = cal.path
        self.read_only = cal.read_only
        self.owner = owner
        self.default_tz: tzinfo = zone(owner.timezone) or datetime.now().astimezone().tzinfo  # type: ignore[assignment]
        self.reading = Reading(self.name, owner.emails, self.default_tz, self.read_only, self.kind)

    def files(self) -> list[Path]:
        return ics_files(self.path)

    def fetch(self, window: Window) -> FetchResult:
        from calsync.ical.read import read_calendar

        result = FetchResult()
        folder = self.path.is_dir()
        for file in self.files():
            try:
                text, warning = read_text(file)
                if warning:
                    result.warnings.append(warning)
                read = read_calendar(text, file, self.reading, (window.start, window.end))
            except CalendarFileError as exc:
                if not folder:
                    raise
                result.warnings.append(f"skipped file: {exc}")  # the folder's other files count
                continue
            result.warnings.extend(read.warnings)
            result.occurrences.extend(read.occurrences)
        return result

    def write_description(self, occurrence: Occurrence, splice: Splice, tag: str) -> WriteResult:
        return self.write_descriptions([(occurrence, splice)])[0]

    def write_descriptions(self, items: Sequence[tuple[Occurrence, Splice]]) -> list[WriteResult]:
        """Several writes at once: one pass and one atomic replace per file."""
        from calsync.ical.edit import Options, write_occurrences

        return write_occurrences(items, Options(self.read_only, self.lock_wait, self.before_replace))

    def close(self) -> None:
        pass
