"""The Celery relay on a real broker (a private redis-server, so every command it counts is the
relay's): a published job is one message on its queue and nothing else. No job's result is read,
so publishing subscribes to no result channel. It used to subscribe once per message; when the
garbage collector later dropped such an ``AsyncResult`` after its broker was killed, unsubscribing
reconnected for twenty seconds and raised inside a later test (a CI run failed on that)."""

from __future__ import annotations

import pytest
import redis

from config.settings import Settings
from panel_service import outbox
from panel_service.runtime import CeleryRelay, Runtime
from tests.support.private_services import private_redis
from tests.support.slow_jobs import SLOW

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_a_published_job_is_one_message_on_its_queue_and_no_result_subscription(
    settings: Settings, committed_runtime: Runtime
) -> None:
    with private_redis() as server:
        publisher = Runtime(
            settings.model_copy(
                update={"celery_broker_url": server.url(), "extra_job_modules": "tests.support.slow_jobs"}
            )
        )
        assert isinstance(publisher.relay, CeleryRelay)
        broker = redis.Redis.from_url(server.url())
        try:
            for seconds in (1, 2, 3):
                with publisher.database.session_scope() as session:
                    outbox.enqueue(session, SLOW, {"path": "/nonexistent", "seconds": seconds})
            assert broker.llen("default") == 3
            commands = broker.info("commandstats")
            assert "cmdstat_subscribe" not in commands, commands.get("cmdstat_subscribe")
            assert broker.pubsub_channels() == []
        finally:
            broker.close()
            publisher.close()
