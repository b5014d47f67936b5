"""Write occurrences' descriptions into a local .ics file, touching nothing else.

The file is edited as text, not re-serialised: only the lines of the VEVENTs that
change (or a new RECURRENCE-ID override for one instance of a series, copied from the
master) differ afterwards, so every other component, line ending and byte stays as it
was. All the writes planned for one file are applied in one pass over its text and one
atomic, compare-and-swap replace (:mod:`calsync.ical.filewrite`): if the file changed
since our read, we read again and splice again (once).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import icalendar

from calsync.backends.base import Splice, WriteResult, WriteStatus
from calsync.core.model import Body, Occurrence
from calsync.ical.filewrite import locked, read_seen, sweep_temps
from calsync.ical.filewrite import replace as _replace
from calsync.ical.normalise import IcsRef

_NOT_COPIED = {"RRULE", "RDATE", "EXDATE", "EXRULE", "DTSTART", "DTEND", "DURATION",
               "RECURRENCE-ID", "DESCRIPTION"}
_UID_LINE = re.compile(r"^UID[;:][^\r\n]*(?:\r?\n[ \t][^\r\n]*)*", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class Options:
    """How a calendar may be written: not at all (read_only), how long to wait for another
    writer's lock, a test seam run on our finished temp file just before the rename, and
    whose events may be written."""

    read_only: bool = False
    lock_wait: float = 10.0
    before_replace: Callable[[Path], None] | None = None
    owner: tuple[str, ...] = ()  # the owner's addresses: only their events are written


@dataclass(frozen=True)
class _Edit:
    """Replace ``text[begin:end]`` with ``new`` (begin == end: insert)."""

    begin: int
    end: int
    new: str
    before: Body
    after: Body


def write_occurrences(
    items: Sequence[tuple[Occurrence, Splice]], options: Options
) -> list[WriteResult]:
    """Splice each occurrence's description; one pass and one replace per file."""
    results: list[WriteResult | None] = [None] * len(items)
    by_file: dict[Path, list[int]] = {}
    for i, (occ, _) in enumerate(items):
        refused = _refused(occ, options)
        if refused is not None:
            results[i] = refused
            continue
        path = Path(IcsRef.loads(occ.ref).file).resolve()  # through a symlink: the file
        by_file.setdefault(path, []).append(i)
    for path, indexes in by_file.items():
        for i, result in zip(indexes, _write_file(path, [items[i] for i in indexes], options),
                             strict=True):
            results[i] = result
    return [r for r in results if r is not None]


def read_description(occ: Occurrence) -> Body | None:
    """The description of ``occ`` as the file holds it now (None if its VEVENT is gone)."""
    ref = IcsRef.loads(occ.ref)
    try:
        text = Path(ref.file).read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    rid = datetime.fromisoformat(ref.recurrence_id) if ref.recurrence_id else None
    outcome = _edit(text, _index(text), ref.uid, rid, occ, lambda body: None,
                    "\r\n" if "\r\n" in text else "\n")
    return outcome.before if isinstance(outcome, WriteResult) else None


def _refused(occ: Occurrence, options: Options) -> WriteResult | None:
    if options.read_only:
        return WriteResult(WriteStatus.FORBIDDEN, detail="calendar is read_only")
    if occ.cancelled:
        return WriteResult(WriteStatus.GONE, detail="the occurrence was removed or cancelled")
    if not occ.writable:
        return WriteResult(WriteStatus.FORBIDDEN, detail="event has no UID")
    if not occ.owner_organizes(options.owner):
        return WriteResult(WriteStatus.FORBIDDEN, detail=f"organized by {occ.organizer}")
    return None


def _write_file(
    path: Path, items: list[tuple[Occurrence, Splice]], options: Options
) -> list[WriteResult]:
    with locked(path, options.lock_wait) as ok:
        if not ok:
            return [WriteResult(WriteStatus.CONFLICT,
                                detail=f"{path} is locked by another writer; try the next run")
                    for _ in items]
        sweep_temps(path)
        for _ in range(2):
            seen = read_seen(path)
            try:
                text = seen.data.decode("utf-8-sig")
            except UnicodeDecodeError:
                return [WriteResult(WriteStatus.FORBIDDEN,
                                    detail=f"{path} is not UTF-8; calsync leaves it unchanged")
                        for _ in items]
            new_text, results = _plan(text, items)
            if not any(r.status is WriteStatus.WRITTEN for r in results):
                return results
            if seen.data.startswith(b"\xef\xbb\xbf"):
                new_text = "\ufeff" + new_text
            if _replace(path, new_text.encode("utf-8"), seen, options.before_replace):
                return results
        return [r if r.status is not WriteStatus.WRITTEN else
                WriteResult(WriteStatus.CONFLICT, detail=f"{path} kept changing while we wrote")
                for r in results]


def _plan(text: str, items: list[tuple[Occurrence, Splice]]) -> tuple[str, list[WriteResult]]:
    """Every item's edit applied to ``text`` in one pass; two edits of the same VEVENT
    (rare) take another round on the edited text."""
    results: list[WriteResult | None] = [None] * len(items)
    pending = list(range(len(items)))
    newline = "\r\n" if "\r\n" in text else "\n"
    while pending:
        index = _index(text)
        edits: list[tuple[_Edit, int]] = []
        replaced: set[tuple[int, int]] = set()
        later: list[int] = []
        for i in pending:
            occ, splice = items[i]
            ref = IcsRef.loads(occ.ref)
            rid = datetime.fromisoformat(ref.recurrence_id) if ref.recurrence_id else None
            outcome = _edit(text, index, ref.uid, rid, occ, splice, newline)
            if isinstance(outcome, WriteResult):
                results[i] = outcome
            elif (outcome.begin, outcome.end) in replaced:
                later.append(i)
            else:
                if outcome.begin != outcome.end:
                    replaced.add((outcome.begin, outcome.end))
                edits.append((outcome, i))
        text = _apply(text, [e for e, _ in edits])
        for edit, i in edits:
            results[i] = WriteResult(WriteStatus.WRITTEN, before=edit.before, after=edit.after)
        pending = later
    return text, [r for r in results if r is not None]


def _apply(text: str, edits: list[_Edit]) -> str:
    parts, at = [], 0
    for edit in sorted(edits, key=lambda e: (e.begin, e.end)):  # stable: inserts keep order
        parts += [text[at:edit.begin], edit.new]
        at = edit.end
    parts.append(text[at:])
    return "".join(parts)


def _index(text: str) -> dict[str, list[tuple[int, int]]]:
    """VEVENT spans by every UID written in them (a quick look; the parse confirms)."""
    found: dict[str, list[tuple[int, int]]] = {}
    for begin, end in _vevent_spans(text):
        for m in _UID_LINE.finditer(text, begin, end):
            value = _split_value(_unfold(m.group(0)))[1].strip()
            found.setdefault(value, []).append((begin, end))
    return found


def _candidates(text: str, index: dict[str, list[tuple[int, int]]], uid: str) -> list[tuple[int, int]]:
    spans = index.get(uid)
    if spans is not None:
        return spans
    # a UID written with escapes: the slow scan, as the reader would see it
    return [(b, e) for b, e in _vevent_spans(text) if uid in _unfold(text[b:e])]


def edit_text(
    text: str, uid: str, rid: datetime | None, occ: Occurrence, splice: Splice
) -> tuple[str, Body, Body] | WriteResult:
    """The edit on a text already read: ``(new text, before, after)``, or why not.

    For calendars whose text does not live in a file (a CalDAV resource): the caller
    stores the new text under its own precondition.
    """
    newline = "\r\n" if "\r\n" in text else "\n"
    outcome = _edit(text, _index(text), uid, rid, occ, splice, newline)
    if isinstance(outcome, WriteResult):
        return outcome
    return _apply(text, [outcome]), outcome.before, outcome.after


def _edit(
    text: str, index: dict[str, list[tuple[int, int]]], uid: str, rid: datetime | None,
    occ: Occurrence, splice: Splice, newline: str,
) -> _Edit | WriteResult:
    master: tuple[int, int, Any] | None = None
    target: tuple[int, int, Any] | None = None
    for begin, end in _candidates(text, index, uid):
        chunk = text[begin:end]
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
        return _Edit(begin, end, chunk, before, after)
    assert master is not None and rid is not None
    begin, end, comp = master
    override = _override(text[begin:end], occ, rid, after.text, newline)
    if not _readable(override, uid):
        return WriteResult(WriteStatus.FORBIDDEN, detail="could not build a valid override")
    return _Edit(end, end, override, before, after)


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
