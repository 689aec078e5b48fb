"""State changes of the dead-letter archive, redrive jobs and alarms. Each is atomic and
audited (``console.platform.audit.audit_record``) with its counts; AWS calls that follow a
decision run after the commit or in the background job."""

import base64
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from console.aws import clients as aws
from console.models import AuditEntry
from console.platform.audit import audit_record
from ops import cloudwatch, decoding, redrive, selectors, sqs
from ops.models import Alarm, AlarmEvent, DeadLetter, RedriveJob, TaskFailure

logger = logging.getLogger(__name__)

SAMPLE_SIZE = 5


class OpsError(Exception):
    """A request support staff can fix (bad target, nothing selected, wrong confirmation)."""

    def __init__(self, message: str, field: str = "_"):
        self.field = field
        super().__init__(message)


class AwsRefused(OpsError):
    """AWS refused an operator's request for a reason of the queue's own (a move task
    already running or already ended, a source AWS does not serve): the request cannot be
    done now, as asked. ``code`` is AWS's error code, ``request_id`` its request id."""

    def __init__(self, message: str, field: str, *, code: str, request_id: str = ""):
        self.code = code
        self.request_id = request_id
        super().__init__(message, field)


# What SQS answers about a move task that is not its to run, or no longer running
# (compared without the "AWS.SimpleQueueService." prefix of SQS's query-compatible codes).
# Throttling, credentials and SQS's own failures are not among them: they are console.api.rest's
# 503/502 answers.
MOVE_TASK_REFUSALS = frozenset({"UnsupportedOperation", "ResourceNotFoundException", "InvalidParameterValue"})


def _move_task_refusal(exc: ClientError, field: str, what: str) -> AwsRefused | None:
    code = aws.error_code(exc)
    if code.rsplit(".", 1)[-1] not in MOVE_TASK_REFUSALS:
        return None
    message = exc.response.get("Error", {}).get("Message") or code
    request_id = exc.response.get("ResponseMetadata", {}).get("RequestId", "")
    return AwsRefused(f"{what}: SQS answered {code}: {message}", field, code=code, request_id=request_id)


# --- Archive --------------------------------------------------------------------------------


@dataclass
class IncomingMessage:
    """A message as received from a DLQ, in SQS's ReceiveMessage shape."""

    message_id: str
    body: str
    attributes: dict[str, str] = field(default_factory=dict)
    message_attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_sqs(cls, message: dict[str, Any]) -> "IncomingMessage":
        return cls(
            message["MessageId"],
            message["Body"],
            message.get("Attributes", {}),
            _json_safe_attributes(message.get("MessageAttributes", {})),
        )

    @classmethod
    def from_lambda_record(cls, record: dict[str, Any]) -> "IncomingMessage":
        converted = {}
        for name, value in (record.get("messageAttributes") or {}).items():
            item = {"DataType": value.get("dataType", "String")}
            if value.get("stringValue") is not None:
                item["StringValue"] = value["stringValue"]
            if value.get("binaryValue") is not None:
                binary = value["binaryValue"]
                item["BinaryValue"] = binary if isinstance(binary, str) else base64.b64encode(binary).decode()
            converted[name] = item
        return cls(record["messageId"], record["body"], record.get("attributes") or {}, converted)


def _json_safe_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    safe = {}
    for name, value in attributes.items():
        item = {"DataType": value["DataType"]}
        if "StringValue" in value:
            item["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            item["BinaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        safe[name] = item
    return safe


def _timestamp(milliseconds: str | None) -> datetime | None:
    if not milliseconds:
        return None
    try:
        return datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC)
    except (TypeError, ValueError):
        return None


def dead_letters_archive(*, queue_name: str, messages: list[IncomingMessage]) -> int:
    """Store messages that arrived in a DLQ (idempotent per queue and message id: a message
    delivered twice is stored once). Returns how many were new. Raises on a database
    error, so the caller leaves the messages in the queue."""
    if not messages:
        return 0
    rows = []
    for message in messages:
        decoded = decoding.decode(message.body, message.attributes, message.message_attributes)
        source_arn = message.attributes.get("DeadLetterQueueSourceArn", "")
        rows.append(
            DeadLetter(
                queue_name=queue_name,
                message_id=message.message_id,
                body=message.body,
                body_sha256=hashlib.sha256(message.body.encode()).hexdigest(),
                attributes=message.attributes,
                message_attributes=message.message_attributes,
                source_queue=sqs.name_of(source_arn) if source_arn else "",
                sent_at=_timestamp(message.attributes.get("SentTimestamp")),
                kind=decoded.kind,
                task=decoded.task[:255],
                task_id=decoded.task_id[:100],
                error_type=decoded.error_type[:255],
                error=decoded.error,
                summary=decoded.summary,
                fingerprint="",
            )
        )
        rows[-1]._candidates = decoded.order_candidates
    _link_orders(rows)
    _add_task_failures(rows)
    for row in rows:
        row.fingerprint = decoding.fingerprint(row.kind, row.task, row.error_type, row.error)
    with transaction.atomic():
        known = set(
            DeadLetter.objects.filter(queue_name=queue_name, message_id__in=[r.message_id for r in rows]).values_list(
                "message_id", flat=True
            )
        )
        new = [row for row in rows if row.message_id not in known]
        DeadLetter.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _link_orders(rows: list[DeadLetter]) -> None:
    from orders.models import Order

    candidates = {c for row in rows for c in row._candidates}
    if not candidates:
        return
    known = {str(pk) for pk in Order.objects.filter(pk__in=candidates).values_list("pk", flat=True)}
    for row in rows:
        row.order_id = next((uuid.UUID(c) for c in row._candidates if c in known), None)


def _add_task_failures(rows: list[DeadLetter]) -> None:
    celery_rows = [row for row in rows if row.kind == DeadLetter.Kind.CELERY and row.task_id]
    if not celery_rows:
        return
    failures = {f.task_id: f for f in TaskFailure.objects.filter(task_id__in=[r.task_id for r in celery_rows])}
    for row in celery_rows:
        failure = failures.get(row.task_id)
        if failure:
            row.error_type, row.error = failure.error_type[:255], failure.error
            row.summary = {**row.summary, "failedAt": failure.failed_at.isoformat(), "traceback": failure.traceback}


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


def dead_letter_queue_archive_request(*, queue_name: str, actor, source: str = AuditEntry.Source.CONSOLE) -> None:
    """Take what is still in a DLQ into the archive ("Archive now") in a background job,
    ``ops.archive_drain``: a backlog of thousands takes longer than a web request may."""
    from ops.tasks import archive_drain

    audit_record(
        action="dlq.archive_requested",
        object_type="ops.queue",
        object_id=queue_name,
        actor=actor,
        source=source,
        after={"queue": queue_name},
    )
    user_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    transaction.on_commit(lambda: archive_drain.delay(queue_name, user_id))


def dead_letter_queue_drain(
    *,
    queue_name: str,
    limit: int = 1000,
    actor=None,
    source: str = AuditEntry.Source.SYSTEM,
    deadline: float | None = None,
) -> int:
    """Archive messages still sitting in a DLQ (one not routed to the archiver, or a
    backlog), deleting each from SQS only after it is stored, until ``limit`` messages, an
    empty queue, or ``deadline`` (``time.monotonic()``). Returns how many moved."""
    url = sqs.queue_url(queue_name)
    moved = 0
    while moved < limit:
        received = sqs.receive(url, max_messages=min(sqs.BATCH, limit - moved), wait_seconds=0, visibility_timeout=60)
        if not received:
            break
        dead_letters_archive(queue_name=queue_name, messages=[IncomingMessage.from_sqs(m) for m in received])
        sqs.delete_batch(url, [m["ReceiptHandle"] for m in received])
        moved += len(received)
        if deadline is not None and time.monotonic() >= deadline:
            break  # at least one batch per run: a continuation always makes progress
    if moved and actor is not None:
        audit_record(
            action="dlq.archive",
            object_type="ops.queue",
            object_id=queue_name,
            actor=actor,
            source=source,
            after={"archived": moved},
        )
    return moved


def dead_letter_depths() -> dict[str, int]:
    """Each DLQ's depth: archived messages waiting plus any still in SQS."""
    counts = {name: summary.waiting for name, summary in selectors.dead_letter_counts().items()}
    for queue in sqs.dead_letter_queues():
        counts[queue.name] = counts.get(queue.name, 0) + queue.visible + queue.delayed
    return counts


def dead_letter_depths_publish() -> dict[str, int]:
    depths = dead_letter_depths()
    cloudwatch.put_dead_letter_depths(depths)
    return depths


# --- Redrive --------------------------------------------------------------------------------


@dataclass
class RedrivePlan:
    queue_name: str
    mode: str
    target_queue: str  # '' = each message's source queue
    count: int
    samples: list[DeadLetter]
    targets: dict[str, int]  # target queue → messages
    problems: list[str]
    filters: dict[str, Any]


def _selection(*, queue_name: str, mode: str, filters: dict[str, Any], message_ids: list[int]):
    if mode == RedriveJob.Mode.ALL:
        filters = {}
    elif mode == RedriveJob.Mode.SELECTED:
        if not message_ids:
            raise OpsError("Select at least one message.", "messageIds")
        filters = {"ids": [int(pk) for pk in message_ids]}
    elif mode == RedriveJob.Mode.FILTERED:
        filters = {
            key: value for key, value in filters.items() if key in selectors.FILTER_FIELDS and value not in ("", None)
        }
        if not filters:
            raise OpsError("A filtered redrive needs at least one filter.", "filter")
    else:
        raise OpsError(f"Unknown redrive mode {mode!r}.", "mode")
    selection = selectors.dead_letter_list(
        queue_name=queue_name, filters={**filters, "state": DeadLetter.State.PRESENT}
    )
    busy = selection.filter(redrive_job__status__in=RedriveJob.ACTIVE)
    return selection.exclude(pk__in=busy.values("pk")), filters


def _validate_target(*, queue_name: str, target_queue: str) -> None:
    if not target_queue:
        return
    names = sqs.stage_queue_names()
    if target_queue not in names:
        raise OpsError(f"{target_queue} is not one of the stage's queues.", "target")
    if target_queue == queue_name:
        raise OpsError("A queue cannot be redriven into itself.", "target")
    dead_letter_names = {queue.name for queue in sqs.dead_letter_queues()}
    if target_queue in dead_letter_names:
        raise OpsError(f"{target_queue} is a dead-letter queue; choose a queue that is consumed.", "target")


def redrive_plan(
    *,
    queue_name: str,
    mode: str,
    filters: dict[str, Any] | None = None,
    message_ids: list[int] | None = None,
    target_queue: str = "",
) -> RedrivePlan:
    """The dry run: how many messages would move where, with samples. Changes nothing."""
    _validate_target(queue_name=queue_name, target_queue=target_queue)
    selection, used_filters = _selection(
        queue_name=queue_name, mode=mode, filters=filters or {}, message_ids=message_ids or []
    )
    count = selection.count()
    problems = []
    targets: dict[str, int] = {}
    if target_queue:
        targets[target_queue] = count
    else:
        single = next((q.single_source for q in sqs.dead_letter_queues() if q.name == queue_name), "")
        by_source = selection.order_by().values("source_queue").annotate(n=Count("id"))
        for row in by_source:
            destination = row["source_queue"] or single
            key = destination or "(unknown: choose a target)"
            targets[key] = targets.get(key, 0) + row["n"]
            if not destination:
                problems.append(
                    f"{row['n']} message(s) have no known source queue (fed by SNS or Lambda, or by several "
                    "queues): choose a target queue."
                )
    if count == 0:
        problems.append("No waiting message matches.")
    return RedrivePlan(
        queue_name, mode, target_queue, count, list(selection[:SAMPLE_SIZE]), targets, problems, used_filters
    )


def redrive_start(
    *,
    queue_name: str,
    mode: str,
    actor,
    filters: dict[str, Any] | None = None,
    message_ids: list[int] | None = None,
    target_queue: str = "",
    rate_limit: int | None = None,
    parallelism: int = 1,
    reason: str = "",
    source: str = AuditEntry.Source.CONSOLE,
) -> RedriveJob:
    """Claim the selected waiting messages for a new job and queue it (after commit)."""
    from django.conf import settings

    if parallelism < 1 or parallelism > settings.OPS_REDRIVE_MAX_PARALLELISM:
        raise OpsError(f"Parallelism must be between 1 and {settings.OPS_REDRIVE_MAX_PARALLELISM}.", "parallelism")
    if rate_limit is not None and rate_limit < 1:
        raise OpsError("The rate limit must be at least 1 message a second (or empty for none).", "rateLimit")
    plan = redrive_plan(
        queue_name=queue_name, mode=mode, filters=filters, message_ids=message_ids, target_queue=target_queue
    )
    if plan.count == 0:
        raise OpsError("No waiting message matches: nothing to redrive.", "filter")
    if any("no known source" in problem for problem in plan.problems):
        raise OpsError(plan.problems[0], "target")
    with transaction.atomic():
        job = RedriveJob.objects.create(
            queue_name=queue_name,
            target_queue=target_queue,
            mode=mode,
            filters=plan.filters,
            rate_limit=rate_limit or settings.OPS_REDRIVE_DEFAULT_RATE or None,
            parallelism=parallelism,
            reason=reason,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            source=source,
        )
        selection, _ = _selection(
            queue_name=queue_name, mode=mode, filters=filters or {}, message_ids=message_ids or []
        )
        # Lock the candidates, then drop any another job claimed meanwhile (a concurrent
        # start waits for our lock and sees our claim): a message is in one job at a time.
        candidates = list(selection.select_for_update().values_list("pk", "redrive_job_id"))
        other_jobs = {job_id for _, job_id in candidates if job_id}
        busy = set(
            RedriveJob.objects.filter(pk__in=other_jobs, status__in=RedriveJob.ACTIVE).values_list("pk", flat=True)
        )
        ids = [pk for pk, job_id in candidates if job_id not in busy]
        total = 0
        for start in range(0, len(ids), 1000):
            total += DeadLetter.objects.filter(pk__in=ids[start : start + 1000]).update(redrive_job=job)
        if not target_queue:
            # A DLQ with one SQS source: that is where its messages came from (AWS names the
            # source in DeadLetterQueueSourceArn; the local engine does not).
            single = next((q.single_source for q in sqs.dead_letter_queues() if q.name == queue_name), "")
            if single:
                DeadLetter.objects.filter(redrive_job=job, source_queue="").update(source_queue=single)
        job.total = total
        job.save(update_fields=["total"])
        audit_record(
            action="dlq.redrive",
            obj=job,
            actor=actor,
            source=source,
            reason=reason,
            after={
                "queue": queue_name,
                "target": target_queue or "source queues",
                "mode": mode,
                "filters": plan.filters,
                "messages": total,
                "rateLimit": job.rate_limit,
                "parallelism": parallelism,
            },
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


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


# How far SQS's clock may be behind ours when a move task that was never seen running is
# looked for by its start time.
MOVE_TASK_CLOCK_SKEW = timedelta(seconds=10)


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


def _enqueue(job_id) -> None:
    from ops.tasks import redrive_run

    try:
        redrive_run.delay(str(job_id))
    except Exception:
        logger.exception("could not queue redrive job %s; resume it from the console", job_id)
        RedriveJob.objects.filter(pk=job_id).update(last_error="Could not be queued; resume it.")


def redrive_job_run(
    *, job_id, takeover: bool = False, continues: int | None = None, deadline: float | None = None
) -> RedriveJob | None:
    """The background job's body: run the redrive if it is this process's to run, until it
    ends or ``deadline`` (``time.monotonic()``) passes; then the job is left running, and
    its caller queues a continuation (``continues=job.runs``)."""
    job = redrive.job_claim(job_id, takeover=takeover, continues=continues)
    if job is None:
        return None
    return redrive.run(job, deadline=deadline)


def redrive_job_finished(*, job_id, status: str) -> RedriveJob:
    with transaction.atomic():
        job = RedriveJob.objects.select_for_update().get(pk=job_id)
        job.status, job.finished_at = status, timezone.now()
        job.save(update_fields=["status", "finished_at"])
        audit_record(
            action=f"dlq.redrive_{status}",
            obj=job,
            source=AuditEntry.Source.SYSTEM,
            after={"queue": job.queue_name, "moved": job.moved, "failed": job.failed, "total": job.total},
        )
    return job


def redrive_is_stale(job: RedriveJob) -> bool:
    if job.status != RedriveJob.Status.RUNNING or job.mode == RedriveJob.Mode.MOVE_TASK:
        return False
    return job.heartbeat_at is None or job.heartbeat_at < timezone.now() - timedelta(seconds=redrive.STALE_SECONDS)


def redrive_cancel(*, job_id, actor, source: str = AuditEntry.Source.CONSOLE) -> RedriveJob:
    with transaction.atomic():
        job = RedriveJob.objects.select_for_update().get(pk=job_id)
        if not job.is_active:
            raise OpsError(f"The job has already ended ({job.get_status_display().lower()}).", "status")
        before = job.status
        if job.mode == RedriveJob.Mode.MOVE_TASK:
            try:
                job.moved = sqs.cancel_message_move_task(task_handle=job.move_task_handle)
            except ClientError as exc:
                # SQS cancels only a RUNNING task: one that has ended (done, failed, cancelled
                # elsewhere) is refused. The job's own status follows at its next refresh.
                refusal = _move_task_refusal(exc, "status", "The move task is no longer running")
                if refusal is None:
                    raise
                raise refusal from exc
            job.status, job.finished_at = RedriveJob.Status.CANCELLED, timezone.now()
        elif job.status == RedriveJob.Status.QUEUED or redrive_is_stale(job):
            job.status, job.finished_at = RedriveJob.Status.CANCELLED, timezone.now()
        else:
            job.status = RedriveJob.Status.CANCELLING  # the runner stops after its batch
        job.save(update_fields=["status", "finished_at", "moved"])
        audit_record(
            action="dlq.redrive_cancel",
            obj=job,
            actor=actor,
            source=source,
            before={"status": before},
            after={"status": job.status, "moved": job.moved, "total": job.total},
        )
    return job


def redrive_resume(*, job_id, actor, source: str = AuditEntry.Source.CONSOLE, enqueue: bool = True) -> RedriveJob:
    """Queue a cancelled, failed or interrupted job again for its messages still waiting."""
    with transaction.atomic():
        job = RedriveJob.objects.select_for_update().get(pk=job_id)
        resumable = job.status in {RedriveJob.Status.CANCELLED, RedriveJob.Status.FAILED} or redrive_is_stale(job)
        if job.mode == RedriveJob.Mode.MOVE_TASK or not resumable:
            raise OpsError("Only a cancelled, failed or interrupted redrive can be resumed.", "status")
        waiting = DeadLetter.objects.filter(redrive_job=job, state=DeadLetter.State.PRESENT).count()
        if not waiting:
            raise OpsError("Every message of this job has been redriven or removed.", "status")
        before = job.status
        job.status, job.finished_at, job.failed, job.last_error = RedriveJob.Status.QUEUED, None, 0, ""
        job.save(update_fields=["status", "finished_at", "failed", "last_error"])
        audit_record(
            action="dlq.redrive_resume",
            obj=job,
            actor=actor,
            source=source,
            before={"status": before},
            after={"waiting": waiting, "moved": job.moved},
        )
        if enqueue:
            transaction.on_commit(lambda: _enqueue(job.pk))
    return job


# --- Delete and purge -------------------------------------------------------------------------


def dead_letters_delete(
    *, queue_name: str, message_ids: list[int], actor, reason: str = "", source: str = AuditEntry.Source.CONSOLE
) -> int:
    """Delete waiting archived messages (kept as deleted rows, for the audit trail)."""
    if not message_ids:
        raise OpsError("Select at least one message.", "messageIds")
    with transaction.atomic():
        deleted = _mark_deleted(
            DeadLetter.objects.filter(
                queue_name=queue_name, pk__in=message_ids, state=DeadLetter.State.PRESENT
            ).exclude(redrive_job__status__in=RedriveJob.ACTIVE),
            actor,
        )
        audit_record(
            action="dlq.delete",
            object_type="ops.queue",
            object_id=queue_name,
            actor=actor,
            source=source,
            reason=reason,
            after={"requested": len(message_ids), "deleted": deleted},
        )
    return deleted


def _mark_deleted(messages, actor) -> int:
    """Delete archived messages: kept as deleted rows, with who and when, for the audit trail."""
    return messages.update(
        state=DeadLetter.State.DELETED,
        resolved_at=timezone.now(),
        resolved_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


@dataclass
class PurgeResult:
    archived: int
    in_sqs: int
    aws_request_id: str


def dead_letter_queue_purge(
    *, queue_name: str, confirm: str, actor, reason: str = "", source: str = AuditEntry.Source.CONSOLE
) -> PurgeResult:
    """Delete every waiting message of a DLQ, archived ones and any still in SQS. The
    caller must type the queue's name as ``confirm``."""
    if confirm.strip() != queue_name:
        raise OpsError("Type the queue's name to confirm the purge.", "confirm")
    if not reason.strip():
        raise OpsError("A purge needs a reason.", "reason")
    queue = next((q for q in sqs.dead_letter_queues(refresh=True) if q.name == queue_name), None)
    if queue is None:
        raise OpsError(f"{queue_name} is not a dead-letter queue of the stage.", "queue")
    if RedriveJob.objects.filter(queue_name=queue_name, status__in=RedriveJob.ACTIVE).exists():
        raise OpsError("A redrive of this queue is running: cancel it first.", "queue")
    in_sqs = queue.visible + queue.in_flight + queue.delayed
    try:
        request_id = sqs.purge(queue.url)
    except ClientError as exc:
        if aws.error_code(exc) != "AWS.SimpleQueueService.PurgeQueueInProgress":
            raise
        request_id = ""  # purged within the last minute already
    with transaction.atomic():
        archived = _mark_deleted(
            DeadLetter.objects.filter(queue_name=queue_name, state=DeadLetter.State.PRESENT), actor
        )
        audit_record(
            action="dlq.purge",
            object_type="ops.queue",
            object_id=queue_name,
            actor=actor,
            source=source,
            reason=reason,
            after={"archived": archived, "inSqs": in_sqs},
            aws_request_id=request_id,
        )
    sqs.reset_cache()
    return PurgeResult(archived, in_sqs, request_id)


# --- Alarms ---------------------------------------------------------------------------------


def _alarm_fields(described: dict[str, Any]) -> dict[str, Any]:
    dimensions = {d["Name"]: d["Value"] for d in described.get("Dimensions", [])}
    if not described.get("MetricName") and described.get("Metrics"):
        # Metric math: show the first metric the expression reads.
        for query in described["Metrics"]:
            stat = query.get("MetricStat")
            if stat:
                metric = stat["Metric"]
                described = {**described, "Namespace": metric.get("Namespace"), "MetricName": metric.get("MetricName")}
                dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                break
    return {
        "arn": described.get("AlarmArn", ""),
        "description": described.get("AlarmDescription", "") or "",
        "namespace": described.get("Namespace", "") or "",
        "metric_name": described.get("MetricName", "") or "",
        "dimensions": dimensions,
        "statistic": described.get("Statistic", "") or described.get("ExtendedStatistic", "") or "",
        "period": described.get("Period"),
        "evaluation_periods": described.get("EvaluationPeriods"),
        "threshold": described.get("Threshold"),
        "comparison": described.get("ComparisonOperator", "") or "",
        "actions_enabled": bool(described.get("ActionsEnabled", True)),
    }


def alarms_sync() -> int:
    """Bring our alarm rows in line with DescribeAlarms. Alarms gone from AWS are kept,
    marked deleted, with their history. Returns how many alarms AWS has."""
    described = cloudwatch.describe_alarms()
    now = timezone.now()
    seen = set()
    for alarm in described:
        name = alarm["AlarmName"]
        seen.add(name)
        fields = _alarm_fields(alarm)
        state = alarm.get("StateValue", Alarm.State.INSUFFICIENT_DATA)
        changed_at = alarm.get("StateUpdatedTimestamp") or alarm.get("StateTransitionedTimestamp")
        with transaction.atomic():
            row, created = Alarm.objects.select_for_update().get_or_create(name=name, defaults=fields)
            if not created:
                for key, value in fields.items():
                    setattr(row, key, value)
            # A state change event newer than what DescribeAlarms answers (it lags, and a
            # local alarm never changes state) is kept: the sync never turns it back.
            current = created or row.state_changed_at is None or (changed_at and changed_at >= row.state_changed_at)
            if current and not created and row.state != state:
                row.acknowledged_at, row.acknowledged_by = None, None
                if changed_at and (row.state_changed_at is None or changed_at > row.state_changed_at):
                    _event_create(
                        alarm_name=name,
                        state=state,
                        previous_state=row.state,
                        reason=alarm.get("StateReason", ""),
                        reason_data=_reason_data(alarm.get("StateReasonData")),
                        occurred_at=changed_at,
                        source=AlarmEvent.Source.HISTORY,
                    )
            if current:
                row.state, row.state_reason = state, alarm.get("StateReason", "")
                row.state_changed_at = changed_at or row.state_changed_at
            row.exists, row.synced_at = True, now
            row.save()
    Alarm.objects.filter(exists=True).exclude(name__in=seen).filter(name__startswith=cloudwatch.alarm_prefix()).update(
        exists=False, synced_at=now
    )
    return len(described)


def _reason_data(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {"text": value}
    return value


def _event_create(**fields: Any) -> AlarmEvent | None:
    try:
        with transaction.atomic():
            return AlarmEvent.objects.create(**fields)
    except IntegrityError:
        return None  # the same change, already recorded from another source


def alarm_state_change_record(*, event: dict[str, Any]) -> AlarmEvent | None:
    """Record a state change from an EventBridge "CloudWatch Alarm State Change" event or
    the payload of an alarm's Lambda action. Idempotent. Returns the new event (None if
    known or not an alarm state change)."""
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        detail, source, arn = event.get("detail") or {}, AlarmEvent.Source.EVENT, (event.get("resources") or [""])[0]
    elif event.get("source") == "aws.cloudwatch" and "alarmData" in event:
        detail, source, arn = event["alarmData"], AlarmEvent.Source.ACTION, event.get("alarmArn", "")
    else:
        return None
    name = detail.get("alarmName")
    state = (detail.get("state") or {}).get("value")
    if not name or not state:
        return None
    occurred = (
        parse_datetime(_iso((detail.get("state") or {}).get("timestamp") or event.get("time") or "")) or timezone.now()
    )
    previous = (detail.get("previousState") or {}).get("value", "")
    with transaction.atomic():
        recorded = _event_create(
            alarm_name=name,
            state=state,
            previous_state=previous,
            reason=(detail.get("state") or {}).get("reason", ""),
            reason_data=_reason_data((detail.get("state") or {}).get("reasonData")),
            occurred_at=occurred,
            source=source,
        )
        alarm, _ = Alarm.objects.select_for_update().get_or_create(name=name, defaults={"arn": arn})
        if alarm.state_changed_at is None or occurred >= alarm.state_changed_at:
            if alarm.state != state:
                alarm.acknowledged_at, alarm.acknowledged_by = None, None
            alarm.state, alarm.state_reason, alarm.state_changed_at = (
                state,
                (detail.get("state") or {}).get("reason", ""),
                occurred,
            )
            alarm.arn = alarm.arn or arn
            configuration = detail.get("configuration") or {}
            if configuration.get("description") and not alarm.description:
                alarm.description = configuration["description"]
            if not alarm.metric_name:
                for query in configuration.get("metrics", []):
                    metric = (query.get("metricStat") or {}).get("metric")
                    if metric:
                        alarm.namespace, alarm.metric_name = metric.get("namespace", ""), metric.get("name", "")
                        alarm.dimensions = metric.get("dimensions") or {}
                        break
            alarm.save()
    return recorded


def _iso(value: str) -> str:
    # CloudWatch writes offsets as +0000; Django's parser wants +00:00.
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        return value[:-2] + ":" + value[-2:]
    return value


def alarm_history_fill(*, name: str) -> int:
    """Add the state changes CloudWatch kept (DescribeAlarmHistory) that we did not
    record. Returns how many were added; 0 where AWS has no history to give."""
    try:
        items = cloudwatch.alarm_history(name=name)
    except ClientError as exc:
        logger.info("DescribeAlarmHistory %s: %s", name, aws.error_code(exc) or exc)
        return 0
    added = 0
    for item in items:
        data = _reason_data(item.get("HistoryData") or "{}") or {}
        new_state = (data.get("newState") or {}).get("stateValue")
        if not new_state:
            continue
        created = _event_create(
            alarm_name=name,
            state=new_state,
            previous_state=(data.get("oldState") or {}).get("stateValue", ""),
            reason=(data.get("newState") or {}).get("stateReason", item.get("HistorySummary", "")),
            reason_data=(data.get("newState") or {}).get("stateReasonData"),
            occurred_at=item["Timestamp"],
            source=AlarmEvent.Source.HISTORY,
        )
        added += created is not None
    return added


def alarm_mute(*, name: str, minutes: int, reason: str, actor, source: str = AuditEntry.Source.CONSOLE) -> Alarm:
    """Stop the alarm's notifications (its actions) for ``minutes``; they come back on
    their own (``alarms_unmute_expired``, scheduled)."""
    reason = (reason or "").strip()
    if not reason:
        raise OpsError("Muting needs a reason.", "reason")
    if minutes < 1 or minutes > 7 * 24 * 60:
        raise OpsError("Mute for between 1 minute and 7 days.", "minutes")
    alarm = Alarm.objects.get(name=name)
    request_id = cloudwatch.disable_actions(name=name)
    with transaction.atomic():
        until = timezone.now() + timedelta(minutes=minutes)
        Alarm.objects.filter(pk=alarm.pk).update(
            muted_until=until, mute_reason=reason, muted_by=actor, actions_enabled=False
        )
        audit_record(
            action="alarm.mute",
            obj=alarm,
            actor=actor,
            source=source,
            reason=reason,
            after={"mutedUntil": until.isoformat(), "minutes": minutes},
            aws_request_id=request_id,
        )
    alarm.refresh_from_db()
    return alarm


def alarm_unmute(*, name: str, actor=None, source: str = AuditEntry.Source.CONSOLE, reason: str = "") -> Alarm:
    alarm = Alarm.objects.get(name=name)
    request_id = cloudwatch.enable_actions(name=name) if alarm.exists else ""
    with transaction.atomic():
        Alarm.objects.filter(pk=alarm.pk).update(muted_until=None, mute_reason="", muted_by=None, actions_enabled=True)
        audit_record(
            action="alarm.unmute",
            obj=alarm,
            actor=actor,
            source=source,
            reason=reason,
            before={"mutedUntil": alarm.muted_until.isoformat() if alarm.muted_until else None},
            aws_request_id=request_id,
        )
    alarm.refresh_from_db()
    return alarm


def alarms_unmute_expired() -> int:
    expired = list(Alarm.objects.filter(muted_until__lte=timezone.now()).values_list("name", flat=True))
    for name in expired:
        alarm_unmute(name=name, source=AuditEntry.Source.SYSTEM, reason="Mute period ended")
    return len(expired)


def alarm_acknowledge(*, name: str, actor, note: str = "", source: str = AuditEntry.Source.CONSOLE) -> Alarm:
    with transaction.atomic():
        alarm = Alarm.objects.select_for_update().get(name=name)
        if alarm.state != Alarm.State.ALARM:
            raise OpsError("Only an alarm in ALARM can be acknowledged.", "state")
        alarm.acknowledged_at, alarm.acknowledged_by = timezone.now(), actor
        alarm.save(update_fields=["acknowledged_at", "acknowledged_by"])
        audit_record(action="alarm.acknowledge", obj=alarm, actor=actor, source=source, reason=note)
    return alarm


def alarm_assign(*, name: str, owner, actor, source: str = AuditEntry.Source.CONSOLE) -> Alarm:
    with transaction.atomic():
        alarm = Alarm.objects.select_for_update().get(name=name)
        before = alarm.owner.get_username() if alarm.owner else None
        alarm.owner = owner
        alarm.save(update_fields=["owner"])
        audit_record(
            action="alarm.assign",
            obj=alarm,
            actor=actor,
            source=source,
            before={"owner": before},
            after={"owner": owner.get_username() if owner else None},
        )
    return alarm


def ops_refresh() -> dict[str, int]:
    """Scheduled: publish DLQ depths and the outbox's oldest event age, sync alarms, end
    expired mutes, follow move tasks."""
    from django.conf import settings

    from console.aws import resources
    from orders.selectors import order_event_oldest_unpublished_age
    from workflows.starts import workflow_start_backlog

    sqs.reset_cache()
    result = {"queues": len(dead_letter_depths_publish())}
    # The outbox-age alarm watches it per topic the outbox feeds (the order events topic).
    topic = settings.ORDER_EVENTS_TOPIC_ARN or resources.resource_name(resources.ORDER_EVENTS_TOPIC)
    outbox_age = order_event_oldest_unpublished_age()
    cloudwatch.put_outbox_oldest_event_age(topic_name=topic.rsplit(":", 1)[-1], seconds=outbox_age)
    result["start_backlog"] = cloudwatch.put_workflow_start_backlog(waiting=workflow_start_backlog())
    result.update(outbox_age=int(outbox_age), alarms=alarms_sync(), unmuted=alarms_unmute_expired())
    for job in RedriveJob.objects.filter(mode=RedriveJob.Mode.MOVE_TASK, status__in=RedriveJob.ACTIVE):
        redrive_move_task_refresh(job=job)
    result["redrives_taken_over"] = redrives_take_over_stalled()
    return result


def redrives_take_over_stalled() -> int:
    """Queue a continuation for each redrive job whose runner died (its invocation timed out
    or was killed): its heartbeat is older than ``redrive.TAKEOVER_SECONDS``. Without it the
    job would stay "running" (or "cancelling", if a cancel was asked) until someone resumes
    it: its first message, back after the jobs queue's visibility timeout, only starts jobs
    still queued. A cancelling job's continuation ends it cancelled. Returns how many."""
    from ops.tasks import redrive_run

    cutoff = timezone.now() - timedelta(seconds=redrive.TAKEOVER_SECONDS)
    stalled = RedriveJob.objects.filter(
        status__in=[RedriveJob.Status.RUNNING, RedriveJob.Status.CANCELLING], heartbeat_at__lt=cutoff
    ).exclude(mode=RedriveJob.Mode.MOVE_TASK)
    count = 0
    for job_id, runs in stalled.values_list("pk", "runs"):
        logger.warning("redrive job %s stopped sending (run %d): a continuation takes over", job_id, runs)
        redrive_run.delay(str(job_id), continues=runs)
        count += 1
    return count
