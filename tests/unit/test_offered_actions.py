"""The study page offers only what the life cycle allows (domain.lifecycle.offered_actions)."""

from __future__ import annotations

from panel_service.domain.lifecycle import offered_actions


def test_a_closed_study_offers_nothing() -> None:
    assert offered_actions("closed", pending_state="draft", has_active=False) == frozenset()
    assert offered_actions("closed", pending_state="draft", has_active=True) == frozenset()


def test_submit_only_when_a_draft_can_go_to_review() -> None:
    assert "submit" in offered_actions("draft", pending_state="draft", has_active=False)
    assert "submit" not in offered_actions("rejected", pending_state="rejected", has_active=False)
    assert "submit" in offered_actions("recruiting", pending_state="draft", has_active=True)
    assert "submit" not in offered_actions("recruiting", pending_state=None, has_active=True)
    assert "submit" not in offered_actions("in_review", pending_state="in_review", has_active=False)


def test_recruit_pause_close_follow_the_status() -> None:
    assert offered_actions("recruiting", pending_state=None, has_active=True) == {"edit", "pause", "close"}
    assert offered_actions("paused", pending_state=None, has_active=True) == {"edit", "recruit", "close"}
    assert offered_actions("approved", pending_state=None, has_active=True) == {"edit", "recruit", "close"}
