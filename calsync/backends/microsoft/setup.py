"""``calsync setup microsoft``: log in once, keep the msal token cache, record the calendar.

The device-code flow is the default (it works over SSH on a headless server); ``--browser``
uses msal's interactive flow, which listens on ``http://localhost``. The cache is written
with mode 0600 at the calendar's ``token_file``, replacing what was there (a new login,
possibly as another user, never joins an old one); the ``[[calendars]]`` entry is added or
updated in the config file, keeping everything else in it as written.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calsync.errors import AuthError, ConfigError

DEFAULT_TENANT = "organizations"


def _existing_entry(config_path: Path, client_id: str | None) -> dict[str, Any] | None:
    if not config_path.exists():
        return None
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{config_path}: cannot read config: {exc}") from None
    entries = [c for c in data.get("calendars", []) if isinstance(c, dict)
               and c.get("provider") == "microsoft"]
    for c in entries:
        if client_id is None or c.get("client_id") == client_id:
            return dict(c)
    blank = [c for c in entries if not c.get("client_id")]  # written by hand, waiting for an ID
    return dict(blank[0]) if blank else None


def _match_keys(existing: dict[str, Any] | None) -> tuple[str, ...]:
    """How to find the entry again in the file: by client ID, or by its name (or the lack of
    one: two unnamed Microsoft entries would already clash) when it had no client ID yet;
    matching by client ID there would append a second entry of the same name."""
    if existing is None or existing.get("client_id"):
        return ("provider", "client_id")
    return ("provider", "name")


def _has_owner(config_path: Path) -> bool:
    if not config_path.exists():
        return False
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return bool(data.get("owner"))


def setup(
    config_path: Path,
    client_id: str | None,
    tenant: str,
    browser: bool,
    read_only: bool,
    *,
    echo: Callable[[str], None] | None = None,
) -> str:
    """Log in to Microsoft 365 and record the calendar; returns a one-line message."""
    import msal

    from calsync.app.config_edit import upsert_calendar
    from calsync.backends.microsoft.auth import build_msal_app, scopes_for
    from calsync.config import parse
    from calsync.paths import write_private

    say = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    existing = _existing_entry(config_path, client_id)
    client_id = client_id or (existing or {}).get("client_id")
    if not client_id:
        raise ConfigError(
            "Microsoft setup needs the Application (client) ID of your app registration: "
            "`calsync setup microsoft --client-id ID` (see docs/microsoft.md)"
        )
    entry: dict[str, object] = dict(existing or {})
    entry.update(provider="microsoft", client_id=client_id)
    if tenant and (tenant != DEFAULT_TENANT or "tenant" in entry):
        entry["tenant"] = tenant
    if read_only:
        entry["read_only"] = True
    elif "read_only" in entry:
        entry["read_only"] = False
    # The calendar as the config will read it (defaults and relative paths resolved).
    cal = parse({"owner": {"email": "setup@calsync.invalid"}, "calendars": [entry]},
                config_path).calendars[0]
    assert cal.provider == "microsoft" and cal.token_file is not None
    # A new login replaces the cache instead of joining it: the run takes the cache's one
    # account, so an old account left in it (another user, an earlier login) would keep
    # being used. The old file stays as it was until the new login has succeeded.
    cache = msal.SerializableTokenCache()
    try:
        app = build_msal_app(client_id, cal.authority_url, cal.tenant, cache)
    except ValueError as exc:
        raise AuthError(f"Microsoft sign-in service unreachable: {exc}") from None
    scopes = scopes_for(cal.read_only)
    if browser:
        result = app.acquire_token_interactive(scopes, prompt="select_account")
    else:
        flow = app.initiate_device_flow(scopes=scopes)
        if "user_code" not in flow:
            raise AuthError("Microsoft refused to start the device-code login: "
                            f"{flow.get('error')}: {flow.get('error_description', '')}"
                            " (is 'Allow public client flows' enabled on the app?)")
        say(str(flow["message"]))
        result = app.acquire_token_by_device_flow(flow)
    if not result or "access_token" not in result:
        err = (result or {}).get("error", "no token")
        desc = str((result or {}).get("error_description", "")).split("\n", 1)[0]
        raise AuthError(f"Microsoft login failed: {err}: {desc}")
    claims = result.get("id_token_claims") or {}
    username = str(claims.get("preferred_username") or claims.get("email") or "").lower()
    write_private(cal.token_file, cache.serialize())
    owner = username if username and not _has_owner(config_path) else None
    upsert_calendar(config_path, entry, match_keys=_match_keys(existing), owner_email=owner)
    mode = "read-only" if cal.read_only else "read-write"
    who = username or "your account"
    return (f"Logged in to Microsoft 365 as {who} ({mode}); calendar {cal.name!r} "
            f"saved in {config_path}, login kept in {cal.token_file}")
