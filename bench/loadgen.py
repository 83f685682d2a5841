"""A small closed-loop HTTP load generator for loopback benchmarks (standard library only).

Each of ``clients`` threads sends one GET, reads the whole answer, records its latency and
sends the next, until ``duration`` seconds have passed: a closed loop, so the offered load
adapts to the server and nothing queues without bound. gunicorn's sync workers close the
connection after every answer, so every request opens a new TCP connection (as wrk would see
against the same server); the request carries ``Connection: close`` and the answer is read to
the end of the stream. An answer whose status is not the expected one counts as an error, not
as a request served.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    path: str
    clients: int
    seconds: float
    ok: int
    errors: int
    latencies_ms: list[float] = field(repr=False)
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(0.99)

    def line(self) -> str:
        return (
            f"{self.path}: {self.rps:,.0f} req/s, p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms "
            f"({self.ok} ok, {self.errors} errors, {self.clients} clients, {self.seconds:.1f} s)"
        )


def _request(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close", "User-Agent: panel-bench"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def fetch_status(host: str, port: int, request: bytes, timeout: float = 10.0) -> int:
    """Send one request and read the answer to its end; return the status code."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head = b"".join(chunks[:1])[:16]
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0


def run_load(
    host: str,
    port: int,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    clients: int = 8,
    duration: float = 10.0,
    expect: int = 200,
) -> LoadResult:
    request = _request(host, port, path, headers or {})
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[dict[int, int]] = [{} for _ in range(clients)]
    start = threading.Event()
    deadline = [0.0]

    def client(index: int) -> None:
        mine, counts = latencies[index], statuses[index]
        start.wait()
        while True:
            began = time.perf_counter()
            if began >= deadline[0]:
                return
            try:
                status = fetch_status(host, port, request)
            except OSError:
                status = 0
            if status == expect:
                mine.append((time.perf_counter() - began) * 1000)
            counts[status] = counts.get(status, 0) + 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + duration
    start.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    merged: dict[int, int] = {}
    for counts in statuses:
        for status, number in counts.items():
            merged[status] = merged.get(status, 0) + number
    ok = merged.get(expect, 0)
    return LoadResult(
        path=path,
        clients=clients,
        seconds=elapsed,
        ok=ok,
        errors=sum(merged.values()) - ok,
        latencies_ms=[value for values in latencies for value in values],
        statuses=merged,
    )
