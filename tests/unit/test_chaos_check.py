"""The crash storm's own evaluator and its ambiguous-to-death pairing (tests/chaos/storm.py)."""

from __future__ import annotations

import datetime as dt

from tests.chaos.storm import Death, Storm, _explain_ambiguous, evaluate

TODAY = dt.date(2026, 3, 1)
PERSON = {
    "birth_date": "1976-02-29",
    "sex": "male",
    "region": "DK-84",
    "smoker": None,
    "pregnant": None,
    "conditions": ["G25.81", "N18.3"],
    "medications": [],
}


def test_the_evaluator_is_three_valued_and_knows_the_rules_of_fact() -> None:
    assert evaluate({"field": "age", "op": "eq", "value": 50}, PERSON, TODAY) is True  # 29 Feb: 1 March
    assert evaluate({"field": "age", "op": "eq", "value": 49}, PERSON, TODAY - dt.timedelta(days=1)) is True
    assert evaluate({"condition": "G25.8"}, PERSON, TODAY) is True  # descendants match
    assert evaluate({"condition": "N17-N19"}, PERSON, TODAY) is True  # a range of categories
    assert evaluate({"condition": "G25.9"}, PERSON, TODAY) is False
    assert evaluate({"medication": "A12CC"}, PERSON, TODAY) is False  # [] is an answer: none
    assert evaluate({"field": "smoker", "op": "eq", "value": False}, PERSON, TODAY) is None
    assert evaluate({"not": {"field": "smoker", "op": "eq", "value": True}}, PERSON, TODAY) is None
    # pregnant is false for a man, whatever the file says
    assert evaluate({"field": "pregnant", "op": "eq", "value": True}, PERSON, TODAY) is False
    unknown = {"field": "smoker", "op": "eq", "value": True}
    assert evaluate({"all": [unknown, {"condition": "G25.9"}]}, PERSON, TODAY) is False
    assert evaluate({"any": [unknown, {"condition": "G25.8"}]}, PERSON, TODAY) is True
    assert evaluate({"any": [unknown, {"condition": "G25.9"}]}, PERSON, TODAY) is None
    assert evaluate({"condition": "I10"}, {**PERSON, "conditions": None}, TODAY) is None


def storm_with(deaths: list[Death], stops: list[tuple[float, float]] | None = None) -> Storm:
    storm = Storm(1, 1, 1.0, workdir=None, log=print)  # type: ignore[arg-type]
    storm.deaths = deaths
    storm.stops = stops or []
    return storm


def test_each_ambiguous_claim_needs_a_death_of_its_own_soon_after_it() -> None:
    pool = Death(at=100.0, kind="pool", capacity=1)
    assert _explain_ambiguous(storm_with([pool]), [99.0]) == 0
    assert _explain_ambiguous(storm_with([pool]), [99.0, 99.5]) == 1  # one process, one send
    assert _explain_ambiguous(storm_with([Death(100.0, "worker", 2)]), [99.0, 99.5]) == 0
    assert _explain_ambiguous(storm_with([pool]), [90.0]) == 1  # the death came too late
    assert _explain_ambiguous(storm_with([pool]), [101.0]) == 1  # ... or before the claim
    # a claim that overlapped the SIGSTOP may have died any time until a little after it
    assert _explain_ambiguous(storm_with([pool], stops=[(85.0, 99.0)]), [90.0]) == 0
