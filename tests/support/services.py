"""Real backing services for tests: PostgreSQL, Redis, an aiosmtpd server.

With CI=true a missing service is an error; on a laptop it skips with the reason.
"""

from __future__ import annotations

import html
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

PG_HOST = os.environ.get("PANEL_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PANEL_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("PANEL_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("PANEL_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(what: str, why: object) -> None:
    message = f"{what} is not available: {why}"
    if in_ci():
        pytest.fail(message + " (CI=true: a missing service is an error, not a skip)", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def admin_pg_url(database: str = "postgres") -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


@contextmanager
def fresh_pg_database(prefix: str = "panel_test") -> Iterator[str]:
    import psycopg

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_pg_url(name)
    finally:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def empty_engine(backend: str, directory: Path, name: str = "panel_test") -> Iterator[Engine]:
    """The one way tests get a database of their own: an engine on an empty one, a SQLite file
    in ``directory`` or a fresh PostgreSQL database (dropped afterwards). The caller applies
    the migrations (``migrate.upgrade``), a revision of them, or ``create_all``."""
    from panel_service.db import make_engine

    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{directory / name}.sqlite3")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with fresh_pg_database(name) as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def redis_url_for_tests() -> str:
    """A Redis database of its own (PANEL_TEST_REDIS_DB, default 15), flushed."""
    import redis

    url = f"{REDIS_URL}/{os.environ.get('PANEL_TEST_REDIS_DB', '15')}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    return url


@dataclass
class SmtpRecorder:
    """Messages received by a real aiosmtpd server; can refuse mail to simulate an outage."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)
    refuse: bool = False
    # Recipients refused at RCPT with a permanent error that quotes the address, as real
    # servers do ("550 5.1.1 <x@y>: Recipient address rejected").
    refuse_recipients: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.received = threading.Condition(self.lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refuse_recipients:
            return f"550 5.1.1 <{address}>: Recipient address rejected: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 4.3.0 try again later"
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.received:
            self.envelopes.append(envelope)
            self.messages.append(message)  # type: ignore[arg-type]
            self.received.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)

    def wait_for_to(self, address: str, count: int = 1, timeout: float = 30.0) -> list[EmailMessage]:
        """The messages to ``address`` once there are ``count`` of them (others may arrive too:
        a review decision emails the study's coordinators)."""

        def to_address() -> list[EmailMessage]:
            return [message for message in self.messages if address in str(message["To"])]

        with self.received:
            self.received.wait_for(lambda: len(to_address()) >= count, timeout=timeout)
            return to_address()

    def to_addresses(self) -> list[str]:
        with self.lock:
            return [rcpt for envelope in self.envelopes for rcpt in envelope.rcpt_tos]


@dataclass(frozen=True)
class EmailParts:
    """A received email's two alternatives, and the links each carries (in order)."""

    text: str
    html: str

    @property
    def text_links(self) -> list[str]:
        return re.findall(r"https?://\S+", self.text)

    @property
    def html_links(self) -> list[str]:
        return [html.unescape(href) for href in re.findall(r'href="([^"]*)"', self.html)]


def email_parts(message: EmailMessage) -> EmailParts:
    """The text and HTML parts of a received message; fails the test when either is missing."""
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None, "the email needs a text and an HTML part"
    assert plain.get_content_type() == "text/plain" and rich.get_content_type() == "text/html"
    return EmailParts(
        text=plain.get_content().replace("\r\n", "\n"),  # type: ignore[attr-defined]
        html=rich.get_content().replace("\r\n", "\n"),  # type: ignore[attr-defined]
    )


@contextmanager
def smtp_server(idle_timeout: float = 300) -> Iterator[SmtpRecorder]:
    """``idle_timeout``: seconds after which the server closes a connection that sent nothing."""
    from aiosmtpd.controller import Controller

    recorder = SmtpRecorder(port=free_port())
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port, timeout=idle_timeout)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()
