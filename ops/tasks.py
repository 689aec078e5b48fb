"""Background jobs of ``ops``. They take ids only and are safe to run twice: a redrive
job is claimed by one runner at a time and only sends messages still waiting."""

import logging

from celery.signals import task_failure, task_retry

from console.celery import app

logger = logging.getLogger(__name__)


@app.task(name="ops.redrive_run", acks_late=True)
def redrive_run(job_id: str) -> dict:
    from ops.services import redrive_job_run

    job = redrive_job_run(job_id=job_id)
    if job is None:
        return {"job": job_id, "ran": False}
    return {"job": job_id, "status": job.status, "moved": job.moved, "failed": job.failed}


def _record(task_id: str, task, exc: BaseException, traceback: str, retries: int) -> None:
    from ops.services import task_failure_record

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
