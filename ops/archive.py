"""The dead-letter archive: messages taken from the stage's DLQs into the database (by the
DLQs' event source, or "Archive now" for what is still in a queue), and deleted or purged
by support staff. Each change is atomic and audited (``console.platform.audit``); a
message leaves SQS only once it is stored."""

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from django.db import transaction
from django.utils import timezone

from console.aws import clients as aws
from console.models import AuditEntry
from console.platform.audit import audit_record
from console.runtime import jobs as job_queue
from ops import decoding, sqs
from ops.errors import OpsError
from ops.failures import dead_letters_add_task_failures
from ops.models import DeadLetter, RedriveJob
from orders.models import Order


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
    dead_letters_add_task_failures(rows=rows)
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
    candidates = {c for row in rows for c in row._candidates}
    if not candidates:
        return
    known = {str(pk) for pk in Order.objects.filter(pk__in=candidates).values_list("pk", flat=True)}
    for row in rows:
        row.order_id = next((uuid.UUID(c) for c in row._candidates if c in known), None)


def dead_letter_queue_archive_request(*, queue_name: str, actor, source: str = AuditEntry.Source.CONSOLE) -> None:
    """Take what is still in a DLQ into the archive ("Archive now") in a background job,
    ``ops.archive_drain``, queued once the request commits: a backlog of thousands takes
    longer than a web request may. A job that cannot be queued raises (after the commit),
    so the request fails rather than promising an archive nobody runs."""
    audit_record(
        action="dlq.archive_requested",
        object_type="ops.queue",
        object_id=queue_name,
        actor=actor,
        source=source,
        after={"queue": queue_name},
    )
    user_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    transaction.on_commit(lambda: job_queue.enqueue("ops.archive_drain", queue_name, user_id))


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
