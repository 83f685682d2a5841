"""Type-ahead search and synthetic-volunteer generation speed (pure Python, no database).

    python -m bench.vocabulary_bench

Speed is measured here rather than asserted in tests: a shared machine under load would make a
timed assertion fail for reasons that are not the code's.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

from panel_service.domain.criteria.vocabulary import search, vocabulary
from panel_service.synthetic import generate_volunteers

QUERIES = ["a", "dis", "restless", "kidney disease", "G25", "magn", "type 2 d", "blood", "in"]


def main() -> None:
    started = time.perf_counter()
    vocabulary()
    print(f"vocabulary built in {1000 * (time.perf_counter() - started):.1f} ms")
    for query in QUERIES:
        timings = []
        for _ in range(50):
            started = time.perf_counter()
            search(query, 10)
            timings.append(time.perf_counter() - started)
        print(f"search {query!r:18} median {1000 * statistics.median(timings):.2f} ms")
    today = dt.date(2026, 11, 25)
    list(generate_volunteers(1_000, seed=3, today=today))
    started = time.perf_counter()
    count = sum(1 for _ in generate_volunteers(50_000, seed=3, today=today))
    print(f"synthetic volunteers: {count / (time.perf_counter() - started):,.0f} a second")


if __name__ == "__main__":
    main()
