"""Book a make-up 1on1 on Google: ``events.insert`` with a client-chosen event id.

The id (``BookRequest.event_id``, base32hex) makes the insert safe to retry: Google
answers 409 ``duplicate`` for an id used before, even by a deleted event, which is
read as "booked already". ``sendUpdates`` follows the calendar's ``send_updates``;
with "all" (or "externalOnly") Google emails the counterpart an invitation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from calsync.backends.base import BookRequest, BookResult, BookStatus
from calsync.backends.google.client import Session
from calsync.backends.google.config import GoogleCalendar
from calsync.errors import CalsyncError


def event_body(request: BookRequest, zone: str) -> dict[str, Any]:
    """The Event resource: the owner's calendar organizes it, the counterpart is the guest."""
    guest: dict[str, Any] = {"email": request.counterpart}
    if request.counterpart_name:
        guest["displayName"] = request.counterpart_name
    return {
        "id": request.event_id,
        "summary": request.title,
        "description": request.description,
        "start": {"dateTime": request.start.isoformat(), "timeZone": zone},
        "end": {"dateTime": request.end.isoformat(), "timeZone": zone},
        "attendees": [guest],
    }


def book_google(events: Any, session: Session, cal: GoogleCalendar, zone: str,
                request: BookRequest, error: Callable[[Any, str], CalsyncError]) -> BookResult:
    """Insert through ``events`` (the client's events resource); ``error`` maps an
    HttpError that is not about this booking to the provider's error."""
    from googleapiclient.errors import HttpError

    if cal.read_only:
        return BookResult(BookStatus.FORBIDDEN, detail=f"{cal.name} is read_only")
    req = events.insert(calendarId=cal.calendar_id, body=event_body(request, zone),
                        sendUpdates=cal.send_updates)
    try:
        # the client-chosen id makes a retried insert a 409, never a second event
        created = session.execute(req, retry=True, what="booking a make-up 1on1")
    except HttpError as exc:
        if exc.status_code == 409:
            return BookResult(BookStatus.ALREADY, ref=request.event_id)
        if exc.status_code == 403:
            return BookResult(BookStatus.FORBIDDEN, detail=f"Google refused: {exc.reason}")
        raise error(exc, "booking a make-up 1on1") from None
    return BookResult(BookStatus.BOOKED, ref=str(created.get("id", request.event_id)))
