"""A PostgreSQL cluster and a redis-server of the test's own, to restart and kill at will.

The shared PostgreSQL on 5432 and Redis on 6379 serve every other test run on the machine: a fault
test must never restart them. These start a private ``postgres`` (initdb + pg_ctl from Debian's
``/usr/lib/postgresql/*/bin``, in a temporary directory, on a free loopback port, fsync off) and a
private ``redis-server`` (free loopback port, no persistence), with the faults the crash tests need:

* ``PrivatePostgres.restart()`` — ``pg_ctl restart -m immediate`` (no shutdown checkpoint: every
  connection is cut as by a crash); ``stop()``/``start()`` to hold it down for a while;
* ``PrivateRedis.kill()``/``start()``/``restart()`` — SIGKILL and start again on the same port (no
  persistence, so every queued message is gone, as after a Redis crash without AOF).

Both are context managers that always clean up (processes stopped, directories removed). With
CI=true a missing binary is an error, never a skip (``tests.support.services.unavailable``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import free_port, port_open, unavailable

START_TIMEOUT = 30.0


def _wait_for_port(host: str, port: int, up: bool, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port) == up:
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} to {'start' if up else 'stop'}")


def postgres_bin_dir() -> Path | None:
    """``PANEL_TEST_PG_BIN`` if set, else the newest Debian-packaged server's bin directory."""
    configured = os.environ.get("PANEL_TEST_PG_BIN")
    if configured:
        return Path(configured) if (Path(configured) / "initdb").exists() else None
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3].split(".")[0])
    )
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """One PostgreSQL cluster in a temporary directory. Run as the ``postgres`` OS user when the
    tests run as root (initdb and postgres refuse to run as root)."""

    host = "127.0.0.1"

    def __init__(self, bin_dir: Path, base_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_path = base_dir / "postgres.log"
        self.port = free_port()
        self.user = "postgres"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            pwd.getpwnam("postgres")  # KeyError: no such user, reported by private_postgres()
            self._as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(base_dir, user="postgres")

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def init(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )

    def _options(self) -> str:
        # Loopback TCP only (no socket in /var/run). fsync off: a test cluster need not survive
        # the machine crashing, only its own (an immediate stop leaves written pages with the OS).
        # synchronous_commit stays on: with it off, a commit already answered can vanish in an
        # immediate stop, which production (and P2) does not allow.
        return (
            f"-c listen_addresses={self.host} -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )

    def _pg_ctl(self, *args: str) -> None:
        self._run(
            str(self.bin_dir / "pg_ctl"),
            *args,
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            self._options(),
            "-w",
            "-t",
            str(int(START_TIMEOUT)),
        )

    def start(self) -> None:
        self._pg_ctl("start")
        _wait_for_port(self.host, self.port, True, START_TIMEOUT, "the private PostgreSQL")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` cuts every connection without a checkpoint, as a crash would."""
        self._run(str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w")

    def restart(self, mode: str = "immediate", down_seconds: float = 0.0) -> None:
        """Stop (``immediate`` by default), stay down ``down_seconds``, start on the same port."""
        if down_seconds:
            self.stop(mode)
            time.sleep(down_seconds)
            self.start()
        else:
            self._pg_ctl("restart", "-m", mode)

    @property
    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private PostgreSQL cluster; stopped and deleted afterwards."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl)", "none in /usr/lib/postgresql/*/bin")
        raise AssertionError("unreachable")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            unavailable("a 'postgres' OS user to run a private cluster as", "no such user")
    # Not under pytest's tmp_path: it is private to root, and the cluster runs as postgres.
    base_dir = Path(tempfile.mkdtemp(prefix="panel-private-pg-"))
    server = PrivatePostgres(bin_dir, base_dir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                server.stop("immediate")
        shutil.rmtree(base_dir, ignore_errors=True)


class PrivateRedis:
    """One ``redis-server`` without persistence on a loopback port of its own."""

    host = "127.0.0.1"

    def __init__(self, binary: str, base_dir: Path) -> None:
        self.binary = binary
        self.base_dir = base_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def start(self) -> None:
        self.starts += 1
        log = (self.base_dir / f"redis.{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.base_dir),
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        _wait_for_port(self.host, self.port, True, START_TIMEOUT, "the private Redis")

    def kill(self) -> None:
        """SIGKILL: no shutdown, every connection cut, every key gone (no persistence)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None
        _wait_for_port(self.host, self.port, False, START_TIMEOUT, "the private Redis")

    def restart(self, down_seconds: float = 0.0) -> None:
        """Kill -9, stay down ``down_seconds``, start again on the same port."""
        self.kill()
        if down_seconds:
            time.sleep(down_seconds)
        self.start()


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A started private redis-server; killed and its directory deleted afterwards."""
    binary = os.environ.get("PANEL_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server", "not on PATH")
        raise AssertionError("unreachable")
    base_dir = Path(tempfile.mkdtemp(prefix="panel-private-redis-"))
    server = PrivateRedis(binary, base_dir)
    try:
        server.start()
        yield server
    finally:
        server.kill()
        shutil.rmtree(base_dir, ignore_errors=True)
