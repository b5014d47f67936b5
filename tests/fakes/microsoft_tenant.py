"""A loopback fake of a whole Microsoft 365 organisation for app-only (client credentials) runs.

Served over TLS like :mod:`tests.fakes.microsoft`, whose one-mailbox logic it reuses: every
mailbox is a :class:`~tests.fakes.microsoft.FakeMicrosoft` of its own (created, and seeded
through :attr:`FakeTenant.seeder`, on its first request, so 10,000 mailboxes cost only
the ones a run touches), reached at ``/v1.0/users/{address or id}/...``. Documented
behaviour it follows (see ../shared/reference/microsoft.md and docs/org-microsoft.md):

- identity: ``/{tenant}/oauth2/v2.0/token`` with ``grant_type=client_credentials`` and a
  ``client_secret`` or a ``client_assertion`` (a JWT whose signature is checked against the
  uploaded certificate's public key, with ``aud`` = the token endpoint, ``iss`` = ``sub`` =
  the client id, ``exp`` ahead and ``x5t``/``x5t#S256`` naming the certificate); the one
  scope must be ``{resource}/.default``; refusals carry Entra's AADSTS codes
  (7000215 bad secret, 700027 bad assertion, 700016 unknown app, 90002 unknown tenant);
  tokens carry the app's roles (application permissions) and no refresh token;
- Graph: ``/me`` is refused (app-only), ``/users/{id}/...`` goes to that mailbox;
  an unknown user is 404 ``ErrorInvalidUser``, a user without an Exchange Online licence
  404 ``MailboxNotEnabledForRESTAPI``; a mailbox outside the app's access policy 403
  ``ErrorAccessDenied``; a missing role 403; a fifth request in flight for one mailbox
  429 ``ApplicationThrottled`` (Outlook's 4-concurrent limit);
- ``$batch``: up to 20 sub-requests (more is 400), relative URLs, ids echoed, answers in
  reverse order (any order is allowed), per-sub-request faults and statuses with their own
  headers (Retry-After), non-JSON bodies base64-encoded;
- directory: ``/groups?$filter=mail eq '...'``, ``/groups/{id}``, ``/groups/{id}/
  transitiveMembers/microsoft.graph.user`` (nested groups expanded, users once, paged),
  ``/users?$filter=`` with a small OData subset; ``ne``/``not``/``endswith`` need the
  advanced query parameters (``ConsistencyLevel: eventual`` + ``$count=true``) or 400.

``latency`` seconds are slept once per HTTP request (a batch sleeps once); ``keep_log=False``
keeps no request log (a benchmark's memory).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes import serve, shut
from tests.fakes.microsoft import FakeMicrosoft, Fault, Logged

BATCH_LIMIT = 20
WRITE_ROLE = "Calendars.ReadWrite"
READ_ROLES = frozenset({"Calendars.Read", "Calendars.ReadWrite"})
FILES_ROLES = frozenset({"Files.ReadWrite.All", "Sites.ReadWrite.All"})
DIRECTORY_ROLES = frozenset({"User.Read.All", "Directory.Read.All", "GroupMember.Read.All"})
ALL_ROLES = frozenset({"Calendars.ReadWrite", "Files.ReadWrite.All", "User.Read.All",
                       "GroupMember.Read.All"})

Answer = tuple[int, dict[str, str], bytes]  # status, headers, body


@dataclass
class User:
    address: str
    name: str
    oid: str
    department: str | None = None
    enabled: bool = True
    licensed: bool = True  # has an Exchange Online mailbox
    aliases: tuple[str, ...] = ()

    def json(self) -> dict[str, Any]:
        return {"@odata.type": "#microsoft.graph.user", "id": self.oid,
                "displayName": self.name, "mail": self.address,
                "userPrincipalName": self.address, "department": self.department,
                "accountEnabled": self.enabled,
                "proxyAddresses": [f"SMTP:{self.address}"] + [f"smtp:{a}" for a in self.aliases]}


@dataclass
class Group:
    id: str
    name: str
    mail: str | None
    members: list[str]  # user addresses or group ids


@dataclass
class App:
    client_id: str
    secrets: set[str] = field(default_factory=set)
    certificates: list[Any] = field(default_factory=list)  # cryptography x509 certificates
    roles: frozenset[str] = ALL_ROLES


class _Capture:
    """What FakeMicrosoft's handlers need of a request handler, answering into fields."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = {k.lower(): v for k, v in headers.items()}
        self.headers = self
        self.answer: Answer = (500, {}, b"")

    def get(self, name: str, default: Any = None) -> Any:
        return self._headers.get(name.lower(), default)

    def send_raw(self, code: int, data: bytes, headers: dict[str, str] | None = None,
                 ctype: str = "application/json") -> None:
        self.answer = (code, {"Content-Type": ctype, **(headers or {})}, data)

    def send_json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self.send_raw(code, json.dumps(obj).encode(), headers)

    def not_found(self) -> None:
        self.send_json(404, {"error": {"code": "ErrorItemNotFound",
                                       "message": "The specified object was not found in the "
                                                  "store."}})


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None
           ) -> Answer:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, {"Content-Type": "application/json", **(headers or {})}, body


def _ok(obj: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(obj).encode()


def thumbprints(cert: Any) -> tuple[str, str]:
    """(x5t, x5t#S256) of a certificate: base64url of its SHA-1 and SHA-256 digests."""
    from cryptography.hazmat.primitives import serialization

    der = cert.public_bytes(serialization.Encoding.DER)
    return _b64e(hashlib.sha1(der).digest()), _b64e(hashlib.sha256(der).digest())


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_certificate(common_name: str = "calsync") -> tuple[str, Any]:
    """A self-signed certificate as an app registration takes it: (PEM with the private key
    and the certificate, the certificate object to upload to the fake)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    pem += cert.public_bytes(serialization.Encoding.PEM).decode()
    return pem, cert


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def seed_one_on_ones(mb: FakeMicrosoft, count: int = 8,
                     start: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) -> list[str]:
    """``count`` weekly 30-minute 1on1 series the mailbox's owner organizes, each with one
    report (``<owner local part>.r<i>@<domain>``), on weekdays and hours of their own."""
    local, _, domain = mb.user_email.partition("@")
    ids = []
    for i in range(count):
        at = start + timedelta(days=i % 5, hours=i // 5 * 2 + i % 3)
        report = f"{local}.r{i}@{domain}"
        ids.append(mb.add_event(f"1:1 {local} / r{i}", at, at + timedelta(minutes=30),
                                [(report, "accepted")], rrule="FREQ=WEEKLY"))
    return ids


class Mailbox(FakeMicrosoft):
    """One user's mailbox; what a delta round compares against is kept while nothing
    changed (FakeMicrosoft's ``generation`` counts the changes), so a steady-state round
    of many mailboxes costs the fake little even without ``quick_delta``."""

    _versions: Any = None

    def _view_versions(self, lo: datetime, hi: datetime) -> dict[str, tuple[str, Any]]:
        key = (lo, hi, self.generation, len(self.events))
        if self._versions is not None and self._versions[0] == key:
            return dict(self._versions[1])
        out = super()._view_versions(lo, hi)
        self._versions = (key, out)
        return dict(out)


class FakeTenant:
    """One organisation: apps, users (each with a lazily created mailbox), groups."""

    def __init__(self, domain: str = "contoso.example", latency: float = 0.0,
                 mailbox_limit: int | None = 4, token_lifetime: int = 3599,
                 keep_log: bool = True) -> None:
        self.domain = domain
        self.tid = str(uuid.uuid5(uuid.NAMESPACE_DNS, domain))
        self.latency = latency
        self.mailbox_limit = mailbox_limit
        self.token_lifetime = token_lifetime
        self.keep_log = keep_log  # False: log and sub_log stay empty (benchmarks' memory)
        self.lock = threading.RLock()
        self.apps: dict[str, App] = {}
        self.users: dict[str, User] = {}
        self.by_oid: dict[str, str] = {}
        self.groups: dict[str, Group] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.seeder: Callable[[FakeMicrosoft], Any] | None = None
        self.access_tokens: dict[str, float] = {}
        self.token_scopes: dict[str, str] = {}  # token -> its roles, space-separated
        self.policy: set[str] | None = None  # the application access policy's addresses
        self.faults: list[Fault] = []  # per Graph request, batched or not ("$batch": the batch)
        self.log: list[Logged] = []  # HTTP requests as sent
        self.sub_log: list[Logged] = []  # each Graph request, inside a batch or not
        self.batch_sizes: list[int] = []
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}  # per mailbox, requests in flight at once
        self.http_in_flight = 0
        self.http_peak = 0
        self.base = ""
        self._server: Any = None

    # -- set-up ---------------------------------------------------------------------------

    def start(self, server_ctx: ssl.SSLContext) -> FakeTenant:
        fake = self

        class Handler(_TenantHandler):
            state = fake

        self._server, self.base = serve(Handler, server_ctx)
        return self

    def stop(self) -> None:
        shut(self._server)
        self._server = None

    @property
    def graph_url(self) -> str:
        return f"{self.base}/v1.0"

    def add_app(self, client_id: str, secret: str | None = None, certificate: Any = None,
                roles: frozenset[str] = ALL_ROLES) -> App:
        app = App(client_id, {secret} if secret else set(),
                  [certificate] if certificate is not None else [], frozenset(roles))
        self.apps[client_id] = app
        return app

    def add_user(self, address: str, name: str | None = None, department: str | None = None,
                 enabled: bool = True, licensed: bool = True,
                 aliases: tuple[str, ...] = ()) -> User:
        address = address.lower()
        user = User(address, name or address.split("@")[0].title(),
                    str(uuid.uuid5(uuid.NAMESPACE_URL, address)), department, enabled,
                    licensed, tuple(a.lower() for a in aliases))
        with self.lock:
            self.users[address] = user
            self.by_oid[user.oid] = address
        return user

    def add_users(self, n: int, prefix: str = "user", departments: tuple[str, ...] = ()
                  ) -> list[str]:
        """``n`` licensed users ``{prefix}{i:05d}@{domain}`` (departments round-robin)."""
        out = []
        for i in range(n):
            dept = departments[i % len(departments)] if departments else None
            out.append(self.add_user(f"{prefix}{i:05d}@{self.domain}", department=dept).address)
        return out

    def add_group(self, name: str, members: list[str], mail: str | None = None) -> Group:
        gid = str(uuid.uuid5(uuid.NAMESPACE_OID, name))
        group = Group(gid, name, mail.lower() if mail else None, list(members))
        self.groups[gid] = group
        return group

    def mailbox(self, address: str) -> Mailbox:
        """The user's mailbox, created (and seeded) now if it is the first time."""
        address = address.lower()
        with self.lock:
            mb = self.mailboxes.get(address)
            if mb is not None:
                return mb
            user = self.users[address]
            mb = Mailbox(user_email=address, user_name=user.name)
            mb.base = self.base
            mb.access_tokens = self.access_tokens
            mb.token_scopes = self.token_scopes
            if self.seeder is not None:
                self.seeder(mb)
            self.mailboxes[address] = mb
            return mb

    def members_of(self, gid: str) -> list[User]:
        """A group's users, nested groups expanded, each once (the group's own order)."""
        seen: set[str] = set()
        out: list[User] = []

        def walk(g: str, path: frozenset[str]) -> None:
            for m in self.groups[g].members:
                if m in self.groups:
                    if m not in path:
                        walk(m, path | {m})
                elif m.lower() in self.users and m.lower() not in seen:
                    seen.add(m.lower())
                    out.append(self.users[m.lower()])

        walk(gid, frozenset({gid}))
        return out

    def graph_requests(self, method: str | None = None) -> list[Logged]:
        """Each Graph request (a batch's sub-requests one by one, not the batch itself)."""
        return [r for r in self.sub_log if method is None or r.method == method]

    def token_requests(self) -> list[Logged]:
        return [r for r in self.log if r.path.endswith("/oauth2/v2.0/token")]

    # -- identity -------------------------------------------------------------------------

    def identity(self, method: str, path: str, form: dict[str, str]) -> Answer:
        parts = [p for p in path.split("/") if p]
        tenant, rest = parts[0], "/".join(parts[1:])
        if tenant not in (self.tid, self.domain):
            return 400, {"Content-Type": "application/json"}, json.dumps({
                "error": "invalid_request", "error_codes": [90002],
                "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}).encode()
        root = f"{self.base}/{tenant}"
        if method == "GET" and rest == "v2.0/.well-known/openid-configuration":
            return _ok({"issuer": f"{self.base}/{self.tid}/v2.0",
                        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                        "token_endpoint": f"{root}/oauth2/v2.0/token",
                        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                        "jwks_uri": f"{root}/discovery/v2.0/keys",
                        "response_types_supported": ["code"], "tenant_region_scope": "EU"})
        if method == "POST" and rest == "oauth2/v2.0/token":
            return self._token(f"{root}/oauth2/v2.0/token", form)
        return _ok({"error": "not_found"}, 404)

    def _refuse(self, status: int, error: str, code: int, text: str) -> Answer:
        return status, {"Content-Type": "application/json"}, json.dumps({
            "error": error, "error_codes": [code],
            "error_description": f"AADSTS{code}: {text}"}).encode()

    def _token(self, endpoint: str, form: dict[str, str]) -> Answer:
        if form.get("grant_type") != "client_credentials":
            return self._refuse(400, "unsupported_grant_type", 70003, "unsupported grant")
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            return self._refuse(400, "unauthorized_client", 700016,
                                f"Application with identifier '{form.get('client_id')}' was "
                                "not found in the directory.")
        scopes = form.get("scope", "").split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return self._refuse(400, "invalid_scope", 1002012,
                                "The provided value for scope is not valid. Client credential "
                                "flows must have a scope value with /.default suffixed to the "
                                "resource identifier (application ID URI).")
        if "client_secret" in form:
            if form["client_secret"] not in app.secrets:
                return self._refuse(401, "invalid_client", 7000215,
                                    "Invalid client secret provided. Ensure the secret being "
                                    "sent in the request is the client secret value, not the "
                                    "client secret ID.")
        elif "client_assertion" in form:
            why = self._check_assertion(app, endpoint, form)
            if why:
                return self._refuse(401, "invalid_client", 700027, why)
        else:
            return self._refuse(401, "invalid_client", 7000218,
                                "The request body must contain the following parameter: "
                                "'client_assertion' or 'client_secret'.")
        token = f"app-{uuid.uuid4().hex}"
        with self.lock:
            self.access_tokens[token] = time.time() + self.token_lifetime
            self.token_scopes[token] = " ".join(sorted(app.roles))
        return _ok({"token_type": "Bearer", "expires_in": self.token_lifetime,
                    "ext_expires_in": self.token_lifetime, "access_token": token})

    def _check_assertion(self, app: App, endpoint: str, form: dict[str, str]) -> str:
        """Why a client assertion is refused ("" when it is good)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        if form.get("client_assertion_type") != \
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return "client_assertion_type is not jwt-bearer."
        try:
            h64, p64, s64 = form["client_assertion"].split(".")
            header, claims = json.loads(_b64d(h64)), json.loads(_b64d(p64))
            signature = _b64d(s64)
        except (ValueError, KeyError):
            return "Client assertion is not a well-formed JWT."
        named = (str(header.get("x5t", "")).rstrip("="), str(header.get("x5t#S256", "")).rstrip("="))
        cert = next((c for c in app.certificates
                     if named[0] == thumbprints(c)[0] or named[1] == thumbprints(c)[1]), None)
        if cert is None:
            return ("The certificate with identifier used to sign the client assertion is "
                    "not registered on application.")
        pad: Any
        if header.get("alg") == "PS256":
            pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        elif header.get("alg") == "RS256":
            pad = padding.PKCS1v15()
        else:
            return f"Unsupported signing algorithm {header.get('alg')!r}."
        try:
            cert.public_key().verify(signature, f"{h64}.{p64}".encode(), pad, hashes.SHA256())
        except InvalidSignature:
            return "Client assertion failed signature validation."
        now = time.time()
        if claims.get("aud") != endpoint:
            return f"Client assertion audience {claims.get('aud')!r} is not {endpoint!r}."
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            return "Client assertion iss and sub must be the client id."
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now:
            return "Client assertion is expired."
        return ""

    # -- Graph ----------------------------------------------------------------------------

    def _mailbox_of(self, rel: str) -> tuple[str | None, str]:
        """(the user address a ``/users/{id}/...`` mailbox path is for, the id as sent)."""
        m = re.match(r"/users/([^/?]+)/", rel)
        if not m:
            return None, ""
        ident = urllib.parse.unquote(m.group(1)).lower()
        return self.by_oid.get(ident, ident), m.group(1)

    def admit(self, rel: str) -> str | None | bool:
        """Count a mailbox request in flight; False when it is one too many (429)."""
        addr, _ = self._mailbox_of(rel)
        if addr is None or "/drive" in rel:  # OneDrive has no Outlook concurrency limit
            return None
        with self.lock:
            n = self.in_flight.get(addr, 0)
            if self.mailbox_limit is not None and n >= self.mailbox_limit:
                return False
            self.in_flight[addr] = n + 1
            self.peak[addr] = max(self.peak.get(addr, 0), n + 1)
        return addr

    def release(self, addr: str | None | bool) -> None:
        if isinstance(addr, str):
            with self.lock:
                self.in_flight[addr] -= 1

    def _fault(self, method: str, rel: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.path in rel and (f.method is None or f.method == method):
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                    return f
        return None

    def graph(self, method: str, rel: str, headers: dict[str, str], body: bytes,
              admitted: str | None | bool = None) -> Answer:
        """One Graph request at ``rel`` (relative to /v1.0, with its query)."""
        entry = Logged(method, "/v1.0" + rel.split("?", 1)[0],
                       urllib.parse.parse_qs(urllib.parse.urlsplit(rel).query), headers, body)
        if self.keep_log:
            with self.lock:
                self.sub_log.append(entry)
        answer = self._graph(method, rel, headers, body, admitted)
        entry.status = answer[0]
        return answer

    def _graph(self, method: str, rel: str, headers: dict[str, str], body: bytes,
               admitted: str | None | bool) -> Answer:
        if admitted is False:
            return _error(429, "ApplicationThrottled", "Application is over its MailboxConcurrency "
                          "limit.", {"Retry-After": "1"})
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        exp = self.access_tokens.get(token)
        if exp is None or exp < time.time():
            return _error(401, "InvalidAuthenticationToken",
                          "Lifetime validation failed, the token is expired.")
        fault = self._fault(method, rel)
        if fault is not None:
            code = fault.code or {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(
                fault.status, "Error")
            return _error(fault.status, code, "fake fault", fault.headers)
        roles = set(self.token_scopes.get(token, "").split())
        u = urllib.parse.urlsplit(rel)
        path, q = u.path, urllib.parse.parse_qs(u.query)
        if path == "/me" or path.startswith("/me/"):
            return _error(400, "BadRequest", "/me request is only valid with delegated "
                          "authentication flow.")
        if path.startswith("/users/") and path.count("/") >= 3:
            return self._mailbox_request(method, rel, headers, body, roles)
        if not roles & DIRECTORY_ROLES:
            return _error(403, "Authorization_RequestDenied",
                          "Insufficient privileges to complete the operation.")
        if method == "GET":
            return self._directory(path, q, headers)
        return _error(400, "BadRequest", f"fake: no route {method} {path}")

    def _mailbox_request(self, method: str, rel: str, headers: dict[str, str], body: bytes,
                         roles: set[str]) -> Answer:
        addr, ident = self._mailbox_of(rel)
        assert addr is not None
        user = self.users.get(addr)
        if user is None:
            return _error(404, "ErrorInvalidUser", f"The requested user '{ident}' is invalid.")
        if not user.licensed:
            return _error(404, "MailboxNotEnabledForRESTAPI",
                          "REST API is not yet supported for this mailbox.")
        if self.policy is not None and addr not in self.policy:
            return _error(403, "ErrorAccessDenied", "Access to OData is disabled: [RAOP] : "
                          "Blocked by tenant configured AppOnly AccessPolicy settings.")
        drive = "/drive" in rel
        if drive and not roles & FILES_ROLES or not drive and not roles & READ_ROLES or (
                not drive and method != "GET" and "getSchedule" not in rel
                and WRITE_ROLE not in roles):
            return _error(403, "ErrorAccessDenied", "Access is denied. Check credentials and "
                          "try again.")
        mb = self.mailbox(addr)
        cap = _Capture(headers)
        u = urllib.parse.urlsplit(rel)
        mb.graph(cap, method, "/v1.0" + u.path, urllib.parse.parse_qs(u.query), body)  # type: ignore[arg-type]
        status, out_headers, data = cap.answer
        if data:  # the mailbox's links name /me: they name the user's path here
            data = data.replace(f"{self.graph_url}/me/".encode(),
                                f"{self.graph_url}/users/{ident}/".encode())
        return status, out_headers, data

    def _directory(self, path: str, q: dict[str, list[str]], headers: dict[str, str]) -> Answer:
        advanced = ({k.lower(): v for k, v in headers.items()}.get("consistencylevel") ==
                    "eventual" and q.get("$count", [""])[0] == "true")
        select = [s for s in q.get("$select", [""])[0].split(",") if s]
        if path == "/groups":
            flt = q.get("$filter", [""])[0]
            m = re.fullmatch(r"mail eq '([^']*)'", flt.strip())
            if not m:
                return _error(400, "Request_UnsupportedQuery", "Unsupported Query.")
            found = [g for g in self.groups.values() if g.mail == m.group(1).lower()]
            return _ok({"value": [{"id": g.id, "displayName": g.name, "mail": g.mail}
                                  for g in found]})
        m = re.fullmatch(r"/groups/([^/]+)(/transitiveMembers/microsoft\.graph\.user)?", path)
        if m:
            group = self.groups.get(m.group(1))
            if group is None:
                return _error(404, "Request_ResourceNotFound", f"Resource '{m.group(1)}' does "
                              "not exist or one of its queried reference-property objects are "
                              "not present.")
            if not m.group(2):
                return _ok({"id": group.id, "displayName": group.name, "mail": group.mail})
            return self._page(path, q, [u.json() for u in self.members_of(group.id)], select)
        if path == "/users":
            flt = q.get("$filter", [""])[0]
            try:
                users = [u for u in self.users.values() if _matches(flt, u.json(), advanced)]
            except _Unsupported as exc:
                return _error(400, "Request_UnsupportedQuery", str(exc))
            return self._page(path, q, [u.json() for u in users], select)
        m = re.fullmatch(r"/users/([^/]+)", path)
        if m:
            addr = self.by_oid.get(m.group(1).lower(), urllib.parse.unquote(m.group(1)).lower())
            if addr not in self.users:
                return _error(404, "Request_ResourceNotFound", f"Resource '{m.group(1)}' does "
                              "not exist or one of its queried reference-property objects are "
                              "not present.")
            return _ok(self.users[addr].json())
        return _error(400, "BadRequest", f"fake: no route GET {path}")

    def _page(self, path: str, q: dict[str, list[str]], items: list[dict[str, Any]],
              select: list[str]) -> Answer:
        top = min(int(q.get("$top", ["100"])[0]), 999)
        skip = int(q.get("$skiptoken", ["0"])[0])
        page = items[skip:skip + top]
        if select:
            keep = set(select) | {"id", "@odata.type"}
            page = [{k: v for k, v in i.items() if k in keep} for i in page]
        out: dict[str, Any] = {"value": page}
        if "$count" in q:
            out["@odata.count"] = len(items)
        if skip + top < len(items):
            nq = {k: v[0] for k, v in q.items()}
            nq["$skiptoken"] = str(skip + top)
            out["@odata.nextLink"] = f"{self.graph_url}{path}?{urllib.parse.urlencode(nq)}"
        return _ok(out)

    # -- $batch ---------------------------------------------------------------------------

    def batch(self, headers: dict[str, str], body: bytes) -> Answer:
        try:
            reqs = json.loads(body)["requests"]
            assert isinstance(reqs, list) and reqs
            ids = [str(r["id"]) for r in reqs]
            assert len(set(ids)) == len(ids)
        except (ValueError, KeyError, TypeError, AssertionError):
            return _error(400, "BadRequest", "Invalid batch payload.")
        if len(reqs) > BATCH_LIMIT:
            return _error(400, "BadRequest", "Number of requests in the batch exceeds the "
                          f"limit of {BATCH_LIMIT}.")
        with self.lock:
            self.batch_sizes.append(len(reqs))
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        subs = []
        for r in reqs:
            url = str(r.get("url", ""))
            rel = url if url.startswith("/") else "/" + url
            sub_headers = {"Authorization": auth, **(r.get("headers") or {})}
            raw = r.get("body")
            ctype = {k.lower(): v for k, v in sub_headers.items()}.get("content-type", "")
            data = (json.dumps(raw).encode() if isinstance(raw, dict | list) else
                    (raw.encode() if "json" in ctype else base64.b64decode(raw))
                    if isinstance(raw, str) else b"")
            subs.append((str(r["id"]), str(r.get("method", "GET")).upper(), rel, sub_headers,
                         data))
        admitted = [self.admit(rel) for _, _, rel, _, _ in subs]
        try:
            if self.latency:
                time.sleep(self.latency)
            responses = []
            for (rid, method, rel, h, data), adm in zip(subs, admitted, strict=True):
                status, out_h, out = self.graph(method, rel, h, data, adm)
                is_json = "json" in out_h.get("Content-Type", "")
                resp: dict[str, Any] = {"id": rid, "status": status, "headers": out_h}
                if out:
                    resp["body"] = json.loads(out) if is_json else base64.b64encode(out).decode()
                responses.append(resp)
        finally:
            for adm in admitted:
                self.release(adm)
        return _ok({"responses": responses[::-1]})

    def download(self, item_id: str) -> Answer:
        for mb in list(self.mailboxes.values()):
            item = mb.drive.get(item_id)
            if item is not None:
                return 200, {"Content-Type": "application/octet-stream"}, item["_content"]
        return _error(404, "itemNotFound", "no such item")


class _Unsupported(Exception):
    pass


_ADVANCED = re.compile(r"\b(ne|not|endswith)\b", re.I)


def _matches(flt: str, user: dict[str, Any], advanced: bool) -> bool:
    """A small OData ``$filter`` subset over a user: eq / ne / in / startswith / endswith,
    joined with ``and`` / ``or`` (and binding tighter)."""
    if not flt.strip():
        return True
    if _ADVANCED.search(flt) and not advanced:
        raise _Unsupported("Unsupported Query.")
    return any(all(_clause(c.strip(), user) for c in re.split(r"\s+and\s+", alt, flags=re.I))
               for alt in re.split(r"\s+or\s+", flt, flags=re.I))


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    raise _Unsupported(f"Invalid filter clause: {text}")


def _clause(c: str, user: dict[str, Any]) -> bool:
    m = re.fullmatch(r"(startswith|endswith)\((\w+),\s*('(?:[^']|'')*')\)", c, re.I)
    if m:
        value = str(user.get(m.group(2)) or "").lower()
        lit = str(_literal(m.group(3))).lower()
        return value.startswith(lit) if m.group(1).lower() == "startswith" else \
            value.endswith(lit)
    m = re.fullmatch(r"(\w+)\s+(eq|ne)\s+(.+)", c, re.I)
    if m:
        value, lit = user.get(m.group(1)), _literal(m.group(3))
        same = (value.lower() == lit.lower() if isinstance(value, str) and isinstance(lit, str)
                else value == lit)
        return same if m.group(2).lower() == "eq" else not same
    m = re.fullmatch(r"(\w+)\s+in\s+\((.+)\)", c, re.I)
    if m:
        value = str(user.get(m.group(1)) or "").lower()
        return value in {str(_literal(x)).lower() for x in m.group(2).split(",")}
    raise _Unsupported(f"Invalid filter clause: {c}")


class _TenantHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    state: FakeTenant

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _dispatch(self) -> None:
        st = self.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        u = urllib.parse.urlsplit(self.path)
        headers = dict(self.headers.items())
        entry = Logged(self.command, u.path, urllib.parse.parse_qs(u.query), headers, body)
        with st.lock:
            if st.keep_log:
                st.log.append(entry)
            st.http_in_flight += 1
            st.http_peak = max(st.http_peak, st.http_in_flight)
        try:
            rel = self.path[len("/v1.0"):] if u.path.startswith("/v1.0/") else ""
            if u.path == "/v1.0/$batch" and self.command == "POST":
                fault = st._fault("POST", "/$batch")
                answer = (_error(fault.status, fault.code or "Error", "fake fault", fault.headers)
                          if fault is not None else st.batch(headers, body))
            elif rel:
                admitted = st.admit(rel)
                try:
                    if st.latency:
                        time.sleep(st.latency)
                    answer = st.graph(self.command, rel, headers, body, admitted)
                finally:
                    st.release(admitted)
            elif u.path.startswith("/download/"):
                answer = st.download(u.path.split("/")[2])
            else:
                if st.latency:
                    time.sleep(st.latency)
                form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
                answer = st.identity(self.command, u.path, form)
            entry.status = answer[0]
            status, out_headers, data = answer
            self.send_response(status)
            for k, v in out_headers.items():
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            with st.lock:
                st.http_in_flight -= 1

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch
