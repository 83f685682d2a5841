"""The public pages (issue 13 items 5 and 6): a page per recruiting study that shows only the
approved version and offers no way to volunteer for it except being matched, and the trust
pages (privacy notice, about, questions and answers, contact) linked from every page and from
the sign-up consent, in English and Danish."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service import create_app
from panel_service.models import Consent, EthicsApproval, Study
from panel_service.services import studies, volunteers
from tests.conftest import make_test_settings
from tests.integration.coordinators.conftest import (
    STUDY_BODY,
    Staff,
    approval_fields,
    make_staff,
    study_fields,
    study_in,
)
from tests.support.volunteers import make_volunteer, sign_in

SITE = {"name": "Bispebjerg Hospital, sleep clinic", "lat": 55.7127, "lon": 12.5408}
TRUST_PAGES = ("/privacy", "/about", "/faq", "/contact")


@pytest.fixture()
def coordinator(db: Session) -> Staff:
    return make_staff(db, "coordinator", "Aarhus Sleep Clinic")


@pytest.fixture()
def reviewer(db: Session) -> Staff:
    return make_staff(db, "reviewer")


def recruiting(db: Session, coordinator: Staff, reviewer: Staff) -> int:
    """A recruiting study with a site, and an edit awaiting review that volunteers must not see."""
    study = studies.create_study(db, coordinator.account, study_fields(sites=[SITE]))
    studies.submit_study(db, coordinator.account, study.id)
    today = dt.date.today()
    studies.approve_study(db, reviewer.account, study.id, approval_fields(today), today=today)
    studies.recruit_study(db, coordinator.account, study.id, today=today)
    studies.update_study(
        db,
        coordinator.account,
        study.id,
        study_fields(title="Unapproved new title", invitation_text="Unapproved words.", sites=[SITE]),
    )
    db.flush()
    return study.id


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_recruiting_study_has_its_own_page_with_the_approved_version_only(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = recruiting(db, coordinator, reviewer)
    home = client.get("/").get_data(as_text=True)
    assert f'href="/studies/{sid}"' in home

    response = client.get(f"/studies/{sid}")
    assert response.status_code == 200
    page = text_of(response.get_data(as_text=True))
    assert STUDY_BODY["title"] in page and STUDY_BODY["summary"] in page
    assert STUDY_BODY["invitation_text"] in page
    assert "Unapproved" not in page
    assert SITE["name"] in page and "Capital Region of Denmark" in page
    assert "Aarhus Sleep Clinic" in page
    assert "Region Midtjylland IEC (IEC)" in page and "1-10-72-1-26" in page
    # Contact stays invitation-only: the only way in is to be matched.
    html = response.get_data(as_text=True)
    assert "interested" not in re.sub(r"<p>You cannot apply.*?</p>", "", html, flags=re.S).lower()
    assert 'method="post" action="/me' not in html and "/answer" not in html
    assert 'href="/signup"' in html and "Sign up and complete your profile to be matched" in page


def test_a_signed_in_volunteer_is_sent_to_complete_their_profile(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = recruiting(db, coordinator, reviewer)
    make_volunteer(db, settings)
    sign_in(client, "vera@example.org")
    html = client.get(f"/studies/{sid}").get_data(as_text=True)
    assert 'href="/me/profile"' in html and "Complete your profile to be matched" in html


@pytest.mark.parametrize("status", ["draft", "in_review", "rejected", "approved", "paused", "closed"])
def test_a_study_that_is_not_recruiting_has_no_page(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff, status: str
) -> None:
    sid = study_in(db, coordinator, reviewer, status)
    assert client.get(f"/studies/{sid}").status_code == 404
    assert f"/studies/{sid}" not in client.get("/").get_data(as_text=True)


def test_no_page_for_an_unknown_study_or_one_whose_approval_has_expired(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    assert client.get("/studies/999999").status_code == 404
    sid = study_in(db, coordinator, reviewer, "recruiting")
    assert client.get(f"/studies/{sid}").status_code == 200
    study = db.get(Study, sid)
    assert study is not None
    # Expired today, before the daily job has paused the study (P5).
    db.execute(
        update(EthicsApproval)
        .where(EthicsApproval.study_version_id == study.active_version_id)
        .values(approved_on=dt.date.today() - dt.timedelta(days=30), expires_on=dt.date.today())
    )
    db.flush()
    assert client.get(f"/studies/{sid}").status_code == 404
    assert f"/studies/{sid}" not in client.get("/").get_data(as_text=True)


def test_study_page_in_danish(client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff) -> None:
    sid = recruiting(db, coordinator, reviewer)
    html = client.get(f"/studies/{sid}", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert '<html lang="da">' in html
    assert "Hvad det indebærer at deltage" in html and "Region Hovedstaden" in html
    assert "Privatlivspolitik" in html


def test_privacy_notice_says_what_gdpr_asks(client: FlaskClient, db: Session) -> None:
    page = text_of(client.get("/privacy").get_data(as_text=True))
    assert "The data controller is the organisation that runs this panel" in page
    assert "privacy@panel.invalid" in page
    assert "Article 6(1)(a) and Article 9(2)(a)" in page and "explicit consent" in page
    for words in ("match your health profile", "How long we keep it", "Datatilsynet"):
        assert words in page
    for right in ("Access and portability", "Rectification", "Erasure", "Restriction", "Withdraw consent"):
        assert right in page


def test_trust_pages_name_the_configured_operator(database_url: str, tmp_path: Path) -> None:
    # Its own app (settings are read once); no outer transaction, so SQLite is not locked by one.
    settings = make_test_settings(
        database_url,
        tmp_path,
        controller_name="Region Hovedstaden Research Panel",
        controller_address="Kongens Vænge 2, 3400 Hillerød",
        contact_email="dpo@panel.example.dk",
    )
    app = create_app(settings, start_background_jobs=False)
    try:
        with app.test_client() as client:
            for path in ("/privacy", "/contact"):
                page = client.get(path).get_data(as_text=True)
                assert "Region Hovedstaden Research Panel" in page and "3400 Hillerød" in page
                assert 'href="mailto:dpo@panel.example.dk"' in page
            assert "Region Hovedstaden Research Panel" in client.get("/about").get_data(as_text=True)
    finally:
        app.extensions["panel_runtime"].close()


@pytest.mark.parametrize("path", TRUST_PAGES)
def test_trust_pages_in_english_and_danish(client: FlaskClient, db: Session, path: str) -> None:
    english = client.get(path)
    danish = client.get(path, headers={"Accept-Language": "da"})
    assert english.status_code == danish.status_code == 200
    assert '<html lang="da">' in danish.get_data(as_text=True)
    assert text_of(english.get_data(as_text=True)) != text_of(danish.get_data(as_text=True))
    h1 = re.search(r"<h1>(.*?)</h1>", danish.get_data(as_text=True))
    assert h1 is not None and h1.group(1) in {"Privatlivspolitik", "Om Panel", "Spørgsmål og svar", "Kontakt"}


def test_faq_states_the_contact_cap_from_the_settings(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    page = text_of(client.get("/faq").get_data(as_text=True))
    assert f"At most {settings.contact_cap} invitations in {settings.contact_cap_days} days" in page


def test_every_page_links_to_the_trust_pages(
    app: Flask, client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = recruiting(db, coordinator, reviewer)
    paths = {f"/studies/{sid}"}
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and not rule.arguments:
            paths.add(rule.rule)
    checked = []
    for path in sorted(paths):
        response = client.get(path)
        if response.status_code == 200 and response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            for link in TRUST_PAGES:
                assert f'href="{link}"' in html, f"{path} does not link to {link}"
            checked.append(path)
    assert {"/", "/signup", "/login", *TRUST_PAGES} <= set(checked)


def test_signup_consent_says_health_data_is_stored_for_matching_and_links_the_notice(
    client: FlaskClient, db: Session
) -> None:
    html = client.get("/signup").get_data(as_text=True)
    consent = re.search(r'<fieldset class="consent">(.*?)</fieldset>', html, re.S)
    assert consent is not None
    assert "stores the health information you give in your profile in order to match you" in consent.group(1)
    assert 'href="/privacy"' in consent.group(1)
    danish = client.get("/signup", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert "helbredsoplysninger" in danish


# The words each consent text version stands for. A change of the wording without a new
# CONSENT_TEXT_VERSION would record new consents under the old version's name.
CONSENT_TEXT_SHA256 = {
    "2026-12": "167ba2d2f477ea842db43458995a447dcab445e840f374b13ada35c16b7a1150",
}


def test_the_consent_version_names_the_consent_wording() -> None:
    partial = Path(__file__).resolve().parents[3] / "panel_service/templates/volunteers/_consent_text.html"
    wording = re.search(r"_\('(.*?)'\)", partial.read_text(encoding="utf-8"), re.S)
    assert wording is not None
    digest = hashlib.sha256(wording.group(1).encode()).hexdigest()
    assert CONSENT_TEXT_SHA256.get(volunteers.CONSENT_TEXT_VERSION) == digest, (
        "the consent wording changed: bump CONSENT_TEXT_VERSION and record the new hash here"
    )


def test_a_new_consent_records_the_current_text_version(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    _account, participant = make_volunteer(db, settings)
    consent = db.scalar(select(Consent).where(Consent.participant_id == participant.id))
    assert consent is not None and consent.text_version == "2026-12"
