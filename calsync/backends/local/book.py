"""Book a make-up 1on1 into a local .ics file: one new VEVENT, nothing else touched.

The same write discipline as :mod:`calsync.ical.edit` (:mod:`calsync.ical.filewrite`: its flock,
re-check and atomic replace): the VEVENT goes in as text just before the file's last ``END:VCALENDAR``, so
every other byte stays. Its UID is derived from ``BookRequest.event_id``; when the file
already holds that UID, nothing is written (``ALREADY``). A folder calendar gets a new
file of its own, created exclusively.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import icalendar

from calsync.backends.base import BookRequest, BookResult, BookStatus
from calsync.errors import CalendarFileError
from calsync.ical.filewrite import locked, read_seen, replace, sweep_temps


def uid_of(request: BookRequest) -> str:
    """The booked event's UID, derived from ``event_id`` so a second run finds it already there."""
    return f"{request.event_id}@calsync"


def vevent(request: BookRequest, newline: str) -> str:
    """The event as iCalendar text, folded and escaped by icalendar, in the file's newline."""
    ev = icalendar.Event()
    ev.add("UID", uid_of(request))
    ev.add("DTSTAMP", datetime.now(UTC))
    ev.add("DTSTART", request.start)  # in the owner's zone (TZID), as the agenda names it
    ev.add("DTEND", request.end)
    ev.add("SUMMARY", request.title)
    ev.add("DESCRIPTION", request.description)
    organizer = icalendar.vCalAddress(f"mailto:{request.organizer}")
    ev.add("ORGANIZER", organizer)
    attendee = icalendar.vCalAddress(f"mailto:{request.counterpart}")
    if request.counterpart_name:
        attendee.params["CN"] = request.counterpart_name
    attendee.params["PARTSTAT"] = "NEEDS-ACTION"
    ev.add("ATTENDEE", attendee)
    text: str = ev.to_ical().decode("utf-8")
    return text.replace("\r\n", newline)


def book_ics(where: Path, read_only: bool, request: BookRequest, *, lock_wait: float = 10.0,
             before_replace: Callable[[Path], None] | None = None) -> BookResult:
    """Add the event to the calendar file (or folder) ``where``; see the module docstring."""
    if read_only:
        return BookResult(BookStatus.FORBIDDEN, detail="calendar is read_only")
    uid = uid_of(request)
    if where.is_dir():
        return _new_file(where / f"calsync-{request.event_id}.ics", request, uid)
    path = where.resolve()  # through a symlink: replace the file, not the link
    with locked(path, lock_wait) as ok:
        if not ok:
            raise CalendarFileError(f"{path} is locked by another writer; booking on the next run")
        sweep_temps(path)
        for _ in range(2):
            seen = read_seen(path)
            try:
                text = seen.data.decode("utf-8-sig")
            except UnicodeDecodeError:
                return BookResult(BookStatus.FORBIDDEN, detail=f"{path} is not UTF-8")
            if f"UID:{uid}" in text.replace("\r\n ", "").replace("\n ", "").replace("\n\t", ""):
                return BookResult(BookStatus.ALREADY, ref=uid)
            at = text.rfind("END:VCALENDAR")
            if at < 0:
                return BookResult(BookStatus.FORBIDDEN, detail=f"{path} has no END:VCALENDAR")
            newline = "\r\n" if "\r\n" in text else "\n"
            head = text[:at] if not text[:at] or text[:at].endswith("\n") else text[:at] + newline
            new = head + vevent(request, newline) + text[at:]
            data = ("\ufeff" if seen.data.startswith(b"\xef\xbb\xbf") else "") + new
            if replace(path, data.encode("utf-8"), seen, before_replace):
                return BookResult(BookStatus.BOOKED, ref=uid)
    raise CalendarFileError(f"{path} kept changing while calsync booked; booking on the next run")


def _new_file(path: Path, request: BookRequest, uid: str) -> BookResult:
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync//make-up//EN\r\n"
            + vevent(request, "\r\n") + "END:VCALENDAR\r\n")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return BookResult(BookStatus.ALREADY, ref=uid)
    except OSError as exc:
        raise CalendarFileError(f"{path}: cannot write: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(text.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    return BookResult(BookStatus.BOOKED, ref=uid)
