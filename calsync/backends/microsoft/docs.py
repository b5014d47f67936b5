"""The pair's shared agenda doc as a Word document in the owner's OneDrive.

Why .docx: Word for the web opens and co-edits it in the browser for both people, with
no conversion step (Graph has none from Markdown), and it stays a normal file. calsync
builds a minimal valid package with :mod:`zipfile` (content types, one relationship,
``word/document.xml``) and never re-serialises what people wrote: a new meeting section
is spliced into ``document.xml`` as new ``<w:p>`` elements right after the log heading,
every other byte of that part and every other part of the package is copied as is.

The file lives at a path derived from the relationship key
(``/calsync/<title> <hash>.docx``) and is created with ``conflictBehavior=fail``, so a
crash between creating and remembering it finds the same file again instead of making a
second one. It is shared with the counterpart through ``invite`` (write role, sign-in
required, no email: the link is in the invite); its ``webUrl`` is what the agenda links.
A refused share (a tenant that blocks sharing outside it, say) keeps the doc and the
agendas going: the backend says so in ``warnings`` and asks again after
``SHARE_RETRY_DAYS``. Reading a doc is a plain item GET (Graph gives the pre-authenticated
``@microsoft.graph.downloadUrl`` there, not under ``$select``), then that URL fetched
without the bearer token, through the same client, limits and retries as every request.
Updates use ``If-Match`` on the item's eTag: a concurrent browser edit makes the upload
fail with 412 and calsync re-reads and splices again, once.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import json
import re
import urllib.parse
import zipfile
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from calsync.backends.base import DocRef, DocRequest, mark_polled, polled_recently
from calsync.backends.microsoft.graph import json_of
from calsync.core.actions import checklist_lines
from calsync.errors import ConflictError, ForbiddenError, GraphError, ProviderError

if TYPE_CHECKING:
    from calsync.backends.microsoft.graph import Graph
    from calsync.core.state import KeyValue

FOLDER = "calsync"
LOG_HEADING = "Meeting log (newest first)"
BOOKMARK = "calsync_log"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SIZES = {1: 36, 2: 30, 3: 26}
SHARE_RETRY_DAYS = 7  # a refused share is asked for again after this long


def _run(text: str, bold: bool = False, size: int | None = None) -> str:
    props = ""
    if bold or size:
        props = "<w:rPr>" + ("<w:b/>" if bold else "") + (
            f'<w:sz w:val="{size}"/>' if size else "") + "</w:rPr>"
    safe = html.escape(_INVALID_XML.sub("", text), quote=False)
    return f'<w:r>{props}<w:t xml:space="preserve">{safe}</w:t></w:r>'


def paragraph(line: str, extra: str = "") -> str:
    """One Markdown-ish line as a ``<w:p>``: ``#`` headings become bold, larger text."""
    m = re.match(r"^(#{1,6})\s+(.*)$", line)
    if m:
        level = len(m.group(1))
        return f"<w:p>{extra}{_run(m.group(2), bold=True, size=_SIZES.get(level, 24))}</w:p>"
    if not line:
        return f"<w:p>{extra}</w:p>"
    return f"<w:p>{extra}{_run(line)}</w:p>"


def _plain(line: str) -> str:
    """A Markdown heading line as it reads in the document (``## x`` → ``x``)."""
    return re.sub(r"^#{1,6}\s+", "", line.strip())


def build_docx(template: str, title: str | None = None) -> bytes:
    """A minimal valid Word package: the template, then the (bookmarked) log heading.

    The template's HTML-comment anchor line (a Markdown device) becomes the heading.
    """
    lines = [ln for ln in template.rstrip("\n").split("\n")
             if not (ln.startswith("<!--") and ln.endswith("-->"))]
    while lines and not lines[-1].strip():
        lines.pop()
    if title and not (lines and lines[0].startswith("# ")):
        lines = [f"# {title}", "", *lines]
    paras = [paragraph(line) for line in lines] + [paragraph("")]
    mark = (f'<w:bookmarkStart w:id="0" w:name="{BOOKMARK}"/>'
            '<w:bookmarkEnd w:id="0"/>')
    paras.append(paragraph(f"## {LOG_HEADING}", extra=mark))
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<w:document xmlns:w="{_W}"><w:body>' + "".join(paras)
        + '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/></w:sectPr></w:body></w:document>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("word/document.xml", document)
    return buf.getvalue()


_PARA = re.compile(r"<w:p\b[^>]*/>|<w:p\b[^>]*>.*?</w:p>", re.S)


def _para_text(p: str) -> str:
    p = re.sub(r"<w:tab\b[^>]*/>", "<w:t>\t</w:t>", p)
    p = re.sub(r"<w:(br|cr)\b[^>]*/>", "<w:t>\n</w:t>", p)
    return html.unescape("".join(re.findall(r"<w:t(?:\s[^>]*)?>([^<]*)</w:t>", p)))


def docx_text(data: bytes) -> str:
    """The document's text, one line per paragraph."""
    xml = _document_xml(data)
    body = xml.split("<w:body>", 1)[-1]
    return "\n".join(_para_text(p) for p in _PARA.findall(body))


def _document_xml(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return z.read("word/document.xml").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise ProviderError(f"shared doc is not a readable Word document ({exc})") from None


def insert_section(data: bytes, text: str) -> bytes:
    """Return the package with ``text`` (one paragraph per line) below the log heading.

    The heading is found by its bookmark, else by its text; if people removed it, the
    section goes at the top of the body. Nothing else in the package changes.
    """
    xml = _document_xml(data)
    new = "".join(paragraph(line) for line in text.rstrip("\n").split("\n"))
    at = -1
    bm = re.search(rf'<w:bookmarkStart\b[^>]*w:name="{BOOKMARK}"', xml)
    if bm:
        end = xml.find("</w:p>", bm.end())
        at = end + len("</w:p>") if end != -1 else -1
    if at == -1:
        for m in _PARA.finditer(xml):
            if _para_text(m.group(0)).strip() == LOG_HEADING:
                at = m.end()
                break
    if at == -1:
        m2 = re.search(r"<w:body\b[^>]*>", xml)
        if not m2:
            raise ProviderError("shared doc has no document body")
        at = m2.end()
    patched = xml[:at] + new + xml[at:]
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            part = src.read(info.filename)
            if info.filename == "word/document.xml":
                part = patched.encode("utf-8")
            out.writestr(info, part)
    return buf.getvalue()


# calsync's dated section headings as they read in the document (see agenda.doc_section)
_SECTION = re.compile(r"(?:\d{4}-\d{2}-\d{2}|\d{4}年\d{1,2}月\d{1,2}日（.）) 1on1")


def _has_line(text: str, line: str) -> bool:
    return any(ln.strip() == line for ln in text.splitlines())


def doc_path(request: DocRequest) -> str:
    """The doc's OneDrive path: a readable title and a hash of the relationship key."""
    stem = re.sub(r'[\\/:*?"<>|#%\x00-\x1f\s]+', " ", request.title).strip()[:80] or "1on1"
    digest = hashlib.sha256(request.key.encode()).hexdigest()[:8]
    return f"{FOLDER}/{stem} {digest}.docx"


class OneDriveDocs:
    """DocBackend on the calendar's Microsoft login (scope ``Files.ReadWrite``)."""

    def __init__(
        self, graph: Graph, state: KeyValue, read_only: bool = False, now: datetime | None = None
    ) -> None:
        self.graph = graph
        self.now = now
        self.state = state
        self.read_only = read_only
        self._changed_ids: set[str] | None = None
        self._no_chain = False
        # (bytes, eTag) of docs this backend itself uploaded in this run
        self._fresh: dict[str, tuple[bytes, str]] = {}
        self.warnings: list[str] = []  # things the user should know, e.g. a refused share

    def ensure(self, request: DocRequest) -> DocRef:
        """The pair's doc: created once (``conflictBehavior=fail``), shared with the counterpart."""
        key = f"onedrive:{request.key}"
        raw = self.state.get(key)
        if raw:
            rec = json.loads(raw)
            if not rec.get("shared"):
                self._share(rec, request, key)
            return DocRef(id=rec["id"], url=rec["url"])
        if self.read_only:
            raise ForbiddenError("read_only calendar: calsync creates no doc for it")
        path = doc_path(request)
        quoted = urllib.parse.quote(path)
        content = build_docx(request.template, request.title)
        resp = self.graph.request(
            "PUT", f"{self.graph.mailbox}/drive/root:/{quoted}:/content",
            params={"@microsoft.graph.conflictBehavior": "fail"},
            headers={"Content-Type": DOCX_MIME},
            content=content,
            retry=False, ok=(409,),
        )
        # 409: made by an earlier run that did not get to remember it
        box = self.graph.mailbox
        item = (self.graph.get_json(f"{box}/drive/root:/{quoted}") if resp.status_code == 409
                else json_of(resp))
        if resp.status_code != 409 and item.get("eTag"):
            self._remember(str(item["id"]), str(item["eTag"]), docx_text(content))
            self._fresh[str(item["id"])] = (content, str(item["eTag"]))
        rec = {"id": item["id"], "url": item.get("webUrl", ""), "shared": False}
        self.state.set(key, json.dumps(rec))
        self._share(rec, request, key)
        return DocRef(id=rec["id"], url=rec["url"])

    def _share(self, rec: dict[str, Any], request: DocRequest, key: str) -> None:
        now = self.now or datetime.now().astimezone()
        failed = rec.get("share_failed")
        if failed:
            with contextlib.suppress(ValueError, TypeError):
                if now - datetime.fromisoformat(failed) < timedelta(days=SHARE_RETRY_DAYS):
                    return  # refused recently: the doc still works; ask again later
        body = {
            "recipients": [{"email": request.counterpart}],
            "roles": ["write"],
            "requireSignIn": True,
            "sendInvitation": False,
        }
        # not retried within the run (only reads and If-Match writes are); a transient
        # failure (throttling, a gateway) leaves "shared" false, and the next run shares again
        try:
            self.graph.request("POST", f"{self.graph.mailbox}/drive/items/{rec['id']}/invite",
                               json_body=body)
        except GraphError as exc:
            if exc.status not in (400, 403, 404):
                raise
            # e.g. the tenant does not allow sharing with this address: keep the doc and the
            # agendas, say so, and ask again in a week
            rec["share_failed"] = now.isoformat()
            self.state.set(key, json.dumps(rec))
            self.warnings.append(
                f"could not share the doc {rec.get('url') or rec['id']} with "
                f"{request.counterpart} (HTTP {exc.status}{' ' + exc.code if exc.code else ''})"
                f"; share it by hand, calsync asks again in {SHARE_RETRY_DAYS} days"
            )
            return
        rec["shared"] = True
        rec.pop("share_failed", None)
        self.state.set(key, json.dumps(rec))

    # -- reading, with a cache kept fresh by the drive's delta feed ----------------------

    def _changed(self) -> set[str] | None:
        """Ids whose eTag moved since the last run (one delta request per run).

        None when there is no delta chain yet (everything counts as changed). The chain
        starts at ``token=latest``, so the owner's whole drive is never enumerated.
        """
        if self._changed_ids is not None or self._no_chain:
            return self._changed_ids
        link = self.state.get("onedrive:delta")
        if link and polled_recently(self.state, "onedrive:polled", self.now):
            self._changed_ids = set()  # read within the hour: cached texts stand
            return self._changed_ids
        url = link or f"{self.graph.mailbox}/drive/root/delta"
        params = None if link else {"token": "latest"}
        changed: set[str] = set()
        try:
            while True:
                page = self.graph.get_json(url, params=params)
                params = None
                for item in page.get("value", []):
                    ident = str(item.get("id"))
                    cached = self._cache(ident)
                    if cached is None or cached.get("etag") != item.get("eTag") or \
                            "deleted" in item:
                        changed.add(ident)
                if "@odata.deltaLink" in page:
                    self.state.set("onedrive:delta", str(page["@odata.deltaLink"]))
                    mark_polled(self.state, "onedrive:polled", self.now)
                    break
                url = page.get("@odata.nextLink")
                if not url:
                    break
        except ProviderError as exc:
            if getattr(exc, "status", None) not in (410, 400):
                raise
            self.state.set("onedrive:delta", None)  # expired: start a new chain next run
            link = None
        if not link:
            self._no_chain = True
            return None
        self._changed_ids = changed
        return changed

    def _cache(self, ident: str) -> dict[str, Any] | None:
        raw = self.state.get(f"onedrive:text:{ident}")
        rec = json.loads(raw) if raw else None
        # an older calsync kept the whole text: read it once more (and keep less)
        return rec if isinstance(rec, dict) and rec.get("v") == 2 else None

    def _remember(self, ident: str, etag: str, text: str) -> None:
        """Keep the doc's checklist lines and calsync's section headings, no more: that is
        what read_text and add_section look at; people's notes stay out of the state."""
        kept = [ln for ln in text.splitlines() if _SECTION.fullmatch(ln.strip())]
        kept += checklist_lines(text)
        self.state.set(f"onedrive:text:{ident}",
                       json.dumps({"v": 2, "etag": etag, "text": "\n".join(kept)}))

    def _download(self, doc: DocRef) -> tuple[bytes, str]:
        if doc.id in self._fresh:  # uploaded by this run: If-Match catches any later edit
            return self._fresh[doc.id]
        # no $select: Graph gives the download URL annotation on a plain item GET only
        # (under $select it is dropped or refused: microsoftgraph/microsoft-graph-docs#20212)
        meta = self.graph.get_json(f"{self.graph.mailbox}/drive/items/{doc.id}")
        url = meta.get("@microsoft.graph.downloadUrl")
        if not url:
            raise ProviderError("OneDrive gave no download URL for the shared doc")
        # a pre-authenticated URL: fetched without the bearer token, but through the same
        # limits, retries and error handling as every Graph request
        resp = self.graph.request("GET", str(url), auth=False)
        if resp.status_code != 200:
            raise ProviderError(f"downloading the shared doc: HTTP {resp.status_code}")
        etag = str(meta.get("eTag") or "")
        self._remember(doc.id, etag, docx_text(resp.content))
        return resp.content, etag

    def _text(self, doc: DocRef) -> str:
        changed = self._changed()
        cached = self._cache(doc.id)
        if cached is not None and (doc.id in self._fresh
                                   or changed is not None and doc.id not in changed):
            return str(cached["text"])
        data, _ = self._download(doc)
        if changed is not None:
            changed.discard(doc.id)
        return docx_text(data)

    def read_text(self, doc: DocRef) -> str:
        """The document's text, downloaded again only when its eTag changed."""
        return self._text(doc)

    def add_section(self, doc: DocRef, marker: str, text: str) -> bool:
        """Insert a dated section under the log heading unless it is there; If-Match."""
        seen = _plain(marker)  # headings read without their "##" in the document
        if _has_line(self._text(doc), seen):
            return False
        for _attempt in range(2):
            data, etag = self._download(doc)
            if _has_line(docx_text(data), seen):
                return False
            section = text if marker in text else f"{marker}\n{text}"
            patched = insert_section(data, section)
            resp = self.graph.request(
                "PUT", f"{self.graph.mailbox}/drive/items/{doc.id}/content",
                headers={"If-Match": etag, "Content-Type": DOCX_MIME},
                content=patched, ok=(412,),
            )
            if resp.status_code != 412:
                new_etag = str(json_of(resp).get("eTag") or "")
                self._remember(doc.id, new_etag, docx_text(patched))
                self._fresh[doc.id] = (patched, new_etag)
                return True
            self._fresh.pop(doc.id, None)  # someone else wrote it: read it for real
        raise ConflictError("the shared doc kept changing while calsync added the section; "
                            "will try again next run")
