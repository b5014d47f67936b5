"""A cron job starts often: `calsync --help` must not import the heavy client libraries."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("googleapiclient", "msal", "httpx", "icalendar", "google.oauth2", "recurring_ical_events")


def test_help_imports_no_provider_library() -> None:
    code = (
        "import sys; from calsync.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('LOADED:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage:" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "LOADED:"
