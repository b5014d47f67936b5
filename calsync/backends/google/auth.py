"""Who calsync is on Google: the scopes it asks for and the login it runs with.

A :class:`Login` is the credential seam: the provider and the doc backend get one and
never read token files themselves. :class:`TokenFileLogin` is the installed-app login
``calsync setup google`` saves (google-auth's authorized-user JSON, mode 0600), refreshed
by google-auth and written back when the access token changed. A service account acting
for a subject (organisation runs) is another :class:`Login`.

google-auth is imported only when credentials are built.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from calsync.errors import AuthError

_AUTH = "https://www.googleapis.com/auth/"
# Scopes: the least the features need (docs/google.md §4). Read-only calendars never
# write and create no docs, so they ask for the read-only events scope.
SCOPES = (f"{_AUTH}calendar.events", f"{_AUTH}drive.file")
READ_ONLY_SCOPES = (f"{_AUTH}calendar.events.readonly",)
# freeBusy.query for the counterpart's busy times (make-up slots). ``calendar.freebusy``
# covers only "your availability"; this one "the availability on Google calendars you
# have access to". Asked for at setup, but optional: a login without it still runs.
FREEBUSY_SCOPE = f"{_AUTH}calendar.events.freebusy"
# Every scope freeBusy.query accepts (the Calendar v3 discovery document).
FREEBUSY_SCOPES = frozenset({
    f"{_AUTH}calendar", f"{_AUTH}calendar.readonly", f"{_AUTH}calendar.freebusy", FREEBUSY_SCOPE,
})


def setup_scopes(read_only: bool) -> list[str]:
    """What ``calsync setup google`` asks for: the needed scopes plus free/busy."""
    return [*(READ_ONLY_SCOPES if read_only else SCOPES), FREEBUSY_SCOPE]


SETUP_HINT = (
    "run `calsync setup google` to log in again. If this happens about every 7 days, the "
    "OAuth consent screen of your Google Cloud project is in \"Testing\" status, where "
    "Google expires logins after 7 days: set its publishing status to \"In production\" "
    "(or make it an Internal app in a Workspace organisation)"
)


class Login(Protocol):
    """A source of Google credentials for one calendar's requests."""

    label: str  # the calendar's name, for messages

    def credentials(self) -> Any:
        """google-auth credentials; :class:`AuthError` when there is no usable login."""
        ...

    def granted(self) -> frozenset[str] | None:
        """The scopes the login is known to hold, or None when it cannot tell."""
        ...

    def save(self) -> None:
        """Persist a refreshed access token (a no-op when nothing changed)."""
        ...

    def refused(self, exc: Exception) -> AuthError:
        """A ``RefreshError`` as the "log in again" error, with the server's reason."""
        ...


class TokenFileLogin:
    """The installed-app login saved by ``calsync setup google`` in ``token_file``."""

    def __init__(self, token_file: Path, label: str) -> None:
        self.token_file = token_file
        self.label = label
        self._creds: Any = None
        self._saved_token: str | None = None
        self._info: dict[str, Any] = {}

    def _read(self) -> dict[str, Any]:
        from calsync.paths import require_private

        require_private(self.token_file, self.label)
        try:
            info = json.loads(self.token_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AuthError(
                f"{self.label}: no Google login saved at {self.token_file}; "
                "run `calsync setup google`"
            ) from None
        except (OSError, ValueError) as exc:
            raise AuthError(
                f"{self.label}: cannot read the Google login at {self.token_file} "
                f"({type(exc).__name__}); run `calsync setup google`"
            ) from None
        if not isinstance(info, dict):
            raise AuthError(
                f"{self.label}: the Google login at {self.token_file} is not a login saved by "
                f"calsync (JSON {type(info).__name__}, not an object); "
                "run `calsync setup google`"
            )
        missing = [k for k in ("refresh_token", "client_id", "client_secret") if not info.get(k)]
        if missing:
            raise AuthError(
                f"{self.label}: the Google login at {self.token_file} lacks "
                f"{', '.join(missing)}; run `calsync setup google`"
            )
        return info

    def credentials(self) -> Any:
        """The token file's credentials, built once per run (with the file's own ``token_uri``)."""
        if self._creds is not None:
            return self._creds
        info = self._read()
        from google.oauth2.credentials import Credentials

        # Built by hand: Credentials.from_authorized_user_info ignores the file's token_uri.
        self._creds = Credentials(  # type: ignore[no-untyped-call]
            token=info.get("token"),
            refresh_token=info["refresh_token"],
            token_uri=info.get("token_uri") or "https://oauth2.googleapis.com/token",
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            scopes=info.get("scopes"),
            expiry=_expiry(info.get("expiry")),
        )
        self._info = info
        self._saved_token = info.get("token")
        return self._creds

    def granted(self) -> frozenset[str] | None:
        """What Google said it granted at the last refresh in this run, else what the
        file lists (the scopes setup asked for: a box left unchecked is not seen)."""
        live = getattr(self.credentials(), "granted_scopes", None)
        if live:
            return frozenset(str(s) for s in live)
        scopes = self._info.get("scopes")
        if isinstance(scopes, str):
            scopes = scopes.split()
        if not isinstance(scopes, list) or not scopes:
            return None
        return frozenset(str(s) for s in scopes)

    def save(self) -> None:
        """Write a refreshed access token back to the token file (0600, atomic)."""
        creds = self._creds
        if creds is None or creds.token == self._saved_token or not creds.token:
            return
        from calsync.paths import write_private

        info = dict(self._info)
        info.update(json.loads(creds.to_json()))
        write_private(self.token_file, json.dumps(info, indent=2) + "\n")
        self._info = info
        self._saved_token = creds.token

    def refused(self, exc: Exception) -> AuthError:
        """The "log in again" error; ``invalid_grant`` reads as refused, anything else as failed."""
        text = str(exc.args[0]) if exc.args else ""
        kind = "refused" if "invalid_grant" in text else "failed"
        # the server's words name the cause ("Token has been expired or revoked"); no secrets
        summary = re.sub(r"\s+", " ", text)[:160]
        return AuthError(f"{self.label}: Google refresh of the login {kind} ({summary}); {SETUP_HINT}")


def _expiry(value: Any) -> datetime | None:
    """The saved expiry as google-auth compares it: naive UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).rstrip("Z"))
    except ValueError:
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
