"""Local iCalendar files: the embedded default that needs no account.

The provider finds the files (one .ics file or a folder of them), reads each through
the one iCalendar reader (:mod:`calsync.ical.read`) and writes through the text-level
editor (:mod:`calsync.ical.edit`). A file that is not iCalendar fails with its name; in
a folder it is skipped with a warning and the other files count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path

from calsync.backends.base import BookRequest, BookResult, DocRef, Splice, Window, WriteResult
from calsync.backends.local.cache import Cache, Key, overlaps, padded
from calsync.backends.local.config import IcsCalendar
from calsync.core.model import Body, FetchResult, Occurrence, Owner
from calsync.errors import CalendarFileError
from calsync.ical.filewrite import Seen, read_seen
from calsync.ical.normalise import Reading, zone
from calsync.paths import data_dir


def decode(raw: bytes, path: Path) -> tuple[str, str | None]:
    """A file's text; invalid UTF-8 is read as Windows-1252 with a warning, never dropped."""
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
    """The Calendar provider for one .ics file, or a folder of them."""

    kind = "ics"

    def __init__(
        self,
        cal: IcsCalendar,
        owner: Owner,
        *,
        before_replace: Callable[[Path], None] | None = None,
        lock_wait: float = 10.0,
        cache: bool = True,
        prefilter: bool = True,
    ) -> None:
        """``before_replace`` runs with our finished temp file just before the rename (a
        seam for tests to save the file "concurrently"); ``lock_wait`` bounds the wait
        for another writer's lock; ``cache=False`` reads every file each time, ``prefilter=False``
        parses every VEVENT even when the window asks only for what can be a 1on1."""
        self.before_replace = before_replace
        self.lock_wait = lock_wait
        self.name = cal.name
        self.path = cal.path
        self.read_only = cal.read_only
        self.owner = owner
        self.default_tz: tzinfo = zone(owner.timezone) or datetime.now().astimezone().tzinfo  # type: ignore[assignment]
        self.reading = Reading(self.name, owner.emails, self.default_tz, self.read_only, self.kind)
        self.cache = Cache(data_dir() / "cache" / "ics") if cache else None
        self.prefilter = prefilter

    def files(self) -> list[Path]:
        """The .ics files the calendar reads now (a folder is listed afresh each time)."""
        return ics_files(self.path)

    def fetch(self, window: Window) -> FetchResult:
        """Every occurrence in the window; unless ``window.everything``, those that can
        never be a 1on1 may be left out unread (then ``partial`` says so)."""
        result = FetchResult(partial=self.prefilter and not window.everything)
        folder = self.path.is_dir()
        for file in self.files():
            try:
                seen = read_seen(file)
                text, warning = decode(seen.data, file)
                if warning:
                    result.warnings.append(warning)
                occurrences, warnings = self._read(file, seen, text, window)
            except CalendarFileError as exc:
                if not folder:
                    raise
                result.warnings.append(f"skipped file: {exc}")  # the folder's other files count
                continue
            result.warnings.extend(warnings)
            result.occurrences.extend(occurrences)
        return result

    def _read(
        self, file: Path, seen: Seen, text: str, window: Window
    ) -> tuple[list[Occurrence], list[str]]:
        """One file's read: from the cache when the file and the reader are as cached."""
        span = (window.start, window.end)
        partial = self.prefilter and not window.everything
        if self.cache is None:
            return self._parse(file, text, span, partial)[:2]
        key = Key(str(file), seen.size, seen.mtime_ns, hashlib.sha256(seen.data).hexdigest(),
                  f"{self.reading!r} partial={partial}")
        hit = self.cache.get(key, *span)
        if hit is not None:
            return hit
        wide = padded(*span)
        occurrences, warnings, bound = self._parse(file, text, wide, partial)
        if bound:  # what it warned about depends on the window: read exactly that one
            return self._parse(file, text, span, partial)[:2]
        self.cache.put(key, wide, occurrences, warnings)
        return [o for o in occurrences if overlaps(o, *span)], warnings

    def _parse(
        self, file: Path, text: str, span: tuple[datetime, datetime], partial: bool
    ) -> tuple[list[Occurrence], list[str], bool]:
        from calsync.ical.read import read_calendar

        if partial and "BEGIN:VCALENDAR" in text[:4096].upper():  # else the reader says why
            from calsync.ical.prefilter import prefilter

            text = prefilter(text, span, self.owner.emails).text
        read = read_calendar(text, file, self.reading, span)
        return read.occurrences, read.warnings, read.window_bound

    def write_description(
        self, occurrence: Occurrence, splice: Splice, tag: str, attach: DocRef | None = None
    ) -> WriteResult:
        """One write (a file has no attachments: the block's link is the doc)."""
        return self.write_descriptions([(occurrence, splice)])[0]

    def write_descriptions(self, items: Sequence[tuple[Occurrence, Splice]]) -> list[WriteResult]:
        """Several writes at once: one pass and one atomic replace per file."""
        from calsync.ical.edit import Options, write_occurrences

        return write_occurrences(items, Options(self.read_only, self.lock_wait, self.before_replace,
                                                self.owner.emails))

    def read_description(self, occurrence: Occurrence) -> Body | None:
        """The whole description (a cached occurrence keeps only what the core reads)."""
        from calsync.ical.edit import read_description

        return read_description(occurrence)

    def book(self, request: BookRequest) -> BookResult:
        """Adds the make-up event to the file (or a new file in the folder); see :mod:`.book`."""
        from calsync.backends.local.book import book_ics

        return book_ics(self.path, self.read_only, request, lock_wait=self.lock_wait,
                        before_replace=self.before_replace)

    def close(self) -> None:
        """Nothing to release: each read and write opens and closes its own file."""
        pass
