"""Lambda handler of the webhooks queue (worker function, zappa_settings.json).

The queue carries two kinds of message:

* an order event, as the outbox publishes it to the order-events topic (SNS delivers it
  raw): fanned out into one delivery per endpoint that wants it, each queued as
* ``{"deliveryId": ...}``: one attempt, within WEBHOOK_TIMEOUT_SECONDS. A failed attempt
  stays on the queue, invisible for the retry's delay (WEBHOOK_RETRY_BASE_SECONDS, doubled
  each time: SQS's receive count is the attempt's number); after WEBHOOK_MAX_ATTEMPTS the
  delivery is failed and SQS moves the message to the webhooks dead-letter queue (the
  queue's maxReceiveCount).

Returns ``{"batchItemFailures": [...]}`` through Powertools' ``BatchProcessor``: only the
failed messages are tried again. What is done for the whole batch comes first: its
messages' visibility is set in one call, and its order events are fanned out together, in
one transaction (one at a time when that fails, so that one event holds back no other).
Then the processor takes each message: an attempt for a delivery, the fan-out's outcome
for an event, a failure for a malformed message (left for the dead-letter queue).
"""

import json
import logging
from typing import Any
from uuid import UUID

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from django.conf import settings

from webhooks import queue, services

logger = logging.getLogger(__name__)


class MessageNotDone(Exception):
    """The message is tried again (or, after the last try, left for the dead-letter queue)."""


def webhooks_queue(event: dict, context=None) -> dict:
    records = event.get("Records", [])
    bodies: dict[str, dict[str, Any]] = {}
    malformed: dict[str, str] = {}
    for record in records:
        try:
            bodies[record["messageId"]] = _message(record["body"])
        except ValueError as exc:
            malformed[record["messageId"]] = str(exc)
    events = [(record, bodies[record["messageId"]]) for record in records if _is_event(bodies.get(record["messageId"]))]
    attempts = [record for record in records if "deliveryId" in bodies.get(record["messageId"], {})]
    # Held only as long as the work before each takes (the fan-out, then the attempts one
    # after another), not the queue's 90 minutes: a crashed invocation's messages come back soon.
    held = [record["receiptHandle"] for record, _ in events] + [record["receiptHandle"] for record in attempts]
    try:
        queue.hold_for_attempts(receipt_handles=held, seconds_each=settings.WEBHOOK_TIMEOUT_SECONDS + 5)
    except Exception:
        logger.warning("webhooks: the batch's visibility not set; the queue's applies", exc_info=True)
    not_fanned_out = _fan_out(events)

    def each_message(record: SQSRecord) -> None:
        if record.message_id in malformed:
            problem = malformed[record.message_id]
            logger.warning("webhooks: message %s %s; left for the dead-letter queue", record.message_id, problem)
            raise MessageNotDone(problem)
        body = bodies[record.message_id]
        if "deliveryId" in body:
            if not _attempt(record.raw_event, UUID(body["deliveryId"])):
                raise MessageNotDone(f"delivery {body['deliveryId']} not delivered")
        elif record.message_id in not_fanned_out:
            raise MessageNotDone(f"event {body['eventId']} not fanned out")

    # One processor per invocation; a batch that fails whole is reported, not raised.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=each_message, processor=processor)


def _is_event(body: dict[str, Any] | None) -> bool:
    return body is not None and "deliveryId" not in body


def _fan_out(events: list[tuple[dict, dict[str, Any]]]) -> set[str]:
    """Fan the batch's order events out together; the message ids of those that failed."""
    if not events:
        return set()
    try:
        services.deliveries_fan_out(messages=[body for _, body in events])
        return set()
    except Exception:
        logger.warning("webhooks: fan-out of %d events failed; each is tried alone", len(events), exc_info=True)
    failed = set()
    for record, body in events:
        try:
            services.deliveries_fan_out(messages=[body])
        except Exception:
            logger.exception("webhooks: fan-out of event %s failed; it stays on the queue", body["eventId"])
            failed.add(record["messageId"])
    return failed


def _message(text: str) -> dict:
    """A message's body: a delivery (``deliveryId``) or an order event (``eventId``,
    ``aggregateId``, ``eventType``). Raises ValueError saying what is wrong."""
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError("is not a JSON object")
    if "deliveryId" in body:
        UUID(str(body["deliveryId"]))
        return body
    for name in ("eventId", "aggregateId"):
        if name not in body:
            raise ValueError(f"has neither deliveryId nor {name}")
        UUID(str(body[name]))
    if not isinstance(body.get("eventType"), str):
        raise ValueError("has no eventType")
    return body


def _attempt(record: dict, delivery_id: UUID) -> bool:
    """One attempt of a delivery: True when the message is done with."""
    number = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    last_try = number >= settings.WEBHOOK_MAX_ATTEMPTS
    try:
        outcome = services.delivery_attempt(delivery_id=delivery_id, last_try=last_try)
    except Exception:
        logger.exception("webhooks: delivery %s could not be attempted", delivery_id)
        return False
    if outcome.delivered or outcome.number == 0:  # delivered, or nothing to try (skipped, gone)
        return True
    # Failed: tried again after the delay, or (the last try) moved to the dead-letter queue
    # by SQS at once.
    delay = 0 if last_try else services.retry_delay_seconds(number)
    try:
        queue.delay_retry(receipt_handle=record["receiptHandle"], seconds=delay)
    except Exception:
        logger.warning(
            "webhooks: delay of delivery %s not set; the queue's visibility applies", delivery_id, exc_info=True
        )
    return False
