"""A real PostgreSQL server for the tests: Debian's ``postgresql`` binaries, ``initdb`` and
``pg_ctl`` into a temporary folder, listening on a free loopback port.

PostgreSQL refuses to run as root, so under root (CI, this machine) the server runs as
the ``postgres`` user the Debian package creates. The superuser is ``calsync`` with a
password (SCRAM over TCP), so the tests go through real password authentication. When
the binaries are missing the tests fail, naming the package: ``.ci/run`` installs it.

Import the fixtures into a test module with ``from tests.pg import pg_server, pg_url``.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PgServer", "pg_server", "pg_url"]

USER, PASSWORD = "calsync", "pg-secret-Zq7"


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not versions:
        pytest.fail(f"PostgreSQL's {name} not found: install Debian's postgresql package "
                    "(apt-get install postgresql; .ci/run does)")
    return versions[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PgServer:
    folder: Path
    port: int
    as_user: list[str]
    _names = itertools.count(1)

    def url(self, db: str = "postgres", password: bool = True) -> str:
        auth = f"{USER}:{PASSWORD}" if password else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        """A fresh, empty database: each test gets its own state."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return name

    def ctl(self, *args: str) -> None:
        subprocess.run([*self.as_user, _bin("pg_ctl"), "-D", str(self.folder / "data"), *args],
                       check=True, capture_output=True, timeout=120)


def start_server() -> PgServer:
    folder = Path(tempfile.mkdtemp(prefix="calsync-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root needs the postgres user (Debian's postgresql package)")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if as_user:
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
    subprocess.run([*as_user, _bin("initdb"), "-D", str(folder / "data"), "-U", USER,
                    f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust",
                    "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, timeout=180)
    pwfile.unlink()
    server = PgServer(folder, free_port(), as_user)
    options = (f"-c listen_addresses=127.0.0.1 -p {server.port} -c unix_socket_directories='' "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
    server.ctl("-l", str(folder / "log"), "-o", options, "-w", "-t", "60", "start")
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.ctl("-m", "immediate", "stop")
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL (with password) of a fresh database on the test server."""
    return pg_server.url(pg_server.new_database())
