"""Pure domain logic: no Flask, no Celery, no session factory."""
