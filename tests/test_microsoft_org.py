"""Microsoft 365 organisation runs: app-only sign-in through the real msal, owners from the
directory, ``$batch`` through the shared transport, against the TLS loopback tenant fake."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from calsync.backends.base import Window, WriteStatus
from calsync.backends.microsoft.config import MicrosoftOrg
from calsync.backends.microsoft.graph import MailboxError
from calsync.backends.microsoft.tenant import MicrosoftTenant
from calsync.backends.org import Member
from calsync.backends.registry import open_tenant
from calsync.core.model import Body, Owner
from calsync.core.state import MemoryState
from calsync.errors import AuthError, ProviderError
from tests.fakes.microsoft import Fault
from tests.fakes.microsoft_tenant import FakeTenant, make_certificate, seed_one_on_ones
from tests.microsoft_fixtures import ms_tls, no_sleep, trust_ca  # noqa: F401
from tests.test_microsoft import BEGIN, END, block_splice

SECRET = "s3cr3t~Value.of-the-secret"
APP = "11111111-2222-3333-4444-555555555555"
NOW = datetime(2026, 1, 7, 8, 0, tzinfo=UTC)
WINDOW = Window(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC))


@pytest.fixture
def fake(ms_tls: tuple[Any, Any, Path], trust_ca: Path) -> Iterator[FakeTenant]:  # noqa: F811
    t = FakeTenant()
    t.add_app(APP, secret=SECRET)
    t.add_users(30)
    t.seeder = seed_one_on_ones
    t.start(ms_tls[1])
    yield t
    t.stop()


def private(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def org_of(fake: FakeTenant, tmp_path: Path, **kw: Any) -> MicrosoftOrg:
    if "certificate" not in kw:
        kw.setdefault("client_secret_file", private(tmp_path / "secret", SECRET + "\n"))
    kw.setdefault("concurrency", 4)
    return MicrosoftOrg(name="acme", provider="microsoft", tenant=fake.domain, client_id=APP,
                        authority_url=fake.base, graph_url=fake.graph_url, **kw)


@pytest.fixture
def make(fake: FakeTenant, tmp_path: Path, no_sleep: Any) -> Iterator[Callable[..., MicrosoftTenant]]:  # noqa: F811
    made: list[MicrosoftTenant] = []

    def build(linger: float = 0.004, **kw: Any) -> MicrosoftTenant:
        tenant = MicrosoftTenant(org_of(fake, tmp_path, **kw), sleep=no_sleep, linger=linger)
        made.append(tenant)
        return tenant

    yield build
    for tenant in made:
        tenant.close()


def addr(i: int) -> str:
    return f"user{i:05d}@contoso.example"


def provider(tenant: MicrosoftTenant, address: str, state: MemoryState | None = None) -> Any:
    member = Member(address)
    cal = tenant.calendar(member)
    return tenant.open(cal, Owner((address,), "UTC"), state or MemoryState(), NOW)


def side_by_side(n: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` for i < n, all threads released at once; exceptions are returned."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = work(i)
        except Exception as exc:  # noqa: BLE001 (the caller looks at each)
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# -- sign-in --------------------------------------------------------------------------------


def test_secret_client_credentials_one_token_for_all_threads(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant]) -> None:
    tenant = make()
    tokens = side_by_side(16, lambda i: tenant.tokens.token())
    assert len(set(tokens)) == 1 and tokens[0] in fake.access_tokens
    [req] = fake.token_requests()
    form = req.form()
    assert form["grant_type"] == "client_credentials" and form["client_secret"] == SECRET
    assert form["scope"] == fake.base + "/.default" and "client_assertion" not in form
    assert tenant.tokens.fetches == 1


def test_certificate_client_assertion_verified_by_the_fake(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant], tmp_path: Path) -> None:
    pem, cert = make_certificate()
    fake.apps[APP].certificates.append(cert)
    tenant = make(certificate=private(tmp_path / "app.pem", pem))
    token = tenant.tokens.token()
    assert token in fake.access_tokens
    form = fake.token_requests()[-1].form()
    assert form["client_assertion_type"].endswith("jwt-bearer") and "client_secret" not in form


def test_bad_secret_and_unknown_certificate_are_one_clear_line(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant], tmp_path: Path) -> None:
    wrong = make(client_secret_file=private(tmp_path / "wrong", "not-the-secret"))
    with pytest.raises(AuthError) as bad:
        wrong.tokens.token()
    text = str(bad.value)
    assert "\n" not in text and "AADSTS7000215" in text and "Value" in text
    assert "not-the-secret" not in text and text.startswith("acme: ")
    pem, _ = make_certificate()  # never uploaded to the app registration
    unknown = make(certificate=private(tmp_path / "other.pem", pem))
    with pytest.raises(AuthError) as refused:
        unknown.tokens.token()
    assert "AADSTS700027" in str(refused.value) and "upload" in str(refused.value)
    assert "PRIVATE" not in str(refused.value)


def test_secret_file_readable_by_others_is_refused(
        make: Callable[..., MicrosoftTenant], tmp_path: Path) -> None:
    path = private(tmp_path / "open", SECRET)
    os.chmod(path, 0o644)
    with pytest.raises(AuthError, match="chmod 600"):
        make(client_secret_file=path).tokens.token()


# -- the directory --------------------------------------------------------------------------


def test_group_members_nested_groups_expanded_once_disabled_skipped(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant]) -> None:
    fake.users[addr(3)].enabled = False
    fake.users[addr(1)].aliases = ("u1.alias@contoso.example",)
    inner = fake.add_group("Platform", [addr(2), addr(3), addr(1)])
    outer = fake.add_group("Engineering", [addr(1), inner.id], mail="eng@contoso.example")
    inner.members.append(outer.id)  # a cycle Graph's transitive listing copes with
    tenant = make()
    members = tenant.group_members("ENG@contoso.example")
    assert [m.address for m in members] == [addr(1), addr(2)]
    assert {m.team for m in members} == {"Engineering"}
    assert members[0].aliases == ("u1.alias@contoso.example",)
    paths = [r.path for r in fake.graph_requests()]
    assert paths[-1] == f"/v1.0/groups/{outer.id}/transitiveMembers/microsoft.graph.user"
    assert [m.address for m in tenant.group_members(inner.id)] == [addr(2), addr(1)]
    with pytest.raises(ProviderError, match="no group with the address nope@"):
        tenant.group_members("nope@contoso.example")
    with pytest.raises(ProviderError, match="no group 'deadbeef'"):
        tenant.group_members("deadbeef")


def test_directory_filter_plain_and_advanced_and_paging(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant]) -> None:
    fake.add_users(1100, prefix="bulk", departments=("Sales", "Ops"))
    fake.users[addr(0)].enabled = False
    tenant = make()
    everyone = tenant.directory(None)
    assert len(everyone) == 30 + 1100 - 1 and addr(0) not in {m.address for m in everyone}
    assert len([r for r in fake.graph_requests() if r.path == "/v1.0/users"]) == 2  # 999 a page
    sales = tenant.directory("department eq 'Sales'")
    assert len(sales) == 550 and {m.team for m in sales} == {"Sales"}
    plain = fake.graph_requests()[-1]
    assert "ConsistencyLevel" not in plain.headers and "$count" not in plain.query
    ours = tenant.directory("endswith(mail,'00007@contoso.example')")
    assert {m.address for m in ours} == {addr(7), "bulk00007@contoso.example"}
    advanced = fake.graph_requests()[-1]
    assert advanced.headers.get("ConsistencyLevel") == "eventual"
    assert advanced.query["$count"] == ["true"]
    with pytest.raises(ProviderError, match="refused the directory filter"):
        tenant.directory("department gt 'S'")


# -- $batch ---------------------------------------------------------------------------------


def test_a_429_inside_a_batch_is_retried_for_that_sub_request_only(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant], no_sleep: Any) -> None:  # noqa: F811
    fake.faults.append(Fault(429, path=f"/users/{addr(1)}/", headers={"Retry-After": "7"}))
    tenant = make(linger=0.2)
    results = side_by_side(3, lambda i: provider(tenant, addr(i)).fetch(WINDOW))
    assert all(len(r.occurrences) == 8 * 4 for r in results)
    deltas = [r for r in fake.graph_requests() if r.path.endswith("/calendarView/delta")]
    per_box = {a: [r.status for r in deltas if a in r.path] for a in map(addr, range(3))}
    assert per_box == {addr(0): [200], addr(1): [429, 200], addr(2): [200]}
    assert no_sleep.calls == [7.0]
    assert fake.batch_sizes == [3, 1]  # the retry went alone


def test_more_than_20_at_once_go_in_several_batches_of_at_most_20(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant]) -> None:
    tenant = make(linger=0.3, concurrency=2)
    assert tenant.workers == 40
    results = side_by_side(25, lambda i: provider(tenant, addr(i)).fetch(WINDOW))
    assert all(not isinstance(r, Exception) for r in results)
    assert sorted(fake.batch_sizes) == [5, 20] and max(fake.peak.values()) == 1
    assert tenant.requests() == 2 + 2  # discovery, token, two batches
    assert tenant.sub_requests == 25


def test_batch_false_sends_directly_within_concurrency(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant]) -> None:
    fake.latency = 0.03
    tenant = make(batch=False, concurrency=3)
    assert tenant.workers == 3
    side_by_side(9, lambda i: provider(tenant, addr(i)).fetch(WINDOW))
    assert fake.batch_sizes == [] and fake.http_peak <= 3
    assert len([r for r in fake.log if r.path.startswith("/v1.0/users/")]) == 9


def test_per_mailbox_concurrency_stays_at_most_4(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant]) -> None:
    fake.latency = 0.05
    tenant = make(concurrency=8)
    side_by_side(12, lambda i: provider(tenant, addr(5)).fetch(WINDOW))
    assert 2 <= fake.peak[addr(5)] <= 4
    assert [r.status for r in fake.graph_requests() if r.status == 429] == []


# -- owners that cannot be served -----------------------------------------------------------


def test_unlicensed_or_unknown_mailbox_fails_alone_with_one_clear_line(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant]) -> None:
    fake.users[addr(2)].licensed = False
    tenant = make()
    out = side_by_side(3, lambda i: provider(tenant, addr(i + 1)).fetch(WINDOW))
    assert isinstance(out[1], MailboxError)
    assert str(out[1]) == (f"acme/{addr(2)}: the mailbox has no Exchange Online licence or "
                           "calendar (MailboxNotEnabledForRESTAPI)")
    assert len(out[0].occurrences) == len(out[2].occurrences) == 32
    with pytest.raises(MailboxError, match="acme/ghost@contoso.example: no such user"):
        provider(tenant, "ghost@contoso.example").fetch(WINDOW)


# -- end to end -----------------------------------------------------------------------------


def test_open_fetch_write_two_mailboxes_through_batches(fake: FakeTenant, tmp_path: Path) -> None:
    tenant = open_tenant(org_of(fake, tmp_path))
    assert isinstance(tenant, MicrosoftTenant)
    try:
        owners = [addr(10), addr(11)]
        provs = [provider(tenant, a) for a in owners]
        firsts = [p.fetch(WINDOW).occurrences[0] for p in provs]
        mb = fake.mailbox(owners[1])
        # someone edits owner 11's invite between calsync's read and its write
        racing_done: list[str] = []

        def racing(body: Body) -> Body | None:
            if not racing_done:
                racing_done.append("x")
                mb.edit(firsts[1].ref, body=body.text.replace("</body>", "<p>human</p></body>"))
            return block_splice("agenda 11")(body)

        results = side_by_side(2, lambda i: provs[i].write_description(
            firsts[i], block_splice("agenda 10") if i == 0 else racing, "t"))
        assert [r.status for r in results] == [WriteStatus.WRITTEN, WriteStatus.WRITTEN]
        box10 = fake.mailbox(owners[0]).events[firsts[0].ref]["body"]["content"]
        box11 = mb.events[firsts[1].ref]["body"]["content"]
        assert f"{BEGIN}<div>agenda 10</div>{END}" in box10 and "agenda 11" not in box10
        assert f"{BEGIN}<div>agenda 11</div>{END}" in box11 and "<p>human</p>" in box11
        patches = fake.graph_requests("PATCH")
        assert all(p.headers.get("If-Match", "").startswith('W/"') for p in patches)
        assert sorted(p.status for p in patches) == [200, 200, 412]
        assert {p.path.split("/")[3] for p in patches} == set(owners)
        assert fake.batch_sizes and max(fake.batch_sizes) <= 20
    finally:
        tenant.close()


def test_an_expired_token_is_fetched_again_once_for_all_owners(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant]) -> None:
    tenant = make()
    states = [MemoryState() for _ in range(6)]
    side_by_side(6, lambda i: provider(tenant, addr(i), states[i]).fetch(WINDOW))
    tenant.tokens._fetched -= 60  # the token is old enough for a refresh to be worth it
    fake.access_tokens.clear()  # Graph no longer takes it
    out = side_by_side(6, lambda i: provider(tenant, addr(i), states[i]).fetch(WINDOW))
    assert all(not isinstance(r, Exception) for r in out)
    assert len(fake.token_requests()) == 2


def test_tokens_and_secret_never_in_logs_or_errors(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.users[addr(4)].licensed = False
    tenant = make()
    errors = side_by_side(2, lambda i: provider(tenant, addr(3 + i)).fetch(WINDOW))
    token = tenant.tokens.token()
    fake.access_tokens.clear()
    tenant.tokens._fetched -= 60
    fake.apps[APP].secrets.clear()  # and now the secret is refused as well
    with pytest.raises(AuthError) as refused:
        provider(tenant, addr(5)).fetch(WINDOW)
    texts = [caplog.text, str(errors[1]), str(refused.value)]
    assert all(token not in t and SECRET not in t for t in texts)
    assert "AADSTS7000215" in str(refused.value)


def test_calendar_names_the_owner_and_the_app(make: Callable[..., MicrosoftTenant]) -> None:
    tenant = make(read_only=True)
    cal = tenant.calendar(Member(addr(1)))
    assert cal.name == f"acme/{addr(1)}" and cal.mailbox == addr(1) and cal.read_only
    assert cal.client_id == APP and cal.tenant == "contoso.example"
    prov = tenant.open(cal, Owner((addr(1),)), MemoryState(), NOW)
    assert prov.graph.mailbox == f"/users/{addr(1)}" and prov.graph.client is tenant.client
    assert tenant.requests() == 0  # opening sends nothing
    occ = prov.fetch(WINDOW).occurrences[0]
    assert prov.write_description(occ, block_splice("x"), "t").status is WriteStatus.FORBIDDEN
    prov.close()
    assert not tenant.client.is_closed


def test_docs_live_in_each_owners_onedrive(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant]) -> None:
    from calsync.backends.base import DocRequest

    tenant = make()
    owner = addr(8)
    docs = provider(tenant, owner).docs()
    req = DocRequest(key=f"acme/{owner}:{owner}.r0", counterpart="user00008.r0@contoso.example",
                     counterpart_name="R0", title="1on1: R0",
                     template="Purpose\n\n<!-- calsync:meetings (newest first) -->\n")
    ref = docs.ensure(req)
    assert docs.add_section(ref, "m1", "## 2026-01-07\n- [ ] topic")
    assert "topic" in docs.read_text(ref)
    assert list(fake.mailbox(owner).drive) == [ref.id] and fake.mailbox(addr(9)).drive == {}
    drive = [r for r in fake.graph_requests() if "/drive" in r.path]
    assert drive and all(r.path.startswith(f"/v1.0/users/{owner}/drive") for r in drive)
    uploads = [r.path for r in fake.log if r.method == "PUT"]
    assert uploads and all(f"/users/{owner}/drive" in p for p in uploads)  # sent directly


def test_a_token_near_its_expiry_is_replaced_before_graph_refuses_it(
        fake: FakeTenant, make: Callable[..., MicrosoftTenant]) -> None:
    import time

    fake.token_lifetime = 1  # renewed after half of it
    tenant = make()
    first = tenant.tokens.token()
    assert tenant.tokens.token() == first
    time.sleep(0.6)
    second = tenant.tokens.token()
    assert second != first and len(fake.token_requests()) == 2
    assert [r.status for r in fake.graph_requests()] == []  # no 401 was needed
