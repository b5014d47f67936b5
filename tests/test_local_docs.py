"""The local Markdown doc backend (issue 3): one doc per pair, insert-only."""

from __future__ import annotations

from pathlib import Path

from calsync.backends.base import DocRequest
from calsync.backends.local.docs import LocalDocs
from calsync.core.agenda import DOC_LOG_ANCHOR


def request(email: str, template: str = f"# doc\n{DOC_LOG_ANCHOR}\n") -> DocRequest:
    return DocRequest(key=f"w:{email}", counterpart=email, counterpart_name=None,
                      title="t", template=template)


def test_similar_addresses_get_different_docs(tmp_path: Path) -> None:
    docs = LocalDocs(tmp_path)
    names = ["john.smith@example.com", "john_smith@example.com", "John.Smith@example.com",
             "odd/name@example.com", "odd-name@example.com"]
    refs = {docs.ensure(request(n)).id for n in names}
    assert len(refs) == 4  # the two spellings of one address share; all others differ
    assert all(Path(r).parent == tmp_path for r in refs)


def test_sections_go_on_top_and_are_added_once(tmp_path: Path) -> None:
    docs = LocalDocs(tmp_path, "https://wiki.example.com/{slug}")
    ref = docs.ensure(request("a@example.com"))
    assert ref.url == "https://wiki.example.com/a@example.com"
    assert docs.add_section(ref, "## 2026-11-26", "## 2026-11-26\n- [ ] one\n")
    assert not docs.add_section(ref, "## 2026-11-26", "## 2026-11-26\n- [ ] one\n")
    assert docs.add_section(ref, "## 2026-12-03", "## 2026-12-03\n")
    text = docs.read_text(ref)
    assert text.index("2026-12-03") < text.index("2026-11-26")
    assert text.startswith(f"# doc\n{DOC_LOG_ANCHOR}\n")


def test_crlf_doc_stays_crlf_and_people_text_is_kept(tmp_path: Path) -> None:
    docs = LocalDocs(tmp_path)
    ref = docs.ensure(request("a@example.com"))
    path = Path(ref.id)
    original = f"# Our doc\r\n{DOC_LOG_ANCHOR}\r\n\r\nNotes typed on Windows.\r\n".encode()
    path.write_bytes(original)
    docs.add_section(ref, "## 2026-11-26", "## 2026-11-26\n- [ ] x\n")
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.endswith(b"\r\n\r\nNotes typed on Windows.\r\n")
    assert data.startswith(f"# Our doc\r\n{DOC_LOG_ANCHOR}\r\n".encode())


def test_anchor_removed_section_appended(tmp_path: Path) -> None:
    docs = LocalDocs(tmp_path)
    ref = docs.ensure(request("a@example.com"))
    Path(ref.id).write_text("my own layout\n")
    docs.add_section(ref, "## 2026-11-26", "## 2026-11-26\n")
    assert Path(ref.id).read_text() == "my own layout\n\n## 2026-11-26\n"
