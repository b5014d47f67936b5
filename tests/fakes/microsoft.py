"""A stateful loopback fake of the Microsoft identity platform and Microsoft Graph v1.0.

Served over TLS (a trustme CA: msal refuses plain http), on one port for both hosts:
``{base}/{tenant}/...`` is the identity platform, ``{base}/v1.0/...`` is Graph. It follows
documented behaviour where there is documentation (see ../shared/reference/microsoft.md)
and says so where it had to choose:

- identity: openid-configuration, device code (``interval: 0``, one ``authorization_pending``
  then success), token with device_code / refresh_token / authorization_code grants,
  refresh-token rotation (the old one stops working), revocation (``invalid_grant`` with
  an AADSTS code), unsigned id_token + client_info as msal needs;
- Graph calendar: ``calendarView`` with paging, ``calendarView/delta`` (snapshots per
  token: new/changed items in full except plain occurrences, which carry only id, type,
  start, end and seriesMasterId as reported in docs-contrib#5602; ``@removed`` for what
  left the view; 410 for a forgotten token), ``events/{id}`` GET/PATCH with
  ``@odata.etag`` and 412 ``ErrorIrresolvableConflict``; PATCHing an occurrence turns it
  into an exception with the same id; the Teams ``onlineMeeting.joinUrl`` is derived from
  the body (docs-contrib#1895), so a body that loses the link loses the meeting;
- Graph drive: simple upload by path and by id (If-Match on eTag → 412), content download
  by 302 redirect, ``invite`` (refused with 403 for addresses in ``refuse_sharing``, as a
  tenant that blocks external sharing does; 400 for a body without recipients or roles)
  and ``createLink``; ``$select`` on an item keeps only the named properties and drops the
  ``@microsoft.graph.downloadUrl`` annotation, as Graph is reported to do
  (microsoftgraph/microsoft-graph-docs#20212);
- several users: tokens belong to the user who signed in (:meth:`switch_user` changes who
  signs in next), ``GET /me`` answers for the token's user and the log records it;
- fault injection (``faults``; status 0 drops the connection without an answer), a request
  log, and the peak of concurrent requests.

Series are stored as an RRULE plus deleted slots and exceptions, expanded with dateutil;
:meth:`FakeMicrosoft.seed_ics` loads an .ics text (icalendar + recurring_ical_events).
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import re
import ssl
import threading
import time
import urllib.parse
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tests.fakes import serve, shut

_TEAMS_URL = re.compile(r"https://teams\.microsoft\.com/l/meetup-join/[^\"'<>\s]+")

# A realistic Outlook HTML body of a Teams meeting, as Exchange stores it.
TEAMS_JOIN_URL = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ2YTA5ZjItMmE1Ny00ZDY1LWI2"
    "ZTEtOGQzNjE3YzQ1ZDRm%40thread.v2/0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-"
    "2d7cd011db47%22%2c%22Oid%22%3a%22e5f3c1a2-0b7d-4a2e-9c1b-3f2d4e5a6b7c%22%7d"
)
TEAMS_BODY = (
    '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
    '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\r\n'
    "<style><!--\r\n/* Font Definitions */\r\n@font-face\r\n\t{font-family:\"Segoe UI\";}\r\n"
    "--></style>\r\n</head>\r\n"
    '<body lang="EN-US" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">\r\n'
    '<div class="WordSection1">\r\n<p class="MsoNormal">Weekly catch-up, as usual.'
    "<o:p></o:p></p>\r\n"
    '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\r\n'
    '<div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">'
    "________________________________________________________________________________</span>"
    "</div>\r\n"
    '<div class="me-email-text" lang="en-US" style="color:#252424;font-family:\'Segoe UI\','
    "'Helvetica Neue',Helvetica,Arial,sans-serif\">\r\n"
    '<div style="margin-top:24px;margin-bottom:20px"><span style="font-size:24px;color:#252424">'
    "Microsoft Teams meeting</span> </div>\r\n"
    '<div style="margin-bottom:20px"><div style="margin-top:0px;margin-bottom:0px;font-weight:'
    'bold"><span style="font-size:14px;color:#252424">Join on your computer, mobile app or room'
    ' device</span> </div>\r\n'
    f'<a class="me-email-headline" href="{TEAMS_JOIN_URL}" target="_blank" rel="noreferrer '
    'noopener" style="font-size:14px;font-family:\'Segoe UI Semibold\',\'Segoe UI\',\'Helvetica '
    'Neue\',Helvetica,Arial,sans-serif;text-decoration:underline;color:#6264a7">Click here to '
    "join the meeting</a> </div>\r\n"
    '<div style="margin-bottom:20px;margin-top:20px"><div style="margin-bottom:4px"><span '
    'data-tid="meeting-code" style="font-size:14px;color:#252424">Meeting ID: <span '
    'style="font-size:16px;color:#252424">245 318 970 112</span> </span><br>\r\n'
    '<span style="font-size:14px;color:#252424">Passcode: </span><span style="font-size:16px;'
    'color:#252424">Zq7Hd3 </span>\r\n'
    '<div style="font-size:14px"><a class="me-email-link" style="font-size:14px;'
    'text-decoration:underline;color:#6264a7" target="_blank" '
    'href="https://www.microsoft.com/en-us/microsoft-teams/download-app" rel="noreferrer '
    'noopener">Download Teams</a> | <a class="me-email-link" style="font-size:14px;'
    'text-decoration:underline;color:#6264a7" target="_blank" '
    'href="https://www.microsoft.com/microsoft-teams/join-a-meeting" rel="noreferrer noopener">'
    "Join on the web</a></div>\r\n</div>\r\n</div>\r\n"
    '<div style="margin-bottom:24px;margin-top:20px"><a class="me-email-link" target="_blank" '
    'href="https://aka.ms/JoinTeamsMeeting" rel="noreferrer noopener" style="font-size:14px;'
    'text-decoration:underline;color:#6264a7">Learn More</a> | <a class="me-email-link" '
    'target="_blank" href="https://teams.microsoft.com/meetingOptions/?organizerId=e5f3c1a2&amp;'
    'tenantId=72f988bf&amp;threadId=19_meeting_NjQ2YTA5&amp;messageId=0&amp;language=en-US" '
    'rel="noreferrer noopener" style="font-size:14px;text-decoration:underline;color:#6264a7">'
    "Meeting options</a> </div>\r\n</div>\r\n"
    '<div style="font-size:14px;margin-bottom:4px;font-family:\'Segoe UI\',\'Helvetica Neue\','
    "Helvetica,Arial,sans-serif\"></div>\r\n"
    '<div style="font-size:12px"></div>\r\n<div></div>\r\n'
    '<div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">'
    "________________________________________________________________________________</span>"
    "</div>\r\n"
    '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\r\n</div>\r\n</body>\r\n</html>\r\n'
)

_RESPONSE_FROM_PARTSTAT = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentativelyAccepted",
    "NEEDS-ACTION": "notResponded",
}

_WIN_FROM_IANA: dict[str, str] = {}


def windows_name(iana: str) -> str:
    """The Windows zone name Exchange reports for an IANA zone (first match)."""
    if not _WIN_FROM_IANA:
        from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

        for win, olson in WINDOWS_TO_OLSON.items():
            _WIN_FROM_IANA.setdefault(olson, win)
    if iana in ("UTC", "Etc/UTC"):
        return "UTC"
    return _WIN_FROM_IANA.get(iana, iana)


def _zone_from_graph(name: str | None) -> tzinfo:
    if not name or name == "UTC":
        return UTC
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    return ZoneInfo(WINDOWS_TO_OLSON.get(name, name))


def gtime(dt: datetime, tz: tzinfo = UTC, tz_name: str = "UTC") -> dict[str, str]:
    local = dt.astimezone(tz).replace(tzinfo=None)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz_name}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def text_to_html(text: str) -> str:
    lines = "<br>\r\n".join(html.escape(line) for line in text.splitlines())
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; '
        'charset=utf-8">\r\n</head>\r\n<body>\r\n<div>' + lines + "</div>\r\n</body>\r\n</html>\r\n"
    )


def html_to_text(body: str) -> str:
    body = re.sub(r"(?is)<(style|head)[^>]*>.*?</\1>", "", body)
    body = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", body)
    return html.unescape(re.sub(r"<[^>]+>", "", body)).strip()


@dataclass
class Fault:
    """Answer the next matching request with ``status`` instead of routing it.

    Status 0 closes the connection without any answer (a transport error for the client).
    """

    status: int
    path: str = ""  # substring of the path; "" matches everything
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    code: str = ""
    times: int = 1


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    user: str = ""  # whose access token a Graph request carried

    @property
    def graph(self) -> bool:
        return self.path.startswith("/v1.0/")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.body.decode()).items()}


class FakeMicrosoft:
    """State of one tenant with one mailbox; :meth:`start` serves it over TLS."""

    def __init__(
        self,
        user_email: str = "manager@contoso.example",
        user_name: str = "Mona Manager",
        access_token_lifetime: int = 3600,
        pending_polls: int = 1,
    ) -> None:
        self.user_email = user_email.lower()
        self.user_name = user_name
        self.oid = str(uuid.uuid5(uuid.NAMESPACE_DNS, user_email))
        self.tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
        self.access_token_lifetime = access_token_lifetime
        self.pending_polls = pending_polls
        self.lock = threading.RLock()
        self.log: list[Logged] = []
        self.faults: list[Fault] = []
        self.transactions: dict[str, str] = {}  # POST events transactionId -> event id
        self.created = 0  # events created through POST events
        # the fault matrix's hook: called with (request index in ``log``, method, path), it
        # returns None, a status to answer instead ("revoke": revoke every login, then 401
        # or invalid_grant), "reset" (carry the request out, then close the connection
        # without an answer), "kill" (carry it out and answer, then ``killed`` is set for
        # the client side) or ("late", seconds): carry it out, answer that much later
        self.fault_at: Any = None
        self.killed = False
        self.base = ""
        self._counter = itertools.count(1)
        # identity
        self.device_codes: dict[str, dict[str, Any]] = {}
        self.auth_codes: dict[str, str] = {}
        self.nonces: dict[str, str] = {}
        self.access_tokens: dict[str, float] = {}  # token -> expiry (monotonic wall seconds)
        self.refresh_tokens: dict[str, str] = {}  # token -> scope
        self.token_user: dict[str, tuple[str, str, str]] = {}  # token -> (email, name, oid)
        self.revoked_error = "AADSTS70008: The provided authorization code or refresh token " \
            "has expired due to inactivity."
        self.clock = lambda: datetime.now(UTC)
        # calendar
        self.events: dict[str, dict[str, Any]] = {}
        self.delta_tokens: dict[str, dict[str, Any]] = {}
        self.delta_served: list[int] = []  # items answered per delta round
        self.seed_skipped: list[str] = []  # .ics events an import would reject
        self.skip_tokens: dict[str, dict[str, Any]] = {}
        self.calendars = {"AAMkDefault": "Calendar"}
        self.no_delta_on_named = False  # answer 400 to delta on a named calendar
        # benchmarks: a delta round on a mailbox nothing touched since its token answers
        # "no change" without expanding the calendar again. Changes through Graph and the
        # helper methods count; tests that edit ``events`` directly must leave this off.
        self.quick_delta = False
        self.generation = 0  # bumped by every change through Graph or a helper method
        self.omit_event_etag = False  # GET events/{id} without @odata.etag (a proxy, say)
        self.notifications: list[tuple[str, str]] = []  # (event id, attendee) update emails
        self.rewrite_body: Any = None  # optional str -> str applied to PATCHed bodies
        self.patches = 0
        # drive
        self.drive: dict[str, dict[str, Any]] = {}
        self.drive_changes: list[str] = []  # item ids in order of change (drive delta)
        self.refuse_sharing: set[str] = set()  # addresses (or "@domain") invite answers 403 for
        # free/busy: other mailboxes of the tenant, address -> [(start, end, status)]; the
        # signed-in user's own come from the calendar
        self.schedules: dict[str, list[tuple[datetime, datetime, str]]] = {}
        self.free_busy_refused = False  # getSchedule answers 403 (a tenant policy, say)
        self.token_scopes: dict[str, str] = {}  # access token -> granted scopes
        self.in_flight = 0
        self.peak_in_flight = 0
        self.latency = 0.0
        self._server: ThreadingHTTPServer | None = None

    # -- server ---------------------------------------------------------------------------

    def start(self, server_ctx: ssl.SSLContext) -> FakeMicrosoft:
        fake = self

        class Handler(_Handler):
            state = fake

        self._server, self.base = serve(Handler, server_ctx)
        return self

    def stop(self) -> None:
        shut(self._server)
        self._server = None

    @property
    def graph_url(self) -> str:
        return f"{self.base}/v1.0"

    def graph_requests(self, method: str | None = None) -> list[Logged]:
        return [r for r in self.log if r.graph and (method is None or r.method == method)]

    def token_requests(self) -> list[Logged]:
        return [r for r in self.log if r.path.endswith("/oauth2/v2.0/token")]

    # -- identity -------------------------------------------------------------------------

    def switch_user(self, email: str, name: str) -> None:
        """Someone else signs in from now on (the mailbox data stays as it is)."""
        with self.lock:
            self.user_email = email.lower()
            self.user_name = name
            self.oid = str(uuid.uuid5(uuid.NAMESPACE_DNS, email))

    def revoke_all(self) -> None:
        with self.lock:
            self.refresh_tokens.clear()
            self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def _issue(self, scope: str, client_id: str, nonce: str = "",
               user: tuple[str, str, str] | None = None) -> dict[str, Any]:
        n = next(self._counter)
        at, rt = f"at-{n}-{uuid.uuid4().hex}", f"rt-{n}-{uuid.uuid4().hex}"
        now = datetime.now(UTC).timestamp()
        email, name, oid = user or (self.user_email, self.user_name, self.oid)
        self.access_tokens[at] = now + self.access_token_lifetime
        self.token_scopes[at] = scope
        self.refresh_tokens[rt] = scope
        self.token_user[at] = self.token_user[rt] = (email, name, oid)
        claims = {
            "aud": client_id, "iss": f"{self.base}/{self.tid}/v2.0", "iat": int(now),
            "nbf": int(now), "exp": int(now) + 3600, "name": name, "oid": oid,
            "preferred_username": email, "sub": oid, "tid": self.tid,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        id_token = ".".join([_b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
                             _b64url(json.dumps(claims).encode()), ""])
        client_info = _b64url(json.dumps({"uid": oid, "utid": self.tid}).encode())
        return {"token_type": "Bearer", "scope": scope, "expires_in": self.access_token_lifetime,
                "ext_expires_in": self.access_token_lifetime, "access_token": at,
                "refresh_token": rt, "id_token": id_token, "client_info": client_info}

    def identity(self, h: _Handler, method: str, parts: list[str], form: dict[str, str]) -> None:
        tenant, rest = parts[0], "/".join(parts[1:])
        root = f"{self.base}/{tenant}"
        if method == "GET" and rest == "v2.0/.well-known/openid-configuration":
            return h.send_json(200, {
                "issuer": f"{self.base}/{self.tid}/v2.0",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "token_endpoint": f"{root}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
                "jwks_uri": f"{root}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "tenant_region_scope": "EU",
            })
        if method == "POST" and rest == "oauth2/v2.0/devicecode":
            code = uuid.uuid4().hex
            user_code = f"F{next(self._counter):07d}"
            self.device_codes[code] = {"scope": form.get("scope", ""), "polls": 0,
                                       "client_id": form.get("client_id", "")}
            return h.send_json(200, {
                "device_code": code, "user_code": user_code,
                "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900,
                "interval": 0,
                "message": "To sign in, use a web browser to open the page "
                           f"https://microsoft.com/devicelogin and enter the code {user_code} "
                           "to authenticate.",
            })
        if method == "GET" and rest == "oauth2/v2.0/authorize":
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(h.path).query)
            code = uuid.uuid4().hex
            self.auth_codes[code] = q.get("scope", [""])[0]
            self.nonces[code] = q.get("nonce", [""])[0]
            fields = {"code": code, "state": q.get("state", [""])[0]}
            target = q["redirect_uri"][0]
            if q.get("response_mode", ["query"])[0] == "form_post":  # what msal asks for
                inputs = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
                                 for k, v in fields.items())
                page = (f'<html><body onload="document.forms[0].submit()"><form method="POST" '
                        f'action="{html.escape(target)}">{inputs}</form></body></html>')
                return h.send_raw(200, page.encode(), ctype="text/html")
            return h.send_raw(302, b"", headers={
                "Location": target + "?" + urllib.parse.urlencode(fields)})
        if method == "POST" and rest == "oauth2/v2.0/token":
            grant = form.get("grant_type", "")
            cid = form.get("client_id", "")
            if "offline_access" in form.get("scope", "") and "openid" not in form.get("scope", ""):
                return h.send_json(400, {"error": "invalid_scope"})
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                dc = self.device_codes.get(form.get("device_code", ""))
                if dc is None:
                    return h.send_json(400, {"error": "expired_token",
                                             "error_description": "AADSTS70020: expired"})
                if dc["polls"] < self.pending_polls:
                    dc["polls"] += 1
                    return h.send_json(400, {
                        "error": "authorization_pending",
                        "error_description": "AADSTS70016: OAuth 2.0 device flow error. "
                                             "Authorization is pending."})
                del self.device_codes[form["device_code"]]
                return h.send_json(200, self._issue(dc["scope"], cid))
            if grant == "authorization_code":
                scope = self.auth_codes.pop(form.get("code", ""), None)
                if scope is None:
                    return h.send_json(400, {"error": "invalid_grant"})
                nonce = self.nonces.pop(form["code"], "")
                return h.send_json(200, self._issue(scope, cid, nonce))
            if grant == "refresh_token":
                scope = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
                if scope is None:
                    return h.send_json(400, {
                        "error": "invalid_grant", "error_description": self.revoked_error,
                        "error_codes": [70008], "suberror": "bad_token"})
                user = self.token_user.get(form.get("refresh_token", ""))
                return h.send_json(200, self._issue(form.get("scope", scope), cid, user=user))
            return h.send_json(400, {"error": "unsupported_grant_type"})
        h.send_json(404, {"error": "not_found"})

    # -- calendar data --------------------------------------------------------------------

    def _new_id(self, prefix: str = "AAMkAG") -> str:
        return f"{prefix}{uuid.uuid4().hex}"

    def _touch(self, ev: dict[str, Any]) -> None:
        self.generation += 1
        ck = base64.b64encode(uuid.uuid4().bytes).decode()[:22]
        ev["changeKey"] = ck
        ev["@odata.etag"] = f'W/"{ck}"'
        ev["lastModifiedDateTime"] = self.clock().strftime("%Y-%m-%dT%H:%M:%S.0000000Z")

    def add_event(
        self,
        subject: str,
        start: datetime,
        end: datetime,
        attendees: list[dict[str, Any]] | None = None,
        *,
        organizer: str | None = None,
        organizer_name: str | None = None,
        body: str | None = None,
        tz: str = "UTC",
        rrule: str | None = None,
        all_day: bool = False,
        ical_uid: str | None = None,
        online: bool = False,
        ident: str | None = None,
    ) -> str:
        """Add a single event, or a series master when ``rrule`` (RFC 5545 text) is given.

        ``start``/``end`` are aware; ``tz`` is the IANA zone the series repeats in.
        ``attendees`` are Graph-shaped dicts or ``(email, response[, type])`` tuples.
        """
        org = (organizer or self.user_email).lower()
        ev: dict[str, Any] = {
            "id": ident or self._new_id(),
            "createdDateTime": self.clock().strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "iCalUId": ical_uid or ("040000008200E00074C5B7101A82E008" + uuid.uuid4().hex.upper()),
            "subject": subject,
            "isAllDay": all_day,
            "isCancelled": False,
            "isOrganizer": org == self.user_email,
            "type": "seriesMaster" if rrule else "singleInstance",
            "seriesMasterId": None,
            "organizer": {"emailAddress": {"name": organizer_name or org, "address": org}},
            "attendees": [a if isinstance(a, dict) else _att(*a) for a in attendees or []],
            "body": {"contentType": "html",
                     "content": body if body is not None else text_to_html("")},
            "_start": start.astimezone(UTC),
            "_duration": end - start,
            "_tz": tz,
            "_rrule": rrule,
            "_deleted": set(),
            "_online": online,
        }
        self._touch(ev)
        with self.lock:
            self.events[ev["id"]] = ev
        return str(ev["id"])

    def occurrence_id(self, master_id: str, original: datetime) -> str:
        return f"{master_id}-OCC{original.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}"

    def _slots(self, master: dict[str, Any], lo: datetime, hi: datetime) -> list[datetime]:
        """Original starts (UTC) of a master's rule in [lo - duration, hi)."""
        from dateutil import rrule as du

        tz = ZoneInfo(master["_tz"]) if master["_tz"] != "UTC" else UTC
        local0 = master["_start"].astimezone(tz)
        naive0 = local0.replace(tzinfo=None)
        text = master["_rrule"]
        m = re.search(r"UNTIL=(\d{8}T\d{6})Z", text)
        if m:  # the rule runs on naive local times: UNTIL in UTC becomes local wall time
            until = datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
            local_until = until.astimezone(tz).strftime("%Y%m%dT%H%M%S")
            text = text.replace(m.group(0), f"UNTIL={local_until}")
        rule = du.rrulestr(text, dtstart=naive0, forceset=True)
        lo_n = (lo - master["_duration"]).astimezone(tz).replace(tzinfo=None) - timedelta(days=1)
        hi_n = hi.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
        out = []
        for naive in rule.between(lo_n, hi_n, inc=True):
            slot = naive.replace(tzinfo=tz).astimezone(UTC)
            if slot + master["_duration"] > lo and slot < hi:
                out.append(slot)
        return out

    def instances(self, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        """Internal records of singles, occurrences and exceptions overlapping [lo, hi)."""
        out: list[dict[str, Any]] = []
        with self.lock:
            for ev in self.events.values():
                if ev["type"] == "seriesMaster":
                    for slot in self._slots(ev, lo, hi):
                        oid = self.occurrence_id(ev["id"], slot)
                        if slot.isoformat() in ev["_deleted"] or oid in self.events:
                            continue
                        out.append(self._occurrence(ev, slot))
                elif ev["_start"] + ev["_duration"] > lo and ev["_start"] < hi or (
                        ev["_duration"] == timedelta(0) and lo <= ev["_start"] < hi):
                    out.append(ev)
        out.sort(key=lambda e: (e["_start"], e["id"]))
        return out

    def _occurrence(self, master: dict[str, Any], slot: datetime) -> dict[str, Any]:
        occ = {k: v for k, v in master.items() if k not in ("recurrence",)}
        occ.update({"id": self.occurrence_id(master["id"], slot), "type": "occurrence",
                    "seriesMasterId": master["id"], "_start": slot, "_original": slot})
        return occ

    def get(self, ident: str) -> dict[str, Any] | None:
        with self.lock:
            if ident in self.events:
                return self.events[ident]
            m = re.fullmatch(r"(.+)-OCC(\d{8}T\d{6})", ident)
            if not m or m.group(1) not in self.events:
                return None
            master = self.events[m.group(1)]
            slot = datetime.strptime(m.group(2), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
            if slot.isoformat() in master["_deleted"]:
                return None
            if slot not in self._slots(master, slot, slot + timedelta(seconds=1)):
                return None
            return self._occurrence(master, slot)

    def materialise(self, ident: str) -> dict[str, Any]:
        """Turn an occurrence into an exception (what any edit of one instance does)."""
        with self.lock:
            ev = self.get(ident)
            if ev is None:
                raise KeyError(ident)
            if ev["type"] == "occurrence":
                ev = json.loads(json.dumps({k: v for k, v in ev.items() if not k.startswith("_")}))
                src = self.events[self._master_id(ident)]
                ev.update({k: v for k, v in src.items() if k.startswith("_")})
                ev["_deleted"] = set()
                slot = datetime.strptime(ident.rsplit("-OCC", 1)[1],
                                         "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
                ev.update({"type": "exception", "_start": slot, "_original": slot,
                           "_rrule": None})
                self.events[ident] = ev
            return ev

    def _master_id(self, ident: str) -> str:
        return ident.rsplit("-OCC", 1)[0]

    def edit(self, ident: str, **changes: Any) -> dict[str, Any]:
        """A human edit in Outlook: subject/body/start/end/attendees/isCancelled."""
        with self.lock:
            ev = self.events[ident] if ident in self.events else self.materialise(ident)
            for key, value in changes.items():
                if key == "start":
                    ev["_start"] = value.astimezone(UTC)
                elif key == "end":
                    ev["_duration"] = value.astimezone(UTC) - ev["_start"]
                elif key == "body":
                    ev["body"] = {"contentType": "html", "content": value}
                else:
                    ev[key] = value
            self._touch(ev)
            return ev

    def respond(self, ident: str, email: str, response: str) -> None:
        with self.lock:
            ev = self.events[ident] if ident in self.events else self.materialise(ident)
            for a in ev["attendees"]:
                if a["emailAddress"]["address"].lower() == email.lower():
                    a["status"] = {"response": response, "time": "2024-01-01T00:00:00Z"}
            self._touch(ev)

    def delete_occurrence(self, ident: str) -> None:
        """The organizer deletes one instance: it leaves the calendar view."""
        with self.lock:
            master = self.events[self._master_id(ident)]
            self.events.pop(ident, None)
            slot = datetime.strptime(ident.rsplit("-OCC", 1)[1],
                                     "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
            master["_deleted"].add(slot.isoformat())
            self._touch(master)

    def split_series(self, master_id: str, at: datetime, subject: str | None = None) -> str:
        """"This and all following": the old series ends before ``at``, a new one starts."""
        with self.lock:
            old = self.events[master_id]
            tz = ZoneInfo(old["_tz"]) if old["_tz"] != "UTC" else UTC
            until = (at.astimezone(tz) - timedelta(days=1)).date()
            rule = re.sub(r";?(UNTIL|COUNT)=[^;]*", "", old["_rrule"])
            old["_rrule"] = f"{rule};UNTIL={until.strftime('%Y%m%d')}T235959"
            self._touch(old)
            for ident in [k for k, v in self.events.items()
                          if v.get("seriesMasterId") == master_id and v["_original"] >= at]:
                del self.events[ident]
            new_id = self.add_event(
                subject or old["subject"], at, at + old["_duration"],
                json.loads(json.dumps(old["attendees"])), organizer=old["organizer"]
                ["emailAddress"]["address"], body=old["body"]["content"], tz=old["_tz"],
                rrule=rule, online=old["_online"])
            return new_id

    # -- rendering Graph JSON -------------------------------------------------------------

    def render(self, ev: dict[str, Any], tz_name: str = "UTC", minimal: bool = False,
               body_type: str = "html") -> dict[str, Any]:
        tz = _zone_from_graph(tz_name)
        start = ev["_start"]
        end = start + ev["_duration"]
        if ev["isAllDay"]:  # midnight to midnight, whatever zone was asked for
            start_t = {"dateTime": start.strftime("%Y-%m-%dT00:00:00.0000000"),
                       "timeZone": tz_name}
            end_t = {"dateTime": end.strftime("%Y-%m-%dT00:00:00.0000000"), "timeZone": tz_name}
        else:
            start_t, end_t = gtime(start, tz, tz_name), gtime(end, tz, tz_name)
        if minimal:
            return {"@odata.type": "#microsoft.graph.event", "id": ev["id"],
                    "type": ev["type"], "seriesMasterId": ev["seriesMasterId"],
                    "start": start_t, "end": end_t}
        out = {k: v for k, v in ev.items() if not k.startswith("_")}
        out = json.loads(json.dumps(out))
        content = ev["body"]["content"]
        out["body"] = ({"contentType": "text", "content": html_to_text(content)}
                       if body_type == "text" else dict(ev["body"]))
        out["bodyPreview"] = html_to_text(content)[:255]
        out["start"], out["end"] = start_t, end_t
        win = ev.get("_zone_label") or windows_name(ev["_tz"])  # label: what Exchange says
        out["originalStartTimeZone"] = out["originalEndTimeZone"] = win
        join = _TEAMS_URL.search(content)
        out["isOnlineMeeting"] = bool(ev["_online"] and join)
        out["onlineMeetingProvider"] = "teamsForBusiness" if ev["_online"] else "unknown"
        out["onlineMeeting"] = {"joinUrl": html.unescape(join.group(0))} if (
            ev["_online"] and join) else None
        out["onlineMeetingUrl"] = None
        out["responseStatus"] = {"response": "organizer" if ev["isOrganizer"] else "accepted",
                                 "time": "0001-01-01T00:00:00Z"}
        out["showAs"] = "busy"
        out["webLink"] = f"https://outlook.office365.com/owa/?itemid={ev['id']}"
        if ev.get("_original") is not None:
            out["originalStart"] = ev["_original"].strftime("%Y-%m-%dT%H:%M:%SZ")
        if ev["type"] == "seriesMaster":
            out["recurrence"] = self._pattern(ev)
        else:
            out["recurrence"] = None
        return out

    def _pattern(self, ev: dict[str, Any]) -> dict[str, Any]:
        """The series' RRULE as Graph's patternedRecurrence."""
        parts = dict(p.split("=", 1) for p in ev["_rrule"].split(";") if "=" in p)
        tz = ZoneInfo(ev["_tz"]) if ev["_tz"] != "UTC" else UTC
        local = ev["_start"].astimezone(tz)
        names = {"MO": "monday", "TU": "tuesday", "WE": "wednesday", "TH": "thursday",
                 "FR": "friday", "SA": "saturday", "SU": "sunday"}
        days, index = [], None
        for d in filter(None, parts.get("BYDAY", "").split(",")):
            m = re.fullmatch(r"([+-]?\d+)?([A-Z]{2})", d)
            if m:
                days.append(names[m.group(2)])
                if m.group(1):
                    index = int(m.group(1))
        if "BYSETPOS" in parts:
            index = int(parts["BYSETPOS"])
        idx = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}.get(index or 1)
        freq = parts["FREQ"]
        pattern: dict[str, Any] = {"interval": int(parts.get("INTERVAL", 1)),
                                   "firstDayOfWeek": names.get(parts.get("WKST", "SU"),
                                                               "sunday")}
        if freq == "DAILY":
            pattern["type"] = "daily"
        elif freq == "WEEKLY":
            pattern.update(type="weekly",
                           daysOfWeek=days or [local.strftime("%A").lower()])
        elif freq == "MONTHLY" and days:
            pattern.update(type="relativeMonthly", daysOfWeek=days, index=idx)
        elif freq == "MONTHLY":
            pattern.update(type="absoluteMonthly",
                           dayOfMonth=int(parts.get("BYMONTHDAY", local.day)))
        elif freq == "YEARLY" and days:
            pattern.update(type="relativeYearly", daysOfWeek=days, index=idx,
                           month=int(parts.get("BYMONTH", local.month)))
        else:
            pattern.update(type="absoluteYearly", dayOfMonth=int(parts.get("BYMONTHDAY",
                                                                           local.day)),
                           month=int(parts.get("BYMONTH", local.month)))
        rng: dict[str, Any] = {"type": "noEnd", "startDate": local.date().isoformat(),
                               "endDate": "0001-01-01",
                               "recurrenceTimeZone": windows_name(ev["_tz"]),
                               "numberOfOccurrences": 0}
        if "UNTIL" in parts:
            until = parts["UNTIL"]
            u = datetime.strptime(until[:8], "%Y%m%d").date()
            if until.endswith("Z") and len(until) > 8:
                ut = datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                u = ut.astimezone(tz).date()
            rng.update(type="endDate", endDate=u.isoformat())
        elif "COUNT" in parts:
            rng.update(type="numbered", numberOfOccurrences=int(parts["COUNT"]))
        return {"pattern": pattern, "range": rng}

    # -- seeding from iCalendar ---------------------------------------------------------------

    def seed_ics(self, text: str, default_tz: str = "UTC") -> dict[str, str]:
        """Load an .ics calendar; returns {UID: master or event id}.

        Series whose RRULE Graph can express become series masters with exceptions
        (RECURRENCE-ID overrides; STATUS:CANCELLED ones as ``isCancelled``) and deleted
        slots (EXDATE); anything else (RDATE, unsupported rules) is expanded with
        recurring_ical_events into single events, as an import into Outlook would.
        """
        import icalendar

        cal = icalendar.Calendar.from_ical(text)
        by_uid: dict[str, list[Any]] = {}
        for comp in cal.walk("VEVENT"):
            by_uid.setdefault(str(comp.get("UID", uuid.uuid4().hex)), []).append(comp)
        ids: dict[str, str] = {}
        for uid, comps in by_uid.items():
            try:
                self._seed_uid(cal, uid, comps, default_tz, ids)
            except (ValueError, KeyError, TypeError) as exc:  # an event Outlook would reject
                self.seed_skipped.append(f"{uid}: {type(exc).__name__}: {exc}")
        return ids

    def _seed_uid(self, cal: Any, uid: str, comps: list[Any], default_tz: str,
                  ids: dict[str, str]) -> None:
        import icalendar
        import recurring_ical_events

        masters = [c for c in comps if c.get("RRULE") and not c.get("RECURRENCE-ID")]
        overrides = [c for c in comps if c.get("RECURRENCE-ID")]
        if masters and _expressible(masters[0]) and not masters[0].get("RDATE"):
            m = masters[0]
            mid = self._add_component(m, uid, default_tz, rrule=_rrule_text(m, default_tz))
            ids[uid] = mid
            master = self.events[mid]
            for ex in _exdates(m):
                slot = _as_utc(ex, default_tz)
                master["_deleted"].add(slot.isoformat())
            for o in overrides:
                rid = _as_utc(o.decoded("RECURRENCE-ID"), default_tz)
                oid = self._add_component(o, uid, default_tz,
                                          ident=self.occurrence_id(mid, rid))
                ev = self.events[oid]
                ev.update(type="exception", seriesMasterId=mid, _original=rid,
                          iCalUId=master["iCalUId"])
            return
        if masters or overrides:
            sub = icalendar.Calendar()
            for c in comps:
                sub.add_component(c)
            for tzc in cal.walk("VTIMEZONE"):
                sub.add_component(tzc)
            expanded = recurring_ical_events.of(sub).between(
                datetime(1990, 1, 1), datetime(2040, 1, 1))
            for c in expanded:
                ids.setdefault(uid, self._add_component(c, uid, default_tz))
            return
        ids[uid] = self._add_component(comps[0], uid, default_tz)

    def _add_component(self, c: Any, uid: str, default_tz: str, rrule: str | None = None,
                       ident: str | None = None) -> str:
        start = c.decoded("DTSTART")
        all_day = not isinstance(start, datetime)
        if "DTEND" in c:
            end = c.decoded("DTEND")
        elif "DURATION" in c:
            end = start + c.decoded("DURATION")
        else:
            end = start + (timedelta(days=1) if all_day else timedelta(0))
        tz_name = default_tz
        if all_day:
            start = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
            end = datetime.combine(end, datetime.min.time(), tzinfo=UTC)
        else:
            tz_name = _tz_name(start, default_tz)
            start, end = _as_utc(start, default_tz), _as_utc(end, default_tz)
        org = str(c.get("ORGANIZER", "")).replace("mailto:", "").replace("MAILTO:", "").lower()
        org_name = c["ORGANIZER"].params.get("CN") if "ORGANIZER" in c else None
        attendees = []
        raw = c.get("ATTENDEE", [])
        for a in raw if isinstance(raw, list) else [raw]:
            addr = str(a).split(":", 1)[-1].lower() if ":" in str(a) else str(a).lower()
            if not addr or addr == org:
                continue
            cutype = a.params.get("CUTYPE", "INDIVIDUAL").upper()
            role = a.params.get("ROLE", "REQ-PARTICIPANT").upper()
            kind = "resource" if cutype in ("ROOM", "RESOURCE") else (
                "optional" if role == "OPT-PARTICIPANT" else "required")
            attendees.append(_att(addr, _RESPONSE_FROM_PARTSTAT.get(
                a.params.get("PARTSTAT", "NEEDS-ACTION").upper(), "none"), kind,
                a.params.get("CN")))
        desc = str(c.get("DESCRIPTION", ""))
        ident = self.add_event(
            str(c.get("SUMMARY", "")), start, end, attendees, organizer=org or None,
            organizer_name=org_name, body=text_to_html(desc), tz=tz_name, rrule=rrule,
            all_day=all_day, ical_uid=uid, ident=ident,
        )
        if str(c.get("STATUS", "")).upper() == "CANCELLED":
            self.events[ident]["isCancelled"] = True
            self.generation += 1
        return ident

    # -- Graph routing --------------------------------------------------------------------

    def graph(self, h: _Handler, method: str, path: str, q: dict[str, list[str]],
              body: bytes) -> None:
        auth = h.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        exp = self.access_tokens.get(token)
        if exp is None or exp < datetime.now(UTC).timestamp():
            return h.send_json(401, {"error": {
                "code": "InvalidAuthenticationToken",
                "message": "Lifetime validation failed, the token is expired."}})
        email, name, oid = self.token_user.get(token, (self.user_email, self.user_name, self.oid))
        entry = getattr(h, "_entry", None)
        if entry is not None:
            entry.user = email
        prefer = h.headers.get("Prefer", "")
        tz_m = re.search(r'outlook\.timezone="([^"]+)"', prefer)
        tz_name = tz_m.group(1) if tz_m else "UTC"
        bt_m = re.search(r'outlook\.body-content-type="([^"]+)"', prefer)
        body_type = bt_m.group(1) if bt_m else "html"
        ps_m = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        page_size = int(q.get("$top", [ps_m.group(1) if ps_m else "10"])[0])
        p = path[len("/v1.0"):]
        p = re.sub(r"^/users/[^/]+", "/me", p)
        if method != "GET":
            self.generation += 1
        if self.no_delta_on_named and re.match(r"^/me/calendars/[^/]+/calendarView/delta", p):
            return h.send_json(400, {"error": {"code": "ErrorInvalidRequest",
                                               "message": "delta not supported here"}})
        p = re.sub(r"^/me/calendars/[^/]+/calendarView", "/me/calendarView", p)
        p = re.sub(r"^/me/calendar/calendarView", "/me/calendarView", p)
        p = re.sub(r"^/me/calendars/[^/]+/events/", "/me/events/", p)
        if method == "GET" and p == "/me":
            return h.send_json(200, {"id": oid, "mail": email, "userPrincipalName": email,
                                     "displayName": name})
        if method == "GET" and p == "/me/calendars":
            return h.send_json(200, {"value": [{"id": k, "name": v} for k, v in
                                               self.calendars.items()]})
        if method == "GET" and p == "/me/calendarView":
            return self._calendar_view(h, q, tz_name, body_type, page_size)
        if method == "GET" and p == "/me/calendarView/delta":
            return self._delta(h, q, tz_name, body_type, page_size)
        m = re.fullmatch(r"/me/events/([^/]+)", p)
        if m:
            ident = urllib.parse.unquote(m.group(1))
            if method == "GET":
                ev = self.get(ident)
                if ev is None:
                    return h.not_found()
                out = self.render(ev, tz_name, body_type=body_type)
                if self.omit_event_etag:
                    out.pop("@odata.etag", None)
                sel = q.get("$select", [""])[0]
                if sel:
                    keep = set(sel.split(",")) | {"id"} | (
                        set() if self.omit_event_etag else {"@odata.etag"})
                    out = {k: v for k, v in out.items() if k in keep}
                return h.send_json(200, out)
            if method == "PATCH":
                return self._patch(h, ident, body, tz_name)
        if method == "POST" and (p == "/me/events" or re.fullmatch(r"/me/calendars/[^/]+/events", p)):
            return self._create(h, body, tz_name)
        if method == "POST" and p == "/me/calendar/getSchedule":
            return self._get_schedule(h, body, tz_name, self.token_scopes.get(token, ""))
        if p.startswith("/me/drive"):
            return self._drive(h, method, p, q, body)
        h.send_json(400, {"error": {"code": "BadRequest", "message": f"fake: no route {p}"}})

    # -- create (POST events) -------------------------------------------------------------

    def _create(self, h: _Handler, body: bytes, tz_name: str) -> None:
        """``POST /me/events``: 201 with the new event. A ``transactionId`` seen before
        (a client retrying a create whose answer it lost) creates nothing and answers with
        the event it created the first time."""
        try:
            ev = json.loads(body or b"{}")
            start, end = _graph_dt(ev["start"]), _graph_dt(ev["end"])
        except (ValueError, KeyError, TypeError):
            return h.send_json(400, {"error": {"code": "ErrorInvalidRequest",
                                               "message": "start and end are required"}})
        with self.lock:
            tx = ev.get("transactionId")
            ident = self.transactions.get(tx) if tx else None
            if ident is None or ident not in self.events:
                b = ev.get("body") or {}
                content = b.get("content", "")
                if str(b.get("contentType", "html")).lower() == "text":
                    content = text_to_html(content)
                atts = [_att(a["emailAddress"]["address"].lower(), "none", a.get("type", "required"),
                             a["emailAddress"].get("name")) for a in ev.get("attendees") or []]
                ident = self.add_event(ev.get("subject", ""), start, end, atts, body=content,
                                       tz=(ev["start"].get("timeZone") or "UTC"))
                self.events[ident]["transactionId"] = tx
                self.created += 1
                if tx:
                    self.transactions[tx] = ident
            out = self.render(self.events[ident], tz_name)
        h.send_json(201, out)

    # -- free/busy (calendar: getSchedule) ------------------------------------------------

    def _get_schedule(self, h: _Handler, body: bytes, tz_name: str, scope: str) -> None:
        """``POST /me/calendar/getSchedule`` as documented: one scheduleInformation per
        address asked, times in the ``Prefer: outlook.timezone`` zone (UTC if absent), an
        ``error`` entry for an address the tenant does not know. Needs Calendars.Read(Write)
        (or .ReadBasic) in the token; work accounts only, so refusals are 403."""
        granted = {s.rsplit("/", 1)[-1].lower() for s in scope.split()}
        if self.free_busy_refused or not granted & {
                "calendars.read", "calendars.readwrite", "calendars.readbasic"}:
            return h.send_json(403, {"error": {"code": "ErrorAccessDenied", "message":
                                               "Access is denied. Check credentials and try "
                                               "again."}})
        try:
            req = json.loads(body)
            asked = req["schedules"]
            start, end = _graph_dt(req["startTime"]), _graph_dt(req["endTime"])
            interval = int(req.get("availabilityViewInterval", 30))
            out_tz = _zone_from_graph(tz_name)
        except (ValueError, KeyError, TypeError, ZoneInfoNotFoundError) as exc:
            return h.send_json(400, {"error": {"code": "ErrorInvalidRequest",
                                               "message": f"fake: {exc}"}})
        if not isinstance(asked, list) or not asked or end <= start or not 5 <= interval <= 1440:
            return h.send_json(400, {"error": {"code": "ErrorInvalidRequest",
                                               "message": "schedules, period or interval"}})
        value = []
        for addr in asked:
            items = self._busy_items(str(addr).lower(), start, end)
            if items is None:
                value.append({"scheduleId": addr, "availabilityView": "", "scheduleItems": [],
                              "error": {"message": "The specified mailbox was not found.",
                                        "responseCode": "ErrorMailRecipientNotFound"}})
                continue
            value.append({
                "scheduleId": addr,
                "availabilityView": _availability(items, start, end, interval),
                "scheduleItems": [{"isPrivate": False, "status": status,
                                   "start": gtime(lo, out_tz, tz_name),
                                   "end": gtime(hi, out_tz, tz_name)}
                                  for lo, hi, status in items],
                "workingHours": {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday",
                                                "friday"],
                                 "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                                 "timeZone": {"name": "Pacific Standard Time"}},
            })
        h.send_json(200, {"@odata.context": f"{self.graph_url}/$metadata#Collection("
                                            "microsoft.graph.scheduleInformation)",
                          "value": value})

    def _busy_items(self, addr: str, start: datetime,
                    end: datetime) -> list[tuple[datetime, datetime, str]] | None:
        """What a mailbox shows for [start, end): its own items overlapping the period plus
        the signed-in user's meetings it attends (not declined); None for an unknown one."""
        if addr != self.user_email and addr not in self.schedules:
            return None
        items = [i for i in self.schedules.get(addr, []) if i[1] > start and i[0] < end]
        for ev in self.instances(start, end):
            if ev["isCancelled"]:
                continue
            who = {a["emailAddress"]["address"].lower(): a["status"]["response"]
                   for a in ev["attendees"]}
            org = ev["organizer"]["emailAddress"]["address"].lower()
            if addr == org or who.get(addr, "declined") != "declined":
                items.append((ev["_start"], ev["_start"] + ev["_duration"], "busy"))
        return sorted(items)

    def _window(self, q: dict[str, list[str]]) -> tuple[datetime, datetime]:
        def parse(v: str) -> datetime:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        return parse(q["startDateTime"][0]), parse(q["endDateTime"][0])

    def _calendar_view(self, h: _Handler, q: dict[str, list[str]], tz_name: str,
                       body_type: str, page_size: int) -> None:
        if "startDateTime" not in q or "endDateTime" not in q:
            return h.send_json(400, {"error": {"code": "ErrorInvalidParameter",
                                               "message": "startDateTime and endDateTime "
                                                          "are required"}})
        lo, hi = self._window(q)
        items = self.instances(lo, hi)
        skip = int(q.get("$skip", ["0"])[0])
        page = items[skip: skip + page_size]
        out: dict[str, Any] = {"value": [self.render(e, tz_name, body_type=body_type)
                                         for e in page]}
        if skip + page_size < len(items):
            nq = {k: v[0] for k, v in q.items()}
            nq["$skip"] = str(skip + page_size)
            out["@odata.nextLink"] = f"{self.graph_url}/me/calendarView?" + \
                urllib.parse.urlencode(nq)
        h.send_json(200, out)

    def _view_versions(self, lo: datetime, hi: datetime) -> dict[str, tuple[str, Any]]:
        """What a delta client should hold for [lo, hi): id -> (version, record)."""
        out: dict[str, tuple[str, Any]] = {}
        for ev in self.instances(lo, hi):
            if ev["type"] == "occurrence":
                out[ev["id"]] = (f"{ev['_start'].isoformat()}|{ev['_duration']}", ev)
                master = self.events[ev["seriesMasterId"]]
            elif ev["type"] == "exception":
                out[ev["id"]] = (ev["changeKey"], ev)
                master = self.events.get(ev["seriesMasterId"])
            else:
                out[ev["id"]] = (ev["changeKey"], ev)
                continue
            if master is not None:
                out[master["id"]] = (master["changeKey"], master)
        return out

    def _delta(self, h: _Handler, q: dict[str, list[str]], tz_name: str, body_type: str,
               page_size: int) -> None:
        if "$skiptoken" in q:
            st = self.skip_tokens.pop(q["$skiptoken"][0], None)
            if st is None:
                return h.send_json(410, {"error": {"code": "syncStateNotFound",
                                                   "message": "skip token expired"}})
            return self._delta_page(h, st)
        with self.lock:
            if "$deltatoken" in q:
                prev = self.delta_tokens.get(q["$deltatoken"][0])
                if prev is None:
                    return h.send_json(410, {"error": {
                        "code": "syncStateNotFound",
                        "message": "The sync state generation is not found."}})
                lo, hi, old = prev["lo"], prev["hi"], prev["versions"]
                quick = self.quick_delta and prev.get("generation") == self.generation
            else:
                quick = False
                if "startDateTime" not in q or "endDateTime" not in q:
                    return h.send_json(400, {"error": {"code": "ErrorInvalidParameter",
                                                       "message": "window required"}})
                lo, hi = self._window(q)
                old = {}
            if quick:
                token = uuid.uuid4().hex
                self.delta_tokens[token] = prev
                self.delta_served.append(0)
        if quick:
            return self._delta_page(h, {"items": [], "token": token, "size": page_size})
        with self.lock:
            now = self._view_versions(lo, hi)
            items: list[dict[str, Any]] = []
            for ident, (version, rec) in now.items():
                if old.get(ident, (None,))[0] != version:
                    items.append(self.render(rec, tz_name, minimal=rec["type"] == "occurrence",
                                             body_type=body_type))
            for ident in old:
                if ident not in now:
                    items.append({"@odata.type": "#microsoft.graph.event", "id": ident,
                                  "@removed": {"reason": "deleted"}})
            token = uuid.uuid4().hex
            self.delta_tokens[token] = {"lo": lo, "hi": hi, "versions": now,
                                        "generation": self.generation}
            self.delta_served.append(len(items))
        self._delta_page(h, {"items": items, "token": token, "size": page_size})

    def _delta_page(self, h: _Handler, st: dict[str, Any]) -> None:
        page, rest = st["items"][: st["size"]], st["items"][st["size"]:]
        out: dict[str, Any] = {"value": page}
        if rest:
            skip = uuid.uuid4().hex
            self.skip_tokens[skip] = {**st, "items": rest}
            out["@odata.nextLink"] = f"{self.graph_url}/me/calendarView/delta?$skiptoken={skip}"
        else:
            out["@odata.deltaLink"] = (f"{self.graph_url}/me/calendarView/delta?"
                                       f"$deltatoken={st['token']}")
        h.send_json(200, out)

    def forget_delta_tokens(self) -> None:
        with self.lock:
            self.delta_tokens.clear()

    def _patch(self, h: _Handler, ident: str, body: bytes, tz_name: str) -> None:
        with self.lock:
            ev = self.get(ident)
            if ev is None:
                return h.not_found()
            if_match = h.headers.get("If-Match")
            if if_match and if_match not in ("*", ev["@odata.etag"]):
                return h.send_json(412, {"error": {
                    "code": "ErrorIrresolvableConflict",
                    "message": "The send or update operation could not be performed because "
                               "the change key passed in the request does not match the "
                               "current change key for the item."}})
            try:
                changes = json.loads(body or b"{}")
            except ValueError:
                return h.send_json(400, {"error": {"code": "BadRequest", "message": "json"}})
            ev = self.materialise(ident) if ev["type"] == "occurrence" else ev
            if "body" in changes:
                b = changes["body"]
                content = b.get("content", "")
                if b.get("contentType", "html").lower() == "text":
                    content = text_to_html(content)  # Exchange stores HTML (docs-contrib#5291)
                if self.rewrite_body is not None:  # Exchange re-serialising what it stores
                    content = self.rewrite_body(content)
                ev["body"] = {"contentType": "html", "content": content}
            for key in ("subject", "isAllDay"):
                if key in changes:
                    ev[key] = changes[key]
            self._touch(ev)
            self.patches += 1
            if ev["isOrganizer"]:
                for a in ev["attendees"]:
                    self.notifications.append((ident, a["emailAddress"]["address"]))
            out = self.render(ev, tz_name)
        h.send_json(200, out)

    # -- drive ----------------------------------------------------------------------------

    def _item_json(self, item: dict[str, Any], q: dict[str, list[str]] | None = None
                   ) -> dict[str, Any]:
        out = {k: v for k, v in item.items() if not k.startswith("_")}
        out["@microsoft.graph.downloadUrl"] = f"{self.base}/download/{item['id']}?tempauth=x"
        sel = (q or {}).get("$select", [""])[0]
        if sel:
            # only the named properties; instance annotations such as the download URL are
            # dropped even when named (microsoftgraph/microsoft-graph-docs#20212)
            keep = {s.strip() for s in sel.split(",")} - {""}
            out = {k: v for k, v in out.items() if k in keep and not k.startswith("@")}
        return out

    def docx_text(self, item_id: str) -> str:
        data = self.drive[item_id]["_content"]
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            xml = z.read("word/document.xml").decode()
        paras = re.findall(r"<w:p[ >].*?</w:p>|<w:p/>", xml, flags=re.S)
        return "\n".join(html.unescape("".join(re.findall(r"<w:t[^>]*>([^<]*)</w:t>", p)))
                         for p in paras)

    def _drive(self, h: _Handler, method: str, p: str, q: dict[str, list[str]],
               body: bytes) -> None:
        m = re.fullmatch(r"/me/drive/root:/(.+):/content", p)
        if m and method == "PUT":
            name = urllib.parse.unquote(m.group(1))
            behaviour = q.get("@microsoft.graph.conflictBehavior", ["replace"])[0]
            with self.lock:
                same = [i for i in self.drive.values() if i["_path"] == name]
                if same and behaviour == "fail":
                    return h.send_json(409, {"error": {"code": "nameAlreadyExists",
                                                       "message": "exists"}})
                if same and behaviour == "rename":
                    stem, dot, ext = name.rpartition(".")
                    n = 1
                    while any(i["_path"] == f"{stem} {n}{dot}{ext}" for i in self.drive.values()):
                        n += 1
                    name = f"{stem} {n}{dot}{ext}"
                    same = []
                item = same[0] if same else {"id": f"01{uuid.uuid4().hex.upper()}",
                                             "_path": name, "_perms": []}
                self._store(item, name, body)
            return h.send_json(201 if not same else 200, self._item_json(item))
        if p == "/me/drive/root/delta" and method == "GET":
            token = q.get("token", [""])[0]
            with self.lock:
                seq = len(self.drive_changes)
                if token == "latest":
                    changed: list[str] = []
                elif token.isdigit() and int(token) <= seq:
                    changed = list(dict.fromkeys(self.drive_changes[int(token):]))
                else:  # no token: the whole drive
                    changed = list(self.drive)
                value = [self._item_json(self.drive[i]) for i in changed if i in self.drive]
            return h.send_json(200, {"value": value, "@odata.deltaLink":
                                     f"{self.graph_url}/me/drive/root/delta?token={seq}"})
        m = re.fullmatch(r"/me/drive/root:/(.+)", p)
        if m and method == "GET":
            name = urllib.parse.unquote(m.group(1))
            found = [i for i in self.drive.values() if i["_path"] == name]
            if not found:
                return h.send_json(404, {"error": {"code": "itemNotFound", "message": "no"}})
            return h.send_json(200, self._item_json(found[0], q))
        m = re.fullmatch(r"/me/drive/items/([^/]+)(/.*)?", p)
        if not m:
            return h.not_found()
        with self.lock:
            item = self.drive.get(m.group(1))
            if item is None:
                return h.send_json(404, {"error": {"code": "itemNotFound",
                                                   "message": "The resource could not be found."}})
            rest = m.group(2) or ""
            if method == "GET" and rest == "":
                return h.send_json(200, self._item_json(item, q))
            if method == "GET" and rest == "/content":
                return h.send_raw(302, b"", headers={
                    "Location": f"{self.base}/download/{item['id']}?tempauth=x"})
            if method == "PUT" and rest == "/content":
                if_match = h.headers.get("If-Match")
                if if_match and if_match not in (item["eTag"], item["cTag"]):
                    return h.send_json(412, {"error": {"code": "resourceModified",
                                                       "message": "ETag does not match"}})
                self._store(item, item["_path"], body)
                return h.send_json(200, self._item_json(item))
            if method == "POST" and rest == "/invite":
                try:
                    req = json.loads(body)
                except ValueError:
                    req = None
                if not isinstance(req, dict) or not req.get("recipients") or not req.get(
                        "roles") or not set(req["roles"]) <= {"read", "write"}:
                    return h.send_json(400, {"error": {
                        "code": "invalidRequest",
                        "message": "recipients and roles (read or write) are required"}})
                for r in req["recipients"]:
                    addr = str(r.get("email", "")).lower()
                    if addr in self.refuse_sharing or \
                            "@" + addr.rpartition("@")[2] in self.refuse_sharing:
                        return h.send_json(403, {"error": {
                            "code": "accessDenied",
                            "message": "Your organization's policies don't allow you to "
                                       f"share with {addr}."}})
                perms = []
                for r in req.get("recipients", []):
                    perm = {"id": uuid.uuid4().hex, "roles": req.get("roles", ["read"]),
                            "grantedTo": {"user": {"email": r.get("email")}},
                            "invitation": {"email": r.get("email"),
                                           "signInRequired": req.get("requireSignIn", True)}}
                    item["_perms"].append(perm)
                    perms.append(perm)
                return h.send_json(200, {"value": perms})
            if method == "POST" and rest == "/createLink":
                req = json.loads(body)
                link = {"type": req.get("type"), "scope": req.get("scope", "anonymous"),
                        "webUrl": f"https://contoso-my.sharepoint.com/:w:/g/{item['id']}"}
                existing = [x for x in item["_perms"] if x.get("link", {}).get("type") ==
                            link["type"] and x["link"]["scope"] == link["scope"]]
                if existing:
                    return h.send_json(200, existing[0])
                perm = {"id": uuid.uuid4().hex, "roles": ["write" if req.get("type") == "edit"
                                                          else "read"], "link": link}
                item["_perms"].append(perm)
                return h.send_json(201, perm)
        h.not_found()

    def _store(self, item: dict[str, Any], name: str, data: bytes) -> None:
        tag = uuid.uuid4().hex
        item.update({
            "name": name.rsplit("/", 1)[-1], "size": len(data), "_content": data,
            "eTag": f'"{{{item["id"]}}},{tag}"', "cTag": f'"c:{{{item["id"]}}},{tag}"',
            "webUrl": "https://contoso-my.sharepoint.com/personal/manager/Documents/"
                      + urllib.parse.quote(name),
            "file": {"mimeType": "application/vnd.openxmlformats-officedocument."
                                 "wordprocessingml.document"},
        })
        self.drive[item["id"]] = item
        self.drive_changes.append(item["id"])

    def human_edit_doc(self, item_id: str, transform: Any) -> None:
        """Someone edits the doc in the browser: ``transform(document_xml) -> xml``."""
        with self.lock:
            item = self.drive[item_id]
            src = zipfile.ZipFile(io.BytesIO(item["_content"]))
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
                for info in src.infolist():
                    data = src.read(info.filename)
                    if info.filename == "word/document.xml":
                        data = transform(data.decode()).encode()
                    out.writestr(info, data)
            self._store(item, item["_path"], buf.getvalue())


_VIEW_CODE = {"free": "0", "workingelsewhere": "0", "tentative": "1", "busy": "2", "oof": "3"}


def _graph_dt(value: dict[str, Any]) -> datetime:
    """A request's dateTimeTimeZone as an aware datetime."""
    naive = datetime.fromisoformat(str(value["dateTime"]).split(".")[0])
    return naive.replace(tzinfo=_zone_from_graph(value.get("timeZone")))


def _availability(items: list[tuple[datetime, datetime, str]], start: datetime, end: datetime,
                  minutes: int) -> str:
    """The merged view: per slot the strongest status (0 free … 3 out of office)."""
    step = timedelta(minutes=minutes)
    out, lo = [], start
    while lo < end:
        codes = [_VIEW_CODE.get(st.lower(), "0") for a, b, st in items if a < lo + step and lo < b]
        out.append(max(codes, default="0"))
        lo += step
    return "".join(out)


def _att(email: str, response: str = "none", kind: str = "required",
         name: str | None = None) -> dict[str, Any]:
    return {"type": kind, "status": {"response": response, "time": "0001-01-01T00:00:00Z"},
            "emailAddress": {"name": name or email, "address": email}}


def _expressible(c: Any) -> bool:
    rule = c.get("RRULE")
    if isinstance(rule, list):
        return False
    freq = (rule.get("FREQ") or [""])[0]
    if freq not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        return False
    allowed = {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "COUNT", "UNTIL", "WKST",
               "BYSETPOS"}
    if set(rule) - allowed:
        return False
    days = rule.get("BYDAY") or []
    if freq in ("DAILY", "WEEKLY") and any(re.match(r"[+-]?\d", str(d)) for d in days):
        return False
    if freq == "DAILY" and days:
        return False
    return len(rule.get("BYMONTHDAY") or []) <= 1


def _rrule_text(c: Any, default_tz: str) -> str:
    """The RRULE as Outlook keeps it: an end *date* (patternedRecurrence has no end time),
    so UNTIL becomes the end of its day in the series' zone."""
    text = str(c["RRULE"].to_ical().decode())
    m = re.search(r"UNTIL=(\d{8})(T(\d{6})(Z?))?", text)
    if not m:
        return text
    day = datetime.strptime(m.group(1), "%Y%m%d").date()
    start = c.decoded("DTSTART")
    if m.group(4) and isinstance(start, datetime):
        until = datetime.strptime(m.group(1) + m.group(3), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        tz = start.tzinfo if start.tzinfo is not None else ZoneInfo(default_tz)
        day = until.astimezone(tz).date()
    return text.replace(m.group(0), f"UNTIL={day.strftime('%Y%m%d')}T235959")


def _exdates(c: Any) -> list[Any]:
    raw = c.get("EXDATE")
    if raw is None:
        return []
    out = []
    for block in raw if isinstance(raw, list) else [raw]:
        out.extend(d.dt for d in block.dts)
    return out


def _tz_name(dt: datetime, default_tz: str) -> str:
    tz = dt.tzinfo
    if tz is None:
        return default_tz
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if key:
        return str(key)
    if dt.utcoffset() == timedelta(0):
        return "UTC"
    return default_tz


def _as_utc(dt: datetime | date, default_tz: str) -> datetime:
    if not isinstance(dt, datetime):
        return datetime.combine(dt, datetime.min.time(), tzinfo=UTC)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(default_tz) if default_tz != "UTC" else UTC)
    return dt.astimezone(UTC)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    state: FakeMicrosoft

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def send_raw(self, code: int, data: bytes, headers: dict[str, str] | None = None,
                 ctype: str = "application/json") -> None:
        entry = getattr(self, "_entry", None)
        if entry is not None:  # before the client can see the answer
            entry.status = code
        if getattr(self, "_reset", False):  # carried out, never answered
            self.close_connection = True
            return
        if getattr(self, "_late", 0.0):  # carried out, answered after the client gave up
            late, self._late = self._late, 0.0
            time.sleep(late)
            self.close_connection = True
            try:
                return self.send_raw(code, data, headers, ctype)
            except OSError:  # the client hung up: nobody hears the answer
                return
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self.send_raw(code, json.dumps(obj).encode(), headers)

    def not_found(self) -> None:
        self.send_json(404, {"error": {"code": "ErrorItemNotFound",
                                       "message": "The specified object was not found in the "
                                                  "store."}})

    def _dispatch(self) -> None:
        st = self.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        entry = Logged(self.command, u.path, q, dict(self.headers.items()), body)
        self._entry = entry
        with st.lock:
            st.log.append(entry)
            st.in_flight += 1
            st.peak_in_flight = max(st.peak_in_flight, st.in_flight)
        try:
            if st.latency:
                import time

                time.sleep(st.latency)
            fault = None
            self._reset = False
            with st.lock:
                action = st.fault_at(len(st.log) - 1, self.command, u.path) if st.fault_at else None
            if action == "revoke":  # takes effect where a token is used or refreshed
                st.revoke_all()
                action = 401 if u.path.startswith("/v1.0/") or u.path.endswith("/token") else None
            if isinstance(action, int):
                return self._injected(action, u.path)
            self._reset = action == "reset"
            self._late = float(action[1]) if isinstance(action, tuple) else 0.0
            if action == "kill":
                st.killed = True
            with st.lock:
                for f in st.faults:
                    if f.path in u.path and (f.method is None or f.method == self.command):
                        fault = f
                        f.times -= 1
                        if f.times <= 0:
                            st.faults.remove(f)
                        break
            if fault is not None and fault.status == 0:
                self.close_connection = True  # no answer at all: the client sees a reset
            elif fault is not None:
                code = fault.code or {429: "TooManyRequests", 503: "ServiceUnavailable",
                                      504: "GatewayTimeout"}.get(fault.status, "Error")
                self.send_json(fault.status, {"error": {"code": code, "message": "fake fault"}},
                               fault.headers)
            elif u.path.startswith("/v1.0/"):
                st.graph(self, self.command, u.path, q, body)
            elif u.path.startswith("/download/"):
                item = st.drive.get(u.path.split("/")[2])
                if item is None:
                    self.not_found()
                else:
                    self.send_raw(200, item["_content"], ctype="application/octet-stream")
            else:
                form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
                parts = [x for x in u.path.split("/") if x]
                st.identity(self, self.command, parts, form)
        finally:
            with st.lock:
                st.in_flight -= 1

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    def _injected(self, status: int, path: str) -> None:
        """The matrix's fault, shaped as the identity platform or Graph would answer it."""
        if not path.startswith("/v1.0/"):
            error = "invalid_grant" if status in (400, 401) else "server_error"
            description = (self.state.revoked_error if error == "invalid_grant"
                           else "AADSTS90033: A transient error has occurred. Try again.")
            return self.send_json(400 if error == "invalid_grant" else status,
                                  {"error": error, "error_description": description})
        code = {401: "InvalidAuthenticationToken", 412: "ErrorIrresolvableConflict",
                429: "TooManyRequests", 503: "ServiceUnavailable"}.get(status, "generalException")
        headers = {"Retry-After": "2"} if status in (429, 503) else {}
        self.send_json(status, {"error": {"code": code, "message": "Injected fault"}}, headers)


def make_tls() -> tuple[Any, ssl.SSLContext]:
    """A trustme CA and a server context for 127.0.0.1/localhost."""
    import trustme

    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ca, ctx
