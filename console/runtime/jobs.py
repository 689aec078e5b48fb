"""Queueing a job by its task's name.

Services queue jobs through here, and the apps' ``tasks`` modules (the jobs' entry points)
import the services they run: one direction, as views call services. A task is named
where it is defined (``@app.task(name="ops.redrive_run")``); the message goes to the jobs
queue like ``task.apply_async`` would send it, and its consumer (the worker function, or
a Celery worker) runs it.
"""

import importlib
import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(
    name: str,
    *args: Any,
    countdown: float | None = None,
    kwargs: dict[str, Any] | None = None,
    task_id: str | None = None,
) -> str:
    """Send the job now; returns its task id (``task_id`` when given, a new one otherwise).
    Raises what the broker raises (the caller decides what a job that could not be queued
    means)."""
    from console.runtime.celery import app  # lazy: Celery loads when a job is queued, not on every cold start

    if app.conf.task_always_eager:
        # CELERY_TASK_ALWAYS_EAGER runs the job here (send_task would ignore the setting):
        # the task's app ("ops" of "ops.redrive_run") registers it in its tasks module.
        importlib.import_module(f"{name.partition('.')[0]}.tasks")
        return app.tasks[name].apply(args=args, kwargs=kwargs or {}, task_id=task_id).id
    return app.send_task(name, args=args, kwargs=kwargs or {}, countdown=countdown, task_id=task_id).id


def is_known(name: str) -> bool:
    """Whether this code defines the task ``name``: a job sent under a name no worker knows
    is only dead-lettered (e.g. a failed job retried after its task was removed)."""
    from console.runtime.celery import app  # lazy: Celery loads when a job is queued, not on every cold start

    # The apps' tasks modules, as a worker imports them at start (once per process).
    app.loader.import_default_modules()
    return name in app.tasks


def enqueue_on_commit(name: str, *args: Any, countdown: float | None = None, sweep: str = "") -> None:
    """Send the job once the current transaction commits (at once outside one). A job
    that cannot be queued is logged, not raised: ``sweep`` names what queues it again."""

    def send() -> None:
        try:
            enqueue(name, *args, countdown=countdown)
        except Exception:
            logger.exception("could not queue %s%s; %s", name, args, sweep or "nothing queues it again")

    transaction.on_commit(send)
