"""Pure pieces of the contact pipeline: backoff, Message-ID, approval window, the email itself."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from panel_service import emails
from panel_service.domain.gazetteer import site_text
from panel_service.domain.lifecycle import approval_covers
from panel_service.domain.regions import region_name
from panel_service.mail import Mailer
from panel_service.services.contact import Claimed, backoff_seconds, build_message, message_id_for
from tests.conftest import make_test_settings


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(30, attempt) for attempt in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_seconds(30, 20) == 3600


def test_message_id_is_derived_from_the_invitation() -> None:
    assert message_id_for("https://panel.example.org", 12, 3456) == "<inv-12-3456@panel.example.org>"


def test_approval_is_in_force_from_decision_to_the_day_before_expiry() -> None:
    approved, expires = dt.date(2026, 1, 10), dt.date(2026, 6, 1)
    assert not approval_covers(approved, expires, dt.date(2026, 1, 9))
    assert approval_covers(approved, expires, dt.date(2026, 1, 10))
    assert approval_covers(approved, expires, dt.date(2026, 5, 31))
    assert not approval_covers(approved, expires, dt.date(2026, 6, 1))


def test_email_carries_the_approved_text_links_and_one_click_headers(tmp_path: Path) -> None:
    settings = make_test_settings("sqlite://", tmp_path, base_url="https://panel.example.org")
    runtime = SimpleNamespace(settings=settings, mailer=Mailer(settings))
    claim = Claimed(
        study_id=1,
        participant_id=2,
        attempts=1,
        message_id="<inv-1-2@panel.example.org>",
        email="ann@example.org",
        name="Ann <script>",
        study_title="Magnesium",
        organisation_name="Aarhus Sleep Clinic",
        invitation_text="Take part.\n<b>not bold</b>",
        site_region="DK-84",
        sites=("Aarhus University Hospital",),
        answer_token="ANSWER",
        unsubscribe_token="UNSUB",
    )
    message = build_message(runtime, claim).parsed()  # type: ignore[arg-type]
    assert message["List-Unsubscribe"] == "<https://panel.example.org/unsubscribe/UNSUB>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == "<inv-1-2@panel.example.org>"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert "Take part.\n<b>not bold</b>" in plain.get_content()
    assert "https://panel.example.org/invitations/answer/ANSWER?answer=interested" in plain.get_content()
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html.get_content() and "<script>" not in html.get_content()


def _claim(**overrides: object) -> Claimed:
    values: dict[str, object] = {
        "study_id": 1,
        "participant_id": 2,
        "attempts": 1,
        "message_id": "<inv-1-2@panel.example.org>",
        "email": "ann@example.org",
        "name": "Ann <script> & Søren",
        "study_title": "Magnesium & søvn: a study whose title is long enough to fold the subject header",
        "organisation_name": "Aarhus Sleep Clinic",
        "invitation_text": "Take part.\n<b>not bold</b>\n.a line with a dot\nFrom the team = us " + "x" * 120,
        "site_region": "DK-84",
        "sites": ("Aarhus University Hospital", "Rigshospitalet"),
        "answer_token": "ANSWER-tok_1",
        "unsubscribe_token": "UNSUB-tok_2",
    }
    values.update(overrides)
    return Claimed(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", ["en", "da", "xx"])
@pytest.mark.parametrize("name", ["Ann <script> & Søren", None, "Bo"])
@pytest.mark.parametrize("sites", [("Aarhus University Hospital", "Rigshospitalet"), ()])
@pytest.mark.parametrize("places", [(), ({"name": "Bispebjerg Hospital", "lat": 55.71, "lon": 12.54},)])
def test_the_invitation_rendered_once_per_study_equals_the_whole_render(
    tmp_path: Path,
    language: str,
    name: str | None,
    sites: tuple[str, ...],
    places: tuple[dict[str, Any], ...],
) -> None:
    """``build_message`` renders a study's template once with placeholders and puts the name and
    links in per email: the parts must be exactly what rendering the template whole gives."""
    settings = make_test_settings("sqlite://", tmp_path, base_url="https://panel.example.org")
    runtime = SimpleNamespace(settings=settings, mailer=Mailer(settings))
    claim = _claim(language=language, name=name, sites=sites, site_places=places)
    base = "https://panel.example.org"
    # Sites with coordinates are named with their town in the volunteer's language.
    named_sites = tuple(site_text(site, language) for site in places) or sites
    whole = emails.render(
        "invitation",
        language,
        name=name,
        study_title=claim.study_title,
        organisation_name=claim.organisation_name,
        site_region=region_name(claim.site_region, emails.language_or_default(language)) or claim.site_region,
        sites=named_sites,
        invitation_text=claim.invitation_text,
        interested=f"{base}/invitations/answer/ANSWER-tok_1?answer=interested",
        not_interested=f"{base}/invitations/answer/ANSWER-tok_1?answer=not_interested",
        unsubscribe=f"{base}/unsubscribe/UNSUB-tok_2",
        why_link=f"{base}/me/invitations/{claim.study_id}",
    )
    for _ in range(2):  # the second from the cache
        message = build_message(runtime, claim).parsed()  # type: ignore[arg-type]
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert plain is not None and html is not None
        assert message["Subject"] == whole.subject
        assert plain.get_content() == whole.text
        assert html.get_content() == whole.html


def test_the_message_is_mime_a_mail_client_reads_back(tmp_path: Path) -> None:
    """The hand-written MIME (``Mailer.build``): every header and both parts read back as given,
    through the standard library's parser, with CRLF line ends and no line over 998 octets."""
    settings = make_test_settings("sqlite://", tmp_path, mail_from="Panel Søg <panel@example.org>")
    mailer = Mailer(settings)
    text = "Hej Søren,\n\n.dot first\n" + "=" * 90 + "\ntrailing space \nend"
    html = "<p>Hej Søren</p>\n" + "<b>" + "y" * 200 + "</b>\n"
    outgoing = mailer.build(
        to="soren@example.org",
        to_name="Søren Ærø",
        subject="Invitation to a research study: " + "Søvn og magnesium " * 4 + "&c.",
        text=text,
        html=html,
        message_id="<m-1@example.org>",
        headers={"List-Unsubscribe": "<https://panel.example.org/unsubscribe/" + "u" * 100 + ">"},
    )
    assert all(len(line) <= 998 for line in outgoing.data.split(b"\r\n"))
    assert b"\n" not in outgoing.data.replace(b"\r\n", b"")
    message = outgoing.parsed()
    assert str(message["From"]) == "Panel Søg <panel@example.org>"
    assert message["To"].addresses[0].display_name == "Søren Ærø"
    assert message["To"].addresses[0].addr_spec == "soren@example.org"
    assert message["Subject"] == "Invitation to a research study: " + "Søvn og magnesium " * 4 + "&c."
    assert message["Message-ID"] == "<m-1@example.org>"
    assert message["List-Unsubscribe"] == "<https://panel.example.org/unsubscribe/" + "u" * 100 + ">"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    assert plain.get_content() == text
    assert rich.get_content() == html
    alone = mailer.build(to="a@example.org", subject="Plain", text="Only text.\n").parsed()
    assert alone.get_content_type() == "text/plain" and alone.get_content() == "Only text.\n"


@pytest.mark.parametrize("which", ["new", "retry", "given"])
def test_the_pick_selects_the_candidates_fields_in_their_order(which: str) -> None:
    """The direct claim (``claim_direct``) builds ``Candidate`` from the pick's row by position."""
    from dataclasses import fields

    from panel_service.queries import contact as sql

    columns = [column.name for column in sql.claim_query("postgresql", which).selected_columns]
    assert columns == [field.name for field in fields(sql.Candidate)]


def test_a_raw_statement_carries_its_own_values_and_late_rendered_lists() -> None:
    """``RawStatement``: the SQL psycopg gets, with the statement's constants and ``IN`` lists
    written out as parameters and the caller's added."""
    from sqlalchemy.dialects import postgresql

    from panel_service.db import RawStatement
    from panel_service.queries import contact as sql

    names = ("key_study", "key_participant", "key_attempts", "at")
    raw = RawStatement(sql.RECORD_SENT, postgresql.psycopg.dialect(), names)
    assert "IN (%(status_1_1)s::VARCHAR, %(status_1_2)s::VARCHAR)" in raw.sql
    params = raw.params({"key_study": 1, "key_participant": 2, "key_attempts": 3, "at": None})
    assert params == {
        "status": "sent",
        "last_error": None,
        "status_1_1": "claimed",
        "status_1_2": "ambiguous",
        "key_study": 1,
        "key_participant": 2,
        "key_attempts": 3,
        "at": None,
    }
