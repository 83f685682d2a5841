"""Two worker hosts, one database host: the bulk match and the sends shared, nothing lost or doubled.

    python -m bench.two_hosts --volunteers 100000          (make bench-two-hosts)

Three network namespaces on this machine stand in for three hosts, joined by veth pairs on a
bridge with a private /24 (10.213.X.0/24, X picked free; the bridge holds .1, for this process):

* ``db`` (.2): a private PostgreSQL cluster (initdb in a temporary directory), a redis-server
  (the Celery broker) and an SMTP server (``bench/smtp_sink.py``, aiosmtpd) that writes one
  line per message received: the client's address, the Message-ID, the recipients;
* ``host-a`` (.3) and ``host-b`` (.4): one ``celery -A workers worker`` each, with its own
  ``--concurrency``, all queues, named ``worker@host-a``/``worker@host-b`` (with
  ``--split-queues`` two each: ``match@`` on matching, maintenance and default, ``contact@`` on
  contact); ``celery beat`` runs on host-a only (as in production: one beat).

Every server listens on its namespace's address only. This process then does what an operator
and two staff members would: migrates, creates a coordinator and a reviewer with API tokens
(the accounts service behind ``panel users create`` and ``panel tokens create``), runs
``panel import profiles`` on N synthetic volunteers (``bench.make_import_file``), and through the
API (the Flask app in this process, bearer tokens) creates a study, submits it, records its
ethics approval and starts recruiting. No row is written by SQL. It waits until the match run
is finished and nothing is left to send, then checks and prints:

* per host: chunks run and rows matched (from each worker's log: its ``matching.chunk_done``
  lines, one per chunk matched, by a delivered task or by ``start_study`` itself), emails sent
  (its ``email.sent`` lines) and received from its address at the SMTP server, the peak of its PostgreSQL
  connections (``pg_stat_activity`` by client address) and Redis connections (``CLIENT LIST``),
  sampled every 0.2 s;
* that every volunteer the in-memory evaluator says matches (the import file's lines, parsed by
  the importer's own parser and evaluated in Python, not by SQL) has exactly one invitation,
  and nobody else has one; that every invitation was sent, and the SMTP server received exactly
  one message per invitation (by Message-ID, ``<inv-STUDY-VOLUNTEER@…>``) and no other.

The namespaces, the bridge, every process and the temporary directories are removed on the way
out, also after a failure or Ctrl-C; namespaces left by a run that was killed outright (their
name carries its process id) are removed by the next run. Needs root (``ip netns``), the
PostgreSQL server binaries and redis-server. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "panel-"
HOSTS = ("host-a", "host-b")
CRITERIA = {
    "broad": "age between 40 and 75 and (has condition I10 or has condition E11) and bmi between 25 and 40 "
    "and not has condition N18 and not pregnant",
    "narrow": "age between 18 and 75 and has condition G25.81 and not has condition N18 "
    "and not has condition D66 and not pregnant",
}
SECRET_KEY = "two-hosts-bench-" + "0123456789abcdef" * 2
LETTER = b"Two-host run: the ethics approval letter."


class SetupError(RuntimeError):
    """The machine cannot run this (no ip netns, no binaries): an error, never a silent skip."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sh(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise SetupError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


# -- the network -------------------------------------------------------------------------------


@dataclass
class Network:
    """Three namespaces on one bridge. ``tag`` (this process's id) names everything it makes."""

    tag: str
    subnet: int
    namespaces: dict[str, str] = field(default_factory=dict)  # role -> namespace name
    bridge: str = ""

    def address(self, role: str) -> str:
        return f"10.213.{self.subnet}.{ {'bridge': 1, 'db': 2, 'host-a': 3, 'host-b': 4}[role] }"

    def exec_prefix(self, role: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[role]]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_inside(namespace: str) -> None:
    """SIGKILL what still runs in one of this harness's namespaces (servers and workers of a run
    that was killed before its cleanup): a namespace outlives ``ip netns del`` while it has any."""
    for pid in sh("ip", "netns", "pids", namespace, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def remove_stale() -> None:
    """Namespaces and bridges of earlier runs whose process is gone (killed without cleanup)."""
    listing = sh("ip", "netns", "list", check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        found = re.fullmatch(rf"{PREFIX}(\d+)-(db|host-a|host-b)", name)
        if found and not _pid_alive(int(found.group(1))):
            _kill_inside(name)
            sh("ip", "netns", "del", name, check=False)
    for directory in Path(tempfile.gettempdir()).glob("panel-two-hosts-*-*"):
        found = re.fullmatch(r"panel-two-hosts-(\d+)-\w+", directory.name)
        if found and not _pid_alive(int(found.group(1))):
            shutil.rmtree(directory, ignore_errors=True)
    for line in sh("ip", "-o", "link", "show", "type", "bridge", check=False).stdout.splitlines():
        found = re.search(r"\d+: pnlbr(\d+)[:@]", line)
        if found and not _pid_alive(int(found.group(1))):
            sh("ip", "link", "del", f"pnlbr{found.group(1)}", check=False)


def _free_subnet() -> int:
    used = sh("ip", "-o", "addr", "show", check=False).stdout + sh("ip", "route", check=False).stdout
    for candidate in [*range(os.getpid() % 200 + 20, 255), *range(20, 255)]:
        if f"10.213.{candidate}." not in used:
            return candidate
    raise SetupError("no free 10.213.X.0/24 subnet")


def check_netns() -> None:
    if os.geteuid() != 0:
        raise SetupError("network namespaces need root (ip netns add)")
    if shutil.which("ip") is None:
        raise SetupError("the ip command (iproute2) is not installed")


def setup_network(tag: str) -> Network:
    """Bridge in this namespace, then per role: a namespace, a veth pair (one end on the bridge,
    the other moved in and renamed eth0), its address, loopback up."""
    check_netns()
    net = Network(tag=tag, subnet=_free_subnet())
    net.bridge = f"pnlbr{tag}"
    sh("ip", "link", "add", net.bridge, "type", "bridge")
    sh("ip", "addr", "add", f"{net.address('bridge')}/24", "dev", net.bridge)
    sh("ip", "link", "set", net.bridge, "up")
    for index, role in enumerate(("db", *HOSTS)):
        name = f"{PREFIX}{tag}-{role}"
        sh("ip", "netns", "add", name)
        net.namespaces[role] = name
        outside, inside = f"pnl{tag}v{index}", f"pnl{tag}p{index}"
        sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        sh("ip", "link", "set", inside, "netns", name)
        sh("ip", "link", "set", outside, "master", net.bridge)
        sh("ip", "link", "set", outside, "up")
        sh("ip", "-n", name, "link", "set", inside, "name", "eth0")
        sh("ip", "-n", name, "addr", "add", f"{net.address(role)}/24", "dev", "eth0")
        sh("ip", "-n", name, "link", "set", "eth0", "up")
        sh("ip", "-n", name, "link", "set", "lo", "up")
    return net


def teardown_network(net: Network) -> None:
    # Deleting a namespace destroys its end of each veth pair, and with it the other end.
    for name in net.namespaces.values():
        _kill_inside(name)  # nothing should be left by now; a safety net
        sh("ip", "netns", "del", name, check=False)
    if net.bridge:
        sh("ip", "link", "del", net.bridge, check=False)


# -- processes ----------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def spawn(name: str, argv: list[str], env: dict[str, str], log_path: Path) -> Proc:
    handle = log_path.open("wb")
    try:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    finally:
        handle.close()
    return Proc(name, process, log_path)


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, procs: Sequence[Proc] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for proc in procs:
            if proc.process.poll() is not None:
                raise SetupError(f"{proc.name} exited early:\n{proc.text()[-3000:]}")
        time.sleep(0.1)
    raise SetupError(f"timed out after {timeout:.0f} s waiting for {what}")


def port_open(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def base_env(net: Network, database: str, chunk_size: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PANEL_", "SMTP_", "CELERY_", "DATABASE_", "REDIS_"))
    }
    db = net.address("db")
    env.update(
        {
            "DATABASE_URL": f"postgresql+psycopg://postgres@{db}:5432/{database}",
            "CELERY_BROKER_URL": f"redis://{db}:6379/0",
            "SMTP_HOST": db,
            "SMTP_PORT": "2525",
            "PANEL_ENV": "production",
            "SECRET_KEY": SECRET_KEY,
            "PANEL_BASE_URL": "https://panel.example.org",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "PANEL_MATCH_CHUNK_SIZE": str(chunk_size),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class NetnsPostgres:
    """A private PostgreSQL cluster (tests/support/private_services.py) started inside the db
    namespace, listening on the namespace's address, port 5432."""

    def __init__(self, net: Network, base_dir: Path) -> None:
        from tests.support.private_services import PrivatePostgres, postgres_bin_dir

        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise SetupError("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql")
        base_dir.mkdir()
        self.server = PrivatePostgres(bin_dir, base_dir)
        self.server.host = net.address("db")
        self.server.port = 5432
        self.server._as_user = [*net.exec_prefix("db"), *self.server._as_user]

    def start(self) -> None:
        self.server.init()
        conf = self.server.data_dir / "pg_hba.conf"
        # Trust inside the private subnet only (the cluster listens on nothing else).
        conf.write_text(conf.read_text() + f"\nhost all all {self.server.host}/24 trust\n")
        self.server.start()

    def stop(self) -> None:
        if self.server.running:
            with contextlib.suppress(Exception):
                self.server.stop("fast")


# -- the run ------------------------------------------------------------------------------------


@dataclass
class HostReport:
    host: str
    address: str
    concurrency: int
    chunks: int = 0
    rows_matched: int = 0
    chunk_seconds: list[float] = field(default_factory=list)
    emails_logged: int = 0
    emails_received: int = 0
    tasks: int = 0
    peak_pg_connections: int = 0
    peak_redis_connections: int = 0

    def profiles_per_second(self, chunk_size: int) -> float:
        """Profiles (ids) a chunk goes through per second: the chunk size over its median time."""
        median = statistics.median(self.chunk_seconds) if self.chunk_seconds else 0.0
        return chunk_size / median if median else 0.0


@dataclass
class Result:
    volunteers: int
    criteria: str
    chunk_size: int
    split_queues: bool = False
    chunks_total: int = 0
    import_seconds: float = 0.0
    expected: int = 0
    invitations: int = 0
    sent: int = 0
    missing_invitations: int = 0
    unexpected_invitations: int = 0
    emails_received: int = 0
    emails_missing: int = 0
    emails_doubled: int = 0
    emails_unknown: int = 0
    match_seconds: float = 0.0
    dispatch_seconds: float = 0.0
    send_window_seconds: float = 0.0
    redis_commands: int = 0
    hosts: list[HostReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Sampler(threading.Thread):
    """Peak connections per client address, PostgreSQL and Redis, every 0.2 s."""

    def __init__(self, pg_url: str, redis_url: str, addresses: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.pg_url, self.redis_url, self.addresses = pg_url, redis_url, addresses
        self.pg_peak: Counter[str] = Counter()
        self.redis_peak: Counter[str] = Counter()
        self.halt = threading.Event()
        self.redis_calls = 0

    def run(self) -> None:
        import psycopg
        import redis

        client = redis.Redis.from_url(self.redis_url)
        with psycopg.connect(
            self.pg_url.replace("postgresql+psycopg", "postgresql"), autocommit=True
        ) as conn:
            while not self.halt.is_set():
                rows = conn.execute(
                    "SELECT host(client_addr), count(*) FROM pg_stat_activity "
                    "WHERE client_addr IS NOT NULL AND backend_type = 'client backend' GROUP BY 1"
                ).fetchall()
                for address, count in rows:
                    self.pg_peak[address] = max(self.pg_peak[address], count)
                per_redis: Counter[str] = Counter(
                    str(entry["addr"]).rsplit(":", 1)[0] for entry in client.client_list()
                )
                self.redis_calls += 1
                for address, count in per_redis.items():
                    self.redis_peak[address] = max(self.redis_peak[address], count)
                self.halt.wait(0.2)
        client.close()


def expected_participants(import_file: Path, criteria: str, today: dt.date) -> set[str]:
    """Emails of the volunteers the study must invite: each line parsed by the importer's parser,
    the criteria evaluated in memory (the evaluator the SQL compiler is held to), consent given."""
    from panel_service.domain.criteria import parse_any
    from panel_service.domain.criteria.evaluate import evaluate
    from panel_service.domain.criteria.model import Truth
    from panel_service.services.volunteer_import import parse_line

    node = parse_any(criteria)
    expected = set()
    with import_file.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = parse_line(number, raw, today)
            if line.consent and evaluate(node, line.profile, today) == Truth.TRUE:
                expected.add(line.email)
    return expected


def prepare(env: dict[str, str]) -> tuple[str, str]:
    """Migrate (as ``panel db upgrade`` does), then the two staff accounts and their API tokens
    through the accounts service (what ``panel users create`` and ``panel tokens create`` call),
    in this process: four CLI start-ups would cost half a minute on a loaded 2-core machine."""
    from config.settings import load_settings
    from panel_service.migrate import upgrade
    from panel_service.runtime import Runtime
    from panel_service.services import accounts

    runtime = Runtime(load_settings(env))
    try:
        upgrade(runtime.database.engine)
        tokens = []
        with runtime.database.session_scope() as session:
            for email, role, organisation in (
                ("coordinator@bench.example.org", "coordinator", "Two-host Bench"),
                ("reviewer@bench.example.org", "reviewer", None),
            ):
                account = accounts.create_staff_account(
                    session, email=email, role=role, organisation=organisation
                )
                tokens.append(accounts.create_api_token(session, account, "two-hosts"))
    finally:
        runtime.close()
    return tokens[0], tokens[1]


def panel_cli(env: dict[str, str], *args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [_panel_bin(), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise SetupError(f"panel {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def _panel_bin() -> str:
    candidate = Path(sys.executable).parent / "panel"
    return str(candidate) if candidate.exists() else "panel"


def recruit_through_api(
    env: dict[str, str], coordinator_token: str, reviewer_token: str, criteria: str
) -> tuple[int, dt.datetime]:
    """Create → submit → approve (reviewer) → recruit, through the studies API of the Flask app
    built in this process (its outbox relay publishes ``matching.start_study`` to the broker)."""
    from config.settings import load_settings
    from panel_service import create_app

    app = create_app(load_settings(env), start_background_jobs=False)
    client = app.test_client()

    def call(method: str, path: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = client.open(
            f"/api/v1{path}", method=method, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code >= 300:
            raise SetupError(f"{method} {path}: {response.status_code} {response.get_data(as_text=True)}")
        return dict(response.get_json())

    today = dt.date.today()
    study = call(
        "POST",
        "/studies",
        coordinator_token,
        {
            "title": "Blood pressure and diabetes, two-host run",
            "summary": "A study for the two-host run.",
            "criteria": criteria,
            "invitation_text": "We are looking for adults with high blood pressure or diabetes.",
            "site_region": "DK-84",
            "target_enrolment": 100,
        },
    )
    study_id = int(study["id"])
    call("POST", f"/studies/{study_id}/submit", coordinator_token)
    call(
        "POST",
        f"/studies/{study_id}/approval",
        reviewer_token,
        {
            "committee": "Region Midtjylland IEC",
            "kind": "IEC",
            "reference": f"TWO-HOSTS-{study_id}",
            "approved_on": (today - dt.timedelta(days=2)).isoformat(),
            "expires_on": (today + dt.timedelta(days=300)).isoformat(),
            "letter_sha256": hashlib.sha256(LETTER).hexdigest(),
        },
    )
    recruited_at = dt.datetime.now(dt.UTC)
    recruiting = call("POST", f"/studies/{study_id}/recruit", coordinator_token)
    if recruiting["status"] != "recruiting":
        raise SetupError(f"study {study_id} is {recruiting['status']}, not recruiting")
    app.extensions["panel_runtime"].close()
    return study_id, recruited_at


def warm_up(env: dict[str, str], processes: int) -> None:
    """A fresh pool process builds its runtime (settings, engine, mailer) on its first task; a
    running production worker has long done that. No-op tasks (ids that do not exist, published
    straight to the broker, no outbox row) on both queues first, so the run starts warm."""
    from celery import Celery

    from config.celery import celery_settings
    from config.settings import load_settings

    client = Celery("two-hosts-warm-up", set_as_current=False)
    client.conf.update(celery_settings(load_settings(env)))
    for _ in range(processes * 3):
        client.send_task("matching.start_study", kwargs={"study_id": 0}, queue="matching", ignore_result=True)
        client.send_task(
            "contact.send_invitation",
            kwargs={"study_id": 0, "participant_id": 0},
            queue="contact",
            ignore_result=True,
        )
    client.close()
    time.sleep(5.0)


TASK_LINE = re.compile(r"Task [\w.]+\[[^\]]+\] succeeded in ")


def read_worker_log(text: str, report: HostReport) -> list[str]:
    """Chunks (Celery's success lines) and sends (``email.sent``) in one host's worker log;
    returns the Message-IDs it sent."""
    sent: list[str] = []
    for line in text.splitlines():
        if TASK_LINE.search(line):
            report.tasks += 1
        if '"matching.chunk_done"' in line:
            with contextlib.suppress(ValueError):
                entry = json.loads(line[line.index("{") :])
                if entry.get("event") == "matching.chunk_done":
                    report.chunks += 1
                    report.chunk_seconds.append(float(entry["seconds"]))
                    report.rows_matched += int(entry["matched"])
            continue
        if '"email.sent"' in line:
            with contextlib.suppress(ValueError):
                entry = json.loads(line[line.index("{") :])
                if entry.get("event") == "email.sent":
                    sent.append(str(entry.get("message_id")))
    report.emails_logged += len(sent)
    return sent


def run(
    volunteers: int,
    *,
    concurrency: tuple[int, int] = (2, 2),
    chunk_size: int = 5000,
    criteria: str = "broad",
    timeout: float = 1800,
    keep: Path | None = None,
    split_queues: bool = False,
) -> Result:
    """The whole run; everything it starts is gone when it returns or raises."""
    result = Result(
        volunteers=volunteers, criteria=criteria, chunk_size=chunk_size, split_queues=split_queues
    )
    tag = str(os.getpid())
    remove_stale()
    work = Path(tempfile.mkdtemp(prefix=f"panel-two-hosts-{tag}-"))
    if keep is not None:
        log(f"logs will be copied to {keep}")
    os.chmod(work, 0o711)  # noqa: S103 - the cluster runs as postgres and must reach its directory
    procs: list[Proc] = []
    net: Network | None = None
    postgres: NetnsPostgres | None = None
    sampler: Sampler | None = None
    try:
        net = setup_network(tag)
        db = net.address("db")
        log(f"namespaces {', '.join(net.namespaces.values())} on 10.213.{net.subnet}.0/24 (db {db})")
        # Each namespace must see the db host over the bridge before anything starts.
        for role in HOSTS:
            ping = sh(*net.exec_prefix(role), "ping", "-c", "1", "-W", "2", db, check=False)
            if ping.returncode != 0 and shutil.which("ping"):
                raise SetupError(f"{role} cannot reach {db}: {ping.stdout}{ping.stderr}")

        postgres = NetnsPostgres(net, work / "postgres")
        postgres.start()
        redis_bin = shutil.which("redis-server")
        if redis_bin is None:
            raise SetupError("redis-server is not installed")
        procs.append(
            spawn(
                "redis",
                [
                    *net.exec_prefix("db"),
                    redis_bin,
                    "--bind",
                    db,
                    "--port",
                    "6379",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(work),
                    "--maxclients",
                    "1000",
                    # No password: it listens on the db namespace's private address only.
                    "--protected-mode",
                    "no",
                ],
                dict(os.environ),
                work / "redis.log",
            )
        )
        smtp_out = work / "smtp.jsonl"
        procs.append(
            spawn(
                "smtp",
                [
                    *net.exec_prefix("db"),
                    sys.executable,
                    "-m",
                    "bench.smtp_sink",
                    "--host",
                    db,
                    "--port",
                    "2525",
                    "--out",
                    str(smtp_out),
                ],
                dict(os.environ) | {"PYTHONPATH": str(ROOT)},
                work / "smtp.log",
            )
        )
        wait_for("redis and the SMTP server", lambda: port_open(db, 6379) and port_open(db, 2525), 30, procs)
        postgres.server.create_database("panel")
        env = base_env(net, "panel", chunk_size)

        log("migrating; a coordinator and a reviewer with API tokens (accounts service)")
        coordinator_token, reviewer_token = prepare(env)

        import_file = work / "volunteers.jsonl"
        subprocess.run(
            [sys.executable, "-m", "bench.make_import_file", str(volunteers), str(import_file)],
            cwd=ROOT,
            check=True,
            env=dict(os.environ) | {"PYTHONPATH": str(ROOT)},
        )
        log(f"importing {volunteers} volunteers with panel import profiles")
        started = time.monotonic()
        imported = panel_cli(env, "import", "profiles", "--no-progress", str(import_file))
        print(imported.stderr.strip().splitlines()[-1], file=sys.stderr)
        result.import_seconds = time.monotonic() - started

        # One worker per host on every queue, or (split_queues) two: matching and maintenance,
        # and contact alone, each with the host's concurrency (docs/scaling.md).
        queue_sets = (
            [("match", "matching,maintenance,default"), ("contact", "contact")]
            if split_queues
            else [("all", "matching,contact,maintenance,default")]
        )
        for role, processes in zip(HOSTS, concurrency, strict=True):
            for label, queues in queue_sets:
                name = f"worker@{role}" if label == "all" else f"{label}@{role}"
                procs.append(
                    spawn(
                        name,
                        [
                            *net.exec_prefix(role),
                            sys.executable,
                            "-m",
                            "celery",
                            "-A",
                            "workers",
                            "worker",
                            "--loglevel=INFO",
                            f"--concurrency={processes}",
                            "-Q",
                            queues,
                            "-n",
                            name,
                            "--without-gossip",
                            "--without-mingle",
                            "--without-heartbeat",
                        ],
                        env,
                        work / f"worker-{label}-{role}.log",
                    )
                )
        procs.append(
            spawn(
                "beat@host-a",
                [
                    *net.exec_prefix("host-a"),
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "workers",
                    "beat",
                    "--loglevel=INFO",
                    "-s",
                    str(work / "beat-schedule"),
                ],
                env,
                work / "beat.log",
            )
        )
        workers = [p for p in procs if p.name.split("@")[0] in ("worker", "match", "contact")]
        wait_for("both workers to be ready", lambda: all(" ready." in w.text() for w in workers), 120, procs)

        warm_up(env, sum(concurrency))

        from sqlalchemy import text

        from config.settings import load_settings
        from panel_service.db import make_engine
        from panel_service.timeutil import panel_today

        today = panel_today(load_settings(env))
        expected = expected_participants(import_file, CRITERIA[criteria], today)
        result.expected = len(expected)

        import redis

        broker = redis.Redis.from_url(env["CELERY_BROKER_URL"])
        commands_before = int(broker.info("stats")["total_commands_processed"])
        sampler = Sampler(env["DATABASE_URL"], env["CELERY_BROKER_URL"], {})
        sampler.start()
        # The warm-up's lines are not the run's.
        log_offsets = {p.name: len(p.text()) for p in workers}
        log("recruiting through the API")
        recruited = time.monotonic()
        study_id, recruited_at = recruit_through_api(
            env, coordinator_token, reviewer_token, CRITERIA[criteria]
        )

        engine = make_engine(env["DATABASE_URL"])
        deadline = time.monotonic() + timeout
        finished_at = None
        while True:
            with engine.connect() as connection:
                run_row = connection.execute(
                    text(
                        "SELECT chunks_total, finished_at FROM match_runs WHERE study_id = :s ORDER BY id LIMIT 1"
                    ),
                    {"s": study_id},
                ).first()
                open_count = connection.execute(
                    text(
                        "SELECT count(*) FROM invitations WHERE study_id = :s "
                        "AND status IN ('queued', 'claimed')"
                    ),
                    {"s": study_id},
                ).scalar_one()
            if run_row is not None and run_row[1] is not None:
                finished_at = finished_at or run_row[1]
                if open_count == 0:
                    break
            if time.monotonic() > deadline:
                raise SetupError(f"not finished after {timeout:.0f} s ({open_count} invitations still open)")
            for proc in procs:
                if proc.process.poll() is not None:
                    raise SetupError(f"{proc.name} exited:\n{proc.text()[-3000:]}")
            time.sleep(0.2)
        log(f"done in {time.monotonic() - recruited:.1f} s")
        sampler.halt.set()
        sampler.join(timeout=5)
        # Broker commands during the run, less the sampler's CLIENT LIST and these two INFO calls.
        commands_after = int(broker.info("stats")["total_commands_processed"])
        broker.close()
        result.redis_commands = commands_after - commands_before - sampler.redis_calls - 1
        time.sleep(1.0)  # let the last log lines reach the files

        with engine.connect() as connection:
            result.chunks_total = int(run_row[0])
            rows = connection.execute(
                text(
                    "SELECT a.email, i.status, i.participant_id FROM invitations i "
                    "JOIN participants p ON p.id = i.participant_id JOIN accounts a ON a.id = p.account_id "
                    "WHERE i.study_id = :s"
                ),
                {"s": study_id},
            ).all()
            first_claim, last_sent = connection.execute(
                text("SELECT min(claimed_at), max(sent_at) FROM invitations WHERE study_id = :s"),
                {"s": study_id},
            ).one()
        engine.dispose()
        invited = {email for email, _, _ in rows}
        result.invitations = len(rows)
        result.sent = sum(1 for _, status, _ in rows if status == "sent")
        result.missing_invitations = len(expected - invited)
        result.unexpected_invitations = len(invited - expected)
        result.match_seconds = (finished_at - recruited_at).total_seconds()
        result.dispatch_seconds = (last_sent - recruited_at).total_seconds() if last_sent else 0.0
        result.send_window_seconds = (last_sent - first_claim).total_seconds() if last_sent else 0.0

        host = "panel.example.org"
        wanted = {f"<inv-{study_id}-{pid}@{host}>": email for email, _, pid in rows}
        # Invitations only: the review decision also emails the study's coordinator (issue 13).
        received = [
            entry
            for entry in (json.loads(line) for line in smtp_out.read_text().splitlines() if line.strip())
            if str(entry["message_id"]).startswith("<inv-")
        ]
        by_id = Counter(str(entry["message_id"]) for entry in received)
        result.emails_received = len(received)
        result.emails_missing = sum(1 for mid in wanted if by_id[mid] == 0)
        result.emails_doubled = sum(1 for mid in wanted if by_id[mid] > 1)
        result.emails_unknown = sum(count for mid, count in by_id.items() if mid not in wanted)
        wrong_recipient = sum(
            1 for entry in received if wanted.get(str(entry["message_id"])) not in (entry["rcpt"] or [None])
        )
        peers = Counter(str(entry["peer"]) for entry in received)

        logged_ids: list[str] = []
        for role, processes in zip(HOSTS, concurrency, strict=True):
            address = net.address(role)
            report = HostReport(role, address, processes * len(queue_sets))
            for worker in (p for p in workers if p.name.endswith(f"@{role}")):
                logged_ids += read_worker_log(worker.text()[log_offsets[worker.name] :], report)
            report.emails_received = peers[address]
            report.peak_pg_connections = sampler.pg_peak[address]
            report.peak_redis_connections = sampler.redis_peak[address]
            result.hosts.append(report)
        logged = Counter(mid for mid in logged_ids if mid.startswith("<inv-"))

        problems = result.problems
        if result.missing_invitations or result.unexpected_invitations:
            problems.append(
                f"invitations: {result.missing_invitations} expected volunteers not invited, "
                f"{result.unexpected_invitations} invited unexpectedly"
            )
        if result.invitations != len(invited):
            problems.append("a volunteer has more than one invitation")
        if result.sent != result.invitations:
            problems.append(f"{result.invitations - result.sent} invitations not sent")
        if result.emails_missing or result.emails_doubled or result.emails_unknown or wrong_recipient:
            problems.append(
                f"SMTP: {result.emails_missing} missing, {result.emails_doubled} received more than once, "
                f"{result.emails_unknown} unknown, {wrong_recipient} to the wrong recipient"
            )
        if sum(peers.values()) != sum(r.emails_received for r in result.hosts):
            problems.append(f"messages from an address that is no worker host: {dict(peers)}")
        if any(count > 1 for count in logged.values()) or set(logged) != set(wanted):
            problems.append("the worker logs' email.sent lines do not match the invitations one to one")
        if sum(r.chunks for r in result.hosts) != result.chunks_total:
            problems.append(
                f"chunk lines in the logs: {sum(r.chunks for r in result.hosts)}, chunks in the run: "
                f"{result.chunks_total}"
            )
        if sum(r.rows_matched for r in result.hosts) != result.invitations:
            problems.append("rows matched by the chunks do not add up to the invitations")
        for report in result.hosts:
            if result.chunks_total > 1 and report.chunks == 0:
                problems.append(f"{report.host} ran no chunk")
            if result.invitations > 50 and report.emails_received == 0:
                problems.append(f"{report.host} sent no email")
        return result
    finally:
        if keep is not None:
            shutil.copytree(
                work, keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("postgres", "*.jsonl")
            )
        if sampler is not None:
            sampler.halt.set()
        for proc in reversed(procs):
            proc.stop()
        if postgres is not None:
            postgres.stop()
        if net is not None:
            teardown_network(net)
        shutil.rmtree(work, ignore_errors=True)


def summary(result: Result) -> str:
    lines = [
        f"two-host run: {result.volunteers:,} volunteers (panel import profiles: {result.import_seconds:.1f} s), "
        f"criteria {result.criteria}, {result.chunks_total} chunks of {result.chunk_size:,}; "
        + (
            "per host a matching and a contact worker"
            if result.split_queues
            else "one worker per host, all queues"
        ),
        "",
        "| host | address | processes | chunks | rows matched | s per chunk (median) | profiles/s in a chunk "
        "| emails sent (log) | emails received (SMTP) | emails/s | peak PostgreSQL conns | peak Redis conns |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result.hosts:
        median = statistics.median(r.chunk_seconds) if r.chunk_seconds else 0.0
        rate = r.emails_received / result.send_window_seconds if result.send_window_seconds else 0.0
        lines.append(
            f"| {r.host} | {r.address} | {r.concurrency} | {r.chunks} | {r.rows_matched:,} | {median:.2f} "
            f"| {r.profiles_per_second(result.chunk_size):,.0f} | {r.emails_logged:,} | {r.emails_received:,} | {rate:.0f} "
            f"| {r.peak_pg_connections} | {r.peak_redis_connections} |"
        )
    total_rate = result.emails_received / result.send_window_seconds if result.send_window_seconds else 0.0
    lines.append(
        f"| **both** | | {sum(r.concurrency for r in result.hosts)} | {sum(r.chunks for r in result.hosts)} "
        f"| {sum(r.rows_matched for r in result.hosts):,} | | | {sum(r.emails_logged for r in result.hosts):,} "
        f"| {sum(r.emails_received for r in result.hosts):,} | {total_rate:.0f} "
        f"| {sum(r.peak_pg_connections for r in result.hosts)} | {sum(r.peak_redis_connections for r in result.hosts)} |"
    )
    lines += [
        "",
        f"recruit → match run finished: {result.match_seconds:.2f} s; recruit → last invitation sent: "
        f"{result.dispatch_seconds:.1f} s; first claim → last sent: {result.send_window_seconds:.1f} s "
        "(emails/s above are over this window)",
        f"expected (in-memory evaluation of the import file): {result.expected:,}; invitations: "
        f"{result.invitations:,} (missing {result.missing_invitations}, unexpected "
        f"{result.unexpected_invitations}); sent: {result.sent:,}",
        f"SMTP server: {result.emails_received:,} messages; missing {result.emails_missing}, "
        f"doubled {result.emails_doubled}, unknown {result.emails_unknown}",
        f"broker: {sum(r.tasks for r in result.hosts):,} tasks run (host-a {result.hosts[0].tasks if result.hosts else 0}, "
        f"host-b {result.hosts[1].tasks if len(result.hosts) > 1 else 0}), {result.redis_commands:,} Redis commands "
        "from recruit to done",
        "result: " + ("OK — shared by both hosts, nothing lost or doubled" if result.ok else "FAILED"),
    ]
    lines += [f"  - {problem}" for problem in result.problems]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--volunteers", type=int, default=100_000)
    parser.add_argument("--concurrency-a", type=int, default=2, help="worker processes on host-a")
    parser.add_argument("--concurrency-b", type=int, default=2, help="worker processes on host-b")
    parser.add_argument("--chunk-size", type=int, default=5000, help="PANEL_MATCH_CHUNK_SIZE")
    parser.add_argument("--criteria", choices=sorted(CRITERIA), default="broad")
    parser.add_argument(
        "--split-queues",
        action="store_true",
        help="two workers per host: matching (+maintenance, default) and contact, each with the concurrency",
    )
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep-logs", type=Path, help="copy the logs and the SMTP record here")
    parser.add_argument("--json", type=Path, help="write the result as JSON here too")
    args = parser.parse_args()

    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        result = run(
            args.volunteers,
            concurrency=(args.concurrency_a, args.concurrency_b),
            chunk_size=args.chunk_size,
            criteria=args.criteria,
            timeout=args.timeout,
            keep=args.keep_logs,
            split_queues=args.split_queues,
        )
    except SetupError as exc:
        print(f"two-host run failed: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(summary(result))
    if args.json:
        from dataclasses import asdict

        args.json.write_text(json.dumps(asdict(result), indent=2, default=str))
    raise SystemExit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
