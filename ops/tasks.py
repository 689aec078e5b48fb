"""Background jobs of ``ops``. They take ids only and are safe to run twice: a redrive
job is claimed by one runner at a time and only sends messages still waiting.

The services queue these by name (``console.runtime.jobs``); a job out of time queues its
own continuation the same way."""

import inspect
import logging
import time

from celery.signals import task_failure, task_retry, task_success
from django.contrib.auth import get_user_model

from console.runtime import jobs as job_queue
from console.runtime.celery import app
from console.runtime.deadlines import stop_by
from ops.archive import dead_letter_queue_drain
from ops.failures import task_failure_record, task_failure_succeeded
from ops.models import RedriveJob
from ops.redrive.runner import redrive_job_run

logger = logging.getLogger(__name__)


# A job run by the worker function stops this long before its invocation's timeout and
# goes on in a new message (a continuation), so no batch is cut off halfway.
INVOCATION_MARGIN_SECONDS = 60
# One run of "Archive now" takes at most this many messages, then goes on in a new one.
ARCHIVE_MAX_PER_RUN = 10_000


@app.task(name="ops.redrive_run", acks_late=True)
def redrive_run(job_id: str, continues: int | None = None) -> dict:
    job = redrive_job_run(job_id=job_id, continues=continues, deadline=stop_by(INVOCATION_MARGIN_SECONDS))
    if job is None:
        return {"job": job_id, "ran": False}
    if job.status == RedriveJob.Status.RUNNING:
        # Out of time with messages left: the next run takes over from this one.
        job_queue.enqueue("ops.redrive_run", job_id, job.runs)
    return {"job": job_id, "status": job.status, "moved": job.moved, "failed": job.failed}


@app.task(name="ops.archive_drain", acks_late=True)
def archive_drain(queue_name: str, user_id: int | None = None) -> dict:
    """The "Archive now" job: what is still in the DLQ, until it is empty; out of time, a
    continuation goes on."""
    actor = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    deadline = stop_by(INVOCATION_MARGIN_SECONDS)
    moved = dead_letter_queue_drain(queue_name=queue_name, limit=ARCHIVE_MAX_PER_RUN, actor=actor, deadline=deadline)
    out_of_time = deadline is not None and time.monotonic() >= deadline
    continued = bool(moved) and (out_of_time or moved >= ARCHIVE_MAX_PER_RUN)
    if continued:
        job_queue.enqueue("ops.archive_drain", queue_name, user_id)
    return {"queue": queue_name, "archived": moved, "continued": continued}


def _parameters(task) -> list[str]:
    """The names of a task's arguments, so a positional ``order_id`` is found by its name."""
    try:
        return list(inspect.signature(task.run).parameters)
    except (TypeError, ValueError, AttributeError):
        return []


def _retry_limit(task, request, will_retry: bool) -> int | None:
    """The retries the task's policy allows. Every task carries Celery's default limit (3),
    used only by tasks that retry: one that failed on its first attempt without retrying
    has none."""
    retries = getattr(request, "retries", 0) or 0
    if will_retry or retries or getattr(task, "autoretry_for", ()):
        return getattr(task, "max_retries", None)
    return 0


def _record(task, request, exc: BaseException, traceback: str, *, will_retry: bool, args, kwargs) -> None:
    try:
        task_failure_record(
            task_id=getattr(request, "id", "") or "",
            task=getattr(task, "name", str(task)),
            error_type=type(exc).__name__,
            error=str(exc),
            traceback=traceback or "",
            retries=getattr(request, "retries", 0) or 0,
            will_retry=will_retry,
            max_retries=_retry_limit(task, request, will_retry),
            args=args or (),
            kwargs=kwargs or {},
            parameters=_parameters(task),
            worker=getattr(request, "hostname", "") or "",
        )
    except Exception:
        logger.exception("could not record the failure of task %s", getattr(request, "id", ""))


# The worker function (console.runtime.lambda_jobs) and a Celery worker process both run
# tasks through Celery's tracer, which sends these signals: one record, whichever ran it.
@task_failure.connect
def _on_failure(sender=None, task_id=None, exception=None, args=None, kwargs=None, einfo=None, **extra) -> None:
    # Sent once a task failed for good: its retries are spent, or it has none.
    request = getattr(sender, "request", None)
    if request is not None and task_id and getattr(request, "id", None) != task_id:
        request = None
    request = request or type("Request", (), {"id": task_id, "retries": 0, "hostname": ""})()
    _record(sender, request, exception, str(einfo or ""), will_retry=False, args=args, kwargs=kwargs)


@task_retry.connect
def _on_retry(sender=None, request=None, reason=None, einfo=None, **extra) -> None:
    # Sent when Celery publishes the next attempt; ``request`` is the failed attempt's.
    # ``reason`` is Celery's Retry; what the task raised is its ``exc`` (when it gave one).
    cause = getattr(reason, "exc", None)
    exc = cause if isinstance(cause, BaseException) else reason
    exc = exc if isinstance(exc, BaseException) else Exception(str(reason))
    args, kwargs = getattr(request, "args", None), getattr(request, "kwargs", None)
    _record(sender, request, exc, str(einfo or ""), will_retry=True, args=args, kwargs=kwargs)


@task_success.connect
def _on_success(sender=None, result=None, **extra) -> None:
    # A success closes the task's own recorded failure and the failure it retried (one
    # indexed UPDATE per successful job).
    request = getattr(sender, "request", None)
    task_id = getattr(request, "id", None)
    if not task_id:
        return
    try:
        task_failure_succeeded(task_id=task_id, retries=getattr(request, "retries", 0) or 0)
    except Exception:
        logger.exception("could not record the success of task %s", task_id)
