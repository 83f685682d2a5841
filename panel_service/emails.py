"""Emails from templates: ``templates/email/<name>/{subject.txt,body.txt,body.html}`` rendered
in the recipient's language, without Flask (the workers have no app).

One Jinja environment per language, made on first use with that language's catalogue installed
(``jinja2.ext.i18n``); each email's three templates are compiled once per language and process and
kept, so the dispatcher, which renders one invitation per send, only runs compiled code. HTML is
autoescaped; the text parts are not (they are not HTML: ``&`` stays ``&``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from panel_service.domain.vocab import LANGUAGES

PACKAGE = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE / "templates" / "email"
TRANSLATIONS_DIR = PACKAGE / "translations"
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class RenderedEmail:
    """One email's subject (one line) and its two alternatives, in one language."""

    subject: str
    text: str
    html: str


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of a supported language (English is the source: no catalogue)."""
    return Translations.load(str(TRANSLATIONS_DIR), [language_or_default(language)])


@functools.cache
def _environment(language: str) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # Escape in the HTML part only; the text part and the subject are plain text.
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,  # a misspelt variable fails the render, not the volunteer
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the code: never stat them per render
    )
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return environment


@functools.cache
def _templates(name: str, language: str) -> tuple[Template, Template, Template]:
    environment = _environment(language)
    return (
        environment.get_template(f"{name}/subject.txt"),
        environment.get_template(f"{name}/body.txt"),
        environment.get_template(f"{name}/body.html"),
    )


def render(name: str, language: str | None, /, **context: Any) -> RenderedEmail:
    """The email ``name`` in ``language`` (English when it is not a supported one). The subject is
    rendered first and is available to the bodies as ``subject``; ``language`` is set too."""
    language = language_or_default(language)
    subject_template, text_template, html_template = _templates(name, language)
    subject = " ".join(subject_template.render(context).split())
    context = context | {"subject": subject, "language": language}
    return RenderedEmail(
        subject=subject,
        text=text_template.render(context) + "\n",
        html=html_template.render(context) + "\n",
    )
