"""What of an invite's description calsync may keep on disk between runs.

Providers cache events in the state database so a quiet cron run costs one request.
People's text (a Teams passcode, private notes) must not land there. The core reads a
cached description for two things only: checklist lines (action items) and calsync's
own agenda blocks (is the block current, is there more than one). :func:`keepable`
keeps exactly those, so every such reading of the kept body gives the same answer as
of the whole one; the body is read again from the server when it is written.
"""

from __future__ import annotations

import html as _html

from calsync.core.actions import checklist_lines
from calsync.core.blocks import find_blocks
from calsync.core.model import Body


def keepable(body: Body) -> Body:
    """The checklist lines and agenda blocks of ``body``; every other byte is dropped.

    Checklist lines come first, in document order (the blocks' own lines among them),
    then each block verbatim, so :func:`calsync.core.actions.parse`, :func:`find_blocks`
    and :func:`calsync.core.agenda.splice` (None or not) read it as they read ``body``.
    """
    lines = checklist_lines(body.text, body.html)
    blocks = [body.text[s:e] for s, e in find_blocks(body.text, body.html)]
    if not body.html:
        return Body("\n".join([*lines, *blocks]), html=False)
    parts = [f"{_html.escape(line, quote=False)}<br>" for line in lines]
    return Body("".join(parts) + "<br>".join(blocks), html=True)
