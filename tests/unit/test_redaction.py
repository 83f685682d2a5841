"""What an operator is shown of an SMTP answer: every address removed, the rest kept."""

from __future__ import annotations

from panel_service.domain.redaction import redact_addresses


def test_addresses_are_removed_and_the_rest_is_kept() -> None:
    answer = "550 5.1.1 <vera.v+panel@mail.example.org>: Recipient address rejected (olga@example.co.uk)"
    assert redact_addresses(answer) == "550 5.1.1 <[address]>: Recipient address rejected ([address])"


def test_text_without_addresses_and_nothing_at_all() -> None:
    assert redact_addresses("421 4.7.0 Try again later") == "421 4.7.0 Try again later"
    assert redact_addresses("smtplib.SMTPServerDisconnected") == "smtplib.SMTPServerDisconnected"
    assert redact_addresses(None) == ""
