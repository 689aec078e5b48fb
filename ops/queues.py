"""The stage's queues.

Every queue with its depth, its consumer (the function whose event source mapping reads
it) and its DLQ, and pausing and resuming that consumer (the queue page). The dead-letter
queues with what waits in each: archived messages (the database) and messages still in
SQS (the failure inbox), and the depth every DLQ alarm watches (``DeadLetterDepth``).
"""

import hashlib
import json
import logging
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from console.aws import clients as aws
from console.models import AuditEntry
from console.platform.audit import audit_record
from console.runtime import stage
from ops import cloudwatch, event_sources, selectors, sqs
from ops.errors import AwsRefused, OpsError

QUEUE_AGES_CACHE_SECONDS = 60

logger = logging.getLogger(__name__)


def dead_letter_queues_discovered(*, refresh: bool = False) -> list[sqs.DeadLetterQueue]:
    """The stage's DLQs, or none when SQS does not answer: the archive still does."""
    try:
        return sqs.dead_letter_queues(refresh=refresh)
    except (ClientError, BotoCoreError):
        logger.warning("SQS did not answer; answering from the archive only", exc_info=True)
        return []


def queue_rows(*, refresh: bool = False) -> list[dict]:
    """One row per DLQ, in the API's shape: the discovered queues (from SQS, reused for a
    minute unless ``refresh``) and any queue the archive still holds messages of."""
    counts = selectors.dead_letter_counts()
    now = timezone.now()
    rows = []
    seen = set()
    for queue in dead_letter_queues_discovered(refresh=refresh):
        seen.add(queue.name)
        summary = counts.get(queue.name)
        oldest = summary.oldest_at if summary else None
        rows.append(
            {
                "name": queue.name,
                "fifo": queue.fifo,
                "sources": queue.sources,
                "fedBy": queue.fed_by,
                "otherSources": queue.other_sources,
                "waiting": summary.waiting if summary else 0,
                "inSqs": queue.visible + queue.delayed,
                "inFlight": queue.in_flight,
                "oldestAt": oldest,
                "oldestAgeSeconds": int((now - oldest).total_seconds()) if oldest else None,
                "moveTaskSupported": queue.move_task_supported,
            }
        )
    # Archived messages of a queue no longer discovered (deleted, renamed) stay visible.
    for name, summary in counts.items():
        if name not in seen:
            rows.append(
                {
                    "name": name,
                    "fifo": name.endswith(".fifo"),
                    "sources": [],
                    "fedBy": [],
                    "otherSources": [],
                    "waiting": summary.waiting,
                    "inSqs": 0,
                    "inFlight": 0,
                    "oldestAt": summary.oldest_at,
                    "oldestAgeSeconds": int((now - summary.oldest_at).total_seconds()) if summary.oldest_at else None,
                    "moveTaskSupported": False,
                }
            )
    return rows


def dead_letter_depths() -> dict[str, int]:
    """Each DLQ's depth: archived messages waiting plus any still in SQS."""
    counts = {name: summary.waiting for name, summary in selectors.dead_letter_counts().items()}
    for queue in sqs.dead_letter_queues():
        counts[queue.name] = counts.get(queue.name, 0) + queue.visible + queue.delayed
    return counts


def dead_letter_depths_publish() -> dict[str, int]:
    """Publish each DLQ's depth to CloudWatch (what the DLQ alarms watch); returns them."""
    depths = dead_letter_depths()
    cloudwatch.put_dead_letter_depths(depths)
    return depths


# --- Every queue of the stage, with its consumer ------------------------------------------------


@dataclass
class QueueOverview:
    """The queue page: a row per queue (the API's shape), and what could not be read."""

    rows: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _routes() -> dict[tuple[str, str], str]:
    """{(Lambda function, queue name): the Python function Zappa routes its records to},
    from zappa_settings.json; empty on Lambda, whose package leaves it out."""
    try:
        sources = stage.sqs_event_sources(settings.STAGE)
    except (KeyError, FileNotFoundError):
        return {}
    return {(source["function"], sqs.name_of(source["queue_arn"])): source["handler"] for source in sources}


def _consumers(
    name: str, mappings: list[event_sources.Mapping] | None, routes: dict[tuple[str, str], str]
) -> list[dict]:
    consumers = []
    for mapping in mappings or []:
        consumers.append(
            {
                "function": mapping.function,
                "handler": routes.get((mapping.function, name), ""),
                "state": mapping.state,
                "mappingId": mapping.uuid,
                "batchSize": mapping.batch_size,
            }
        )
    mapped = {consumer["function"] for consumer in consumers}
    for (function, queue), handler in sorted(routes.items()):
        if queue == name and function not in mapped:
            # Routed in zappa_settings.json, but Lambda has no mapping (not deployed), or
            # Lambda did not answer (``mappings`` is None): the state is unknown.
            state = "" if mappings is None else "Missing"
            consumers.append(
                {"function": function, "handler": handler, "state": state, "mappingId": "", "batchSize": 0}
            )
    return consumers


def stage_queue_overview() -> QueueOverview:
    """Every queue of the stage: messages waiting (ApproximateNumberOfMessages), in flight
    (received, not yet deleted), delayed, the age of the oldest (CloudWatch's
    ApproximateAgeOfOldestMessage, None until it has a datapoint), its DLQ and
    maxReceiveCount (its redrive policy), whether it is a DLQ itself, its consumers and
    their mappings' states, and who last paused or resumed it.

    Raises botocore's errors when SQS does not answer; CloudWatch or Lambda not answering
    leaves their columns empty, with a warning."""
    overview = QueueOverview()
    urls = sqs.stage_queue_urls()
    attributes = {sqs.name_of(url): sqs.queue_attributes(url) for url in urls}
    names = sorted(attributes)
    dead_letter_targets = {name: json.loads(attrs.get("RedrivePolicy") or "{}") for name, attrs in attributes.items()}
    dead_letter_queues = {
        sqs.name_of(policy["deadLetterTargetArn"]) for policy in dead_letter_targets.values() if policy
    }
    dead_letter_queues |= {queue.name for queue in dead_letter_queues_discovered()}
    try:
        # CloudWatch has one datapoint a minute and GetMetricData is paid per metric: a page
        # polled every few seconds (live pages) reads it once a minute.
        ages = cache.get_or_set(
            "ops:queue-ages:" + hashlib.sha256(",".join(sorted(names)).encode()).hexdigest(),
            lambda: cloudwatch.queue_oldest_message_ages(names),
            QUEUE_AGES_CACHE_SECONDS,
        )
    except (ClientError, BotoCoreError) as exc:
        logger.warning("CloudWatch did not answer: no ages of oldest messages", exc_info=True)
        overview.warnings.append(f"CloudWatch did not answer ({aws.error_code(exc) or type(exc).__name__}): no ages.")
        ages = {}
    by_queue: dict[str, list[event_sources.Mapping]] | None = {}
    try:
        for mapping in event_sources.stage_mappings():
            by_queue.setdefault(mapping.queue_name, []).append(mapping)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("Lambda did not answer: consumers from zappa_settings.json only", exc_info=True)
        code = aws.error_code(exc) or type(exc).__name__
        overview.warnings.append(f"Lambda did not answer ({code}): consumers' states are unknown.")
        by_queue = None
    routes = _routes()
    changes = selectors.queue_last_consumer_changes(queue_names=names)
    for name in names:
        attrs = attributes[name]
        policy = dead_letter_targets[name]
        consumers = _consumers(name, None if by_queue is None else by_queue.get(name, []), routes)
        mapped = [consumer for consumer in consumers if consumer["mappingId"]]
        change = changes.get(name)
        age = ages.get(name)
        overview.rows.append(
            {
                "name": name,
                "arn": attrs.get("QueueArn", ""),
                "fifo": attrs.get("FifoQueue") == "true",
                "messages": int(attrs.get("ApproximateNumberOfMessages", 0)),
                "inFlight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "delayed": int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
                "oldestAgeSeconds": None if age is None else int(age),
                "deadLetterQueue": sqs.name_of(policy["deadLetterTargetArn"]) if policy else None,
                "maxReceiveCount": int(policy["maxReceiveCount"]) if policy.get("maxReceiveCount") else None,
                "isDeadLetterQueue": name in dead_letter_queues,
                "consumers": consumers,
                "paused": bool(mapped) and all(consumer["state"] in event_sources.PAUSED_STATES for consumer in mapped),
                "lastConsumerChange": {
                    "action": change.action.removeprefix("queue."),
                    "by": change.actor_name,
                    "at": change.created_at,
                    "reason": change.reason,
                }
                if change
                else None,
            }
        )
    return overview


# --- Pausing and resuming a queue's consumer -------------------------------------------------


def queue_pause(*, queue_name: str, actor, reason: str, source: str = AuditEntry.Source.CONSOLE) -> list:
    """Pause the queue's consumer: its event source mappings disabled (Lambda stops
    polling; messages wait in the queue, and age). Audited with the reason. Raises
    ``OpsError`` (no reason, not a queue of the stage, no consumer, already paused) or
    ``AwsRefused``. Returns the mappings as Lambda answered."""
    return _queue_consumer_set(queue_name=queue_name, enabled=False, actor=actor, reason=reason, source=source)


def queue_resume(*, queue_name: str, actor, reason: str, source: str = AuditEntry.Source.CONSOLE) -> list:
    """Resume the queue's consumer (its mappings enabled again); as ``queue_pause``."""
    return _queue_consumer_set(queue_name=queue_name, enabled=True, actor=actor, reason=reason, source=source)


class QueueConsumerUnchanged(OpsError):
    """The consumer is already in the state asked for (paused, or running)."""


class UnknownQueue(OpsError):
    """No queue of the stage has this name."""


def queue_mappings(queue_name: str) -> list[event_sources.Mapping]:
    """The stage's functions' mappings of one queue of the stage. Raises ``OpsError``
    for a queue that is not the stage's."""
    if queue_name not in sqs.stage_queue_names():
        raise UnknownQueue(f"{queue_name!r} is not a queue of the stage.", "queue")
    queue_arn = sqs.queue_attributes(sqs.queue_url(queue_name))["QueueArn"]
    return event_sources.queue_mappings(queue_arn)


def _queue_consumer_set(*, queue_name: str, enabled: bool, actor, reason: str, source: str) -> list:
    verb = "resume" if enabled else "pause"
    reason = (reason or "").strip()
    if not reason:
        raise OpsError(f"Say why you {verb} this queue: the reason goes to the audit log.", "reason")
    mappings = queue_mappings(queue_name)
    if not mappings:
        raise OpsError(f"No function of the stage consumes {queue_name}: there is nothing to {verb}.", "queue")
    to_change = [mapping for mapping in mappings if mapping.paused == enabled]
    if not to_change:
        state = "running" if enabled else "paused"
        raise QueueConsumerUnchanged(f"{queue_name} is already {state}.", "queue")
    changed, request_ids, refused = [], [], None
    for mapping in to_change:
        try:
            answer, request_id = event_sources.mapping_set_enabled(uuid=mapping.uuid, enabled=enabled)
        except ClientError as exc:
            refused = exc
            break
        changed.append((mapping, answer))
        request_ids.append(request_id)
    if changed:
        with transaction.atomic():
            audit_record(
                action=f"queue.{verb}",
                object_type="ops.queue",
                object_id=queue_name,
                actor=actor,
                source=source,
                reason=reason,
                before={"mappings": {before.uuid: before.state for before, _ in changed}},
                after={"mappings": {after.uuid: after.state for _, after in changed}},
                aws_request_id=",".join(filter(None, request_ids))[:64],
            )
    if refused is not None:
        code = aws.error_code(refused)
        message = refused.response.get("Error", {}).get("Message", "") or code
        request_id = refused.response.get("ResponseMetadata", {}).get("RequestId", "")
        raise AwsRefused(f"Lambda refused to {verb} {queue_name}: {message}", "queue", code=code, request_id=request_id)
    return [answer for _, answer in changed]
