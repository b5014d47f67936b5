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
from calsync.cli.main import main
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
    from calsync.app.install import missing_library

    assert missing_library(ModuleNotFoundError("x", name="calsync.nothing")) is None
    error = missing_library(ModuleNotFoundError("x", name="httpx._client"), python="/p y/python")
    assert error is not None and str(error).endswith("install it with: '/p y/python' -m pip install httpx")


# -- the README's install, in a fresh venv ------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def readme_try_it_command() -> str:
    """The first shell command of README.md's "Try it" section, verbatim."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Try it", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    (command,) = [ln for ln in block.splitlines() if ln.strip()]
    return command


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project, installed with exactly the README's command (needs pip's index
    or its cache, like CI's own install)."""
    import shutil

    copy = tmp_path_factory.mktemp("fresh") / "calsync"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "tests", "*.egg-info", "__pycache__", ".*_cache", "bench-out"))
    command = readme_try_it_command()
    assert command.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")
    done = subprocess.run(["bash", "-c", command], cwd=copy, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Alice Chen" in done.stdout  # the README's status example ran too
    return copy


def test_readme_install_then_setup_google_runs_the_real_login(
        fresh_install: Path, tmp_path: Path) -> None:
    import os
    import threading
    import urllib.request

    exe = fresh_install / ".venv" / "bin" / "calsync"
    assert subprocess.run([exe, "setup", "google", "--help"], capture_output=True).returncode == 0
    with FakeGoogle() as fake:
        fake.consent_user = "me@example.com"
        secrets = tmp_path / "client.json"
        secrets.write_text(json.dumps(fake.client_config()))
        config = tmp_path / "config.toml"
        config.write_text('[owner]\nemail = "me@example.com"\n\n[[calendars]]\nprovider = "google"\n'
                          f'api_url = "{fake.base}"\n')
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OAUTHLIB_INSECURE_TRANSPORT": "1",
               "CALSYNC_HOME": str(tmp_path / "home")}
        proc = subprocess.Popen([exe, "--config", config, "setup", "google", "--client-secrets",
                                 secrets, "--no-browser"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        output = []
        for line in proc.stdout:  # play the user: open the printed URL
            output.append(line)
            if line.strip().startswith(f"{fake.base}/auth"):
                url = line.strip()
                threading.Thread(target=lambda u=url: urllib.request.urlopen(u, timeout=10).read(),  # type: ignore[misc]
                                 daemon=True).start()
        _, err = proc.communicate(timeout=60)
    assert "ModuleNotFoundError" not in err and proc.returncode == 0, err
    assert "Google calendar 'primary' connected (read and write)" in "".join(output)


def test_readme_install_then_setup_microsoft_runs_the_device_login(
        fresh_install: Path, tmp_path: Path) -> None:
    import os

    from tests.fakes.microsoft import FakeMicrosoft, make_tls

    ca, ctx = make_tls()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    fake = FakeMicrosoft().start(ctx)
    try:
        config = tmp_path / "config.toml"
        config.write_text(f'[owner]\nemail = "{fake.user_email}"\n\n[[calendars]]\n'
                          f'provider = "microsoft"\nclient_id = "cid-1"\n'
                          f'authority_url = "{fake.base}"\ngraph_url = "{fake.graph_url}"\n')
        env = {**os.environ, "SSL_CERT_FILE": str(ca_file), "REQUESTS_CA_BUNDLE": str(ca_file),
               "CALSYNC_HOME": str(tmp_path / "home")}
        done = subprocess.run([fresh_install / ".venv" / "bin" / "calsync", "--config", config,
                               "setup", "microsoft"], capture_output=True, text=True, env=env,
                              timeout=120)
    finally:
        fake.stop()
    assert "ModuleNotFoundError" not in done.stderr and done.returncode == 0, done.stderr
    assert f"Logged in to Microsoft 365 as {fake.user_email}" in done.stdout
