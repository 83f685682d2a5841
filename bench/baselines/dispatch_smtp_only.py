"""The limit for the dispatch row: the SMTP path alone, no database.

``send(host, port, count, processes)`` sends ``count`` personalised invitations (a plain-text and
an HTML part of the invitation's size, the recipient's name and two links of token length in
each, built per message with an f-string) to ``bench/smtp_sink.py`` over one reused ``smtplib``
connection per process, ``processes`` processes sharing the count, and returns emails/s from
the first message to the last answer. No claim, no re-check, no record: what a hand-built
sender that trusts its input would do per email.
"""

from __future__ import annotations

import multiprocessing
import secrets
import smtplib
import time
from email.utils import formatdate
from typing import Any

TEXT = (
    "Dear {name},\r\n\r\nYour health profile is consistent with a research study that is recruiting "
    "now: Magnesium for restless legs, run by Example University Hospital (site region DK-84).\r\n"
    "The study is approved by an ethics committee. The researchers wrote:\r\n\r\n"
    "We are testing whether magnesium at night eases restless legs. Four visits over 12 weeks.\r\n\r\n"
    "I am interested: {base}/invitations/answer/{token}?answer=interested\r\n"
    "No, thank you: {base}/invitations/answer/{token}?answer=not_interested\r\n\r\n"
    "Stop all invitations (unsubscribe): {base}/unsubscribe/{unsubscribe}\r\n"
)
HTML = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Invitation</title></head><body>'
    "<p>Dear {name},</p><p>Your health profile is consistent with a research study that is recruiting "
    "now: <strong>Magnesium for restless legs</strong>, run by Example University Hospital.</p>"
    '<blockquote style="white-space: pre-wrap">We are testing whether magnesium at night eases restless '
    "legs. Four visits over 12 weeks.</blockquote>"
    '<p><a href="{base}/invitations/answer/{token}?answer=interested">I am interested</a> \xb7 '
    '<a href="{base}/invitations/answer/{token}?answer=not_interested">No, thank you</a></p>'
    '<p><small><a href="{base}/unsubscribe/{unsubscribe}">Stop all invitations</a></small></p>'
    "</body></html>\r\n"
)
BASE = "https://panel.example.org"


def message(number: int) -> tuple[str, bytes]:
    to = f"vol{number}@example.org"
    fields = {
        "name": f"Volunteer {number}",
        "base": BASE,
        "token": secrets.token_urlsafe(32),
        "unsubscribe": secrets.token_urlsafe(32),
    }
    data = (
        f"From: Panel <panel@example.org>\r\nTo: Volunteer {number} <{to}>\r\n"
        f"Subject: Invitation to a research study: Magnesium for restless legs\r\n"
        f"Date: {formatdate(usegmt=True)}\r\nMessage-ID: <inv-1-{number}@panel.example.org>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        '--b\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        + TEXT.format(**fields)
        + '--b\r\nContent-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        + HTML.format(**fields)
        + "--b--\r\n"
    )
    return to, data.encode()


def _worker(host: str, port: int, numbers: range, times: Any) -> None:
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        started = time.time()
        for number in numbers:
            to, data = message(number)
            smtp.sendmail("panel@example.org", [to], data)
        times.put((started, time.time()))


def send(host: str, port: int, count: int, processes: int) -> float:
    """Emails per second for ``count`` messages over ``processes`` processes, from the first
    process's first message to the last one's last answer (process start-up left out)."""
    share = count // processes
    ranges = [range(i * share, (i + 1) * share) for i in range(processes)]
    # spawn, not fork: the harness has threads (database and broker clients) whose locks a fork
    # would copy held
    context = multiprocessing.get_context("spawn")
    times = context.Queue()
    workers = [context.Process(target=_worker, args=(host, port, numbers, times)) for numbers in ranges]
    for worker in workers:
        worker.start()
    spans = [times.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"baseline sender exited with {worker.exitcode}")
    return share * processes / (max(end for _, end in spans) - min(start for start, _ in spans))
