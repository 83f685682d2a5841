"""Beat entries live as data in ``config.celery.SCHEDULE`` so the embedded mode runs the same
schedule in-process; this module shows what the worker's beat will run."""

from config.celery import SCHEDULE

__all__ = ["SCHEDULE"]
