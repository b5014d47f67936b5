"""The HTTP side of Google's APIs: one session per login, retries, error mapping.

The calendar provider, the doc backend and setup all send their requests through
:class:`Session`: services built from the static discovery documents shipped with
google-api-python-client (``rootUrl`` swapped for ``api_url``), one retry policy
(:mod:`calsync.backends.retry`), and one mapping of Google's errors to calsync's
(:func:`http_error`). The client libraries cost ~150 ms to import, so they are imported
inside functions.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from calsync.backends.google.auth import SETUP_HINT, Login
from calsync.backends.retry import RetryPolicy, host_of, retry_after, unreachable
from calsync.errors import AuthError, CalsyncError, ProviderError

if TYPE_CHECKING:
    from calsync.backends.google.shared import SharedHttp

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# 403 reasons meaning the login lacks a scope (e.g. drive.file unchecked on the consent screen)
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
# Loggers of the client libraries: they warn on every non-2xx answer ("Encountered 403
# Forbidden with reason ..."), and google-auth on each refresh of a login granted fewer
# scopes than asked for, which Python's last-resort handler prints to stderr.
QUIET_LOGGERS = ("googleapiclient", "google_auth_httplib2", "google.oauth2.credentials")


def error_reason(exc: Any) -> str | None:
    """The machine reason of a Google error (``error.errors[0].reason``), if any."""
    try:
        data = json.loads(exc.content)
        err = data["error"]
        errors = err.get("errors") or []
        if errors:
            return str(errors[0]["reason"])
        details = err.get("details") or []
        for d in details:
            if isinstance(d, dict) and d.get("reason"):
                return str(d["reason"])
        status = err.get("status")
        return str(status) if status else None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def disabled_api_hint(exc: Any, api: str) -> str | None:
    """Google's answer when the API is not enabled in the OAuth client's project."""
    if error_reason(exc) in ("accessNotConfigured", "SERVICE_DISABLED"):
        return (
            f"the {api} is not enabled in the Google Cloud project of your OAuth client: "
            "enable it under APIs & Services → Library (see docs/google.md)"
        )
    return None


def error_message(exc: Any) -> str:
    """The human message of a Google error, or the HTTP reason phrase."""
    try:
        return str(json.loads(exc.content)["error"]["message"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return str(getattr(exc, "reason", "") or "")


def http_error(exc: Any, label: str, what: str, api: str = "Google Calendar API") -> CalsyncError:
    """A Google ``HttpError`` as calsync's error: the one mapping for the calendar
    provider and the doc backend. A refused or under-scoped login is an
    :class:`AuthError` (exit 3, "run ``calsync setup google``"); the rest is a
    :class:`ProviderError` (exit 4).
    """
    status = exc.status_code
    reason = error_reason(exc)
    if status == 401:
        return AuthError(f"{label}: Google refused the login (401); {SETUP_HINT}")
    if status == 403 and reason in SCOPE_REASONS:
        return AuthError(
            f"{label}: the Google login lacks the needed permission ({reason}); "
            "run `calsync setup google` and allow all the access it asks for on Google's "
            "consent screen"
        )
    hint = disabled_api_hint(exc, api)
    if hint:
        return ProviderError(f"{label}: {hint}")
    return ProviderError(
        f"{label}: {what}: Google answered HTTP {status}"
        f"{f' {reason}' if reason else ''}: {error_message(exc)}"
    )


def quiet_client_loggers() -> None:
    """Keep the client libraries' warnings off stderr (cron silence, ``--quiet``): calsync
    reports every failure itself. Only their own loggers: the root logger is left alone."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.ERROR:
            logger.setLevel(logging.ERROR)



class Session:
    """One Google login's HTTP side: the transport, the built services, retries.

    Shared by the calendar provider and the doc backend, so both use one login and one
    retry policy. Services are built from the static discovery documents shipped with
    google-api-python-client, with ``rootUrl`` replaced by ``api_url`` when configured.
    With ``shared`` (an organisation run) the built services and this thread's
    connections are shared with the other owners' sessions; only the login is this one's.
    """

    def __init__(
        self,
        login: Login,
        api_url: str | None,
        retry: RetryPolicy,
        label: str,
        shared: SharedHttp | None = None,
    ) -> None:
        self.login = login
        self.api_url = api_url
        self.retry = retry
        self.label = label  # the calendar's name, for messages
        quiet_client_loggers()
        self._http: Any = None
        self._raw_http: Any = None  # the OnceHttp under the login
        self._services: dict[str, Any] = {}
        self._shared = shared

    # -- credentials -------------------------------------------------------------------
    def credentials(self) -> Any:
        """The login's google-auth credentials (built once)."""
        return self.login.credentials()

    def save(self) -> None:
        """Persist a refreshed access token (the login decides where)."""
        self.login.save()

    # -- services -----------------------------------------------------------------------
    def _authorized(self) -> Any:
        """The login's authorized http, over this session's (or this thread's) connections."""
        if self._http is None:
            import google_auth_httplib2
            import httplib2

            from calsync.backends.once_http import OnceHttp

            # httplib2 would silently try a failed connection once more; calsync's own
            # retries (counted, bounded, named in the error) are the only ones
            httplib2.RETRIES = 1
            shared = self._shared
            self._raw_http = shared.http() if shared else OnceHttp(timeout=self.retry.timeout)
            self._http = google_auth_httplib2.AuthorizedHttp(
                self.credentials(), http=self._raw_http
            )
        return self._http

    def service(self, api: str, version: str) -> Any:
        """A built API (``calendar``/``v3``, ``drive``/``v3``, ``docs``/``v1``), once per run."""
        key = f"{api}:{version}"
        if key in self._services:
            return self._services[key]
        from googleapiclient.discovery import build_from_document

        from calsync.backends.google.discovery import discovery

        http = self._authorized()
        svc = build_from_document(discovery(api, version, self.api_url), http=http)
        self._services[key] = svc
        return svc

    def resource(self, api: str, version: str, name: str) -> Any:
        """A service's collection (``events``, ``files``...), built once: each build
        generates every method with its docstring (~20 ms for Drive's ``files``).
        With ``shared``, built once for all the sessions sharing it."""
        key = f"{api}:{version}:{name}"
        if key not in self._services:
            if self._shared is not None:
                self._authorized()
                self._services[key] = self._shared.resource(api, version, name)
            else:
                self._services[key] = getattr(self.service(api, version), name)()
        return self._services[key]

    # -- execution ----------------------------------------------------------------------
    def execute(self, request: Any, *, retry: bool, what: str) -> Any:
        """Run one request. ``retry`` only for reads and If-Match-guarded writes."""
        import httplib2
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import Error as ClientError
        from googleapiclient.errors import HttpError

        policy = self.retry
        slept = 0.0
        attempt = 0
        net_failures = 0
        started = policy.clock()
        while True:
            try:
                result = self._send(request, once=not retry)
                self.save()
                if isinstance(result, str) and "alt=json" in str(request.uri):
                    # the client hands back what it could not parse (a proxy's login page)
                    raise ProviderError(
                        f"{self.label}: {what}: Google's answer was not JSON "
                        f"({result[:60]!r}); check api_url and any proxy"
                    )
                return result
            except RefreshError as exc:
                if getattr(exc, "retryable", False):
                    # the token endpoint was unwell (google-auth already retried): not a
                    # login problem, so not "log in again"
                    raise ProviderError(
                        f"{self.label}: Google's token endpoint failed temporarily; "
                        "will try again next run"
                    ) from None
                raise self.login.refused(exc) from None
            except HttpError as exc:
                status = int(exc.status_code or exc.resp.status)
                reason = error_reason(exc)
                transient = status in RETRY_STATUSES or (
                    status == 403 and reason in RATE_LIMIT_REASONS
                )
                if not (retry and transient):
                    raise
                wait = policy.delay(attempt, retry_after(exc.resp.get("retry-after")))
                failure: str = f"HTTP {status} {reason or ''}".strip()
            except ClientError as exc:  # not an HTTP error: a malformed answer, a bad upload
                raise ProviderError(
                    f"{self.label}: {what}: unexpected answer from Google ({type(exc).__name__})"
                ) from None
            except (OSError, TransportError, httplib2.HttpLib2Error) as exc:
                net_failures += 1
                wait = policy.delay(net_failures - 1, None)
                if not (retry and policy.another_network_try(net_failures, started, wait)):
                    host = host_of(str(getattr(request, "uri", "")) or self.api_url or "",
                                   "https://www.googleapis.com")
                    raise ProviderError(
                        f"{self.label}: {what}: "
                        f"{unreachable(host, exc, net_failures, started, policy.clock)}"
                        f"{'' if retry else ' (a write that cannot be guarded is not retried)'}"
                    ) from None
                policy.sleep(wait)
                slept += wait
                continue
            attempt += 1
            if attempt >= policy.tries or slept + wait > policy.budget:
                raise ProviderError(
                    f"{self.label}: {what}: still failing after {attempt} tries ({failure}); "
                    "giving up for this run"
                )
            policy.sleep(wait)
            slept += wait

    def _send(self, request: Any, *, once: bool) -> Any:
        """One try of ``request``; ``once``: never sent a second time by httplib2 either."""
        raw = self._raw_http
        if raw is not None:
            raw.once = once
        try:
            return request.execute(http=self._http, num_retries=0)
        finally:
            if raw is not None:
                raw.once = False
