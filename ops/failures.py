"""Task failures: the last exception of each Celery task, recorded by the worker's failure
and retry signals (``ops.tasks``), so that a task message that dead-letters is archived
with the error and traceback its message alone does not carry."""

from ops.models import DeadLetter, TaskFailure


def task_failure_record(*, task_id: str, task: str, error_type: str, error: str, traceback: str, retries: int) -> None:
    """The last exception of a Celery task (called by the worker's failure and retry signals)."""
    TaskFailure.objects.update_or_create(
        task_id=task_id,
        defaults={
            "task": task[:255],
            "error_type": error_type[:255],
            "error": error[:10000],
            "traceback": traceback[-20000:],
            "retries": retries,
        },
    )


def dead_letters_add_task_failures(*, rows: list[DeadLetter]) -> None:
    """Give Celery messages about to be archived the error of their task's recorded failure
    (its type, text, time and traceback), where one was recorded. Changes the rows only."""
    celery_rows = [row for row in rows if row.kind == DeadLetter.Kind.CELERY and row.task_id]
    if not celery_rows:
        return
    failures = {f.task_id: f for f in TaskFailure.objects.filter(task_id__in=[r.task_id for r in celery_rows])}
    for row in celery_rows:
        failure = failures.get(row.task_id)
        if failure:
            row.error_type, row.error = failure.error_type[:255], failure.error
            row.summary = {**row.summary, "failedAt": failure.failed_at.isoformat(), "traceback": failure.traceback}
