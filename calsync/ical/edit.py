"""Write one occurrence's description into a local .ics file, touching nothing else.

The file is edited as text, not re-serialised: only the lines of the one VEVENT that
changes (or a new RECURRENCE-ID override for one instance of a series, copied from
the master) differ afterwards, so every other component, line ending and byte stays
as it was. The write is atomic (a unique temp file + rename) and compare-and-swap: an
flock on a sidecar file keeps other calsync runs out, and the file's size, mtime, inode
and bytes are checked again right before the rename; if they changed since our read, we
read again and splice again (once). Editors that take no lock can still save in the
instant between that check and the rename: without cooperating writers it cannot be
closed entirely.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import icalendar

from calsync.backends.base import Splice, WriteResult, WriteStatus
from calsync.core.model import Body, Occurrence
from calsync.errors import CalendarFileError

if TYPE_CHECKING:
    from calsync.backends.local.calendar import IcsProvider

_NOT_COPIED = {"RRULE", "RDATE", "EXDATE", "EXRULE", "DTSTART", "DTEND", "DURATION",
               "RECURRENCE-ID", "DESCRIPTION"}


STALE_TEMP = 600  # seconds after which a temp file of ours is a crashed run's leftover


@dataclass(frozen=True)
class _Seen:
    """What the file was when we read it: checked again just before our rename."""

    data: bytes
    size: int
    mtime_ns: int
    inode: int


def write_occurrence(provider: IcsProvider, occ: Occurrence, splice: Splice) -> WriteResult:
    from calsync.backends.local.calendar import IcsRef

    if provider.read_only:
        return WriteResult(WriteStatus.FORBIDDEN, detail="calendar is read_only")
    if occ.cancelled:
        return WriteResult(WriteStatus.GONE, detail="the occurrence was removed or cancelled")
    if not occ.writable:
        return WriteResult(WriteStatus.FORBIDDEN, detail="event has no UID")
    if not occ.owner_organizes(provider.owner.emails):
        return WriteResult(WriteStatus.FORBIDDEN, detail=f"organized by {occ.organizer}")
    ref = IcsRef.loads(occ.ref)
    path = Path(ref.file).resolve()  # through a symlink: replace the file, not the link
    rid = datetime.fromisoformat(ref.recurrence_id) if ref.recurrence_id else None
    with _locked(path, provider.lock_wait) as locked:
        if not locked:
            return WriteResult(WriteStatus.CONFLICT,
                               detail=f"{path} is locked by another writer; try the next run")
        _sweep_temps(path)
        for _ in range(2):
            seen = _read(path)
            try:
                text = seen.data.decode("utf-8-sig")
            except UnicodeDecodeError:
                return WriteResult(
                    WriteStatus.FORBIDDEN, detail=f"{path} is not UTF-8; calsync leaves it unchanged"
                )
            outcome = _edit(text, ref.uid, rid, occ, splice)
            if isinstance(outcome, WriteResult):
                return outcome
            new_text, before, after = outcome
            if seen.data.startswith(b"\xef\xbb\xbf"):
                new_text = "\ufeff" + new_text
            if _replace(path, new_text.encode("utf-8"), seen, provider.before_replace):
                return WriteResult(WriteStatus.WRITTEN, before=before, after=after)
        return WriteResult(WriteStatus.CONFLICT, detail=f"{path} kept changing while we wrote")


def _read(path: Path) -> _Seen:
    try:
        with path.open("rb") as fh:
            data = fh.read()
            st = os.fstat(fh.fileno())
    except OSError as exc:
        raise CalendarFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _Seen(data, st.st_size, st.st_mtime_ns, st.st_ino)


def _unchanged(path: Path, seen: _Seen) -> bool:
    """Size, mtime, inode and then the bytes themselves still what we read."""
    try:
        st = path.stat()
        if (st.st_size, st.st_mtime_ns, st.st_ino) != (seen.size, seen.mtime_ns, seen.inode):
            return False
        return path.read_bytes() == seen.data
    except OSError:
        return False


@contextlib.contextmanager
def _locked(path: Path, wait: float) -> Iterator[bool]:
    """Hold an flock on a sidecar next to the file while we write.

    Other calsync runs (and any writer taking the same lock) wait for us. Yields False
    when the lock stayed taken for ``wait`` seconds; where the OS or file system has no
    flock, yields True without one. The sidecar is removed again when we are done: a
    waiter that then finds its lock on a removed sidecar starts over on a new one.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: the re-check before the rename is all we have
        yield True
        return
    lock = path.with_name(f".{path.name}.calsync-lock")
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # a folder we may not create files in: the write itself says so
            yield True
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(0.05)
            continue
        except OSError:  # ENOLCK and friends (some network file systems): no lock
            os.close(fd)
            yield True
            return
        if not _same_file(fd, lock):  # the holder before us removed it: take a fresh one
            os.close(fd)
            continue
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()
            os.close(fd)  # closing releases the lock
        return


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), path.stat()
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _sweep_temps(path: Path) -> None:
    """Remove temp files a crashed run of ours left beside the file (only old ones)."""
    now = time.time()
    prefix = f".{path.name}.calsync-"
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        name = entry.name
        ours = name.startswith(prefix) and (name.endswith(".tmp") or name == prefix + "tmp")
        if not ours:
            continue
        with contextlib.suppress(OSError):
            if now - entry.lstat().st_mtime > STALE_TEMP and entry.is_file():
                entry.unlink()


def _replace(
    path: Path, data: bytes, seen: _Seen, before_replace: Callable[[Path], None] | None
) -> bool:
    """Write a unique temp file, then rename it over ``path`` if the file is still as read.

    False (nothing written) when the file changed since ``seen``: the caller re-splices.
    """
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise CalendarFileError(f"{path}: the file is read-only; it was left unchanged")
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.calsync-", suffix=".tmp",
                                    dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if before_replace is not None:
            before_replace(tmp)
        if not _unchanged(path, seen):
            tmp.unlink()
            return False
        os.replace(tmp, path)
        return True
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise CalendarFileError(
            f"{path}: cannot write: {exc.strerror or exc}; the file was left unchanged"
        ) from None


def edit_text(
    text: str, uid: str, rid: datetime | None, occ: Occurrence, splice: Splice
) -> tuple[str, Body, Body] | WriteResult:
    """The edit on a text already read: ``(new text, before, after)``, or why not.

    For calendars whose text does not live in a file (a CalDAV resource): the caller
    stores the new text under its own precondition.
    """
    return _edit(text, uid, rid, occ, splice)


def _edit(
    text: str, uid: str, rid: datetime | None, occ: Occurrence, splice: Splice
) -> tuple[str, Body, Body] | WriteResult:
    newline = "\r\n" if "\r\n" in text else "\n"
    master: tuple[int, int, Any] | None = None
    target: tuple[int, int, Any] | None = None
    for begin, end in _vevent_spans(text):
        chunk = text[begin:end]
        if uid not in _unfold(chunk):
            continue
        try:
            comp = icalendar.Event.from_ical(chunk)
            if str(comp.get("UID")) != uid:
                continue
            own_rid = comp.get("RECURRENCE-ID")
            own = own_rid.dt if own_rid is not None else None
        except Exception:  # a component the reader skipped as broken: not ours to touch
            continue
        if own_rid is None:
            master = (begin, end, comp)
        elif rid is not None and own is not None and _same_instant(own, rid):
            target = (begin, end, comp)
    if rid is None:
        target = master
    if target is None and master is None:
        return WriteResult(WriteStatus.GONE, detail=f"UID {uid} is no longer in the file")
    source = target or master
    assert source is not None
    desc = source[2].get("DESCRIPTION", "")
    if isinstance(desc, list):
        return WriteResult(WriteStatus.FORBIDDEN, detail="the event has several DESCRIPTIONs")
    desc = str(desc)
    before = Body(desc, html=occ.description.html)
    after = splice(before)
    if after is None or after == before:
        return WriteResult(WriteStatus.UNCHANGED, before=before, after=before)
    if target is not None:
        begin, end, _ = target
        chunk = _set_description(text[begin:end], after.text, newline)
        return text[:begin] + chunk + text[end:], before, after
    assert master is not None and rid is not None
    begin, end, comp = master
    override = _override(text[begin:end], occ, rid, after.text, newline)
    if not _readable(override, uid):
        return WriteResult(WriteStatus.FORBIDDEN, detail="could not build a valid override")
    return text[:end] + override + text[end:], before, after


def _readable(chunk: str, uid: str) -> bool:
    """Never write what the reader could not read back."""
    try:
        comp: Any = icalendar.Event.from_ical(chunk)
        ok = str(comp.get("UID")) == uid and not getattr(comp, "errors", None)
        return ok and comp["RECURRENCE-ID"].dt is not None and comp["DTSTART"].dt is not None
    except Exception:
        return False


def _vevent_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], None
    for m in re.finditer(r"^(BEGIN|END):VEVENT[ \t]*(\r?\n|$)", text, re.MULTILINE | re.IGNORECASE):
        if m.group(1).upper() == "BEGIN":
            start = m.start()
        elif start is not None:
            spans.append((start, m.end()))
            start = None
    return spans


def _unfold(chunk: str) -> str:
    return re.sub(r"\r?\n[ \t]", "", chunk)


def _same_instant(value: date | datetime, rid: datetime) -> bool:
    """Whether an override's RECURRENCE-ID names the instance ``rid``.

    The wall clock decides as well as the instant: the reader swaps a Windows-named
    VTIMEZONE for its IANA zone, so the two can disagree on the offset, never on the
    local time written in the file.
    """
    if not isinstance(value, datetime):
        return value == rid.date()
    return value.replace(tzinfo=None) == rid.replace(tzinfo=None) or (
        value.tzinfo is not None and value == rid
    )


def _logical_lines(chunk: str) -> list[str]:
    """Physical lines grouped into content lines (a line plus its folded continuations)."""
    lines: list[str] = []
    for physical in chunk.splitlines(keepends=True):
        if physical[:1] in (" ", "\t") and lines:
            lines[-1] += physical
        else:
            lines.append(physical)
    return lines


def _name(line: str) -> str:
    return re.split(r"[;:]", line, maxsplit=1)[0].strip().upper()


def fold(line: str, newline: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character (RFC 5545 3.1)."""
    out, current, size = [], "", 0
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += ch
        size += width
    out.append(current)
    return newline.join(out) + newline


def _description_line(prefix: str, value: str, newline: str) -> str:
    escaped = icalendar.vText(value).to_ical().decode("utf-8")
    return fold(f"{prefix}:{escaped}", newline)


def _set_description(chunk: str, value: str, newline: str) -> str:
    lines = _logical_lines(chunk)
    depth = 0
    for i, line in enumerate(lines):
        name = _name(line)
        if name == "BEGIN":
            depth += 1
        elif name == "END":
            depth -= 1
        elif depth == 1 and name == "DESCRIPTION":
            unfolded = _unfold(line).rstrip("\r\n")
            prefix = _split_value(unfolded)[0]
            lines[i] = _description_line(prefix, value, newline)
            return "".join(lines)
    end = len(lines) - 1  # the END:VEVENT line
    lines.insert(end, _description_line("DESCRIPTION", value, newline))
    return "".join(lines)


def _split_value(line: str) -> tuple[str, str]:
    """Split a content line at the first colon outside a quoted parameter value."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            return line[:i], line[i + 1:]
    return line, ""


def _override(master_chunk: str, occ: Occurrence, rid: datetime, value: str, newline: str) -> str:
    """A RECURRENCE-ID override for one instance, copied from the master's properties."""
    kept, nested = [], []
    start_line = "DTSTART:"
    depth = 0
    for line in _logical_lines(master_chunk):
        name = _name(line)
        if name in ("BEGIN", "END"):
            depth += 1 if name == "BEGIN" else -1
            if depth >= 1 and not (name == "BEGIN" and depth == 1):
                nested.append(line)
            continue
        if depth > 1:
            nested.append(line)
        elif name == "DTSTART":
            start_line = _unfold(line).rstrip("\r\n")
        elif name not in _NOT_COPIED:
            kept.append(line if line.endswith("\n") else line + newline)
    stamp = [
        _when("RECURRENCE-ID", rid, start_line, newline),
        _when("DTSTART", occ.start, start_line, newline),
        _when("DTEND", occ.end, start_line, newline),
        _description_line("DESCRIPTION", value, newline),
    ]
    return f"BEGIN:VEVENT{newline}" + "".join(kept + stamp + nested) + f"END:VEVENT{newline}"


def _when(name: str, value: datetime, dtstart: str, newline: str) -> str:
    """``value`` written the way the master writes DTSTART (its exact parameters).

    Copying the parameter text keeps a quoted Outlook TZID such as
    ``"(UTC+01:00) Amsterdam, Berlin"`` intact.
    """
    params, raw = _split_value(dtstart)
    params = params[len("DTSTART"):]
    upper = params.upper()
    if "VALUE=DATE" in upper and "VALUE=DATE-TIME" not in upper:
        stamp = value.strftime("%Y%m%d")
    elif "TZID=" in upper:  # the occurrence's times are already in the event's own zone
        stamp = value.strftime("%Y%m%dT%H%M%S")
    elif raw.strip().upper().endswith("Z"):
        stamp = value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    else:  # floating: the wall clock the reader gave it
        stamp = value.strftime("%Y%m%dT%H%M%S")
    return fold(f"{name}{params}:{stamp}", newline)
