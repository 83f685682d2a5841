"""The prefork pool, with one upstream check narrowed so that a killed child cannot stop the worker.

Celery's event loop (``celery.worker.loops.asynloop``, celery 5.7.0 with billiard 4.3.2) asks the
pool ``did_start_ok()`` once, when the consumer first connects, and exits the whole worker with
"WorkerLostError: Could not start worker processes" if any pool process has exited by then, for
whatever reason. The consumer first connects only once the broker answers, so a worker started
while Redis is down (a supervisor restarting it during an outage, say) waits with its pool already
forked; a child killed meanwhile (the OOM killer, an operator) then takes the main process down
as soon as the broker is back, though billiard replaces killed children at any other time.
Reported upstream as celery/celery#1118 and celery/celery#7233 (both closed without a change).

The check is meant to catch children that could not start (an import error, an exception in
``worker_process_init``: they exit with a status of 1 or more). Here it keeps doing that, and
ignores children killed by a signal (a negative exit code): the pool's regular maintenance reaps
and replaces those, as it does after the first connection.

Selected by ``worker_pool`` in config/celery.py; ``--pool=prefork`` on the command line still
picks it (Celery's CLI uses the configured pool when given its default).
"""

from __future__ import annotations

from typing import Any

from celery.concurrency.prefork import TaskPool as PreforkTaskPool


class TaskPool(PreforkTaskPool):
    def did_start_ok(self) -> bool:
        pool: Any = getattr(self, "_pool", None)  # billiard's pool, set when the pool started
        processes = list(getattr(pool, "_pool", None) or ())
        # ``exitcode`` polls without reaping: billiard's maintenance still sees the dead child.
        return not any((process.exitcode or 0) > 0 for process in processes)
