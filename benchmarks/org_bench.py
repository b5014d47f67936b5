"""An organisation run for N Microsoft 365 mailboxes, end to end, against the tenant fake.

The fake (tests/fakes/microsoft_tenant.py: app-only tokens, /users/{id}, $batch, each
mailbox seeded on first request with 8 weekly 1on1 series) runs in its own process with
``--latency`` seconds added to every HTTP request, so calsync's CPU and memory are
measured apart from the fake's. calsync runs as cron would run it: `fleet.run_all` over
an `[[organizations]]` config with the real msal and httpx, SQLite state, in this process:

1. first sync — every owner read in full, every agenda written (docs in a local folder,
   ``agenda.docs_dir``, so the fake serves calendars only);
2. second run — the calendars hold calsync's own writes: every owner read again;
3. steady — nothing changed: each owner costs one delta request inside a $batch;
4. one change — one mailbox gets a new 1on1 series; only that owner is read in full;
5. a new day — every memo ends at the owners' midnight: every owner read in full again.

Reports per run: wall time, this process's CPU, HTTP requests sent (a batch counts once),
sub-requests, requests per mailbox, seconds per phase, and peak RSS of this process.

Run: .venv/bin/python benchmarks/org_bench.py [--owners 1000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calsync.app import fleet  # noqa: E402
from calsync.app.store_owners import SqliteOwners  # noqa: E402
from calsync.config import load  # noqa: E402
from tests.fakes.microsoft import make_tls  # noqa: E402
from tests.fakes.microsoft_tenant import FakeTenant, seed_one_on_ones  # noqa: E402

SECRET = "bench-secret"


def quick_seed(mb: Any) -> None:
    """8 weekly 1on1 series; an untouched mailbox answers delta without re-expanding."""
    mb.quick_delta = True
    seed_one_on_ones(mb)


def serve(conn: Any, owners: int, latency: float, ca_file: str) -> None:
    """The fake tenant's process: start, say where it listens, then obey commands."""
    ca, ctx = make_tls()
    ca.cert_pem.write_to_path(ca_file)
    fake = FakeTenant(latency=latency)
    fake.add_app("bench", secret=SECRET)
    addresses = fake.add_users(owners)
    fake.seeder = quick_seed
    fake.start(ctx)
    conn.send((fake.base, fake.graph_url, fake.domain, addresses))
    while True:
        cmd, arg = conn.recv()
        if cmd == "change":  # a new weekly 1on1 series in one mailbox
            seed_one_on_ones(fake.mailbox(arg), count=1,
                             start=datetime(2026, 6, 3, 15, 0, tzinfo=UTC))
            conn.send(None)
        elif cmd == "stop":
            fake.stop()
            conn.send(None)
            return


def config_text(base: str, graph: str, domain: str, addresses: list[str], secret: Path,
                docs: Path, concurrency: int) -> str:
    members = ",\n  ".join(f'"{a}"' for a in addresses)
    return f'''[agenda]
docs_dir = "{docs}"

[[organizations]]
name = "bench"
provider = "microsoft"
tenant = "{domain}"
client_id = "bench"
client_secret_file = "{secret}"
authority_url = "{base}"
graph_url = "{graph}"
timezone = "Europe/Berlin"
concurrency = {concurrency}
members = [
  {members}
]
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--owners", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--runs", default="first,second,steady,change,newday")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["CALSYNC_HOME"] = str(folder / "home")
        ca_file = folder / "ca.pem"
        here, there = mp.Pipe()
        child = mp.get_context("fork").Process(
            target=serve, args=(there, args.owners, args.latency, str(ca_file)), daemon=True)
        child.start()
        base, graph, domain, addresses = here.recv()
        for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
            os.environ[var] = str(ca_file)
        secret = folder / "secret"
        secret.write_text(SECRET)
        secret.chmod(0o600)
        cfg = folder / "config.toml"
        cfg.write_text(config_text(base, graph, domain, addresses, secret, folder / "docs",
                                   args.concurrency))
        cfg.chmod(0o600)
        config = load(cfg)
        from zoneinfo import ZoneInfo

        now = datetime.now(ZoneInfo("Europe/Berlin")).replace(hour=7, minute=0, second=0,
                                                               microsecond=0)
        plan = {"first": now, "second": now + timedelta(minutes=15),
                "steady": now + timedelta(minutes=30), "change": now + timedelta(minutes=45),
                "newday": now + timedelta(days=1)}
        rows = []
        for label in args.runs.split(","):
            if label == "change":
                here.send(("change", addresses[len(addresses) // 2]))
                here.recv()
            stores = SqliteOwners(folder / "home" / "state.sqlite3")
            t0, c0 = time.perf_counter(), time.process_time()
            report = fleet.run_all(config, plan[label], stores)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            stores.close()
            org = report.orgs[0]
            merged = report.merged()
            written = sum(1 for c in merged.changes if c.status.value == "written")
            quiet = sum(o.report.quiet for o in org.owners if o.report)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows.append((label, f"{wall:.1f} s", f"{cpu:.1f} s", f"{org.requests:,}",
                         f"{org.requests / args.owners:.2f}", f"{written:,}",
                         f"{quiet:,}", f"{len(report.failures)}",
                         " ".join(f"{k} {v:.1f}" for k, v in org.phases.items()),
                         f"{rss:.0f} MiB"))
            if report.failures:
                print(f"{label}: {len(report.failures)} failures, e.g. {report.failures[0]}",
                      file=sys.stderr)
        here.send(("stop", None))
        here.recv()
        child.join(5)
    print(f"{args.owners:,} mailboxes × 8 weekly 1on1 series, {args.latency * 1000:.0f} ms "
          f"per request, concurrency {args.concurrency}\n")
    head = ("run", "wall", "CPU", "HTTP requests", "per mailbox", "written", "unchanged",
            "failures", "phases (s)", "peak RSS")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
