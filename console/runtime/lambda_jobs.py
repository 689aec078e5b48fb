"""Celery jobs on Lambda: the worker function's handler for the jobs queue.

Producers keep calling ``.delay()`` / ``apply_async()``: kombu's SQS transport writes each
task to the jobs queue as a base64 JSON envelope (``headers`` with the task's name, id,
retries, eta and expiry; a ``body`` of ``[args, kwargs, embed]``). The worker function's
event source mapping (zappa_settings.json, stage ``<stage>-worker``, batch size 1) hands
those messages to ``celery_jobs``, which runs each as a Celery worker would, through
Celery's own tracer: its signals (our failure records in ``ops.tasks``), ``autoretry_for``,
``bind=True`` requests that know their retries, ``Retry``, ``Ignore`` and ``Reject``.

* **Retries.** ``task.retry()`` publishes the next attempt itself, as a worker's would; its
  countdown becomes the message's SQS delay (``console.runtime.celery``), so this message is done.
  A message whose ``eta`` is still ahead (beyond SQS's 15-minute delay) is sent again with
  the longest delay and this copy is done.
* **Final failure.** A task that failed for good (``FAILURE``: its retries are spent, or it
  has none), a task this code does not know, or a message that is not a Celery task goes
  unchanged (body and message attributes) to the jobs queue's dead-letter queue, named by
  the queue's redrive policy. There the dead-letter archive decodes it and a redrive sends
  it back to run again. The batch reports the message done, so it does not run again.
* **Everything else** (``Reject(requeue=True)``, the database unreachable before the task
  ran, too little time left to start it) is left to SQS: the message is reported in
  ``batchItemFailures`` (Powertools' ``BatchProcessor``), comes back after the visibility
  timeout and reaches the dead-letter queue after the queue's maxReceiveCount.

Long jobs call ``console.runtime.deadlines.stop_by()`` to stop with time to spare and continue in a new
message; a job run by a Celery worker process (the ``make run --celery-worker`` option,
or workers on ECS/EC2) has no such limit and gets ``None``.
"""

import base64
import json
import logging
import math
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from console.aws import clients as aws
from console.runtime.celery import app
from console.runtime.deadlines import invocation_deadline, seconds_left

logger = logging.getLogger(__name__)

# SQS's longest per-message delay.
MAX_DELAY_SECONDS = 900
# A message is not started with less time than this left in the invocation: it goes back
# to the queue instead of being killed halfway by the function's timeout.
START_MARGIN_SECONDS = 30


class NotATask(ValueError):
    """The message is not a Celery task message (protocol 2) this app can read."""


class LeftToSqs(Exception):
    """The message goes back to its queue unchanged: SQS delivers it again."""


def decode_envelope(body: str) -> dict[str, Any]:
    """The kombu envelope of an SQS message body (base64 JSON, or plain JSON when the
    transport's ``sqs_base64_encoding`` is off)."""
    text = body.strip()
    if not text.startswith("{"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except ValueError as exc:
            raise NotATask(f"the body is neither JSON nor base64 JSON: {exc}") from None
    try:
        envelope = json.loads(text)
    except ValueError as exc:
        raise NotATask(f"the body is not JSON: {exc}") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("headers"), dict):
        raise NotATask("no Celery headers in the message")
    if "task" not in envelope["headers"] or "id" not in envelope["headers"]:
        raise NotATask("the headers name no task (only Celery's task protocol 2 is read)")
    return envelope


def task_payload(envelope: dict[str, Any]) -> tuple[list, dict, dict]:
    """``(args, kwargs, embed)`` of the envelope's body, decoded as a worker decodes it."""
    from kombu.serialization import loads, prepare_accept_content

    properties = envelope.get("properties") or {}
    body = envelope.get("body", "")
    if properties.get("body_encoding") == "base64":
        body = base64.b64decode(body)
    try:
        args, kwargs, embed = loads(
            body,
            envelope.get("content-type", "application/json"),
            envelope.get("content-encoding", "utf-8"),
            accept=prepare_accept_content(app.conf.accept_content),
        )
    except Exception as exc:
        raise NotATask(f"the task's arguments cannot be read: {type(exc).__name__}: {exc}") from None
    return list(args), dict(kwargs), dict(embed or {})


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@cache
def _load_tasks() -> None:
    """The app's tasks and their signal handlers (a worker imports them at start), once per
    execution environment."""
    app.loader.import_default_modules()


def celery_jobs(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The jobs queue's Lambda function: runs each Celery task message of the batch.
    Returns the messages SQS should deliver again (``batchItemFailures``)."""
    _load_tasks()
    function_name = getattr(context, "function_name", "") or "lambda"

    def job_record(record: SQSRecord) -> str:
        left = seconds_left()
        if left is not None and left < START_MARGIN_SECONDS:
            logger.warning("%.0f s left: message %s goes back to the queue", left, record.message_id)
            raise LeftToSqs(f"{left:.0f} s left in the invocation")
        try:
            outcome = job_run(record.raw_event, function_name=function_name)
        except Exception:
            logger.exception("message %s could not be run; SQS delivers it again", record.message_id)
            raise
        if outcome == "retry":
            raise LeftToSqs("the task asked to be delivered again")
        return outcome

    # One processor per invocation (it holds the batch while it runs). A batch that fails
    # whole is reported, not raised: its messages count as FailedMessages, not as an error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    with invocation_deadline(context):
        return process_partial_response(event=event, record_handler=job_record, processor=processor)


def job_run(record: dict[str, Any], *, function_name: str) -> str:
    """Run one SQS record's task. Returns ``done`` (delete the message), ``retry`` (leave
    it to SQS), ``deferred`` (sent again with a delay) or ``dead-lettered``."""
    from celery.app.trace import trace_task
    from celery.exceptions import Reject
    from celery.states import FAILURE, REJECTED

    try:
        envelope = decode_envelope(record["body"])
        args, kwargs, embed = task_payload(envelope)
    except NotATask as exc:
        logger.error("message %s is not a task this app can run (%s): dead-lettered", record.get("messageId"), exc)
        return _dead_letter(record)
    headers = envelope["headers"]
    name, task_id = headers["task"], headers["id"]
    task = app.tasks.get(name)
    if task is None:
        logger.error("task %s[%s] is not known to this code: dead-lettered", name, task_id)
        return _dead_letter(record)

    now = datetime.now(UTC)
    expires = _when(headers.get("expires"))
    if expires and expires <= now:
        logger.warning("task %s[%s] expired at %s: dropped, as a worker revokes it", name, task_id, expires)
        return "done"
    eta = _when(headers.get("eta"))
    if eta and (eta - now).total_seconds() >= 1:
        delay = min(MAX_DELAY_SECONDS, math.ceil((eta - now).total_seconds()))
        _send(queue_url=_queue_url(_queue_name(record)), record=record, delay_seconds=delay)
        return "deferred"

    properties = envelope.get("properties") or {}
    delivery = properties.get("delivery_info") or {}
    request = {
        **headers,
        "properties": properties,
        "reply_to": properties.get("reply_to"),
        "correlation_id": properties.get("correlation_id"),
        "hostname": function_name,
        "delivery_info": {
            "exchange": delivery.get("exchange", ""),
            "routing_key": delivery.get("routing_key") or app.conf.task_default_queue,
            "priority": properties.get("priority"),
            "redelivered": int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")) > 1,
        },
        "args": args,
        "kwargs": kwargs,
        "is_eager": False,
        **embed,
    }
    try:
        _, info, _, _ = trace_task(task, task_id, args, kwargs, request, app=app)
    except Reject as exc:
        if getattr(exc, "requeue", False):
            return "retry"
        logger.warning("task %s[%s] rejected itself: dead-lettered", name, task_id)
        return _dead_letter(record)
    if info is not None and info.state == REJECTED:
        if getattr(info.retval, "requeue", False):
            return "retry"
        logger.warning("task %s[%s] rejected itself: dead-lettered", name, task_id)
        return _dead_letter(record)
    if info is not None and info.state == FAILURE:
        logger.error(
            "task %s[%s] failed for good after %s retries: dead-lettered", name, task_id, headers.get("retries")
        )
        return _dead_letter(record)
    return "done"


# --- SQS ------------------------------------------------------------------------------------


def _queue_name(record: dict[str, Any]) -> str:
    return record["eventSourceARN"].rsplit(":", 1)[-1]


@cache
def _queue_url(name: str) -> str:
    return aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


@cache
def _dead_letter_queue_name(source_name: str) -> str:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=_queue_url(source_name), AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    if "RedrivePolicy" not in attributes:
        raise LookupError(f"{source_name} has no redrive policy: its failed jobs have nowhere to go")
    return json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[-1]


def _dead_letter(record: dict[str, Any]) -> str:
    """Send the message as it came to the source queue's dead-letter queue. If that fails,
    the message is left to SQS (which dead-letters it after maxReceiveCount)."""
    _send(queue_url=_queue_url(_dead_letter_queue_name(_queue_name(record))), record=record)
    return "dead-lettered"


def _send(*, queue_url: str, record: dict[str, Any], delay_seconds: int = 0) -> None:
    arguments: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": record["body"]}
    attributes = message_attributes(record)
    if attributes:
        arguments["MessageAttributes"] = attributes
    if delay_seconds:
        arguments["DelaySeconds"] = delay_seconds
    aws.client("sqs").send_message(**arguments)


def message_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """A Lambda SQS record's message attributes in SendMessage's shape."""
    converted = {}
    for name, value in (record.get("messageAttributes") or {}).items():
        item = {"DataType": value.get("dataType", "String")}
        if value.get("stringValue") is not None:
            item["StringValue"] = value["stringValue"]
        elif value.get("binaryValue") is not None:
            item["BinaryValue"] = base64.b64decode(value["binaryValue"])
        else:
            continue
        converted[name] = item
    return converted


def reset_cache() -> None:
    """Forget queue addresses (after the endpoint changes, e.g. in tests)."""
    _queue_url.cache_clear()
    _dead_letter_queue_name.cache_clear()
