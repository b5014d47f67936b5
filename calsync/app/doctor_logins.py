"""``calsync doctor``'s checks of a Google or Microsoft login: the login file and its
mode, a real refresh, the granted scopes, the clock against the server's ``Date``."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from calsync.app.doctor_check import Check, Clock
from calsync.backends.google.config import GoogleCalendar
from calsync.backends.microsoft.config import MicrosoftCalendar
from calsync.errors import AuthError, CalsyncError, ConfigError

MAX_SKEW = timedelta(minutes=2)
TESTING_LIFETIME = timedelta(days=7)  # Google logins of apps in "Testing" status
SETUP_GOOGLE, SETUP_MICROSOFT = "run `calsync setup google`", "run `calsync setup microsoft`"

# A granted scope that includes a needed one (Google: broader scopes; Graph: .All, write).
_GOOGLE_COVERS = {
    "https://www.googleapis.com/auth/calendar.events": {"https://www.googleapis.com/auth/calendar"},
    "https://www.googleapis.com/auth/calendar.events.readonly": {
        "https://www.googleapis.com/auth/calendar",
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/calendar.events",
    },
    "https://www.googleapis.com/auth/drive.file": {"https://www.googleapis.com/auth/drive"},
}
_GRAPH_COVERS = {
    "calendars.read": {"calendars.readwrite", "calendars.read.all", "calendars.readwrite.all"},
    "calendars.readwrite": {"calendars.readwrite.all"},
    "files.readwrite": {"files.readwrite.all"},
}



def token_file_checks(name: str, path: Path | None, setup: str) -> Iterator[Check]:
    """The login file exists and is private; the caller stops at a failure (calsync will not
    use a login others can read, so refreshing it would only repeat the same problem)."""
    if path is None or not path.exists():
        yield Check(name, False, f"no login saved at {path}", setup, AuthError.exit_code)
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        yield Check(name, False, f"{path} has mode {mode:04o}: others can read the login",
                    f"chmod 600 {path}", AuthError.exit_code)  # run refuses it too (exit 3)
    else:
        yield Check(name, True, f"{path} (mode 0600)")


def skew_check(label: str, server_date: str | None, clock: Clock) -> Check:
    """This machine's clock against the server's ``Date`` header; more than two minutes off fails.
    An absent or unreadable header passes, as nothing can be measured."""
    name = f"clock vs {label}"
    if not server_date:
        return Check(name, True, "the server sent no Date header; not measurable")
    try:
        server = parsedate_to_datetime(server_date)
    except (TypeError, ValueError):
        return Check(name, True, f"the server's Date header {server_date!r} is not a date")
    skew = clock() - server
    seconds = skew.total_seconds()
    detail = f"this machine is {abs(seconds):.0f} s {'ahead of' if seconds > 0 else 'behind'} the server"
    if abs(skew) > MAX_SKEW:
        return Check(name, False, detail,
                     "synchronise the system clock (e.g. `sudo timedatectl set-ntp true`)")
    return Check(name, True, detail if abs(seconds) >= 1 else "in step with the server")


def missing_scopes(needed: tuple[str, ...] | list[str], granted: set[str],
                   covers: dict[str, set[str]]) -> list[str]:
    """The needed scopes neither granted nor covered by a broader granted one."""
    return [s for s in needed if s not in granted and not covers.get(s, set()) & granted]


def testing_note(login_at: datetime | None, now: datetime) -> str:
    """What can be told about the 7-day expiry of Google apps in "Testing" status."""
    if login_at is None:
        return ("when this login was made is not recorded (set up by an older calsync); "
                "if the OAuth consent screen is in \"Testing\", Google ends logins 7 days "
                "after setup")
    age = now - login_at
    if age > TESTING_LIFETIME:
        return (f"logged in {age.days} days ago and still refreshing, so the app is not in "
                "\"Testing\" (no 7-day expiry)")
    left = TESTING_LIFETIME - age
    ends = (login_at + TESTING_LIFETIME).date().isoformat()
    return (f"logged in {age.days} day{'s' * (age.days != 1)} ago; if the OAuth consent screen "
            f"is in \"Testing\", this login ends on {ends} ({left.days} days left; set it "
            "\"In production\" to keep it)")


def google_checks(cal: GoogleCalendar, clock: Clock) -> Iterator[Check]:
    """A Google login: its file, a real refresh, the granted scopes, the calendar and the clock.
    Stops at the first failure the later checks depend on."""
    from calsync.backends.google.auth import READ_ONLY_SCOPES, SCOPES

    name = f"login {cal.name}"
    files = list(token_file_checks(name, cal.token_file, SETUP_GOOGLE))
    yield from files
    if not files[-1].ok:
        return
    import logging

    import google_auth_httplib2
    import httplib2
    from google.auth.exceptions import RefreshError, TransportError

    from calsync.backends.google.auth import TokenFileLogin
    from calsync.backends.google.client import quiet_client_loggers

    logging.getLogger("google.oauth2").setLevel(logging.ERROR)
    quiet_client_loggers()
    assert cal.token_file is not None
    login = TokenFileLogin(cal.token_file, cal.name)
    try:
        creds = login.credentials()
        creds.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=15)))
    except AuthError as exc:
        yield Check(name, False, str(exc), SETUP_GOOGLE, AuthError.exit_code)
        return
    except RefreshError as exc:
        yield Check(name, False, f"Google refused to refresh the login ({_first(exc)})",
                    f"{SETUP_GOOGLE}; {_testing_hint()}", AuthError.exit_code)
        return
    except (OSError, TransportError, httplib2.HttpLib2Error) as exc:
        yield Check(name, False, f"Google's token endpoint is unreachable ({type(exc).__name__})",
                    "check the network, proxy and the token_uri in the login file")
        return
    login.save()
    info = json.loads(cal.token_file.read_text(encoding="utf-8"))
    login_at = _parse_time(info.get("calsync_login_at"))
    yield Check(f"{name} refresh", True, testing_note(login_at, clock()))
    granted = set(creds.granted_scopes or info.get("scopes") or [])
    needed = READ_ONLY_SCOPES if cal.read_only else SCOPES
    lacking = missing_scopes(needed, granted, _GOOGLE_COVERS)
    yield Check(f"{name} scopes", not lacking,
                f"lacks {', '.join(lacking)}" if lacking else "has every scope calsync needs",
                f"{SETUP_GOOGLE} and allow all the access it asks for", AuthError.exit_code)

    root = (cal.api_url or "https://www.googleapis.com").rstrip("/")
    from urllib.parse import quote

    url = f"{root}/calendar/v3/calendars/{quote(cal.calendar_id, safe='')}/events?maxResults=1"
    http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=15))
    try:
        resp, body = http.request(url, "GET")
    except (OSError, TransportError, httplib2.HttpLib2Error) as exc:
        yield Check(f"calendar {cal.name}", False,
                    f"Google Calendar API unreachable at {root} ({type(exc).__name__})",
                    "check the network, a proxy, and `api_url` in the config")
        return
    yield _google_answer(cal, int(resp.status), body)
    yield skew_check("Google", resp.get("date"), clock)


def _google_answer(cal: GoogleCalendar, status: int, body: bytes) -> Check:
    name = f"calendar {cal.name}"
    if status == 200:
        return Check(name, True, f"Google calendar {cal.calendar_id!r} answers")
    try:
        err = json.loads(body)["error"]
        reason = (err.get("errors") or [{}])[0].get("reason") or err.get("status") or ""
        message = str(err.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        reason, message = "", ""
    if status == 404:
        return Check(name, False, f"Google has no calendar {cal.calendar_id!r} for this login",
                     "fix `calendar_id` in the config (\"primary\" is your own)")
    if reason in ("accessNotConfigured", "SERVICE_DISABLED"):
        return Check(name, False, "the Google Calendar API is not enabled in your Cloud project",
                     "enable it under APIs & Services → Library (see docs/google.md)")
    return Check(name, False, f"Google answered HTTP {status} {reason} {message}".strip(),
                 SETUP_GOOGLE if status in (401, 403) else "see docs/google.md",
                 AuthError.exit_code if status in (401, 403) else 4)


def _testing_hint() -> str:
    return ("if this happens about every 7 days, set the OAuth consent screen's publishing "
            "status to \"In production\"")


def microsoft_checks(cal: MicrosoftCalendar, clock: Clock) -> Iterator[Check]:
    """A Microsoft login: its file, a forced refresh, the granted scopes, the calendar and the clock.
    Stops at the first failure the later checks depend on."""
    from calsync.backends.microsoft.auth import TokenSource, scopes_for
    from calsync.backends.microsoft.graph import Graph
    from calsync.backends.retry import RetryPolicy
    from calsync.errors import ProviderError

    name = f"login {cal.name}"
    files = list(token_file_checks(name, cal.token_file, SETUP_MICROSOFT))
    yield from files
    if not files[-1].ok:
        return
    try:
        tokens = TokenSource(cal)
        tokens.token(force_refresh=True)
    except ConfigError as exc:
        yield Check(name, False, str(exc), "run `calsync setup microsoft --client-id ID`",
                    ConfigError.exit_code)
        return
    except AuthError as exc:
        yield Check(name, False, str(exc), SETUP_MICROSOFT, AuthError.exit_code)
        return
    except CalsyncError as exc:
        yield Check(name, False, str(exc), "check the network, a proxy and `authority_url`")
        return
    who = f" as {tokens.username}" if tokens.username else ""
    yield Check(f"{name} refresh", True,
                f"refreshed{who} (Microsoft logins last while used at least every 90 days)")
    assert cal.token_file is not None
    granted = _graph_scopes(cal.token_file)
    lacking = missing_scopes([s.lower() for s in scopes_for(cal.read_only)], granted, _GRAPH_COVERS)
    yield Check(f"{name} scopes", not lacking,
                f"lacks {', '.join(lacking)}" if lacking else "has every permission calsync needs",
                f"{SETUP_MICROSOFT} and consent to every permission (an admin may have to)",
                AuthError.exit_code)
    graph = Graph(cal.graph_url, tokens, policy=RetryPolicy(tries=1), mailbox=cal.mailbox)
    try:
        resp = graph.request("GET", f"{graph.mailbox}/calendars", params={"$select": "name"})
        names = [str(c.get("name")) for c in resp.json().get("value", [])]
    except AuthError as exc:
        yield Check(f"calendar {cal.name}", False, str(exc), SETUP_MICROSOFT, AuthError.exit_code)
        return
    except (ProviderError, ValueError, AttributeError) as exc:
        yield Check(f"calendar {cal.name}", False, f"Microsoft Graph at {cal.graph_url}: {exc}",
                    "check the network, a proxy and `graph_url`")
        return
    finally:
        graph.close()
    if cal.calendar and cal.calendar not in names:
        yield Check(f"calendar {cal.name}", False, f"no Outlook calendar named {cal.calendar!r} "
                    f"(there are: {', '.join(names) or 'none'})", "fix `calendar` in the config")
    else:
        yield Check(f"calendar {cal.name}", True,
                    f"Outlook calendar {cal.calendar or '(your main calendar)'} answers")
    yield skew_check("Microsoft Graph", resp.headers.get("date"), clock)


def _graph_scopes(token_file: Path) -> set[str]:
    """The scopes of the access tokens in an msal cache (file format: msal's JSON)."""
    try:
        cache = json.loads(token_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    out: set[str] = set()
    for entry in (cache.get("AccessToken") or {}).values():
        for scope in str(entry.get("target", "")).split():
            out.add(scope.rsplit("/", 1)[-1].lower())
    return out


def _first(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return " ".join(text.split())[:160]


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
