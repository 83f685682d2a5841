"""Approval letters: PDF and common document types, told by content, with a matching name."""

from __future__ import annotations

import io
import zipfile

import pytest

from panel_service.domain.letters import DOC, DOCX, ODT, PDF, RTF, TEXT, LetterRefused, check_letter


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("letter.pdf", b"%PDF-1.7\n...", PDF),
        ("Letter.PDF", b"%PDF-1.4 x", PDF),
        ("letter.docx", _zip({"[Content_Types].xml": b"<x/>", "word/document.xml": b"<w/>"}), DOCX),
        (
            "letter.odt",
            _zip({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"}),
            ODT,
        ),
        ("letter.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, DOC),
        ("letter.rtf", b"{\\rtf1\\ansi approved}", RTF),
        ("letter.txt", "Komitéen godkender forsøget.\n".encode(), TEXT),
    ],
)
def test_accepted_letters(name: str, content: bytes, kind: object) -> None:
    assert check_letter(name, content) is kind


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("letter.pdf", b"", "empty"),
        ("letter.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "unknown_type"),  # a Windows program
        ("letter.pdf", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "unknown_type"),
        ("letter.docx", _zip({"evil.sh": b"#!/bin/sh"}), "unknown_type"),  # a zip, not a document
        ("letter.pdf", b"\xff\xfe\x00\x01binary", "unknown_type"),
        ("letter.exe", b"%PDF-1.4 a pdf with another name", "extension"),
        ("letter.pdf", b"plain words", "extension"),
        ("letter", b"%PDF-1.4", "extension"),
    ],
)
def test_refused_letters(name: str, content: bytes, reason: str) -> None:
    with pytest.raises(LetterRefused) as refused:
        check_letter(name, content)
    assert refused.value.reason == reason
