"""Failed jobs: Celery tasks that failed, recorded by whichever runtime ran them (the worker
function's ``console.runtime.lambda_jobs`` or a Celery worker process: both run tasks
through Celery's tracer, whose signals ``ops.tasks`` connects), and what support staff do
about them.

* **Recording.** One row per task id, updated by each attempt: the arguments, the last
  exception and traceback, the attempts, and whether Celery will still retry it
  (``RETRYING``) or it failed for good (``FAILED``: no retries left, or none at all; the
  worker function then dead-letters its message, a Celery worker drops it). A success of
  the same task id (a later attempt, a redrive of its dead letter) resolves it.
* **Retry** sends the same task with the same arguments to the jobs queue by name
  (``console.runtime.jobs``) under a new task id, kept on the row: that task's success
  resolves the row; its failure is a row of its own that points back (``retry_of``).
* **Discard** closes the row without a new run; the row is kept. Its messages still
  waiting in the dead-letter archive are closed with it (one failure, one decision).

Every retry and discard is audited per job (``console.platform.audit``).
"""

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from console.models import AuditEntry
from console.platform.audit import audit_record
from console.runtime import jobs as job_queue
from ops import decoding
from ops.errors import OpsError
from ops.models import DeadLetter, TaskFailure
from orders.models import Order

logger = logging.getLogger(__name__)

Status = TaskFailure.Status

# A failure that may be retried from the console: it failed for good, or was discarded
# (and someone changed their mind). One still retried by Celery, or whose retry is on its
# way, may not: that would run the job twice.
RETRYABLE = (Status.FAILED, Status.DISCARDED)
DISCARDABLE = (Status.FAILED,)


class JobNotSent(OpsError):
    """The broker refused the retry's message: nothing changed."""


# --- Recording (the workers' signals) ----------------------------------------------------------


def _json_safe(value: Any) -> Any:
    """Arguments as JSON stores them (the app's tasks take JSON values; anything else is
    kept as its text rather than lost)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return str(value)


def task_order_id(*, args: list, kwargs: dict, parameters: list[str] | None = None) -> uuid.UUID | None:
    """The order a task was about: an argument named like an order id (``order_id``,
    positional arguments named by the task's ``parameters``) first, then any UUID among
    the arguments; the first that is an order we know. None when there is none."""
    named = dict(zip(parameters or [], args, strict=False)) | dict(kwargs)
    candidates = decoding.order_candidates(named, args)
    if not candidates:
        return None
    known = {str(pk) for pk in Order.objects.filter(pk__in=candidates[:20]).values_list("pk", flat=True)}
    return next((uuid.UUID(candidate) for candidate in candidates if candidate in known), None)


def task_failure_record(
    *,
    task_id: str,
    task: str,
    error_type: str,
    error: str,
    traceback: str,
    retries: int,
    will_retry: bool = False,
    max_retries: int | None = None,
    args: list | tuple = (),
    kwargs: dict | None = None,
    parameters: list[str] | None = None,
    worker: str = "",
) -> TaskFailure:
    """Record an attempt of a task that raised (called by the workers' failure and retry
    signals). ``will_retry``: Celery runs it again by the task's retry policy; otherwise it
    failed for good. A row a success or a decision had closed opens again."""
    args, kwargs = _json_safe(list(args)), _json_safe(dict(kwargs or {}))
    values = {
        "task": task[:255],
        "error_type": error_type[:255],
        "error": error[:10000],
        "traceback": traceback[-20000:],
        "retries": retries,
        "max_retries": max_retries,
        "status": Status.RETRYING if will_retry else Status.FAILED,
        "args": args,
        "kwargs": kwargs,
        "worker": worker[:255],
        "order_id": task_order_id(args=args, kwargs=kwargs, parameters=parameters),
        "resolved_at": None,
        "resolved_by": None,
        "resolution": "",
    }
    failure, created = TaskFailure.objects.update_or_create(task_id=task_id, defaults=values)
    if created:
        # A retry sent from the console that failed too: linked to the row it retried.
        original = TaskFailure.objects.filter(retry_task_id=task_id).exclude(pk=failure.pk).first()
        if original is not None:
            failure.retry_of = original
            failure.save(update_fields=["retry_of"])
    return failure


def task_failure_succeeded(*, task_id: str, retries: int = 0) -> int:
    """A task succeeded (the workers' success signal): its own failure, if one was recorded
    (a later attempt, a redrive of its dead letter), and the failure it was a console retry
    of are resolved. One indexed UPDATE; returns how many rows it closed."""
    return TaskFailure.objects.filter(
        Q(task_id=task_id, status__in=(Status.RETRYING, Status.FAILED))
        | Q(retry_task_id=task_id, status=Status.RETRIED)
    ).update(
        status=Status.RESOLVED,
        resolved_at=timezone.now(),
        resolution=Case(
            When(task_id=task_id, then=Value(f"Succeeded on attempt {retries + 1}.")),
            default=Value(f"Its retry (task {task_id}) succeeded."),
        ),
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


# --- Support staff's decisions --------------------------------------------------------------


def _refusal(failure: TaskFailure, action: str) -> str:
    if failure.status == Status.RETRYING:
        return (
            f"Celery retries this job by itself (attempt {failure.attempts} failed): "
            f"{action} it once it has failed for good."
        )
    if failure.status == Status.RETRIED:
        return f"Already retried, as task {failure.retry_task_id}: its outcome is that job's."
    if failure.status == Status.RESOLVED:
        return f"Already resolved: {failure.resolution or 'it succeeded'}"
    return f"Already discarded: {failure.resolution or 'no new run'}"


def _state(failure: TaskFailure) -> dict:
    return {"status": failure.status, "retryTaskId": failure.retry_task_id}


def _locked(failure_id: int) -> TaskFailure:
    failure = TaskFailure.objects.select_for_update().filter(pk=failure_id).first()
    if failure is None:
        raise OpsError("No failed job with this id.", "id")
    return failure


def task_failure_retry(
    *, failure_id: int, actor, source: str = AuditEntry.Source.CONSOLE, reason: str = ""
) -> TaskFailure:
    """Send the failed task again, same name and arguments, to the jobs queue under a new
    task id, and mark the failure retried (by whom, when, as which task). Audited.

    The row is marked and committed before the message is sent, so the new task's outcome
    always finds it; if the broker refuses the message, the row is put back as it was (and
    that is audited too) and ``JobNotSent`` says why. Raises ``OpsError`` for a failure that
    may not be retried now (still retried by Celery, already retried, resolved) or whose
    task this code no longer has."""
    with transaction.atomic():
        failure = _locked(failure_id)
        if failure.status not in RETRYABLE:
            raise OpsError(_refusal(failure, "retry"), "status")
        if not job_queue.is_known(failure.task):
            raise OpsError(f"This code has no task {failure.task}: a retry would only be dead-lettered.", "task")
        before = _state(failure)
        new_id = str(uuid.uuid4())
        now = timezone.now()
        fields = {
            "status": Status.RETRIED,
            "retry_task_id": new_id,
            "retried_at": now,
            "retried_by": actor if getattr(actor, "is_authenticated", False) else None,
            "resolved_at": None,
            "resolved_by": None,
            "resolution": "",
        }
        TaskFailure.objects.filter(pk=failure.pk).update(**fields)
        audit_record(
            action="job.retry",
            obj=failure,
            actor=actor,
            source=source,
            reason=reason,
            before=before,
            after={"status": Status.RETRIED, "retryTaskId": new_id, "task": failure.task},
        )
    try:
        job_queue.enqueue(failure.task, *failure.args, kwargs=failure.kwargs, task_id=new_id)
    except Exception as exc:
        logger.exception("could not send the retry of failed job %s", failure.pk)
        with transaction.atomic():
            TaskFailure.objects.filter(pk=failure.pk, retry_task_id=new_id).update(
                status=before["status"],
                retry_task_id=before["retryTaskId"],
                retried_at=failure.retried_at,
                retried_by=failure.retried_by,
                resolved_at=failure.resolved_at,
                resolved_by=failure.resolved_by,
                resolution=failure.resolution,
            )
            audit_record(
                action="job.retry_not_sent",
                obj=failure,
                actor=actor,
                source=source,
                reason=f"{type(exc).__name__}: {exc}"[:2000],
                before={"status": Status.RETRIED, "retryTaskId": new_id},
                after=before,
            )
        raise JobNotSent(f"The jobs queue did not take the retry ({type(exc).__name__}); nothing changed.") from exc
    failure.refresh_from_db()
    return failure


def task_failure_discard(
    *, failure_id: int, actor, source: str = AuditEntry.Source.CONSOLE, reason: str = ""
) -> TaskFailure:
    """Close a failure without a new run; the row is kept, marked discarded by whom and
    why. Its messages still waiting in the dead-letter archive are closed with it (marked
    deleted), so nobody redrives what was decided. Audited. Raises ``OpsError`` for a
    failure that is not failed for good."""
    with transaction.atomic():
        failure = _locked(failure_id)
        if failure.status not in DISCARDABLE:
            raise OpsError(_refusal(failure, "discard"), "status")
        before = _state(failure)
        now = timezone.now()
        user = actor if getattr(actor, "is_authenticated", False) else None
        TaskFailure.objects.filter(pk=failure.pk).update(
            status=Status.DISCARDED, resolved_at=now, resolved_by=user, resolution=reason or "Discarded."
        )
        closed = DeadLetter.objects.filter(task_id=failure.task_id, state=DeadLetter.State.PRESENT).update(
            state=DeadLetter.State.DELETED, resolved_at=now, resolved_by=user
        )
        audit_record(
            action="job.discard",
            obj=failure,
            actor=actor,
            source=source,
            reason=reason,
            before=before,
            after={"status": Status.DISCARDED, "task": failure.task, "deadLettersClosed": closed},
        )
    failure.refresh_from_db()
    return failure


@dataclass
class BulkOutcome:
    """What a bulk retry or discard did: the rows it changed, and why the others were left."""

    done: list[TaskFailure] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    stopped: str = ""


def task_failures_act(
    *, action: str, failure_ids: list[int], actor, source: str = AuditEntry.Source.CONSOLE, reason: str = ""
) -> BulkOutcome:
    """Retry or discard (``action``) each failure, one transaction and one audit entry per
    job, as one at a time would. A failure that may not be is left with its reason; if the
    broker refuses a retry, the rest are left too (``stopped`` says why)."""
    operation = {"retry": task_failure_retry, "discard": task_failure_discard}[action]
    outcome = BulkOutcome()
    for failure_id in failure_ids:
        try:
            outcome.done.append(operation(failure_id=failure_id, actor=actor, source=source, reason=reason))
        except JobNotSent as exc:
            outcome.stopped = str(exc)
            break
        except OpsError as exc:
            outcome.refused[failure_id] = str(exc)
    return outcome
