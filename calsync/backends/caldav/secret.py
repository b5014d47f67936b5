"""The CalDAV password: a 0600 file beside calsync's other logins, or the OS keyring.

Most hosted servers (Fastmail, iCloud, Nextcloud) hand out an app password for exactly
this; it is never printed, logged or kept in the state database.
"""

from __future__ import annotations

from typing import Any

from calsync.backends.caldav.config import CaldavCalendar
from calsync.errors import AuthError, MissingLibraryError
from calsync.paths import require_private, write_private

KEYRING_SERVICE = "calsync-caldav"


def keyring_user(cal: CaldavCalendar) -> str:
    """The keyring account name: username and URL, so two servers' logins stay apart."""
    return f"{cal.username}@{cal.url}"


def setup_hint(cal: CaldavCalendar) -> str:
    """The setup command that stores this calendar's password, for error messages."""
    return f"run `calsync setup caldav {cal.url} --username {cal.username}`"


def _keyring() -> Any:
    try:
        import keyring  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise MissingLibraryError(
            "keyring = true needs the keyring package: pip install keyring "
            "(or drop `keyring` and keep the password in a 0600 file)") from None
    return keyring


def load_password(cal: CaldavCalendar) -> str:
    """The password for ``cal``; AuthError (exit 3) naming the setup command when absent."""
    if cal.keyring:
        found = _keyring().get_password(KEYRING_SERVICE, keyring_user(cal))
        if not found:
            raise AuthError(f"{cal.name}: no CalDAV password in the keyring; {setup_hint(cal)}")
        return str(found)
    path = cal.password_file
    if not path.exists():
        raise AuthError(f"{cal.name}: no CalDAV password file {path}; {setup_hint(cal)}")
    require_private(path, cal.name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"{cal.name}: cannot read the password file {path}: {exc}") from None
    password = text.rstrip("\r\n")
    if not password:
        raise AuthError(f"{cal.name}: the password file {path} is empty; {setup_hint(cal)}")
    return password


def store_password(cal: CaldavCalendar, password: str) -> str:
    """Keep ``password`` where ``cal`` says; returns where, for setup's message."""
    if cal.keyring:
        _keyring().set_password(KEYRING_SERVICE, keyring_user(cal), password)
        return "the OS keyring"
    write_private(cal.password_file, password + "\n")
    return str(cal.password_file)
