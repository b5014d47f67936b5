"""One install brings every provider; a broken one still ends in one line naming the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.google import FakeGoogle

# Runs calsync in a fresh interpreter where one library cannot be imported, as in an
# environment where it was never installed.
_BLOCKED = """
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == {module!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocked())
from calsync.cli import main
main({args!r}, prog_name="calsync")
"""


def run_without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = _BLOCKED.format(module=module, args=list(args))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def desktop_client(tmp_path: Path) -> Path:
    path = tmp_path / "client.json"
    with FakeGoogle() as fake:
        path.write_text(json.dumps(fake.client_config()))
    return path


@pytest.mark.parametrize(
    ("module", "dist"),
    [("google_auth_oauthlib", "google-auth-oauthlib"), ("google", "google-auth")],
)
def test_setup_google_without_its_library_names_the_pip_command(
        tmp_path: Path, module: str, dist: str) -> None:
    out = run_without(module, "--config", str(tmp_path / "c.toml"), "setup", "google",
                      "--client-secrets", str(desktop_client(tmp_path)), "--no-browser")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"calsync: the Python package {dist} ")
    assert line.endswith(f"install it with: {sys.executable} -m pip install {dist}")


def test_setup_microsoft_without_msal_names_the_pip_command(tmp_path: Path) -> None:
    out = run_without("msal", "--config", str(tmp_path / "c.toml"), "setup", "microsoft",
                      "--client-id", "cid")
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "package msal (needed for Microsoft 365 login)" in line
    assert line.endswith(f"{sys.executable} -m pip install msal")


def test_a_run_on_google_without_the_client_library_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    token = tmp_path / "t.json"
    token.write_text(json.dumps({"refresh_token": "r", "client_id": "c", "client_secret": "s"}))
    config.write_text('[owner]\nemail = "me@example.com"\n\n[[calendars]]\nprovider = "google"\n'
                      f'token_file = "{token}"\napi_url = "http://127.0.0.1:9"\n')
    out = run_without("google", "--config", str(config), "status")
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "google-auth" in line and "Traceback" not in out.stderr


def test_a_missing_module_of_calsync_itself_keeps_its_traceback() -> None:
    from calsync.install import missing_library

    assert missing_library(ModuleNotFoundError("x", name="calsync.nothing")) is None
    error = missing_library(ModuleNotFoundError("x", name="httpx._client"), python="/p y/python")
    assert error is not None and str(error).endswith("install it with: '/p y/python' -m pip install httpx")
