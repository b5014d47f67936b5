"""``calsync run`` / ``status`` / ``report`` for an organisation, end to end (issue 13): a
Microsoft 365 group through the real msal and httpx against the TLS tenant fake."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.microsoft_tenant import FakeTenant, seed_one_on_ones
from tests.helpers import cli
from tests.microsoft_fixtures import ms_tls, trust_ca  # noqa: F401

SECRET = "org-cli-Secret.value"
APP = "aaaaaaaa-1111-2222-3333-bbbbbbbbbbbb"
NOW = "2026-01-07T08:00:00+00:00"
LATER = ["2026-01-07T08:15:00+00:00", "2026-01-07T08:30:00+00:00"]


@pytest.fixture
def fake(ms_tls: tuple[Any, Any, Path], trust_ca: Path) -> Iterator[FakeTenant]:  # noqa: F811
    t = FakeTenant()
    t.add_app(APP, secret=SECRET)
    for i, team in enumerate(["Platform", "Platform", "Apps", "Apps"]):
        t.add_user(f"mgr{i}@{t.domain}", department=team)
    t.add_user(f"nolicence@{t.domain}", licensed=False)
    inner = t.add_group("Apps managers", [f"mgr2@{t.domain}", f"mgr3@{t.domain}"])
    t.add_group("All managers", [f"mgr0@{t.domain}", f"mgr1@{t.domain}", inner.id,
                                 f"nolicence@{t.domain}"], mail=f"managers@{t.domain}")
    t.seeder = seed_one_on_ones
    t.start(ms_tls[1])
    yield t
    t.stop()


@pytest.fixture
def config(fake: FakeTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALSYNC_HOME", str(tmp_path / "home"))
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    os.chmod(secret, 0o600)
    path = tmp_path / "config.toml"
    path.write_text(f'''[agenda]
docs_dir = "{tmp_path / 'docs'}"

[[organizations]]
name = "acme"
provider = "microsoft"
tenant = "{fake.domain}"
client_id = "{APP}"
client_secret_file = "{secret}"
authority_url = "{fake.base}"
graph_url = "{fake.graph_url}"
groups = ["managers@{fake.domain}"]
timezone = "UTC"
concurrency = 4
''')
    return path


def test_a_run_writes_every_owners_agendas_and_isolates_an_unlicensed_mailbox(
        fake: FakeTenant, config: Path) -> None:
    result = cli("--config", config, "run", "--now", NOW)
    assert result.exit_code == 4, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("calsync: ")]
    assert len(errors) == 1 and errors[0].startswith(f"calsync: acme/nolicence@{fake.domain}: ")
    assert "MailboxNotEnabledForRESTAPI" in errors[0]
    wrote = [line for line in result.stdout.splitlines() if line.startswith("wrote agenda: ")]
    owners = {line.rsplit("(", 1)[1].rstrip(")") for line in wrote}
    assert owners == {f"acme/mgr{i}@{fake.domain}" for i in range(4)}
    assert all(fake.mailbox(f"mgr{i}@{fake.domain}").patches > 0 for i in range(4))
    summary = result.stdout.splitlines()[-1]
    assert summary.startswith(f"acme: 5 owners (1 failed); {len(wrote)} agendas written; ")
    assert SECRET not in result.output
    # the calendars now hold calsync's own writes: read once more, nothing to write
    again = json.loads(cli("--config", config, "run", "--now", LATER[0], "--format",
                           "json").stdout)
    assert [c for c in again["changes"] if c["status"] == "written"] == []
    # then every licensed owner costs one delta request inside a $batch
    before = len(fake.sub_log)
    steady = cli("--config", config, "run", "--now", LATER[1], "--format", "json")
    doc = json.loads(steady.stdout)
    org = doc["organizations"][0]
    assert org["owners"] == 5 and org["quiet"] == 4
    mailbox = [r.path for r in fake.sub_log[before:] if "/users/" in r.path]
    assert len(mailbox) == 5 and all("/calendarView/delta" in p for p in mailbox), mailbox
    assert org["requests"] <= 7  # sign-in (2), the group (1-2), the deltas in $batch calls
    assert set(org["seconds"]) == {"open", "members", "owners", "close"}
    assert doc["errors"][0].startswith(f"acme/nolicence@{fake.domain}: ")


def test_status_shows_the_summary_per_team_and_one_owners_view(
        fake: FakeTenant, config: Path) -> None:
    assert "no organisation run yet" in cli("--config", config, "status").stdout
    cli("--config", config, "run", "--now", NOW)
    text = cli("--config", config, "status").stdout
    assert text.splitlines()[0].startswith("acme: 5 owners, as of 2026-01-07T08:00:00+00:00")
    # the nested group's members are the group's too; the unlicensed owner has no 1on1s
    assert "  All managers: 5 owners, 32 1on1s: insufficient-data 32; intervals: none 32" \
        in text
    doc = json.loads(cli("--config", config, "status", "--format", "json").stdout)
    assert doc["acme"]["teams"]["All managers"]["owners"] == 5
    assert "mgr" not in json.dumps(doc)  # metadata only
    one = cli("--config", config, "status", "--owner", f"mgr2@{fake.domain}", "--now", NOW)
    assert one.exit_code == 0, one.output
    assert "mgr2.r0" in one.stdout and "mgr1.r0" not in one.stdout


def test_report_for_one_owner(fake: FakeTenant, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "mgr0.html"
    result = cli("--config", config, "report", "--owner", f"mgr0@{fake.domain}", "--now", NOW,
                 "--output", out)
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "mgr0.r7" in page and "mgr1.r0" not in page


def test_an_unknown_org_or_a_missing_owner_is_one_line(config: Path) -> None:
    result = cli("--config", config, "status", "--org", "nope")
    assert result.exit_code == 2
    assert "--org 'nope': name one of the [[organizations]] (acme)" in result.stderr
