"""Where calsync keeps its state: ``$CALSYNC_HOME`` when set, else the platform's dirs."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """calsync's data folder: ``$CALSYNC_HOME``, else the platform's user data folder."""
    home = os.environ.get("CALSYNC_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_data_path

    return user_data_path("calsync")


def require_private(path: Path, label: str) -> None:
    """Refuse a login file that others can read: someone may have copied the tokens.

    Missing files are the caller's to report. On Windows, modes say nothing: no check.
    """
    from calsync.errors import AuthError

    if os.name == "nt":
        return
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return
    if mode & 0o077:
        raise AuthError(
            f"{label}: the login file {path} is readable by others (mode {mode:o}); "
            f"run `chmod 600 {path}` (and a new `calsync setup` if others may have read it)"
        )


def write_private(path: Path, data: str) -> None:
    """Write a secret atomically with mode 0600, never briefly readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
