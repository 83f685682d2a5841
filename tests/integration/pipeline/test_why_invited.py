"""Why you were invited, in the invitation email (issue 13 item 3): in the volunteer's language and
in general words that reveal no health data (an email may be read by others), with a link to the
signed-in invitation page where the reasons are given. Sent through the real pipeline to a real
SMTP server; the study's own words are neutral here so that anything health-related in the email
could only have come from Panel's words."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import unquote

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain.questions import Answer
from panel_service.runtime import Runtime
from panel_service.services import profiles
from panel_service.services.questions import load_catalogue, replace_answers
from tests.factories import make_recruiting_study
from tests.support.services import SmtpRecorder
from tests.support.volunteers import make_volunteer, sign_in

TODAY = dt.date.today()
CRITERIA = (
    "age >= 18 and has condition G25.8 and takes A12CC "
    "and answer smoking_status = never and answer rls_nights_week >= 3"
)
# Everything these volunteers told us that the criteria look at, in both languages: none of it
# may be in the email.
HEALTH_WORDS = (
    "G25",
    "G2581",
    "restless",
    "uro i benene",
    "A12CC",
    "magnesium",
    "smok",
    "ryge",
    "røg",
    "never",
    "aldrig",
    "nights",
    "nætter",
    "condition",
    "sygdom",
    "medicine",
    "medicin",
    "years old",
    "år gammel",
)


def _volunteer(db: Session, settings: Settings, email: str, language: str) -> int:
    _account, participant = make_volunteer(db, settings, email, name="Vera Volunteer")
    participant.language = language
    profiles.save_about(
        db,
        settings,
        participant,
        birth_date=dt.date(1980, 4, 23),
        sex="female",
        region="DK-84",
        height_cm=170.0,
        weight_kg=65.0,
        smoker=False,
        pregnant=False,
    )
    profiles.save_codes(db, participant, system="icd10", codes=["G2581"])
    profiles.save_codes(db, participant, system="atc", codes=["A12CC05"])
    replace_answers(
        db,
        participant.id,
        {"smoking_status": Answer("never", TODAY), "rls_nights_week": Answer(5, TODAY)},
        load_catalogue(db),
    )
    db.flush()
    return participant.id


def _bodies(message: object) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[attr-defined]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[attr-defined]
    return text, html


def test_the_invitation_says_why_in_general_words_and_links_to_the_reasons(
    client: FlaskClient, db: Session, settings: Settings, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    _volunteer(db, settings, "vera@example.org", "en")
    _volunteer(db, settings, "vera.dk@example.org", "da")
    study = make_recruiting_study(
        db,
        CRITERIA,
        title="Sleep study",
        invitation_text="We are testing a new evening routine.\nIt takes 8 weeks.",
    )
    db.commit()
    runtime.relay.drain()  # type: ignore[attr-defined]
    messages = {str(message["To"]).split("<")[-1].rstrip(">"): message for message in smtp.wait_for(2)}
    assert set(messages) == {"vera@example.org", "vera.dk@example.org"}

    link = f"/me/invitations/{study.id}"
    for address, heading, general in (
        ("vera@example.org", "Why you were invited", "The answers in your Panel profile match"),
        ("vera.dk@example.org", "Hvorfor du blev inviteret", "Svarene i din Panel-profil passer"),
    ):
        text, html = _bodies(messages[address])
        for body in (text, html):
            assert heading in body and general in body, (address, body)
            assert f"{settings.base_url}{link}" in body
            found = [word for word in HEALTH_WORDS if word.lower() in body.lower()]
            assert not found, f"health data in the email to {address}: {found}"

    # The link leads to sign-in and back; signed in, the reasons are there in the volunteer's words.
    first = client.get(link)
    assert first.status_code == 302 and "/login" in first.headers["Location"]
    assert link in unquote(first.headers["Location"])
    sign_in(client, "vera@example.org")
    page = client.get(link).get_data(as_text=True)
    assert "Why you were invited" in page
    assert "restless legs" in page.lower() and re.search(r"smoke", page, re.IGNORECASE)
