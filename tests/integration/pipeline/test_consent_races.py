"""Consent races as a Hypothesis state machine: consent, withdraw, pause, resume, edit the profile,
match, send and kill (a sender that dies after its claim or after SMTP accepted), in any order.

Everything runs on the real services against the test database and a real aiosmtpd server; the
rules call what the web, the worker and the beat call. A "kill" is the sender stopping where a
death would stop it (``claim_next`` committed, or the message handed to SMTP too, then nothing),
followed by the ambiguity detector (the live SIGKILLs of each window are in
test_fault_windows.py). The model is the test's own: who consents, who is paused, which study
each profile satisfies (two studies, one per condition code).

Invariants, after every step:

* P1: an invitation is created only for a consenting, unpaused volunteer whose profile satisfies
  the study at that moment; a message is delivered only if that held when it was claimed;
* P2: no Message-ID (one per study and volunteer) is ever delivered twice; an ``ambiguous``
  invitation is never sent again;
* P6: a withdrawal leaves nothing of the volunteer queued; a pause delivers nothing and cancels
  nothing (a held invitation stays queued); once resumed, what still matches goes out (checked at
  the end of each run by sending until nothing is due).
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from panel_service import jobs
from panel_service.domain.profile import normalise_icd10
from panel_service.models import Invitation, Participant
from panel_service.runtime import Runtime
from panel_service.services import consent, contact, profiles, volunteers
from panel_service.tasks import Task
from panel_service.timeutil import panel_today
from tests.conftest import truncate_all
from tests.factories import make_recruiting_study, make_volunteer
from tests.support.pipeline import NARROW
from tests.support.services import SmtpRecorder

PEOPLE = 2
# The two studies and the condition that makes a volunteer (adult, no medications) satisfy each.
STUDY_CODES = ("G25.81", "I10")
CRITERIA = (NARROW, "age between 18 and 75 and has condition I10")
CODE_SETS = ([], ["G25.81"], ["I10"], ["G25.81", "I10"])
MESSAGE_ID = re.compile(r"<inv-(\d+)-(\d+)@")


def machine_for(runtime: Runtime, smtp: SmtpRecorder) -> type[RuleBasedStateMachine]:
    class ConsentRaces(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            truncate_all(runtime.database.engine)
            with smtp.lock:
                smtp.messages.clear()
                smtp.envelopes.clear()
            adult = dt.date.today().replace(year=dt.date.today().year - 40)
            with runtime.database.session_scope() as session:
                people = [
                    make_volunteer(session, birth_date=adult, conditions=list(STUDY_CODES), medications=[])
                    for _ in range(PEOPLE)
                ]
                self.studies = [
                    make_recruiting_study(session, criteria, start_matching=False).id for criteria in CRITERIA
                ]
            self.people = [person.participant_id for person in people]
            self.consenting = set(self.people)
            self.paused: set[int] = set()
            self.codes: dict[int, list[str] | None] = {pid: list(STUDY_CODES) for pid in self.people}
            self.withdrew: set[int] = set()
            self.stopped_matching: set[tuple[int, int]] = set()  # (study, volunteer) ever not satisfied
            self.delivered: collections.Counter[tuple[int, int]] = collections.Counter()
            self.ambiguous_at_kill: set[tuple[int, int]] = set()
            self.seen_messages = 0

        # -- the model ---------------------------------------------------------------------------------

        def satisfies(self, pid: int, study_id: int) -> bool:
            codes = self.codes[pid]
            return codes is not None and STUDY_CODES[self.studies.index(study_id)] in codes

        def may_contact(self, pid: int, study_id: int) -> bool:
            return pid in self.consenting and pid not in self.paused and self.satisfies(pid, study_id)

        def invitations(self) -> dict[tuple[int, int], tuple[str, str | None]]:
            with runtime.database.session_scope() as session:
                rows = session.execute(
                    select(
                        Invitation.study_id, Invitation.participant_id, Invitation.status, Invitation.reason
                    )
                )
                return {(sid, pid): (status, reason) for sid, pid, status, reason in rows}

        def take_deliveries(self) -> list[tuple[int, int]]:
            """Messages the server got since the last look, as (study, volunteer)."""
            with smtp.lock:
                new = smtp.messages[self.seen_messages :]
                self.seen_messages = len(smtp.messages)
            found = []
            for message in new:
                match = MESSAGE_ID.match(str(message["Message-ID"]))
                assert match, message["Message-ID"]
                pair = (int(match.group(1)), int(match.group(2)))
                self.delivered[pair] += 1
                found.append(pair)
            return found

        def check_deliveries(self) -> None:
            for study_id, pid in self.take_deliveries():
                # P1 at claim time: the claim was made within this step, with the model as it is now.
                assert self.may_contact(pid, study_id), (
                    study_id,
                    pid,
                    self.consenting,
                    self.paused,
                    self.codes,
                )

        def participant(self, session: object, pid: int) -> Participant:
            found = session.get(Participant, pid)  # type: ignore[attr-defined]
            assert found is not None
            return found

        # -- the rules ---------------------------------------------------------------------------------

        @rule(index=st.integers(0, PEOPLE - 1))
        def withdraw(self, index: int) -> None:
            pid = self.people[index]
            with runtime.database.session_scope() as session:
                consent.withdraw_contact_consent(session, pid, via=consent.VIA_VOLUNTEER_PAGE)
            self.consenting.discard(pid)
            self.withdrew.add(pid)

        @rule(index=st.integers(0, PEOPLE - 1))
        def consent(self, index: int) -> None:
            pid = self.people[index]
            with runtime.database.session_scope() as session:
                volunteers.give_consent(session, self.participant(session, pid))
            self.consenting.add(pid)

        @rule(index=st.integers(0, PEOPLE - 1), days=st.integers(1, 30))
        def pause(self, index: int, days: int) -> None:
            pid = self.people[index]
            before = self.invitations()
            with runtime.database.session_scope() as session:
                until = panel_today(runtime.settings) + dt.timedelta(days=days)
                volunteers.pause_contact(session, runtime.settings, self.participant(session, pid), until)
            self.paused.add(pid)
            after = self.invitations()
            for key, (status, _) in before.items():
                if key[1] == pid and status == "queued":
                    assert after[key][0] == "queued", (key, after[key])  # P6: held, not cancelled

        @rule(index=st.integers(0, PEOPLE - 1))
        def resume(self, index: int) -> None:
            pid = self.people[index]
            with runtime.database.session_scope() as session:
                volunteers.resume_contact(session, runtime.settings, self.participant(session, pid))
            self.paused.discard(pid)

        @rule(index=st.integers(0, PEOPLE - 1), codes=st.sampled_from(CODE_SETS))
        def edit_profile(self, index: int, codes: list[str]) -> None:
            pid = self.people[index]
            with runtime.database.session_scope() as session:
                # Normalised as the profile page does before it saves (G25.81 -> G2581).
                normalised = [normalise_icd10(code) for code in codes]
                profiles.save_codes(session, self.participant(session, pid), system="icd10", codes=normalised)
            self.codes[pid] = list(codes)
            for study_id in self.studies:
                if not self.satisfies(pid, study_id):
                    self.stopped_matching.add((study_id, pid))

        @rule(index=st.integers(0, PEOPLE - 1))
        def match(self, index: int) -> None:
            pid = self.people[index]
            before = self.invitations()
            jobs.run_job(runtime, Task.MATCHING_MATCH_PROFILE, {"participant_id": pid})
            for key in set(self.invitations()) - set(before):
                assert key[1] == pid and self.may_contact(pid, key[0]), (key, self.codes[pid])  # P1

        @rule()
        def send(self) -> None:
            contact.dispatch_one(runtime)
            self.check_deliveries()

        @rule(after_smtp=st.booleans())
        def kill(self, after_smtp: bool) -> None:
            """A sender dies after its claim (or after SMTP accepted); the detector reports it."""
            claim = contact.claim_next(runtime).claim
            if claim is not None:
                if after_smtp:
                    runtime.mailer.send(contact.build_message(runtime, claim))
                self.check_deliveries()
                jobs.run_job(runtime, Task.CONTACT_DETECT_AMBIGUOUS, {"lease_seconds": 0})
                assert self.invitations()[(claim.study_id, claim.participant_id)][0] == "ambiguous"
                self.ambiguous_at_kill.add((claim.study_id, claim.participant_id))

        # -- the invariants ---------------------------------------------------------------------------

        @invariant()
        def never_twice(self) -> None:  # P2
            assert all(count == 1 for count in self.delivered.values()), self.delivered

        @invariant()
        def consistent_rows(self) -> None:
            for (study_id, pid), (status, reason) in self.invitations().items():
                if pid in self.withdrew and pid not in self.consenting:
                    assert status != "queued", (study_id, pid)  # P6: withdrawal cancels at once
                if (study_id, pid) in self.ambiguous_at_kill:
                    assert status in ("ambiguous",), (study_id, pid, status)  # never resent
                if status == "cancelled":
                    # Never for a pause (P6): only a withdrawal or a profile that stopped matching.
                    assert (reason == "consent_withdrawn" and pid in self.withdrew) or (
                        reason == "no_longer_matches" and (study_id, pid) in self.stopped_matching
                    ), (study_id, pid, reason)
                if status == "sent":
                    assert self.delivered[(study_id, pid)] == 1

        def teardown(self) -> None:
            """After the races: send until nothing is due; every held invitation of a volunteer who
            is not paused and still may be contacted has gone out (what a pause held is not lost)."""
            for _ in range(10):
                if contact.dispatch_one(runtime) is None:
                    break
                self.check_deliveries()
            for (study_id, pid), (status, _) in self.invitations().items():
                if status == "queued" and pid not in self.paused:
                    assert not self.may_contact(pid, study_id), (study_id, pid)

    return ConsentRaces


@pytest.mark.timeout(600)  # a pass takes about a minute; shrinking a failure takes longer
def test_consent_races_keep_p1_p2_and_p6(committed_runtime: Runtime, smtp: SmtpRecorder) -> None:
    machine: Callable[[], RuleBasedStateMachine] = machine_for(committed_runtime, smtp)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            derandomize=False,
        ),
    )
