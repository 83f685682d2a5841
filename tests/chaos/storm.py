"""Panel's own crash storm (issue 14 item 7): ``python -m tests.chaos.storm --seed 1``.

Everything runs on loopback, on instances of the storm's own: a private PostgreSQL cluster and a
private redis-server (``tests/support/private_services.py``; never the shared ones), an aiosmtpd
server in this process, two real ``celery -A workers worker`` processes and this process playing
``celery beat`` (the same jobs, every ``BEAT_SECONDS``). As a user would, it imports N synthetic
volunteers with ``panel import profiles`` and has a coordinator create, a reviewer approve and the
coordinator recruit eight studies through the studies service, one after another over the first
60 % of the storm, so that matching and sending go on while the faults happen:

* a worker process SIGKILLed every 2-4 s (two in three: one pool process, which the worker
  replaces; one in three: a whole worker, main process and pool, started again as a supervisor
  would);
* one worker SIGSTOPped for up to 20 s (then SIGCONT);
* Redis SIGKILLed and started again, twice (no persistence: every queued message is gone);
* PostgreSQL restarted in immediate mode, twice;
* the SMTP server down for up to 30 s (connections refused, and the ones open are cut);
* about 1 % of the volunteers who get an invitation unsubscribe with its one-click link (through
  the Flask app, POST to the ``List-Unsubscribe`` URL, as a mail client does).

The expectation is computed here, independently of Panel's matcher: ``evaluate`` is a small
three-valued evaluator written for the eight studies' criteria, run over the import lines. At the
end (all faults over, everything settled) the check counts, and the run fails unless each is 0:

* duplicates: a Message-ID (one per study and volunteer) delivered more than once;
* outside: a delivered invitation this evaluator did not expect;
* after_withdrawal: an invitation delivered whose claim came after the volunteer's withdrawal;
* lost: an expected invitation neither delivered nor ambiguous nor cancelled by a withdrawal
  (or recorded ``sent`` but never delivered);
* stuck: an invitation still queued or claimed, an outbox row open or dead, a match run unfinished;
* unexplained ambiguous: each ``ambiguous`` invitation must be paired with a process death (a
  killed pool process explains at most one, a killed worker at most its pool size, the SMTP
  server going down at most one per sender) that happened within ``AMBIGUOUS_WINDOW`` seconds
  after its claim (longer if the claim overlapped the SIGSTOP).

It prints ONE summary line (and exits 1 when a count is not 0). Recovery times are measured from
the storm itself: a fault's end to the next delivered email, and a kill to the moment every
outbox row the dead process held was taken over (or finished) by a live one.

Settings of the storm's processes: leases of 10 s (production: 30 s) and a beat every 2 s
(production: 15 s), so that a 1-5 minute storm sees many recoveries; SMTP retries from 1 s
(production: 30 s) and up to 30 attempts, so that a 30 s outage ends in sends, not ``failed``;
a contact cap of 1000, so that every expected invitation is due now (the cap has its own tests).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

LEASE_SECONDS = 10
BEAT_SECONDS = 2.0
CONCURRENCY = 2
WORKERS = 2
SETTLE_TIMEOUT = 480.0  # after the faults: everything sent, nothing open (else "stuck")
AMBIGUOUS_WINDOW = 3.0  # seconds from a claim to the death that may have left it ambiguous
BASE_URL = "http://127.0.0.1:5000"

# -- the studies and the storm's own evaluator ---------------------------------------------------------

STUDIES: list[tuple[str, dict[str, Any]]] = [
    (
        "Magnesium for restless legs",
        {
            "all": [
                {"field": "age", "op": "between", "value": [18, 75]},
                {"condition": "G25.8"},
                {
                    "not": {
                        "any": [
                            {"condition": "N17-N19"},
                            {"condition": "D66"},
                            {"field": "pregnant", "op": "eq", "value": True},
                        ]
                    }
                },
                {"not": {"medication": "A12CC"}},
            ]
        },
    ),
    (
        "Blood pressure and blood sugar",
        {
            "all": [
                {"field": "age", "op": "between", "value": [40, 75]},
                {"field": "region", "op": "in", "value": ["DK-82", "DK-83"]},
                {"any": [{"condition": "I10"}, {"condition": "E11"}]},
                {"not": {"condition": "N18"}},
                {"not": {"field": "pregnant", "op": "eq", "value": True}},
            ]
        },
    ),
    (
        "Asthma in young women",
        {
            "all": [
                {"field": "sex", "op": "eq", "value": "female"},
                {"field": "age", "op": "between", "value": [18, 45]},
                {"condition": "J45"},
                {"field": "smoker", "op": "eq", "value": False},
            ]
        },
    ),
    (
        "Statins in the capital and Zealand",
        {
            "all": [
                {"field": "region", "op": "in", "value": ["DK-84", "DK-85"]},
                {"condition": "E78"},
                {"medication": "C10AA"},
            ]
        },
    ),
    (
        "Knees after 65",
        {"all": [{"field": "age", "op": "ge", "value": 65}, {"condition": "M17"}]},
    ),
    (
        "Mood without SSRIs",
        {
            "all": [
                {"any": [{"condition": "F32"}, {"condition": "F41"}]},
                {"not": {"medication": "N06AB"}},
            ]
        },
    ),
    (
        "Anticoagulation in atrial fibrillation",
        {"all": [{"condition": "I48"}, {"medication": "B01AF"}]},
    ),
    (
        "COPD in men over 50",
        {
            "all": [
                {"field": "age", "op": "between", "value": [50, 80]},
                {"condition": "J44"},
                {"field": "sex", "op": "eq", "value": "male"},
            ]
        },
    ),
]

Truth = bool | None  # None: unknown (Kleene)


def _age(birth: str, today: dt.date) -> int:
    year, month, day = (int(part) for part in birth.split("-"))
    return today.year - year - ((today.month, today.day) < (month, day))


def _compare(op: str, have: Any, want: Any) -> bool:
    if op == "eq":
        return bool(have == want)
    if op == "ne":
        return bool(have != want)
    if op == "in":
        return have in want
    if op == "between":
        return bool(want[0] <= have <= want[1])
    return bool({"lt": have < want, "le": have <= want, "gt": have > want, "ge": have >= want}[op])


def _icd_matches(code: str, pattern: str) -> bool:
    code = code.upper()
    if "-" in pattern:  # a range of categories, e.g. N17-N19
        low, high = pattern.split("-")
        return low <= code[:3] <= high
    return code.replace(".", "").startswith(pattern.replace(".", ""))


def evaluate(node: dict[str, Any], person: dict[str, Any], today: dt.date) -> Truth:
    """Three-valued: True, False or None (unknown). Only True makes a match."""
    if "all" in node:
        values = [evaluate(child, person, today) for child in node["all"]]
        return False if False in values else (None if None in values else True)
    if "any" in node:
        values = [evaluate(child, person, today) for child in node["any"]]
        return True if True in values else (None if None in values else False)
    if "not" in node:
        value = evaluate(node["not"], person, today)
        return None if value is None else not value
    if "condition" in node:
        conditions = person.get("conditions")
        if conditions is None:
            return None
        return any(_icd_matches(code, node["condition"]) for code in conditions)
    if "medication" in node:
        medications = person.get("medications")
        if medications is None:
            return None
        return any(code.upper().startswith(node["medication"]) for code in medications)
    name = node["field"]
    if name == "pregnant" and person.get("sex") == "male":
        return _compare(node["op"], False, node["value"])  # the rule of fact (ARCHITECTURE §3)
    have = (
        _age(person["birth_date"], today) if name == "age" and person.get("birth_date") else person.get(name)
    )
    if have is None:
        return None
    return _compare(node["op"], have, node["value"])


def expected_pairs(people: list[dict[str, Any]], today: dt.date) -> dict[int, set[str]]:
    """Study index -> the emails of the consenting volunteers its criteria are definitely true for."""
    return {
        index: {
            person["email"].lower()
            for person in people
            if person.get("consent") is True and evaluate(criteria, person, today) is True
        }
        for index, (_, criteria) in enumerate(STUDIES)
    }


# -- the mail server ---------------------------------------------------------------------------------


@dataclass
class Arrival:
    at: float
    rcpt: str
    message_id: str
    unsubscribe: str | None


@dataclass
class StormSmtp:
    """An aiosmtpd server that keeps what the check needs of each message; ``down()``/``up()``."""

    port: int
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        message = message_from_bytes(envelope.content, policy=policy.default)
        unsubscribe = str(message.get("List-Unsubscribe", "")).strip().strip("<>") or None
        now = time.time()
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.arrivals.append(
                    Arrival(now, rcpt.lower(), str(message["Message-ID"]).strip(), unsubscribe)
                )
        return "250 OK"

    def up(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def snapshot(self) -> list[Arrival]:
        with self.lock:
            return list(self.arrivals)


# -- the storm ---------------------------------------------------------------------------------------


@dataclass
class Death:
    at: float  # wall clock (time.time())
    kind: str  # "pool", "worker", "smtp"
    capacity: int  # how many in-flight sends it could have interrupted


@dataclass
class Storm:
    seed: int
    volunteers: int
    duration: float
    workdir: Path
    log: Callable[[str], None]
    rng: random.Random = field(init=False)
    deaths: list[Death] = field(default_factory=list)
    stops: list[tuple[float, float]] = field(default_factory=list)
    fault_ends: dict[str, list[float]] = field(default_factory=dict)
    busy_ends: dict[str, list[float]] = field(default_factory=dict)  # the ends with invitations due
    takeovers: list[float] = field(default_factory=list)
    unsubscribed: dict[str, float] = field(default_factory=dict)
    beat_errors: int = 0
    stopped: set[int] = field(default_factory=set)  # id() of the worker SIGSTOPped now
    stop_event: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # The processes and servers are set in run().
    pg: Any = None
    redis: Any = None
    smtp: StormSmtp | None = None
    workers: list[Any] = field(default_factory=list)
    runtime: Any = None
    app: Any = None
    env: dict[str, str] = field(default_factory=dict)


def _panel(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "panel"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"panel {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def _retrying(what: str, action: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Run an action of the harness itself (not of Panel) through the faults it causes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: {exc}") from exc
            time.sleep(0.5)


def _staff(storm: Storm) -> tuple[Any, Any]:
    from panel_service.services import accounts

    with storm.runtime.database.session_scope() as session:
        coordinator = accounts.create_staff_account(
            session, email="coordinator@chaos.example.org", role="coordinator", organisation="Chaos Research"
        )
        reviewer = accounts.create_staff_account(session, email="reviewer@chaos.example.org", role="reviewer")
        return coordinator.id, reviewer.id


def _recruit(storm: Storm, index: int, coordinator_id: int, reviewer_id: int) -> int:
    """Create, submit, approve and recruit one study through the studies service."""
    from sqlalchemy import select

    from panel_service.models import Account, StudyVersion
    from panel_service.services import studies

    title, criteria = STUDIES[index]
    today = dt.date.today()
    with storm.runtime.database.session_scope() as session:
        # A retry after a commit whose answer was lost (PostgreSQL restarted just then) finds the
        # study already recruiting: all four steps are one transaction, so it is all or nothing.
        done = session.scalar(select(StudyVersion.study_id).where(StudyVersion.title == title))
        if done is not None:
            return int(done)
        coordinator = session.get(Account, coordinator_id)
        reviewer = session.get(Account, reviewer_id)
        study = studies.create_study(
            session,
            coordinator,
            studies.StudyFields(
                title=title,
                summary=f"{title}: a study of the crash storm.",
                criteria=criteria,
                invitation_text="We are looking for volunteers like you.",
                site_region="DK-84",
                target_enrolment=100,
            ),
        )
        studies.submit_study(session, coordinator, study.id)
        studies.approve_study(
            session,
            reviewer,
            study.id,
            studies.ApprovalFields(
                committee="Chaos IEC",
                kind="IEC",
                reference=f"chaos-{index}",
                approved_on=today - dt.timedelta(days=1),
                expires_on=today + dt.timedelta(days=365),
                letter_sha256="0" * 64,
            ),
            today=today,
        )
        studies.recruit_study(session, coordinator, study.id, today=today)
        return int(study.id)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _held_rows(storm: Storm) -> dict[int, tuple[str, dt.datetime]]:
    """Outbox rows a run holds right now: id -> (lease token, lease end)."""
    from sqlalchemy import select

    from panel_service.models import OutboxMessage

    with storm.runtime.database.session_scope() as session:
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.lease_owner, OutboxMessage.lease_until).where(
                OutboxMessage.completed_at.is_(None), OutboxMessage.lease_owner.is_not(None)
            )
        )
        return {row_id: (owner, until) for row_id, owner, until in rows}


def _watch_takeover(storm: Storm, held: dict[int, tuple[str, dt.datetime]], killed_at: float) -> None:
    """Of the rows held at the kill, the dead run's are those never renewed afterwards (a live run
    renews every third of the lease): the time until each is finished or held by another run."""
    from sqlalchemy import select

    from panel_service.models import OutboxMessage

    deadline = time.monotonic() + 180
    taken: list[float] = []
    while held and time.monotonic() < deadline:
        time.sleep(0.25)
        with contextlib.suppress(Exception):
            with storm.runtime.database.session_scope() as session:
                rows = session.execute(
                    select(
                        OutboxMessage.id,
                        OutboxMessage.lease_owner,
                        OutboxMessage.lease_until,
                        OutboxMessage.completed_at,
                    ).where(OutboxMessage.id.in_(list(held)))
                ).all()
            for row_id, owner, until, completed in rows:
                old_owner, old_until = held[row_id]
                if owner == old_owner and until is not None and until > old_until:
                    held.pop(row_id)  # renewed: a live run held it, not the dead one
                elif completed is not None or owner != old_owner:
                    held.pop(row_id)
                    taken.append(time.time() - killed_at)
    if taken:
        storm.takeovers.append(max(taken))


def _killer(storm: Storm) -> None:
    """Every 2-4 s: SIGKILL one pool process (2 in 3) or a whole worker (1 in 3, restarted)."""
    while not storm.stop_event.wait(storm.rng.uniform(2.0, 4.0)):
        candidates = [w for w in storm.workers if w.alive() and id(w) not in storm.stopped]
        if not candidates:
            continue
        worker = storm.rng.choice(candidates)
        held: dict[int, tuple[str, dt.datetime]] = {}
        with contextlib.suppress(Exception):
            held = _held_rows(storm)
        if storm.rng.random() < 2 / 3:
            children = _children(worker.process.pid)
            if not children:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(storm.rng.choice(children), signal.SIGKILL)
                storm.deaths.append(Death(time.time(), "pool", 1))
        else:
            worker.kill()
            storm.deaths.append(Death(time.time(), "worker", CONCURRENCY))
            time.sleep(0.5)
            worker.start(wait=False)  # the supervisor
        if held:
            threading.Thread(target=_watch_takeover, args=(storm, held, time.time()), daemon=True).start()


def _beat(storm: Storm, until: threading.Event) -> None:
    from tests.support.worker import beat_tick

    while not until.wait(BEAT_SECONDS):
        try:
            beat_tick(storm.runtime)
        except Exception:
            storm.beat_errors += 1


def _unsubscriber(storm: Storm, until: threading.Event) -> None:
    """About 1 % of the volunteers who got an invitation use its one-click unsubscribe link."""
    assert storm.smtp is not None
    seen = 0
    chooser = random.Random(storm.seed * 7919)
    client = storm.app.test_client()
    while not until.wait(0.5):
        arrivals = storm.smtp.snapshot()
        for arrival in arrivals[seen:]:
            if arrival.rcpt in storm.unsubscribed or not arrival.unsubscribe or chooser.random() >= 0.01:
                continue
            path = urlsplit(arrival.unsubscribe).path

            def post(path: str = path) -> None:
                response = client.post(path, data={"List-Unsubscribe": "One-Click"})
                if response.status_code != 200:
                    raise RuntimeError(f"unsubscribe answered {response.status_code}")

            with contextlib.suppress(RuntimeError):
                _retrying("unsubscribe", post, timeout=30)
                storm.unsubscribed[arrival.rcpt] = time.time()
        seen = len(arrivals)


def _faults(storm: Storm, started: float) -> None:
    """The scheduled faults, at fixed fractions of the storm."""
    duration = storm.duration
    stop_for = min(20.0, 0.12 * duration)
    smtp_down_for = min(30.0, 0.12 * duration)

    def at(fraction: float) -> bool:
        return not storm.stop_event.wait(max(0.0, started + fraction * duration - time.monotonic()))

    def ended(kind: str) -> None:
        at = time.time()
        storm.fault_ends.setdefault(kind, []).append(at)
        # Recovery is measured only where invitations were due when the fault ended.
        with contextlib.suppress(RuntimeError):
            if _retrying("count due invitations", lambda: _due(storm), timeout=30):
                storm.busy_ends.setdefault(kind, []).append(at)

    plan: list[tuple[float, str]] = [
        (0.20, "stop"),
        (0.30, "redis"),
        (0.40, "postgres"),
        (0.50, "smtp"),
        (0.65, "redis"),
        (0.80, "postgres"),
    ]
    for fraction, kind in plan:
        if not at(fraction):
            return
        storm.log(f"fault: {kind}")
        if kind == "stop":
            # A worker that is running now (one may be between a kill and its restart).
            for _ in range(40):
                alive = [w for w in storm.workers if w.alive()]
                if alive:
                    break
                time.sleep(0.25)
            for worker in alive[:1]:
                storm.stopped.add(id(worker))
                pgid = worker.process.pid
                begun = time.time()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGSTOP)
                time.sleep(stop_for)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGCONT)
                storm.stopped.discard(id(worker))
                storm.stops.append((begun, time.time()))
                ended("stop")
        elif kind == "redis":
            storm.redis.kill()
            time.sleep(1.0)
            storm.redis.start()
            ended("redis")
        elif kind == "postgres":
            storm.pg.restart("immediate")
            ended("postgres")
        elif kind == "smtp":
            assert storm.smtp is not None
            storm.smtp.down()
            storm.deaths.append(Death(time.time(), "smtp", WORKERS * CONCURRENCY))
            time.sleep(smtp_down_for)
            storm.smtp.up()
            ended("smtp")


def _recruiter(storm: Storm, started: float, staff: tuple[int, int], study_ids: list[int]) -> None:
    """The studies start recruiting one after another over the first 60 % of the storm."""
    for index in range(len(STUDIES)):
        wait = started + index * 0.6 * storm.duration / len(STUDIES) - time.monotonic()
        if storm.stop_event.wait(max(0.0, wait)):
            return
        study_ids.append(
            _retrying("recruit a study", lambda i=index: _recruit(storm, i, *staff), timeout=120)
        )


def _due(storm: Storm) -> int:
    from sqlalchemy import func, or_, select

    from panel_service.models import Invitation

    with storm.runtime.database.session_scope() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Invitation)
                .where(
                    Invitation.status == "queued",
                    or_(Invitation.next_attempt_at.is_(None), Invitation.next_attempt_at <= func.now()),
                )
            )
            or 0
        )


def _settled(storm: Storm) -> dict[str, int]:
    from sqlalchemy import func, select

    from panel_service.models import Invitation, MatchRun, OutboxMessage

    with storm.runtime.database.session_scope() as session:
        open_rows = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.completed_at.is_(None))
        )
        runs = session.scalar(
            select(func.count()).select_from(MatchRun).where(MatchRun.finished_at.is_(None))
        )
        pending = session.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.status.in_(("queued", "claimed")))
        )
    return {"outbox": int(open_rows or 0), "runs": int(runs or 0), "invitations": int(pending or 0)}


def _first_after(times: list[float], moment: float) -> float | None:
    index = bisect.bisect_right(times, moment)
    return times[index] - moment if index < len(times) else None


def _explain_ambiguous(storm: Storm, claims: list[float]) -> int:
    """Pair each ambiguous claim with a death within its window (each death only as many times as
    it had senders); return how many stay unexplained. Greedy by window end is optimal here."""
    capacity = [death.capacity for death in storm.deaths]
    windows = []
    for claimed in claims:
        end = claimed + AMBIGUOUS_WINDOW
        for begun, finished in storm.stops:
            if begun - AMBIGUOUS_WINDOW <= claimed <= finished:
                end = max(end, finished + AMBIGUOUS_WINDOW)
        windows.append((end, claimed - 0.5))
    unexplained = 0
    for end, start in sorted(windows):
        for index, death in enumerate(storm.deaths):
            if capacity[index] and start <= death.at <= end:
                capacity[index] -= 1
                break
        else:
            unexplained += 1
    return unexplained


def check(storm: Storm, people: list[dict[str, Any]], study_ids: list[int], today: dt.date) -> dict[str, Any]:
    from sqlalchemy import select

    from panel_service.models import Account, Consent, Invitation, MatchRun, OutboxMessage, Participant

    assert storm.smtp is not None
    expected_by_index = expected_pairs(people, today)
    expected = {(study_ids[index], email) for index, emails in expected_by_index.items() for email in emails}
    with storm.runtime.database.session_scope() as session:
        email_of = dict(
            session.execute(
                select(Participant.id, Account.email).join(Account, Account.id == Participant.account_id)
            ).all()
        )
        withdrawn = {
            email_of[pid]: at
            for pid, at in session.execute(
                select(Consent.participant_id, Consent.withdrawn_at).where(Consent.withdrawn_at.is_not(None))
            )
        }
        invitations = {
            (sid, email_of[pid]): (status, reason, claimed_at)
            for sid, pid, status, reason, claimed_at in session.execute(
                select(
                    Invitation.study_id,
                    Invitation.participant_id,
                    Invitation.status,
                    Invitation.reason,
                    Invitation.claimed_at,
                )
            )
        }
        open_count = len(
            session.scalars(select(OutboxMessage.id).where(OutboxMessage.completed_at.is_(None))).all()
        )
        unfinished = len(session.scalars(select(MatchRun.id).where(MatchRun.finished_at.is_(None))).all())
    arrivals = storm.smtp.snapshot()  # after the database: a send recorded sent is delivered by now
    pattern = re.compile(r"<inv-(\d+)-(\d+)@")
    delivered: Counter[tuple[int, str]] = Counter()
    for arrival in arrivals:
        match = pattern.match(arrival.message_id)
        if match is None:
            continue
        delivered[(int(match.group(1)), email_of.get(int(match.group(2)), "?"))] += 1

    duplicates = sum(count - 1 for count in delivered.values() if count > 1)
    outside = sorted(pair for pair in delivered if pair not in expected)
    after_withdrawal = [
        pair
        for pair in delivered
        if pair[1] in withdrawn
        and invitations.get(pair, (None, None, None))[2] is not None
        and invitations[pair][2] > withdrawn[pair[1]]
    ]
    lost: Counter[str] = Counter()
    for pair in expected:
        status, reason, _ = invitations.get(pair, (None, None, None))
        if delivered[pair]:
            if status not in ("sent", "ambiguous"):
                lost[f"delivered-but-{status}"] += 1
            continue
        if status == "ambiguous":
            continue
        if pair[1] in withdrawn and (
            status is None or (status == "cancelled" and reason == "consent_withdrawn")
        ):
            continue
        lost[f"{status}:{reason}" if status else "no-invitation"] += 1
    stuck = (
        sum(1 for status, _, _ in invitations.values() if status in ("queued", "claimed"))
        + open_count
        + unfinished
    )
    ambiguous_claims = [
        claimed.timestamp()
        for status, _, claimed in invitations.values()
        if status == "ambiguous" and claimed is not None
    ]
    unexplained = _explain_ambiguous(storm, ambiguous_claims)
    times = sorted(arrival.at for arrival in arrivals)
    recovery = {
        kind: max((delay for end in ends if (delay := _first_after(times, end)) is not None), default=None)
        for kind, ends in storm.busy_ends.items()
    }
    return {
        "expected": len(expected),
        "delivered": sum(delivered.values()),
        "duplicates": duplicates,
        "outside": len(outside),
        "after_withdrawal": len(after_withdrawal),
        "lost": sum(lost.values()),
        "lost_detail": dict(lost),
        "stuck": stuck,
        "ambiguous": len(ambiguous_claims),
        "unexplained": unexplained,
        "withdrawn": len(withdrawn),
        "recovery": recovery,
    }


def run(seed: int, volunteers: int, duration: float, verbose: bool = False) -> tuple[bool, str]:
    from config.settings import load_settings
    from panel_service import create_app
    from panel_service.runtime import Runtime
    from panel_service.synthetic import generate_volunteers
    from tests.support.private_services import private_postgres, private_redis
    from tests.support.services import free_port
    from tests.support.worker import LiveWorker, wait_until

    wall_started = time.monotonic()
    today = dt.date.today()

    def log(text: str) -> None:
        if verbose:
            print(f"[{time.monotonic() - wall_started:6.1f}s] {text}", file=sys.stderr, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="panel-chaos-"))
    storm = Storm(seed, volunteers, duration, workdir, log)
    people = list(generate_volunteers(volunteers, seed=seed, today=today))
    import_file = workdir / "volunteers.jsonl"
    with import_file.open("w", encoding="utf-8") as handle:
        for person in people:
            handle.write(json.dumps(person, separators=(",", ":")) + "\n")

    with private_postgres() as pg, private_redis() as redis_server:
        storm.pg, storm.redis = pg, redis_server
        database_url = pg.create_database("panel_chaos")
        smtp = StormSmtp(port=free_port())
        smtp.up()
        storm.smtp = smtp
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PANEL_", "SMTP_", "CELERY_", "DATABASE_"))
        }
        env.update(
            {
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": redis_server.url(0),
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp.port),
                "PANEL_ENV": "test",
                "PANEL_INSTANCE_PATH": str(workdir / "instance"),
                "PANEL_BASE_URL": BASE_URL,
                "SECRET_KEY": "chaos-secret-key-0123456789abcdef",
                "LOG_LEVEL": "INFO",
                "PYTHONPATH": str(ROOT),
                "PANEL_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
                "PANEL_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS),
                "PANEL_SEND_RETRY_BASE_SECONDS": "1",
                "PANEL_SEND_MAX_ATTEMPTS": "30",
                "PANEL_CONTACT_CAP": "1000",
                "PANEL_IN_PROCESS_JOBS": "false",
            }
        )
        storm.env = env
        _panel(env, "db", "upgrade")
        log(f"importing {volunteers} volunteers")
        _panel(env, "import", "profiles", str(import_file))
        settings = load_settings(environ=env, log_level="WARNING")
        storm.runtime = Runtime(settings)
        storm.app = create_app(settings, start_background_jobs=False)
        storm.workers = [
            LiveWorker(env, workdir / f"worker{n}", CONCURRENCY, name=f"chaos{n}") for n in range(WORKERS)
        ]
        beat_stop, unsubscribe_stop = threading.Event(), threading.Event()
        threads: list[threading.Thread] = []
        study_ids: list[int] = []
        try:
            for worker in storm.workers:
                worker.start()
            staff = _staff(storm)
            log("storm starts")
            started = time.monotonic()
            threads = [
                threading.Thread(target=_beat, args=(storm, beat_stop), daemon=True),
                threading.Thread(target=_unsubscriber, args=(storm, unsubscribe_stop), daemon=True),
                threading.Thread(target=_killer, args=(storm,), daemon=True),
                threading.Thread(target=_faults, args=(storm, started), daemon=True),
                threading.Thread(target=_recruiter, args=(storm, started, staff, study_ids), daemon=True),
            ]
            for thread in threads:
                thread.start()
            storm.stop_event.wait(duration)
            storm.stop_event.set()
            for thread in threads[2:]:
                thread.join(timeout=120)
            log("faults over; settling")
            for worker in storm.workers:  # whatever the storm left: everything up again
                with contextlib.suppress(ProcessLookupError, AttributeError):
                    os.killpg(worker.process.pid, signal.SIGCONT)
                if not worker.alive():
                    worker.start(wait=False)
            if storm.smtp.controller is None:
                storm.smtp.up()
            settle_started = time.monotonic()
            state: dict[str, int] = {}

            def settled() -> bool:
                nonlocal state
                with contextlib.suppress(Exception):
                    state = _settled(storm)
                    return len(study_ids) == len(STUDIES) and not any(state.values())
                return False

            with contextlib.suppress(AssertionError):
                wait_until(settled, SETTLE_TIMEOUT, "the storm to settle", interval=1.0)
            settle_seconds = time.monotonic() - settle_started
            time.sleep(2 * BEAT_SECONDS)  # a late duplicate would show now
            unsubscribe_stop.set()
            threads[1].join(timeout=60)
            beat_stop.set()
            threads[0].join(timeout=60)
            result = check(storm, people, study_ids, today)
        finally:
            storm.stop_event.set()
            beat_stop.set()
            unsubscribe_stop.set()
            for worker in storm.workers:
                with contextlib.suppress(Exception):
                    worker.stop()
            if storm.runtime is not None:
                storm.runtime.close()
            storm.smtp.down()

    pools = sum(1 for death in storm.deaths if death.kind == "pool")
    whole = sum(1 for death in storm.deaths if death.kind == "worker")
    recovery = " ".join(
        f"{kind}→send={value:.1f}s" if value is not None else f"{kind}→send=n/a"
        for kind, value in sorted(result["recovery"].items())
    )
    takeover = (
        f"kill→job median={statistics.median(storm.takeovers):.1f}s max={max(storm.takeovers):.1f}s"
        if storm.takeovers
        else "kill→job n/a"
    )
    ok = (
        result["duplicates"] == 0
        and result["outside"] == 0
        and result["after_withdrawal"] == 0
        and result["lost"] == 0
        and result["stuck"] == 0
        and result["unexplained"] == 0
        and len(study_ids) == len(STUDIES)
    )
    line = (
        f"chaos seed={seed} volunteers={volunteers} studies={len(study_ids)} duration={duration:.0f}s "
        f"expected={result['expected']} delivered={result['delivered']} "
        f"duplicates={result['duplicates']} outside={result['outside']} "
        f"after_withdrawal={result['after_withdrawal']} lost={result['lost']}"
        f"{'' if not result['lost'] else ' ' + json.dumps(result['lost_detail'], separators=(',', ':'))} "
        f"stuck={result['stuck']} ambiguous={result['ambiguous']} (unexplained {result['unexplained']}) "
        f"| kills={pools + whole} (pool {pools}, worker {whole}) stop={len(storm.stops)} "
        f"redis_restarts={len(storm.fault_ends.get('redis', []))} "
        f"pg_restarts={len(storm.fault_ends.get('postgres', []))} "
        f"smtp_down={len(storm.fault_ends.get('smtp', []))} unsubscribed={result['withdrawn']} "
        f"| recovery: {recovery} {takeover} settle={settle_seconds:.0f}s "
        f"wall={time.monotonic() - wall_started:.0f}s {'OK' if ok else 'FAILED'}"
    )
    if ok:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    else:
        line += f" (logs in {workdir})"
    return ok, line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--volunteers", type=int, default=20000)
    parser.add_argument(
        "--duration", type=float, default=240.0, help="seconds of faults (settling comes after)"
    )
    parser.add_argument("--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    # SIGTERM and SIGINT (ignored in a background job otherwise) unwind through the finally blocks
    # that stop the workers and the private PostgreSQL and Redis.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ok, line = run(args.seed, args.volunteers, args.duration, args.verbose)
    print(line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
