"""Sending email: SMTP when ``SMTP_HOST`` is set, otherwise the message is written to the log
(the embedded default, so `make run` shows verification and invitation links)."""

from __future__ import annotations

import binascii
import functools
import re
import secrets
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import cast

from config.logging import get_logger
from config.settings import Settings
from panel_service.domain.redaction import redact_addresses

log = get_logger(__name__)


class MailError(Exception):
    """The SMTP server refused the message or could not be reached."""


class MailInDoubt(MailError):
    """The whole message was handed to the server but its answer never came (timeout, dropped
    connection): it may have been accepted. Retrying could send it twice."""


@dataclass(frozen=True)
class OutgoingMail:
    """A message ready for SMTP: its envelope and its bytes (CRLF line ends), built once."""

    sender: str
    recipient: str
    message_id: str
    subject: str
    text: str
    data: bytes

    def parsed(self) -> EmailMessage:
        """The message as a mail client reads it (for tests and tools)."""
        return cast(
            EmailMessage, message_from_bytes(self.data.replace(b"\r\n", b"\n"), policy=policy.default)
        )


_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in a raw mail log, unlike base64
# Headers are folded where they are set (``_header``), not by the generator: compat32 would fold a
# long List-Unsubscribe URL onto its own line, leaving "List-Unsubscribe: " bare.
_WIRE = policy.compat32.clone(linesep="\r\n", max_line_length=None)


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def build(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        message_id: str | None = None,
        headers: dict[str, str] | None = None,
        to_name: str | None = None,
    ) -> OutgoingMail:
        """Plain text, plus HTML as an alternative when given, each part UTF-8 and
        quoted-printable. Written out directly (the MIME layout the compat32 classes produce):
        their generator re-folded every header and encoded the bodies in pure Python, 2 ms per
        invitation against about 0.1 ms here, and the dispatcher builds one per email. Headers
        that need it are RFC 2047-encoded and folded by ``email.header`` (cached: a study's
        subject repeats)."""
        message_id = message_id or make_msgid(domain="panel.invalid")
        lines = [
            f"From: {_from_header(self.settings.mail_from)}",
            f"To: {formataddr((to_name or '', to), charset='utf-8')}",
            f"Subject: {_header('Subject', subject, fold=True)}",
            f"Date: {formatdate(usegmt=True)}",
            f"Message-ID: {message_id}",
        ]
        lines += [f"{name}: {_header(name, value)}" for name, value in (headers or {}).items()]
        if html is None:
            top = [*_part_headers("plain"), *lines]
            data = _crlf(top) + b"\r\n\r\n" + _qp(text)
        else:
            boundary = "===============" + secrets.token_hex(12) + "=="
            top = [f'Content-Type: multipart/alternative; boundary="{boundary}"', "MIME-Version: 1.0", *lines]
            separator = f"\r\n--{boundary}\r\n".encode()
            data = b"".join(
                (
                    _crlf(top),
                    b"\r\n",
                    separator,
                    _crlf(_part_headers("plain")),
                    b"\r\n\r\n",
                    _qp(text),
                    separator,
                    _crlf(_part_headers("html")),
                    b"\r\n\r\n",
                    _qp(html),
                    f"\r\n--{boundary}--\r\n".encode(),
                )
            )
        return OutgoingMail(
            sender=_envelope_sender(self.settings.mail_from),
            recipient=to,
            message_id=message_id,
            subject=subject,
            text=text,
            data=data,
        )

    def send(self, message: OutgoingMail) -> None:
        if not self.settings.smtp_host:
            log.info(
                "email.logged",
                to=message.recipient,
                subject=message.subject,
                message_id=message.message_id,
                body=message.text,
            )
            return
        try:
            with self._connect() as smtp:
                _send_tracking_doubt(smtp, message)
        except MailInDoubt:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(describe_smtp_error(exc)) from exc
        log.info("email.sent", to_domain=message.recipient.rpartition("@")[2], message_id=message.message_id)

    @contextmanager
    def batch(self) -> Iterator[MailBatch]:
        """Several messages over one SMTP connection (the dispatcher sends hundreds in a row)."""
        batch = MailBatch(self)
        try:
            yield batch
        finally:
            batch.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        host = s.smtp_host or "localhost"
        if s.smtp_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password or "")
        return smtp


class MailBatch:
    """One reused SMTP connection. A server may drop a connection it finds idle; when a reused
    connection turns out closed before the message body went out, the message is sent once more
    on a new connection (the server cannot have accepted it). So no NOOP is spent before each
    message to check the connection. A message whose body went out is never retried here: the
    caller decides (P2)."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self.smtp: smtplib.SMTP | None = None

    def send(self, message: OutgoingMail) -> None:
        if not self.mailer.settings.smtp_host:
            self.mailer.send(message)
            return
        try:
            reused = self.smtp is not None
            try:
                _send_tracking_doubt(self._connection(), message)
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                if not reused:
                    raise
                self.close()  # a stale connection: nothing of this message reached the server
                _send_tracking_doubt(self._connection(), message)
        except MailInDoubt:
            self.close()
            raise
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise MailError(describe_smtp_error(exc)) from exc
        log.info("email.sent", to_domain=message.recipient.rpartition("@")[2], message_id=message.message_id)

    def _connection(self) -> smtplib.SMTP:
        if self.smtp is None:
            self.smtp = self.mailer._connect()
        return self.smtp

    def close(self) -> None:
        if self.smtp is not None:
            with suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
            with suppress(OSError):
                self.smtp.close()
            self.smtp = None


def _send_tracking_doubt(smtp: smtplib.SMTP, message: OutgoingMail) -> None:
    """``sendmail`` step by step, so that a failure after the message body went out (no answer
    to the final dot) is told apart from a refusal: the first is ``MailInDoubt``."""
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(message.sender)
    if code == 421:  # the server is closing this connection (idle too long, shutting down)
        smtp.close()
        raise smtplib.SMTPServerDisconnected(f"421 {reply.decode(errors='replace')}")
    if code != 250:
        smtp.rset()
        raise smtplib.SMTPSenderRefused(code, reply, message.sender)
    code, reply = smtp.rcpt(message.recipient)
    if code not in (250, 251):
        smtp.rset()
        raise smtplib.SMTPRecipientsRefused({message.recipient: (code, reply)})
    code, reply = smtp.docmd("data")
    if code != 354:
        smtp.rset()
        raise smtplib.SMTPDataError(code, reply)
    body = _DOT_AT_LINE_START.sub(b"..", message.data)  # dot-stuffing, as smtplib.SMTP.data does
    if body[-2:] != b"\r\n":
        body += b"\r\n"
    try:
        smtp.send(body + b".\r\n")
        code, reply = smtp.getreply()
    except (smtplib.SMTPException, OSError) as exc:
        raise MailInDoubt(f"no answer after the message was sent: {describe_smtp_error(exc)}") from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


def describe_smtp_error(exc: BaseException) -> str:
    """What went wrong, for ``last_error`` and logs: the exception's kind, the SMTP code and the
    server's reason with every email address replaced by ``[address]``. smtplib's own texts
    quote the recipient (``SMTPRecipientsRefused({'vera@…': (550, …)})``), and an error text
    must not become a copy of a volunteer's address that erasure would have to find (P6)."""
    kind = type(exc).__name__
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = [
            f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
            for code, reply in exc.recipients.values()
        ]
        return redact_addresses(f"{kind}: {'; '.join(answers)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        return redact_addresses(f"{kind}: {exc.smtp_code} {reply}")
    return redact_addresses(f"{kind}: {exc}")


def _part_headers(subtype: str) -> list[str]:
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        "MIME-Version: 1.0",
        "Content-Transfer-Encoding: quoted-printable",
    ]


def _crlf(header_lines: list[str]) -> bytes:
    """Header lines (a folded one holds "\\n ") as bytes with CRLF line ends."""
    return "\n".join(header_lines).replace("\n", "\r\n").encode()


def _qp(text: str) -> bytes:
    """The body as quoted-printable UTF-8 with CRLF line ends (``binascii``, in C)."""
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    return encoded.replace(b"\n", b"\r\n")


@functools.lru_cache(maxsize=16)
def _envelope_sender(mail_from: str) -> str:
    return parseaddr(mail_from)[1]


@functools.lru_cache(maxsize=16)
def _from_header(mail_from: str) -> str:
    return formataddr(parseaddr(mail_from), charset="utf-8")


@functools.lru_cache(maxsize=1024)
def _header(name: str, value: str, *, fold: bool = False) -> str:
    """RFC 2047-encoded unless ASCII; folded at 78 columns if it is text (``fold``) or encoded.
    A header value never holds a line break of its own: one would start a new header."""
    value = " ".join(value.splitlines())
    if value.isascii() and not fold:
        return value
    return Header(value, None if value.isascii() else _UTF8, header_name=name).encode()
