"""The shared agenda doc as a .docx in OneDrive, against the Graph fake."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calsync.backends.microsoft.docs as onedrive
from calsync.backends.base import DocRequest
from calsync.backends.microsoft.docs import LOG_HEADING, OneDriveDocs, build_docx, docx_text
from calsync.errors import ForbiddenError
from tests.microsoft_fixtures import *  # noqa: F403
from tests.microsoft_fixtures import MsEnv

REQ = DocRequest(
    key="work:bob@contoso.example",
    counterpart="bob@contoso.example",
    counterpart_name="Bob Report",
    title="1on1: Bob Report",
    template="Purpose: growth and problem-solving — not an evaluation\n\n## How we use this doc"
             "\n- [ ] bring 3–4 topics <good & hard>\n\n<!-- calsync:meetings (newest first) -->\n",
)


def backend(env: MsEnv, now: datetime | None = None) -> OneDriveDocs:
    docs = env.provider(now).docs()
    assert isinstance(docs, OneDriveDocs)
    return docs


def parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_built_package_is_valid_word() -> None:
    data = build_docx(REQ.template, REQ.title)
    p = parts(data)
    assert set(p) == {"[Content_Types].xml", "_rels/.rels", "word/document.xml"}
    for xml in p.values():
        ElementTree.fromstring(xml)  # well-formed
    ct = ElementTree.fromstring(p["[Content_Types].xml"])
    overrides = {o.get("PartName"): o.get("ContentType") for o in ct}
    assert overrides["/word/document.xml"].endswith("wordprocessingml.document.main+xml")
    text = docx_text(data)
    assert text.splitlines()[0] == "1on1: Bob Report"
    assert "- [ ] bring 3–4 topics <good & hard>" in text
    assert text.rstrip().endswith(LOG_HEADING) and "<!--" not in text


def test_ensure_creates_shares_and_remembers(ms_env: MsEnv) -> None:
    f = ms_env.fake
    docs = backend(ms_env)
    ref = docs.ensure(REQ)
    (item,) = f.drive.values()
    assert ref.id == item["id"] and ref.url == item["webUrl"]
    assert item["_path"].startswith("calsync/1on1 Bob Report ") and item["_path"].endswith(".docx")
    put = next(r for r in f.graph_requests("PUT"))
    assert put.query["@microsoft.graph.conflictBehavior"] == ["fail"]
    invite = json.loads(next(r for r in f.graph_requests("POST")).body)
    assert invite == {"recipients": [{"email": "bob@contoso.example"}], "roles": ["write"],
                      "requireSignIn": True, "sendInvitation": False}
    assert "Purpose: growth" in f.docx_text(ref.id)
    f.log.clear()
    assert backend(ms_env).ensure(REQ) == ref
    assert f.graph_requests() == []  # remembered: no request at all


def test_ensure_after_a_crash_finds_the_same_file(ms_env: MsEnv) -> None:
    f = ms_env.fake
    ref = backend(ms_env).ensure(REQ)
    for key in list(ms_env.state.data):
        del ms_env.state.data[key]  # state lost between creating and remembering
    again = backend(ms_env).ensure(REQ)
    assert again == ref and len(f.drive) == 1


def test_add_section_on_top_of_the_log_keeps_what_people_wrote(ms_env: MsEnv) -> None:
    f = ms_env.fake
    docs = backend(ms_env)
    ref = docs.ensure(REQ)
    assert docs.add_section(ref, "## 2026-05-04", "## 2026-05-04\n- [ ] Bob: draft plan")
    # Bob writes in the browser: a note under the section, with formatting Word added
    note = ('<w:p w:rsidR="00A1"><w:pPr><w:spacing w:after="0"/></w:pPr><w:r><w:rPr><w:i/>'
            '</w:rPr><w:t xml:space="preserve">Bob: </w:t></w:r><w:r><w:t>- [x] call the vendor'
            '</w:t></w:r></w:p>')
    f.human_edit_doc(ref.id, lambda xml: xml.replace("</w:body>", "").replace(
        "<w:sectPr>", note + "<w:sectPr>") + "")
    before = parts(f.drive[ref.id]["_content"])
    f.log.clear()
    docs2 = backend(ms_env)
    assert docs2.add_section(ref, "## 2026-05-11", "## 2026-05-11\n- [ ] Mona: book room")
    after = parts(f.drive[ref.id]["_content"])
    assert {k: v for k, v in after.items() if k != "word/document.xml"} == \
        {k: v for k, v in before.items() if k != "word/document.xml"}
    old_xml, new_xml = before["word/document.xml"].decode(), after["word/document.xml"].decode()
    inserted = "".join(onedrive.paragraph(line) for line in ["## 2026-05-11",
                                                               "- [ ] Mona: book room"])
    assert new_xml.replace(inserted, "", 1) == old_xml  # one insertion, nothing else touched
    lines = f.docx_text(ref.id).splitlines()
    log = lines.index(LOG_HEADING)
    assert lines[log + 1: log + 5] == ["2026-05-11", "- [ ] Mona: book room", "2026-05-04",
                                       "- [ ] Bob: draft plan"]
    assert "Bob: - [x] call the vendor" in lines
    put = f.graph_requests("PUT")[-1]
    assert put.headers["If-Match"] and put.path.endswith(f"/items/{ref.id}/content")
    # idempotent by marker: nothing uploaded the second time
    f.log.clear()
    assert not backend(ms_env).add_section(ref, "## 2026-05-11", "## 2026-05-11\n- [ ] x")
    assert f.graph_requests("PUT") == []


def test_concurrent_browser_edit_is_not_overwritten(ms_env: MsEnv,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    f = ms_env.fake
    docs = backend(ms_env)
    ref = docs.ensure(REQ)
    real = onedrive.insert_section
    calls: list[int] = []

    def racing(data: bytes, text: str) -> bytes:
        calls.append(1)
        if len(calls) == 1:  # Bob types while calsync is splicing
            f.human_edit_doc(ref.id, lambda xml: xml.replace(
                "<w:sectPr>", "<w:p><w:r><w:t>typed by Bob</w:t></w:r></w:p><w:sectPr>"))
        return real(data, text)

    monkeypatch.setattr(onedrive, "insert_section", racing)
    assert docs.add_section(ref, "## 2026-05-04", "## 2026-05-04\nagenda")
    assert [r.status for r in f.graph_requests("PUT")][-2:] == [412, 200]
    text = f.docx_text(ref.id)
    assert "typed by Bob" in text and "2026-05-04" in text


def test_read_text_steady_state_uses_the_drive_delta_hourly(ms_env: MsEnv) -> None:
    f = ms_env.fake
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    ref = backend(ms_env, t0).ensure(REQ)
    assert "Purpose" in backend(ms_env, t0).read_text(ref)  # first run: starts the delta chain
    f.log.clear()
    text = backend(ms_env, t0 + timedelta(minutes=61)).read_text(ref)
    # from the cache, which keeps the checklist lines only (no one's notes in the state)
    assert "Purpose" not in text and "- [ ] bring 3–4 topics" in text
    assert not any("Purpose" in v for v in ms_env.state.data.values())
    assert [r.path for r in f.graph_requests()] == ["/v1.0/me/drive/root/delta"]
    f.human_edit_doc(ref.id, lambda xml: xml.replace(
        "<w:sectPr>", "<w:p><w:r><w:t>- [ ] Bob: new item</w:t></w:r></w:p><w:sectPr>"))
    # within the hour of the last delta read: no request, the cached text stands
    f.log.clear()
    assert "Bob: new item" not in backend(ms_env, t0 + timedelta(minutes=90)).read_text(ref)
    assert f.graph_requests() == []
    f.log.clear()
    assert "- [ ] Bob: new item" in backend(ms_env, t0 + timedelta(minutes=125)).read_text(ref)
    assert len(f.graph_requests()) == 2  # delta, then the item's metadata (download is signed)


def test_read_only_calendar_creates_no_doc(ms_env: MsEnv, tmp_path: Any) -> None:
    cfg = ms_env.config_path
    cfg.write_text(cfg.read_text() + "read_only = true\n")
    with pytest.raises(ForbiddenError):
        backend(ms_env).ensure(REQ)
    assert ms_env.fake.drive == {}


def test_sharing_throttled_is_not_retried_now_but_next_run(ms_env: MsEnv) -> None:
    from calsync.errors import ProviderError
    from tests.fakes.microsoft import Fault

    f = ms_env.fake
    f.faults.append(Fault(429, "/invite", method="POST", headers={"Retry-After": "1"}))
    with pytest.raises(ProviderError):
        backend(ms_env).ensure(REQ)
    assert len(f.graph_requests("POST")) == 1 and len(f.drive) == 1
    ref = backend(ms_env).ensure(REQ)  # next run: same file, shared now
    assert len(f.drive) == 1 and [p["invitation"]["email"] for p in f.drive[ref.id]["_perms"]] \
        == ["bob@contoso.example"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(
    blacklist_categories=("Cs", "Cc", "Cn", "Zl", "Zp")), max_size=40), min_size=1, max_size=6))
def test_insert_keeps_text_and_everything_else(lines: list[str]) -> None:
    """Whatever people typed (markup characters, emoji, Japanese) reads back the same, and
    the rest of the document is untouched."""
    data = build_docx("Purpose: growth <not> evaluation & more\n- [ ] 日本語の項目 ✅")
    old = parts(data)["word/document.xml"].decode()
    text = "\n".join(lines)
    new_data = onedrive.insert_section(data, text)
    new = parts(new_data)["word/document.xml"].decode()
    ElementTree.fromstring(new)
    sent = text.rstrip("\n").split("\n")
    inserted = "".join(onedrive.paragraph(line) for line in sent)
    at = old.index("</w:p>", old.index('w:name="calsync_log"')) + len("</w:p>")
    assert new == old[:at] + inserted + old[at:]
    heading = re.compile(r"^(#{1,6})\s+(.*)$")
    want = [m.group(2) if (m := heading.match(line)) else line for line in sent]
    got = docx_text(new_data).split("\n")
    start = got.index(LOG_HEADING) + 1
    assert got[start: start + len(want)] == want


# --- review fixes: refused shares, downloads through Graph.request, no $select ----------


def test_refused_share_keeps_the_doc_warns_and_asks_again_after_a_week(ms_env: MsEnv) -> None:
    """A tenant that does not allow sharing with the counterpart answers the invite with
    403: the doc is kept and works, the backend warns, and asks again only after 7 days."""
    f = ms_env.fake
    f.refuse_sharing.add("@contoso.example")
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    docs = backend(ms_env, t0)
    ref = docs.ensure(REQ)  # no exception: the calendar goes on
    assert [r.status for r in f.graph_requests("POST")] == [403]
    assert len(docs.warnings) == 1 and "bob@contoso.example" in docs.warnings[0]
    assert ref.url in docs.warnings[0] and "7 days" in docs.warnings[0]
    assert f.drive[ref.id]["_perms"] == []
    assert docs.add_section(ref, "## 2026-03-02", "## 2026-03-02\n- [ ] Bob: plan")
    # later runs within the week: no invite, no warning, same doc
    for later in (timedelta(hours=1), timedelta(days=6)):
        f.log.clear()
        again = backend(ms_env, t0 + later)
        assert again.ensure(REQ) == ref
        assert f.graph_requests("POST") == [] and again.warnings == []
    # a week on, sharing is allowed now: asked again, and remembered as shared
    f.refuse_sharing.clear()
    f.log.clear()
    week = backend(ms_env, t0 + timedelta(days=7, hours=1))
    assert week.ensure(REQ) == ref and week.warnings == []
    assert [r.status for r in f.graph_requests("POST")] == [200]
    assert [p["invitation"]["email"] for p in f.drive[ref.id]["_perms"]] == [REQ.counterpart]
    f.log.clear()
    backend(ms_env, t0 + timedelta(days=30)).ensure(REQ)
    assert f.graph_requests() == []


def test_fake_invite_validates_its_body(ms_env: MsEnv) -> None:
    from calsync.errors import GraphError

    ref = backend(ms_env).ensure(REQ)
    graph = ms_env.provider().graph
    with pytest.raises(GraphError) as err:
        graph.request("POST", f"/me/drive/items/{ref.id}/invite", json_body={"roles": ["write"]})
    assert err.value.status == 400


def test_item_get_with_select_has_no_download_url_and_calsync_does_not_use_it(
        ms_env: MsEnv) -> None:
    """Graph drops the download URL annotation under $select (microsoft-graph-docs#20212):
    the fake does too, and calsync reads a doc with a plain item GET."""
    f = ms_env.fake
    ref = backend(ms_env).ensure(REQ)
    graph = ms_env.provider().graph
    selected = graph.get_json(f"/me/drive/items/{ref.id}",
                              params={"$select": "id,eTag,@microsoft.graph.downloadUrl"})
    assert set(selected) == {"id", "eTag"}
    assert "@microsoft.graph.downloadUrl" in graph.get_json(f"/me/drive/items/{ref.id}")
    f.log.clear()
    assert "Purpose: growth" in backend(ms_env).read_text(ref)  # a new run: not cached
    meta = [r for r in f.graph_requests() if r.path == f"/v1.0/me/drive/items/{ref.id}"]
    assert len(meta) == 1 and "$select" not in meta[0].query
    download = [r for r in f.log if r.path.startswith("/download/")]
    assert len(download) == 1 and "Authorization" not in download[0].headers  # pre-signed


def test_download_errors_are_calsync_errors_and_retried(ms_env: MsEnv) -> None:
    """A dropped connection on the pre-authenticated download is retried like any GET, and
    when it persists it is a ProviderError, never a raw httpx exception."""
    from calsync.errors import CalsyncError
    from tests.fakes.microsoft import Fault

    f = ms_env.fake
    ref = backend(ms_env).ensure(REQ)
    f.faults.append(Fault(0, "/download/"))  # one reset, then fine
    assert "Purpose: growth" in backend(ms_env).read_text(ref)
    assert len([r for r in f.log if r.path.startswith("/download/")]) == 2
    assert len(ms_env.sleeps.calls) == 1

    def uncached() -> OneDriveDocs:  # a run whose cached text is gone: it downloads
        ms_env.state.data.pop(f"onedrive:text:{ref.id}", None)
        return backend(ms_env)

    f.faults.append(Fault(0, "/download/", times=50))
    with pytest.raises(CalsyncError, match=r"cannot reach 127\.0\.0\.1:\d+ \(connection "
                       r"closed without an answer\) after 3 tries"):
        uncached().read_text(ref)
    f.faults.clear()
    f.faults.append(Fault(503, "/download/", times=2))
    assert "Purpose: growth" in uncached().read_text(ref)
    assert [r.status for r in f.log if r.path.startswith("/download/")][-3:] == [503, 503, 200]


def test_download_counts_against_the_in_flight_limit(ms_env: MsEnv,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ref = backend(ms_env).ensure(REQ)
    docs = backend(ms_env)
    graph = docs.graph
    held = [0]

    class Slots:
        def __enter__(self) -> None:
            held[0] += 1

        def __exit__(self, *exc: object) -> None:
            held[0] -= 1

    sent: list[tuple[str, int]] = []
    real_send = graph.client.send

    def send(request: Any, **kw: Any) -> Any:
        sent.append((request.url.path, held[0]))
        return real_send(request, **kw)

    monkeypatch.setattr(graph, "_slots", Slots())
    monkeypatch.setattr(graph.client, "send", send)
    docs.read_text(ref)
    downloads = [h for path, h in sent if path.startswith("/download/")]
    assert downloads == [1]  # sent while holding one of the mailbox's 4 slots
