"""Add or update one ``[[calendars]]`` entry in a TOML config, keeping the rest as written.

``calsync setup`` uses this: a person's comments, key order and other tables survive;
only the matching entry's block is replaced (or a new one appended).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from calsync.errors import ConfigError

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str | Path):
        return json.dumps(str(v), ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def render_entry(entry: dict[str, object]) -> str:
    """One ``[[calendars]]`` block in TOML; keys whose value is None are left out."""
    lines = ["[[calendars]]"]
    lines += [f"{k} = {_value(v)}" for k, v in entry.items() if v is not None]
    return "\n".join(lines) + "\n"


def upsert_calendar(
    config_path: Path,
    entry: dict[str, object],
    match_keys: tuple[str, ...],
    owner_email: str | None = None,
) -> None:
    """Replace the entry whose ``match_keys`` equal ``entry``'s, or append a new one.

    A missing config file is created, with ``[owner]`` from ``owner_email`` when given.
    """
    text = config_path.read_text(encoding="utf-8") if config_path.exists() else ""
    if not text.strip():
        head = f"[owner]\nemail = {_value(owner_email)}\n\n" if owner_email else ""
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(head + render_entry(entry), encoding="utf-8")
        return
    try:
        existing = tomllib.loads(text).get("calendars", [])
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: invalid TOML, not updating it: {exc}") from None
    target = None
    for i, cal in enumerate(existing):
        if all(cal.get(k) == entry.get(k) for k in match_keys):
            target = i
            break
    lines = text.splitlines(keepends=True)
    if target is None:
        sep = "" if text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        config_path.write_text(text + sep + render_entry(entry), encoding="utf-8")
        return
    # Find the block of the target-th [[calendars]] header, up to the next table header.
    starts = [i for i, ln in enumerate(lines) if re.match(r"^\s*\[\[\s*calendars\s*\]\]", ln)]
    begin = starts[target]
    end = next(
        (i for i in range(begin + 1, len(lines)) if _HEADER.match(lines[i])), len(lines)
    )
    # Keep trailing blank lines and comments that belong to what follows.
    while end > begin + 1 and not lines[end - 1].strip():
        end -= 1
    merged = dict(existing[target])
    merged.update({k: v for k, v in entry.items() if v is not None})
    new = lines[:begin] + [render_entry(merged)] + lines[end:]
    config_path.write_text("".join(new), encoding="utf-8")
