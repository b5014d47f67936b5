"""App-only sign-in for an organisation run: msal's confidential client, client credentials.

The app registration proves itself with a certificate (a PEM holding the private key and
the certificate, whose public part is uploaded to the registration) or a client secret
read from a file; either file must be 0600. The scope is ``{graph}/.default``: the
application permissions an admin consented to. One :class:`AppTokenSource` serves every
owner of the tenant from many threads: one token request per run, a new one only when the
token is about to expire or Graph refused it (a 401 storm from many owners at once still
asks once). Tokens live in memory only (a confidential client needs no cache on disk),
and neither they nor the secret ever reach a message or a log line.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calsync.backends.microsoft.auth import DEFAULT_AUTHORITY, ca_bundle, short_error
from calsync.errors import AuthError, ConfigError, ProviderError
from calsync.paths import require_private

if TYPE_CHECKING:
    from calsync.backends.microsoft.config import MicrosoftOrg

EARLY = 300.0  # seconds before expiry a token is replaced (at most half its lifetime)
FRESH = 30.0  # a forced refresh within this long of the last token reuses it (401 storms)
APP_HINT = ("check the app registration's application permissions and admin consent "
            "(see docs/org-microsoft.md)")


@dataclass(frozen=True)
class AppIdentity:
    """What the Graph client names in its messages and keys its limits on."""

    name: str
    client_id: str | None


def graph_scope(graph_url: str) -> str:
    """``https://graph.microsoft.com/v1.0`` → ``https://graph.microsoft.com/.default``."""
    u = urllib.parse.urlsplit(graph_url)
    return f"{u.scheme}://{u.netloc}/.default"


def refusal(name: str, org: MicrosoftOrg, result: dict[str, Any]) -> AuthError:
    """One line saying what to fix for a token request Entra refused."""
    error = str(result.get("error", "no token"))
    desc = str(result.get("error_description", "") or "")
    code = desc.split(":", 1)[0] if desc.startswith("AADSTS") else ""
    secret, cert = org.client_secret_file, org.certificate
    if code == "AADSTS7000215":
        why = (f"the client secret in {secret} was refused; put the secret's Value there "
               "(not its Secret ID), or a new one from the app registration's "
               "Certificates & secrets")
    elif code == "AADSTS7000222":
        why = f"the client secret in {secret} has expired; create a new one and put it there"
    elif code in ("AADSTS700027", "AADSTS700023") or (error == "invalid_client" and cert):
        why = (f"the certificate in {cert} was refused; upload its public certificate to "
               "the app registration (Certificates & secrets) or check that it has not "
               "expired")
    elif code == "AADSTS700016" or error == "unauthorized_client":
        why = (f"no app with client_id {org.client_id} in tenant {org.tenant}; check both "
               "keys")
    elif code == "AADSTS90002":
        why = f"tenant {org.tenant!r} is unknown; give the directory (tenant) id or a domain"
    elif error == "invalid_client":
        why = "the app's credential was refused; check client_secret_file or certificate"
    else:
        why = f"check client_id, tenant and the app's credential ({APP_HINT})"
    return AuthError(f"{name}: Microsoft sign-in refused the app ({error}"
                     f"{', ' + code if code else ''}): {why}")


def read_credential(org: MicrosoftOrg) -> str | dict[str, str]:
    """The secret, or msal's certificate credential (key and certificate from one PEM)."""
    path: Path | None = org.certificate or org.client_secret_file
    if path is None:
        raise ConfigError(f"organization {org.name!r}: give certificate or client_secret_file")
    label = f"organization {org.name!r}"
    if not path.exists():
        raise ConfigError(f"{label}: {path} does not exist")
    require_private(path, label)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: {path} is unreadable ({type(exc).__name__})") from None
    if org.certificate is None:
        secret = text.strip()
        if not secret:
            raise ConfigError(f"{label}: {path} is empty (it should hold the client secret)")
        return secret
    return certificate_credential(label, path, text)


def certificate_credential(label: str, path: Path, text: str) -> dict[str, str]:
    """msal's ``{"private_key", "public_certificate"}``: msal derives the SHA-256 thumbprint
    (``x5t#S256``) from the certificate and signs the assertion with PS256."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    start = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----", start)
    if start < 0 or end < 0 or "PRIVATE KEY-----" not in text:
        raise ConfigError(f"{label}: {path} must hold the private key and the certificate "
                          "(PEM, both blocks in one file)")
    cert_pem = text[start:end + len("-----END CERTIFICATE-----")] + "\n"
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        load_pem_private_key(text.encode(), password=None)
    except TypeError:
        raise ConfigError(f"{label}: the private key in {path} is encrypted; store it "
                          "unencrypted in this 0600 file") from None
    except ValueError:
        raise ConfigError(f"{label}: {path} is not a readable PEM key and certificate") from None
    if cert.not_valid_after_utc.timestamp() < time.time():
        raise AuthError(f"{label}: the certificate in {path} expired on "
                        f"{cert.not_valid_after_utc:%Y-%m-%d}; make a new one and upload it")
    return {"private_key": text, "public_certificate": cert_pem}


def counting_session() -> Any:
    """A requests session for msal that trusts :func:`ca_bundle` and counts what it sends."""
    import requests

    class Counting(requests.Session):
        sent = 0

        def request(self, *args: Any, **kwargs: Any) -> Any:
            self.sent += 1
            return super().request(*args, **kwargs)

    session = Counting()
    ca = ca_bundle()
    if ca:
        session.verify = ca
    return session


class AppTokenSource:
    """App-only tokens for one tenant, shared by every owner (see the module docstring)."""

    hint = APP_HINT
    username: str | None = None  # no signed-in user: each owner's address says who they are

    def __init__(self, org: MicrosoftOrg) -> None:
        self.org = org
        self.cal = AppIdentity(org.name, org.client_id)
        self.scope = graph_scope(org.graph_url)
        self._lock = threading.Lock()
        self._app: Any = None
        self._session: Any = None
        self._token: str | None = None
        self._expires = 0.0
        self._fetched = -FRESH
        self.fetches = 0  # tokens Entra issued this run

    @property
    def requests(self) -> int:
        """HTTP requests msal sent (discovery and tokens)."""
        return int(self._session.sent) if self._session is not None else 0

    def _build(self) -> Any:
        import msal

        credential = read_credential(self.org)
        self._session = counting_session()
        kwargs: dict[str, Any] = {}
        if self.org.authority_url.rstrip("/") != DEFAULT_AUTHORITY:
            kwargs["instance_discovery"] = False
        try:
            return msal.ConfidentialClientApplication(
                self.org.client_id, client_credential=credential,
                authority=f"{self.org.authority_url.rstrip('/')}/{self.org.tenant}",
                http_client=self._session, **kwargs)
        except ValueError as exc:  # msal: the authority's configuration was refused
            if "authority" in str(exc).lower() or "tenant" in str(exc).lower():
                raise AuthError(f"{self.org.name}: Microsoft sign-in does not know tenant "
                                f"{self.org.tenant!r}; give the directory (tenant) id or a "
                                "verified domain") from None
            raise ConfigError(f"organization {self.org.name!r}: the app credential is "
                              f"unusable ({short_error(exc)})") from None
        except Exception as exc:  # requests' connection and TLS errors
            raise ProviderError(f"{self.org.name}: Microsoft sign-in service unreachable "
                                f"({type(exc).__name__}): {short_error(exc)}") from None

    def token(self, force_refresh: bool = False) -> str:
        """A Graph token with the app's permissions; AuthError says what to fix."""
        with self._lock:
            now = time.monotonic()
            if self._token is not None and (
                    (not force_refresh and now < self._expires)
                    or (force_refresh and now - self._fetched < FRESH)):
                return self._token
            if self._app is None:
                self._app = self._build()
            if force_refresh or self._token is not None:
                self._forget()
            try:
                result = self._app.acquire_token_for_client([self.scope])
            except Exception as exc:  # requests' connection and TLS errors
                raise ProviderError(f"{self.org.name}: Microsoft sign-in service unreachable "
                                    f"({type(exc).__name__}): {short_error(exc)}") from None
            if not result or "access_token" not in result:
                raise refusal(self.org.name, self.org, result or {})
            token: str = result["access_token"]
            self._token = token
            self._fetched = time.monotonic()
            lifetime = float(result.get("expires_in", 3599))
            self._expires = self._fetched + lifetime - min(EARLY, lifetime / 2)
            self.fetches += 1
            return token

    def _forget(self) -> None:
        """Drop msal's cached token so the next request asks Entra for a new one."""
        import msal

        cache = self._app.token_cache
        for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(entry)

    def save(self) -> None:
        """Nothing to save: app tokens are never written to disk."""
