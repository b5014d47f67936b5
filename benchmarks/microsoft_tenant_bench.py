"""A Microsoft 365 organisation through MicrosoftTenant against the tenant fake.

N mailboxes × 8 weekly 1on1 series (tests/fakes/microsoft_tenant.py, seeded on first
request), ``--latency`` seconds per HTTP request, real msal (client secret) and httpx.
Runs every owner's fetch from ``tenant.workers`` threads, twice: the first sync, then the
steady state (nothing changed). Reports wall time, HTTP requests (a batch counts once),
sub-requests, batch sizes, per-mailbox peak concurrency, and the CPU cost of
``tenant.open`` per owner measured apart from any fetch.

This is the tenant's own path, not the fleet (calsync/app/fleet.py runs owners through
``run``); the fake shares this process's CPU.

Run: .venv/bin/python benchmarks/microsoft_tenant_bench.py [--owners 1000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calsync.backends.base import Window  # noqa: E402
from calsync.backends.microsoft.config import MicrosoftOrg  # noqa: E402
from calsync.backends.microsoft.tenant import MicrosoftTenant  # noqa: E402
from calsync.backends.org import Member  # noqa: E402
from calsync.core.model import Owner  # noqa: E402
from calsync.core.state import MemoryState  # noqa: E402
from tests.fakes.microsoft import make_tls  # noqa: E402
from tests.fakes.microsoft_tenant import FakeTenant, seed_one_on_ones  # noqa: E402

NOW = datetime(2026, 1, 7, 8, 0, tzinfo=UTC)
WINDOW = Window(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--owners", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--no-batch", action="store_true")
    args = ap.parse_args()
    ca, ctx = make_tls()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ca_file = folder / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
            os.environ[var] = str(ca_file)
        secret = folder / "secret"
        secret.write_text("bench-secret")
        secret.chmod(0o600)
        fake = FakeTenant(latency=args.latency, keep_log=False)
        fake.add_app("bench", secret="bench-secret")
        owners = fake.add_users(args.owners)
        fake.seeder = seed_one_on_ones
        fake.start(ctx)
        org = MicrosoftOrg(name="bench", provider="microsoft", tenant=fake.domain,
                           client_id="bench", client_secret_file=secret,
                           authority_url=fake.base, graph_url=fake.graph_url,
                           concurrency=args.concurrency, batch=not args.no_batch)
        tenant = MicrosoftTenant(org)
        states = {a: MemoryState() for a in owners}
        cals = {a: tenant.calendar(Member(a)) for a in owners}

        t = time.process_time()
        for a in owners:
            tenant.open(cals[a], Owner((a,), "UTC"), states[a], NOW)
        open_us = (time.process_time() - t) / len(owners) * 1e6

        def one(a: str) -> int:
            p = tenant.open(cals[a], Owner((a,), "UTC"), states[a], NOW)
            n = len(p.fetch(WINDOW).occurrences)
            p.close()
            return n

        rows = []
        for label in ("first sync", "steady state"):
            sent, subs, batches = tenant.requests(), tenant.sub_requests, len(fake.batch_sizes)
            fake.peak.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            with ThreadPoolExecutor(tenant.workers) as pool:
                found = sum(pool.map(one, owners))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            sizes = fake.batch_sizes[batches:]
            rows.append((label, f"{wall:.2f} s", f"{cpu:.2f} s", str(tenant.requests() - sent),
                         str(tenant.sub_requests - subs),
                         f"{sum(sizes) / len(sizes):.1f}" if sizes else "-",
                         str(max(fake.peak.values(), default=0)), str(found)))
        tenant.close()
        fake.stop()
    print(f"{args.owners} mailboxes × 8 weekly series, latency {args.latency * 1000:.0f} ms, "
          f"concurrency {args.concurrency}, batch {not args.no_batch}, "
          f"workers {tenant.workers}; tenant.open: {open_us:.0f} µs CPU per owner\n")
    head = ("run", "wall", "CPU (incl. fake)", "HTTP requests", "sub-requests",
            "mean batch", "peak/mailbox", "occurrences")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
