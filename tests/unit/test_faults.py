"""The fault-injection setting (panel_service/faults.py) can never be on outside the tests."""

from __future__ import annotations

import pytest

from config.settings import load_settings
from panel_service import faults


def test_fault_injection_is_refused_outside_tests() -> None:
    with pytest.raises(ValueError, match="PANEL_FAULT_INJECT"):
        load_settings(environ={"PANEL_FAULT_INJECT": "after_smtp", "PANEL_ENV": "development"})
    with pytest.raises(ValueError, match="unknown fault window"):
        load_settings(environ={"PANEL_FAULT_INJECT": "before_lunch", "PANEL_ENV": "test"})
    assert load_settings(environ={"PANEL_FAULT_INJECT": "after_smtp:0.5", "PANEL_ENV": "test"}).fault_inject


def test_the_windows_and_rates_parse() -> None:
    assert faults.parse("after_smtp:0.3, after_claim") == {"after_smtp": 0.3, "after_claim": 1.0}
    with pytest.raises(ValueError, match="probability"):
        faults.parse("after_record:2")


def test_point_does_nothing_without_the_setting() -> None:
    settings = load_settings(environ={"PANEL_ENV": "test"})
    faults.point(settings, "after_smtp", study_id=1, participant_id=2)  # returns: no kill


def test_point_refuses_to_kill_outside_tests_even_if_settings_were_forged() -> None:
    forged = load_settings(environ={"PANEL_ENV": "test", "PANEL_FAULT_INJECT": "after_smtp"}).model_copy(
        update={"env": "development"}
    )
    with pytest.raises(faults.FaultInjectionRefused):
        faults.point(forged, "after_smtp", study_id=1, participant_id=2)
