"""A service account with domain-wide delegation, acting for one Workspace user at a time.

:class:`ServiceAccountKey` is the key file, read once per organisation (mode 0600, a
``service_account`` JSON); :class:`ServiceAccountLogin` is the
:class:`~calsync.backends.google.auth.Login` for one subject, built with
``Credentials.with_subject``. Access tokens live one hour and are per subject, so they
are kept across runs in :class:`TokenCache` (one 0600 file per key, under calsync's token
home): a run every 15 minutes asks the token endpoint for each owner once an hour, not
once a run. A refused delegation (``unauthorized_client``) names the client id and the
exact scopes the admin must grant. The key and the tokens are never logged or printed.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calsync.backends.google.auth import _AUTH, setup_scopes
from calsync.errors import AuthError

if TYPE_CHECKING:
    from calsync.backends.google.config import GoogleOrg

# Directory reads as the admin: groups.get needs a group scope (group.member.readonly does
# not cover it), group.readonly covers members.list as well (the Directory discovery doc).
DIRECTORY_SCOPES = (f"{_AUTH}admin.directory.group.readonly", f"{_AUTH}admin.directory.user.readonly")
DELEGATION_PLACE = ("Admin console → Security → Access and data control → API controls → "
                    "Domain-wide delegation")
FLUSH_EVERY = 10.0  # seconds between writes of the token cache during a run


def owner_scopes(read_only: bool) -> tuple[str, ...]:
    """What each owner's token asks for: what ``calsync setup google`` asks a user for."""
    return tuple(setup_scopes(read_only))


def entry_scopes(org: GoogleOrg) -> tuple[str, ...]:
    """Every scope the organisation's delegation entry must list: the owners', plus the
    directory's when groups or the directory are read as the admin."""
    extra = DIRECTORY_SCOPES if org.admin else ()
    return (*owner_scopes(org.read_only), *extra)


def delegation_hint(client_id: str, scopes: Sequence[str]) -> str:
    """The Admin console entry that lets the service account act for the domain's users."""
    return (f"in the {DELEGATION_PLACE}, add (or edit) client ID {client_id} with the scopes "
            f"{','.join(scopes)}")


@dataclass(frozen=True, repr=False)
class ServiceAccountKey:
    """A service account's JSON key: who it is and google-auth's credentials for it
    (the private key stays inside them: never logged, not in ``repr``)."""

    path: Path
    client_id: str
    client_email: str
    token_uri: str
    base: Any  # service_account.Credentials without scopes or subject

    @classmethod
    def load(cls, path: Path, label: str) -> ServiceAccountKey:
        """The key at ``path``: refused when others may read it or it is no service account
        key (messages start with ``label``, when given)."""
        import os

        at = f"{label}: " if label else ""
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            raise AuthError(f"{at}service account key {path} not found") from None
        except OSError as exc:
            raise AuthError(f"{at}cannot read the service account key {path} "
                            f"({type(exc).__name__})") from None
        if os.name != "nt" and mode & 0o077:
            raise AuthError(f"{at}the service account key {path} is readable by others "
                            f"(mode {mode:o}); run `chmod 600 {path}`")
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AuthError(f"{at}{path} is not a JSON key file ({type(exc).__name__})") from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            kind = info.get("type") if isinstance(info, dict) else type(info).__name__
            raise AuthError(f"{at}{path} is not a service account key (type {kind!r}); "
                            "create a JSON key for the service account in the Google Cloud console")
        missing = [k for k in ("client_email", "client_id", "private_key", "token_uri") if not info.get(k)]
        if missing:
            raise AuthError(f"{at}the service account key {path} lacks {', '.join(missing)}")
        from google.oauth2 import service_account

        try:
            base = service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]
        except ValueError:
            raise AuthError(f"{at}the private key in {path} cannot be read; "
                            "create a new JSON key for the service account") from None
        return cls(path, str(info["client_id"]), str(info["client_email"]),
                   str(info["token_uri"]), base)

    def __repr__(self) -> str:
        return f"ServiceAccountKey({self.path}, client_id={self.client_id})"


class TokenCache:
    """Access tokens by subject and scopes, kept in a 0600 file across runs; thread-safe.

    Read on first use, written when tokens changed (at most every :data:`FLUSH_EVERY`
    seconds during a run, and at :meth:`flush`), merged with what another run wrote
    meanwhile; expired entries are dropped on write.
    """

    def __init__(self, path: Path, clock: Any = time.monotonic) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, str]] | None = None
        self._dirty = False
        self._clock = clock
        self._flushed = clock()
        self.issued = 0  # tokens Google issued in this run (the cache's misses)

    @staticmethod
    def key(subject: str, scopes: Sequence[str]) -> str:
        return f"{subject.lower()} {' '.join(sorted(scopes))}"

    def _read(self) -> dict[str, dict[str, str]]:
        """The file's entries; a cache, so a bad or exposed file counts as empty."""
        from calsync.paths import require_private

        try:
            require_private(self.path, "google token cache")
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (AuthError, OSError, ValueError):
            self._dirty = True  # rewritten 0600 at the next flush
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items()
                if isinstance(v, dict) and isinstance(v.get("token"), str)
                and isinstance(v.get("expiry"), str)}

    def _load(self) -> dict[str, dict[str, str]]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def get(self, key: str) -> tuple[str, datetime] | None:
        """The cached token and its expiry (naive UTC, as google-auth compares it)."""
        with self._lock:
            entry = self._load().get(key)
        if entry is None:
            return None
        try:
            return entry["token"], datetime.fromisoformat(entry["expiry"])
        except ValueError:
            return None

    def put(self, key: str, token: str, expiry: datetime | None) -> None:
        if expiry is None:
            return
        with self._lock:
            self._load()[key] = {"token": token, "expiry": expiry.isoformat()}
            self._dirty = True
            self.issued += 1
            due = self._clock() - self._flushed >= FLUSH_EVERY
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the changed cache (atomically, 0600), without the expired tokens."""
        from calsync.paths import write_private

        with self._lock:
            if not self._dirty or self._entries is None:
                return
            # another run (or organisation) with the same key may have written meanwhile:
            # keep the later token of each entry
            merged = self._read()
            for k, v in self._entries.items():
                if k not in merged or merged[k]["expiry"] < v["expiry"]:
                    merged[k] = v
            now = datetime.now(UTC).replace(tzinfo=None).isoformat()
            live = {k: v for k, v in merged.items() if v["expiry"] > now}
            self._entries = live
            write_private(self.path, json.dumps(live, separators=(",", ":")) + "\n")
            self._dirty = False
            self._flushed = self._clock()


def cache_path(key: ServiceAccountKey) -> Path:
    """The token cache of one service account key, under calsync's token home."""
    from calsync.config_reader import slug, token_home

    return token_home() / f"google-sa-{slug(key.client_id)}-tokens.json"


class Refusals:
    """Delegation refusals seen in this run, by scope set; thread-safe.

    ``unauthorized_client`` is about the client id's delegation entry, not the subject:
    once Google says it for a scope set, the other owners fail at once with the same
    fix instead of sending thousands of token requests that cannot succeed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, ...], str] = {}

    def record(self, scopes: tuple[str, ...], subject: str) -> None:
        with self._lock:
            self._seen.setdefault(scopes, subject)

    def first(self, scopes: tuple[str, ...]) -> str | None:
        """The subject the scope set was first refused for, if it was."""
        with self._lock:
            return self._seen.get(scopes)


class ServiceAccountLogin:
    """The service account acting for ``subject`` with ``scopes`` (a Login).

    ``entry``: every scope of the organisation's delegation entry (one entry per client
    id holds them all), named when Google refuses, so fixing one owner breaks no other.
    """

    def __init__(self, key: ServiceAccountKey, subject: str, scopes: Sequence[str],
                 cache: TokenCache | None, label: str, entry: Sequence[str] = (),
                 refusals: Refusals | None = None) -> None:
        self.key = key
        self.refusals = refusals
        self.subject = subject
        self.scopes = tuple(scopes)
        self.entry = tuple(dict.fromkeys((*entry, *scopes)))
        self.cache = cache
        self.label = label
        self._creds: Any = None
        self._saved: str | None = None
        self._cache_key = TokenCache.key(subject, self.scopes)

    def credentials(self) -> Any:
        """Delegated credentials for the subject, holding the cached token when one is live."""
        if self._creds is None:
            first = self.refusals.first(self.scopes) if self.refusals is not None else None
            if first is not None:
                raise AuthError(
                    f"{self.label}: Google refused domain-wide delegation (unauthorized_client, "
                    f"as for {first}): {delegation_hint(self.key.client_id, self.entry)}")
            creds = self.key.base.with_scopes(list(self.scopes)).with_subject(self.subject)
            cached = self.cache.get(self._cache_key) if self.cache is not None else None
            if cached is not None:
                creds.token, creds.expiry = cached
                self._saved = cached[0]
            self._creds = creds
        return self._creds

    def granted(self) -> frozenset[str] | None:
        """Delegation grants all the scopes asked for or no token at all."""
        return frozenset(self.scopes)

    def save(self) -> None:
        """Put a newly issued token in the cache (written at the tenant's close)."""
        creds = self._creds
        if creds is None or not creds.token or creds.token == self._saved:
            return
        if self.cache is not None:
            self.cache.put(self._cache_key, creds.token, creds.expiry)
        self._saved = creds.token

    def refused(self, exc: Exception) -> AuthError:
        """The token endpoint's refusal as one line naming the subject and the fix."""
        error = refusal(exc, self.label, self.subject, self.key.client_id, self.entry)
        if self.refusals is not None and "(unauthorized_client)" in str(error):
            self.refusals.record(self.scopes, self.subject)
        return error


def refusal(exc: Exception, label: str, subject: str, client_id: str,
            scopes: Sequence[str]) -> AuthError:
    """A ``RefreshError`` from the JWT-bearer grant as calsync's AuthError."""
    text = str(exc.args[0]) if exc.args else ""
    summary = re.sub(r"\s+", " ", text)[:160]
    if "unauthorized_client" in text:
        return AuthError(
            f"{label}: Google refused domain-wide delegation for {subject} "
            f"(unauthorized_client): {delegation_hint(client_id, scopes)}"
        )
    if "invalid_grant" in text and "Invalid email or User ID" in text:
        return AuthError(f"{label}: Google knows no active user {subject} in the domain "
                         f"({summary}); check the address or exclude it")
    if "invalid_grant" in text and ("signature" in text.lower() or "key" in text.lower()):
        return AuthError(f"{label}: Google refused the service account key ({summary}); "
                         "the key may have been deleted: create a new JSON key")
    return AuthError(f"{label}: Google refused a token for {subject} ({summary})")
