from __future__ import annotations

import datetime as dt

from panel_service.domain.criteria import Truth, evaluate, parse_text
from panel_service.domain.profile_json import profile_from_json
from panel_service.synthetic import generate_volunteers

TODAY = dt.date(2026, 11, 25)
NARROW = parse_text(
    "age between 18 and 75 and has condition G25.81 and not has condition N18 and not has condition D66 "
    "and not pregnant"
)
BROAD = parse_text(
    "age between 40 and 75 and (has condition I10 or has condition E11) and bmi between 25 and 40 "
    "and not has condition N18 and not pregnant"
)


def test_the_same_seed_gives_the_same_volunteers_wherever_the_range_starts() -> None:
    whole = list(generate_volunteers(2_100, seed=7, today=TODAY))
    assert list(generate_volunteers(2_100, seed=7, today=TODAY)) == whole
    assert list(generate_volunteers(150, seed=7, start=990, today=TODAY)) == whole[990:1140]
    assert list(generate_volunteers(10, seed=8, today=TODAY)) != whole[:10]


def test_volunteers_are_valid_import_lines_of_adults() -> None:
    for volunteer in generate_volunteers(3_000, seed=1, today=TODAY):
        assert volunteer["email"].startswith("volunteer") and volunteer["email"].endswith("@example.org")
        assert isinstance(volunteer["consent"], bool)
        profile = profile_from_json(volunteer, adult_on=TODAY)
        assert profile.birth_date is not None
        assert 18 <= (TODAY - profile.birth_date).days / 365.25 < 91.1


def test_frequencies_hit_the_benchmark_sets() -> None:
    people = [profile_from_json(volunteer) for volunteer in generate_volunteers(20_000, seed=0, today=TODAY)]
    narrow = sum(evaluate(NARROW, person, TODAY) is Truth.TRUE for person in people) / len(people)
    broad = sum(evaluate(BROAD, person, TODAY) is Truth.TRUE for person in people) / len(people)
    consenting = sum(volunteer["consent"] for volunteer in generate_volunteers(20_000, today=TODAY)) / 20_000
    assert 0.025 <= narrow <= 0.035
    assert 0.105 <= broad <= 0.125
    assert 0.88 <= consenting <= 0.92


def test_version_2_extras_are_valid_histories_answers_and_homes() -> None:
    """The benchmark's histories, answers and homes (issue 12 item 8) are what the service accepts."""
    import random

    from panel_service.domain.history import make_entry
    from panel_service.domain.questions import answer_value, seed_catalogue
    from panel_service.synthetic import answers, history_entry, home_point

    catalogue = seed_catalogue()
    rand = random.Random(3).random
    volunteers = list(generate_volunteers(3_000, seed=2, today=TODAY))
    answer_count = stale = homes = 0
    statuses: set[str | None] = set()
    for volunteer in volunteers:
        for code in volunteer["conditions"] or ():
            entry = make_entry(code, *history_entry(rand, TODAY))  # raises on a bad history
            statuses.add(entry.status)
        given = answers(rand, volunteer, TODAY)
        assert len({key for key, _, _ in given}) == len(given)
        for key, value, answered_on in given:
            answer_value(catalogue[key], list(value) if isinstance(value, tuple) else value)
            assert answered_on <= TODAY
            stale += answered_on < dt.date(TODAY.year - 1, TODAY.month, TODAY.day)
        answer_count += len(given)
        home = home_point(rand)
        if home is not None:
            homes += 1
            assert 54.5 < home[0] < 57.8 and 7.9 < home[1] < 15.2
            assert home == (round(home[0], 2), round(home[1], 2))
    assert statuses == {None, "current", "past"}
    assert 18 <= answer_count / len(volunteers) <= 23
    assert 0.15 < stale / answer_count < 0.5
    assert 0.9 < homes / len(volunteers) < 0.99
