"""One relationship's step of ``calsync run``: carry the open action items forward, add
the dated section to the pair's doc, splice the agenda block into the next invite.

Idempotent: the doc section by its marker, the invite by comparing the block, so a step
cut short converges on the next run, and a step with nothing new writes nothing.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import calsync.core.actions as actions
import calsync.core.agenda as agenda
import calsync.core.pulse as pulse
from calsync.app.engine import CalendarSurvey, RelationshipStatus, pulse_key
from calsync.app.store import StateStore
from calsync.backends.base import (
    DocBackend,
    DocRef,
    DocRequest,
    ReadsDescription,
    Splice,
    WriteResult,
    WritesMany,
    WriteStatus,
)
from calsync.config import Config
from calsync.core.cadence import figures, held_meetings, who
from calsync.core.model import Body, Occurrence
from calsync.errors import ConflictError

Note = Callable[[list[str]], None]  # reports problems that do not stop the step


@dataclass
class Change:
    """What a run did (or, in a dry run, would do) to one relationship's next invite."""

    calendar: str
    counterpart: str
    name: str | None
    start: datetime
    status: WriteStatus
    detail: str = ""
    diff: str = ""
    doc_url: str | None = None
    repeat: bool = False  # a not-written warning already shown today (text output skips it)


@dataclass(frozen=True)
class Step:
    """What every relationship's step of one run shares."""

    config: Config
    now: datetime
    store: StateStore
    dry_run: bool


def next_occurrence(
    status: RelationshipStatus, now: datetime, horizon: timedelta, owner: tuple[str, ...]
) -> Occurrence | None:
    """The first occurrence inside the horizon that calsync may write (the owner organizes it)."""
    for occ in status.relationship.occurrences:
        if (now < occ.start <= now + horizon and not occ.cancelled
                and occ.owner_organizes(owner) and occ.writable):
            return occ
    return None


def last_held(status: RelationshipStatus, now: datetime, owner: tuple[str, ...]) -> Occurrence | None:
    """The pair's most recent held meeting, if any."""
    meetings = held_meetings(status.relationship, now, owner)
    return meetings[-1] if meetings else None


def write_pair(
    ctx: Step, item: CalendarSurvey, status: RelationshipStatus, docs: DocBackend, note: Note,
) -> Change | Planned | None:
    """The agenda of one relationship into its next invite (and doc); None: nothing to do."""
    config, now, store = ctx.config, ctx.now, ctx.store
    rel = status.relationship
    target = next_occurrence(status, now, timedelta(days=config.agenda.horizon_days), config.owner.emails)
    if target is None:
        return None
    key = pulse_key(item.calendar.name, rel)
    doc_state = store.namespace("docs")
    doc: DocRef | None = None
    if not ctx.dry_run:  # a dry run creates nothing, not even the doc
        doc = pair_doc(docs, store, key, agenda_input(config, status, target.start, None, ()))
    doc_url = doc.url if doc else doc_state.get(key)

    previous = last_held(status, now, config.owner.emails)
    if previous is not None:
        body = previous.description
        _remember(store, key, actions.parse(body.text, body.html), previous.start.date(), now)
    if doc is not None:
        text = docs.read_text(doc)
        _remember(store, key, actions.parse(text), now.date(), now)
        if config.pulse.enabled:
            _pulse(ctx, note, key, who(rel), text)
            status.pulse = pulse.summarise(pulse.load(store.namespace("pulse"), key),
                                           rel.name or rel.counterpart)
    # A tick made inside the upcoming invite's block counts too (its unchecked lines are ours).
    ticked = [i for i in actions.parse(target.description.text, target.description.html) if i.done]
    _remember(store, key, ticked, now.date(), now)
    data = agenda_input(config, status, target.start, doc_url, still_open(store, key))
    if doc is not None:
        marker, section = agenda.doc_section(data)
        try:
            docs.add_section(doc, marker, section)
        except ConflictError as exc:  # the doc kept changing: the invite is written all the same
            note([f"{item.calendar.name}: {who(rel)}: {exc}"])

    if len(agenda.find_blocks(target.description.text, target.description.html)) > 1:
        return Change(item.calendar.name, rel.counterpart, rel.name, target.start,
                      WriteStatus.CONFLICT, doc_url=doc_url,
                      detail="the invite holds more than one calsync agenda block (pasted?); "
                             "remove all but one and calsync will update it again")
    expected = agenda.splice(target.description, data)
    if expected is None:
        return None
    block = agenda.render(data, expected.html)
    digest = hashlib.sha256(block.encode()).hexdigest()[:16]
    if store.written_hash(item.calendar.name, target.ref) == digest and agenda.find_block(
        target.description.text, target.description.html
    ):
        # We wrote this very block before; the provider only re-encoded its markup
        # (Outlook rewrites HTML). Writing again would email the attendee for nothing.
        return None
    change = Change(item.calendar.name, rel.counterpart, rel.name, target.start,
                    WriteStatus.WRITTEN, doc_url=doc_url)
    before, after = target.description, expected
    if ctx.dry_run and isinstance(item.provider, ReadsDescription):
        # the cached occurrence keeps only part of the body: diff against the whole one
        whole = item.provider.read_description(target)
        if whole is not None:
            before, after = whole, agenda.splice(whole, data) or whole
    if ctx.dry_run:
        change.diff = _diff(before.text, after.text, who(rel), target.start)
        return change
    planned = Planned(change, target, lambda body: agenda.splice(body, data), digest, who(rel),
                      before, after)
    if isinstance(item.provider, WritesMany):
        return planned  # written with the calendar's other writes (one pass over an .ics file)
    result = item.provider.write_description(
        target, planned.splice, digest,
        attach=doc,  # the block links the pair's doc: a calendar that attaches files adds it
    )
    return finish(ctx, item, planned, result)


@dataclass
class Planned:
    """A write decided for one relationship, not yet made."""

    change: Change
    target: Occurrence
    splice: Splice
    digest: str
    pair: str
    before: Body
    after: Body


def finish(ctx: Step, item: CalendarSurvey, p: Planned, result: WriteResult) -> Change | None:
    """What a write did, recorded as if it had been made alone."""
    change = p.change
    change.status, change.detail = result.status, result.detail
    if result.status is WriteStatus.UNCHANGED:
        return None
    if result.status is not WriteStatus.WRITTEN:
        return change
    ctx.store.record_write(item.calendar.name, p.target.ref, p.digest, ctx.now)
    before, after = result.before or p.before, result.after or p.after  # as actually stored
    change.diff = _diff(before.text, after.text, p.pair, p.target.start)
    return change


def _pulse(ctx: Step, note: Note, key: str, label: str, text: str) -> None:
    """Keep the answers on the doc's pulse lines; a line that cannot be read is named once."""
    readings = pulse.read(text)
    pulse.remember(ctx.store.namespace("pulse"), key, readings)
    note([
        f"{label}: pulse line of {r.answer.day.isoformat()} in the shared doc: {r.problem} "
        "(keep one answer per question)"
        for r in readings if r.problem])


def _remember(store: StateStore, key: str, items: list[actions.ActionItem], seen: date,
              now: datetime) -> None:
    for it in items:
        store.upsert_action_item(
            key, it.key, it.owner, it.text, seen.isoformat(), now.isoformat() if it.done else None
        )


def pair_doc(docs: DocBackend, store: StateStore, key: str, data: agenda.AgendaInput) -> DocRef:
    """The pair's shared doc, created from the template the first time; its URL remembered."""
    rel_name = data.counterpart_name or data.counterpart_email
    doc = docs.ensure(DocRequest(key=key, counterpart=data.counterpart_email,
                                 counterpart_name=data.counterpart_name, title=f"1on1: {rel_name}",
                                 template=agenda.doc_template(data)))
    store.namespace("docs").set(key, doc.url)
    return doc


def still_open(store: StateStore, key: str) -> tuple[agenda.OpenItem, ...]:
    """The pair's action items not yet done, oldest first: what the agenda carries over."""
    return tuple(agenda.OpenItem(row.text, row.owner, date.fromisoformat(row.first_seen))
                 for row in store.action_items(key) if row.done_at is None)


def agenda_input(
    config: Config,
    status: RelationshipStatus,
    start: datetime,
    doc_url: str | None,
    open_items: tuple[agenda.OpenItem, ...],
    cadence_note: bool = True,
) -> agenda.AgendaInput:
    """What the agenda block of the meeting at ``start`` is rendered from."""
    c = status.cadence
    note = None
    if cadence_note and config.agenda.cadence_note and c.median_interval_days is not None:
        note = f"{figures(c.median_interval_days, c.median_duration_min)} ({c.label.value})"
    return agenda.AgendaInput(
        language=config.language,
        template=config.agenda.template,
        counterpart_email=status.relationship.counterpart,
        counterpart_name=status.relationship.name,
        start=start,
        doc_url=doc_url,
        open_items=open_items,
        cadence_note=note,
        pulse=config.pulse.enabled,
    )


def _diff(before: str, after: str, label: str, start: datetime) -> str:
    name = f"{label} {start.isoformat()}"
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"{name} (now)",
            tofile=f"{name} (calsync)",
        )
    )
