"""Staff pages in Danish: every string of the coordinator, review and admin pages, their forms,
messages and the review-decision email has a Danish translation, and the pages read in Danish
when Danish is chosen."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config.settings import Settings
from tests.integration.coordinators.conftest import Staff, study_in
from tests.integration.coordinators.test_web_pages import csrf_from, sign_in

PACKAGE = Path(__file__).resolve().parents[3] / "panel_service"
STAFF_SOURCES = (
    "templates/coordinators/",
    "templates/review/",
    "templates/admin/",
    "templates/email/review_decision/",
    "web/coordinators/",
    "web/review/",
    "web/admin/",
    "services/review_mail.py",
)
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _staff_messages() -> set[str | tuple[str, str]]:
    method_map = [("**.py", "python"), ("**.html", "jinja2"), ("templates/email/**.txt", "jinja2")]
    found: set[str | tuple[str, str]] = set()
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(PACKAGE), method_map, keywords=KEYWORDS
    ):
        if filename.startswith(STAFF_SOURCES):
            found.add(message if isinstance(message, str) else tuple(message))  # type: ignore[arg-type]
    return found


def test_every_staff_facing_string_has_a_danish_translation() -> None:
    with (PACKAGE / "translations" / "da" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {message.id for message in catalog if message.id and message.string and not message.fuzzy}
    messages = _staff_messages()
    assert len(messages) > 150  # the extraction found the staff sources
    missing = sorted(str(message) for message in messages if message not in translated)
    assert not missing, "untranslated (see docs/i18n.md):\n" + "\n".join(missing)


def _danish(client: FlaskClient, page: str) -> None:
    client.post(
        "/language",
        data={"lang": "da", "next": page, "csrf_token": csrf_from(client.get(page).get_data(as_text=True))},
    )


def test_coordinator_pages_in_danish(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    sign_in(client, db, settings, coordinator)
    _danish(client, "/coordinators/studies")
    db.refresh(coordinator.account)
    assert coordinator.account.language == "da"  # review-decision emails follow the choice
    studies = client.get("/coordinators/studies").get_data(as_text=True)
    assert '<html lang="da">' in studies and "Dine forsøg" in studies and "Opret et forsøg" in studies
    assert "rekrutterer" in studies and "Your studies" not in studies
    study = client.get(f"/coordinators/studies/{sid}").get_data(as_text=True)
    for words in (
        "Overblik",
        "Versionshistorik",
        "Sæt rekruttering på pause",
        "Etisk godkendelse",
        "Kriterier",
    ):
        assert words in study, words
    assert "Version history" not in study and "Pause recruiting" not in study
    form = client.get(f"/coordinators/studies/{sid}/edit").get_data(as_text=True)
    assert "Kriterier for deltagelse" in form and "Gem" in form
    refused = client.post(
        f"/coordinators/studies/{sid}/edit", data={"csrf_token": csrf_from(form), "title": ""}
    ).get_data(as_text=True)
    assert "Skriv en titel." in refused and "Skriv kriterierne." in refused
    feasibility = client.get(f"/coordinators/studies/{sid}/feasibility").get_data(as_text=True)
    assert "Hver forespørgsel registreres." in feasibility
    respondents = client.get(f"/coordinators/studies/{sid}/respondents").get_data(as_text=True)
    assert "Ingen har svaret “interesseret” endnu." in respondents


def test_review_and_admin_pages_in_danish(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, admin: Staff
) -> None:
    sid = study_in(db, coordinator, admin, "in_review")
    sign_in(client, db, settings, admin)
    _danish(client, "/review/")
    queue = client.get("/review/").get_data(as_text=True)
    assert "Venter på etisk vurdering" in queue and "Sendt af Aarhus Sleep Clinic" in queue
    page = client.get(f"/review/studies/{sid}").get_data(as_text=True)
    for words in ("Registrer godkendelsen", "Vælg typen af komité", "Godkendelsesbrev", "Eller afvis den"):
        assert words in page, words
    staff = client.get("/admin/staff").get_data(as_text=True)
    assert "Medarbejderkonti" in staff and "Opret konto" in staff and "koordinator" in staff
