"""``calsync setup google``: the installed-app OAuth flow, once, interactively.

The user's browser grants access on Google's consent page, which redirects to a loopback
listener started here (no copy/paste "out-of-band" flow: Google blocked it in 2023). With
``--no-browser`` the URL is printed, for use over ``ssh -L PORT:localhost:PORT``. The login
is saved as google-auth's authorized-user JSON (mode 0600) at the calendar's
``token_file``, and the ``[[calendars]]`` entry is added to the config or updated.
``calsync run`` never starts this flow; it exits with the "log in again" code instead.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calsync.errors import AuthError, ConfigError

PROMPT = (
    "Open this URL in a browser to let calsync read your calendar{what}:\n\n    {{url}}\n\n"
    "(On a server without a browser: run setup with --no-browser --port N, forward the port "
    "from your laptop with `ssh -L N:localhost:N server`, then open the URL there.)"
)
SUCCESS = "calsync is now allowed to use your Google calendar. You can close this tab."


def _entry(config_path: Path, calendar_id: str) -> dict[str, Any]:
    """The existing google entry for this calendar id, with paths resolved, or {}."""
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{config_path}: cannot read config: {exc}") from None
    for cal in data.get("calendars") or []:
        if (
            isinstance(cal, dict)
            and cal.get("provider") == "google"
            and cal.get("calendar_id", "primary") == calendar_id
        ):
            out = dict(cal)
            for key in ("token_file", "client_secrets"):
                if isinstance(out.get(key), str):
                    p = Path(out[key]).expanduser()
                    out[key] = p if p.is_absolute() else config_path.parent / p
            return out
    return {}


def _check_client(path: Path) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: OAuth client file not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not an OAuth client JSON file ({exc})") from None
    if not isinstance(data, dict) or "installed" not in data:
        kind = next(iter(data), "unknown") if isinstance(data, dict) and data else "unknown"
        raise ConfigError(
            f"{path}: this OAuth client is of type {kind!r}; calsync needs a \"Desktop app\" "
            "client (Google Cloud console → APIs & Services → Credentials → Create "
            "credentials → OAuth client ID → Desktop app)"
        )


def _verify(token_file: Path, existing: dict[str, Any], calendar_id: str) -> str | None:
    """One events.list with the new login: the calendar exists and is readable.

    Returns the owner's address when it is the primary calendar (its summary is the address).
    """
    from calsync.backends.google.auth import TokenFileLogin
    from calsync.backends.google.client import Session
    from calsync.backends.retry import RetryPolicy
    from calsync.errors import ProviderError

    api_url = existing.get("api_url")
    label = f"google {calendar_id}"
    session = Session(TokenFileLogin(token_file, label),
                      api_url if isinstance(api_url, str) else None, RetryPolicy(tries=3), label)
    from googleapiclient.errors import HttpError

    req = session.service("calendar", "v3").events().list(calendarId=calendar_id, maxResults=1)
    try:
        resp = session.execute(req, retry=True, what="checking the calendar")
    except HttpError as exc:
        raise ProviderError(
            f"logged in, but Google calendar {calendar_id!r} cannot be read "
            f"(HTTP {exc.status_code}); check --calendar-id"
        ) from None
    session.save()
    summary = str(resp.get("summary") or "")
    return summary.lower() if calendar_id == "primary" and "@" in summary else None


def setup(
    config_path: Path,
    client_secrets: Path | None,
    no_browser: bool,
    port: int,
    calendar_id: str,
    read_only: bool,
) -> str:
    """``calsync setup google``: log in in the browser, save the login (0600), check the calendar
    answers, and add or update its entry in the config. Returns the line to print."""
    from calsync.backends.google.auth import setup_scopes
    from calsync.backends.google.config import default_token_file
    from calsync.paths import write_private

    config_path = config_path.expanduser()
    existing = _entry(config_path, calendar_id)
    secrets = client_secrets or existing.get("client_secrets")
    if secrets is None:
        raise ConfigError(
            "calsync setup google needs the OAuth client file: pass --client-secrets FILE "
            "(the JSON downloaded for a \"Desktop app\" client; see docs/google.md)"
        )
    secrets = Path(secrets).expanduser().resolve()
    _check_client(secrets)
    token_file = Path(
        existing.get("token_file") or default_token_file(calendar_id)
    )

    from google_auth_oauthlib.flow import InstalledAppFlow

    scopes = setup_scopes(read_only)
    flow = InstalledAppFlow.from_client_secrets_file(str(secrets), scopes=scopes)
    what = " (read-only)" if read_only else " and write agendas into your 1on1 invites"
    try:
        creds = flow.run_local_server(
            host="localhost",
            port=port,
            open_browser=not no_browser,
            authorization_prompt_message=PROMPT.format(what=what),
            success_message=SUCCESS,
            timeout_seconds=600,
            access_type="offline",  # a refresh token, so cron runs need no browser
            prompt="consent",  # ask again even if granted before, so Google re-issues one
        )
    except Exception as exc:  # oauthlib's and the listener's errors share no base class
        reason = str(exc).split("\n")[0][:200]
        raise AuthError(f"Google login did not complete: {type(exc).__name__}: {reason}") from None
    if creds is None:
        raise AuthError("Google login did not complete (no answer within 10 minutes)")
    if not creds.refresh_token:
        raise AuthError(
            "Google returned no refresh token: check that the OAuth client is a \"Desktop "
            "app\" client, then run `calsync setup google` again"
        )
    saved = json.loads(creds.to_json())
    saved["calsync_login_at"] = datetime.now(UTC).isoformat()  # for doctor's 7-day note
    write_private(token_file, json.dumps(saved) + "\n")

    owner_email = _verify(token_file, existing, calendar_id)
    entry: dict[str, object] = {"provider": "google", "calendar_id": calendar_id,
                                "client_secrets": str(secrets), "read_only": read_only}
    # token_file: an existing entry keeps its own (relative paths stay relative); else the
    # config's default location is where the login was saved
    match: tuple[str, ...] = ("provider", "calendar_id")
    if existing.get("name"):
        entry["name"] = existing["name"]
        match = ("provider", "name")
    elif existing and "calendar_id" not in existing:
        match = ("provider",)
    from calsync.app.config_edit import upsert_calendar

    upsert_calendar(config_path, entry, match, owner_email=owner_email)
    mode = "read-only" if read_only else "read and write"
    return (
        f"Google calendar {calendar_id!r} connected ({mode}); login saved to {token_file}, "
        f"config updated: {config_path}"
    )


# -- organisations: a service account with domain-wide delegation -------------------------

ORG_SNIPPET = """[[organizations]]
name = "{name}"
provider = "google"
service_account = "{key}"
admin = "{admin}"
groups = ["managers@{domain}"]  # or: members = [...], or: directory = true
read_only = {read_only}
"""


def _token_refusal(key: Any, subject: str, scopes: tuple[str, ...], entry: tuple[str, ...]) -> str | None:
    """One token request for ``subject``: None when Google issues it, else the reason."""
    import google_auth_httplib2
    import httplib2
    from google.auth.exceptions import RefreshError, TransportError

    from calsync.backends.google.service_account import refusal

    creds = key.base.with_scopes(list(scopes)).with_subject(subject)
    try:
        creds.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=20)))
    except RefreshError as exc:
        return str(refusal(exc, "setup", subject, key.client_id, entry)).removeprefix("setup: ")
    except (TransportError, OSError, httplib2.HttpLib2Error) as exc:
        raise AuthError(f"cannot reach Google's token endpoint {key.token_uri} "
                        f"({type(exc).__name__})") from None
    return None


def setup_service_account(config_path: Path, key_path: Path, admin: str,
                          check_user: str | None, read_only: bool, name: str) -> str:
    """``calsync setup google --service-account KEY --admin ADDRESS``: checks the key, then
    that Google issues a token as the admin for the directory scopes and as one user for
    the calendar scopes; returns the ``[[organizations]]`` entry to add. A refusal names
    the client id and the exact scope list for the Admin console."""
    from calsync.backends.google.service_account import (
        DIRECTORY_SCOPES,
        ServiceAccountKey,
        delegation_hint,
        owner_scopes,
    )

    key_path = key_path.expanduser().resolve()
    key = ServiceAccountKey.load(key_path, "")
    admin = admin.strip().lower()
    user = (check_user or admin).strip().lower()
    calendar = owner_scopes(read_only)
    entry = (*calendar, *DIRECTORY_SCOPES)
    problems = [p for p in (_token_refusal(key, admin, DIRECTORY_SCOPES, entry),
                            _token_refusal(key, user, calendar, entry)) if p]
    if problems:
        if len(problems) == 2 and all("unauthorized_client" in p for p in problems):
            raise AuthError(f"domain-wide delegation is not set up for {key.client_email}: "
                            f"{delegation_hint(key.client_id, entry)}")
        raise AuthError("; ".join(dict.fromkeys(problems)))
    snippet = ORG_SNIPPET.format(name=name, key=key_path, admin=admin,
                                 domain=admin.partition("@")[2],
                                 read_only=str(read_only).lower())
    return (f"Domain-wide delegation works for {key.client_email} (client ID {key.client_id}): "
            f"directory as {admin}, calendars as {user}.\n"
            f"Add this to {config_path.expanduser()} and name the owners:\n\n{snippet}")
