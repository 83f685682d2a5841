"""Pure pieces of the contact pipeline: backoff, Message-ID, approval window, the email itself."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

from panel_service.domain.lifecycle import approval_covers
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
