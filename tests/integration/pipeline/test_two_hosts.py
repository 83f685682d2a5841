"""The two-host run in small (bench/two_hosts.py; ``make bench-two-hosts`` runs it at 100,000).

Three network namespaces of this machine act as hosts: PostgreSQL, Redis and an SMTP server in
"db", one ``celery -A workers worker`` in each of "host-a" and "host-b", reaching them over veth
pairs on a bridge. A thousand volunteers are imported with ``panel import profiles`` and a study
is created, approved and recruited through the API. The bulk match's chunks and the sends must
be shared by both hosts, and every volunteer the in-memory evaluator picks must have exactly one
invitation and exactly one email at the SMTP server; nobody else any.

Needs root and ``ip netns``: without them it skips on a laptop and fails with CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bench import two_hosts
from tests.support.private_services import postgres_bin_dir
from tests.support.services import unavailable

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.redis]


def _require_netns() -> None:
    if os.geteuid() != 0:
        unavailable("network namespaces (ip netns add)", "the tests do not run as root")
    if shutil.which("ip") is None:
        unavailable("network namespaces (ip netns add)", "no ip command (iproute2)")
    probe = f"panel-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        unavailable("network namespaces (ip netns add)", made.stderr.strip())
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    if postgres_bin_dir() is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl)", "none in /usr/lib/postgresql/*/bin")
    if shutil.which("redis-server") is None:
        unavailable("redis-server", "not on PATH")


def test_two_hosts_share_the_match_and_the_sends_with_nothing_lost_or_doubled() -> None:
    _require_netns()
    before = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())

    result = two_hosts.run(1000, concurrency=(2, 2), chunk_size=50, timeout=120)

    print(two_hosts.summary(result))
    assert result.ok, result.problems
    assert result.expected > 50  # the broad criteria pick about one in nine
    assert result.invitations == result.expected == result.sent == result.emails_received
    assert result.missing_invitations == result.unexpected_invitations == 0
    assert result.emails_missing == result.emails_doubled == result.emails_unknown == 0
    a, b = result.hosts
    assert a.chunks > 0 and b.chunks > 0
    assert a.chunks + b.chunks == result.chunks_total == 20
    assert a.rows_matched + b.rows_matched == result.invitations
    assert a.emails_received > 0 and b.emails_received > 0
    assert a.emails_received + b.emails_received == result.emails_received
    # Everything it made is gone: namespaces, the bridge, the processes.
    after = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    assert not {name for name in after - before if name.startswith(two_hosts.PREFIX)}
    bridges = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True)
    assert f"pnlbr{os.getpid()}" not in bridges.stdout
