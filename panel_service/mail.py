"""Sending email: SMTP when ``SMTP_HOST`` is set, otherwise the message is written to the log
(the embedded default, so `make run` shows verification and invitation links)."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from email.message import EmailMessage
from email.utils import formataddr, getaddresses, make_msgid, parseaddr

from config.logging import get_logger
from config.settings import Settings

log = get_logger(__name__)


class MailError(Exception):
    """The SMTP server refused the message or could not be reached."""


class MailInDoubt(MailError):
    """The whole message was handed to the server but its answer never came (timeout, dropped
    connection): it may have been accepted. Retrying could send it twice."""


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
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = formataddr((to_name or "", to))
        message["Subject"] = subject
        message["Message-ID"] = message_id or make_msgid(domain="panel.invalid")
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    def send(self, message: EmailMessage) -> None:
        if not self.settings.smtp_host:
            log.info(
                "email.logged",
                to=message["To"],
                subject=message["Subject"],
                message_id=message["Message-ID"],
                body=_plain_body(message),
            )
            return
        try:
            with self._connect() as smtp:
                _send_tracking_doubt(smtp, message)
        except MailInDoubt:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"{type(exc).__name__}: {exc}") from exc
        log.info("email.sent", to_domain=message["To"].split("@")[-1], message_id=message["Message-ID"])

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
    """One reused SMTP connection. A reused connection is checked with NOOP before each message
    (the server may have dropped it while idle); any error drops it, and the next message opens
    a new one. A message is never retried here: the caller decides (P2)."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self.smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> None:
        if not self.mailer.settings.smtp_host:
            self.mailer.send(message)
            return
        try:
            if self.smtp is not None:
                try:
                    alive = self.smtp.noop()[0] == 250
                except (smtplib.SMTPException, OSError):
                    alive = False
                if not alive:
                    self.close()
            if self.smtp is None:
                self.smtp = self.mailer._connect()
            _send_tracking_doubt(self.smtp, message)
        except MailInDoubt:
            self.close()
            raise
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise MailError(f"{type(exc).__name__}: {exc}") from exc
        log.info("email.sent", to_domain=message["To"].split("@")[-1], message_id=message["Message-ID"])

    def close(self) -> None:
        if self.smtp is not None:
            with suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
            with suppress(OSError):
                self.smtp.close()
            self.smtp = None


def _send_tracking_doubt(smtp: smtplib.SMTP, message: EmailMessage) -> None:
    """``send_message`` step by step, so that a failure after the message body went out (no
    answer to the final dot) is told apart from a refusal: the first is ``MailInDoubt``."""
    sender = message["From"]
    recipients = [address for _, address in getaddresses(message.get_all("To", []))]
    flattened = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(parseaddr(sender)[1])
    if code != 250:
        smtp.rset()
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for recipient in recipients:
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if len(refused) == len(recipients):
        smtp.rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = smtp.docmd("data")
    if code != 354:
        smtp.rset()
        raise smtplib.SMTPDataError(code, reply)
    body = re.sub(rb"(?m)^\.", b"..", flattened)  # dot-stuffing, as smtplib.SMTP.data does
    if body[-2:] != b"\r\n":
        body += b"\r\n"
    try:
        smtp.send(body + b".\r\n")
        code, reply = smtp.getreply()
    except (smtplib.SMTPException, OSError) as exc:
        raise MailInDoubt(f"no answer after the message was sent: {type(exc).__name__}: {exc}") from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _plain_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""
