"""AWS's own redrive: StartMessageMoveTask moves the messages still in an SQS DLQ back to
the queues that dead-lettered them. A move-task job records the task (audited) and follows
its progress as SQS reports it; there is no runner of ours."""

from datetime import timedelta

from botocore.exceptions import ClientError
from django.db import transaction
from django.utils import timezone

from console.aws import clients as aws
from console.models import AuditEntry
from console.platform.audit import audit_record
from ops import sqs
from ops.errors import AwsRefused, OpsError
from ops.models import RedriveJob

# What SQS answers about a move task that is not its to run, or no longer running
# (compared without the "AWS.SimpleQueueService." prefix of SQS's query-compatible codes).
# Throttling, credentials and SQS's own failures are not among them: they are console.api.rest's
# 503/502 answers.
MOVE_TASK_REFUSALS = frozenset({"UnsupportedOperation", "ResourceNotFoundException", "InvalidParameterValue"})

# How far SQS's clock may be behind ours when a move task that was never seen running is
# looked for by its start time.
MOVE_TASK_CLOCK_SKEW = timedelta(seconds=10)


def _move_task_refusal(exc: ClientError, field: str, what: str) -> AwsRefused | None:
    code = aws.error_code(exc)
    if code.rsplit(".", 1)[-1] not in MOVE_TASK_REFUSALS:
        return None
    message = exc.response.get("Error", {}).get("Message") or code
    request_id = exc.response.get("ResponseMetadata", {}).get("RequestId", "")
    return AwsRefused(f"{what}: SQS answered {code}: {message}", field, code=code, request_id=request_id)


def redrive_move_task_start(
    *, queue_name: str, actor, rate_limit: int | None = None, reason: str = "", source: str = AuditEntry.Source.CONSOLE
) -> RedriveJob:
    """Move the messages still in SQS back to their source queues with AWS's own
    StartMessageMoveTask (only for DLQs fed by SQS redrive policies)."""
    queue = next((q for q in sqs.dead_letter_queues(refresh=True) if q.name == queue_name), None)
    if queue is None:
        raise OpsError(f"{queue_name} is not a dead-letter queue of the stage.", "queue")
    if not queue.move_task_supported:
        raise OpsError(
            "AWS's message move task only serves DLQs fed by SQS queues; this one is fed by "
            f"{', '.join(queue.fed_by) or 'nothing we know'}. Archive its messages and redrive them instead.",
            "mode",
        )
    # Taken before the call: SQS's StartedTimestamp of the task falls after it (retries and
    # latency included), which is how the task is found once it has ended.
    requested_at = timezone.now()
    try:
        handle = sqs.start_message_move_task(source_arn=queue.arn, destination_arn=None, rate=rate_limit)
    except ClientError as exc:
        # SQS runs one move task per queue at a time, and serves only DLQs of SQS queues.
        refusal = _move_task_refusal(exc, "mode", "SQS will not start a move task for this queue now")
        if refusal is None:
            raise
        raise refusal from exc
    with transaction.atomic():
        job = RedriveJob.objects.create(
            queue_name=queue_name,
            target_queue="",
            mode=RedriveJob.Mode.MOVE_TASK,
            status=RedriveJob.Status.RUNNING,
            total=queue.visible,
            rate_limit=rate_limit,
            move_task_handle=handle,
            reason=reason,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            source=source,
            started_at=requested_at,
            heartbeat_at=timezone.now(),
            runs=1,
        )
        audit_record(
            action="dlq.redrive",
            obj=job,
            actor=actor,
            source=source,
            reason=reason,
            after={"queue": queue_name, "mode": "move_task", "messages": queue.visible, "rateLimit": rate_limit},
        )
    return job


def redrive_move_task_refresh(*, job: RedriveJob) -> RedriveJob:
    """Bring a move-task job in line with what SQS reports about its task.

    The task is found by its handle while it runs and by its start time once it has ended
    (SQS lists ended tasks without a handle); the start time is recorded the first time the
    task is seen. The job is left as it is while SQS does not list the task."""
    if job.mode != RedriveJob.Mode.MOVE_TASK or not job.is_active:
        return job
    queue_arn = sqs.queue_attributes(sqs.queue_url(job.queue_name))["QueueArn"]
    not_before = (job.started_at or job.created_at) - MOVE_TASK_CLOCK_SKEW
    task = sqs.message_move_task(
        source_arn=queue_arn,
        task_handle=job.move_task_handle,
        started_ms=job.move_task_started_ms,
        not_before_ms=int(not_before.timestamp() * 1000),
    )
    if task is None:
        return job
    fields = ["moved", "total", "heartbeat_at", "last_error"]
    if job.move_task_started_ms is None and task.get("StartedTimestamp") is not None:
        job.move_task_started_ms = int(task["StartedTimestamp"])
        fields.append("move_task_started_ms")
    job.moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
    job.total = max(job.total, int(task.get("ApproximateNumberOfMessagesToMove", 0) or 0))
    job.heartbeat_at = timezone.now()
    status = {"COMPLETED": RedriveJob.Status.SUCCEEDED, "CANCELLED": RedriveJob.Status.CANCELLED}.get(task["Status"])
    if task["Status"] == "FAILED":
        status, job.last_error = RedriveJob.Status.FAILED, task.get("FailureReason", "")
    if status:
        job.status, job.finished_at = status, timezone.now()
        fields += ["status", "finished_at"]
    job.save(update_fields=fields)
    return job


def redrive_move_tasks_refresh() -> int:
    """Refresh every move-task job still running (scheduled). Returns how many."""
    jobs = list(RedriveJob.objects.filter(mode=RedriveJob.Mode.MOVE_TASK, status__in=RedriveJob.ACTIVE))
    for job in jobs:
        redrive_move_task_refresh(job=job)
    return len(jobs)


def move_task_cancel(*, job: RedriveJob) -> int:
    """Ask SQS to cancel the job's move task; returns how many messages it had moved.
    Raises ``AwsRefused`` when SQS no longer runs the task. Saves nothing: the caller
    (``jobs.redrive_cancel``) records the outcome with its audit entry."""
    try:
        return sqs.cancel_message_move_task(task_handle=job.move_task_handle)
    except ClientError as exc:
        # SQS cancels only a RUNNING task: one that has ended (done, failed, cancelled
        # elsewhere) is refused. The job's own status follows at its next refresh.
        refusal = _move_task_refusal(exc, "status", "The move task is no longer running")
        if refusal is None:
            raise
        raise refusal from exc
