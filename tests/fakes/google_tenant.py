"""FakeGoogle as a whole Workspace domain: service accounts, delegation, the Directory.

On top of tests/fakes/google.py (one calendar per user, chosen by the token's user):

- the token endpoint's JWT-bearer grant (RFC 7523), as Google answers it: the assertion's
  RS256 signature is checked with the service account's public key, then ``iss``, ``aud``
  (Google's token URI), ``iat``/``exp`` (at most an hour), ``scope`` and ``sub``; a scope
  the domain-wide delegation entry does not list is refused with 401
  ``unauthorized_client``, an unknown or suspended subject with 400 ``invalid_grant``
  "Invalid email or User ID"; the token issued acts as the subject;
- Admin SDK Directory v1 ``groups.get``, ``members.list`` (nested groups, 200 a page or
  ``maxResults``) and ``users.list`` (``customer``, a ``query`` of ``field=value`` /
  ``field:prefix`` terms, 500 a page), for admins only;
- ``latency``: seconds every request waits before it is handled (benchmarks).

Service account keys are real RSA keys made with ``cryptography``.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes import serve
from tests.fakes.google import ApiError, FakeGoogle, Grant, Req, _Handler

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
UNAUTHORIZED = ("Client is unauthorized to retrieve access tokens using this method, or client "
                "not authorized for any of the scopes requested.")
GROUP_SCOPES = {"https://www.googleapis.com/auth/admin.directory.group",
                "https://www.googleapis.com/auth/admin.directory.group.readonly"}
MEMBER_SCOPES = GROUP_SCOPES | {"https://www.googleapis.com/auth/admin.directory.group.member",
                                "https://www.googleapis.com/auth/admin.directory.group.member.readonly"}
USER_SCOPES = {"https://www.googleapis.com/auth/admin.directory.user",
               "https://www.googleapis.com/auth/admin.directory.user.readonly"}


@functools.cache
def rsa_key(n: int = 0) -> Any:
    """A 2048-bit RSA private key (made once per test process and index: ~50 ms each)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


@dataclass
class ServiceAccount:
    email: str
    client_id: str
    key_id: str
    private_key: Any
    delegated: set[str] = field(default_factory=set)  # scopes of its delegation entry


@dataclass
class DirUser:
    email: str
    name: str
    department: str | None = None
    org_unit: str = "/"
    suspended: bool = False
    archived: bool = False
    aliases: list[str] = field(default_factory=list)
    admin: bool = False


@dataclass
class DirGroup:
    email: str
    name: str
    id: str
    members: list[str] = field(default_factory=list)  # addresses of users or groups


class FakeWorkspace(FakeGoogle):
    """A Workspace domain: the Google fake plus service accounts and a directory."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__()
        self.latency = latency
        self.service_accounts: dict[str, ServiceAccount] = {}
        self.users: dict[str, DirUser] = {}
        self.groups: dict[str, DirGroup] = {}
        self.jwt_grants: list[dict[str, Any]] = []  # the verified claims of each grant
        self._by_cal: dict[str, list[str]] = {}  # event ids per calendar (thousands of users)
        self._indexed = -1

    def start(self) -> FakeWorkspace:
        handler = type("Handler", (_WorkspaceHandler,), {"fake": self})
        self.server, self.base = serve(handler)
        return self

    def __enter__(self) -> FakeWorkspace:
        return self.start()

    def visible(self, cal: str) -> list[dict[str, Any]]:
        """As FakeGoogle's, from an index: a domain holds every user's events (events
        are only ever added, so their count says when to index again)."""
        with self.lock:
            if self._indexed != len(self.events):
                self._by_cal = {}
                for ev in self.events.values():
                    for c in ev["_cals"]:
                        self._by_cal.setdefault(c, []).append(ev["id"])
                self._indexed = len(self.events)
            return [e for i in self._by_cal.get(cal, ()) if cal in (e := self.events[i])["_cals"]]

    # -- setup ------------------------------------------------------------------------
    def add_service_account(self, path: Path, scopes: list[str] | tuple[str, ...] = (),
                            key_index: int = 0, mode: int = 0o600) -> ServiceAccount:
        """A service account whose JSON key is written to ``path``; ``scopes``: its
        domain-wide delegation entry."""
        from cryptography.hazmat.primitives import serialization

        n = len(self.service_accounts) + 1
        sa = ServiceAccount(f"calsync-{n}@calsync-test.iam.gserviceaccount.com",
                            f"1000000000000000000{n:02d}", f"keyid{n:04d}", rsa_key(key_index),
                            set(scopes))
        self.service_accounts[sa.email] = sa
        pem = sa.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        info = {"type": "service_account", "project_id": "calsync-test",
                "private_key_id": sa.key_id, "private_key": pem, "client_email": sa.email,
                "client_id": sa.client_id, "auth_uri": f"{self.base}/auth",
                "token_uri": f"{self.base}/token",
                "auth_provider_x509_cert_url": f"{self.base}/certs",
                "client_x509_cert_url": f"{self.base}/certs/{sa.email}",
                "universe_domain": "googleapis.com"}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(info))
        path.chmod(mode)
        return sa

    def add_user(self, email: str, name: str | None = None, **kw: Any) -> DirUser:
        user = DirUser(email.lower(), name or email.split("@")[0].title(), **kw)
        self.users[user.email] = user
        self.add_calendar(user.email)
        return user

    def add_group(self, email: str, name: str, members: list[str]) -> DirGroup:
        group = DirGroup(email.lower(), name, f"0{len(self.groups) + 1:x}grp", [m.lower() for m in members])
        self.groups[group.email] = group
        return group

    def group(self, key: str) -> DirGroup:
        import urllib.parse

        key = urllib.parse.unquote(key).lower()
        for g in self.groups.values():
            if key in (g.email, g.id):
                return g
        raise ApiError(404, "notFound", "Resource Not Found: groupKey")

    def token_requests(self) -> int:
        return sum(1 for r in self.log if r["path"] == "/token")

    # -- the JWT-bearer grant ---------------------------------------------------------
    def jwt_grant(self, assertion: str) -> tuple[int, dict[str, Any]]:
        """Google's answer to one assertion: (status, JSON body)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def bad(status: int, error: str, text: str) -> tuple[int, dict[str, Any]]:
            return status, {"error": error, "error_description": text}

        try:
            head_b, body_b, sig_b = assertion.split(".")
            header, claims = json.loads(_b64(head_b)), json.loads(_b64(body_b))
        except ValueError:
            return bad(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token "
                       "(60 minutes) and in a reasonable timeframe.")
        sa = self.service_accounts.get(str(claims.get("iss")))
        if sa is None:
            return bad(400, "invalid_grant", "Invalid grant: account not found")
        if header.get("alg") != "RS256" or header.get("kid") != sa.key_id:
            return bad(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            sa.private_key.public_key().verify(_b64(sig_b), f"{head_b}.{body_b}".encode(),
                                               padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return bad(400, "invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (not isinstance(iat, int) or not isinstance(exp, int) or exp <= now
                or iat > now + 300 or exp - iat > 3600):
            return bad(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token "
                       "(60 minutes) and in a reasonable timeframe. Check your iat and exp "
                       "values in the JWT claim.")
        if claims.get("aud") != GOOGLE_TOKEN_URI:
            return bad(400, "invalid_grant", "Invalid JWT: audience mismatch")
        scopes = str(claims.get("scope") or "").split()
        if not scopes:
            return bad(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        sub = str(claims.get("sub") or "").lower()
        user = self.users.get(sub)
        if not sub or user is None or user.suspended:
            return bad(400, "invalid_grant", "Invalid email or User ID")
        if not set(scopes) <= sa.delegated:
            return bad(401, "unauthorized_client", UNAUTHORIZED)
        self.jwt_grants.append(claims)
        access = f"ya29.sa-{next(self._ids)}"
        self.access[access] = Grant(sub, scopes, sa.client_id)
        return 200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"}


class _WorkspaceHandler(_Handler):
    fake: FakeWorkspace

    def _handle(self) -> None:
        if self.fake.latency:
            time.sleep(self.fake.latency)
        super()._handle()

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    def _token(self, req: Req) -> None:
        form = req.body if isinstance(req.body, dict) else {}
        if form.get("grant_type") != JWT_BEARER:
            return super()._token(req)
        with self.fake.lock:
            status, body = self.fake.jwt_grant(str(form.get("assertion") or ""))
        self._send(status, body)

    def _route(self, req: Req, grant: Grant) -> None:
        if not req.path.startswith("/admin/directory/v1/"):
            return super()._route(req, grant)
        fake = self.fake
        user = fake.users.get(grant.user)
        if req.method != "GET":
            raise ApiError(405, "methodNotAllowed", "Method not allowed")
        rest = req.path[len("/admin/directory/v1/"):].split("/")
        q = {k: v[0] for k, v in req.query.items()}
        with fake.lock:
            if rest[0] == "groups" and len(rest) in (2, 3):
                self._need(grant, MEMBER_SCOPES if len(rest) == 3 else GROUP_SCOPES)
                self._admin(user)
                group = fake.group(rest[1])
                if len(rest) == 2:
                    return self._send(200, {"kind": "admin#directory#group", "id": group.id,
                                            "email": group.email, "name": group.name,
                                            "directMembersCount": str(len(group.members))})
                if rest[2] == "members":
                    return self._send(200, self._members(group, q))
            if rest == ["users"]:
                self._need(grant, USER_SCOPES)
                self._admin(user)
                return self._send(200, self._users(q))
        raise ApiError(404, "notFound", f"No route for {req.method} {req.path}")

    @staticmethod
    def _admin(user: DirUser | None) -> None:
        if user is None or not user.admin:
            raise ApiError(403, "forbidden", "Not Authorized to access this resource/api")

    @staticmethod
    def _page(items: list[dict[str, Any]], q: dict[str, str], default: int,
              cap: int) -> tuple[list[dict[str, Any]], str | None]:
        size = min(int(q.get("maxResults") or default), cap)
        start = int(q.get("pageToken") or 0)
        end = start + size
        return items[start:end], (str(end) if end < len(items) else None)

    def _members(self, group: DirGroup, q: dict[str, str]) -> dict[str, Any]:
        fake = self.fake
        items: list[dict[str, Any]] = []
        for address in group.members:
            if address in fake.groups:
                g = fake.groups[address]
                items.append({"kind": "admin#directory#member", "id": g.id, "email": g.email,
                              "role": "MEMBER", "type": "GROUP", "status": "ACTIVE"})
            else:
                u = fake.users.get(address)
                status = "SUSPENDED" if u is not None and u.suspended else "ACTIVE"
                items.append({"kind": "admin#directory#member", "id": f"u-{address}",
                              "email": address, "role": "MEMBER", "type": "USER",
                              "status": status})
        page, token = self._page(items, q, 200, 200)
        out: dict[str, Any] = {"kind": "admin#directory#members", "members": page}
        if token:
            out["nextPageToken"] = token
        return out

    def _users(self, q: dict[str, str]) -> dict[str, Any]:
        if q.get("customer") != "my_customer" and not q.get("domain"):
            raise ApiError(400, "badRequest", "Bad Request")
        matched = [u for u in self.fake.users.values() if matches(u, q.get("query") or "")]
        items = [{"kind": "admin#directory#user", "primaryEmail": u.email, "aliases": u.aliases,
                  "name": {"fullName": u.name}, "suspended": u.suspended, "archived": u.archived,
                  "orgUnitPath": u.org_unit,
                  "organizations": [{"department": u.department, "primary": True}]
                  if u.department else []}
                 for u in matched]
        page, token = self._page(items, q, 100, 500)
        out: dict[str, Any] = {"kind": "admin#directory#users", "users": page}
        if token:
            out["nextPageToken"] = token
        return out


def matches(user: DirUser, query: str) -> bool:
    """The subset of the Admin SDK user search calsync's tests use: space-separated
    ``field=value`` (exact) and ``field:value`` (prefix) terms, values optionally quoted,
    fields orgUnitPath, orgDepartment, email, name, isSuspended."""
    import shlex

    fields = {"orgunitpath": user.org_unit, "orgdepartment": user.department or "",
              "email": user.email, "name": user.name, "issuspended": str(user.suspended).lower()}
    for term in shlex.split(query):
        op = "=" if "=" in term else ":"
        key, _, value = term.partition(op)
        have = fields.get(key.lower())
        if have is None:
            raise ApiError(400, "invalidInput", f"Invalid Input: {key}")
        if op == "=" and have.lower() != value.lower():
            return False
        if op == ":" and not have.lower().startswith(value.lower()):
            return False
    return True
