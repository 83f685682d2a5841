"""The process-wide objects every entry point needs: settings, database, mailer, relay.

The web app, the Celery worker and the CLI each build one ``Runtime``: it is the ``JobContext``
their jobs run with. Nothing here imports Flask or ``workers``: the relay publishes by task name.
Building one checks that every task has its handler (``jobs.check_handlers``).
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service import jobs, outbox
from panel_service.db import Database
from panel_service.jobs import Relay
from panel_service.mail import Mailer
from panel_service.relays import CeleryRelay, InProcessRelay

__all__ = ["CeleryRelay", "InProcessRelay", "Relay", "Runtime"]


class Runtime:
    def __init__(self, settings: Settings, *, database: Database | None = None) -> None:
        jobs.load_all_jobs(settings.job_modules)
        self.settings = settings
        self.database = database or Database(settings)
        self.mailer = Mailer(settings)
        self.relay: Relay = InProcessRelay(self) if settings.jobs_in_process else CeleryRelay(self)
        event.listen(self.database.session_factory, "after_commit", self._after_commit)
        event.listen(self.database.session_factory, "after_rollback", self._after_rollback)

    def _after_commit(self, session: Session) -> None:
        ids = outbox.take_committed_ids(session)
        if ids:
            self.relay.notify(ids)

    def _after_rollback(self, session: Session) -> None:
        outbox.forget_ids(session)

    def close(self) -> None:
        self.relay.close()
        self.database.dispose()
