"""The pair's shared agenda doc as a Google Doc, on the calendar's Google login.

calsync creates the doc itself (scope ``drive.file`` reaches only files the app created),
tags it with ``appProperties`` so a crash between creating and remembering it does not
make a second one, shares it with the counterpart as a writer, and remembers its id in
``state``.

New meeting sections go in with the Docs API's ``batchUpdate`` ``insertText`` right below
the doc's log heading, so nothing people wrote is rewritten; ``writeControl`` pins the
revision that was read, so a concurrent edit makes the insert fail instead of landing in
the wrong place (it is retried once on a fresh read). Text is read back with Drive's
``files.export`` as Markdown, where checklists come out as ``- [ ]`` / ``- [x]`` lines.

Only reads and revision-pinned writes are retried. ``files.create`` and
``permissions.create`` cannot be guarded, so they are sent once: a retry after a lost
answer could make a second doc or send a second share email (nor does httplib2 resend them
after a dropped connection: :mod:`calsync.backends.once_http`). The template goes in as a
revision-pinned ``batchUpdate`` of a doc read empty, so it lands once however often it
is tried, and a doc whose template write failed gets it on a later run. A share whose
answer was lost is looked up (``permissions.list``) before it is sent again.

Every failure leaves as a :class:`~calsync.errors.CalsyncError`, mapped like the
calendar's own (:func:`calsync.backends.google.client.http_error`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from calsync.backends.base import DocRef, DocRequest, mark_polled, polled_recently
from calsync.backends.google.client import (
    RATE_LIMIT_REASONS,
    error_message,
    error_reason,
    http_error,
)
from calsync.backends.google.docedit import (
    doc_url,
    paragraphs_of,
    section_requests,
    template_requests,
)
from calsync.core.actions import checklist_lines
from calsync.errors import AuthError, CalsyncError, ForbiddenError, ProviderError

if TYPE_CHECKING:
    from calsync.backends.google.client import Session
    from calsync.backends.google.config import GoogleCalendar
    from calsync.core.state import KeyValue

DOC_MIME = "application/vnd.google-apps.document"
APP_KEY = "calsync-key"  # appProperties key carrying the relationship key
_K_CHANGES = "gdrive.changes"  # Drive change-feed page token
_K_POLLED = "gdrive.polled"  # when the change feed was last read (ISO)
_K_TEXT = "gdoc-text:"  # + file id: the doc's checklist lines as last exported
_KEPT = "checklist:\n"  # what a cached text starts with (older calsyncs kept the whole text)
SHARE_RETRY_DAYS = 7
_K_SECTIONS = "gdoc-sections:"  # + file id: markers of the sections calsync added


@dataclass(frozen=True)
class KnownDoc:
    """A doc ensured in this run, with the title its invite attachment shows."""

    id: str
    url: str
    title: str


class GoogleDocBackend:
    """The pairs' shared docs as Google Docs in the owner's Drive (see the module docstring)."""

    def __init__(
        self, session: Session, state: KeyValue, cal: GoogleCalendar, now: datetime
    ) -> None:
        self.session = session
        self.now = now
        self.state = state
        self.cal = cal
        self._known: dict[str, KnownDoc] = {}
        self.warnings: list[str] = []  # things the user should know, e.g. a refused share
        self._checked = False
        self._changes: set[str] | None = None

    def known(self) -> list[KnownDoc]:
        """Docs ensured in this run (the provider attaches the one an agenda links)."""
        return list(self._known.values())

    def _files(self) -> Any:
        return self.session.resource("drive", "v3", "files")

    def _permissions(self) -> Any:
        return self.session.resource("drive", "v3", "permissions")

    def _changes_api(self) -> Any:
        return self.session.resource("drive", "v3", "changes")

    def _documents(self) -> Any:
        return self.session.resource("docs", "v1", "documents")

    def _error(self, exc: Any, what: str) -> CalsyncError:
        """An ``HttpError`` from Drive or Docs, mapped as the calendar's own errors are."""
        uri = str(getattr(exc, "uri", ""))
        api = "Google Docs API" if "docs." in uri or "/v1/documents" in uri else "Google Drive API"
        return http_error(exc, f"{self.cal.name}: shared doc", what, api)

    def _run(self, req: Any, what: str, retry: bool = True) -> Any:
        """Run a read (``retry``) or an unguarded write (``retry=False``)."""
        from googleapiclient.errors import HttpError

        try:
            return self.session.execute(req, retry=retry, what=what)
        except HttpError as exc:
            raise self._error(exc, what) from None

    # -- DocBackend ---------------------------------------------------------------------
    def ensure(self, request: DocRequest) -> DocRef:
        """The remembered doc, finishing a template or share a crash left undone; else found by
        tag or created."""
        key = f"gdoc:{request.key}"
        raw = self.state.get(key)
        if raw:
            rec = json.loads(raw)
            ref = DocRef(id=rec["id"], url=rec["url"])
            if not rec.get("template", True):  # created, but the template did not go in
                self._write_template(rec, request, key)
            if not rec.get("shared"):
                self._share(rec, request, key)
            self._known[ref.id] = KnownDoc(ref.id, ref.url, rec.get("title") or request.title)
            return ref
        if self.cal.read_only:
            raise ForbiddenError(f"{self.cal.name} is read_only: calsync creates no doc for it")
        rec = self._find(request.key) or self._create(request)
        self.state.set(key, json.dumps(rec))  # remembered before anything else can fail
        self._write_template(rec, request, key)
        self._share(rec, request, key)
        ref = DocRef(id=rec["id"], url=rec["url"])
        self._known[ref.id] = KnownDoc(ref.id, ref.url, request.title)
        return ref

    def _find(self, relationship_key: str) -> dict[str, Any] | None:
        """A doc this app created for the pair earlier but did not get to remember."""
        value = relationship_key.replace("\\", "\\\\").replace("'", "\\'")
        req = self._files().list(
            q=(
                f"appProperties has {{ key='{APP_KEY}' and value='{value}' }} "
                f"and mimeType='{DOC_MIME}' and trashed=false"
            ),
            fields="files(id,name,webViewLink)",
            pageSize=10,
            spaces="drive",
        )
        files = (self._run(req, "looking for the doc") or {}).get("files") or []
        if not files:
            return None
        f = files[0]
        # an earlier run may have failed before the template or the share: both are checked
        return {"id": f["id"], "url": f.get("webViewLink") or doc_url(f["id"]),
                "title": f.get("name", ""), "shared": False, "template": False,
                "share_tried": True}

    def _create(self, request: DocRequest) -> dict[str, Any]:
        meta = {
            "name": request.title,
            "mimeType": DOC_MIME,
            "appProperties": {APP_KEY: request.key},
        }
        # metadata only: a create cannot be guarded, so it is never retried blindly
        created = self._run(
            self._files().create(body=meta, fields="id,name,webViewLink"),
            "creating the doc",
            retry=False,
        )
        doc_id = created["id"]
        return {"id": doc_id, "url": created.get("webViewLink") or doc_url(doc_id),
                "title": request.title, "shared": False, "template": False}

    def _write_template(self, rec: dict[str, Any], request: DocRequest, key: str) -> None:
        """Write the template into the doc, once: only into a doc read empty, pinned to the
        revision read (``writeControl``), so a retry after a lost answer, or a later run
        after a failed one, finds it written instead of writing it again."""
        from googleapiclient.errors import HttpError

        for attempt in range(2):
            document = self._run(self._documents().get(documentId=rec["id"]), "reading the doc")
            if any(text.strip() for _, _, text in paragraphs_of(document)):
                break  # written already (an answer lost), or people wrote in it: leave it
            body: dict[str, Any] = {"requests": template_requests(request.template)}
            if document.get("revisionId"):
                body["writeControl"] = {"requiredRevisionId": document["revisionId"]}
            req = self._documents().batchUpdate(documentId=rec["id"], body=body)
            try:
                # retried only when pinned to the revision read: it cannot land twice
                self.session.execute(req, retry="writeControl" in body,
                                     what="writing the doc's template")
            except HttpError as exc:
                if exc.status_code == 400 and attempt == 0 and "revision" in str(
                    exc.content
                ).lower():
                    continue  # changed since our read (maybe by our own lost write): look again
                raise self._error(exc, "writing the doc's template") from None
            break
        else:  # pragma: no cover - the second attempt breaks or raises
            raise ProviderError(f"{self.cal.name}: shared doc: the template did not go in")
        rec["template"] = True
        self.state.set(key, json.dumps(rec))

    def _share(self, rec: dict[str, Any], request: DocRequest, key: str) -> None:
        from googleapiclient.errors import HttpError

        today = self.now.date()  # the run's clock: --now holds here too
        if rec.get("share_failed") and rec["share_failed"] > (
            today - timedelta(days=SHARE_RETRY_DAYS)
        ).isoformat():
            return  # refused recently: the doc still works; try again in a few days
        if rec.get("share_tried") and self._shared_with(rec["id"], request.counterpart):
            self._shared(rec, key)  # an earlier share landed but its answer was lost
            return
        rec["share_tried"] = True
        self.state.set(key, json.dumps(rec))
        req = self._permissions().create(
            fileId=rec["id"],
            body={"type": "user", "role": "writer", "emailAddress": request.counterpart},
            sendNotificationEmail=self.cal.share_notify,
            fields="id",
        )
        try:
            # not guarded, and it may email the counterpart: sent once, never retried
            self.session.execute(req, retry=False, what="sharing the doc")
        except HttpError as exc:
            error = self._error(exc, "sharing the doc")
            refused = exc.status_code in (400, 403, 404) and (
                error_reason(exc) not in RATE_LIMIT_REASONS
            )
            if isinstance(error, AuthError) or not refused:
                raise error from None
            # e.g. sharing outside the organisation is not allowed: keep the doc, say so
            rec["share_failed"] = today.isoformat()
            self.warnings.append(
                f"{self.cal.name}: could not share the doc {rec['url']} with "
                f"{request.counterpart} ({error_reason(exc) or exc.status_code}: "
                f"{error_message(exc)}); share it by hand, calsync retries in "
                f"{SHARE_RETRY_DAYS} days"
            )
            self.state.set(key, json.dumps(rec))
            return
        self._shared(rec, key)

    def _shared(self, rec: dict[str, Any], key: str) -> None:
        rec["shared"] = True
        rec.pop("share_failed", None)
        rec.pop("share_tried", None)
        self.state.set(key, json.dumps(rec))

    def _shared_with(self, file_id: str, email: str) -> bool:
        """Whether ``email`` already has write access to the doc (a read: safe to retry)."""
        perms = self._permissions()
        req = perms.list(fileId=file_id, pageSize=100,
                         fields="nextPageToken,permissions(type,role,emailAddress)")
        while req is not None:
            resp = self._run(req, "reading the doc's sharing")
            for p in resp.get("permissions") or []:
                if str(p.get("emailAddress") or "").lower() == email.lower() and p.get(
                    "role"
                ) in ("writer", "owner", "organizer", "fileOrganizer"):
                    return True
            req = perms.list_next(req, resp)
        return False

    def _changed(self) -> set[str] | None:
        """Docs changed since the last run, from Drive's change feed: one request per run.

        None means "unknown" (first run, or the feed's token expired): read every doc.
        Cached texts of changed docs are dropped before the new token is stored, so a
        crash in between cannot leave a stale text looking current.
        """
        if self._checked:
            return self._changes
        self._checked = True
        changes = self._changes_api()
        token = self.state.get(_K_CHANGES)
        if token and polled_recently(self.state, _K_POLLED, self.now):
            self._changes = set()  # read within the hour: cached texts stand
            return self._changes
        if token:
            changed: set[str] = set()
            valid = True
            from googleapiclient.errors import HttpError

            req = changes.list(pageToken=token, pageSize=1000, spaces="drive",
                               fields="nextPageToken,newStartPageToken,changes(fileId,removed)")
            new_token = None
            try:
                while req is not None:
                    resp = self.session.execute(req, retry=True, what="reading Drive changes")
                    for change in resp.get("changes") or []:
                        if change.get("fileId"):
                            changed.add(change["fileId"])
                    new_token = resp.get("newStartPageToken") or new_token
                    req = changes.list_next(req, resp)
            except HttpError as exc:
                if exc.status_code not in (400, 404, 410):
                    raise self._error(exc, "reading Drive changes") from None
                valid, new_token = False, None  # the token is no longer valid
            for fid in changed:
                self.state.set(_K_TEXT + fid, None)
            if valid and new_token:
                self.state.set(_K_CHANGES, new_token)
                mark_polled(self.state, _K_POLLED, self.now)
                self._changes = changed
                return changed
        start = self._run(changes.getStartPageToken(), "reading Drive changes")
        self.state.set(_K_CHANGES, str(start["startPageToken"]))
        mark_polled(self.state, _K_POLLED, self.now)
        self._changes = None
        return None

    def read_text(self, doc: DocRef) -> str:
        """The doc exported as Markdown; the cached checklist lines when Drive's changes show it unchanged."""
        changed = self._changed()
        cached = self.state.get(_K_TEXT + doc.id)
        if cached is not None and not cached.startswith(_KEPT):
            cached = None  # an older calsync cached the whole text: read it once more
        if cached is not None and changed is not None and doc.id not in changed:
            return cached.removeprefix(_KEPT)
        req = self._files().export(fileId=doc.id, mimeType="text/markdown")
        data = self._run(req, "reading the doc")
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        text = text.lstrip("\ufeff").replace("\r\n", "\n")
        # only what read_text is for (action items): people's notes stay out of the state
        self.state.set(_K_TEXT + doc.id, _KEPT + "\n".join(checklist_lines(text)))
        return text

    def add_section(self, doc: DocRef, marker: str, text: str) -> bool:
        """The section inserted below the log heading, pinned to the revision read; retried
        once on an edit."""
        from googleapiclient.errors import HttpError

        # A section calsync added once is not added again, even if someone removed it, and
        # knowing that costs no request.
        done: list[str] = json.loads(self.state.get(_K_SECTIONS + doc.id) or "[]")
        if marker in done:
            return False
        for attempt in range(2):
            document = self._run(
                self._documents().get(documentId=doc.id), "reading the doc"
            )
            paragraphs = list(paragraphs_of(document))
            if any(marker in p_text for _, _, p_text in paragraphs):
                self._done(doc, done, marker)
                return False
            requests = section_requests(paragraphs, marker, text)
            body: dict[str, Any] = {"requests": requests}
            if document.get("revisionId"):
                body["writeControl"] = {"requiredRevisionId": document["revisionId"]}
            req = self._documents().batchUpdate(documentId=doc.id, body=body)
            try:
                # pinned to the revision read: a retry cannot land twice or misplace text
                self.session.execute(req, retry=True, what="adding the meeting section")
            except HttpError as exc:
                if exc.status_code == 400 and attempt == 0 and "revision" in str(
                    exc.content
                ).lower():
                    continue  # someone edited the doc between our read and write
                raise self._error(exc, "adding the meeting section") from None
            self._done(doc, done, marker)
            return True
        raise ProviderError(
            f"{self.cal.name}: shared doc kept changing while calsync added the section; "
            "will try again next run"
        )

    def _done(self, doc: DocRef, done: list[str], marker: str) -> None:
        self.state.set(_K_SECTIONS + doc.id, json.dumps((done + [marker])[-100:]))
