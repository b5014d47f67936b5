"""A stateful loopback fake of the Google endpoints calsync uses.

Calendar v3 (events list with paging, ``singleEvents``, ``showDeleted``, sync tokens and
410, cancelled instances listed with only the fields Google sends for them, events get /
instances / patch with ETags and 412, extended properties, attachments,
``forbiddenForNonOrganizer``), Drive v3 (files create / list by appProperties / export,
permissions create / list), Docs v1 (documents get / batchUpdate with insertText,
updateParagraphStyle and writeControl), ``freeBusy.query`` (tests/fakes/google_freebusy.py),
and the OAuth endpoints (``/auth`` redirecting back with a code and recording PKCE,
``/token`` for the authorization_code and refresh_token grants, ``invalid_grant`` for
revoked or unknown tokens).

It follows the documented behaviour (see ../shared/reference/google.md) and is driven
through the real google-api-python-client, google-auth and google-auth-oauthlib. Payloads
are checked against the discovery documents shipped with google-api-python-client
(:func:`schema_errors`). Calendars can be seeded from iCalendar text.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fakes import google_freebusy as freebusy
from tests.fakes import serve, shut

# -- schema oracle ------------------------------------------------------------------------

_DOCS: dict[str, dict[str, Any]] = {}
_TYPES: dict[str, Any] = {
    "string": str, "boolean": bool, "integer": int, "number": (int, float),
    "array": list, "object": dict, "any": object,
}


def discovery(api: str, version: str) -> dict[str, Any]:
    key = f"{api}.{version}"
    if key not in _DOCS:
        from googleapiclient.discovery_cache import get_static_doc

        _DOCS[key] = json.loads(get_static_doc(api, version))
    return _DOCS[key]


def schema_errors(value: Any, schema: dict[str, Any], api: str = "calendar.v3",
                  path: str = "$") -> list[str]:
    """Unknown keys and wrong types in ``value`` against a discovery schema."""
    schemas = discovery(*api.split("."))["schemas"]
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    kind = schema.get("type")
    if kind and not isinstance(value, _TYPES[kind]) or (
        kind in ("integer", "number") and isinstance(value, bool)
    ):
        return [f"{path}: expected {kind}, got {type(value).__name__}"]
    if kind == "string" and schema.get("format") in ("int64", "uint64") and not re.fullmatch(
            r"-?\d+", value):
        return [f"{path}: expected an int64 string, got {value!r}"]
    errors: list[str] = []
    if kind == "object" or "properties" in schema:
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key) or extra
            if sub is None:
                errors.append(f"{path}.{key}: not in discovery schema")
            else:
                errors += schema_errors(item, sub, api, f"{path}.{key}")
    elif kind == "array":
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], api, f"{path}[{i}]")
    return errors


# -- helpers ------------------------------------------------------------------------------

READ_SCOPES = {
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.events.readonly",
}
WRITE_SCOPES = {
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/calendar.events",
}
DRIVE_SCOPES = {"https://www.googleapis.com/auth/drive", "https://www.googleapis.com/auth/drive.file"}
DOCS_SCOPES = DRIVE_SCOPES | {"https://www.googleapis.com/auth/documents"}
# What a listing carries for a cancelled instance of a recurring event.
CANCELLED_INSTANCE_FIELDS = ("kind", "etag", "id", "status", "recurringEventId",
                             "originalStartTime")
# What `calsync setup google` asks for: the two it needs and read-only free/busy.
ALL_SCOPES = [
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/drive.file",
    "https://www.googleapis.com/auth/calendar.events.freebusy",
]
# What setup asked for before make-up slots read other people's free/busy.
OLD_SCOPES = ALL_SCOPES[:2]


def gid(text: str) -> str:
    """A Google-style event id (base32hex alphabet: 0-9 a-v) derived from a UID."""
    return hashlib.sha1(text.encode()).hexdigest()[:26]


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


def _stamp(dt: datetime) -> str:
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_when(value: dict[str, Any], tz: str) -> datetime:
    from zoneinfo import ZoneInfo

    if "dateTime" in value:
        dt = datetime.fromisoformat(value["dateTime"])
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=ZoneInfo(value.get("timeZone") or tz))
        return dt
    d = date.fromisoformat(value["date"])
    return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(value.get("timeZone") or tz))


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _u16_split(text: str, offset: int) -> tuple[str, str]:
    raw = text.encode("utf-16-le")
    return raw[: offset * 2].decode("utf-16-le"), raw[offset * 2:].decode("utf-16-le")


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.headers = headers or {}


@dataclass
class Grant:
    user: str
    scopes: list[str]
    client_id: str


@dataclass
class FakeDoc:
    id: str
    title: str
    paragraphs: list[list[str]] = field(default_factory=lambda: [["", "NORMAL_TEXT"]])
    revision: int = 1

    def text(self) -> str:
        return "".join(p[0] + "\n" for p in self.paragraphs)

    def end(self) -> int:
        return 1 + sum(utf16(p[0]) + 1 for p in self.paragraphs)

    def locate(self, index: int) -> tuple[int, int]:
        pos = 1
        for i, (text, _) in enumerate(self.paragraphs):
            n = utf16(text) + 1
            if pos <= index < pos + n:
                return i, index - pos
            pos += n
        raise ApiError(400, "badRequest", f"Index {index} must be less than the end index of "
                       f"the referenced segment, {self.end()}.")

    def insert(self, index: int, text: str) -> None:
        if index < 1 or index >= self.end():
            raise ApiError(400, "badRequest", f"Index {index} must be less than the end index "
                           f"of the referenced segment, {self.end()}.")
        i, off = self.locate(index)
        para, style = self.paragraphs[i]
        before, after = _u16_split(para, off)
        pieces = (before + text + after).split("\n")
        self.paragraphs[i: i + 1] = [[p, style] for p in pieces]

    def style(self, start: int, end: int, named: str) -> None:
        pos = 1
        for p in self.paragraphs:
            n = utf16(p[0]) + 1
            if pos < end and start < pos + n:
                p[1] = named
            pos += n

    def resource(self) -> dict[str, Any]:
        content: list[dict[str, Any]] = [
            {"endIndex": 1, "sectionBreak": {"sectionStyle": {"sectionType": "CONTINUOUS"}}}
        ]
        pos = 1
        for text, style in self.paragraphs:
            n = utf16(text) + 1
            content.append({
                "startIndex": pos, "endIndex": pos + n,
                "paragraph": {
                    "elements": [{"startIndex": pos, "endIndex": pos + n,
                                  "textRun": {"content": text + "\n", "textStyle": {}}}],
                    "paragraphStyle": {"namedStyleType": style},
                },
            })
            pos += n
        return {"documentId": self.id, "title": self.title, "revisionId": f"rev{self.revision}",
                "body": {"content": content}}

    def markdown(self) -> str:
        out = []
        for text, style in self.paragraphs:
            m = re.match(r"HEADING_(\d)", style)
            out.append(("#" * int(m.group(1)) + " " + text) if m and text else text)
        return "\n".join(out) + "\n"


# -- the fake -----------------------------------------------------------------------------


class FakeGoogle:
    """State plus a loopback server; ``base`` is its root URL (``api_url`` for calsync)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.log: list[dict[str, Any]] = []
        # Injected failures, first match wins: a status, or {"status", "reason", "message",
        # "retry_after", "path" (substring), "method", "after", "raw"}; with "after" the
        # request is carried out and then its answer replaced by the error (an answer lost
        # on the way); with "raw" that text is the answer, as HTML, with that status.
        self.fail_next: list[int | dict[str, Any]] = []
        self.token_fail_next: list[int] = []  # statuses for the next /token requests
        # Fault matrix hook: called with (request index, method, path) for every request;
        # returns None, an error status to answer instead, "reset" (carry the request out,
        # then close the connection unanswered), "revoke" (every login revoked, then 401)
        # or "kill" (carry it out and answer, then ``killed`` is set for the client side),
        # or ("late", seconds): carry it out, answer that much later (a read timeout).
        self.fault_at: Callable[[int, str, str], int | str | tuple[str, float] | None] | None = None
        self.killed = False
        self.seq = 1000
        self.events: dict[str, dict[str, Any]] = {}
        self.private: dict[tuple[str, str], dict[str, str]] = {}
        self.calendars: dict[str, dict[str, Any]] = {}
        self.sync_floor = 0
        self.page_cap: int | None = None  # return at most this many items per page
        self.before_patch: Callable[[str], None] | None = None
        self.omit_event_etag = False  # GET events/{id} without an etag
        self.clients = {"cid.apps.googleusercontent.com": "client-secret"}
        self.consent_user = "manager@example.com"
        self.auth_requests: list[dict[str, str]] = []
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, Grant] = {}
        self.refresh: dict[str, Grant] = {}
        self.revoked: set[str] = set()
        self.files: dict[str, dict[str, Any]] = {}
        self.docs: dict[str, FakeDoc] = {}
        self.permissions: dict[str, list[dict[str, Any]]] = {}
        self.drive_changes: list[str] = []  # file ids, in the order they changed
        self._ids = itertools.count(1)
        self.server: ThreadingHTTPServer | None = None
        self.base = ""

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> FakeGoogle:
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server, self.base = serve(handler)
        return self

    def stop(self) -> None:
        shut(self.server)
        self.server = None

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- accounts ---------------------------------------------------------------------
    def add_calendar(self, cal_id: str, owner: str | None = None, tz: str = "UTC") -> None:
        self.calendars.setdefault(cal_id, {"owner": (owner or cal_id).lower(), "tz": tz})

    def client_config(self) -> dict[str, Any]:
        cid, secret = next(iter(self.clients.items()))
        return {"installed": {
            "client_id": cid, "client_secret": secret, "project_id": "calsync-test",
            "auth_uri": f"{self.base}/auth", "token_uri": f"{self.base}/token",
            "auth_provider_x509_cert_url": f"{self.base}/certs",
            "redirect_uris": ["http://localhost"],
        }}

    def issue(self, user: str, scopes: Iterable[str] = ALL_SCOPES) -> tuple[str, str]:
        """A fresh (access token, refresh token) pair for ``user``, as after consent."""
        grant = Grant(user.lower(), list(scopes), next(iter(self.clients)))
        n = next(self._ids)
        access, refresh = f"ya29.fake-{n}", f"1//fake-refresh-{n}"
        self.access[access] = grant
        self.refresh[refresh] = grant
        self.add_calendar(user.lower())
        return access, refresh

    def token_info(self, user: str, scopes: Iterable[str] = ALL_SCOPES,
                   expired: bool = False) -> dict[str, Any]:
        """An authorized-user JSON (google-auth's format) for ``user``."""
        access, refresh = self.issue(user, scopes)
        cid, secret = next(iter(self.clients.items()))
        expiry = datetime.now(UTC) + (timedelta(minutes=-5) if expired else timedelta(minutes=55))
        if expired:
            self.access.pop(access)
        return {"token": access, "refresh_token": refresh, "token_uri": f"{self.base}/token",
                "client_id": cid, "client_secret": secret, "scopes": list(scopes),
                "universe_domain": "googleapis.com", "account": "",
                "expiry": expiry.replace(tzinfo=None).isoformat() + "Z"}

    def write_token(self, path: Path, user: str, scopes: Iterable[str] = ALL_SCOPES,
                    expired: bool = False) -> dict[str, Any]:
        info = self.token_info(user, scopes, expired)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(info))
        path.chmod(0o600)
        return info

    def revoke_all(self) -> None:
        self.revoked.update(self.refresh)
        self.access.clear()

    def expire_access_tokens(self) -> None:
        self.access.clear()

    def doc_typed(self, file_id: str, text: str, at: int | None = None) -> None:
        """Someone types a paragraph into a doc (at the end, or before paragraph ``at``)."""
        with self.lock:
            doc = self.docs[file_id]
            doc.paragraphs.insert(len(doc.paragraphs) if at is None else at, [text, "NORMAL_TEXT"])
            doc.revision += 1
            self.drive_changes.append(file_id)

    def doc_edited(self, file_id: str, old: str, new: str) -> None:
        """Someone edits text inside the paragraph holding ``old`` (as in the browser)."""
        with self.lock:
            doc = self.docs[file_id]
            para = next(p for p in doc.paragraphs if old in p[0])
            para[0] = para[0].replace(old, new, 1)
            doc.revision += 1
            self.drive_changes.append(file_id)

    def expire_sync_tokens(self) -> None:
        self.sync_floor = self.seq + 1

    # -- calendar data ----------------------------------------------------------------
    def _bump(self, ev: dict[str, Any]) -> None:
        self.seq += 1
        ev["_seq"] = self.seq
        ev["etag"] = f'"{3_180_000_000_000_000 + self.seq}"'
        ev["updated"] = _stamp(datetime.now(UTC))
        if ev.get("start"):
            tz = self._tz_of(ev)
            ev["_start"] = parse_when(ev["start"], tz)
            ev["_end"] = parse_when(ev["end"], tz) if ev.get("end") else ev["_start"]

    def _tz_of(self, ev: dict[str, Any]) -> str:
        cal = next(iter(sorted(ev["_cals"])), None)
        return self.calendars.get(cal, {}).get("tz", "UTC") if cal else "UTC"

    def put(self, ev: dict[str, Any], calendars: Iterable[str]) -> dict[str, Any]:
        """Store an event resource (keys starting with _ are the fake's own)."""
        with self.lock:
            ev = copy.deepcopy(ev)
            ev.setdefault("kind", "calendar#event")
            ev.setdefault("status", "confirmed")
            ev.setdefault("iCalUID", f"{ev['id']}@google.com")
            ev.setdefault("created", _stamp(datetime.now(UTC)))
            ev["_cals"] = {c.lower() for c in calendars}
            for c in ev["_cals"]:
                self.add_calendar(c)
            ev.setdefault("_master", False)
            self._bump(ev)
            self.events[ev["id"]] = ev
            return ev

    def edit(self, event_id: str, **fields: Any) -> dict[str, Any]:
        """A human edit in the Calendar UI: new content, new ETag, shows up in sync."""
        with self.lock:
            ev = self.events[event_id]
            ev.update(copy.deepcopy(fields))
            if ev.get("recurringEventId"):
                ev["_exception"] = True
            self._bump(ev)
            return ev

    def cancel(self, event_id: str) -> None:
        self.edit(event_id, status="cancelled")

    def instances_of(self, master_id: str) -> list[dict[str, Any]]:
        return sorted((e for e in self.events.values() if e.get("recurringEventId") == master_id),
                      key=lambda e: e["_start"])

    def split_series(self, master_id: str, at: datetime, **changes: Any) -> str:
        """ "This and following" edit: the old series ends before ``at``; a new series (new
        id, ``_R`` suffix like Google's) takes the later instances, with ``changes``."""
        with self.lock:
            master = self.events[master_id]
            new_id = f"{master_id}_R{_utc(at):%Y%m%dT%H%M%S}"
            new_master = copy.deepcopy(master)
            new_master.update(id=new_id, iCalUID=f"{master['iCalUID']}_R{_utc(at):%Y%m%dT%H%M%S}")
            shift = changes.pop("shift", timedelta(0))
            new_master.update(copy.deepcopy(changes))
            until = (_utc(at) - timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
            master["recurrence"] = [
                re.sub(r";(UNTIL|COUNT)=[^;]*", "", r) + f";UNTIL={until}"
                if r.startswith("RRULE") else r for r in master.get("recurrence", [])
            ]
            self._bump(master)
            for inst in self.instances_of(master_id):
                if inst["_start"] < at:
                    continue
                inst["status"] = "cancelled"  # no longer part of the old series:
                inst["_gone"] = True  # reported as deleted in increments, absent from listings
                self._bump(inst)
                clone = copy.deepcopy(inst)
                for k in [k for k in clone if k.startswith("_") and k != "_cals"]:
                    del clone[k]
                tz = self._tz_of(inst)
                start = parse_when(clone["start"], tz) + shift
                end = parse_when(clone["end"], tz) + shift
                clone.update(copy.deepcopy(changes))
                clone.update(
                    id=f"{new_id}_{_utc(start):%Y%m%dT%H%M%SZ}", status="confirmed",
                    recurringEventId=new_id, iCalUID=new_master["iCalUID"],
                    start={**clone["start"], "dateTime": start.isoformat()},
                    end={**clone["end"], "dateTime": end.isoformat()},
                    originalStartTime={**clone["start"], "dateTime": start.isoformat()},
                )
                self.put(clone, inst["_cals"])
            self.put({k: v for k, v in new_master.items() if not k.startswith("_")},
                     master["_cals"])
            return new_id

    def seed_ics(self, text: str | bytes, calendars: Iterable[str], *,
                 start: datetime = datetime(2000, 1, 1, tzinfo=UTC),
                 end: datetime = datetime(2028, 1, 1, tzinfo=UTC),
                 tz: str | None = None) -> list[str]:
        """Serve an .ics file's events on ``calendars``, as Google would after an import.

        Masters keep their RRULE/RDATE lines in ``recurrence``; their instances in
        ``[start, end)`` are stored as instance events; overrides become exceptions and
        each EXDATE a cancelled instance (what deleting one occurrence in Google gives).
        Returns the ids of the masters and single events; broken events are skipped and
        listed in ``seed_skipped``.
        """
        import icalendar

        cals = [c.lower() for c in calendars]
        parsed = icalendar.Calendar.from_ical(text)
        cal_tz = tz or str(parsed.get("X-WR-TIMEZONE") or "UTC")
        for c in cals:
            self.add_calendar(c, tz=cal_tz)
            self.calendars[c]["tz"] = cal_tz
        groups: dict[str, list[Any]] = {}
        for comp in parsed.walk("VEVENT"):
            groups.setdefault(str(comp.get("UID") or f"nouid-{next(self._ids)}"), []).append(comp)
        ids: list[str] = []
        self.seed_skipped: list[str] = []
        with self.lock:
            for uid, comps in groups.items():
                try:
                    self._seed_group(uid, comps, cals, cal_tz, start, end, ids)
                except Exception as exc:  # a broken event: skipped, like calsync's ics reader
                    self.seed_skipped.append(f"{uid}: {type(exc).__name__}: {exc}")
        return ids

    def _seed_group(self, uid: str, comps: list[Any], cals: list[str], cal_tz: str,
                    start: datetime, end: datetime, ids: list[str]) -> None:
        import icalendar
        import recurring_ical_events

        master = next((c for c in comps if "RECURRENCE-ID" not in c), None)
        base_id = gid(uid)
        if master is None or not ("RRULE" in master or "RDATE" in master):
            if master is not None and len(comps) == 1:
                self.put(self._resource(master, base_id, uid, cals, cal_tz), cals)
                ids.append(base_id)
                return
            # orphan overrides: invitations to single occurrences of someone's series
            for c in comps:
                if "RECURRENCE-ID" in c:
                    rid = c["RECURRENCE-ID"].dt
                    res = self._resource(c, self._inst_id(base_id, rid), uid, cals, cal_tz)
                    res["recurringEventId"] = base_id
                    res["originalStartTime"] = self._when(rid, cal_tz)
                    self.put(res, cals)
            return
        ids.append(base_id)
        lines = []
        for key in ("RRULE", "RDATE"):
            prop = master.get(key)
            for p in prop if isinstance(prop, list) else [prop] if prop is not None else []:
                lines.append(f"{key}:{p.to_ical().decode()}" if key == "RRULE"
                             else "RDATE:" + p.to_ical().decode())
        res = self._resource(master, base_id, uid, cals, cal_tz)
        res["recurrence"] = lines
        res["_master"] = True
        self.put(res, cals)
        exdates = set()
        ex = master.get("EXDATE")
        for prop in ex if isinstance(ex, list) else [ex] if ex is not None else []:
            for d in prop.dts:
                exdates.add(self._key(d.dt))
                if isinstance(d.dt, datetime):  # Exchange: DATE-TIME EXDATE, all-day
                    exdates.add(d.dt.strftime("%Y%m%d"))
        stripped = icalendar.Calendar()
        m2 = copy.deepcopy(master)
        m2.pop("EXDATE", None)
        stripped.add_component(m2)
        for c in comps:
            if c is not master:
                stripped.add_component(c)
        s, e = (start, end) if not isinstance(master["DTSTART"].dt, datetime) else (
            start, end)
        for occ in recurring_ical_events.of(stripped).between(s, e):
            rid = occ["RECURRENCE-ID"].dt if "RECURRENCE-ID" in occ else occ["DTSTART"].dt
            inst = self._resource(occ, self._inst_id(base_id, rid), uid, cals, cal_tz)
            inst["recurringEventId"] = base_id
            inst["originalStartTime"] = self._when(rid, cal_tz)
            overridden = any("RECURRENCE-ID" in c and self._key(c["RECURRENCE-ID"].dt)
                             == self._key(rid) for c in comps)
            inst["_exception"] = overridden
            if self._key(rid) in exdates:
                inst["status"] = "cancelled"
                inst["_exception"] = True
            self.put(inst, cals)

    @staticmethod
    def _key(value: Any) -> str:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value.strftime("%Y%m%dT%H%M%S")
            return _utc(value).strftime("%Y%m%dT%H%M%SZ")
        return value.strftime("%Y%m%d")

    def _inst_id(self, base: str, rid: Any) -> str:
        return f"{base}_{self._key(rid)}"

    @staticmethod
    def _when(value: Any, cal_tz: str) -> dict[str, Any]:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return {"dateTime": value.isoformat(), "timeZone": cal_tz}
            key = getattr(value.tzinfo, "key", None)
            out = {"dateTime": value.isoformat()}
            if key:
                out["timeZone"] = key
            elif value.utcoffset() == timedelta(0):
                out["timeZone"] = "UTC"
            return out
        return {"date": value.isoformat()}

    def _resource(self, comp: Any, event_id: str, uid: str, cals: list[str],
                  cal_tz: str) -> dict[str, Any]:
        start = comp["DTSTART"].dt
        if "DTEND" in comp:
            end = comp["DTEND"].dt
        elif "DURATION" in comp:
            end = start + comp["DURATION"].dt
        else:
            end = start + timedelta(days=1) if not isinstance(start, datetime) else start
        res: dict[str, Any] = {
            "id": event_id, "iCalUID": uid, "summary": str(comp.get("SUMMARY") or ""),
            "start": self._when(start, cal_tz), "end": self._when(end, cal_tz),
            "status": {"CANCELLED": "cancelled", "TENTATIVE": "tentative"}.get(
                str(comp.get("STATUS") or "").upper(), "confirmed"),
        }
        if comp.get("DESCRIPTION"):
            res["description"] = str(comp["DESCRIPTION"])
        if comp.get("LOCATION"):
            res["location"] = str(comp["LOCATION"])
        if str(comp.get("TRANSP") or "").upper() == "TRANSPARENT":
            res["transparency"] = "transparent"  # "show as available"
        org = comp.get("ORGANIZER")
        org_email = str(org).split(":", 1)[-1].lower() if org else cals[0]
        res["organizer"] = {"email": org_email}
        if org is not None and org.params.get("CN"):
            res["organizer"]["displayName"] = str(org.params["CN"])
        atts = comp.get("ATTENDEE")
        attendees = []
        for a in atts if isinstance(atts, list) else [atts] if atts is not None else []:
            addr = str(a).split(":", 1)[-1].lower()
            item: dict[str, Any] = {
                "email": addr,
                "responseStatus": {"ACCEPTED": "accepted", "DECLINED": "declined",
                                   "TENTATIVE": "tentative"}.get(
                    str(a.params.get("PARTSTAT", "")).upper(), "needsAction"),
            }
            if a.params.get("CN"):
                item["displayName"] = str(a.params["CN"])
            if str(a.params.get("CUTYPE", "")).upper() in ("ROOM", "RESOURCE"):
                item["resource"] = True
            if str(a.params.get("ROLE", "")).upper() == "OPT-PARTICIPANT":
                item["optional"] = True
            if addr == org_email:
                item["organizer"] = True
            attendees.append(item)
        if attendees:
            res["attendees"] = attendees
        return res

    # -- serving ----------------------------------------------------------------------
    def serve_event(self, ev: dict[str, Any], cal: str, listing: bool = False) -> dict[str, Any]:
        if listing and ev["status"] == "cancelled" and ev.get("recurringEventId"):
            # A cancelled instance of a series, in a listing (showDeleted / incremental
            # sync): Google sends only these fields (google.md §3 "Cancelled instances"),
            # never the summary, attendees, organizer, start or end.
            return {k: copy.deepcopy(ev[k]) for k in CANCELLED_INSTANCE_FIELDS if k in ev}
        out = {k: copy.deepcopy(v) for k, v in ev.items() if not k.startswith("_")}
        owner = self.calendars.get(cal, {}).get("owner", cal)
        org = out.get("organizer")
        if org is not None:
            if org.get("email") == owner:
                org["self"] = True
            else:
                org.pop("self", None)
        for a in out.get("attendees") or []:
            if a.get("email") == owner:
                a["self"] = True
            else:
                a.pop("self", None)
        private = self.private.get((cal, ev["id"]))
        ext = out.get("extendedProperties") or {}
        ext.pop("private", None)
        if private:
            ext["private"] = dict(private)
        if ext:
            out["extendedProperties"] = ext
        else:
            out.pop("extendedProperties", None)
        return out

    def resolve(self, cal_id: str, grant: Grant) -> str:
        cal = grant.user if cal_id == "primary" else urllib.parse.unquote(cal_id).lower()
        info = self.calendars.get(cal)
        if info is None or info["owner"] != grant.user:
            raise ApiError(404, "notFound", "Not Found")
        return cal

    def visible(self, cal: str) -> list[dict[str, Any]]:
        return [e for e in self.events.values() if cal in e["_cals"]]


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    fake: FakeGoogle

    def log_message(self, *args: Any) -> None:
        pass

    # -- plumbing ---------------------------------------------------------------------
    def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None,
              ctype: str = "application/json; charset=UTF-8") -> None:
        lost, self._lost = getattr(self, "_lost", None), None
        if getattr(self, "_reset", False):  # carried out, never answered
            self.close_connection = True
            return None
        if getattr(self, "_late", 0.0):  # carried out, answered after the client gave up
            late, self._late = self._late, 0.0
            time.sleep(late)
            self.close_connection = True
            try:
                return self._send(code, payload, headers, ctype)
            except OSError:  # the client hung up: nobody hears the answer
                return None
        if lost is not None and code < 300:
            return self._error(lost.status, lost.reason, lost.message, lost.headers)
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, reason: str, message: str,
               headers: dict[str, str] | None = None) -> None:
        domain = "usageLimits" if reason in ("rateLimitExceeded", "userRateLimitExceeded",
                                             "quotaExceeded") else "global"
        grpc = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 409: "ABORTED", 410: "NOT_FOUND", 412: "FAILED_PRECONDITION",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(status, "UNKNOWN")
        body = {"error": {"code": status, "message": message, "status": grpc,
                          "errors": [{"domain": domain, "reason": reason, "message": message}]}}
        self._send(status, body, headers)

    def _handle(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        u = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        ctype = self.headers.get("Content-Type", "")
        body: Any = raw
        if raw and "json" in ctype:
            body = json.loads(raw)
        elif raw and "x-www-form-urlencoded" in ctype:
            body = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        req = Req(self.command, u.path, query, {k.lower(): v for k, v in self.headers.items()}, body)
        with fake.lock:
            fake.log.append({"method": req.method, "path": req.path, "query": query,
                             "headers": req.headers, "body": body})
        self._lost: ApiError | None = None
        self._reset = False
        self._late = 0.0
        try:
            with fake.lock:
                action = fake.fault_at(len(fake.log) - 1, req.method, u.path) if fake.fault_at else None
            if action == "revoke":
                fake.revoke_all()
                action = 401
            if isinstance(action, int):
                hdrs = {"Retry-After": "2"} if action == 429 else {}
                reason = {429: "rateLimitExceeded", 401: "authError", 412: "conditionNotMet"}
                raise ApiError(action, reason.get(action, "backendError"), "Injected fault", hdrs)
            self._reset = action == "reset"
            if isinstance(action, tuple) and action[0] == "late":
                self._late = float(action[1])
            if action == "kill":
                fake.killed = True
            if u.path in ("/auth", "/token"):
                (self._auth if u.path == "/auth" else self._token)(req)
                return
            with fake.lock:
                for i, item in enumerate(fake.fail_next):
                    spec = item if isinstance(item, dict) else {"status": item}
                    if spec.get("path") and spec["path"] not in u.path:
                        continue
                    if spec.get("method") and spec["method"] != req.method:
                        continue
                    fake.fail_next.pop(i)
                    status = int(spec["status"])
                    reason = spec.get("reason") or {429: "rateLimitExceeded",
                                                    403: "rateLimitExceeded"}.get(status, "backendError")
                    hdrs = {}
                    if spec.get("retry_after") is not None:
                        hdrs["Retry-After"] = str(spec["retry_after"])
                    if spec.get("raw") is not None:  # e.g. a proxy's HTML page, as is
                        return self._send(status, str(spec["raw"]), ctype="text/html")
                    error = ApiError(status, reason, spec.get("message") or "Injected failure", hdrs)
                    if spec.get("after"):
                        # the request is carried out, then its answer is lost (a gateway
                        # timeout): the client sees only the error
                        self._lost = error
                        break
                    raise error
            grant = self._grant(req)
            self._route(req, grant)
        except ApiError as exc:
            self._error(exc.status, exc.reason, exc.message, exc.headers)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    def _grant(self, req: Req) -> Grant:
        auth = req.headers.get("authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self.fake.lock:
            grant = self.fake.access.get(token)
        if grant is None:
            raise ApiError(401, "authError", "Request had invalid authentication credentials.",
                           {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        return grant

    @staticmethod
    def _need(grant: Grant, allowed: set[str]) -> None:
        if not allowed & set(grant.scopes):
            raise ApiError(403, "insufficientPermissions",
                           "Request had insufficient authentication scopes.")

    # -- routes -----------------------------------------------------------------------
    def _route(self, req: Req, grant: Grant) -> None:
        p = req.path
        m = re.fullmatch(r"/calendar/v3/calendars/([^/]+)/events(?:/([^/]+)(/instances)?)?", p)
        if m:
            cal_id, event_id, inst = m.groups()
            self._need(grant, READ_SCOPES)
            with self.fake.lock:
                cal = self.fake.resolve(cal_id, grant)
                if event_id is None and req.method == "GET":
                    return self._send(200, self._list(cal, req.query, None))
                if event_id is not None and inst and req.method == "GET":
                    return self._send(200, self._list(cal, req.query, event_id))
                if event_id is not None and req.method == "GET":
                    ev = self._event(cal, event_id)
                    if self.fake.omit_event_etag:  # a proxy that strips ETags, say
                        out = self.fake.serve_event(ev, cal)
                        out.pop("etag", None)
                        return self._send(200, out)
                    return self._send(200, self.fake.serve_event(ev, cal), {"ETag": ev["etag"]})
            if event_id is not None and req.method == "PATCH":
                self._need(grant, WRITE_SCOPES)
                return self._patch(cal, event_id, req)
            if event_id is None and req.method == "POST":
                self._need(grant, WRITE_SCOPES)
                return self._insert(cal, req)
            raise ApiError(405, "methodNotAllowed", "Method not allowed")
        if p.startswith("/drive/v3/"):
            self._need(grant, DRIVE_SCOPES)
            return self._drive(req, grant)
        if p == "/calendar/v3/freeBusy" and req.method == "POST":
            self._need(grant, freebusy.FREEBUSY_SCOPES)
            try:
                with self.fake.lock:
                    return self._send(200, freebusy.query(self.fake, req.body, grant.user))
            except freebusy.Invalid as exc:
                raise ApiError(400, *exc.args) from None
        m = re.fullmatch(r"/v1/documents/([^/:]+)(:batchUpdate)?", p)
        if m:
            self._need(grant, DOCS_SCOPES)
            return self._docs(req, m.group(1), bool(m.group(2)))
        raise ApiError(404, "notFound", f"No route for {req.method} {p}")

    def _event(self, cal: str, event_id: str) -> dict[str, Any]:
        ev = self.fake.events.get(urllib.parse.unquote(event_id))
        if ev is None or cal not in ev["_cals"]:
            raise ApiError(404, "notFound", "Not Found")
        return ev

    def _list(self, cal: str, q: dict[str, list[str]], master: str | None) -> dict[str, Any]:
        fake = self.fake

        def one(key: str) -> str | None:
            return q[key][0] if key in q else None

        single = one("singleEvents") == "true"
        show_deleted = one("showDeleted") == "true"
        max_results = min(int(one("maxResults") or 250), 2500)
        if fake.page_cap:
            max_results = min(max_results, fake.page_cap)
        token = one("syncToken")
        since = None
        if token is not None:
            if master is not None:
                raise ApiError(400, "invalid", "Invalid parameter")
            bad = [k for k in ("iCalUID", "orderBy", "privateExtendedProperty", "q",
                               "sharedExtendedProperty", "timeMin", "timeMax", "updatedMin")
                   if k in q]
            if bad:
                raise ApiError(400, "syncTokenWithRequestRestrictions",
                               "Sync token cannot be used with other request restrictions.")
            m = re.fullmatch(r"CP(\d+)x([0-9a-f]+)", token)
            if not m or m.group(2) != hashlib.sha1(f"{cal}|{single}".encode()).hexdigest()[:8]:
                raise ApiError(410, "fullSyncRequired",
                               "Sync token is no longer valid, a full sync is required.")
            since = int(m.group(1))
            if since < fake.sync_floor:
                raise ApiError(410, "fullSyncRequired",
                               "Sync token is no longer valid, a full sync is required.")
            show_deleted = True
        tmin = datetime.fromisoformat(one("timeMin")) if one("timeMin") else None  # type: ignore[arg-type]
        tmax = datetime.fromisoformat(one("timeMax")) if one("timeMax") else None  # type: ignore[arg-type]
        if tmin and tmax and tmax <= tmin:
            raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
        if master is not None:
            self._event(cal, master)
            items = [e for e in fake.visible(cal) if e.get("recurringEventId") == master]
        elif single:
            items = [e for e in fake.visible(cal) if not e["_master"]]
        else:
            items = [e for e in fake.visible(cal)
                     if e["_master"] or not e.get("recurringEventId") or e.get("_exception")]
        if since is not None:
            items = [e for e in items if e["_seq"] > since]
        else:
            items = [e for e in items if not e.get("_gone")]
            if not show_deleted:
                items = [e for e in items if e["status"] != "cancelled"]
            if tmin:
                items = [e for e in items if e["_end"] > tmin or (
                    e["_end"] == e["_start"] and e["_start"] >= tmin)]
            if tmax:
                items = [e for e in items if e["_start"] < tmax]
        items.sort(key=lambda e: (e["_start"], e["id"]))
        page = one("pageToken")
        if page:
            m = re.fullmatch(r"EjY(\d+)\.(\d+)", page)
            if not m:
                raise ApiError(400, "invalid", "Invalid page token.")
            offset, snap = int(m.group(1)), int(m.group(2))
        else:
            offset, snap = 0, fake.seq
        chunk = items[offset: offset + max_results]
        out: dict[str, Any] = {
            "kind": "calendar#events", "etag": f'"p{fake.seq}"',
            "summary": cal, "updated": _stamp(datetime.now(UTC)),
            "timeZone": fake.calendars[cal]["tz"], "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "items": [fake.serve_event(e, cal, listing=True) for e in chunk],
        }
        if offset + max_results < len(items):
            out["nextPageToken"] = f"EjY{offset + max_results}.{snap}"
        elif master is None:
            digest = hashlib.sha1(f"{cal}|{single}".encode()).hexdigest()[:8]
            out["nextSyncToken"] = f"CP{snap}x{digest}"
        return out

    def _patch(self, cal: str, event_id: str, req: Req) -> None:
        fake = self.fake
        if fake.before_patch is not None:
            fake.before_patch(urllib.parse.unquote(event_id))
        with fake.lock:
            ev = self._event(cal, event_id)
            want = req.headers.get("if-match")
            if want and want not in ("*", ev["etag"]):
                raise ApiError(412, "conditionNotMet", "Precondition Failed")
            body = req.body if isinstance(req.body, dict) else {}
            errs = schema_errors(body, {"$ref": "Event"})
            if errs:
                raise ApiError(400, "invalid", "; ".join(errs))
            owner = fake.calendars[cal]["owner"]
            organizer = (ev.get("organizer") or {}).get("email")
            personal = {"extendedProperties", "reminders", "colorId", "transparency"}
            touches_shared = any(k not in personal for k in body) or "shared" in (
                body.get("extendedProperties") or {})
            if organizer != owner and touches_shared and not ev.get("guestsCanModify"):
                raise ApiError(403, "forbiddenForNonOrganizer",
                               "Shared properties can only be changed by the organizer of the "
                               "event.")
            supports = (req.query.get("supportsAttachments") or ["false"])[0] == "true"
            for key, value in body.items():
                if key == "extendedProperties":
                    for scope, props in value.items():
                        if scope == "private":
                            store = fake.private.setdefault((cal, ev["id"]), {})
                        else:
                            store = ev.setdefault("extendedProperties", {}).setdefault(scope, {})
                        for k, v in props.items():
                            if v is None:
                                store.pop(k, None)
                            else:
                                store[k] = v
                elif key == "attachments":
                    if supports:
                        ev["attachments"] = [self._attachment(a) for a in value]
                elif key in ("id", "etag", "kind", "iCalUID", "recurringEventId", "created",
                             "updated", "organizer"):
                    continue
                else:
                    ev[key] = copy.deepcopy(value)
            if ev.get("recurringEventId"):
                ev["_exception"] = True
            fake._bump(ev)
            out = fake.serve_event(ev, cal)
        self._send(200, out, {"ETag": ev["etag"]})

    def _insert(self, cal: str, req: Req) -> None:
        """events.insert: a client-chosen ``id`` is base32hex (0-9, a-v), 5-1024 characters;
        an id used before, even by a deleted event, is 409 duplicate."""
        fake = self.fake
        body = req.body if isinstance(req.body, dict) else {}
        errs = schema_errors(body, {"$ref": "Event"})
        if errs:
            raise ApiError(400, "invalid", "; ".join(errs))
        for key in ("start", "end"):
            if not (body.get(key) or {}).get("dateTime") and not (body.get(key) or {}).get("date"):
                raise ApiError(400, "required", f"Missing {key} time.")
        with fake.lock:
            event_id = body.get("id") or f"ins{next(fake._ids)}"
            if not re.fullmatch(r"[0-9a-v]{5,1024}", event_id):
                raise ApiError(400, "invalid", "Invalid resource id value.")
            if event_id in fake.events:
                raise ApiError(409, "duplicate", "The requested identifier already exists.")
            owner = fake.calendars[cal]["owner"]
            ev = {k: copy.deepcopy(v) for k, v in body.items()
                  if k not in ("etag", "kind", "created", "updated", "organizer", "creator")}
            ev["id"] = event_id
            ev["organizer"] = {"email": owner, "self": True}
            ev["creator"] = {"email": owner, "self": True}
            ev["_send_updates"] = (req.query.get("sendUpdates") or ["false"])[0]
            ev = fake.put(ev, [cal])
            out = fake.serve_event(ev, cal)
        self._send(200, out, {"ETag": ev["etag"]})

    def _attachment(self, a: dict[str, Any]) -> dict[str, Any]:
        if not a.get("fileUrl"):
            raise ApiError(400, "required", "Missing attachment fileUrl.")
        out = dict(a)
        m = re.search(r"/d/([A-Za-z0-9_-]+)", a["fileUrl"])
        if m:
            out["fileId"] = m.group(1)
        out.setdefault("iconLink", "https://drive-thirdparty.googleusercontent.com/16/type/doc")
        return out

    # -- Drive and Docs ---------------------------------------------------------------
    def _drive(self, req: Req, grant: Grant) -> None:
        fake = self.fake
        p = req.path
        with fake.lock:
            if p == "/drive/v3/files" and req.method == "POST":
                meta = req.body if isinstance(req.body, dict) else {}
                errs = schema_errors(meta, {"$ref": "File"}, "drive.v3")
                if errs:
                    raise ApiError(400, "invalid", "; ".join(errs))
                fid = f"1fake{next(fake._ids):04d}docid"
                f = {"kind": "drive#file", "id": fid, "name": meta.get("name", "Untitled"),
                     "mimeType": meta.get("mimeType", "application/octet-stream"),
                     "webViewLink": f"https://docs.google.com/document/d/{fid}/edit?usp=drivesdk",
                     "appProperties": dict(meta.get("appProperties") or {}),
                     "_owner": grant.user, "_trashed": False}
                fake.files[fid] = f
                fake.drive_changes.append(fid)
                if f["mimeType"] == "application/vnd.google-apps.document":
                    fake.docs[fid] = FakeDoc(fid, f["name"])
                return self._send(200, self._file(f, req.query))
            if p == "/drive/v3/changes/startPageToken" and req.method == "GET":
                return self._send(200, {"kind": "drive#startPageToken",
                                        "startPageToken": str(len(fake.drive_changes) + 1)})
            if p == "/drive/v3/changes" and req.method == "GET":
                token = (req.query.get("pageToken") or [""])[0]
                if not token.isdigit() or not 1 <= int(token) <= len(fake.drive_changes) + 1:
                    raise ApiError(400, "invalid", "Invalid Value")
                size = int((req.query.get("pageSize") or ["100"])[0])
                start = int(token) - 1
                mine = fake.drive_changes[start: start + size]
                out: dict[str, Any] = {"kind": "drive#changeList", "changes": [
                    {"kind": "drive#change", "type": "file", "changeType": "file",
                     "fileId": fid, "removed": False, "time": _stamp(datetime.now(UTC))}
                    for fid in mine if fake.files.get(fid, {}).get("_owner") == grant.user]}
                if start + size < len(fake.drive_changes):
                    out["nextPageToken"] = str(start + size + 1)
                else:
                    out["newStartPageToken"] = str(len(fake.drive_changes) + 1)
                return self._send(200, out)
            if p == "/drive/v3/files" and req.method == "GET":
                q = (req.query.get("q") or [""])[0]
                files = [f for f in fake.files.values() if f["_owner"] == grant.user]
                pattern = r"appProperties has \{ key='([^']*)' and value='((?:[^'\\]|\\.)*)' \}"
                for k, v in re.findall(pattern, q):
                    v = v.replace("\\'", "'").replace("\\\\", "\\")
                    files = [f for f in files if f["appProperties"].get(k) == v]
                m = re.search(r"mimeType='([^']*)'", q)
                if m:
                    files = [f for f in files if f["mimeType"] == m.group(1)]
                if "trashed=false" in q:
                    files = [f for f in files if not f["_trashed"]]
                return self._send(200, {"kind": "drive#fileList", "incompleteSearch": False,
                                        "files": [self._file(f, {}) for f in files]})
            m = re.fullmatch(r"/drive/v3/files/([^/]+)/(export|permissions)", p)
            if m:
                f = fake.files.get(m.group(1))
                if f is None or f["_owner"] != grant.user:
                    raise ApiError(404, "notFound", f"File not found: {m.group(1)}.")
                if m.group(2) == "export" and req.method == "GET":
                    mime = (req.query.get("mimeType") or [""])[0]
                    doc = fake.docs[f["id"]]
                    if mime == "text/markdown":
                        return self._send(200, doc.markdown(), ctype="text/markdown")
                    if mime == "text/plain":
                        text = "\ufeff" + doc.text().replace("\n", "\r\n")
                        return self._send(200, text.encode(), ctype="text/plain")
                    raise ApiError(400, "badRequest", "Export format not supported.")
                if m.group(2) == "permissions" and req.method == "GET":
                    owner = {"kind": "drive#permission", "id": "owner", "type": "user",
                             "role": "owner", "emailAddress": f["_owner"]}
                    return self._send(200, {"kind": "drive#permissionList", "permissions": [
                        owner, *fake.permissions.get(f["id"], [])]})
                if m.group(2) == "permissions" and req.method == "POST":
                    body = req.body if isinstance(req.body, dict) else {}
                    errs = schema_errors(body, {"$ref": "Permission"}, "drive.v3")
                    if errs or body.get("role") not in ("reader", "commenter", "writer", "owner"):
                        raise ApiError(400, "invalid", "; ".join(errs) or "Invalid role")
                    perms = fake.permissions.setdefault(f["id"], [])
                    perm = {"kind": "drive#permission", "id": f"perm{len(perms) + 1}",
                            "type": body.get("type", "user"), "role": body["role"],
                            "emailAddress": body.get("emailAddress", "")}
                    perms.append(perm)
                    return self._send(200, perm)
        raise ApiError(404, "notFound", f"No route for {req.method} {p}")

    @staticmethod
    def _file(f: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        return {k: v for k, v in f.items() if not k.startswith("_")}

    def _docs(self, req: Req, doc_id: str, batch: bool) -> None:
        fake = self.fake
        with fake.lock:
            doc = fake.docs.get(doc_id)
            if doc is None:
                raise ApiError(404, "notFound", "Requested entity was not found.")
            if not batch and req.method == "GET":
                return self._send(200, doc.resource())
            if batch and req.method == "POST":
                body = req.body if isinstance(req.body, dict) else {}
                errs = schema_errors(body, {"$ref": "BatchUpdateDocumentRequest"}, "docs.v1")
                if errs:
                    raise ApiError(400, "invalid", "; ".join(errs))
                want = (body.get("writeControl") or {}).get("requiredRevisionId")
                if want and want != f"rev{doc.revision}":
                    raise ApiError(400, "failedPrecondition",
                                   "The document revision does not match the required revision "
                                   "ID; the document was modified.")
                snapshot = copy.deepcopy(doc.paragraphs)
                try:
                    for r in body.get("requests", []):
                        if "insertText" in r:
                            doc.insert(int(r["insertText"]["location"]["index"]),
                                       r["insertText"]["text"])
                        elif "updateParagraphStyle" in r:
                            u = r["updateParagraphStyle"]
                            doc.style(int(u["range"]["startIndex"]), int(u["range"]["endIndex"]),
                                      u["paragraphStyle"]["namedStyleType"])
                        else:
                            raise ApiError(400, "invalid", f"unsupported request {sorted(r)}")
                except ApiError:
                    doc.paragraphs = snapshot
                    raise
                doc.revision += 1
                fake.drive_changes.append(doc.id)
                return self._send(200, {"documentId": doc.id,
                                        "replies": [{} for _ in body.get("requests", [])],
                                        "writeControl": {"requiredRevisionId": f"rev{doc.revision}"}})
        raise ApiError(404, "notFound", f"No route for {req.method} {req.path}")

    # -- OAuth ------------------------------------------------------------------------
    def _auth(self, req: Req) -> None:
        fake = self.fake
        q = {k: v[0] for k, v in req.query.items()}
        fake.auth_requests.append(q)
        if q.get("client_id") not in fake.clients:
            return self._send(400, "Error 401: invalid_client", ctype="text/plain")
        if q.get("response_type") != "code" or not q.get("redirect_uri"):
            return self._send(400, "Error 400: invalid_request", ctype="text/plain")
        code = f"4/fake-code-{next(fake._ids)}"
        with fake.lock:
            fake.codes[code] = {"client_id": q["client_id"], "redirect_uri": q["redirect_uri"],
                                "scope": q.get("scope", ""), "challenge": q.get("code_challenge"),
                                "method": q.get("code_challenge_method"),
                                "offline": q.get("access_type") == "offline",
                                "user": fake.consent_user}
        params = {"state": q.get("state", ""), "code": code, "scope": q.get("scope", "")}
        location = q["redirect_uri"] + "?" + urllib.parse.urlencode(params)
        self._send(302, b"", {"Location": location}, ctype="text/html")

    def _token(self, req: Req) -> None:
        fake = self.fake
        form = req.body if isinstance(req.body, dict) else {}
        cid, secret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("authorization") or ""
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            cid, secret = urllib.parse.unquote(cid), urllib.parse.unquote(secret)
        if fake.clients.get(cid or "") != secret:
            return self._send(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        grant_type = form.get("grant_type")
        with fake.lock:
            if fake.token_fail_next:
                status = fake.token_fail_next.pop(0)
                return self._send(status, {"error": "internal_failure",
                                           "error_description": "Backend Error"})
            if grant_type == "authorization_code":
                code = fake.codes.pop(form.get("code", ""), None)
                if code is None or code["redirect_uri"] != form.get("redirect_uri"):
                    return self._send(400, {"error": "invalid_grant", "error_description": "Bad Request"})
                if code["challenge"]:
                    digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    calc = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                    if calc != code["challenge"]:
                        return self._send(400, {"error": "invalid_grant",
                                                "error_description": "Invalid code verifier."})
                scopes = code["scope"].split()
                access, refresh = fake.issue(code["user"], scopes)
                out = {"access_token": access, "expires_in": 3599, "scope": code["scope"],
                       "token_type": "Bearer"}
                if code["offline"]:
                    out["refresh_token"] = refresh
                return self._send(200, out)
            if grant_type == "refresh_token":
                rt = form.get("refresh_token", "")
                grant = fake.refresh.get(rt)
                if grant is None or rt in fake.revoked:
                    return self._send(400, {"error": "invalid_grant",
                                            "error_description": "Token has been expired or revoked."})
                access = f"ya29.fake-{next(fake._ids)}"
                fake.access[access] = grant
                return self._send(200, {"access_token": access, "expires_in": 3599,
                                        "scope": " ".join(grant.scopes), "token_type": "Bearer"})
        self._send(400, {"error": "unsupported_grant_type"})


# -- helpers for tests --------------------------------------------------------------------


def api_requests(fake: FakeGoogle, method: str | None = None, contains: str = "") -> list[dict[str, Any]]:
    """Logged API calls (not OAuth), optionally filtered."""
    return [r for r in fake.log
            if r["path"] not in ("/auth", "/token")
            and (method is None or r["method"] == method) and contains in r["path"]]
