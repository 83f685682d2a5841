"""Ask only what matters (issue 13 item 1): the questions whose answer could decide a recruiting
study's UNKNOWN result for one volunteer, best first (``domain.asking``), and what the volunteer
does with them: answer, confirm a stale answer ("still true"), or put one aside.

Takes the caller's session and never commits. Nothing here returns a study: callers get keys,
kinds and counts, and pages show only how many *questions* there are (never per study).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain import eligibility
from panel_service.domain.asking import (
    Ask,
    AskKind,
    SkipReason,
    StudyCriteria,
    not_skipped,
    questions_that_matter,
)
from panel_service.domain.criteria import profile_facts
from panel_service.domain.criteria.versions import criteria_of
from panel_service.domain.eligibility import VolunteerState
from panel_service.domain.profile import ProfileData
from panel_service.domain.questions import Answer, Catalogue
from panel_service.queries import asking as queries
from panel_service.queries.eligibility import volunteer_state
from panel_service.services.kept import remembered
from panel_service.services.matching import (
    load_profile,
    recruiting_from,
    recruiting_versions,
    request_profile_match,
)
from panel_service.services.questions import answers_of, load_catalogue, save_volunteer_answers
from panel_service.timeutil import panel_today


@dataclass(frozen=True)
class Asked:
    """What matters for one volunteer today: ``asks`` still to ask (skipped ones left out unless
    asked for) and how many are put aside."""

    asks: list[Ask]
    skipped: int


def all_that_matter(
    session: Session,
    settings: Settings,
    participant_id: int,
    profile: ProfileData | None = None,
    state: VolunteerState | None = None,
    recruiting: list[tuple[int, int, str]] | None = None,
    invited: set[int] | None = None,
) -> list[Ask]:
    """Every ask, skipped ones included, best first. Studies already inviting the volunteer and
    studies beyond their travel limit are left out: no answer changes anything for those.
    ``profile``, ``state`` and ``recruiting`` (study id, version id, content hash of the studies
    recruiting today): the volunteer's, when the caller has loaded them already (the dashboard
    has, in one statement); ``invited``: the studies with an invitation for the volunteer, when
    the caller has read them (the dashboard has, with the invitations it shows)."""
    today = panel_today(settings)
    studies = (
        recruiting_versions(session, today) if recruiting is None else recruiting_from(session, recruiting)
    )
    if not studies:
        return []
    profile = profile or load_profile(session, participant_id)
    if profile is None:
        return []
    catalogue = load_catalogue(session)
    if invited is None:
        invited = queries.invited_study_ids(session, participant_id)
    state = state or volunteer_state(session, participant_id)
    trees = [
        StudyCriteria(
            criteria_of(study.version_id, study.content_hash, study.criteria, lambda: catalogue),
            study.site_points,
        )
        for study in studies
        if study.study_id not in invited
        and not eligibility.too_far(state.home, state.max_travel_km, study.site_points)
    ]
    return questions_that_matter(trees, profile_facts(profile, today), catalogue)


def what_to_ask(
    session: Session,
    settings: Settings,
    participant_id: int,
    *,
    with_skipped: bool = False,
    profile: ProfileData | None = None,
    state: VolunteerState | None = None,
    recruiting: list[tuple[int, int, str]] | None = None,
    invited: set[int] | None = None,
) -> Asked:
    every = all_that_matter(session, settings, participant_id, profile, state, recruiting, invited)
    if not every:
        return Asked([], 0)
    waiting = not_skipped(every, queries.skips_of(session, participant_id), panel_today(settings))
    return Asked(every if with_skipped else waiting, len(every) - len(waiting))


def count_to_ask(
    session: Session,
    settings: Settings,
    participant_id: int,
    profile: ProfileData | None = None,
    state: VolunteerState | None = None,
    recruiting: list[tuple[int, int, str]] | None = None,
    invited: set[int] | None = None,
    memo: tuple[str, str] | None = None,
) -> int:
    """How many questions could make the volunteer eligible for studies (skipped ones left out):
    the one number the dashboard and the reminder email show. ``memo``: the dashboard's (the
    stored profile's key and the catalogue's stamp, ``services.kept``): with it, and with every
    input given, the asks are worked out once per process for equal inputs; the skips are read
    every time."""
    if memo is None or profile is None or state is None or recruiting is None or invited is None:
        asked = what_to_ask(
            session,
            settings,
            participant_id,
            profile=profile,
            state=state,
            recruiting=recruiting,
            invited=invited,
        )
        return len(asked.asks)
    today = panel_today(settings)
    # ``state`` is not in the key: the asks read only its home and travel limit, which are in the
    # profile's key (``home_lat``/``home_lon`` columns, the ``max_travel_km`` answer).
    every = remembered(
        ("asks", *memo, tuple(recruiting), frozenset(invited), today),
        lambda: tuple(
            all_that_matter(session, settings, participant_id, profile, state, recruiting, invited)
        ),
    )
    if not every:
        return 0
    return len(not_skipped(every, queries.skips_of(session, participant_id), today))


def find_ask(asks: list[Ask], ask_key: str) -> Ask | None:
    return next((ask for ask in asks if ask.ask_key == ask_key), None)


def skip(session: Session, settings: Settings, participant_id: int, ask_key: str, reason: str) -> bool:
    """Put one ask aside ("Skip for now" / "I'd rather not say"); False for an ask key that is not
    among what matters for the volunteer (nothing is recorded)."""
    if reason not in {str(r) for r in SkipReason}:
        return False
    if find_ask(all_that_matter(session, settings, participant_id), ask_key) is None:
        return False
    queries.record_skip(session, participant_id, ask_key, reason, panel_today(settings))
    return True


def question_keys(catalogue: Catalogue, ask: Ask) -> list[str]:
    """The catalogue keys a volunteer answers for a question ask: a scored instrument's items,
    otherwise the question itself."""
    question = catalogue.get(ask.key)
    if question is None:
        return []
    return list(question.items) if question.scored else [question.key]


def save_answers(
    session: Session,
    settings: Settings,
    participant_id: int,
    ask: Ask,
    answers: Mapping[str, Answer],
    catalogue: Catalogue,
) -> None:
    """Store the answers to one ask (its keys only), forget its skip and queue the re-match."""
    allowed = set(question_keys(catalogue, ask))
    given = {key: answer for key, answer in answers.items() if key in allowed}
    if not given:
        return
    save_volunteer_answers(session, participant_id, given, (), catalogue)
    queries.forget_skips(session, participant_id, [ask.ask_key])
    request_profile_match(session, participant_id)


def confirm_stale(
    session: Session, settings: Settings, participant_id: int, ask: Ask, catalogue: Catalogue
) -> bool:
    """ "Still true": the volunteer's answers to a stale ask given again today, unchanged.
    False when there is nothing stored to confirm."""
    stored = answers_of(session, participant_id)
    today = panel_today(settings)
    keys = question_keys(catalogue, ask)
    if not keys or any(key not in stored for key in keys):
        return False
    save_answers(
        session,
        settings,
        participant_id,
        ask,
        {key: Answer(stored[key].value, today) for key in keys},
        catalogue,
    )
    return True


def history_asks(asks: list[Ask]) -> list[Ask]:
    return [ask for ask in asks if ask.kind in (AskKind.CONDITION, AskKind.MEDICATION)]
