"""Which approval letters Panel keeps: PDF and common document types, told by their content.

The file's name must end in an extension of the type its content has, so a renamed program or
image is refused with a message that says what is accepted. Pure: bytes in, a kind or an error out.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of old Word .doc files
ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"


@dataclass(frozen=True)
class LetterKind:
    name: str
    extensions: tuple[str, ...]
    mimetype: str


PDF = LetterKind("PDF", (".pdf",), "application/pdf")
DOCX = LetterKind(
    "Word", (".docx",), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
)
DOC = LetterKind("Word 97-2003", (".doc",), "application/msword")
ODT = LetterKind("OpenDocument text", (".odt",), "application/vnd.oasis.opendocument.text")
RTF = LetterKind("Rich Text", (".rtf",), "application/rtf")
TEXT = LetterKind("plain text", (".txt",), "text/plain")
KINDS = (PDF, DOCX, DOC, ODT, RTF, TEXT)


class LetterRefused(ValueError):
    """``reason`` is ``unknown_type`` (content of no accepted type), ``extension`` (the name
    does not end as the content's type does) or ``empty``."""

    def __init__(self, reason: str, kind: LetterKind | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def _zip_kind(content: bytes) -> LetterKind | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            if "word/document.xml" in names:
                return DOCX
            if "mimetype" in names and archive.read("mimetype").strip() == ODT_MIMETYPE:
                return ODT
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, NotImplementedError):
        # A damaged archive, or one packed with a compression zipfile cannot read
        # (NotImplementedError): not a document Panel accepts, so the letter is refused.
        return None
    return None


def _is_text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char in "\r\n\t\f" for char in text)


def sniff(content: bytes) -> LetterKind | None:
    """The type the bytes are, or None when none of the accepted ones."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(OLE2_MAGIC):
        return DOC
    if content.startswith(b"{\\rtf"):
        return RTF
    if content.startswith(b"PK\x03\x04"):
        return _zip_kind(content)
    if _is_text(content):
        return TEXT
    return None


def check_letter(filename: str, content: bytes) -> LetterKind:
    """The letter's type, or ``LetterRefused`` when it is empty, of no accepted type, or named
    with another type's extension."""
    if not content:
        raise LetterRefused("empty")
    kind = sniff(content)
    if kind is None:
        raise LetterRefused("unknown_type")
    if not filename.lower().endswith(kind.extensions):
        raise LetterRefused("extension", kind)
    return kind
