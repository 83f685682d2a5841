"""Steps 2 and 3 of a send: SMTP outside any transaction, then the outcome recorded.

The outcome is known once SMTP has answered, so it is kept in memory and the record is retried
with backoff, on a fresh connection each time, while the database is unreachable (a restart, a
failover) for up to ``claim_lease_seconds``. While the send runs, the sending job's heartbeat
renews the claim's lease (``claim_renewer``).
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import time
from typing import TYPE_CHECKING, Any

from markupsafe import escape
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from config.logging import get_logger
from panel_service import emails, faults, heartbeat
from panel_service.domain import leases
from panel_service.domain.gazetteer import site_text
from panel_service.domain.regions import region_name
from panel_service.mail import MailBatch, MailError, MailInDoubt, OutgoingMail
from panel_service.metrics import (
    EMAILS_SENT,
    INVITATIONS_AMBIGUOUS,
    INVITATIONS_DEFERRED,
    INVITATIONS_FAILED,
    INVITATIONS_SENT,
)
from panel_service.models import Invitation
from panel_service.queries import contact as sql
from panel_service.services.contact.claim import Claimed, Outcome
from panel_service.timeutil import utcnow

if TYPE_CHECKING:
    from panel_service.jobs import JobContext

log = get_logger(__name__)

MAX_BACKOFF_SECONDS = 3600.0
# Recording a known outcome while the database is unreachable: 0.1 s, 0.2 s, ... at most 2 s
# between tries, for at most the claim lease.
RECORD_RETRY_FIRST_SECONDS = 0.1
RECORD_RETRY_MAX_SECONDS = 2.0


def backoff_seconds(base: float, attempts: int) -> float:
    """30 s, 60 s, 120 s ... after the 1st, 2nd, 3rd failed attempt, at most an hour."""
    return float(min(MAX_BACKOFF_SECONDS, base * 2 ** max(attempts - 1, 0)))


# Placeholders rendered into a study's invitation once per language (``_invitation``) and replaced
# per volunteer: random per process, letters and digits only, so no escaping or translation
# touches them.
_MARK = secrets.token_hex(6)
_NAME, _INTERESTED, _NOT_INTERESTED, _UNSUBSCRIBE = (
    f"panel{_MARK}{part}" for part in ("name", "yes", "no", "unsub")
)


@functools.lru_cache(maxsize=256)
def _invitation(
    language: str,
    named: bool,
    study_title: str,
    organisation_name: str,
    site_region: str,
    sites: tuple[str, ...],
    invitation_text: str,
    why_link: str,
) -> emails.RenderedEmail:
    """The invitation of one study in one language with placeholders for the volunteer's name and
    links: the template runs once per study, language and named-or-not, not once per email."""
    return emails.render(
        "invitation",
        language,
        name=_NAME if named else None,
        study_title=study_title,
        organisation_name=organisation_name,
        # The region by name in the volunteer's language, never a bare code ("DK-84").
        site_region=region_name(site_region, language) or site_region,
        sites=sites,
        invitation_text=invitation_text,
        interested=_INTERESTED,
        not_interested=_NOT_INTERESTED,
        unsubscribe=_UNSUBSCRIBE,
        why_link=why_link,
    )


def _fill(template: str, values: dict[str, str]) -> str:
    for mark, value in values.items():
        template = template.replace(mark, value)
    return template


def build_message(runtime: JobContext, claim: Claimed) -> OutgoingMail:
    """The invitation in the volunteer's language (``templates/email/invitation/``): Panel's own
    words translated, the study's words (title, organisation, sites, invitation text) as approved.
    The template is rendered once per study and language (``_invitation``); the volunteer's name
    (escaped in the HTML part) and links are put in per email. Equal to rendering it whole (a
    unit test compares both)."""
    base = runtime.settings.base_url
    unsubscribe = f"{base}/unsubscribe/{claim.unsubscribe_token}"
    values = {
        _NAME: claim.name or "",
        _INTERESTED: f"{base}/invitations/answer/{claim.answer_token}?answer=interested",
        _NOT_INTERESTED: f"{base}/invitations/answer/{claim.answer_token}?answer=not_interested",
        _UNSUBSCRIBE: unsubscribe,
    }
    template = _invitation(
        emails.language_or_default(claim.language),
        bool(claim.name),
        claim.study_title,
        claim.organisation_name,
        claim.site_region,
        # Each site by name and the town it is in, in the volunteer's language (issue 13 item 4).
        tuple(site_text(site, claim.language) for site in claim.site_places) or claim.sites,
        claim.invitation_text,
        # Why they were invited: general words in the email, the reasons behind sign-in (an email
        # may be read by others; docs/volunteers.md).
        f"{base}/me/invitations/{claim.study_id}",
    )
    email = emails.RenderedEmail(
        subject=_fill(template.subject, values),
        text=_fill(template.text, values),
        html=_fill(template.html, {mark: str(escape(value)) for mark, value in values.items()}),
    )
    return runtime.mailer.build(
        to=claim.email,
        to_name=claim.name,
        subject=email.subject,
        text=email.text,
        html=email.html,
        message_id=claim.message_id,
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            # RFC 8058: a mail client may unsubscribe with one POST of this body to the link.
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def send_claimed(runtime: JobContext, claim: Claimed, mail: MailBatch | None = None) -> Outcome:
    """Step 2 and 3: hand a claimed invitation to SMTP, outside any transaction, then record the
    outcome in a transaction of its own: ``sent``, ``retry``, ``failed`` or ``ambiguous``."""
    message = build_message(runtime, claim)
    try:
        if mail is not None:
            mail.send(message)
        else:
            runtime.mailer.send(message)
    except MailInDoubt as exc:
        # The server may have accepted it: never retry automatically (P2); an operator decides.
        _record_in_doubt(runtime, claim, str(exc))
        return Outcome.AMBIGUOUS
    except MailError as exc:
        return _record_failure(runtime, claim, str(exc))
    faults.point(runtime.settings, "after_smtp", study_id=claim.study_id, participant_id=claim.participant_id)
    _record(runtime, claim, sql.RECORD_SENT, {"at": utcnow()})
    faults.point(
        runtime.settings, "after_record", study_id=claim.study_id, participant_id=claim.participant_id
    )
    INVITATIONS_SENT.inc()
    EMAILS_SENT.labels("invitation").inc()
    return Outcome.SENT


def _key(claim: Claimed) -> dict[str, Any]:
    return {"key_study": claim.study_id, "key_participant": claim.participant_id}


def _record(runtime: JobContext, claim: Claimed, statement: Any, values: dict[str, Any]) -> None:
    """Record an outcome SMTP has told us in one statement committed on its own (autocommit on
    PostgreSQL: one round trip), surviving a database restart: on a lost connection try again (a
    fresh connection is checked out; the pool pings it first) with backoff, for
    up to ``claim_lease_seconds``. The statements only touch this claim's unrecorded row, so a try
    whose commit did land before the connection dropped makes the next one a no-op."""
    params = _key(claim) | {"key_attempts": claim.attempts} | values
    deadline = time.monotonic() + runtime.settings.claim_lease_seconds
    delay = RECORD_RETRY_FIRST_SECONDS
    tries = 0
    while True:
        tries += 1
        try:
            runtime.database.execute_alone(statement, params)
        except DBAPIError as exc:
            transient = isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated
            if not transient or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "invitation.record_retry",
                study_id=claim.study_id,
                participant_id=claim.participant_id,
                tries=tries,
                delay=delay,
                error=str(exc.orig or exc)[:200],
            )
            time.sleep(delay)
            delay = min(delay * 2, RECORD_RETRY_MAX_SECONDS)
            continue
        if tries > 1:
            log.info(
                "invitation.recorded_after_retry",
                study_id=claim.study_id,
                participant_id=claim.participant_id,
                tries=tries,
            )
        return


def _record_in_doubt(runtime: JobContext, claim: Claimed, error: str) -> None:
    _record(runtime, claim, sql.RECORD_AMBIGUOUS, {"error": error[:2000]})
    INVITATIONS_AMBIGUOUS.inc()
    log.warning("invitation.ambiguous", study_id=claim.study_id, participant_id=claim.participant_id)


def _record_failure(runtime: JobContext, claim: Claimed, error: str) -> Outcome:
    settings = runtime.settings
    if claim.attempts >= settings.send_max_attempts:
        _record(runtime, claim, sql.RECORD_FAILED, {"error": error[:2000]})
        INVITATIONS_FAILED.labels("smtp_refused").inc()
        log.warning("invitation.failed", study_id=claim.study_id, participant_id=claim.participant_id)
        return Outcome.FAILED
    delay = backoff_seconds(settings.send_retry_base_seconds, claim.attempts)
    retry_at = utcnow() + dt.timedelta(seconds=delay)
    _record(runtime, claim, sql.RECORD_RETRY, {"retry_at": retry_at, "error": error[:2000]})
    INVITATIONS_DEFERRED.labels("smtp").inc()
    log.info("invitation.retry", study_id=claim.study_id, participant_id=claim.participant_id, delay=delay)
    return Outcome.RETRY


# -- the claim lease (renewed by the sending job's heartbeat) ----------------------------------------


def claim_renewer(runtime: JobContext, claim: Claimed) -> heartbeat.Renewer:
    """Extend the claim's lease while the send runs; only while it is this claim (still 'claimed',
    same attempt): a claim the detector already marked ambiguous is never revived."""
    seconds = runtime.settings.claim_lease_seconds

    def renew(session: Session) -> bool:
        result = session.execute(
            update(Invitation)
            .where(
                Invitation.study_id == claim.study_id,
                Invitation.participant_id == claim.participant_id,
                Invitation.status == "claimed",
                Invitation.attempts == claim.attempts,
            )
            .values(lease_until=leases.lease_end(utcnow(), seconds))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    return renew
