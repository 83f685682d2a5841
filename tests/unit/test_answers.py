"""When an answer to an invitation may be recorded (domain.answers)."""

from __future__ import annotations

import pytest

from panel_service.domain.answers import answer_refusal


@pytest.mark.parametrize(
    ("status", "consent", "erased", "expected"),
    [
        ("recruiting", True, False, None),
        ("paused", True, False, None),  # the invitation already went out; answering is allowed
        ("closed", True, False, "study_closed"),
        ("closed", False, False, "study_closed"),
        ("recruiting", False, False, "consent_withdrawn"),
        ("paused", False, False, "consent_withdrawn"),
        ("recruiting", True, True, "erased"),
        (None, True, False, "study_closed"),
    ],
)
def test_answer_refusal(status: str | None, consent: bool, erased: bool, expected: str | None) -> None:
    assert answer_refusal(study_status=status, consent_active=consent, erased=erased) == expected
