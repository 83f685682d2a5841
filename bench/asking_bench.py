"""The cost of "questions that matter" for one volunteer: ``python -m bench.asking_bench``.

Against the ten real studies (``docs/real-studies.json``), for synthetic volunteers
(``panel_service.synthetic``, seed 0, no catalogue answers, so most question leaves are
unknown) and the studies' own eligible profiles, per volunteer:

* baseline: what the incremental match does, each study's compiled criteria evaluated once;
* panel: ``domain.asking.questions_that_matter`` (each study, then the subtrees on the way to
  its unknown leaves).

Both derive the volunteer's facts once. Runs alternate (baseline, panel, baseline, ...), the
median of each is reported with their ratio and the load average beside each figure (the
machine is shared). Memory only: the database part of a check is the same few reads as the
dashboard's (tests/integration/questions/test_asking.py counts them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from panel_service.domain.asking import StudyCriteria, questions_that_matter
from panel_service.domain.criteria import parse_json, profile_facts
from panel_service.domain.criteria.evaluate import compile_criteria
from panel_service.domain.criteria.model import All
from panel_service.domain.profile import ProfileData
from panel_service.domain.profile_json import profile_from_json
from panel_service.domain.questions import seed_catalogue
from panel_service.synthetic import generate_volunteers

ROOT = Path(__file__).resolve().parents[1]


def load() -> tuple[list[StudyCriteria], list[ProfileData], dt.date]:
    real = json.loads((ROOT / "docs" / "real-studies.json").read_text(encoding="utf-8"))
    on = dt.date.fromisoformat(real["on"])
    catalogue = seed_catalogue()
    trees = [
        StudyCriteria(
            All(
                tuple(
                    parse_json(line["criterion"], catalogue)
                    for line in study["lines"]
                    if line["status"] == "stated"
                )
            )
        )
        for study in real["studies"]
    ]
    profiles = [
        profile_from_json(study["eligible"], catalogue=catalogue, today=on) for study in real["studies"]
    ]
    return trees, profiles, on


def synthetic(count: int, on: dt.date) -> list[ProfileData]:
    catalogue = seed_catalogue()
    keys = (
        "birth_date",
        "sex",
        "region",
        "height_cm",
        "weight_kg",
        "smoker",
        "pregnant",
        "conditions",
        "medications",
    )
    return [
        profile_from_json({key: line.get(key) for key in keys}, catalogue=catalogue, today=on)
        for line in generate_volunteers(count, seed=0, today=on)
    ]


def timed(run: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) / count * 1e6  # µs per volunteer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--volunteers", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    trees, eligible, on = load()
    people = synthetic(args.volunteers, on) + eligible
    catalogue = seed_catalogue()
    for tree in trees:  # warm the compiled-criteria cache, as a running worker has it
        compile_criteria(tree.criteria)

    def baseline() -> None:
        for person in people:
            facts = profile_facts(person, on)
            for tree in trees:
                compile_criteria(tree.criteria)(facts)

    def panel() -> None:
        for person in people:
            questions_that_matter(trees, profile_facts(person, on), catalogue)

    panel()  # warm the subtrees' compiled forms
    base_runs, panel_runs, loads = [], [], []
    for _ in range(args.runs):
        base_runs.append(timed(baseline, len(people)))
        loads.append(os.getloadavg()[0])
        panel_runs.append(timed(panel, len(people)))
        loads.append(os.getloadavg()[0])
    asks = [len(questions_that_matter(trees, profile_facts(person, on), catalogue)) for person in people]
    base, mine = statistics.median(base_runs), statistics.median(panel_runs)
    print(f"{len(people)} volunteers x {len(trees)} real studies, {args.runs} interleaved runs, medians")
    print("| measure | µs per volunteer | load average (1 min) |")
    print("| --- | --- | --- |")
    print(f"| baseline: evaluate each study once | {base:.1f} | {min(loads):.2f}-{max(loads):.2f} |")
    print(f"| questions that matter | {mine:.1f} | {min(loads):.2f}-{max(loads):.2f} |")
    print(f"| ratio | {mine / base:.2f}x | |")
    print(f"questions per volunteer: median {statistics.median(asks)}, max {max(asks)}")


if __name__ == "__main__":
    main()
