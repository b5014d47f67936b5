"""Atomic, compare-and-swap replacement of a calendar file, under an flock.

An flock on a sidecar file keeps other calsync runs out; the file's size, mtime, inode
and bytes are checked again right before the rename; a unique temp file is written and
fsync'd first, so a crash leaves either the old file or the new one. Editors that take
no lock can still save in the instant between that check and the rename: without
cooperating writers it cannot be closed entirely.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from calsync.errors import CalendarFileError

STALE_TEMP = 600  # seconds after which a temp file of ours is a crashed run's leftover


@dataclass(frozen=True)
class Seen:
    """What the file was when we read it: checked again just before our rename."""

    data: bytes
    size: int
    mtime_ns: int
    inode: int


def read_seen(path: Path) -> Seen:
    """The file's bytes and stat from one open: what :func:`unchanged` compares before the rename."""
    try:
        with path.open("rb") as fh:
            data = fh.read()
            st = os.fstat(fh.fileno())
    except OSError as exc:
        raise CalendarFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return Seen(data, st.st_size, st.st_mtime_ns, st.st_ino)


def unchanged(path: Path, seen: Seen) -> bool:
    """Size, mtime, inode and then the bytes themselves still what we read."""
    try:
        st = path.stat()
        if (st.st_size, st.st_mtime_ns, st.st_ino) != (seen.size, seen.mtime_ns, seen.inode):
            return False
        return path.read_bytes() == seen.data
    except OSError:
        return False


@contextlib.contextmanager
def locked(path: Path, wait: float) -> Iterator[bool]:
    """Hold an flock on a sidecar next to the file while we write.

    Other calsync runs (and any writer taking the same lock) wait for us. Yields False
    when the lock stayed taken for ``wait`` seconds; where the OS or file system has no
    flock, yields True without one. The sidecar is removed again when we are done: a
    waiter that then finds its lock on a removed sidecar starts over on a new one.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: the re-check before the rename is all we have
        yield True
        return
    lock = path.with_name(f".{path.name}.calsync-lock")
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # a folder we may not create files in: the write itself says so
            yield True
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(0.05)
            continue
        except OSError:  # ENOLCK and friends (some network file systems): no lock
            os.close(fd)
            yield True
            return
        if not _same_file(fd, lock):  # the holder before us removed it: take a fresh one
            os.close(fd)
            continue
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()
            os.close(fd)  # closing releases the lock
        return


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), path.stat()
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def sweep_temps(path: Path) -> None:
    """Remove temp files a crashed run of ours left beside the file (only old ones)."""
    now = time.time()
    prefix = f".{path.name}.calsync-"
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        name = entry.name
        ours = name.startswith(prefix) and (name.endswith(".tmp") or name == prefix + "tmp")
        if not ours:
            continue
        with contextlib.suppress(OSError):
            if now - entry.lstat().st_mtime > STALE_TEMP and entry.is_file():
                entry.unlink()


def replace(
    path: Path, data: bytes, seen: Seen, before_replace: Callable[[Path], None] | None
) -> bool:
    """Write a unique temp file, then rename it over ``path`` if the file is still as read.

    False (nothing written) when the file changed since ``seen``: the caller re-splices.
    """
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise CalendarFileError(f"{path}: the file is read-only; it was left unchanged")
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.calsync-", suffix=".tmp",
                                    dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if before_replace is not None:
            before_replace(tmp)
        if not unchanged(path, seen):
            tmp.unlink()
            return False
        os.replace(tmp, path)
        return True
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise CalendarFileError(
            f"{path}: cannot write: {exc.strerror or exc}; the file was left unchanged"
        ) from None
