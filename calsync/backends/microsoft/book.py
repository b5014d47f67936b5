"""Book a make-up 1on1 on Outlook: ``POST {calendar}/events`` with a ``transactionId``.

``transactionId`` is Graph's key for "the same create, retried": a retry after a lost
answer gets the event created the first time instead of a second one, so the POST may
be retried like an If-Match write. It is a GUID derived from ``BookRequest.event_id``.
Creating an event with attendees makes Exchange send the counterpart an invitation.
"""

from __future__ import annotations

import uuid
from typing import Any

from calsync.backends.base import BookRequest, BookResult, BookStatus
from calsync.backends.microsoft.graph import Graph, json_of


def transaction_id(request: BookRequest) -> str:
    """Graph's idempotency key for the event: a UUID derived from the booking's id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"calsync:{request.event_id}"))


def event_body(request: BookRequest, zone: str) -> dict[str, Any]:
    """The event resource; times in the owner's zone (IANA names are accepted by Graph)."""
    fmt = "%Y-%m-%dT%H:%M:%S"
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    return {
        "subject": request.title,
        # Exchange stores HTML: the block as HTML reads back as the block the next run renders
        "body": ({"contentType": "html", "content": request.html_description}
                 if request.html_description else
                 {"contentType": "text", "content": request.description}),
        "start": {"dateTime": request.start.astimezone(tz).strftime(fmt), "timeZone": zone},
        "end": {"dateTime": request.end.astimezone(tz).strftime(fmt), "timeZone": zone},
        "attendees": [{"type": "required", "emailAddress": {
            "address": request.counterpart, "name": request.counterpart_name or request.counterpart}}],
        "transactionId": transaction_id(request),
    }


def book_graph(graph: Graph, calendar_path: str, read_only: bool, zone: str,
               request: BookRequest) -> BookResult:
    """Create the event under ``calendar_path`` (``{mailbox}`` or its named calendar)."""
    if read_only:
        return BookResult(BookStatus.FORBIDDEN, detail="calendar is read_only")
    resp = graph.request(
        "POST", f"{calendar_path}/events", json_body=event_body(request, zone),
        retry=True,  # safe: the transactionId turns a retried create into the first one
        ok=(403,))
    if resp.status_code == 403:
        return BookResult(BookStatus.FORBIDDEN, detail="Graph refused the create (HTTP 403)")
    created = json_of(resp)
    return BookResult(BookStatus.BOOKED, ref=str(created.get("id", "")))
