"""Book a make-up 1on1 on Outlook: ``POST {calendar}/events`` with a ``transactionId``.

``transactionId`` is Graph's key for "the same create, retried": a retry after a lost
answer gets the event created the first time instead of a second one, so the POST may
be retried like an If-Match write. It is a GUID derived from ``BookRequest.event_id``.
Creating an event with attendees makes Exchange send the counterpart an invitation.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from calsync.backends.base import BookRequest, BookResult, BookStatus

if TYPE_CHECKING:
    from calsync.backends.microsoft.calendar import MicrosoftProvider


def transaction_id(request: BookRequest) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"calsync:{request.event_id}"))


def event_body(request: BookRequest, zone: str) -> dict[str, Any]:
    """The event resource; times in the owner's zone (IANA names are accepted by Graph)."""
    fmt = "%Y-%m-%dT%H:%M:%S"
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    return {
        "subject": request.title,
        "body": {"contentType": "text", "content": request.description},
        "start": {"dateTime": request.start.astimezone(tz).strftime(fmt), "timeZone": zone},
        "end": {"dateTime": request.end.astimezone(tz).strftime(fmt), "timeZone": zone},
        "attendees": [{"type": "required", "emailAddress": {
            "address": request.counterpart, "name": request.counterpart_name or request.counterpart}}],
        "transactionId": transaction_id(request),
    }


def book_graph(provider: MicrosoftProvider, request: BookRequest) -> BookResult:
    from calsync.backends.microsoft.graph import json_of

    if provider.cal.read_only:
        return BookResult(BookStatus.FORBIDDEN, detail="calendar is read_only")
    path = f"{provider.sync.calendar_path()}/events"
    resp = provider.graph.request(
        "POST", path, json_body=event_body(request, provider.owner.timezone or "UTC"),
        retry=True,  # safe: the transactionId turns a retried create into the first one
        ok=(403,))
    if resp.status_code == 403:
        return BookResult(BookStatus.FORBIDDEN, detail="Graph refused the create (HTTP 403)")
    created = json_of(resp)
    return BookResult(BookStatus.BOOKED, ref=str(created.get("id", "")))
