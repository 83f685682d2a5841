"""English and Danish: every volunteer-facing string is translated, the compiled catalogue is
current, the switcher and the browser's preference work, and dates are localised."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.timeutil import panel_today
from tests.support.volunteers import csrf_token, make_volunteer, post_form, sign_in

PACKAGE = Path(__file__).resolve().parents[3] / "panel_service"
TRANSLATIONS = PACKAGE / "translations"
# The volunteer journey and the pages every visitor sees; other areas keep their own lists.
VOLUNTEER_SOURCES = (
    "templates/base.html",
    "templates/macros/",
    "templates/volunteers/",
    "templates/accounts/",
    "templates/public/",
    "web/volunteers/",
    "web/accounts/",
    "services/account_mail.py",
    "templates/email/",
)
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _volunteer_messages() -> set[str | tuple[str, str]]:
    method_map = [("**.py", "python"), ("**.html", "jinja2"), ("templates/email/**.txt", "jinja2")]
    found: set[str | tuple[str, str]] = set()
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(PACKAGE), method_map, keywords=KEYWORDS
    ):
        if filename.startswith(VOLUNTEER_SOURCES):
            found.add(message if isinstance(message, str) else tuple(message))  # type: ignore[arg-type]
    return found


def test_every_volunteer_facing_string_has_a_danish_translation() -> None:
    with (TRANSLATIONS / "da" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {message.id for message in catalog if message.id and message.string and not message.fuzzy}
    missing = sorted(str(message) for message in _volunteer_messages() if message not in translated)
    assert not missing, "untranslated (run the commands in docs/i18n.md):\n" + "\n".join(missing)


def test_compiled_catalogue_matches_the_po_file() -> None:
    with (TRANSLATIONS / "da" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    compiled = Translations.load(str(TRANSLATIONS), ["da"])
    for message in catalog:
        if message.id and isinstance(message.id, str) and message.string:
            assert compiled.gettext(message.id) == message.string, (
                "run: pybabel compile -d panel_service/translations"
            )


def test_danish_from_the_browser_and_errors_in_danish(client: FlaskClient, db: Session) -> None:
    headers = {"Accept-Language": "da"}
    page = client.get("/signup", headers=headers).get_data(as_text=True)
    assert '<html lang="da">' in page and "Tilmeld dig som frivillig" in page
    token = csrf_token(client, "/signup")
    response = client.post(
        "/signup",
        headers=headers,
        data={"csrf_token": token, "name": "Åse", "email": "aase@example.org", "password": "kort"},
    )
    assert response.status_code == 422 and "Din adgangskode skal være på mindst 8 tegn." in response.get_data(
        as_text=True
    )


def test_switcher_and_localised_dates(client: FlaskClient, db: Session, settings: Settings) -> None:
    make_volunteer(db, settings)
    sign_in(client, "vera@example.org")
    until = panel_today(settings) + dt.timedelta(days=40)
    post_form(client, "/me/contact/pause", {"until": until.isoformat()}, token_from="/me/contact")
    english = client.get("/me").get_data(as_text=True)
    # British order, never the US "January 4, 2027".
    assert f"{until.day} {until.strftime('%B')} {until.year}" in english
    assert f"{until.strftime('%B')} {until.day}, {until.year}" not in english
    client.post("/language", data={"lang": "da", "next": "/me", "csrf_token": csrf_token(client, "/me")})
    danish = client.get("/me").get_data(as_text=True)
    months = [
        "januar",
        "februar",
        "marts",
        "april",
        "maj",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "december",
    ]
    assert f"{until.day}. {months[until.month - 1]} {until.year}" in danish
    assert "Min side" in danish and "Log ud" in danish
    client.post("/language", data={"lang": "en", "next": "/me", "csrf_token": csrf_token(client, "/me")})
    assert "My page" in client.get("/me").get_data(as_text=True)


def test_dates_and_moments_read_the_british_way(app: Flask) -> None:
    """The app factory registers ``dateformat`` and ``panel_time`` for every page (issue 13 item 7)."""
    moment = dt.datetime(1980, 4, 23, 12, 5, tzinfo=dt.UTC)
    with app.test_request_context("/"):
        render = app.jinja_env.from_string("{{ d|dateformat('long') }}|{{ d|dateformat }}|{{ m|panel_time }}")
        english = render.render(d=dt.date(1980, 4, 23), m=moment)
        assert english.split("|")[:2] == ["23 April 1980", "23 April 1980"]
        assert english.split("|")[2].startswith("23 April 1980, ")
        assert (
            app.jinja_env.from_string("{{ d|panel_date }}").render(d=dt.date(1980, 4, 23)) == "23 April 1980"
        )
    with app.test_request_context("/", headers={"Accept-Language": "da"}):
        assert render.render(d=dt.date(1980, 4, 23), m=moment).startswith(
            "23. april 1980|23. april 1980|23. april 1980 kl. "
        )


def test_po_file_is_well_formed() -> None:
    """Babel's reader forgives a stray line (a merge once left a second ``msgstr`` under an entry,
    which GNU ``msgfmt -c`` refuses): the keywords follow the PO grammar, ``[msgctxt] msgid
    [msgid_plural] msgstr…``, with no ``msgstr`` that has no ``msgid`` of its own."""
    text = (TRANSLATIONS / "da" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    keywords = [
        (number, line.split(" ", 1)[0].split("[", 1)[0])
        for number, line in enumerate(text.splitlines(), start=1)
        if line.startswith("msg")
    ]
    allowed_after = {
        None: {"msgctxt", "msgid"},
        "msgctxt": {"msgid"},
        "msgid": {"msgid_plural", "msgstr"},
        "msgid_plural": {"msgstr"},
        "msgstr": {"msgctxt", "msgid", "msgstr"},
    }
    previous: str | None = None
    faults = []
    for number, keyword in keywords:
        plural_continues = keyword == "msgstr" and previous == "msgstr"
        if keyword not in allowed_after[previous] or (
            plural_continues and "[" not in text.splitlines()[number - 1]
        ):
            faults.append(f"line {number}: {keyword} after {previous}")
        previous = keyword
    assert not faults, "\n".join(faults)
