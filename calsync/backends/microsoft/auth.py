"""Signing in to Microsoft 365: the msal public client and its 0600 token cache.

A run never prompts: :class:`TokenSource` takes the one account in the cache and refreshes
silently, under a file lock so two processes never rotate the same refresh token at once.
Scopes are the least calsync needs (calendar read for read-only; calendar and files
read/write otherwise); msal adds its reserved ones itself. msal and requests are imported
only when a token is needed (start-up stays fast for runs without Microsoft calendars).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calsync.errors import AuthError, ConfigError, ProviderError
from calsync.paths import require_private, write_private

if TYPE_CHECKING:
    from calsync.backends.microsoft.config import MicrosoftCalendar

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
SCOPES_READ_WRITE = ["Calendars.ReadWrite", "Files.ReadWrite"]
SCOPES_READ_ONLY = ["Calendars.Read"]
SETUP_HINT = "run `calsync setup microsoft` to log in again"

def scopes_for(read_only: bool) -> list[str]:
    """The least scopes: calendar read for read-only, calendar and files read/write otherwise.

    Never includes msal's reserved scopes (openid, profile, offline_access): msal adds them.
    """
    return list(SCOPES_READ_ONLY if read_only else SCOPES_READ_WRITE)


def ca_bundle() -> str | None:
    """The CA file the environment asks for: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE.

    requests lets the first two override an explicit ``verify`` (psf/requests#3829), so
    they win here too: msal (requests) and Graph (httpx) then trust the same CAs.
    """
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(var)
        if value:
            return value
    return None


def msal_http_client() -> Any:
    """A requests session for msal whose trust follows :func:`ca_bundle`."""
    import requests

    session = requests.Session()
    ca = ca_bundle()
    if ca:
        session.verify = ca
    return session


def build_msal_app(client_id: str, authority_url: str, tenant: str, cache: Any) -> Any:
    """An msal public client on ``cache``, trusting the CAs :func:`ca_bundle` names."""
    import msal

    kwargs: dict[str, Any] = {}
    if authority_url.rstrip("/") != DEFAULT_AUTHORITY:
        # An authority msal does not know (a proxy, a sovereign cloud, a test server):
        # skip the instance-discovery call to login.microsoftonline.com.
        kwargs["instance_discovery"] = False
    return msal.PublicClientApplication(
        client_id,
        authority=f"{authority_url.rstrip('/')}/{tenant}",
        token_cache=cache,
        http_client=msal_http_client(),
        **kwargs,
    )


@contextlib.contextmanager
def token_file_lock(path: Path) -> Iterator[None]:
    """Serialise load-refresh-save of one token cache across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class TokenSource:
    """Silent token acquisition from the 0600 msal cache; never prompts."""

    hint = SETUP_HINT  # what to do when Graph refuses a fresh token

    def __init__(self, cal: MicrosoftCalendar) -> None:
        if not cal.client_id:
            raise ConfigError(
                f"calendar {cal.name!r}: client_id is missing (run `calsync setup microsoft "
                "--client-id ID`, see docs/microsoft.md)"
            )
        if cal.token_file is None:
            raise ConfigError(f"calendar {cal.name!r}: token_file is missing")
        self.cal = cal
        self.path: Path = cal.token_file
        self.scopes = scopes_for(cal.read_only)
        self._app: Any = None
        self._cache: Any = None
        self.username: str | None = None

    def _load(self) -> None:
        import msal

        if not self.path.exists():
            raise AuthError(f"{self.cal.name}: not logged in to Microsoft; run "
                            "`calsync setup microsoft`")
        require_private(self.path, self.cal.name)
        cache = msal.SerializableTokenCache()
        try:
            cache.deserialize(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AuthError(f"{self.cal.name}: token file {self.path} is unreadable "
                            f"({type(exc).__name__}); {SETUP_HINT}") from None
        self._cache = cache
        try:
            self._app = build_msal_app(
                self.cal.client_id or "", self.cal.authority_url, self.cal.tenant, cache
            )
        except Exception as exc:  # ValueError from msal, requests' connection/TLS errors
            raise ProviderError(f"{self.cal.name}: Microsoft sign-in service unreachable "
                                f"({type(exc).__name__}): {short_error(exc)}") from None

    def token(self, force_refresh: bool = False) -> str:
        """An access token for the configured scopes; AuthError names `calsync setup`."""
        with token_file_lock(self.path):
            if self._app is None or force_refresh:
                self._load()  # re-read: another process may have rotated the cache
            accounts = self._app.get_accounts()
            if not accounts:
                raise AuthError(f"{self.cal.name}: no Microsoft account in {self.path}; "
                                f"{SETUP_HINT}")
            if len(accounts) > 1:
                # only an older calsync's repeated setups left several: which one is meant
                # cannot be told, and the wrong one would keep failing (or read another
                # mailbox); setup writes a cache with the one account it logged in
                raise AuthError(f"{self.cal.name}: {len(accounts)} Microsoft accounts in "
                                f"{self.path}; {SETUP_HINT} with the account to use")
            account = accounts[0]
            self.username = (account.get("username") or "").lower() or None
            try:
                result = self._app.acquire_token_silent_with_error(
                    self.scopes, account=account, force_refresh=force_refresh
                )
            except Exception as exc:  # requests' connection/TLS errors during a refresh
                raise ProviderError(f"{self.cal.name}: Microsoft sign-in service unreachable "
                                    f"({type(exc).__name__}): {short_error(exc)}") from None
            finally:
                self.save()
        if not result or "access_token" not in result:
            error = (result or {}).get("error", "no token in cache")
            desc = (result or {}).get("error_description", "") or ""
            code = desc.split(":", 1)[0] if desc.startswith("AADSTS") else ""
            why = "expired after 90 days unused" if "AADSTS700082" in desc else "was refused"
            raise AuthError(
                f"{self.cal.name}: the Microsoft login {why} ({error}"
                f"{', ' + code if code else ''}); {SETUP_HINT}"
            )
        token: str = result["access_token"]
        return token

    def save(self) -> None:
        """Write the cache back (0600) if msal rotated anything in it."""
        if self._cache is not None and self._cache.has_state_changed:
            write_private(self.path, self._cache.serialize())
            self._cache.has_state_changed = False


def short_error(exc: BaseException) -> str:
    """The first line of an exception, with a hint when it is a TLS trust failure."""
    text = str(exc).split("\n", 1)[0][:200]
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in type(exc).__name__:
        text += " (behind a proxy with its own CA? point SSL_CERT_FILE at a bundle with it)"
    return text
