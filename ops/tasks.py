"""Background jobs of ``ops``. They take ids only and are safe to run twice: a redrive
job is claimed by one runner at a time and only sends messages still waiting.

The services queue these by name (``console.runtime.jobs``); a job out of time queues its
own continuation the same way."""

import logging
import time

from celery.signals import task_failure, task_retry
from django.contrib.auth import get_user_model

from console.runtime import jobs as job_queue
from console.runtime.celery import app
from console.runtime.deadlines import stop_by
from ops.archive import dead_letter_queue_drain
from ops.failures import task_failure_record
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


def _record(task_id: str, task, exc: BaseException, traceback: str, retries: int) -> None:
    try:
        task_failure_record(
            task_id=task_id or "",
            task=getattr(task, "name", str(task)),
            error_type=type(exc).__name__,
            error=str(exc),
            traceback=traceback or "",
            retries=retries,
        )
    except Exception:
        logger.exception("could not record the failure of task %s", task_id)


@task_failure.connect
def _on_failure(sender=None, task_id=None, exception=None, einfo=None, **kwargs) -> None:
    retries = getattr(getattr(sender, "request", None), "retries", 0) or 0
    _record(task_id, sender, exception, str(einfo or ""), retries)


@task_retry.connect
def _on_retry(sender=None, request=None, reason=None, einfo=None, **kwargs) -> None:
    exc = reason if isinstance(reason, BaseException) else Exception(str(reason))
    _record(getattr(request, "id", ""), sender, exc, str(einfo or ""), getattr(request, "retries", 0) or 0)
